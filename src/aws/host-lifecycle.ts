import { createHash } from 'node:crypto';
import {
  CancelSpotInstanceRequestsCommand,
  CreateNetworkInterfaceCommand,
  CreateTagsCommand,
  DeleteNetworkInterfaceCommand,
  DeleteTagsCommand,
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSpotInstanceRequestsCommand,
  type EC2Client,
  type Instance,
  type NetworkInterface,
  type ResourceType,
  RunInstancesCommand,
  type SpotInstanceRequest,
  type Tag,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { SCALER_WRITABLE_TAG_KEYS, TAGS } from '../core/tags.js';

/**
 * The lifecycle of a fleet host slot, owned by a CloudFormation custom resource instead of an
 * AWS::EC2::Instance.
 *
 * CloudFormation replaces an instance by creating the new one first, which cannot work with a
 * fixed private IP, and it terminates a persistent spot instance without cancelling its request,
 * which then launches a new instance outside every stack. This resource does it in the only safe
 * order: cancel the spot requests, terminate, wait until terminated (the IP is free), then launch.
 *
 * The slot keeps one physical id for its whole life and reports its current instance in `Data`:
 * CloudFormation then never deletes a slot it still needs (a rollback is an ordinary Update with
 * the old properties, which rotates back). What belongs to the slot is found by the owner tag
 * (stack id and logical id) that every launch puts on the instance, its volume, its interface and
 * its spot request, and through those requests on whatever they relaunched: never by memory.
 */

/** The custom resource's properties, as CloudFormation passes them (all strings). */
export interface HostProperties {
  readonly LaunchTemplateId: string;
  readonly LaunchTemplateVersion: string;
  /** Bumped by the user (gpuFleet.hostRevision) to roll a host onto a fresh launch, e.g. a new AMI. */
  readonly Revision: string;
  /** Value of the fleet tag (appName) and the host's role, put on everything the slot launches. */
  readonly Fleet: string;
  readonly Role: string;
  /** 'true' for the persistent spot GPU worker. */
  readonly Spot: string;
  /** Further tags for everything launched (the stack's tags), as a JSON object. */
  readonly Tags?: string;
  /**
   * The network interface the slot owns and attaches to each launch as device 0, as JSON
   * `{ SubnetId, PrivateIpAddress, SecurityGroupIds }`; absent when the launch template brings its own.
   */
  readonly NetworkInterface?: string;
}

export interface HostEvent {
  readonly RequestType: 'Create' | 'Update' | 'Delete';
  readonly RequestId: string;
  readonly StackId: string;
  readonly LogicalResourceId: string;
  readonly PhysicalResourceId?: string;
  readonly ResourceProperties: HostProperties;
  readonly OldResourceProperties?: HostProperties;
  /** What onEvent returned, as the Provider framework hands it to isComplete. */
  readonly Data?: Readonly<Record<string, string>>;
}

export interface OnEventResult {
  readonly PhysicalResourceId: string;
  readonly Data?: Record<string, string>;
}

/** The Provider framework refuses `Data` with `IsComplete: false`. */
export type IsCompleteResult =
  { readonly IsComplete: false } | { readonly IsComplete: true; readonly Data?: Record<string, string> };

export interface HostLifecycleDeps {
  readonly ec2: EC2Client;
  /** Waits between retries; injected so tests run without real time. */
  readonly sleep: (ms: number) => Promise<void>;
  /** The clock; injected so tests can age a launch. */
  readonly now?: () => Date;
  readonly log?: (message: string) => void;
}

/** Throttling and 5xx are retried this many times with back-off (the SDK's own retries come first). */
const TRANSIENT_ATTEMPTS = 6;
/**
 * A launch still not running after this long is given up (cleaned up, then FAILED) before the
 * Provider framework's own 30-minute timeout, which would report FAILED without cleaning up.
 */
export const LAUNCH_DEADLINE_MS = 20 * 60_000;
/**
 * A Delete is not complete before this long after it began: an instance launched a moment ago (by
 * a create CloudFormation has just cancelled) may not show in DescribeInstances yet.
 */
export const DELETE_SETTLE_MS = 60_000;
/** Right after the stack creates a role, EC2 may not see its instance profile yet. */
const IAM_NOT_YET = /Invalid IAM Instance Profile|iam:PassRole|not authorized to perform: iam:PassRole/i;
/** Errors of a launch that mean "the old instance still holds what the new one needs". */
const HELD_BY_OLD_INSTANCE = new Set(['InvalidIPAddress.InUse', 'InvalidNetworkInterface.InUse']);
/** Tags the operator and the scaler keep on a host: carried to the instance that replaces it. */
const CARRIED_TAG_KEYS: readonly string[] = SCALER_WRITABLE_TAG_KEYS;
const LIVE_REQUEST_STATES = new Set(['open', 'active', 'disabled']);

/** What a definition change means: the properties that need a new instance, not a tag edit. */
export function needsNewInstance(oldProps: HostProperties | undefined, newProps: HostProperties): boolean {
  if (!oldProps) return true;
  return (
    oldProps.LaunchTemplateId !== newProps.LaunchTemplateId ||
    oldProps.LaunchTemplateVersion !== newProps.LaunchTemplateVersion ||
    oldProps.Revision !== newProps.Revision ||
    oldProps.Spot !== newProps.Spot ||
    (oldProps.NetworkInterface ?? '') !== (newProps.NetworkInterface ?? '')
  );
}

/** The owner tag's value: which stack's which resource launched it. */
export function ownerOf(event: Pick<HostEvent, 'StackId' | 'LogicalResourceId'>): string {
  return `${event.StackId}/${event.LogicalResourceId}`;
}

export async function onEvent(event: HostEvent, deps: HostLifecycleDeps): Promise<OnEventResult> {
  const props = event.ResourceProperties;
  switch (event.RequestType) {
    case 'Create': {
      const physicalId = `${stackName(event.StackId)}-${event.LogicalResourceId}`;
      const progress = await converge(event, deps);
      deps.log?.(`${props.Role} host slot ${physicalId} created: ${progress.note}`);
      return { PhysicalResourceId: physicalId };
    }
    case 'Update': {
      // Stable: a new id would make CloudFormation delete the old one, and a rollback restore it.
      const physicalId = event.PhysicalResourceId ?? '';
      const slot = await findSlot(event, deps);
      const current = liveInstances(slot);
      if (!needsNewInstance(event.OldResourceProperties, props) && current.length > 0) {
        await retag(slot, event, deps);
        deps.log?.(`${props.Role} host ${current.map((i) => i.id).join(', ')}: no definition change, kept`);
        return { PhysicalResourceId: physicalId };
      }
      deps.log?.(`${props.Role} host slot ${physicalId}: definition changed, rotating`);
      const progress = await converge(event, deps);
      deps.log?.(`${props.Role} host slot ${physicalId}: ${progress.note}`);
      return { PhysicalResourceId: physicalId };
    }
    case 'Delete': {
      // The physical id may be one CloudFormation made up for a cancelled create: the owner tag
      // finds what that create launched all the same.
      const slot = await findSlot(event, deps);
      await retire(slot, undefined, deps);
      return {
        PhysicalResourceId: event.PhysicalResourceId ?? event.LogicalResourceId,
        Data: { DeleteStartedAt: now(deps).toISOString() },
      };
    }
  }
}

/**
 * Create/Update: complete once the new instance runs (so a launch that EC2 accepts and then
 * fails, e.g. spot capacity or a bad image, fails the deploy after its request is cancelled and
 * the instance terminated). Delete: once nothing of the slot is left, so that the network stack
 * can delete the subnet and security groups after it.
 */
export async function isComplete(event: HostEvent, deps: HostLifecycleDeps): Promise<IsCompleteResult> {
  if (event.RequestType === 'Delete') {
    const slot = await findSlot(event, deps);
    const remaining = await retire(slot, undefined, deps);
    if (remaining > 0) return { IsComplete: false };
    const startedAt = Date.parse(event.Data?.DeleteStartedAt ?? '');
    if (now(deps).getTime() - startedAt < DELETE_SETTLE_MS) return { IsComplete: false };
    return (await deleteOwnInterfaces(event, deps)) ? { IsComplete: true } : { IsComplete: false };
  }
  if (
    event.RequestType === 'Update' &&
    !needsNewInstance(event.OldResourceProperties, event.ResourceProperties)
  ) {
    const slot = await findSlot(event, deps);
    const current = liveInstances(slot)[0];
    if (current) return { IsComplete: true, Data: await slotData(current.id, event, deps) };
  }
  const progress = await converge(event, deps);
  if (progress.instanceId === undefined) return { IsComplete: false };
  return { IsComplete: true, Data: await slotData(progress.instanceId, event, deps) };
}

/** One instance of the slot: found by its owner tag, through a request of the slot, or by a legacy id. */
interface SlotInstance {
  readonly id: string;
  readonly state: string;
  readonly launchToken?: string;
  readonly launchTime?: Date;
  readonly requestId?: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly stateReason?: string;
  readonly volumeIds: readonly string[];
  readonly interfaceIds: readonly string[];
}

interface SlotRequest {
  readonly id: string;
  readonly state: string;
  readonly launchToken?: string;
}

interface Slot {
  readonly instances: readonly SlotInstance[];
  readonly requests: readonly SlotRequest[];
}

/**
 * Everything of the slot: instances and spot requests carrying its owner tag, every instance a
 * request of the slot launched (relaunches carry no tags), and, for a slot created before the owner
 * tag existed, the instance its physical id names and that instance's request.
 */
async function findSlot(event: HostEvent, deps: HostLifecycleDeps): Promise<Slot> {
  const owner = ownerOf(event);
  const [tagged, taggedRequests] = await Promise.all([
    describeInstances(deps, { Filters: [{ Name: `tag:${TAGS.owner}`, Values: [owner] }] }),
    describeRequests(deps, { Filters: [{ Name: `tag:${TAGS.owner}`, Values: [owner] }] }),
  ]);
  const instances = new Map(tagged.map((i) => [i.InstanceId ?? '', toSlotInstance(i)]));
  const requests = new Map(taggedRequests.map((r) => [r.SpotInstanceRequestId ?? '', toSlotRequest(r)]));
  const legacyId = event.PhysicalResourceId ?? '';
  if (isInstanceId(legacyId)) {
    // Launched before the owner tag: the role's requests without one are this slot's.
    const props = event.ResourceProperties;
    const unowned = await describeRequests(deps, {
      Filters: [
        { Name: `tag:${TAGS.fleet}`, Values: [props.Fleet] },
        { Name: `tag:${TAGS.role}`, Values: [props.Role] },
      ],
    });
    for (const r of unowned) {
      const id = r.SpotInstanceRequestId ?? '';
      if (tagsOf(r.Tags)[TAGS.owner] !== undefined || requests.has(id)) continue;
      requests.set(id, toSlotRequest(r));
      taggedRequests.push(r);
    }
  }
  if (isInstanceId(legacyId) && !instances.has(legacyId)) {
    const legacy = (await describeInstances(deps, { InstanceIds: [legacyId] }))[0];
    if (legacy) instances.set(legacyId, toSlotInstance(legacy));
    const requestId = legacy?.SpotInstanceRequestId;
    if (requestId && !requests.has(requestId)) {
      const found = await describeRequests(deps, { SpotInstanceRequestIds: [requestId] });
      for (const r of found) requests.set(requestId, toSlotRequest(r));
      for (const r of found) if (r.InstanceId) taggedRequests.push(r);
    }
  }
  for (const request of taggedRequests) {
    const id = request.InstanceId;
    if (!id || instances.has(id)) continue;
    const relaunched = (await describeInstances(deps, { InstanceIds: [id] }))[0];
    if (relaunched) {
      instances.set(id, {
        ...toSlotInstance(relaunched),
        launchToken: tagsOf(request.Tags)[TAGS.launch],
        requestId: request.SpotInstanceRequestId,
      });
    }
  }
  return { instances: [...instances.values()], requests: [...requests.values()] };
}

function liveInstances(slot: Slot, except?: string): SlotInstance[] {
  return slot.instances.filter(
    (i) => i.state !== 'terminated' && (except === undefined || i.launchToken !== except),
  );
}

/**
 * Cancels the slot's spot requests (so none launches a replacement), then terminates its
 * instances: all of them, or all but those of the launch `keep`. Returns how many are still not
 * terminated (or requests not cancelled).
 */
async function retire(slot: Slot, keep: string | undefined, deps: HostLifecycleDeps): Promise<number> {
  const requests = slot.requests.filter(
    (r) => LIVE_REQUEST_STATES.has(r.state) && (keep === undefined || r.launchToken !== keep),
  );
  if (requests.length > 0) {
    await transient(
      deps,
      () =>
        deps.ec2.send(
          new CancelSpotInstanceRequestsCommand({ SpotInstanceRequestIds: requests.map((r) => r.id) }),
        ),
      { ignore: ['InvalidSpotInstanceRequestID.NotFound'] },
    );
  }
  const alive = liveInstances(slot, keep);
  const toTerminate = alive.filter((i) => i.state !== 'shutting-down').map((i) => i.id);
  if (toTerminate.length > 0) {
    await transient(deps, () => deps.ec2.send(new TerminateInstancesCommand({ InstanceIds: toTerminate })), {
      ignore: ['InvalidInstanceID.NotFound'],
    });
  }
  if (requests.length + toTerminate.length > 0) {
    deps.log?.(
      `cancelled spot requests [${requests.map((r) => r.id).join(', ')}], terminating [${toTerminate.join(', ')}]`,
    );
  }
  return alive.length + requests.length;
}

interface Progress {
  /** Set once the slot's new instance runs. */
  readonly instanceId?: string;
  readonly note: string;
}

/**
 * Brings the slot to one running instance of this request's launch, one step per call (safe to
 * repeat, as isComplete does): retire whatever else is alive, then launch (idempotent by its
 * client token), then wait for the launch to run. A launch that ends while starting or takes too
 * long is cleaned up (its request cancelled, the instance terminated) before the error is thrown.
 */
async function converge(event: HostEvent, deps: HostLifecycleDeps): Promise<Progress> {
  const token = launchToken(event);
  const slot = await findSlot(event, deps);
  if ((await retire(slot, token, deps)) > 0)
    return { note: 'waiting for the previous instance to terminate' };
  const mine = slot.instances.find((i) => i.launchToken === token);
  let instanceId = mine?.id;
  try {
    if (!instanceId) {
      const interfaceId = await ownInterface(event, deps);
      if (interfaceId === null) return { note: 'waiting for the network interface to be free' };
      instanceId = await launch(event, token, carriedTags(slot), interfaceId, deps);
      if (!instanceId) return { note: 'waiting for the address of the previous instance' };
    }
    const instance =
      mine ?? (await describeInstances(deps, { InstanceIds: [instanceId] })).map(toSlotInstance)[0];
    // Right after RunInstances EC2 may not know the instance yet: not yet, not gone.
    if (!instance) return { note: `launched ${instanceId}, not yet visible` };
    if (instance.state === 'shutting-down' || instance.state === 'terminated') {
      throw new Error(
        `${event.ResourceProperties.Role} host ${instance.id} ended while starting: ${instance.stateReason ?? 'no reason given'}`,
      );
    }
    if (instance.state === 'pending') {
      const age = now(deps).getTime() - (instance.launchTime?.getTime() ?? Number.NaN);
      if (age > LAUNCH_DEADLINE_MS) {
        throw new Error(
          `${event.ResourceProperties.Role} host ${instance.id} still pending after ${LAUNCH_DEADLINE_MS / 60_000} minutes`,
        );
      }
      return { note: `launched ${instance.id}, pending` };
    }
    return { instanceId: instance.id, note: `${instance.id} is ${instance.state}` };
  } catch (error) {
    await retire(await findSlot(event, deps), undefined, deps).catch(() => 0);
    throw error;
  }
}

async function launch(
  event: HostEvent,
  token: string,
  carried: readonly Tag[],
  interfaceId: string | undefined,
  deps: HostLifecycleDeps,
): Promise<string | undefined> {
  const props = event.ResourceProperties;
  const tags = launchTags(event, token);
  const resourceTypes: ResourceType[] = ['volume'];
  if (!interfaceId) resourceTypes.push('network-interface');
  if (props.Spot === 'true') resourceTypes.push('spot-instances-request');
  const input = {
    LaunchTemplate: { LaunchTemplateId: props.LaunchTemplateId, Version: props.LaunchTemplateVersion },
    MinCount: 1,
    MaxCount: 1,
    // The same request repeated (by the SDK, the framework or the next isComplete) launches one instance.
    ClientToken: token,
    ...(interfaceId && { NetworkInterfaces: [{ DeviceIndex: 0, NetworkInterfaceId: interfaceId }] }),
    TagSpecifications: [
      { ResourceType: 'instance' as const, Tags: [...tags, ...carried] },
      ...resourceTypes.map((ResourceType) => ({ ResourceType, Tags: tags })),
    ],
  };
  for (let attempt = 1; ; attempt++) {
    try {
      const output = await transient(deps, () => deps.ec2.send(new RunInstancesCommand(input)));
      const instanceId = output?.Instances?.[0]?.InstanceId;
      if (!instanceId) throw new Error('RunInstances returned no instance');
      deps.log?.(
        `${props.Role} host ${instanceId} launched from ${props.LaunchTemplateId} v${props.LaunchTemplateVersion}`,
      );
      return instanceId;
    } catch (error) {
      if (HELD_BY_OLD_INSTANCE.has(errorName(error))) return undefined;
      const message = (error as Error | undefined)?.message ?? '';
      if (IAM_NOT_YET.test(message) && attempt < TRANSIENT_ATTEMPTS) {
        await deps.sleep(Math.min(2 ** attempt * 1000, 30_000));
        continue;
      }
      throw error;
    }
  }
}

/**
 * The slot's own network interface (app host): found by the owner tag, created on first use. Null
 * while it is still attached to an instance being terminated or its address is still taken.
 */
async function ownInterface(event: HostEvent, deps: HostLifecycleDeps): Promise<string | null | undefined> {
  const spec = interfaceSpec(event.ResourceProperties);
  if (!spec) return undefined;
  const owned = await ownInterfaces(event, deps);
  const fits = (n: NetworkInterface) =>
    n.SubnetId === spec.SubnetId &&
    n.PrivateIpAddress === spec.PrivateIpAddress &&
    sameSet(
      (n.Groups ?? []).map((g) => g.GroupId ?? ''),
      spec.SecurityGroupIds,
    );
  for (const stale of owned.filter((n) => !fits(n))) {
    if (stale.Status !== 'available') return null;
    await deleteInterface(stale.NetworkInterfaceId ?? '', deps);
  }
  const current = owned.find(fits);
  if (current) return current.Status === 'available' ? current.NetworkInterfaceId : null;
  try {
    const created = await transient(deps, () =>
      deps.ec2.send(
        new CreateNetworkInterfaceCommand({
          SubnetId: spec.SubnetId,
          PrivateIpAddress: spec.PrivateIpAddress,
          Groups: [...spec.SecurityGroupIds],
          Description: `${event.ResourceProperties.Fleet} ${event.ResourceProperties.Role} host`,
          // The same request repeated creates one interface.
          ClientToken: launchToken(event).slice(0, 64),
          TagSpecifications: [{ ResourceType: 'network-interface', Tags: baseTags(event) }],
        }),
      ),
    );
    return created?.NetworkInterface?.NetworkInterfaceId;
  } catch (error) {
    if (errorName(error) === 'InvalidIPAddress.InUse') return null;
    throw error;
  }
}

async function ownInterfaces(event: HostEvent, deps: HostLifecycleDeps): Promise<NetworkInterface[]> {
  const output = await transient(deps, () =>
    deps.ec2.send(
      new DescribeNetworkInterfacesCommand({
        Filters: [{ Name: `tag:${TAGS.owner}`, Values: [ownerOf(event)] }],
      }),
    ),
  );
  return output?.NetworkInterfaces ?? [];
}

/** Deletes the slot's own interfaces once no instance holds them; true when none is left. */
async function deleteOwnInterfaces(event: HostEvent, deps: HostLifecycleDeps): Promise<boolean> {
  const owned = await ownInterfaces(event, deps);
  for (const n of owned)
    if (n.Status === 'available') await deleteInterface(n.NetworkInterfaceId ?? '', deps);
  return owned.every((n) => n.Status === 'available');
}

async function deleteInterface(id: string, deps: HostLifecycleDeps): Promise<void> {
  await transient(deps, () => deps.ec2.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: id })), {
    ignore: ['InvalidNetworkInterfaceID.NotFound'],
  });
}

