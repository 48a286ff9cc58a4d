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
  type SpotInstanceRequest,
  type Tag,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { CdkCustomResourceEvent, CdkCustomResourceIsCompleteEvent } from 'aws-lambda';
import { SCALER_WRITABLE_TAG_KEYS, TAGS } from '../core/tags.js';
import { errorName, transient } from './transient.js';

/**
 * A fleet host slot's resources on EC2: what it owns (found by its owner tag, and through its spot
 * requests), and the calls that retire, retag and attach them. src/aws/host-lifecycle.ts drives
 * these through CloudFormation's events.
 */

/** Tags the operator and the scaler keep on a host: carried to the instance that replaces it. */
const CARRIED_TAG_KEYS: readonly string[] = SCALER_WRITABLE_TAG_KEYS;
const LIVE_REQUEST_STATES = new Set(['open', 'active', 'disabled']);

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

/** What the Provider framework sends onEvent. */
export type HostEvent = CdkCustomResourceEvent<HostProperties>;

/** What it sends isComplete: the event with onEvent's result (physical id, Data) merged in. */
export type HostIsCompleteEvent = CdkCustomResourceIsCompleteEvent<HostProperties, Record<string, string>>;

/** The slot's physical id; a Create has none yet. */
export function physicalIdOf(event: HostEvent): string | undefined {
  return 'PhysicalResourceId' in event ? event.PhysicalResourceId : undefined;
}

/** The properties an Update replaces; undefined for a Create or a Delete. */
export function oldPropertiesOf(event: HostEvent): HostProperties | undefined {
  return event.RequestType === 'Update' ? event.OldResourceProperties : undefined;
}

export interface HostLifecycleDeps {
  readonly ec2: EC2Client;
  /** Waits between retries; injected so tests run without real time. */
  readonly sleep: (ms: number) => Promise<void>;
  /** The clock; injected so tests can age a launch. */
  readonly now?: () => Date;
  readonly log?: (message: string) => void;
}

/** The owner tag's value: which stack's which resource launched it. */
export function ownerOf(event: Pick<HostEvent, 'StackId' | 'LogicalResourceId'>): string {
  return `${event.StackId}/${event.LogicalResourceId}`;
}

/** One instance of the slot: found by its owner tag, through a request of the slot, or by a legacy id. */
export interface SlotInstance {
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

export interface Slot {
  readonly instances: readonly SlotInstance[];
  readonly requests: readonly SlotRequest[];
}

/**
 * Everything of the slot: instances and spot requests carrying its owner tag, every instance a
 * request of the slot launched (relaunches carry no tags), and, for a slot created before the owner
 * tag existed, the instance its physical id names and that instance's request.
 */
export async function findSlot(event: HostEvent, deps: HostLifecycleDeps): Promise<Slot> {
  const owner = ownerOf(event);
  const [tagged, taggedRequests] = await Promise.all([
    describeInstances(deps, { Filters: [{ Name: `tag:${TAGS.owner}`, Values: [owner] }] }),
    describeRequests(deps, { Filters: [{ Name: `tag:${TAGS.owner}`, Values: [owner] }] }),
  ]);
  const instances = new Map(tagged.map((i) => [i.InstanceId ?? '', toSlotInstance(i)]));
  const requests = new Map(taggedRequests.map((r) => [r.SpotInstanceRequestId ?? '', toSlotRequest(r)]));
  const legacyId = physicalIdOf(event) ?? '';
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

export function liveInstances(slot: Slot, except?: string): SlotInstance[] {
  return slot.instances.filter(
    (i) => i.state !== 'terminated' && (except === undefined || i.launchToken !== except),
  );
}

/**
 * Cancels the slot's spot requests (so none launches a replacement), then terminates its
 * instances: all of them, or all but those of the launch `keep`. Returns how many are still not
 * terminated (or requests not cancelled).
 */
export async function retire(slot: Slot, keep: string | undefined, deps: HostLifecycleDeps): Promise<number> {
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

/**
 * The slot's own network interface (app host): found by the owner tag, created on first use. Null
 * while it is still attached to an instance being terminated or its address is still taken.
 */
export async function ownInterface(
  event: HostEvent,
  deps: HostLifecycleDeps,
): Promise<string | null | undefined> {
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
export async function deleteOwnInterfaces(event: HostEvent, deps: HostLifecycleDeps): Promise<boolean> {
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
export async function slotData(
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
export async function retag(slot: Slot, event: HostEvent, deps: HostLifecycleDeps): Promise<void> {
  const live = liveInstances(slot);
  const resources = [
    ...live.flatMap((i) => [i.id, ...i.volumeIds, ...i.interfaceIds]),
    ...slot.requests.filter((r) => LIVE_REQUEST_STATES.has(r.state)).map((r) => r.id),
  ];
  if (resources.length === 0) return;
  const tags = baseTags(event);
  const kept = new Set(tags.map((t) => t.Key));
  const dropped = Object.keys(extraTags(oldPropertiesOf(event))).filter((key) => !kept.has(key));
  await transient(deps, () => deps.ec2.send(new CreateTagsCommand({ Resources: resources, Tags: tags })));
  if (dropped.length > 0) {
    await transient(deps, () =>
      deps.ec2.send(new DeleteTagsCommand({ Resources: resources, Tags: dropped.map((Key) => ({ Key })) })),
    );
  }
}

/** The newest earlier instance's operator and scaler tags (hold, pause, memory), for its successor. */
export function carriedTags(slot: Slot): Tag[] {
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

export function launchTags(event: HostEvent, token: string): Tag[] {
  return [...baseTags(event), { Key: TAGS.launch, Value: token }];
}

function interfaceSpec(
  props: HostProperties,
): { SubnetId: string; PrivateIpAddress: string; SecurityGroupIds: string[] } | undefined {
  return props.NetworkInterface ? JSON.parse(props.NetworkInterface) : undefined;
}

export async function describeInstances(
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

export function toSlotInstance(i: Instance): SlotInstance {
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
export function launchToken(event: HostEvent): string {
  return createHash('sha256')
    .update(`${event.StackId}/${event.LogicalResourceId}/${event.RequestId}`)
    .digest('hex')
    .slice(0, 64);
}

/** A physical id of the first version, which named the instance itself. */
function isInstanceId(id: string): boolean {
  return /^i-[0-9a-f]{8,17}$/.test(id);
}
