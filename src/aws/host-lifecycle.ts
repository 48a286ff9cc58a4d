import { createHash } from 'node:crypto';
import {
  CancelSpotInstanceRequestsCommand,
  CreateTagsCommand,
  DescribeInstancesCommand,
  DescribeSpotInstanceRequestsCommand,
  type EC2Client,
  type Instance,
  type ResourceType,
  RunInstancesCommand,
  type Tag,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { CdkCustomResourceEvent, CdkCustomResourceIsCompleteEvent } from 'aws-lambda';
import { TAGS } from '../core/tags.js';

/**
 * The lifecycle of a fleet host, owned by a CloudFormation custom resource instead of an
 * AWS::EC2::Instance.
 *
 * CloudFormation replaces an instance by creating the new one first, which cannot work with a
 * fixed private IP, and it terminates a persistent spot instance without cancelling its request,
 * which then launches a new instance outside every stack. This resource does it in the only safe
 * order: cancel the spot request, terminate, wait until terminated (the IP is free), then launch
 * the new definition from the launch template.
 */

/** The custom resource's properties, as CloudFormation passes them (all strings). */
export interface HostProperties {
  readonly LaunchTemplateId: string;
  readonly LaunchTemplateVersion: string;
  /** Bumped by the user (gpuFleet.hostRevision) to roll a host onto a fresh launch, e.g. a new AMI. */
  readonly Revision: string;
  /** Value of the fleet tag (appName) and the host's role, put on the instance, volume and spot request. */
  readonly Fleet: string;
  readonly Role: string;
  /** 'true' for the persistent spot GPU worker. */
  readonly Spot: string;
  /** Further tags for the instance (the stack's tags), as a JSON object. */
  readonly Tags?: string;
}

/** What the Provider framework sends onEvent. */
export type HostEvent = CdkCustomResourceEvent<HostProperties>;

/** What it sends isComplete: the event with onEvent's result merged in. */
export type HostIsCompleteEvent = CdkCustomResourceIsCompleteEvent<HostProperties, Record<string, string>>;

export interface OnEventResult {
  readonly PhysicalResourceId: string;
  readonly Data?: Record<string, string>;
}

export interface IsCompleteResult {
  readonly IsComplete: boolean;
  readonly Data?: Record<string, string>;
}

export interface HostLifecycleDeps {
  readonly ec2: EC2Client;
  /** Waits between polls and retries; injected so tests run without real time. */
  readonly sleep: (ms: number) => Promise<void>;
  readonly log?: (message: string) => void;
}

/** How long a rotation waits for the old instance to be gone before giving up. */
export const TERMINATION_WAIT_MS = 10 * 60_000;
const POLL_MS = 10_000;
/** Throttling and 5xx are retried this many times with back-off (the SDK's own retries come first). */
const TRANSIENT_ATTEMPTS = 6;
/** The fixed IP of a just-terminated instance can take a moment to be released. */
const IP_IN_USE_ATTEMPTS = 12;

/** What a definition change means: the properties that need a new instance, not a tag edit. */
export function needsNewInstance(oldProps: HostProperties | undefined, newProps: HostProperties): boolean {
  if (!oldProps) return true;
  return (
    oldProps.LaunchTemplateId !== newProps.LaunchTemplateId ||
    oldProps.LaunchTemplateVersion !== newProps.LaunchTemplateVersion ||
    oldProps.Revision !== newProps.Revision ||
    oldProps.Spot !== newProps.Spot
  );
}

export async function onEvent(event: HostEvent, deps: HostLifecycleDeps): Promise<OnEventResult> {
  const props = event.ResourceProperties;
  switch (event.RequestType) {
    case 'Create': {
      const instanceId = await launch(props, clientToken(event), deps);
      return { PhysicalResourceId: instanceId, Data: { InstanceId: instanceId } };
    }
    case 'Update': {
      const current = event.PhysicalResourceId ?? '';
      if (!needsNewInstance(event.OldResourceProperties, props) && isInstanceId(current)) {
        if (event.OldResourceProperties?.Tags !== props.Tags) {
          await transient(deps, () =>
            deps.ec2.send(new CreateTagsCommand({ Resources: [current], Tags: instanceTags(props) })),
          );
        }
        deps.log?.(`${props.Role} host ${current}: no definition change, instance kept`);
        return { PhysicalResourceId: current, Data: { InstanceId: current } };
      }
      deps.log?.(`${props.Role} host ${current}: definition changed, rotating`);
      if (isInstanceId(current)) {
        await retire(current, props, deps);
        await waitUntilGone(current, deps);
      }
      const instanceId = await launch(props, clientToken(event), deps);
      return { PhysicalResourceId: instanceId, Data: { InstanceId: instanceId } };
    }
    case 'Delete': {
      // A create that failed before launching has no instance behind its physical id.
      const current = event.PhysicalResourceId ?? '';
      if (isInstanceId(current)) await retire(current, props, deps);
      else await cancelFleetSpotRequests(props, deps);
      return { PhysicalResourceId: current || event.LogicalResourceId };
    }
  }
}

/**
 * Create/Update: complete once the new instance runs (so a launch that EC2 accepts and then
 * fails, e.g. spot capacity or a bad image, fails the deploy). Delete: once it is terminated,
 * so that the network stack can delete the subnet and security groups after it.
 */
export async function isComplete(
  event: HostIsCompleteEvent,
  deps: HostLifecycleDeps,
): Promise<IsCompleteResult> {
  const instanceId = event.PhysicalResourceId ?? '';
  if (!isInstanceId(instanceId)) return { IsComplete: true };
  const instance = await describe(instanceId, deps);
  const state = instance?.State?.Name;
  if (event.RequestType === 'Delete') {
    return { IsComplete: state === undefined || state === 'terminated' };
  }
  if (state === undefined || state === 'terminated' || state === 'shutting-down') {
    const reason = instance?.StateReason?.Message ?? 'no reason given';
    throw new Error(`${event.ResourceProperties.Role} host ${instanceId} ended while starting: ${reason}`);
  }
  return { IsComplete: state !== 'pending', Data: { InstanceId: instanceId } };
}

/**
 * Cancels the host's spot request (so it cannot launch a replacement), then terminates the
 * instance and any instance that request launched in its place (after a termination by hand).
 *
 * Only this instance's own request is touched: on a rotation CloudFormation later sends a Delete
 * for the old instance id, when the new instance (with a request of its own) already runs.
 */
export async function retire(
  instanceId: string,
  props: HostProperties,
  deps: HostLifecycleDeps,
): Promise<void> {
  const instance = await describe(instanceId, deps);
  const requestId = instance?.SpotInstanceRequestId;
  const doomed = instance && instance.State?.Name !== 'terminated' ? [instanceId] : [];
  if (requestId) {
    const requests = await transient(
      deps,
      () => deps.ec2.send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [requestId] })),
      { ignore: ['InvalidSpotInstanceRequestID.NotFound'] },
    );
    await cancelSpotRequests([requestId], deps);
    for (const request of requests?.SpotInstanceRequests ?? []) {
      if (request.InstanceId && request.InstanceId !== instanceId) doomed.push(request.InstanceId);
    }
  }
  if (doomed.length === 0) {
    deps.log?.(`${props.Role} host ${instanceId} is already gone`);
    return;
  }
  await transient(deps, () => deps.ec2.send(new TerminateInstancesCommand({ InstanceIds: doomed })), {
    ignore: ['InvalidInstanceID.NotFound'],
  });
  deps.log?.(
    `${props.Role} host: spot request ${requestId ?? '(none)'} cancelled, terminating ${doomed.join(', ')}`,
  );
}