/** What CloudFormation reads with GetAtt: the current instance and the slot's interface. */
async function slotData(
  instanceId: string,
  event: HostEvent,
  deps: HostLifecycleDeps,
): Promise<Record<string, string>> {
  const data: Record<string, string> = { InstanceId: instanceId };
  if (interfaceSpec(event.ResourceProperties)) {
    const own = (await ownInterfaces(event, deps))[0]?.NetworkInterfaceId;
    if (own) data.NetworkInterfaceId = own;
  }
  return data;
}

/**
 * A tags-only update: every resource of the slot (instances, including one a request relaunched
 * untagged, their volumes and interfaces, the spot requests) gets the new tags, and the keys the
 * stack no longer sets are removed. The operator's and the scaler's tags are left alone.
 */
async function retag(slot: Slot, event: HostEvent, deps: HostLifecycleDeps): Promise<void> {
  const live = liveInstances(slot);
  const resources = [
    ...live.flatMap((i) => [i.id, ...i.volumeIds, ...i.interfaceIds]),
    ...slot.requests.filter((r) => LIVE_REQUEST_STATES.has(r.state)).map((r) => r.id),
  ];
  if (resources.length === 0) return;
  const tags = baseTags(event);
  const kept = new Set(tags.map((t) => t.Key));
  const dropped = Object.keys(extraTags(event.OldResourceProperties)).filter((key) => !kept.has(key));
  await transient(deps, () => deps.ec2.send(new CreateTagsCommand({ Resources: resources, Tags: tags })));
  if (dropped.length > 0) {
    await transient(deps, () =>
      deps.ec2.send(new DeleteTagsCommand({ Resources: resources, Tags: dropped.map((Key) => ({ Key })) })),
    );
  }
}

