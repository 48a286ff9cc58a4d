import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  DescribeSpotInstanceRequestsCommand,
  type EC2Client,
  type Instance,
  StartInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { InstanceState } from '../core/model.js';
import { TAGS, type Role } from '../core/tags.js';
import { FleetError, recordEndpointOnFailure, toFleetError, callAws } from './errors.js';
import type { FleetPort, InstanceInfo } from './ports.js';
import { describeSpotRequest } from './spot.js';

/** The fleet's instances through the EC2 API: the FleetPort of the Lambda and the CLI. */
export function createEc2Fleet(client: EC2Client): FleetPort {
  recordEndpointOnFailure(client);
  return {
    async describe(instanceIds) {
      const output = await callAws('ec2:DescribeInstances', () =>
        client.send(new DescribeInstancesCommand({ InstanceIds: [...instanceIds] })),
      );
      const instances = (output.Reservations ?? []).flatMap((r) => r.Instances ?? []).map(toInstanceInfo);
      const missing = instanceIds.filter((id) => !instances.some((i) => i.instanceId === id));
      if (missing.length > 0) {
        throw new FleetError('NotFound', `instance ${missing.join(', ')} not found`, false);
      }
      return instances;
    },
    async start(instanceIds) {
      await callAws('ec2:StartInstances', () =>
        client.send(new StartInstancesCommand({ InstanceIds: [...instanceIds] })),
      );
    },
    async stop(instanceIds) {
      await callAws('ec2:StopInstances', () =>
        client.send(new StopInstancesCommand({ InstanceIds: [...instanceIds] })),
      );
    },
    async spotRequestStatus(spotInstanceRequestId) {
      return (await describeSpotRequest(client, spotInstanceRequestId)).statusCode;
    },
    async writeTags(instanceId, tags) {
      const entries = Object.entries(tags);
      if (entries.length === 0) return;
      await callAws('ec2:CreateTags', () =>
        client.send(
          new CreateTagsCommand({
            Resources: [instanceId],
            Tags: entries.map(([Key, Value]) => ({ Key, Value })),
          }),
        ),
      );
    },
  };
}

/**
 * The fleet's instances found by their fleet tag, never by ids typed anywhere: what the CLI
 * operates on. Terminated instances are left out.
 */
export async function discoverFleetInstances(client: EC2Client, appName: string): Promise<InstanceInfo[]> {
  recordEndpointOnFailure(client);
  try {
    const output = await client.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: `tag:${TAGS.fleet}`, Values: [appName] },
          { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
        ],
      }),
    );
    const instances = (output.Reservations ?? []).flatMap((r) => r.Instances ?? []).map(toInstanceInfo);
    if (instances.some((i) => i.role === 'gpu')) return instances;
    return [...instances, ...(await relaunchedHosts(client, appName, instances))];
  } catch (error) {
    throw toFleetError(error, 'ec2:DescribeInstances');
  }
}

/**
 * Instances that a host's persistent spot request launched in place of one terminated by hand:
 * they carry none of the launch's tags, so only the request (which keeps its tags) leads to them.
 * Looked up only when no GPU instance carries the fleet's tags.
 */
async function relaunchedHosts(
  client: EC2Client,
  appName: string,
  known: readonly InstanceInfo[],
): Promise<InstanceInfo[]> {
  const output = await client.send(
    new DescribeSpotInstanceRequestsCommand({
      Filters: [
        { Name: `tag:${TAGS.fleet}`, Values: [appName] },
        { Name: 'state', Values: ['open', 'active', 'disabled'] },
      ],
    }),
  );
  const found: InstanceInfo[] = [];
  for (const request of output?.SpotInstanceRequests ?? []) {
    const role = (request.Tags ?? []).find((t) => t.Key === TAGS.role)?.Value;
    const instanceId = request.InstanceId;
    if ((role !== 'gpu' && role !== 'app') || !instanceId || known.some((i) => i.instanceId === instanceId))
      continue;
    const described = await client
      .send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))
      .catch((error: unknown) => {
        if ((error as Error).name === 'InvalidInstanceID.NotFound') return undefined;
        throw error;
      });
    const instance = described?.Reservations?.flatMap((r) => r.Instances ?? [])[0];
    const state = instance?.State?.Name;
    if (!instance || state === 'terminated' || state === 'shutting-down') continue;
    const info = toInstanceInfo(instance);
    found.push(info.role ? info : { ...info, role, relaunchedBy: request.SpotInstanceRequestId });
  }
  return found;
}

function toInstanceInfo(instance: Instance): InstanceInfo {
  const tags = Object.fromEntries((instance.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  const role = tags[TAGS.role];
  return {
    instanceId: instance.InstanceId ?? '',
    role: role === 'app' || role === 'gpu' ? (role as Role) : undefined,
    instanceType: instance.InstanceType ?? 'unknown',
    state: (instance.State?.Name ?? 'pending') as InstanceState,
    launchTime: instance.LaunchTime,
    stateReasonCode: instance.StateReason?.Code,
    stateTransitionReason: instance.StateTransitionReason || undefined,
    privateIp: instance.PrivateIpAddress,
    publicIp: instance.PublicIpAddress,
    availabilityZone: instance.Placement?.AvailabilityZone,
    lifecycle: instance.InstanceLifecycle === 'spot' ? 'spot' : 'on-demand',
    spotInstanceRequestId: instance.SpotInstanceRequestId,
    tags,
  };
}
