import { type ResourceType, RunInstancesCommand, type Tag } from '@aws-sdk/client-ec2';
import {
  type HostEvent,
  type HostIsCompleteEvent,
  type HostLifecycleDeps,
  type HostProperties,
  carriedTags,
  deleteOwnInterfaces,
  describeInstances,
  findSlot,
  launchTags,
  launchToken,
  liveInstances,
  oldPropertiesOf,
  physicalIdOf,
  ownInterface,
  retag,
  retire,
  slotData,
  toSlotInstance,
} from './host-slot.js';
import { TRANSIENT_ATTEMPTS, errorName, transient } from './transient.js';

export type { HostEvent, HostIsCompleteEvent, HostLifecycleDeps, HostProperties } from './host-slot.js';
export { errorName, transient } from './transient.js';

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

export interface OnEventResult {
  readonly PhysicalResourceId: string;
  readonly Data?: Record<string, string>;
}

/** The Provider framework refuses `Data` with `IsComplete: false`. */
export type IsCompleteResult =
  { readonly IsComplete: false } | { readonly IsComplete: true; readonly Data?: Record<string, string> };

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
      const physicalId = physicalIdOf(event) ?? '';
      const slot = await findSlot(event, deps);
      const current = liveInstances(slot);
      if (!needsNewInstance(oldPropertiesOf(event), props) && current.length > 0) {
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
        PhysicalResourceId: physicalIdOf(event) ?? event.LogicalResourceId,
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
export async function isComplete(
  event: HostIsCompleteEvent,
  deps: HostLifecycleDeps,
): Promise<IsCompleteResult> {
  if (event.RequestType === 'Delete') {
    const slot = await findSlot(event, deps);
    const remaining = await retire(slot, undefined, deps);
    if (remaining > 0) return { IsComplete: false };
    const startedAt = Date.parse(event.Data?.DeleteStartedAt ?? '');
    if (now(deps).getTime() - startedAt < DELETE_SETTLE_MS) return { IsComplete: false };
    return (await deleteOwnInterfaces(event, deps)) ? { IsComplete: true } : { IsComplete: false };
  }
  if (event.RequestType === 'Update' && !needsNewInstance(oldPropertiesOf(event), event.ResourceProperties)) {
    const slot = await findSlot(event, deps);
    const current = liveInstances(slot)[0];
    if (current) return { IsComplete: true, Data: await slotData(current.id, event, deps) };
  }
  const progress = await converge(event, deps);
  if (progress.instanceId === undefined) return { IsComplete: false };
  return { IsComplete: true, Data: await slotData(progress.instanceId, event, deps) };
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
    await cleanUpFailedLaunch(event, deps).catch(() => undefined);
    throw error;
  }
}

/** How often, and how far apart, a failed create looks for its interface to be released. */
const RELEASE_POLLS = 12;
const RELEASE_POLL_MS = 10_000;

/**
 * Before a launch reports FAILED: its spot request cancelled, its instance terminated. A failed
 * Create also gives up the interface it made, since CloudFormation sends no Delete after a failed
 * create; an Update keeps it for the rollback that follows.
 */
async function cleanUpFailedLaunch(event: HostEvent, deps: HostLifecycleDeps): Promise<void> {
  await retire(await findSlot(event, deps), undefined, deps);
  if (event.RequestType !== 'Create') return;
  for (let poll = 0; poll < RELEASE_POLLS; poll++) {
    const remaining = await retire(await findSlot(event, deps), undefined, deps);
    if (remaining === 0 && (await deleteOwnInterfaces(event, deps))) return;
    await deps.sleep(RELEASE_POLL_MS);
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

function now(deps: HostLifecycleDeps): Date {
  return deps.now?.() ?? new Date();
}

/** The stack's name from its id (`arn:…:stack/<name>/<uuid>`). */
function stackName(stackId: string): string {
  return /:stack\/([^/]+)\//.exec(stackId)?.[1] ?? 'stack';
}
