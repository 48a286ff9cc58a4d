import {
  AutoScalingClient,
  DeleteAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CloudFormationClient,
  DescribeStacksCommand,
  GetTemplateCommand,
  type StackStatus,
} from '@aws-sdk/client-cloudformation';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import {
  type BurstGroupEvent,
  type BurstGroupIsCompleteEvent,
  type BurstTeardownDeps,
  isComplete,
  onEvent,
} from '../../src/aws/burst-teardown';
import { BURST_GROUP_RESOURCE_TYPE } from '../../src/names';
import { autoScalingError, ec2Error } from '../support/aws-errors';
import { describedGroup, groupMember } from './support';

const autoScalingMock = mockClient(AutoScalingClient);
const ec2Mock = mockClient(EC2Client);
const cloudFormationMock = mockClient(CloudFormationClient);
const stackIn = (status: StackStatus) =>
  cloudFormationMock.on(DescribeStacksCommand).resolves({
    Stacks: [{ StackName: 'GpuFleet-Compute', StackStatus: status, CreationTime: new Date(0) }],
  });
let sleeps: number[];
const deps = (): BurstTeardownDeps => ({
  autoScaling: new AutoScalingClient({ region: 'ap-northeast-1' }),
  ec2: new EC2Client({ region: 'ap-northeast-1' }),
  cloudFormation: new CloudFormationClient({ region: 'ap-northeast-1' }),
  sleep: async (ms) => {
    sleeps.push(ms);
  },
});
beforeEach(() => {
  autoScalingMock.reset();
  ec2Mock.reset();
  cloudFormationMock.reset();
  // cdk destroy, and a delete that goes through, unless a test says otherwise.
  stackIn('DELETE_IN_PROGRESS');
  autoScalingMock.on(DeleteAutoScalingGroupCommand).resolves({});
  sleeps = [];
});

const GROUP = 'GpuFleet-burst-workers';
const WORKER_1 = 'i-0aaaaaaaaaaaaaaa1';
const WORKER_2 = 'i-0bbbbbbbbbbbbbbb2';

/** A Provider framework event; the fields the handlers never read (ServiceToken, ResponseURL) are left out. */
function event(
  type: BurstGroupEvent['RequestType'],
  extra: { readonly [K in keyof BurstGroupIsCompleteEvent]?: unknown } = {},
): BurstGroupIsCompleteEvent {
  return {
    RequestType: type,
    RequestId: 'req-1',
    StackId: 'arn:aws:cloudformation:ap-northeast-1:111111111111:stack/GpuFleet-Compute/x',
    LogicalResourceId: 'GpuWorkerBurstTeardown',
    ResourceType: BURST_GROUP_RESOURCE_TYPE,
    ResourceProperties: { AutoScalingGroupName: GROUP },
    ...(type === 'Create' ? {} : { PhysicalResourceId: GROUP }),
    ...extra,
  } as BurstGroupIsCompleteEvent;
}

/** The group as DescribeAutoScalingGroups shows it: every worker protected from scale-in. */
const group = (instanceIds: string[], Status?: string) =>
  describedGroup(
    GROUP,
    instanceIds.map((id) => groupMember(id)),
    { NewInstancesProtectedFromScaleIn: true, Status },
  );

function instances(...states: Array<[string, string]>) {
  return {
    Reservations: [
      {
        Instances: states.map(([InstanceId, state]) => ({ InstanceId, State: { Name: state as 'running' } })),
      },
    ],
  };
}

function noCalls(): void {
  expect(autoScalingMock.calls()).toHaveLength(0);
  expect(ec2Mock.calls()).toHaveLength(0);
}

/** What onEvent hands isComplete: the Provider framework merges its result into the event. */
async function deleted(): Promise<BurstGroupIsCompleteEvent> {
  const request = event('Delete');
  return { ...request, ...(await onEvent(request, deps())) };
}

