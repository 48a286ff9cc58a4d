import { type FleetError, isFleetError } from '../aws/errors.js';
import type { FleetPort, InstanceInfo } from '../aws/ports.js';
import {
  type PendingScheduledAction,
  type ScheduledRetryDecision,
  decideScheduledRetry,
  encodePendingScheduledAction,
  parsePendingScheduledAction,
} from '../core/schedule.js';
import { TAGS } from '../core/tags.js';

/** One tick's turn at the app host's pending scheduled action. */
export interface ScheduledRetryReport {
  readonly pending: PendingScheduledAction;
  readonly decision: ScheduledRetryDecision;
  /** EC2's refusal of the retried action; the mark stays and the next tick tries again. */
  readonly error?: FleetError;
  /** The mark could not be cleared; the next tick finds the host where it is and clears it then. */
  readonly tagError?: FleetError;
}

/**
 * Retries the app host's failed scheduled action, if one is pending: decides, acts, and clears
 * the mark once the action is done (by this retry or otherwise) or its window has ended.
 * Undefined when nothing is pending.
 */
export async function retryScheduledAction(
  fleet: FleetPort,
  app: InstanceInfo,
  now: Date,
): Promise<ScheduledRetryReport | undefined> {
  const pending = parsePendingScheduledAction(app.tags[TAGS.scheduledAction]);
  if (pending === undefined) return undefined;
  const decision = decideScheduledRetry(pending, app.state, now);
  if (decision.kind === 'wait') return { pending, decision };
  if (decision.kind === 'act') {
    try {
      if (decision.action === 'start') await fleet.start([app.instanceId]);
      else await fleet.stop([app.instanceId]);
    } catch (error) {
      if (!isFleetError(error)) throw error;
      return { pending, decision, error };
    }
  }
  try {
    await fleet.writeTags(app.instanceId, { [TAGS.scheduledAction]: '' });
  } catch (error) {
    if (!isFleetError(error)) throw error;
    return { pending, decision, tagError: error };
  }
  return { pending, decision };
}

/**
 * Remembers a scheduled action that failed, for the ticks to retry. Resolves to the refusal when
 * the mark could not be written (then nothing retries it but Lambda's own retries of the event).
 */
export async function rememberFailedScheduledAction(
  fleet: FleetPort,
  app: InstanceInfo,
  pending: PendingScheduledAction,
): Promise<FleetError | undefined> {
  try {
    await fleet.writeTags(app.instanceId, { [TAGS.scheduledAction]: encodePendingScheduledAction(pending) });
    return undefined;
  } catch (error) {
    if (!isFleetError(error)) throw error;
    return error;
  }
}
