import { isComplete, onEvent } from '../../lambda/host-lifecycle/handler';
import type { HostEvent, HostIsCompleteEvent, HostProperties } from '../../src/aws/host-lifecycle';
import { HOST_INSTANCE_RESOURCE_TYPE } from '../../src/names';
import { AwsServer } from './aws-server';
import type { Ec2HostModel } from './ec2-host-model';
import { localAwsEnv, removeScratch } from './support';

/**
 * The host lifecycle provider's real Lambda entry points, unmodified (their own EC2 client), in
 * this process against the local AWS, driven through the events CloudFormation sends in a
 * stack's life: create, an update that rotates, an update that fails and its rollback, delete,
 * and a first deploy that CloudFormation cancels. EC2 is eventually consistent here: a new
 * instance is NotFound for 20 s. Between two isComplete calls the clock moves 15 s (the
 * framework's query interval) and EC2 moves one step (pending runs, shutting-down ends).
 */
let server: AwsServer;
let model: Ec2HostModel;
const savedEnv = { ...process.env };

beforeAll(async () => {
  server = await AwsServer.start();
  process.env = { ...localAwsEnv(server) };
});
afterAll(async () => {
  process.env = savedEnv;
  removeScratch();
  await server.close();
});
beforeEach(() => {
  server.reset();
  model = server.useHostModel();
  model.templates.set('lt-0app', { spot: false, subnetId: 'subnet-0e2e' });
  model.templates.set('lt-0gpu', { spot: true, privateIp: '10.0.1.20', subnetId: 'subnet-0e2e' });
  model.notFoundForMs = 20_000;
  // Only Date is virtual: the SDK's sockets and timers run for real.
  jest.useFakeTimers({
    doNotFake: [
      'nextTick',
      'setImmediate',
      'clearImmediate',
      'setTimeout',
      'clearTimeout',
      'setInterval',
      'clearInterval',
      'queueMicrotask',
      'hrtime',
      'performance',
    ],
  });
  jest.setSystemTime(new Date('2026-12-01T00:00:00Z'));
  model.now = () => Date.now();
  jest.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
});

const STACK = 'arn:aws:cloudformation:ap-northeast-1:123456789012:stack/GpuFleet-Compute/0e2e';
const APP: HostProperties = {
  LaunchTemplateId: 'lt-0app',
  LaunchTemplateVersion: '1',
  Revision: '1',
  Fleet: 'GpuFleet',
  Role: 'app',
  Spot: 'false',
  Tags: '{"Project":"gpu-fleet"}',
  NetworkInterface: JSON.stringify({
    SubnetId: 'subnet-0e2e',
    PrivateIpAddress: '10.0.1.10',
    SecurityGroupIds: ['sg-0app'],
  }),
};
const GPU: HostProperties = {
  ...APP,
  LaunchTemplateId: 'lt-0gpu',
  Role: 'gpu',
  Spot: 'true',
  NetworkInterface: undefined,
};
const LOGICAL_ID = { app: 'AppHostInstanceF5939EEC', gpu: 'GpuWorkerHostInstance4ADBD1B3' };

const SERVICE_TOKEN = 'arn:aws:lambda:ap-northeast-1:123456789012:function:GpuFleet-Compute-provider';
let requestCount = 0;
/** A Provider framework event, typed as isComplete receives it (so it serves both handlers). */
function cfnEvent(
  type: HostEvent['RequestType'],
  props: HostProperties,
  extra: { readonly [K in keyof HostIsCompleteEvent]?: unknown } = {},
  stackId = STACK,
): HostIsCompleteEvent {
  requestCount += 1;
  return {
    ServiceToken: SERVICE_TOKEN,
    ResponseURL: 'https://cloudformation-custom-resource-response.example/e2e',
    RequestType: type,
    RequestId: `e2e-${requestCount}`,
    StackId: stackId,
    LogicalResourceId: LOGICAL_ID[props.Role as 'app' | 'gpu'],
    ResourceType: HOST_INSTANCE_RESOURCE_TYPE,
    ResourceProperties: { ServiceToken: SERVICE_TOKEN, ...props },
    ...extra,
  } as HostIsCompleteEvent;
}

/** What the framework does: onEvent, then isComplete every 15 s with onEvent's answer merged in. */
async function drive(
  request: HostIsCompleteEvent,
): Promise<{ physicalId: string; data: Record<string, string> }> {
  const answer = await onEvent(request);
  const merged = { ...request, ...answer } as HostIsCompleteEvent;
  for (let poll = 0; poll < 60; poll++) {
    const result = await isComplete(merged);
    if (result.IsComplete) return { physicalId: answer.PhysicalResourceId, data: { ...result.Data } };
    jest.advanceTimersByTime(15_000);
    model.settle();
  }
  throw new Error(`${request.RequestType} of ${request.LogicalResourceId} never completed`);
}

const update = (physicalId: string, props: HostProperties, old: HostProperties) =>
  drive(cfnEvent('Update', props, { PhysicalResourceId: physicalId, OldResourceProperties: old }));
