import {
  type Activity,
  type AutoScalingClient,
  type Instance as AutoScalingInstance,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeScalingActivitiesCommand,
  SetDesiredCapacityCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  UpdateAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, type EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { BURST_DRAIN_HOOK } from '../names.js';
import { FleetError, recordEndpointOnFailure, callAws, firstLine } from './errors.js';
import type { BurstGroupState, BurstPort, BurstWorkerInfo } from './ports.js';

/**
 * How Auto Scaling refuses to complete a lifecycle action that is not waiting (already completed,
 * timed out, or never started): ValidationError "No active Lifecycle Action found with instance ID …".
 */
const NO_ACTIVE_LIFECYCLE_ACTION = /No active Lifecycle Action found/i;

/** The scaling activities read to find the latest failed launch: the newest first, one page. */
const ACTIVITIES_READ = 20;

/**
 * The burst workers' Auto Scaling group through the Auto Scaling API, with EC2 for what the group
 * does not say about an instance (its tags, launch time and market): the BurstPort of the Lambda
 * and the CLI.
 */
export function createBurstGroup(
  autoScaling: AutoScalingClient,
  ec2: EC2Client,
  groupName: string,
): BurstPort {
  recordEndpointOnFailure(autoScaling);
  recordEndpointOnFailure(ec2);

  return {
    describe: () => describeBurstGroup(autoScaling, ec2, groupName),

    async setDesired(desired) {
      await callAws('autoscaling:SetDesiredCapacity', () =>
        autoScaling.send(
          // The group has no scaling policies of its own; a cooldown would only delay the scaler's decision.
          new SetDesiredCapacityCommand({
            AutoScalingGroupName: groupName,
            DesiredCapacity: desired,
            HonorCooldown: false,
          }),
        ),
      );
    },

    async retire(instanceId, decrementDesired) {
      await callAws('autoscaling:TerminateInstanceInAutoScalingGroup', () =>
        autoScaling.send(
          new TerminateInstanceInAutoScalingGroupCommand({
            InstanceId: instanceId,
            ShouldDecrementDesiredCapacity: decrementDesired,
          }),
        ),
      );
    },

    async setOnDemand(onDemand) {
      await callAws('autoscaling:UpdateAutoScalingGroup', () =>
        autoScaling.send(
          new UpdateAutoScalingGroupCommand({
            AutoScalingGroupName: groupName,
            // Only the distribution changes; the launch template and its overrides stay as deployed.
            MixedInstancesPolicy: {
              InstancesDistribution: {
                OnDemandBaseCapacity: 0,
                OnDemandPercentageAboveBaseCapacity: onDemand ? 100 : 0,
              },
            },
          }),
        ),
      );
    },

    async completeDrain(instanceId) {
      await callAws('autoscaling:CompleteLifecycleAction', async () => {
        try {
          await autoScaling.send(
            new CompleteLifecycleActionCommand({
              AutoScalingGroupName: groupName,
              LifecycleHookName: BURST_DRAIN_HOOK,
              InstanceId: instanceId,
              LifecycleActionResult: 'CONTINUE',
            }),
          );
        } catch (error) {
          // Nothing waits any more: what this call was for has happened.
          if (!isNoActiveLifecycleAction(error)) throw error;
        }
      });
    },
  };
}

function isNoActiveLifecycleAction(error: unknown): boolean {
  return (
    error instanceof Error &&
    error.name === 'ValidationError' &&
    NO_ACTIVE_LIFECYCLE_ACTION.test(error.message)
  );
}

/** The group, its workers (their EC2 tags, launch time and market) and its latest failed launch. */
async function describeBurstGroup(
  autoScaling: AutoScalingClient,
  ec2: EC2Client,
  groupName: string,
): Promise<BurstGroupState> {
  const output = await callAws('autoscaling:DescribeAutoScalingGroups', () =>
    autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [groupName] })),
  );
  const group = output.AutoScalingGroups?.find((g) => g.AutoScalingGroupName === groupName);
  if (!group) {
    throw new FleetError('NotFound', `Auto Scaling group ${groupName} not found`, false);
  }
  const distribution = group.MixedInstancesPolicy?.InstancesDistribution;
  const onDemand =
    (distribution?.OnDemandPercentageAboveBaseCapacity ?? 0) > 0 ||
    (distribution?.OnDemandBaseCapacity ?? 0) > 0;
  const members = group.Instances ?? [];
  const described = await describeInstances(
    ec2,
    members.map((m) => m.InstanceId ?? ''),
  );
  const activities = await callAws('autoscaling:DescribeScalingActivities', () =>
    autoScaling.send(
      new DescribeScalingActivitiesCommand({
        AutoScalingGroupName: groupName,
        MaxRecords: ACTIVITIES_READ,
      }),
    ),
  );
  return {
    desired: group.DesiredCapacity ?? 0,
    max: group.MaxSize ?? 0,
    onDemand,
    workers: members.map((member) =>
      burstWorkerInfo(member, described.get(member.InstanceId ?? ''), onDemand),
    ),
    lastLaunchFailure: latestLaunchFailure(activities.Activities ?? []),
  };
}

