import type { ScheduleConfig } from '../config.js';
import { MAX_OPERATOR_DAYS, SPOT_INTERRUPTION_REASON } from './decide.js';
import type { InstanceState } from './model.js';
import { nextScheduledStart } from './schedule.js';
import { type Role, TAGS, isoSeconds } from './tags.js';

/**
 * The operator's rules, one copy for `gpu-manage` and the scaler Lambda's manual events:
 * what a start or stop does to each target, and which operator tags it writes.
 *
 * - A start of the GPU ends an operator pause; with a hold it also sets the hold, written before
 *   the start, so the scaler keeps trying when EC2 refuses it now.
 * - A stop of the GPU ends a hold and pauses automatic starts until a given time, or by default
 *   until the next scheduled start of the app host (at most MAX_OPERATOR_DAYS ahead). While paused
 *   the scaler starts nothing and stops a GPU it finds running (one still pending when asked).
 */

/** What an operator command needs to know of a target instance. */
export interface OperatorInstance {
  readonly role: Role;
  readonly instanceId: string;
  readonly state: InstanceState;
  readonly stateReasonCode?: string;
}

/**
 * One target's plan: `act` calls EC2, `done` needs nothing (already there), `deferred` is left to
 * the scaler (and succeeds), `refused` cannot happen now (and fails the command).
 */
export interface TargetPlan {
  readonly role: Role;
  readonly instanceId: string;
  readonly kind: 'act' | 'done' | 'deferred' | 'refused';
  readonly note: string;
}

export type OperatorAction = 'start' | 'stop';

export function planTarget(action: OperatorAction, instance: OperatorInstance): TargetPlan {
  const { role, instanceId, state } = instance;
  const plan = (kind: TargetPlan['kind'], note: string): TargetPlan => ({ role, instanceId, kind, note });
  const name = `${role} ${instanceId}`;
  if (state === 'terminated' || state === 'shutting-down') {
    const done = action === 'start' ? 'started' : 'stopped';
    return plan('refused', `${name} is ${state}; it cannot be ${done} (redeploy the compute stack).`);
  }
  if (action === 'start') {
    if (state === 'running' || state === 'pending') return plan('done', `${name} is already ${state}.`);
    if (state === 'stopping') {
      return plan('refused', `${name} is stopping; start it once it has stopped (try again in a minute).`);
    }
    if (role === 'gpu' && instance.stateReasonCode === SPOT_INTERRUPTION_REASON) {
      return plan(
        'refused',
        `${name} was stopped by a spot interruption; only EC2 can start it again, which it does when capacity returns.`,
      );
    }
    return plan('act', `Starting ${name} (was ${state}).`);
  }
  if (state === 'stopped' || state === 'stopping') return plan('done', `${name} is already ${state}.`);
  if (state === 'pending') {
    return role === 'gpu'
      ? plan('deferred', `${name} is still starting (pending); the scaler stops it as soon as it runs.`)
      : plan('refused', `${name} is still starting (pending); stop it once it runs (try again in a minute).`);
  }
  return plan('act', `Stopping ${name} (was ${state}).`);
}

/**
 * The tags an operator's start of the GPU writes: the pause ends, a hold is set if asked for.
 * burstWorkers: the burst workers to keep through that hold (none without a hold); undefined
 * leaves the kept number as it is (`hold` extending a hold).
 */
export function startTags(holdUntil: Date | undefined, burstWorkers?: number | null): Record<string, string> {
  return {
    [TAGS.pausedUntil]: '',
    ...(holdUntil !== undefined && { [TAGS.holdUntil]: isoSeconds(holdUntil) }),
    ...(burstWorkers !== undefined && {
      [TAGS.burstHoldWorkers]: holdUntil !== undefined && (burstWorkers ?? 0) > 0 ? String(burstWorkers) : '',
    }),
  };
}

/** The tags an operator's stop of the GPU writes: the hold ends, automatic starts pause until `pausedUntil`. */
export function stopTags(pausedUntil: Date): Record<string, string> {
  return { [TAGS.holdUntil]: '', [TAGS.burstHoldWorkers]: '', [TAGS.pausedUntil]: isoSeconds(pausedUntil) };
}

/**
 * Until when an operator's stop pauses automatic starts: the time given, else the next scheduled
 * start of the app host, never more than MAX_OPERATOR_DAYS ahead (the scaler ignores longer ones).
 */
export function pauseUntil(
  now: Date,
  schedule: Pick<ScheduleConfig, 'timeZone' | 'holidays' | 'startHour' | 'weekDays'>,
  given?: Date,
): Date {
  const limit = new Date(now.getTime() + MAX_OPERATOR_DAYS * 86_400_000);
  const until = given ?? nextScheduledStart(now, schedule, MAX_OPERATOR_DAYS) ?? limit;
  // Stryker disable next-line EqualityOperator: equivalent - at the limit either one is the answer
  return until > limit ? limit : until;
}

/**
 * Of the tags an operator command means to write, those that change something on the instance:
 * a start that finds no pause writes nothing, so a plain start needs no CreateTags at all.
 */
export function changedTags(
  current: Readonly<Record<string, string>>,
  wanted: Readonly<Record<string, string>>,
): Record<string, string> {
  return Object.fromEntries(Object.entries(wanted).filter(([key, value]) => (current[key] ?? '') !== value));
}

/** Checks an operator-given time: in the future and at most MAX_OPERATOR_DAYS ahead, or the reason not. */
export function checkOperatorTime(until: Date, now: Date): string | undefined {
  if (Number.isNaN(until.getTime())) return 'is not a time';
  if (until <= now) return 'lies in the past';
  if (until.getTime() > now.getTime() + MAX_OPERATOR_DAYS * 86_400_000) {
    return `lies more than ${MAX_OPERATOR_DAYS} days ahead`;
  }
  return undefined;
}

/**
 * The tags an operator's start or stop of the app host writes: it ends the retries of a failed
 * scheduled action, so the scaler never undoes what the operator just did (a 12:00 stop-all is
 * not followed by a retried 09:00 start). Nothing when no scheduled action is pending.
 */
export function endScheduledRetries(appTags: Readonly<Record<string, string>>): Record<string, string> {
  return changedTags(appTags, { [TAGS.scheduledAction]: '' });
}
