import type { ScheduleConfig } from '../../lib/config.js';

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
