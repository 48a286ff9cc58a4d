import type { ScheduleConfig } from '../config.js';
import type { InstanceState } from './model.js';
import { isoSeconds, parseTagDate } from './tags.js';

/** The calendar date (YYYY-MM-DD) of `now` in `timeZone`. */
export function localDate(now: Date, timeZone: string): string {
  // en-CA formats dates as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(now);
}

/** True when `now` falls on one of the configured holidays, in the schedule's time zone. */
export function isHoliday(now: Date, schedule: Pick<ScheduleConfig, 'timeZone' | 'holidays'>): boolean {
  return schedule.holidays.includes(localDate(now, schedule.timeZone));
}

const DAY_NAMES = ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'] as const;

/** The days (0 = Monday … 6 = Sunday) an EventBridge day-of-week list such as MON-FRI or MON,WED,FRI names. */
export function scheduledWeekDays(weekDays: string): Set<number> {
  const days = new Set<number>();
  for (const part of weekDays.split(',')) {
    const [from, to] = part
      .split('-')
      .map((d) => DAY_NAMES.indexOf(d.trim().toUpperCase() as (typeof DAY_NAMES)[number]));
    if (from === undefined || from < 0) continue;
    const last = to === undefined || to < 0 ? from : to;
    for (let d = from; ; d = (d + 1) % 7) {
      days.add(d);
      if (d === last) break;
    }
  }
  return days;
}

/** Milliseconds that `timeZone` is ahead of UTC at `at`. */
function zoneOffsetMs(at: Date, timeZone: string): number {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    })
      .formatToParts(at)
      .map((p) => [p.type, Number(p.value)]),
  ) as Record<string, number>;
  const asUtc = Date.UTC(
    parts.year ?? 1970,
    (parts.month ?? 1) - 1,
    parts.day ?? 1,
    parts.hour ?? 0,
    parts.minute ?? 0,
    parts.second ?? 0,
  );
  return asUtc - (at.getTime() - at.getMilliseconds());
}

/**
 * The instant at which the clock in `timeZone` shows `wallClock` (a wall-clock time written as if
 * it were UTC): moved by the zone's offset, checked twice across a DST change.
 */
function fromWallClock(wallClock: number, timeZone: string): Date {
  const first = new Date(wallClock - zoneOffsetMs(new Date(wallClock), timeZone));
  return new Date(wallClock - zoneOffsetMs(first, timeZone));
}

/**
 * The next time the schedule starts the app host after `now` (startHour on a scheduled weekday
 * that is not a holiday, in the schedule's time zone), looking at most `maxDays` ahead.
 */
export function nextScheduledStart(
  now: Date,
  schedule: Pick<ScheduleConfig, 'timeZone' | 'holidays' | 'startHour' | 'weekDays'>,
  maxDays = 14,
): Date | undefined {
  const days = scheduledWeekDays(schedule.weekDays);
  const [year, month, day] = localDate(now, schedule.timeZone).split('-').map(Number) as [
    number,
    number,
    number,
  ];
  for (let ahead = 0; ahead <= maxDays; ahead += 1) {
    const wallClock = Date.UTC(year, month - 1, day + ahead, schedule.startHour);
    const at = fromWallClock(wallClock, schedule.timeZone);
    const weekDay = (new Date(wallClock).getUTCDay() + 6) % 7;
    if (at > now && days.has(weekDay) && !isHoliday(at, schedule)) return at;
  }
  return undefined;
}

/** The app host's daily actions the schedule invokes. */
export type ScheduledHostAction = 'start' | 'stop';

/**
 * A scheduled action of the app host that failed and is retried on the scaler's minute tick until
 * `until`, the end of its window. Kept in the app host's scheduled-action tag.
 */
export interface PendingScheduledAction {
  readonly action: ScheduledHostAction;
  readonly until: Date;
}

/** How far ahead a failed stop looks for the next scheduled start, which ends its retries. */
const STOP_RETRY_MAX_DAYS = 14;

