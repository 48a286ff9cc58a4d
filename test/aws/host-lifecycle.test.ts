import {
  CancelSpotInstanceRequestsCommand,
  CreateNetworkInterfaceCommand,
  CreateTagsCommand,
  DeleteNetworkInterfaceCommand,
  DeleteTagsCommand,
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSpotInstanceRequestsCommand,
  EC2Client,
  RunInstancesCommand,
  type TagSpecification,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DELETE_SETTLE_MS,
  type HostEvent,
  type HostIsCompleteEvent,
  type HostLifecycleDeps,
  type HostProperties,
  isComplete,
  onEvent,
} from '../../src/aws/host-lifecycle';
import { Ec2HostModel, Ec2ModelError } from '../e2e/ec2-host-model';

/**
 * The host slot against an in-memory EC2 (test/e2e/ec2-host-model.ts) at the SDK client
 * boundary: each CloudFormation event CloudFormation can send, and what people and EC2 do to
 * the instances behind its back.
 */
const ec2Mock = mockClient(EC2Client);
let model: Ec2HostModel;
let clock: number;
let sleeps: number[];
const deps = (): HostLifecycleDeps => ({
  ec2: new EC2Client({ region: 'ap-northeast-1' }),
  sleep: async (ms) => {
    sleeps.push(ms);
    // Time passes for EC2 too.
    model.settle();
  },
  now: () => new Date(clock),
});

beforeEach(() => {
  ec2Mock.reset();
  sleeps = [];
  clock = Date.parse('2026-12-01T00:00:00Z');
  model = new Ec2HostModel();
  model.now = () => clock;
  model.templates.set('lt-gpu', { spot: true, privateIp: '10.0.1.20', subnetId: 'subnet-1' });
  model.templates.set('lt-app', { spot: false, subnetId: 'subnet-1' });
  ec2Mock.on(RunInstancesCommand).callsFake((input) => model.runInstances(input));
  ec2Mock.on(DescribeInstancesCommand).callsFake((input) => model.describeInstances(input));
  ec2Mock.on(TerminateInstancesCommand).callsFake((input) => {
    model.terminateInstances(input.InstanceIds ?? []);
    return {};
  });
  ec2Mock.on(CancelSpotInstanceRequestsCommand).callsFake((input) => {
    model.cancelSpotInstanceRequests(input.SpotInstanceRequestIds ?? []);
    return {};
  });
  ec2Mock
    .on(DescribeSpotInstanceRequestsCommand)
    .callsFake((input) => model.describeSpotInstanceRequests(input));
  ec2Mock.on(CreateTagsCommand).callsFake((input) => {
    model.createTags(input.Resources ?? [], input.Tags ?? []);
    return {};
  });
  ec2Mock.on(DeleteTagsCommand).callsFake((input) => {
    model.deleteTags(input.Resources ?? [], input.Tags ?? []);
    return {};
  });
  ec2Mock.on(CreateNetworkInterfaceCommand).callsFake((input) => model.createNetworkInterface(input));
  ec2Mock.on(DescribeNetworkInterfacesCommand).callsFake((input) => model.describeNetworkInterfaces(input));
  ec2Mock.on(DeleteNetworkInterfaceCommand).callsFake((input) => {
    model.deleteNetworkInterface(input.NetworkInterfaceId ?? '');
    return {};
  });
});

const SERVICE_TOKEN = 'arn:aws:lambda:ap-northeast-1:111111111111:function:GpuFleet-Compute-provider';
const STACK_ID = 'arn:aws:cloudformation:ap-northeast-1:111111111111:stack/GpuFleet-Compute/5f1e';
const GPU: HostProperties = {
  LaunchTemplateId: 'lt-gpu',
  LaunchTemplateVersion: '3',
  Revision: '1',
  Fleet: 'GpuFleet',
  Role: 'gpu',
  Spot: 'true',
  Tags: JSON.stringify({ Project: 'gpu-fleet' }),
};
const APP: HostProperties = {
  ...GPU,
  LaunchTemplateId: 'lt-app',
  LaunchTemplateVersion: '5',
  Role: 'app',
  Spot: 'false',
  NetworkInterface: JSON.stringify({
    SubnetId: 'subnet-1',
    PrivateIpAddress: '10.0.1.10',
    SecurityGroupIds: ['sg-app'],
  }),
};