const destroy = (physicalId: string, props: HostProperties, stackId = STACK) =>
  drive(cfnEvent('Delete', props, { PhysicalResourceId: physicalId }, stackId));

/** Every live resource carries the owner tag of one of the stack's slots, and each slot has at most one instance. */
function expectOnlyOwned(stackId = STACK): void {
  const owners = Object.values(LOGICAL_ID).map((id) => `${stackId}/${id}`);
  const live = model.leftovers();
  const ownerOf = (tags: Record<string, string> | undefined) => tags?.['gpu-fleet:owner'];
  for (const id of live.instances) {
    const instance = model.instance(id);
    const viaRequest = model.requests.get(instance.spotInstanceRequestId ?? '')?.tags;
    expect(owners).toContain(ownerOf(instance.tags) ?? ownerOf(viaRequest));
  }
  for (const id of live.requests) expect(owners).toContain(ownerOf(model.requests.get(id)?.tags));
  for (const id of live.interfaces) expect(owners).toContain(ownerOf(model.interfaces.get(id)?.tags));
  for (const owner of owners) {
    expect(
      live.instances.filter((id) => model.instance(id).tags['gpu-fleet:owner'] === owner).length,
    ).toBeLessThanOrEqual(1);
  }
}

const live = () => model.leftovers().instances;

it('create → rotation → failed update → rollback → delete leaves nothing the stack does not own', async () => {
  // Create: both slots, in parallel as CloudFormation creates them.
  const [app, gpu] = await Promise.all([drive(cfnEvent('Create', APP)), drive(cfnEvent('Create', GPU))]);
  expect(live().sort()).toEqual([app.data.InstanceId, gpu.data.InstanceId].sort());
  expect(app.data.NetworkInterfaceId).toMatch(/^eni-/);
  expectOnlyOwned();

  // A rotation of both (a new AMI: new launch template versions): same physical ids, new instances.
  const app2 = { ...APP, LaunchTemplateVersion: '2' };
  const gpu2 = { ...GPU, LaunchTemplateVersion: '2' };
  const rotatedApp = await update(app.physicalId, app2, APP);
  const rotatedGpu = await update(gpu.physicalId, gpu2, GPU);
  expect([rotatedApp.physicalId, rotatedGpu.physicalId]).toEqual([app.physicalId, gpu.physicalId]);
  expect(live().sort()).toEqual([rotatedApp.data.InstanceId, rotatedGpu.data.InstanceId].sort());
  expect(rotatedApp.data.NetworkInterfaceId).toBe(app.data.NetworkInterfaceId);
  expectOnlyOwned();

  // A failed update: the app host rotates, the GPU's new instance ends while starting.
  const app3 = { ...APP, LaunchTemplateVersion: '3' };
  const gpu3 = { ...GPU, LaunchTemplateVersion: '3' };
  await update(app.physicalId, app3, app2);
  model.failNextLaunch = 'Server.InsufficientInstanceCapacity';
  await expect(update(gpu.physicalId, gpu3, gpu2)).rejects.toThrow(
    /ended while starting: Server.InsufficientInstanceCapacity/,
  );
  model.settle();
  expectOnlyOwned();

  // The rollback: ordinary Updates with the old properties, on the same physical ids.
  const rolledApp = await update(app.physicalId, app2, app3);
  const rolledGpu = await update(gpu.physicalId, gpu2, gpu3);
  expect(model.instance(rolledApp.data.InstanceId ?? '').templateVersion).toBe('2');
  expect(model.instance(rolledGpu.data.InstanceId ?? '').templateVersion).toBe('2');
  expect(rolledApp.data.NetworkInterfaceId).toBe(app.data.NetworkInterfaceId);
  expect(live().sort()).toEqual([rolledApp.data.InstanceId, rolledGpu.data.InstanceId].sort());
  expectOnlyOwned();

  // Delete (cdk destroy).
  await Promise.all([destroy(app.physicalId, app2), destroy(gpu.physicalId, gpu2)]);
  model.settle();
  expect(model.leftovers()).toEqual({ instances: [], requests: [], interfaces: [] });
});

it('a cancelled first deploy: the Delete with a made-up id finds both launches, even before EC2 shows them', async () => {
  const stack = 'arn:aws:cloudformation:ap-northeast-1:123456789012:stack/GpuFleet-Compute/0cancel';
  // Both creates start; CloudFormation cancels them while the launches are still invisible.
  await onEvent(cfnEvent('Create', APP, {}, stack));
  await onEvent(cfnEvent('Create', GPU, {}, stack));
  expect(model.instances.size).toBe(2);
  await Promise.all([
    destroy('GpuFleet-Compute-AppHostInstanceF5939EEC-1A2B3C4D5E6F', APP, stack),
    destroy('GpuFleet-Compute-GpuWorkerHostInstance4ADBD-9Z8Y7X', GPU, stack),
  ]);
  model.settle();
  expect(model.leftovers()).toEqual({ instances: [], requests: [], interfaces: [] });
  expect(server.callsOf('ec2:TerminateInstances').length).toBeGreaterThan(0);
});