/**
 * Until when a scheduled action of the app host that failed at `at` is worth retrying. A start
 * until that day's stopHour: after it the host would be stopped anyway. A stop until the next
 * scheduled start (at most STOP_RETRY_MAX_DAYS ahead): a host left running bills every hour, and
 * from that start on it is wanted up again.
 */
export function scheduledActionWindowEnd(
  action: ScheduledHostAction,
  at: Date,
  schedule: Pick<ScheduleConfig, 'timeZone' | 'holidays' | 'startHour' | 'stopHour' | 'weekDays'>,
): Date {
  if (action === 'stop') {
    return (
      nextScheduledStart(at, schedule, STOP_RETRY_MAX_DAYS) ??
      new Date(at.getTime() + STOP_RETRY_MAX_DAYS * 86_400_000)
    );
  }
  const [year, month, day] = localDate(at, schedule.timeZone).split('-').map(Number) as [
    number,
    number,
    number,
  ];
  return fromWallClock(Date.UTC(year, month - 1, day, schedule.stopHour), schedule.timeZone);
}

/** The tag value that holds a pending scheduled action: `start until 2026-11-25T10:00:00Z`. */
export function encodePendingScheduledAction(pending: PendingScheduledAction): string {
  return `${pending.action} until ${isoSeconds(pending.until)}`;
}

/** Reads a pending scheduled action from its tag value; empty or malformed values read as none. */
export function parsePendingScheduledAction(value: string | undefined): PendingScheduledAction | undefined {
  const match = value === undefined ? null : /^(start|stop) until (\S+)$/.exec(value);
  const until = parseTagDate(match?.[2]);
  if (match === null || until === undefined) return undefined;
  return { action: match[1] as ScheduledHostAction, until };
}

/**
 * The retries stop a minute before the window ends, so the tick that gives up never runs beside
 * the scheduled action due at that time (both fire on the minute): its clearing write could
 * otherwise erase the mark a failure of that action has just written.
 */
export const SCHEDULED_RETRY_MARGIN_MS = 60_000;

/**
 * What a tick does about a pending scheduled action. act: call EC2 now (and clear the mark once EC2
 * took it); wait: the host is between states, try on a later tick; done: the host is already
 * where the action wanted it; missed: the window ended or the host is gone. Done and missed clear
 * the mark.
 */
export interface ScheduledRetryDecision {
  readonly kind: 'act' | 'wait' | 'done' | 'missed';
  readonly action: ScheduledHostAction;
  /** In words, for the log line and the alarm's reader. */
  readonly reason: string;
}

/** Decides the retry of a pending scheduled action from the app host's state and the time. */
export function decideScheduledRetry(
  pending: PendingScheduledAction,
  appState: InstanceState,
  now: Date,
): ScheduledRetryDecision {
  const { action, until } = pending;
  const what = `scheduled ${action} of the app host`;
  const decision = (kind: ScheduledRetryDecision['kind'], reason: string): ScheduledRetryDecision => ({
    kind,
    action,
    reason,
  });
  const arrived =
    action === 'start'
      ? ['running', 'pending'].includes(appState)
      : ['stopped', 'stopping'].includes(appState);
  if (arrived) return decision('done', `${what}: the app host is ${appState}; no retry needed`);
  const byHand = `npx gpu-manage ${action}-app does it by hand`;
  if (appState === 'terminated' || appState === 'shutting-down') {
    return decision('missed', `${what} given up: the app host is ${appState}`);
  }
  if (now.getTime() >= until.getTime() - SCHEDULED_RETRY_MARGIN_MS) {
    return decision(
      'missed',
      `${what} given up: its window ends at ${isoSeconds(until)} and the app host is still ${appState}; ${byHand}`,
    );
  }
  // Stopping before a start, pending before a stop: EC2 refuses the action until the host settles.
  if (appState === 'stopping' || appState === 'pending') {
    return decision('wait', `${what} waits: the app host is ${appState}; retried once it settles`);
  }
  return decision('act', `${what} failed earlier: retrying it (every minute until ${isoSeconds(until)})`);
}