let requests = 0;
/**
 * A Provider framework event, typed as isComplete receives it (onEvent's answer merged in), so one
 * builder serves both handlers.
 */
function event(
  type: HostEvent['RequestType'],
  props: HostProperties,
  extra: { readonly [K in keyof HostIsCompleteEvent]?: unknown } = {},
): HostIsCompleteEvent {
  requests += 1;
  return {
    ServiceToken: SERVICE_TOKEN,
    ResponseURL: 'https://cloudformation-custom-resource-response.example/req',
    ResourceType: 'Custom::FleetHostInstance',
    RequestType: type,
    RequestId: `req-${requests}`,
    StackId: STACK_ID,
    LogicalResourceId: props.Role === 'app' ? 'AppHostInstance' : 'GpuWorkerHostInstance',
    ResourceProperties: { ServiceToken: SERVICE_TOKEN, ...props },
    ...extra,
  } as HostIsCompleteEvent;
}

/** Runs isComplete as the framework's waiter does (every 15 s, 20 polls), letting EC2 move on in between. */
async function untilComplete(request: HostIsCompleteEvent): Promise<Record<string, string> | undefined> {
  for (let poll = 0; poll < 20; poll++) {
    const result = await isComplete(request, deps());
    if (result.IsComplete) return result.Data;
    clock += 15_000;
    model.settle();
  }
  throw new Error('not complete after 20 polls');
}

/** What isComplete receives after onEvent: the request with onEvent's answer merged in. */
async function started(request: HostIsCompleteEvent): Promise<HostIsCompleteEvent> {
  return { ...request, ...(await onEvent(request, deps())) };
}

/** An event as CloudFormation drives it: onEvent, then isComplete until done. */
async function drive(
  request: HostIsCompleteEvent,
): Promise<{ physicalId: string; data: Record<string, string> }> {
  const answer = await onEvent(request, deps());
  const data = await untilComplete({ ...request, ...answer });
  return { physicalId: answer.PhysicalResourceId, data: data ?? {} };
}
const updateEvent = (physicalId: string, props: HostProperties, old: HostProperties) =>
  event('Update', props, { PhysicalResourceId: physicalId, OldResourceProperties: old });
const deleteEvent = (physicalId: string, props: HostProperties) =>
  event('Delete', props, { PhysicalResourceId: physicalId });
const create = (props: HostProperties) => drive(event('Create', props));
const update = (physicalId: string, props: HostProperties, old: HostProperties) =>
  drive(updateEvent(physicalId, props, old));
const destroy = (physicalId: string, props: HostProperties) => drive(deleteEvent(physicalId, props));

/** An instance launched outside the slot (an earlier version of it), tagged only by `specs`. */
function launchUnowned(templateId: string, version: string, specs?: TagSpecification[]): string {
  const fleetTag = [
    { ResourceType: 'instance' as const, Tags: [{ Key: 'gpu-fleet:fleet', Value: 'GpuFleet' }] },
  ];
  const launched = model.runInstances({
    LaunchTemplate: { LaunchTemplateId: templateId, Version: version },
    MinCount: 1,
    MaxCount: 1,
    TagSpecifications: specs ?? fleetTag,
  });
  model.settle();
  return launched.Instances?.[0]?.InstanceId ?? '';
}

/** The EC2 commands in the order they were sent, by name. */
function sentCommands(): string[] {
  return ec2Mock.calls().map((call) => (call.args[0] as object).constructor.name);
}

const liveInstances = () =>
  [...model.instances.values()].filter((i) => i.state !== 'terminated').map((i) => i.instanceId);

