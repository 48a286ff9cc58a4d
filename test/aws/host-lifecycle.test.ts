import {
  CancelSpotInstanceRequestsCommand,
  CreateTagsCommand,
  DescribeInstancesCommand,
  DescribeSpotInstanceRequestsCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import {
  type HostEvent,
  type HostIsCompleteEvent,
  type HostLifecycleDeps,
  type HostProperties,
  isComplete,
  onEvent,
} from '../../src/aws/host-lifecycle';
import { ec2Error } from '../support/aws-errors';

const ec2Mock = mockClient(EC2Client);
let sleeps: number[];
const deps = (): HostLifecycleDeps => ({
  ec2: new EC2Client({ region: 'ap-northeast-1' }),
  sleep: async (ms) => {
    sleeps.push(ms);
  },
});
beforeEach(() => {
  ec2Mock.reset();
  sleeps = [];
  ec2Mock.on(DescribeSpotInstanceRequestsCommand).resolves({ SpotInstanceRequests: [] });
});

const GPU: HostProperties = {
  LaunchTemplateId: 'lt-0123456789abcdef0',
  LaunchTemplateVersion: '3',
  Revision: '1',
  Fleet: 'GpuFleet',
  Role: 'gpu',
  Spot: 'true',
  Tags: JSON.stringify({ Project: 'gpu-fleet' }),
};

/** A Provider framework event; the fields the handlers never read (ServiceToken, ResponseURL) are left out. */
function event(
  type: HostEvent['RequestType'],
  extra: { readonly [K in keyof HostIsCompleteEvent]?: unknown } = {},
): HostIsCompleteEvent {
  return {
    RequestType: type,
    RequestId: 'req-1',
    StackId: 'arn:aws:cloudformation:ap-northeast-1:111111111111:stack/GpuFleet-Compute/x',
    LogicalResourceId: 'GpuWorkerInstance',
    ResourceProperties: GPU,
    ...extra,
  } as HostIsCompleteEvent;
}

function instance(id: string, state: string, spotRequest?: string) {
  return {
    Reservations: [
      {
        Instances: [
          { InstanceId: id, State: { Name: state as 'running' }, SpotInstanceRequestId: spotRequest },
        ],
      },
    ],
  };
}

/** The EC2 commands in the order they were sent, by name. */
function sentCommands(): string[] {
  return ec2Mock.calls().map((call) => (call.args[0] as object).constructor.name);
}

describe('creating a host', () => {
  it('launches one instance from the launch template version, tagged for the fleet and role', async () => {
    ec2Mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0aaaaaaaaaaaaaaa1' }] });
    const result = await onEvent(event('Create'), deps());
    expect(result.PhysicalResourceId).toBe('i-0aaaaaaaaaaaaaaa1');
    const input = ec2Mock.commandCalls(RunInstancesCommand)[0].args[0].input;
    expect(input).toMatchObject({
      LaunchTemplate: { LaunchTemplateId: 'lt-0123456789abcdef0', Version: '3' },
      MinCount: 1,
      MaxCount: 1,
    });
    expect(input.ClientToken).toMatch(/^[0-9a-f]{64}$/);
    const types = input.TagSpecifications?.map((s) => s.ResourceType);
    expect(types).toEqual(['instance', 'volume', 'network-interface', 'spot-instances-request']);
    expect(input.TagSpecifications?.[0].Tags).toEqual(
      expect.arrayContaining([
        { Key: 'gpu-fleet:fleet', Value: 'GpuFleet' },
        { Key: 'gpu-fleet:role', Value: 'gpu' },
        { Key: 'Project', Value: 'gpu-fleet' },
        { Key: 'Name', Value: 'GpuFleet-gpu' },
      ]),
    );
  });

  it('does not tag a spot request that an on-demand host does not have', async () => {
    ec2Mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0aaaaaaaaaaaaaaa1' }] });
    await onEvent(event('Create', { ResourceProperties: { ...GPU, Role: 'app', Spot: 'false' } }), deps());
    const input = ec2Mock.commandCalls(RunInstancesCommand)[0].args[0].input;
    expect(input.TagSpecifications?.map((s) => s.ResourceType)).not.toContain('spot-instances-request');
  });

  it('is complete once the instance runs, and fails the deploy if it ended while starting', async () => {
    const created = event('Create', { PhysicalResourceId: 'i-0aaaaaaaaaaaaaaa1' });
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce(instance('i-0aaaaaaaaaaaaaaa1', 'pending'))
      .resolvesOnce(instance('i-0aaaaaaaaaaaaaaa1', 'running'))
      .resolvesOnce({
        Reservations: [
          {
            Instances: [
              {
                InstanceId: 'i-0aaaaaaaaaaaaaaa1',
                State: { Name: 'terminated' },
                StateReason: { Message: 'Server.InsufficientInstanceCapacity' },
              },
            ],
          },
        ],
      });
    expect((await isComplete(created, deps())).IsComplete).toBe(false);
    expect((await isComplete(created, deps())).IsComplete).toBe(true);
    await expect(isComplete(created, deps())).rejects.toThrow(
      /ended while starting: Server.InsufficientInstanceCapacity/,
    );
  });
});

describe('deleting a host (cdk destroy, a rolled-back first deploy)', () => {
  it('cancels the persistent spot request before it terminates the instance', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves(instance('i-0aaaaaaaaaaaaaaa1', 'stopped', 'sir-abc'));
    ec2Mock.on(CancelSpotInstanceRequestsCommand).resolves({});
    ec2Mock.on(TerminateInstancesCommand).resolves({});
    await onEvent(event('Delete', { PhysicalResourceId: 'i-0aaaaaaaaaaaaaaa1' }), deps());
    const order = sentCommands();
    expect(order.indexOf('CancelSpotInstanceRequestsCommand')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('CancelSpotInstanceRequestsCommand')).toBeLessThan(
      order.indexOf('TerminateInstancesCommand'),
    );
    expect(ec2Mock).toHaveReceivedCommandWith(CancelSpotInstanceRequestsCommand, {
      SpotInstanceRequestIds: ['sir-abc'],
    });
    expect(ec2Mock).toHaveReceivedCommandWith(TerminateInstancesCommand, {
      InstanceIds: ['i-0aaaaaaaaaaaaaaa1'],
    });
  });

  it('waits until the instance is terminated, so the network stack can delete its subnet', async () => {
    const deleted = event('Delete', { PhysicalResourceId: 'i-0aaaaaaaaaaaaaaa1' });
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce(instance('i-0aaaaaaaaaaaaaaa1', 'shutting-down'))
      .resolvesOnce(instance('i-0aaaaaaaaaaaaaaa1', 'terminated'));
    expect((await isComplete(deleted, deps())).IsComplete).toBe(false);
    expect((await isComplete(deleted, deps())).IsComplete).toBe(true);
  });

  it('succeeds when the request was already cancelled and the instance is already gone', async () => {
    ec2Mock.on(DescribeInstancesCommand).rejects(ec2Error('InvalidInstanceID.NotFound'));
    ec2Mock.on(CancelSpotInstanceRequestsCommand).rejects(ec2Error('InvalidSpotInstanceRequestID.NotFound'));
    await onEvent(event('Delete', { PhysicalResourceId: 'i-0aaaaaaaaaaaaaaa1' }), deps());
    expect(ec2Mock).not.toHaveReceivedCommand(TerminateInstancesCommand);
    const done = await isComplete(event('Delete', { PhysicalResourceId: 'i-0aaaaaaaaaaaaaaa1' }), deps());
    expect(done.IsComplete).toBe(true);
  });

  it('ignores a request that was cancelled in between (NotFound on cancel)', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves(instance('i-0aaaaaaaaaaaaaaa1', 'running', 'sir-abc'));
    ec2Mock.on(CancelSpotInstanceRequestsCommand).rejects(ec2Error('InvalidSpotInstanceRequestID.NotFound'));
    ec2Mock.on(TerminateInstancesCommand).resolves({});
    await onEvent(event('Delete', { PhysicalResourceId: 'i-0aaaaaaaaaaaaaaa1' }), deps());
    expect(ec2Mock).toHaveReceivedCommand(TerminateInstancesCommand);
  });

  it('retries throttling and 5xx with back-off instead of failing the teardown', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves(instance('i-0aaaaaaaaaaaaaaa1', 'stopped', 'sir-abc'));
    ec2Mock
      .on(CancelSpotInstanceRequestsCommand)
      .rejectsOnce(ec2Error('RequestLimitExceeded'))
      .rejectsOnce(ec2Error('InternalError', 500))
      .resolves({});
    ec2Mock.on(TerminateInstancesCommand).resolves({});
    await onEvent(event('Delete', { PhysicalResourceId: 'i-0aaaaaaaaaaaaaaa1' }), deps());
    expect(ec2Mock.commandCalls(CancelSpotInstanceRequestsCommand)).toHaveLength(2 + 1);
    expect(sleeps).toEqual([2000, 4000]);
    expect(ec2Mock).toHaveReceivedCommand(TerminateInstancesCommand);
  });

  it('fails the teardown loudly on a permanent error (access denied)', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves(instance('i-0aaaaaaaaaaaaaaa1', 'stopped', 'sir-abc'));
    ec2Mock.on(CancelSpotInstanceRequestsCommand).rejects(ec2Error('UnauthorizedOperation'));
    await expect(
      onEvent(event('Delete', { PhysicalResourceId: 'i-0aaaaaaaaaaaaaaa1' }), deps()),
    ).rejects.toThrow(/UnauthorizedOperation/);
    expect(ec2Mock).not.toHaveReceivedCommand(TerminateInstancesCommand);
  });

  it('after a create that never launched, still cancels any spot request of the role and its instance', async () => {
    ec2Mock.on(DescribeSpotInstanceRequestsCommand).resolves({
      SpotInstanceRequests: [
        { SpotInstanceRequestId: 'sir-stray', InstanceId: 'i-0bbbbbbbbbbbbbbb2', State: 'active' },
      ],
    });
    ec2Mock.on(CancelSpotInstanceRequestsCommand).resolves({});
    ec2Mock.on(TerminateInstancesCommand).resolves({});
    await onEvent(event('Delete', { PhysicalResourceId: 'GpuWorkerInstance' }), deps());
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeSpotInstanceRequestsCommand, {
      Filters: expect.arrayContaining([
        { Name: 'tag:gpu-fleet:fleet', Values: ['GpuFleet'] },
        { Name: 'tag:gpu-fleet:role', Values: ['gpu'] },
      ]),
    });
    expect(ec2Mock).toHaveReceivedCommandWith(CancelSpotInstanceRequestsCommand, {
      SpotInstanceRequestIds: ['sir-stray'],
    });
    expect(ec2Mock).toHaveReceivedCommandWith(TerminateInstancesCommand, {
      InstanceIds: ['i-0bbbbbbbbbbbbbbb2'],
    });
    const order = sentCommands();
    expect(order.indexOf('CancelSpotInstanceRequestsCommand')).toBeLessThan(
      order.indexOf('TerminateInstancesCommand'),
    );
  });
});