describe('creating and updating the teardown (no AWS call)', () => {
  it('takes the group name as its physical id and calls nothing, on create and in isComplete', async () => {
    const result = await onEvent(event('Create'), deps());
    expect(result.PhysicalResourceId).toBe(GROUP);
    expect((await isComplete({ ...event('Create'), ...result }, deps())).IsComplete).toBe(true);
    noCalls();
  });

  it('keeps the physical id on an update with the same name, so CloudFormation sends no Delete', async () => {
    const update = event('Update', { OldResourceProperties: { AutoScalingGroupName: GROUP } });
    const result = await onEvent(update, deps());
    expect(result.PhysicalResourceId).toBe(GROUP);
    expect((await isComplete({ ...update, ...result }, deps())).IsComplete).toBe(true);
    noCalls();
  });

  it('takes the new name on a rename (the group is replaced; the Delete for the old id retires the old one)', async () => {
    const result = await onEvent(
      event('Update', {
        ResourceProperties: { AutoScalingGroupName: 'GpuFleet2-burst-workers' },
        OldResourceProperties: { AutoScalingGroupName: GROUP },
      }),
      deps(),
    );
    expect(result.PhysicalResourceId).toBe('GpuFleet2-burst-workers');
    noCalls();
  });

  it('refuses a create without a group name', async () => {
    await expect(
      onEvent(event('Create', { ResourceProperties: { AutoScalingGroupName: '' } }), deps()),
    ).rejects.toThrow(/AutoScalingGroupName/);
  });
});

