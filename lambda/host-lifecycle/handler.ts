import { EC2Client } from '@aws-sdk/client-ec2';
import {
  type HostEvent,
  type HostLifecycleDeps,
  type IsCompleteResult,
  type OnEventResult,
  isComplete as hostIsComplete,
  onEvent as hostOnEvent,
} from '../../src/aws/host-lifecycle.js';

/**
 * The fleet hosts' custom resource, run by the CDK Provider framework: `onEvent` launches,
 * rotates or retires a host, `isComplete` waits for it to run (or to be gone).
 */
const deps: HostLifecycleDeps = {
  ec2: new EC2Client({ maxAttempts: 5 }),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  log: (message) => console.log(message),
};

export async function onEvent(event: HostEvent): Promise<OnEventResult> {
  console.log(
    JSON.stringify({ requestType: event.RequestType, physicalResourceId: event.PhysicalResourceId }),
  );
  return hostOnEvent(event, deps);
}

export async function isComplete(event: HostEvent): Promise<IsCompleteResult> {
  return hostIsComplete(event, deps);
}