describe('the Delete CloudFormation sends for the old id after a rotation', () => {
  it('leaves the new instance and its spot request alone', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves(instance('i-0aaaaaaaaaaaaaaa1', 'terminated', 'sir-old'));
    ec2Mock.on(DescribeSpotInstanceRequestsCommand).resolves({
      SpotInstanceRequests: [{ SpotInstanceRequestId: 'sir-old', State: 'cancelled' }],
    });
    ec2Mock.on(CancelSpotInstanceRequestsCommand).resolves({});
    await onEvent(event('Delete', { PhysicalResourceId: 'i-0aaaaaaaaaaaaaaa1' }), deps());
    expect(ec2Mock).toHaveReceivedCommandWith(CancelSpotInstanceRequestsCommand, {
      SpotInstanceRequestIds: ['sir-old'],
    });
    expect(ec2Mock).not.toHaveReceivedCommand(TerminateInstancesCommand);
    expect(ec2Mock).not.toHaveReceivedCommandWith(DescribeSpotInstanceRequestsCommand, {
      Filters: expect.anything(),
    });
  });

  it('terminates an instance that the request launched after a termination by hand', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves(instance('i-0aaaaaaaaaaaaaaa1', 'terminated', 'sir-abc'));
    ec2Mock.on(DescribeSpotInstanceRequestsCommand).resolves({
      SpotInstanceRequests: [
        { SpotInstanceRequestId: 'sir-abc', State: 'active', InstanceId: 'i-0ddddddddddddddd4' },
      ],
    });
    ec2Mock.on(CancelSpotInstanceRequestsCommand).resolves({});
    ec2Mock.on(TerminateInstancesCommand).resolves({});
    await onEvent(event('Delete', { PhysicalResourceId: 'i-0aaaaaaaaaaaaaaa1' }), deps());
    expect(ec2Mock).toHaveReceivedCommandWith(TerminateInstancesCommand, {
      InstanceIds: ['i-0ddddddddddddddd4'],
    });
    const order = sentCommands();
    expect(order.indexOf('CancelSpotInstanceRequestsCommand')).toBeLessThan(
      order.indexOf('TerminateInstancesCommand'),
    );
  });
});

