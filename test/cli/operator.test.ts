import {
  CreateTagsCommand,
  EC2ServiceException,
  StartInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  appInstance,
  ec2Mock,
  givenDeployedStacks,
  givenInstances,
  gpuInstance,
  resetMocks,
  run,
  statusJson,
} from './support';

beforeEach(resetMocks);

const capacity = new EC2ServiceException({
  name: 'InsufficientInstanceCapacity',
  message: 'no capacity',
  $fault: 'server',
  $metadata: { httpStatusCode: 500 },
});
const writtenTags = () =>
  Object.fromEntries(
    ec2Mock
      .commandCalls(CreateTagsCommand)
      .flatMap((c) => (c.args[0].input.Tags ?? []).map((t) => [t.Key, t.Value])),
  );

describe('operator commands act on every target they can', () => {
  it('start-all starts the app host although the GPU cannot start, reports both, exits 1', async () => {
    givenInstances(appInstance({ State: { Name: 'stopped' } }), gpuInstance({ State: { Name: 'stopping' } }));
    const result = await run('start-all');
    expect(result.code).toBe(1);
    expect(result.out).toContain('Starting app i-0app (was stopped).');
    expect(result.err).toBe('gpu i-0gpu is stopping; start it once it has stopped (try again in a minute).');
    expect(ec2Mock).toHaveReceivedCommandWith(StartInstancesCommand, { InstanceIds: ['i-0app'] });
    expect(ec2Mock).toHaveReceivedCommandTimes(StartInstancesCommand, 1);
  });

  it('start-all with a spot-interrupted GPU still starts the app host', async () => {
    givenInstances(
      appInstance({ State: { Name: 'stopped' } }),
      gpuInstance({ StateReason: { Code: 'Server.SpotInstanceShutdown' } }),
    );
    const result = await run('start-all');
    expect(result.code).toBe(1);
    expect(ec2Mock).toHaveReceivedCommandWith(StartInstancesCommand, { InstanceIds: ['i-0app'] });
    expect(result.err).toContain('only EC2 can start it again');
  });

  it('stop-all while the GPU is pending stops the app host and leaves the GPU to the scaler (paused)', async () => {
    givenInstances(appInstance(), gpuInstance({ State: { Name: 'pending' } }));
    const result = await run('stop-all');
    expect(result.code).toBe(0);
    expect(result.out).toContain('Stopping app i-0app (was running).');
    expect(result.out).toContain(
      'gpu i-0gpu is still starting (pending); the scaler stops it as soon as it runs.',
    );
    expect(ec2Mock).toHaveReceivedCommandWith(StopInstancesCommand, { InstanceIds: ['i-0app'] });
    expect(ec2Mock).toHaveReceivedCommandTimes(StopInstancesCommand, 1);
    expect(writtenTags()).toEqual({ 'gpu-fleet:paused-until': '2026-11-25T00:00:00Z' });
  });

  it('start-gpu --hold 2h under no spot capacity writes the hold first, so the scaler keeps trying', async () => {
    givenInstances(appInstance(), gpuInstance());
    ec2Mock.on(StartInstancesCommand).rejects(capacity);
    const result = await run('start-gpu', '--hold', '2h');
    expect(result.code).toBe(1);
    expect(writtenTags()).toEqual({ 'gpu-fleet:hold-until': '2026-11-24T05:00:00Z' });
    expect(result.out).toContain(
      'Hold set until 2026-11-24T05:00:00Z (2h): the scaler keeps the GPU running until then, and starts it once EC2 lets it.',
    );
    expect(result.err).toMatch(/^gpu i-0gpu: EC2 has no spot capacity/);
  });

  it('hold --release with no hold says so, and writes nothing', async () => {
    givenInstances(appInstance(), gpuInstance({}, { 'gpu-fleet:hold-until': '2026-11-24T01:00:00Z' }));
    const result = await run('hold', '--release');
    expect(result).toMatchObject({ code: 0, out: 'No hold was set; nothing changed.' });
    expect(ec2Mock).toHaveReceivedCommandTimes(CreateTagsCommand, 0);
  });

  it('status --json writes null for what is absent, so every key is always there', async () => {
    givenInstances(appInstance(), gpuInstance());
    givenDeployedStacks();
    const report = await statusJson();
    expect(report.scaler).toMatchObject({
      holdUntil: null,
      pausedUntil: null,
      idleSince: null,
      lastJobAt: null,
    });
    expect(report.instances[1]?.publicIp).toBeNull();
  });
});

describe('one operator rule set: a stop pauses automatic starts', () => {
  it('stop-gpu pauses until the next scheduled app start, and status shows it', async () => {
    givenInstances(appInstance(), gpuInstance({ State: { Name: 'running' } }));
    // 2026-11-24 12:00 Tokyo, a Tuesday: the next start is Wednesday 09:00 Tokyo = 00:00Z.
    const result = await run('stop-gpu');
    expect(result.code).toBe(0);
    expect(writtenTags()).toEqual({ 'gpu-fleet:paused-until': '2026-11-25T00:00:00Z' });

    givenInstances(appInstance(), gpuInstance({}, { 'gpu-fleet:paused-until': '2026-11-25T00:00:00Z' }));
    givenDeployedStacks();
    const status = await run('status');
    expect(status.out).toContain(
      'paused until   2026-11-25T00:00:00Z (21h from now): the operator stopped the GPU; no automatic start before then',
    );
  });

  it('stop-gpu --until takes a duration or an ISO time, at most 7 days ahead', async () => {
    givenInstances(appInstance(), gpuInstance({ State: { Name: 'running' } }));
    expect((await run('stop-gpu', '--until', '3h')).code).toBe(0);
    expect(writtenTags()).toEqual({ 'gpu-fleet:paused-until': '2026-11-24T06:00:00Z' });
    const tooFar = await run('stop-gpu', '--until', '2026-12-24T00:00:00Z');
    expect(tooFar.code).toBe(2);
    expect(tooFar.err).toContain('lies more than 7 days ahead');
  });

  it('start-gpu and hold end the pause', async () => {
    givenInstances(appInstance(), gpuInstance({}, { 'gpu-fleet:paused-until': '2026-11-25T00:00:00Z' }));
    const started = await run('start-gpu');
    expect(started.out).toContain('Automatic GPU starts resumed (the operator pause ended).');
    expect(writtenTags()).toEqual({ 'gpu-fleet:paused-until': '' });
    ec2Mock.resetHistory();
    const held = await run('hold', '1h');
    expect(writtenTags()).toEqual({
      'gpu-fleet:paused-until': '',
      'gpu-fleet:hold-until': '2026-11-24T04:00:00Z',
    });
    expect(held.code).toBe(0);
  });
});
