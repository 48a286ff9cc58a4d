import { CreateTagsCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { appInstance, ec2Error, ec2Mock, givenInstances, gpuInstance, resetMocks, run } from './support';

/** The operator's app-host commands end the scaler's retries of a failed scheduled action. */

beforeEach(resetMocks);

const markedApp = () => appInstance({}, { 'gpu-fleet:scheduled-action': 'start until 2026-11-24T10:00:00Z' });

describe('stop-app with a failed scheduled start pending', () => {
  it('clears it on the app host before stopping, so the scaler does not start the host again', async () => {
    givenInstances(markedApp(), gpuInstance());
    const result = await run('stop-app');
    expect(result.code).toBe(0);
    expect(ec2Mock).toHaveReceivedNthCommandWith(2, CreateTagsCommand, {
      Resources: ['i-0app'],
      Tags: [{ Key: 'gpu-fleet:scheduled-action', Value: '' }],
    });
    expect(ec2Mock).toHaveReceivedCommandWith(StopInstancesCommand, { InstanceIds: ['i-0app'] });
  });

  it('stops the host but exits 1 and says so when the clearing is refused', async () => {
    givenInstances(markedApp(), gpuInstance());
    ec2Mock.on(CreateTagsCommand).rejects(ec2Error('UnauthorizedOperation', 403));
    const result = await run('stop-app');
    expect(result.code).toBe(1);
    expect(result.out).toContain('Stopping app i-0app (was running).');
    expect(result.err).toContain(
      "The app host's failed scheduled action was not cleared (the scaler may still retry it):",
    );
  });
});