/**
 * After a create that failed before it knew its instance, any open or active spot request of this
 * host's role is cancelled and its instance terminated: nothing launches GPUs behind the stack's back.
 */
async function cancelFleetSpotRequests(props: HostProperties, deps: HostLifecycleDeps): Promise<void> {
  if (props.Spot !== 'true') return;
  const output = await transient(deps, () =>
    deps.ec2.send(
      new DescribeSpotInstanceRequestsCommand({
        Filters: [
          { Name: `tag:${TAGS.fleet}`, Values: [props.Fleet] },
          { Name: `tag:${TAGS.role}`, Values: [props.Role] },
          { Name: 'state', Values: ['open', 'active', 'disabled'] },
        ],
      }),
    ),
  );
  const requests = output?.SpotInstanceRequests ?? [];
  const requestIds = requests.flatMap((r) => (r.SpotInstanceRequestId ? [r.SpotInstanceRequestId] : []));
  if (requestIds.length === 0) return;
  await cancelSpotRequests(requestIds, deps);
  const instanceIds = requests.flatMap((r) => (r.InstanceId ? [r.InstanceId] : []));
  if (instanceIds.length > 0) {
    await transient(deps, () => deps.ec2.send(new TerminateInstancesCommand({ InstanceIds: instanceIds })), {
      ignore: ['InvalidInstanceID.NotFound'],
    });
  }
  deps.log?.(`cancelled stray spot requests ${requestIds.join(', ')} of the ${props.Role} host`);
}

