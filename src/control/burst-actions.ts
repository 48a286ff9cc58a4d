import { type FleetError, isFleetError } from '../aws/errors.js';
import type { BurstPort } from '../aws/ports.js';
import { retirements } from '../core/burst.js';

/** Runs one group call; a refusal is recorded by the caller and reads as false. */
export type Attempt = (label: string, call: () => Promise<void>) => Promise<boolean>;

/**
 * The Attempt of every caller: a call refused by AWS (a FleetError) goes to `onRefused` under its
 * label and reads as false, so the calls after it still run; any other error is a bug and propagates.
 */
export function attemptRecordingRefusals(onRefused: (label: string, error: FleetError) => void): Attempt {
  return async (label, call) => {
    try {
      await call();
      return true;
    } catch (caught) {
      if (!isFleetError(caught)) throw caught;
      onRefused(label, caught);
      return false;
    }
  };
}

/**
 * Sets the burst group's desired capacity (when it changes), then terminates the given workers by
 * id, each lowering desired only while the desired the group actually has still counts it: when
 * Auto Scaling refuses the change, the decrements are counted from the one it kept, so the group
 * replaces no worker retired. Every call is attempted. Shared by the scaler's tick and the
 * operator's stop. Returns the workers asked to terminate.
 */
export async function resizeAndRetire(
  port: BurstPort,
  group: { readonly desired: number; readonly activeWorkers: number },
  change: { readonly desired?: number; readonly retire: readonly string[] },
  attempt: Attempt,
  labels: { readonly desired: (desired: number) => string; readonly retire: (instanceId: string) => string },
): Promise<string[]> {
  let desired = group.desired;
  const wanted = change.desired;
  if (wanted !== undefined && wanted !== group.desired) {
    if (await attempt(labels.desired(wanted), () => port.setDesired(wanted))) desired = wanted;
  }
  const retired: string[] = [];
  for (const { instanceId, decrementDesired } of retirements(change.retire, desired, group.activeWorkers)) {
    if (await attempt(labels.retire(instanceId), () => port.retire(instanceId, decrementDesired)))
      retired.push(instanceId);
  }
  return retired;
}

/**
 * Completes the drain hook of each worker that has drained, each call attempted on its own: a
 * refused one is recorded and asked again on the next tick (a completion that finds nothing
 * waiting is done), and the hook's timeout ends the wait if it keeps failing.
 */
export async function completeDrains(
  port: BurstPort,
  instanceIds: readonly string[],
  attempt: Attempt,
): Promise<void> {
  for (const instanceId of instanceIds) {
    await attempt(`complete drain ${instanceId}`, () => port.completeDrain(instanceId));
  }
}