describe('creating a host', () => {
  it('launches one instance from the launch template version, everything tagged with its owner', async () => {
    const { physicalId, data } = await create(GPU);
    expect(physicalId).toBe('GpuFleet-Compute-GpuWorkerHostInstance');
    expect(liveInstances()).toEqual([data.InstanceId]);
    const input = ec2Mock.commandCalls(RunInstancesCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      LaunchTemplate: { LaunchTemplateId: 'lt-gpu', Version: '3' },
      MinCount: 1,
      MaxCount: 1,
    });
    expect(input?.ClientToken).toMatch(/^[0-9a-f]{64}$/);
    expect(input?.TagSpecifications?.map((s) => s.ResourceType)).toEqual([
      'instance',
      'volume',
      'network-interface',
      'spot-instances-request',
    ]);
    for (const spec of input?.TagSpecifications ?? []) {
      expect(spec.Tags).toEqual(
        expect.arrayContaining([
          { Key: 'gpu-fleet:owner', Value: `${STACK_ID}/GpuWorkerHostInstance` },
          { Key: 'gpu-fleet:fleet', Value: 'GpuFleet' },
          { Key: 'gpu-fleet:role', Value: 'gpu' },
          { Key: 'Project', Value: 'gpu-fleet' },
        ]),
      );
    }
  });

  it('reads NotFound right after RunInstances as "not yet", not as an instance that ended', async () => {
    model.notFoundForMs = 20_000;
    const created = await started(event('Create', GPU));
    await expect(isComplete(created, deps())).resolves.toEqual({ IsComplete: false });
    const data = await untilComplete(created);
    expect(data?.InstanceId).toMatch(/^i-/);
    // The repeated launch call is answered from its client token: one instance in all.
    expect(model.instances.size).toBe(1);
  });

  it('retries the first launch while the new instance profile is not yet visible to EC2', async () => {
    const iamNotYet = new Ec2ModelError(
      'InvalidParameterValue',
      'Value (GpuFleet-Compute-GpuProfile) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name',
    );
    ec2Mock
      .on(RunInstancesCommand)
      .rejectsOnce(iamNotYet)
      .callsFake((input) => model.runInstances(input));
    await create(GPU);
    expect(ec2Mock.commandCalls(RunInstancesCommand).length).toBeGreaterThanOrEqual(2);
    expect(sleeps.length).toBeGreaterThan(0);
  });

  it('cancels the spot request of a launch that ends while starting, then fails', async () => {
    model.failNextLaunch = 'Server.InsufficientInstanceCapacity';
    const created = await started(event('Create', GPU));
    model.settle();
    await expect(isComplete(created, deps())).rejects.toThrow(
      /ended while starting: Server.InsufficientInstanceCapacity/,
    );
    const request = [...model.requests.values()][0];
    expect(ec2Mock).toHaveReceivedCommandWith(CancelSpotInstanceRequestsCommand, {
      SpotInstanceRequestIds: [request?.id ?? ''],
    });
    model.settle();
    expect(model.leftovers()).toMatchObject({ instances: [], requests: [] });
  });

  it('a failed first app launch also deletes the interface it made: no later deploy finds 10.0.1.10 taken', async () => {
    model.failNextLaunch = 'Client.InvalidKMSKey.InvalidState';
    const created = await started(event('Create', APP));
    model.settle();
    await expect(isComplete(created, deps())).rejects.toThrow(/ended while starting/);
    // CloudFormation never sends a Delete after a failed create: nothing may be left behind.
    expect(model.leftovers()).toEqual({ instances: [], requests: [], interfaces: [] });
  });

  it('gives a launch that never leaves pending up before the framework times out, and cleans it up', async () => {
    const created = await started(event('Create', GPU));
    for (let poll = 0; poll < 100; poll++) {
      clock += 15_000;
      const result = await isComplete(created, deps()).catch((e: Error) => e);
      if (result instanceof Error) {
        expect(result.message).toMatch(/still pending after 20 minutes/);
        expect(ec2Mock).toHaveReceivedCommand(TerminateInstancesCommand);
        expect(ec2Mock).toHaveReceivedCommand(CancelSpotInstanceRequestsCommand);
        return;
      }
    }
    throw new Error('never gave up');
  });
});