async function cancelSpotRequests(requestIds: string[], deps: HostLifecycleDeps): Promise<void> {
  await transient(
    deps,
    () => deps.ec2.send(new CancelSpotInstanceRequestsCommand({ SpotInstanceRequestIds: requestIds })),
    { ignore: ['InvalidSpotInstanceRequestID.NotFound'] },
  );
}

async function waitUntilGone(instanceId: string, deps: HostLifecycleDeps): Promise<void> {
  for (let waited = 0; waited <= TERMINATION_WAIT_MS; waited += POLL_MS) {
    const state = (await describe(instanceId, deps))?.State?.Name;
    if (state === undefined || state === 'terminated') return;
    await deps.sleep(POLL_MS);
  }
  throw new Error(`instance ${instanceId} was not terminated within ${TERMINATION_WAIT_MS / 60_000} minutes`);
}

async function launch(props: HostProperties, token: string, deps: HostLifecycleDeps): Promise<string> {
  const tags = instanceTags(props);
  const resourceTypes: ResourceType[] = ['instance', 'volume', 'network-interface'];
  if (props.Spot === 'true') resourceTypes.push('spot-instances-request');
  for (let attempt = 1; ; attempt++) {
    try {
      const output = await transient(deps, () =>
        deps.ec2.send(
          new RunInstancesCommand({
            LaunchTemplate: {
              LaunchTemplateId: props.LaunchTemplateId,
              Version: props.LaunchTemplateVersion,
            },
            MinCount: 1,
            MaxCount: 1,
            // The same request retried (by the SDK or the Provider framework) launches one instance.
            ClientToken: token,
            TagSpecifications: resourceTypes.map((ResourceType) => ({ ResourceType, Tags: tags })),
          }),
        ),
      );
      const instanceId = output?.Instances?.[0]?.InstanceId;
      if (!instanceId) throw new Error('RunInstances returned no instance');
      deps.log?.(
        `${props.Role} host ${instanceId} launched from ${props.LaunchTemplateId} v${props.LaunchTemplateVersion}`,
      );
      return instanceId;
    } catch (error) {
      // The fixed private IP of the instance just terminated is released a little after it.
      if (errorName(error) === 'InvalidIPAddress.InUse' && attempt < IP_IN_USE_ATTEMPTS) {
        await deps.sleep(POLL_MS);
        continue;
      }
      throw error;
    }
  }
}

function instanceTags(props: HostProperties): Tag[] {
  const extra = props.Tags ? (JSON.parse(props.Tags) as Record<string, string>) : {};
  const tags: Record<string, string> = {
    ...extra,
    Name: `${props.Fleet}-${props.Role}`,
    [TAGS.fleet]: props.Fleet,
    [TAGS.role]: props.Role,
  };
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

async function describe(instanceId: string, deps: HostLifecycleDeps): Promise<Instance | undefined> {
  const output = await transient(
    deps,
    () => deps.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })),
    { ignore: ['InvalidInstanceID.NotFound'] },
  );
  return output?.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId);
}

/** Idempotency token of one CloudFormation request (at most 64 ASCII characters). */
function clientToken(event: HostEvent): string {
  return createHash('sha256')
    .update(`${event.StackId}/${event.LogicalResourceId}/${event.RequestId}`)
    .digest('hex')
    .slice(0, 64);
}

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
