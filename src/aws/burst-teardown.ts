import {
  type AutoScalingClient,
  type AutoScalingGroup,
  DeleteAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  type CloudFormationClient,
  DescribeStacksCommand,
  GetTemplateCommand,
} from '@aws-sdk/client-cloudformation';
import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import type { CdkCustomResourceEvent, CdkCustomResourceIsCompleteEvent } from 'aws-lambda';
import { BURST_GROUP_RESOURCE_TYPE } from '../names.js';
import { type OnEventResult, errorName, transient } from './host-lifecycle.js';

/**
 * The burst group's teardown, a CloudFormation custom resource served by the hosts' provider.
 *
 * CloudFormation deletes an Auto Scaling group by setting its size to 0 and waiting; it never
 * force-deletes, and every burst worker is protected from scale-in, so the wait only ends after
 * about an hour in DELETE_FAILED with the GPUs still running (aws/aws-cdk#18179). This resource
 * depends on the group, so CloudFormation deletes it first: it force-deletes the group (which
 * terminates the protected workers and ends their lifecycle actions) and waits until the workers
 * are terminated and the group is gone. CloudFormation then finds the group already deleted.
 * Create and update call nothing.
 */

/** The custom resource's properties, as CloudFormation passes them. */
export interface BurstGroupProperties {
  readonly AutoScalingGroupName: string;
}

/** What the Provider framework sends onEvent. */
export type BurstGroupEvent = CdkCustomResourceEvent<BurstGroupProperties>;

/** What it sends isComplete: the event with onEvent's result (its Data) merged in. */
export type BurstGroupIsCompleteEvent = CdkCustomResourceIsCompleteEvent<
  BurstGroupProperties,
  Record<string, string>
>;

export interface BurstTeardownDeps {
  readonly autoScaling: AutoScalingClient;
  readonly ec2: EC2Client;
  /** Reads the stack's status: only a deletion or a forward update's cleanup force-deletes. */
  readonly cloudFormation: CloudFormationClient;
  /** Waits between retries; injected so tests run without real time. */
  readonly sleep: (ms: number) => Promise<void>;
  readonly log?: (message: string) => void;
}

/** Auto Scaling's "not now" answers to a delete: retried like throttling. */
const BUSY = [
  'ResourceContention',
  'ResourceContentionFault',
  'ScalingActivityInProgress',
  'ScalingActivityInProgressFault',
  'ResourceInUse',
  'ResourceInUseFault',
];

/** Data.InstanceIds: the workers the force delete terminates, comma-separated, for isComplete. */
export async function onEvent(event: BurstGroupEvent, deps: BurstTeardownDeps): Promise<OnEventResult> {
  if (event.RequestType !== 'Delete') {
    const name = event.ResourceProperties.AutoScalingGroupName;
    if (!name) throw new Error(`${BURST_GROUP_RESOURCE_TYPE} needs AutoScalingGroupName`);
    // The physical id is the group's name: the same name never means a Delete, a new one does.
    return { PhysicalResourceId: name };
  }
  const name = event.PhysicalResourceId ?? '';
  // A rollback deletes this resource when the update that created it fails (the upgrade that
  // brought it to a fleet whose group already runs): the group stays, and must. A group created
  // by the failed update is empty (the scaler learns of it only after Compute), so CloudFormation
  // deletes it without help.
  const status = await stackStatus(event.StackId, deps);
  if (!FORCE_DELETE_STATUSES.has(status ?? '')) {
    deps.log?.(`stack ${status ?? 'status unknown'}: burst group ${name} is left to CloudFormation`);
    return { PhysicalResourceId: name, Data: { InstanceIds: '', LeftAlone: 'true' } };
  }
  // After an update, only a group the new template no longer has: a teardown moved in the
  // construct tree (a new logical id) is deleted while its group stays.
  if (
    status === 'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS' &&
    (await templateKeepsGroup(event.StackId, name, deps))
  ) {
    deps.log?.(`the stack's template still has burst group ${name}: left alone`);
    return { PhysicalResourceId: name, Data: { InstanceIds: '', LeftAlone: 'true' } };
  }
  const group = await describeGroup(name, deps);
  if (!group) {
    deps.log?.(`burst group ${name} is already gone`);
    return { PhysicalResourceId: name, Data: { InstanceIds: '' } };
  }
  const instanceIds = (group.Instances ?? []).flatMap((i) => (i.InstanceId ? [i.InstanceId] : []));
  if (group.Status === 'Delete in progress') {
    deps.log?.(`burst group ${name} is already being deleted`);
  } else {
    await forceDelete(name, deps);
    deps.log?.(
      `burst group ${name} force-deleted; terminating ${instanceIds.length === 0 ? 'no worker' : instanceIds.join(', ')}`,
    );
  }
  return { PhysicalResourceId: name, Data: { InstanceIds: instanceIds.join(',') } };
}