describe('a cancelled first deploy: the Delete CloudFormation sends with a made-up physical id', () => {
  it('terminates the owner-tagged app host and deletes its interface, freeing 10.0.1.10', async () => {
    await create(APP);
    expect(liveInstances()).toHaveLength(1);
    await destroy('GpuFleet-Compute-AppHostInstance-1XYZ2ABC3DEF', APP);
    expect(model.leftovers()).toEqual({ instances: [], requests: [], interfaces: [] });
  });

  it('finds a GPU launch that EC2 does not show yet: the delete waits before it says done', async () => {
    model.notFoundForMs = 20_000;
    await onEvent(event('Create', GPU), deps());
    await destroy('GpuFleet-Compute-GpuWorkerHostInstance-1XYZ2ABC3DEF', GPU);
    model.settle();
    expect(model.leftovers()).toMatchObject({ instances: [], requests: [] });
  });

  it('is not complete at once, even when nothing shows yet', async () => {
    const deleted = await started(deleteEvent('GpuFleet-Compute-Gpu-1XYZ', GPU));
    await expect(isComplete(deleted, deps())).resolves.toEqual({ IsComplete: false });
    clock += DELETE_SETTLE_MS;
    await expect(isComplete(deleted, deps())).resolves.toEqual({ IsComplete: true });
  });
});

describe('rotating a host', () => {
  it('keeps the physical id and reports the new instance in Data', async () => {
    const first = await create(GPU);
    const rotated = await update(first.physicalId, { ...GPU, LaunchTemplateVersion: '4' }, GPU);
    expect(rotated.physicalId).toBe(first.physicalId);
    expect(rotated.data.InstanceId).not.toBe(first.data.InstanceId);
    expect(liveInstances()).toEqual([rotated.data.InstanceId]);
    expect(model.instance(rotated.data.InstanceId ?? '').templateVersion).toBe('4');
  });

  it('leaves the long wait to isComplete: onEvent cancels and terminates, and returns', async () => {
    const first = await create(GPU);
    ec2Mock.resetHistory();
    sleeps = [];
    await onEvent(updateEvent(first.physicalId, { ...GPU, Revision: '2' }, GPU), deps());
    expect(sentCommands()).toContain('TerminateInstancesCommand');
    expect(sentCommands()).not.toContain('RunInstancesCommand');
    expect(sleeps).toEqual([]);
    const order = sentCommands();
    expect(order.indexOf('CancelSpotInstanceRequestsCommand')).toBeLessThan(
      order.indexOf('TerminateInstancesCommand'),
    );
  });

  it('carries the operator hold and pause and the scaler memory to the new instance', async () => {
    const first = await create(GPU);
    model.createTags(
      [first.data.InstanceId ?? ''],
      [
        { Key: 'gpu-fleet:hold-until', Value: '2026-12-01T02:00:00Z' },
        { Key: 'gpu-fleet:paused-until', Value: '2026-12-02T00:00:00Z' },
        { Key: 'gpu-fleet:last-reason', Value: 'paused by the operator' },
        { Key: 'gpu-fleet:ready-at', Value: '2026-12-01T00:01:00Z' },
      ],
    );
    const rotated = await update(first.physicalId, { ...GPU, Revision: '2' }, GPU);
    const tags = model.instance(rotated.data.InstanceId ?? '').tags;
    expect(tags).toMatchObject({
      'gpu-fleet:hold-until': '2026-12-01T02:00:00Z',
      'gpu-fleet:paused-until': '2026-12-02T00:00:00Z',
      'gpu-fleet:last-reason': 'paused by the operator',
    });
    // Readiness belongs to an instance: the new one has not booted yet.
    expect(tags['gpu-fleet:ready-at']).toBeUndefined();
  });

  it('rolls back as an ordinary Update with the old properties: rotates back, re-attaches nothing', async () => {
    const first = await create(APP);
    const v6 = { ...APP, LaunchTemplateVersion: '6' };
    const rotated = await update(first.physicalId, v6, APP);
    ec2Mock.resetHistory();
    const rolledBack = await update(rotated.physicalId, APP, v6);
    expect(rolledBack.physicalId).toBe(first.physicalId);
    expect(model.instance(rolledBack.data.InstanceId ?? '').templateVersion).toBe('5');
    expect(liveInstances()).toEqual([rolledBack.data.InstanceId]);
    // The Elastic IP is on the interface, which stays: the same id, never created again.
    expect(rolledBack.data.NetworkInterfaceId).toBe(first.data.NetworkInterfaceId);
    expect(ec2Mock).not.toHaveReceivedCommand(CreateNetworkInterfaceCommand);
    expect(ec2Mock).toHaveReceivedCommandWith(RunInstancesCommand, {
      NetworkInterfaces: [{ DeviceIndex: 0, NetworkInterfaceId: first.data.NetworkInterfaceId }],
    });
  });

  it('after a failed rotation, the rollback launches the old definition on the same slot', async () => {
    const first = await create(GPU);
    const v4 = { ...GPU, LaunchTemplateVersion: '4' };
    model.failNextLaunch = 'Server.SpotInstanceTermination';
    const updated = await started(updateEvent(first.physicalId, v4, GPU));
    await expect(untilComplete(updated)).rejects.toThrow(/ended while starting/);
    model.settle();
    expect(model.leftovers()).toMatchObject({ instances: [], requests: [] });
    const rolledBack = await update(first.physicalId, GPU, v4);
    expect(model.instance(rolledBack.data.InstanceId ?? '').templateVersion).toBe('3');
    expect(liveInstances()).toEqual([rolledBack.data.InstanceId]);
  });
});

