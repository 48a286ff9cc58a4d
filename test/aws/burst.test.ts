import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeScalingActivitiesCommand,
  SetDesiredCapacityCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  UpdateAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  burstGroupFromEnvironment,
  burstWorkerInfo,
  createBurstGroup,
  latestLaunchFailure,
} from '../../src/aws/burst';
import { BURST_DRAIN_HOOK } from '../../src/names';
import { autoScalingError } from '../support/aws-errors';
import { caught, describedGroup, groupMember } from './support';

const asgMock = mockClient(AutoScalingClient);
const ec2Mock = mockClient(EC2Client);
const GROUP = 'gpu-fleet-burst';
beforeEach(() => {
  asgMock.reset();
  ec2Mock.reset();
});

const burst = () =>
  createBurstGroup(
    new AutoScalingClient({ region: 'ap-northeast-1' }),
    new EC2Client({ region: 'ap-northeast-1' }),
    GROUP,
  );

function groupWith(overrides: Record<string, unknown> = {}) {
  const members = [
    groupMember('i-b1', { InstanceType: 'g5.xlarge' }),
    groupMember('i-b2', {
      InstanceType: 'g4dn.xlarge',
      AvailabilityZone: 'ap-northeast-1a',
      LifecycleState: 'Pending',
    }),
  ];
  return describedGroup(GROUP, members, {
    MixedInstancesPolicy: {
      InstancesDistribution: { OnDemandBaseCapacity: 0, OnDemandPercentageAboveBaseCapacity: 0 },
    },
    ...overrides,
  });
}