/**
 * Create/Update: complete at once. Delete: once the group is gone and every worker it had is
 * terminated, so that the subnets and mount targets behind them can be deleted next. The
 * Provider framework bounds the wait (its totalTimeout).
 */
export async function isComplete(
  event: BurstGroupIsCompleteEvent,
  deps: BurstTeardownDeps,
): Promise<{ readonly IsComplete: boolean }> {
  if (event.RequestType !== 'Delete' || event.Data?.LeftAlone === 'true') return { IsComplete: true };
  const name = event.PhysicalResourceId ?? '';
  const remembered = (event.Data?.InstanceIds ?? '').split(',').filter((id) => id !== '');
  const remaining = remembered.length === 0 ? [] : await notTerminated(remembered, deps);
  const groupGone = (await describeGroup(name, deps)) === undefined;
  if (!groupGone || remaining.length > 0) {
    deps.log?.(
      `burst group ${name}: ${groupGone ? 'gone' : 'still being deleted'}; waiting for ${remaining.join(', ') || 'no worker'}`,
    );
  }
  return { IsComplete: groupGone && remaining.length === 0 };
}

/** The stack states in which the group is being deleted with this resource: destroy, or an update that removed or renamed it. */
const FORCE_DELETE_STATUSES = new Set(['DELETE_IN_PROGRESS', 'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS']);

/** Whether the stack's current template declares a group of this name; unknown counts as yes. */
async function templateKeepsGroup(stackId: string, name: string, deps: BurstTeardownDeps): Promise<boolean> {
  try {
    const output = await transient(deps, () =>
      deps.cloudFormation.send(new GetTemplateCommand({ StackName: stackId, TemplateStage: 'Processed' })),
    );
    const template = JSON.parse(output?.TemplateBody ?? '') as {
      Resources?: Record<string, { Type?: string; Properties?: { AutoScalingGroupName?: unknown } }>;
    };
    return Object.values(template.Resources ?? {}).some(
      (r) => r.Type === 'AWS::AutoScaling::AutoScalingGroup' && r.Properties?.AutoScalingGroupName === name,
    );
  } catch (error) {
    deps.log?.(`cannot read the stack's template: ${error instanceof Error ? error.message : String(error)}`);
    return true;
  }
}

async function stackStatus(stackId: string, deps: BurstTeardownDeps): Promise<string | undefined> {
  try {
    const output = await transient(deps, () =>
      deps.cloudFormation.send(new DescribeStacksCommand({ StackName: stackId })),
    );
    return output?.Stacks?.[0]?.StackStatus;
  } catch (error) {
    // Not knowing is not a licence to delete: the group then stays, as without this resource.
    deps.log?.(`cannot read the stack status: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

async function describeGroup(name: string, deps: BurstTeardownDeps): Promise<AutoScalingGroup | undefined> {
  if (!name) return undefined;
  const output = await transient(deps, () =>
    deps.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] })),
  );
  return output?.AutoScalingGroups?.find((g) => g.AutoScalingGroupName === name);
}

async function forceDelete(name: string, deps: BurstTeardownDeps): Promise<void> {
  try {
    await transient(
      deps,
      () =>
        deps.autoScaling.send(
          new DeleteAutoScalingGroupCommand({ AutoScalingGroupName: name, ForceDelete: true }),
        ),
      { retry: BUSY },
    );
  } catch (error) {
    // Auto Scaling answers a group that no longer exists with a ValidationError.
    const message = error instanceof Error ? error.message : '';
    if (errorName(error) === 'ValidationError' && /not found/i.test(message)) return;
    throw error;
  }
}

/**
 * The remembered workers EC2 still shows in a state other than terminated. The instance-id filter
 * (not InstanceIds) leaves out ids EC2 no longer knows instead of failing the whole call.
 */
async function notTerminated(instanceIds: readonly string[], deps: BurstTeardownDeps): Promise<string[]> {
  const output = await transient(
    deps,
    () =>
      deps.ec2.send(
        new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: [...instanceIds] }] }),
      ),
    { ignore: ['InvalidInstanceID.NotFound'] },
  );
  return (output?.Reservations ?? [])
    .flatMap((r) => r.Instances ?? [])
    .filter((i) => i.InstanceId && i.State?.Name !== 'terminated')
    .map((i) => i.InstanceId as string);
}