describe('a GPU terminated by hand', () => {
  it('is replaced by its persistent request; the untagged relaunch is found through the request', async () => {
    const first = await create(GPU);
    model.terminateInstances([first.data.InstanceId ?? '']);
    model.settle();
    const relaunched = liveInstances()[0] ?? '';
    expect(relaunched).not.toBe(first.data.InstanceId);
    expect(model.instance(relaunched).tags).toEqual({});
    // An hour later EC2 no longer describes the instance that was terminated.
    model.forgetTerminated();
    await destroy(first.physicalId, GPU);
    model.settle();
    expect(ec2Mock).toHaveReceivedCommandWith(TerminateInstancesCommand, { InstanceIds: [relaunched] });
    expect(model.leftovers()).toMatchObject({ instances: [], requests: [] });
  });
});

describe('a tags-only update', () => {
  it('keeps the instance and retags its volume, interface and spot request, removing dropped keys', async () => {
    const tagged = { ...GPU, Tags: JSON.stringify({ Project: 'gpu-fleet', Team: 'voice' }) };
    const first = await create(tagged);
    const retagged = await update(first.physicalId, { ...GPU, Tags: '{"Project":"talk"}' }, tagged);
    expect(retagged.data.InstanceId).toBe(first.data.InstanceId);
    const instance = model.instance(first.data.InstanceId ?? '');
    const request = model.requests.get(instance.spotInstanceRequestId ?? '');
    for (const tags of [
      instance.tags,
      model.volumes.get(instance.volumeId),
      model.interfaces.get(instance.interfaceId)?.tags,
      request?.tags,
    ]) {
      expect(tags).toMatchObject({ Project: 'talk' });
      expect(tags).not.toHaveProperty('Team');
    }
    expect(ec2Mock.commandCalls(RunInstancesCommand)).toHaveLength(1);
  });

  it('does not touch the operator tags it does not own', async () => {
    const first = await create(GPU);
    const instanceId = first.data.InstanceId ?? '';
    model.createTags([instanceId], [{ Key: 'gpu-fleet:hold-until', Value: '2026-12-01T02:00:00Z' }]);
    await update(first.physicalId, { ...GPU, Tags: '{}' }, GPU);
    expect(model.instance(instanceId).tags['gpu-fleet:hold-until']).toBe('2026-12-01T02:00:00Z');
  });
});