/**
 * A worker as the group and EC2 describe it. EC2 no longer knows an instance that just went
 * away; the group's current market is then the best guess.
 */
export function burstWorkerInfo(
  member: AutoScalingInstance,
  instance: Instance | undefined,
  groupOnDemand: boolean,
): BurstWorkerInfo {
  const instanceMarket = instance?.InstanceLifecycle === 'spot' ? 'spot' : 'on-demand';
  return {
    instanceId: member.InstanceId ?? '',
    instanceType: member.InstanceType ?? instance?.InstanceType ?? 'unknown',
    market: instance ? instanceMarket : groupOnDemand ? 'on-demand' : 'spot',
    availabilityZone: member.AvailabilityZone ?? instance?.Placement?.AvailabilityZone ?? 'unknown',
    lifecycleState: member.LifecycleState ?? 'unknown',
    launchTime: instance?.LaunchTime,
    tags: Object.fromEntries((instance?.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
  };
}

async function describeInstances(
  ec2: EC2Client,
  instanceIds: readonly string[],
): Promise<Map<string, Instance>> {
  if (instanceIds.length === 0) return new Map();
  // A filter, not InstanceIds: a worker terminated between the two calls must not fail the whole read.
  const output = await callAws('ec2:DescribeInstances', () =>
    ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: [...instanceIds] }] })),
  );
  const instances = (output.Reservations ?? []).flatMap((r) => r.Instances ?? []);
  return new Map(instances.map((i) => [i.InstanceId ?? '', i]));
}

/**
 * The burst group of the scaler Lambda, from the environment its stack gives it: BURST_GROUP_NAME
 * is set only when burst workers are deployed, so undefined means "one GPU, as the plan".
 */
export function burstGroupFromEnvironment(
  env: Readonly<Record<string, string | undefined>>,
  clients: () => { readonly autoScaling: AutoScalingClient; readonly ec2: EC2Client },
): BurstPort | undefined {
  const groupName = env.BURST_GROUP_NAME;
  if (!groupName) return undefined;
  const { autoScaling, ec2 } = clients();
  return createBurstGroup(autoScaling, ec2, groupName);
}

/**
 * The newest failed launch, unless a launch succeeded after it: a failure that a later launch
 * overcame says nothing about the capacity the group can get now. Activities come newest first.
 */
export function latestLaunchFailure(activities: readonly Activity[]): BurstGroupState['lastLaunchFailure'] {
  for (const activity of activities) {
    if (!/^Launching/i.test(activity.Description ?? '')) continue;
    if (activity.StatusCode === 'Successful') return undefined;
    if (activity.StatusCode === 'Failed' || activity.StatusCode === 'Cancelled') {
      const at = activity.EndTime ?? activity.StartTime;
      if (!at) continue;
      return { at, message: firstLine(activity.StatusMessage ?? activity.Description ?? 'launch failed') };
    }
  }
  return undefined;
}