describe('deleting the teardown (cdk destroy, burst turned off, a renamed group)', () => {
  it('force-deletes on cdk destroy and in the cleanup of an update that removed or renamed the group', async () => {
    cloudFormationMock.on(GetTemplateCommand).resolves({ TemplateBody: '{"Resources":{}}' });
    for (const status of ['DELETE_IN_PROGRESS', 'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS'] as const) {
      autoScalingMock.reset();
      stackIn(status);
      autoScalingMock.on(DescribeAutoScalingGroupsCommand).resolves(group([]));
      autoScalingMock.on(DeleteAutoScalingGroupCommand).resolves({});
      await onEvent(event('Delete'), deps());
      expect(autoScalingMock).toHaveReceivedCommandWith(DeleteAutoScalingGroupCommand, { ForceDelete: true });
    }
  });

  it.each([
    'UPDATE_ROLLBACK_IN_PROGRESS',
    'UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS',
    'ROLLBACK_IN_PROGRESS',
  ] as const)(
    'leaves the group alone in a rollback (%s): the update that added this resource failed, the group stays',
    async (status) => {
      stackIn(status);
      const result = await onEvent(event('Delete'), deps());
      expect(autoScalingMock.calls()).toHaveLength(0);
      expect(await isComplete({ ...event('Delete'), Data: result.Data }, deps())).toEqual({
        IsComplete: true,
      });
      expect(autoScalingMock.calls()).toHaveLength(0);
    },
  );

  it("leaves the group alone after an update whose template still has it (the teardown's logical id moved)", async () => {
    stackIn('UPDATE_COMPLETE_CLEANUP_IN_PROGRESS');
    const templateWith = (name: string) =>
      JSON.stringify({
        Resources: {
          Group: { Type: 'AWS::AutoScaling::AutoScalingGroup', Properties: { AutoScalingGroupName: name } },
        },
      });
    cloudFormationMock.on(GetTemplateCommand).resolves({ TemplateBody: templateWith(GROUP) });
    const kept = await onEvent(event('Delete'), deps());
    expect(kept.Data?.LeftAlone).toBe('true');
    expect(autoScalingMock.calls()).toHaveLength(0);
    // A renamed group: the template has the new name only, so the old one goes.
    cloudFormationMock.on(GetTemplateCommand).resolves({ TemplateBody: templateWith('Other-burst-workers') });
    autoScalingMock.on(DescribeAutoScalingGroupsCommand).resolves(group([]));
    await onEvent(event('Delete'), deps());
    expect(autoScalingMock).toHaveReceivedCommandWith(DeleteAutoScalingGroupCommand, { ForceDelete: true });
  });

  it('leaves the group alone when the stack status cannot be read (not knowing is no licence to delete)', async () => {
    cloudFormationMock.on(DescribeStacksCommand).rejects(new Error('AccessDenied'));
    const result = await onEvent(event('Delete'), deps());
    expect(result.Data?.LeftAlone).toBe('true');
    expect(autoScalingMock).not.toHaveReceivedCommand(DeleteAutoScalingGroupCommand);
  });

  it('force-deletes the group (scale-in protection cannot hold it) and remembers its workers', async () => {
    autoScalingMock.on(DescribeAutoScalingGroupsCommand).resolves(group([WORKER_1, WORKER_2]));
    const result = await onEvent(event('Delete'), deps());
    expect(result.PhysicalResourceId).toBe(GROUP);
    expect(autoScalingMock).toHaveReceivedCommandWith(DescribeAutoScalingGroupsCommand, {
      AutoScalingGroupNames: [GROUP],
    });
    expect(autoScalingMock).toHaveReceivedCommandTimes(DeleteAutoScalingGroupCommand, 1);
    expect(autoScalingMock).toHaveReceivedCommandWith(DeleteAutoScalingGroupCommand, {
      AutoScalingGroupName: GROUP,
      ForceDelete: true,
    });
    expect(result.Data?.InstanceIds?.split(',').sort()).toEqual([WORKER_1, WORKER_2]);
    // Nothing terminates instances by hand: the force delete does, and ends their lifecycle actions.
    expect(ec2Mock.calls()).toHaveLength(0);
  });

  it('is complete only once the group is gone and every remembered worker is terminated', async () => {
    autoScalingMock
      .on(DescribeAutoScalingGroupsCommand)
      .resolvesOnce(group([WORKER_1, WORKER_2]))
      .resolvesOnce(group([WORKER_1, WORKER_2], 'Delete in progress'))
      .resolves({ AutoScalingGroups: [] });
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce(instances([WORKER_1, 'shutting-down'], [WORKER_2, 'shutting-down']))
      .resolvesOnce(instances([WORKER_1, 'terminated'], [WORKER_2, 'shutting-down']))
      .resolvesOnce(instances([WORKER_1, 'terminated'], [WORKER_2, 'terminated']));
    const request = await deleted();
    // The group is still being deleted.
    expect((await isComplete(request, deps())).IsComplete).toBe(false);
    // The group is gone, one worker still shutting down: its interface still holds the subnet.
    expect((await isComplete(request, deps())).IsComplete).toBe(false);
    expect((await isComplete(request, deps())).IsComplete).toBe(true);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: [{ Name: 'instance-id', Values: [WORKER_1, WORKER_2] }],
    });
  });

  it('waits for the group itself to be gone, even when its workers are already terminated', async () => {
    autoScalingMock
      .on(DescribeAutoScalingGroupsCommand)
      .resolvesOnce(group([WORKER_1]))
      .resolvesOnce(group([WORKER_1], 'Delete in progress'))
      .resolves({ AutoScalingGroups: [] });
    ec2Mock.on(DescribeInstancesCommand).resolves(instances([WORKER_1, 'terminated']));
    const request = await deleted();
    expect((await isComplete(request, deps())).IsComplete).toBe(false);
    expect((await isComplete(request, deps())).IsComplete).toBe(true);
  });

  it('counts a worker EC2 no longer knows as gone (absent from the answer, or InvalidInstanceID.NotFound)', async () => {
    autoScalingMock
      .on(DescribeAutoScalingGroupsCommand)
      .resolvesOnce(group([WORKER_1, WORKER_2]))
      .resolves({ AutoScalingGroups: [] });
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce(instances([WORKER_2, 'shutting-down']))
      .resolvesOnce(instances())
      .rejectsOnce(ec2Error('InvalidInstanceID.NotFound'));
    const request = await deleted();
    expect((await isComplete(request, deps())).IsComplete).toBe(false);
    expect((await isComplete(request, deps())).IsComplete).toBe(true);
    expect((await isComplete(request, deps())).IsComplete).toBe(true);
  });

  it('does nothing more when the group is already gone', async () => {
    autoScalingMock.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [] });
    const request = await deleted();
    expect(autoScalingMock).not.toHaveReceivedCommand(DeleteAutoScalingGroupCommand);
    expect((await isComplete(request, deps())).IsComplete).toBe(true);
    expect(ec2Mock.calls()).toHaveLength(0);
  });

  it('succeeds when the group vanishes between the describe and the delete', async () => {
    autoScalingMock.on(DescribeAutoScalingGroupsCommand).resolvesOnce(group([]));
    autoScalingMock
      .on(DeleteAutoScalingGroupCommand)
      .rejects(autoScalingError('ValidationError', 400, `AutoScalingGroup name not found - ${GROUP}`));
    await expect(onEvent(event('Delete'), deps())).resolves.toMatchObject({ PhysicalResourceId: GROUP });
  });

  it('does not delete again a group already being deleted (a retried request), but still waits for its workers', async () => {
    autoScalingMock.on(DescribeAutoScalingGroupsCommand).resolves(group([WORKER_1], 'Delete in progress'));
    const request = await deleted();
    expect(autoScalingMock).not.toHaveReceivedCommand(DeleteAutoScalingGroupCommand);
    expect(request.Data?.InstanceIds).toBe(WORKER_1);
  });

  it('deletes the group the Delete names (its physical id), never the current one after a rename', async () => {
    const old = 'GpuFleetOld-burst-workers';
    autoScalingMock.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [] });
    await onEvent(
      event('Delete', { PhysicalResourceId: old, ResourceProperties: { AutoScalingGroupName: old } }),
      deps(),
    );
    expect(autoScalingMock).toHaveReceivedCommandWith(DescribeAutoScalingGroupsCommand, {
      AutoScalingGroupNames: [old],
    });
  });

  it('retries throttling and 5xx with back-off instead of failing the teardown', async () => {
    autoScalingMock
      .on(DescribeAutoScalingGroupsCommand)
      .rejectsOnce(autoScalingError('Throttling'))
      .resolvesOnce(group([WORKER_1]))
      .rejectsOnce(autoScalingError('ServiceUnavailable', 503))
      .resolves({ AutoScalingGroups: [] });
    autoScalingMock
      .on(DeleteAutoScalingGroupCommand)
      .rejectsOnce(autoScalingError('ResourceContentionFault', 500))
      .resolves({});
    ec2Mock
      .on(DescribeInstancesCommand)
      .rejectsOnce(ec2Error('RequestLimitExceeded', 503))
      .resolves(instances([WORKER_1, 'terminated']));
    const request = await deleted();
    expect(autoScalingMock).toHaveReceivedCommandTimes(DeleteAutoScalingGroupCommand, 2);
    expect((await isComplete(request, deps())).IsComplete).toBe(true);
    expect(sleeps).toEqual([2000, 2000, 2000, 2000]);
  });

  it('fails the teardown loudly on a permanent error (access denied)', async () => {
    autoScalingMock.on(DescribeAutoScalingGroupsCommand).resolves(group([WORKER_1]));
    autoScalingMock.on(DeleteAutoScalingGroupCommand).rejects(autoScalingError('AccessDenied', 403));
    await expect(onEvent(event('Delete'), deps())).rejects.toThrow(/AccessDenied/);
    expect(autoScalingMock).toHaveReceivedCommandTimes(DeleteAutoScalingGroupCommand, 1);
  });
});