describe('a slot created when the physical id was the instance id', () => {
  it('keeps that id, adopts the instance on a tags-only update, and retires it on delete', async () => {
    const legacy = launchUnowned('lt-gpu', '3');
    const kept = await update(legacy, { ...GPU, Tags: '{"Project":"talk"}' }, GPU);
    expect(kept).toEqual({ physicalId: legacy, data: { InstanceId: legacy } });
    expect(model.instance(legacy).tags['gpu-fleet:owner']).toBe(`${STACK_ID}/GpuWorkerHostInstance`);
    await destroy(legacy, GPU);
    model.settle();
    expect(model.leftovers()).toMatchObject({ instances: [], requests: [] });
  });
});

describe('the first deploy of this design on a running app host', () => {
  it('moves 10.0.1.10 from the old instance’s interface to the slot’s own, keeping the physical id', async () => {
    model.templates.set('lt-app', { spot: false, privateIp: '10.0.1.10', subnetId: 'subnet-1' });
    const legacy = launchUnowned('lt-app', '4');
    const { NetworkInterface: _, ...before } = { ...APP, LaunchTemplateVersion: '4' };
    const migrated = await update(legacy, APP, before);
    expect(migrated.physicalId).toBe(legacy);
    expect(model.instance(legacy).state).toBe('terminated');
    const own = model.interfaces.get(migrated.data.NetworkInterfaceId ?? '');
    expect(own).toMatchObject({ privateIp: '10.0.1.10', attachedTo: migrated.data.InstanceId });
    expect(liveInstances()).toEqual([migrated.data.InstanceId]);
  });
});

describe('a slot of the first version whose GPU was terminated by hand', () => {
  it('finds the untagged relaunch through the role’s request and replaces it on a revision bump', async () => {
    const fleetTags = [
      { Key: 'gpu-fleet:fleet', Value: 'GpuFleet' },
      { Key: 'gpu-fleet:role', Value: 'gpu' },
    ];
    const legacy = launchUnowned('lt-gpu', '3', [
      { ResourceType: 'instance', Tags: fleetTags },
      { ResourceType: 'spot-instances-request', Tags: fleetTags },
    ]);
    model.terminateInstances([legacy]);
    model.settle();
    model.forgetTerminated();
    const relaunch = liveInstances()[0] ?? '';
    const rotated = await update(legacy, { ...GPU, Revision: '2' }, GPU);
    expect(rotated.physicalId).toBe(legacy);
    expect(ec2Mock).toHaveReceivedCommandWith(TerminateInstancesCommand, { InstanceIds: [relaunch] });
    expect(liveInstances()).toEqual([rotated.data.InstanceId]);
  });
});

describe('transient errors', () => {
  it('retries throttling and 5xx with back-off instead of failing the teardown', async () => {
    const first = await create(GPU);
    const throttled = Object.assign(new Ec2ModelError('RequestLimitExceeded', 'slow down'), {
      $metadata: { httpStatusCode: 503 },
    });
    ec2Mock
      .on(CancelSpotInstanceRequestsCommand)
      .rejectsOnce(throttled)
      .callsFake((input) => {
        model.cancelSpotInstanceRequests(input.SpotInstanceRequestIds ?? []);
        return {};
      });
    sleeps = [];
    await destroy(first.physicalId, GPU);
    expect(sleeps).toEqual([2000]);
    model.settle();
    expect(model.leftovers()).toMatchObject({ instances: [], requests: [] });
  });

  it('fails the teardown loudly on a permanent error (access denied)', async () => {
    const first = await create(GPU);
    ec2Mock.on(CancelSpotInstanceRequestsCommand).rejects(new Ec2ModelError('UnauthorizedOperation', 'no'));
    await expect(onEvent(deleteEvent(first.physicalId, GPU), deps())).rejects.toThrow(/no/);
    expect(ec2Mock).not.toHaveReceivedCommand(TerminateInstancesCommand);
  });
});
