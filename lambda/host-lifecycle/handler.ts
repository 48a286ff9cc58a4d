import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { EC2Client } from '@aws-sdk/client-ec2';
import {
  type BurstGroupEvent,
  type BurstGroupIsCompleteEvent,
  type BurstTeardownDeps,
  isComplete as burstIsComplete,
  onEvent as burstOnEvent,
} from '../../src/aws/burst-teardown.js';
import {
  type HostEvent,
  type HostIsCompleteEvent,
  type HostLifecycleDeps,
  type IsCompleteResult,
  type OnEventResult,
  isComplete as hostIsComplete,
  onEvent as hostOnEvent,
} from '../../src/aws/host-lifecycle.js';
import { BURST_GROUP_RESOURCE_TYPE } from '../../src/names.js';

/**
 * The Compute stack's custom resources, run by the CDK Provider framework and told apart by
 * their type: the fleet host slots (`onEvent` launches, or begins a rotation or a teardown;
 * `isComplete` takes the next step until the new host runs or nothing of the old one is left)
 * and the burst group's teardown (src/aws/burst-teardown.ts).
 */
const deps: HostLifecycleDeps & BurstTeardownDeps = {
  ec2: new EC2Client({ maxAttempts: 5 }),
  autoScaling: new AutoScalingClient({ maxAttempts: 5 }),
  cloudFormation: new CloudFormationClient({ maxAttempts: 5 }),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  log: (message) => console.log(message),
};

export async function onEvent(event: HostEvent | BurstGroupEvent): Promise<OnEventResult> {
  console.log(
    JSON.stringify({
      requestType: event.RequestType,
      resourceType: event.ResourceType,
      physicalResourceId: 'PhysicalResourceId' in event ? event.PhysicalResourceId : undefined,
    }),
  );
  if (isBurstGroup(event)) return burstOnEvent(event as BurstGroupEvent, deps);
  return hostOnEvent(event as HostEvent, deps);
}

export async function isComplete(
  event: HostIsCompleteEvent | BurstGroupIsCompleteEvent,
): Promise<IsCompleteResult> {
  if (isBurstGroup(event)) return burstIsComplete(event as BurstGroupIsCompleteEvent, deps);
  return hostIsComplete(event as HostIsCompleteEvent, deps);
}

function isBurstGroup(event: { readonly ResourceType: string }): boolean {
  return event.ResourceType === BURST_GROUP_RESOURCE_TYPE;
}