describe('updating a host', () => {
  it('keeps the instance when only its tags changed (a routine deploy), and retags it in place', async () => {
    ec2Mock.on(CreateTagsCommand).resolves({});
    const result = await onEvent(
      event('Update', {
        PhysicalResourceId: 'i-0aaaaaaaaaaaaaaa1',
        OldResourceProperties: { ...GPU, Tags: '{}' },
      }),
      deps(),
    );
    expect(result.PhysicalResourceId).toBe('i-0aaaaaaaaaaaaaaa1');
    expect(sentCommands()).toEqual(['CreateTagsCommand']);
    expect(ec2Mock).toHaveReceivedCommandWith(CreateTagsCommand, {
      Resources: ['i-0aaaaaaaaaaaaaaa1'],
      Tags: expect.arrayContaining([{ Key: 'Project', Value: 'gpu-fleet' }]),
    });
  });

  it('does nothing at all on an update that changed no property of the host', async () => {
    await onEvent(
      event('Update', { PhysicalResourceId: 'i-0aaaaaaaaaaaaaaa1', OldResourceProperties: GPU }),
      deps(),
    );
    expect(ec2Mock.calls()).toHaveLength(0);
  });

  it.each([
    [
      'a new launch template version (AMI pin, user data, instance type, spotValidUntil)',
      { LaunchTemplateVersion: '2' },
    ],
    ['a bumped hostRevision', { Revision: '0' }],
  ])('rotates on %s: cancel, terminate, wait until gone, then launch on the same IP', async (_, old) => {
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce(instance('i-0aaaaaaaaaaaaaaa1', 'running', 'sir-abc'))
      .resolvesOnce(instance('i-0aaaaaaaaaaaaaaa1', 'shutting-down'))
      .resolves(instance('i-0aaaaaaaaaaaaaaa1', 'terminated'));
    ec2Mock.on(CancelSpotInstanceRequestsCommand).resolves({});
    ec2Mock.on(TerminateInstancesCommand).resolves({});
    ec2Mock
      .on(RunInstancesCommand)
      .rejectsOnce(ec2Error('InvalidIPAddress.InUse'))
      .resolves({ Instances: [{ InstanceId: 'i-0ccccccccccccccc3' }] });
    const result = await onEvent(
      event('Update', {
        PhysicalResourceId: 'i-0aaaaaaaaaaaaaaa1',
        OldResourceProperties: { ...GPU, ...old },
      }),
      deps(),
    );
    expect(result.PhysicalResourceId).toBe('i-0ccccccccccccccc3');
    const order = sentCommands().filter((name) => name !== 'DescribeSpotInstanceRequestsCommand');
    expect(order).toEqual([
      'DescribeInstancesCommand',
      'CancelSpotInstanceRequestsCommand',
      'TerminateInstancesCommand',
      'DescribeInstancesCommand',
      'DescribeInstancesCommand',
      'RunInstancesCommand',
      'RunInstancesCommand',
    ]);
  });

  it('gives up a rotation whose old instance never terminates, without launching a second one', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves(instance('i-0aaaaaaaaaaaaaaa1', 'shutting-down'));
    ec2Mock.on(TerminateInstancesCommand).resolves({});
    await expect(
      onEvent(
        event('Update', {
          PhysicalResourceId: 'i-0aaaaaaaaaaaaaaa1',
          OldResourceProperties: { ...GPU, LaunchTemplateVersion: '2' },
        }),
        deps(),
      ),
    ).rejects.toThrow(/not terminated within 10 minutes/);
    expect(ec2Mock).not.toHaveReceivedCommand(RunInstancesCommand);
  });
});