describe('burst group adapter', () => {
  it('describes the group with each worker from the group and EC2 (market, tags, launch time)', async () => {
    const launch = new Date('2026-11-24T01:00:00Z');
    asgMock.on(DescribeAutoScalingGroupsCommand).resolves(groupWith());
    asgMock.on(DescribeScalingActivitiesCommand).resolves({ Activities: [] });
    ec2Mock.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            {
              InstanceId: 'i-b1',
              InstanceType: 'g5.xlarge',
              InstanceLifecycle: 'spot',
              LaunchTime: launch,
              Tags: [{ Key: 'gpu-fleet:ready-at', Value: '2026-11-24T01:09:00Z' }],
            },
            { InstanceId: 'i-b2', InstanceType: 'g4dn.xlarge', LaunchTime: launch },
          ],
        },
      ],
    });
    expect(await burst().describe()).toEqual({
      desired: 2,
      max: 3,
      onDemand: false,
      lastLaunchFailure: undefined,
      workers: [
        {
          instanceId: 'i-b1',
          instanceType: 'g5.xlarge',
          market: 'spot',
          availabilityZone: 'ap-northeast-1c',
          lifecycleState: 'InService',
          launchTime: launch,
          tags: { 'gpu-fleet:ready-at': '2026-11-24T01:09:00Z' },
        },
        {
          instanceId: 'i-b2',
          instanceType: 'g4dn.xlarge',
          market: 'on-demand',
          availabilityZone: 'ap-northeast-1a',
          lifecycleState: 'Pending',
          launchTime: launch,
          tags: {},
        },
      ],
    });
    expect(asgMock).toHaveReceivedCommandWith(DescribeAutoScalingGroupsCommand, {
      AutoScalingGroupNames: [GROUP],
    });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: [{ Name: 'instance-id', Values: ['i-b1', 'i-b2'] }],
    });
  });

  it('reads the on-demand fallback from the distribution and skips EC2 for an empty group', async () => {
    asgMock.on(DescribeAutoScalingGroupsCommand).resolves(
      groupWith({
        Instances: [],
        DesiredCapacity: 0,
        MixedInstancesPolicy: { InstancesDistribution: { OnDemandPercentageAboveBaseCapacity: 100 } },
      }),
    );
    asgMock.on(DescribeScalingActivitiesCommand).resolves({ Activities: [] });
    expect(await burst().describe()).toMatchObject({ desired: 0, onDemand: true, workers: [] });
    expect(ec2Mock).not.toHaveReceivedCommand(DescribeInstancesCommand);
  });

  it('keeps a worker EC2 no longer knows, with the market the group launches in', async () => {
    asgMock.on(DescribeAutoScalingGroupsCommand).resolves(groupWith());
    asgMock.on(DescribeScalingActivitiesCommand).resolves({ Activities: [] });
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    const { workers } = await burst().describe();
    expect(workers.map((w) => [w.instanceId, w.market, w.tags])).toEqual([
      ['i-b1', 'spot', {}],
      ['i-b2', 'spot', {}],
    ]);
  });

  it('reports the latest failed launch with the time it ended', async () => {
    asgMock.on(DescribeAutoScalingGroupsCommand).resolves(groupWith({ Instances: [] }));
    const failedAt = new Date('2026-11-24T02:01:00Z');
    asgMock.on(DescribeScalingActivitiesCommand).resolves({
      Activities: [
        {
          ActivityId: 'a2',
          AutoScalingGroupName: GROUP,
          Cause: 'desired capacity 1',
          StartTime: new Date('2026-11-24T02:00:00Z'),
          EndTime: failedAt,
          StatusCode: 'Failed',
          Description: 'Launching a new EC2 instance.  Status Reason: no capacity',
          StatusMessage: 'There is no Spot capacity available that matches your request.\nmore',
        },
      ],
    });
    expect((await burst().describe()).lastLaunchFailure).toEqual({
      at: failedAt,
      message: 'There is no Spot capacity available that matches your request.',
    });
    expect(asgMock).toHaveReceivedCommandWith(DescribeScalingActivitiesCommand, {
      AutoScalingGroupName: GROUP,
      MaxRecords: 20,
    });
  });

  it('sets the desired capacity without honouring a cooldown', async () => {
    asgMock.on(SetDesiredCapacityCommand).resolves({});
    await burst().setDesired(3);
    expect(asgMock).toHaveReceivedCommandWith(SetDesiredCapacityCommand, {
      AutoScalingGroupName: GROUP,
      DesiredCapacity: 3,
      HonorCooldown: false,
    });
  });

  it.each([true, false])(
    'retires one worker by id, lowering the desired capacity with it: %s',
    async (decrementDesired) => {
      asgMock.on(TerminateInstanceInAutoScalingGroupCommand).resolves({});
      await burst().retire('i-b1', decrementDesired);
      expect(asgMock).toHaveReceivedCommandWith(TerminateInstanceInAutoScalingGroupCommand, {
        InstanceId: 'i-b1',
        ShouldDecrementDesiredCapacity: decrementDesired,
      });
    },
  );

  it.each([
    [true, 100],
    [false, 0],
  ])('switches the market of new workers (on-demand %s → %i%% above base)', async (onDemand, percentage) => {
    asgMock.on(UpdateAutoScalingGroupCommand).resolves({});
    await burst().setOnDemand(onDemand);
    expect(asgMock).toHaveReceivedCommandWith(UpdateAutoScalingGroupCommand, {
      AutoScalingGroupName: GROUP,
      MixedInstancesPolicy: {
        InstancesDistribution: { OnDemandBaseCapacity: 0, OnDemandPercentageAboveBaseCapacity: percentage },
      },
    });
  });

  it('completes the drain hook of one worker with CONTINUE, on its group', async () => {
    asgMock.on(CompleteLifecycleActionCommand).resolves({});
    await burst().completeDrain('i-b1');
    expect(asgMock).toHaveReceivedCommandTimes(CompleteLifecycleActionCommand, 1);
    expect(asgMock).toHaveReceivedCommandWith(CompleteLifecycleActionCommand, {
      AutoScalingGroupName: GROUP,
      LifecycleHookName: BURST_DRAIN_HOOK,
      InstanceId: 'i-b1',
      LifecycleActionResult: 'CONTINUE',
    });
  });

  it('counts a drain already completed (no active lifecycle action) as done: the next tick may ask again', async () => {
    // What Auto Scaling answers once the hook has been completed or has timed out.
    asgMock
      .on(CompleteLifecycleActionCommand)
      .rejects(
        autoScalingError('ValidationError', 400, 'No active Lifecycle Action found with instance ID i-b1'),
      );
    await expect(burst().completeDrain('i-b1')).resolves.toBeUndefined();
  });

  it.each([
    ['ValidationError', 400, 'Unknown', false],
    ['AccessDenied', 403, 'AccessDenied', false],
    ['Throttling', 400, 'Throttled', true],
  ])('refuses with any other error (%s), in the error vocabulary', async (name, status, code, retryable) => {
    asgMock.on(CompleteLifecycleActionCommand).rejects(autoScalingError(name, status));
    const error = await caught(burst().completeDrain('i-b1'));
    expect({ code: error.code, retryable: error.retryable }).toEqual({ code, retryable });
    if (code === 'AccessDenied') expect(error.missingPermission).toBe('autoscaling:CompleteLifecycleAction');
  });

  it('fails with NotFound when the group does not exist', async () => {
    asgMock.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [] });
    await expect(burst().describe()).rejects.toMatchObject({ code: 'NotFound', retryable: false });
  });

  it.each([
    ['ResourceContention', 500, 'Throttled', true],
    ['ScalingActivityInProgress', 400, 'IncorrectInstanceState', true],
    ['Throttling', 400, 'Throttled', true],
    ['AccessDenied', 403, 'AccessDenied', false],
    ['ValidationError', 400, 'Unknown', false],
  ])('turns %s into the error vocabulary', async (name, status, code, retryable) => {
    asgMock.on(SetDesiredCapacityCommand).rejects(autoScalingError(name, status));
    const error = await caught(burst().setDesired(1));
    expect({ code: error.code, retryable: error.retryable }).toEqual({ code, retryable });
    if (code === 'AccessDenied') expect(error.missingPermission).toBe('autoscaling:SetDesiredCapacity');
  });

  it('names the EC2 permission when the instance read is denied', async () => {
    asgMock.on(DescribeAutoScalingGroupsCommand).resolves(groupWith());
    ec2Mock.on(DescribeInstancesCommand).rejects(
      Object.assign(new Error('not allowed'), {
        name: 'UnauthorizedOperation',
        $metadata: { httpStatusCode: 403 },
      }),
    );
    await expect(burst().describe()).rejects.toMatchObject({
      code: 'AccessDenied',
      missingPermission: 'ec2:DescribeInstances',
    });
  });
});

