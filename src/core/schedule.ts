import type { ScheduleConfig } from '../config.js';

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
    // The wall-clock time read as UTC, moved by the zone's offset (checked twice across a DST change).
    let at = new Date(wallClock - zoneOffsetMs(new Date(wallClock), schedule.timeZone));
    at = new Date(wallClock - zoneOffsetMs(at, schedule.timeZone));
    const weekDay = (new Date(wallClock).getUTCDay() + 6) % 7;
    if (at > now && days.has(weekDay) && !isHoliday(at, schedule)) return at;
  }
  return undefined;
}