/** The newest earlier instance's operator and scaler tags (hold, pause, memory), for its successor. */
function carriedTags(slot: Slot): Tag[] {
  const previous = [...slot.instances].sort(
    (a, b) => (b.launchTime?.getTime() ?? 0) - (a.launchTime?.getTime() ?? 0),
  );
  for (const instance of previous) {
    const carried = CARRIED_TAG_KEYS.filter((key) => instance.tags[key]).map((Key) => ({
      Key,
      Value: instance.tags[Key],
    }));
    if (carried.length > 0) return carried;
  }
  return [];
}

function extraTags(props: HostProperties | undefined): Record<string, string> {
  return props?.Tags ? (JSON.parse(props.Tags) as Record<string, string>) : {};
}

/** The tags of everything the slot owns: the stack's tags, Name, fleet, role and owner. */
function baseTags(event: HostEvent): Tag[] {
  const props = event.ResourceProperties;
  const tags: Record<string, string> = {
    ...extraTags(props),
    Name: `${props.Fleet}-${props.Role}`,
    [TAGS.fleet]: props.Fleet,
    [TAGS.role]: props.Role,
    [TAGS.owner]: ownerOf(event),
  };
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

function launchTags(event: HostEvent, token: string): Tag[] {
  return [...baseTags(event), { Key: TAGS.launch, Value: token }];
}

function interfaceSpec(
  props: HostProperties,
): { SubnetId: string; PrivateIpAddress: string; SecurityGroupIds: string[] } | undefined {
  return props.NetworkInterface ? JSON.parse(props.NetworkInterface) : undefined;
}

async function describeInstances(
  deps: HostLifecycleDeps,
  input: { InstanceIds?: string[]; Filters?: Array<{ Name: string; Values: string[] }> },
): Promise<Instance[]> {
  const output = await transient(deps, () => deps.ec2.send(new DescribeInstancesCommand(input)), {
    ignore: ['InvalidInstanceID.NotFound'],
  });
  return (output?.Reservations ?? []).flatMap((r) => r.Instances ?? []);
}

async function describeRequests(
  deps: HostLifecycleDeps,
  input: { SpotInstanceRequestIds?: string[]; Filters?: Array<{ Name: string; Values: string[] }> },
): Promise<SpotInstanceRequest[]> {
  const output = await transient(deps, () => deps.ec2.send(new DescribeSpotInstanceRequestsCommand(input)), {
    ignore: ['InvalidSpotInstanceRequestID.NotFound'],
  });
  return output?.SpotInstanceRequests ?? [];
}

function toSlotInstance(i: Instance): SlotInstance {
  const tags = tagsOf(i.Tags);
  return {
    id: i.InstanceId ?? '',
    state: i.State?.Name ?? 'pending',
    launchToken: tags[TAGS.launch],
    launchTime: i.LaunchTime,
    requestId: i.SpotInstanceRequestId,
    tags,
    stateReason: i.StateReason?.Message,
    volumeIds: (i.BlockDeviceMappings ?? []).flatMap((b) => (b.Ebs?.VolumeId ? [b.Ebs.VolumeId] : [])),
    interfaceIds: (i.NetworkInterfaces ?? []).flatMap((n) =>
      n.NetworkInterfaceId ? [n.NetworkInterfaceId] : [],
    ),
  };
}

function toSlotRequest(r: SpotInstanceRequest): SlotRequest {
  return {
    id: r.SpotInstanceRequestId ?? '',
    state: r.State ?? 'open',
    launchToken: tagsOf(r.Tags)[TAGS.launch],
  };
}

function tagsOf(tags: readonly Tag[] | undefined): Record<string, string> {
  return Object.fromEntries((tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** Idempotency token of one CloudFormation request (at most 64 ASCII characters). */
function launchToken(event: HostEvent): string {
  return createHash('sha256')
    .update(`${event.StackId}/${event.LogicalResourceId}/${event.RequestId}`)
    .digest('hex')
    .slice(0, 64);
}

function now(deps: HostLifecycleDeps): Date {
  return deps.now?.() ?? new Date();
}

/** The stack's name from its id (`arn:…:stack/<name>/<uuid>`). */
function stackName(stackId: string): string {
  return /:stack\/([^/]+)\//.exec(stackId)?.[1] ?? 'stack';
}

/** A physical id of the first version, which named the instance itself. */
function isInstanceId(id: string): boolean {
  return /^i-[0-9a-f]{8,17}$/.test(id);
}

export function errorName(error: unknown): string {
  return (error as { name?: string; Code?: string } | undefined)?.name ?? '';
}

const TRANSIENT_NAMES = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'InternalError',
  'InternalFailure',
  'ServiceUnavailable',
  'Unavailable',
]);

function isTransient(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0;
  return TRANSIENT_NAMES.has(errorName(error)) || status >= 500;
}

/**
 * Runs an AWS call, retrying throttling and 5xx with exponential back-off; `ignore` names errors
 * that mean "already done" (the call then yields undefined), `retry` further errors that mean
 * "not yet" for this call.
 */
export async function transient<T>(
  deps: Pick<HostLifecycleDeps, 'sleep'>,
  call: () => Promise<T>,
  options: { ignore?: readonly string[]; retry?: readonly string[] } = {},
): Promise<T | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (options.ignore?.includes(errorName(error))) return undefined;
      const retryable = isTransient(error) || (options.retry?.includes(errorName(error)) ?? false);
      if (!retryable || attempt >= TRANSIENT_ATTEMPTS) throw error;
      await deps.sleep(Math.min(2 ** attempt * 1000, 30_000));
    }
  }
}
