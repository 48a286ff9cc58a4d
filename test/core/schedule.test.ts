import { DEFAULT_CONFIG } from '../../src/config';
import { isHoliday, localDate, nextScheduledStart, scheduledWeekDays } from '../../src/core/schedule';

const tokyo = DEFAULT_CONFIG.schedule;

describe('the schedule around midnight, DST and its edges', () => {
  it('dates in the schedule zone, not UTC: 15:00 UTC is already tomorrow in Tokyo', () => {
    expect(localDate(new Date('2026-11-24T14:59:59Z'), 'Asia/Tokyo')).toBe('2026-11-24');
    expect(localDate(new Date('2026-11-24T15:00:00Z'), 'Asia/Tokyo')).toBe('2026-11-25');
    const holiday = { timeZone: 'Asia/Tokyo', holidays: ['2026-11-25'] };
    expect(isHoliday(new Date('2026-11-24T14:59:59Z'), holiday)).toBe(false);
    expect(isHoliday(new Date('2026-11-24T15:00:00Z'), holiday)).toBe(true);
  });

  it('a start exactly now is not the next one: 09:00 Tokyo on the dot → tomorrow', () => {
    expect(nextScheduledStart(new Date('2026-11-24T00:00:00Z'), tokyo)?.toISOString()).toBe(
      '2026-11-25T00:00:00.000Z',
    );
    expect(nextScheduledStart(new Date('2026-11-23T23:59:59Z'), tokyo)?.toISOString()).toBe(
      '2026-11-24T00:00:00.000Z',
    );
  });

  it('keeps the wall-clock hour across a DST change (New York, 8 March 2026)', () => {
    const ny = { timeZone: 'America/New_York', holidays: [], startHour: 9, weekDays: 'MON-FRI' };
    // Friday 6 March 09:00 EST = 14:00 UTC; Monday 9 March 09:00 EDT = 13:00 UTC.
    expect(nextScheduledStart(new Date('2026-03-06T12:00:00Z'), ny)?.toISOString()).toBe(
      '2026-03-06T14:00:00.000Z',
    );
    expect(nextScheduledStart(new Date('2026-03-06T15:00:00Z'), ny)?.toISOString()).toBe(
      '2026-03-09T13:00:00.000Z',
    );
  });

  it('reads day lists that wrap the week, in any case, and ignores names it does not know', () => {
    expect([...scheduledWeekDays('FRI-MON')].sort()).toEqual([0, 4, 5, 6]);
    expect([...scheduledWeekDays(' mon ,wed')].sort()).toEqual([0, 2]);
    expect([...scheduledWeekDays('MONDAY')]).toEqual([]);
    expect([...scheduledWeekDays('SUN')]).toEqual([6]);
  });

  it('gives no start when none falls within the days it looks ahead', () => {
    const never = { ...tokyo, weekDays: 'SUN', holidays: ['2026-11-29', '2026-12-06'] };
    expect(nextScheduledStart(new Date('2026-11-24T03:00:00Z'), never, 13)).toBeUndefined();
    expect(nextScheduledStart(new Date('2026-11-24T03:00:00Z'), never, 20)?.toISOString()).toBe(
      '2026-12-13T00:00:00.000Z',
    );
  });
});