describe('latestLaunchFailure', () => {
  const at = (minute: number) => new Date(Date.UTC(2026, 10, 24, 2, minute));
  const activity = (StatusCode: string, minute: number, Description = 'Launching a new EC2 instance: i-x') =>
    ({
      StatusCode,
      Description,
      StartTime: at(minute),
      EndTime: at(minute),
      StatusMessage: StatusCode,
    }) as never;

  it('forgets a failure that a later launch overcame', () => {
    expect(latestLaunchFailure([activity('Successful', 5), activity('Failed', 1)])).toBeUndefined();
  });

  it('ignores failed terminations and keeps looking for launches', () => {
    expect(
      latestLaunchFailure([activity('Failed', 6, 'Terminating EC2 instance: i-y'), activity('Failed', 4)]),
    ).toEqual({ at: at(4), message: 'Failed' });
  });
});

describe('burstGroupFromEnvironment', () => {
  const clients = () => ({
    autoScaling: new AutoScalingClient({ region: 'ap-northeast-1' }),
    ec2: new EC2Client({ region: 'ap-northeast-1' }),
  });

  it('is undefined without BURST_GROUP_NAME (burst.maxWorkers 0) and creates no client', () => {
    const make = jest.fn(clients);
    expect(burstGroupFromEnvironment({}, make)).toBeUndefined();
    expect(burstGroupFromEnvironment({ BURST_GROUP_NAME: '' }, make)).toBeUndefined();
    expect(make).not.toHaveBeenCalled();
  });

  it('acts on the named group', async () => {
    asgMock.on(SetDesiredCapacityCommand).resolves({});
    await burstGroupFromEnvironment({ BURST_GROUP_NAME: 'Other-burst-workers' }, clients)?.setDesired(1);
    expect(asgMock).toHaveReceivedCommandWith(SetDesiredCapacityCommand, {
      AutoScalingGroupName: 'Other-burst-workers',
      DesiredCapacity: 1,
    });
  });
});

describe('a burst worker as the group and EC2 describe it', () => {
  const member = groupMember('i-1', { AvailabilityZone: 'ap-northeast-1a' });

  it("takes the market, type, launch time and tags from EC2's description", () => {
    const launched = new Date('2026-11-24T02:00:00Z');
    expect(
      burstWorkerInfo(
        member,
        {
          InstanceId: 'i-1',
          InstanceType: 'g5.xlarge',
          InstanceLifecycle: 'spot',
          LaunchTime: launched,
          Tags: [{ Key: 'gpu-fleet:ready-at', Value: '2026-11-24T02:06:00Z' }],
        },
        true,
      ),
    ).toEqual({
      instanceId: 'i-1',
      instanceType: 'g5.xlarge',
      market: 'spot',
      availabilityZone: 'ap-northeast-1a',
      lifecycleState: 'InService',
      launchTime: launched,
      tags: { 'gpu-fleet:ready-at': '2026-11-24T02:06:00Z' },
    });
  });

  it('guesses the group market for an instance EC2 no longer knows', () => {
    expect(burstWorkerInfo(member, undefined, true)).toMatchObject({
      market: 'on-demand',
      instanceType: 'unknown',
      tags: {},
    });
    expect(burstWorkerInfo(member, undefined, false)).toMatchObject({ market: 'spot' });
  });
});
