import { DEFAULT_CONFIG, type ScheduleConfig } from '../../src/config';
import { endScheduledRetries } from '../../src/core/operator';
import type { InstanceState } from '../../src/core/model';
import {
  type PendingScheduledAction,
  SCHEDULED_RETRY_MARGIN_MS,
  decideScheduledRetry,
  encodePendingScheduledAction,
  parsePendingScheduledAction,
  scheduledActionWindowEnd,
} from '../../src/core/schedule';
import { TAGS } from '../../src/core/tags';

const tokyo = {
  ...DEFAULT_CONFIG.schedule,
  timeZone: 'Asia/Tokyo',
  startHour: 9,
  stopHour: 19,
  holidays: [],
};
const at = (iso: string): Date => new Date(iso);
const windowEnd = (action: 'start' | 'stop', iso: string, schedule: ScheduleConfig = tokyo): Date =>
  scheduledActionWindowEnd(action, at(iso), schedule);

describe('the window of a failed scheduled action', () => {
  it('a start is worth retrying until that day’s stopHour, in the schedule’s zone', () => {
    // Wednesday 09:00 Tokyo → 19:00 Tokyo the same day.
    expect(windowEnd('start', '2026-11-25T00:00:00Z')).toEqual(at('2026-11-25T10:00:00Z'));
    // 08:30 Tokyo is still the 25th there, though the 24th in UTC.
    expect(windowEnd('start', '2026-11-24T23:30:00Z')).toEqual(at('2026-11-25T10:00:00Z'));
  });

  it('keeps the wall-clock stop hour across a DST change (New York)', () => {
    const ny = { ...tokyo, timeZone: 'America/New_York', stopHour: 17 };
    // 8 March 2026 is the change to EDT: 17:00 is 21:00 UTC, the day before 22:00 UTC.
    expect(windowEnd('start', '2026-03-09T13:00:00Z', ny)).toEqual(at('2026-03-09T21:00:00Z'));
    expect(windowEnd('start', '2026-03-06T14:00:00Z', ny)).toEqual(at('2026-03-06T22:00:00Z'));
  });

  it('on the morning DST begins, a window ending at 09:00 ends at 09:00 daylight time (New York)', () => {
    // 8 March 2026: clocks go from 02:00 EST to 03:00 EDT (07:00 UTC); 09:00 EDT is 13:00 UTC.
    const ny = { ...tokyo, timeZone: 'America/New_York', stopHour: 9 };
    expect(windowEnd('start', '2026-03-08T12:00:00Z', ny)).toEqual(at('2026-03-08T13:00:00Z'));
  });

  it('a stop is retried until the next scheduled start: the next morning, or Monday after a Friday', () => {
    expect(windowEnd('stop', '2026-11-25T10:00:00Z')).toEqual(at('2026-11-26T00:00:00Z'));
    expect(windowEnd('stop', '2026-11-27T10:00:00Z')).toEqual(at('2026-11-30T00:00:00Z'));
  });

  it('a stop with no scheduled start in 14 days ahead is retried for 14 days', () => {
    const days = Array.from({ length: 20 }, (_, i) =>
      new Date(Date.UTC(2026, 10, 25 + i)).toISOString().slice(0, 10),
    );
    expect(windowEnd('stop', '2026-11-25T10:00:00Z', { ...tokyo, holidays: days })).toEqual(
      at('2026-12-09T10:00:00Z'),
    );
  });
});

describe('the scheduled-action tag', () => {
  it('reads back what it writes, to the second', () => {
    const pending: PendingScheduledAction = { action: 'stop', until: at('2026-11-26T00:00:00.250Z') };
    const value = encodePendingScheduledAction(pending);
    expect(value).toBe('stop until 2026-11-26T00:00:00Z');
    expect(parsePendingScheduledAction(value)).toEqual({ action: 'stop', until: at('2026-11-26T00:00:00Z') });
    expect(parsePendingScheduledAction('start until 2026-11-25T10:00:00Z')).toEqual({
      action: 'start',
      until: at('2026-11-25T10:00:00Z'),
    });
  });

  it.each([
    [undefined],
    [''],
    ['reboot until 2026-11-25T10:00:00Z'],
    ['start until tomorrow'],
    ['start until'],
    ['xstart until 2026-11-25T10:00:00Z'],
    ['start until 2026-11-25T10:00:00Z later'],
    ['start  until 2026-11-25T10:00:00Z'],
  ])('reads %j as nothing pending', (value) => {
    expect(parsePendingScheduledAction(value)).toBeUndefined();
  });
});

describe('the retry of a failed scheduled action', () => {
  const start: PendingScheduledAction = { action: 'start', until: at('2026-11-25T10:00:00Z') };
  const stop: PendingScheduledAction = { action: 'stop', until: at('2026-11-26T00:00:00Z') };
  const noon = at('2026-11-25T03:00:00Z');

  it.each<[PendingScheduledAction, InstanceState, string]>([
    [start, 'stopped', 'act'],
    [start, 'stopping', 'wait'],
    [start, 'running', 'done'],
    [start, 'pending', 'done'],
    [start, 'terminated', 'missed'],
    [start, 'shutting-down', 'missed'],
    [stop, 'running', 'act'],
    [stop, 'pending', 'wait'],
    [stop, 'stopped', 'done'],
    [stop, 'stopping', 'done'],
    [stop, 'terminated', 'missed'],
    [stop, 'shutting-down', 'missed'],
  ])('%j with the app host %s in its window: %s', (pending, state, kind) => {
    expect(decideScheduledRetry(pending, state, noon)).toMatchObject({ kind, action: pending.action });
  });

  it('retries up to a minute before the window ends, then gives up and says how to act by hand', () => {
    const lastTry = new Date(start.until.getTime() - SCHEDULED_RETRY_MARGIN_MS - 1);
    expect(decideScheduledRetry(start, 'stopped', lastTry)).toEqual({
      kind: 'act',
      action: 'start',
      reason:
        'scheduled start of the app host failed earlier: retrying it (every minute until 2026-11-25T10:00:00Z)',
    });
    const givenUp = new Date(start.until.getTime() - SCHEDULED_RETRY_MARGIN_MS);
    expect(SCHEDULED_RETRY_MARGIN_MS).toBe(60_000);
    expect(decideScheduledRetry(start, 'stopped', givenUp)).toEqual({
      kind: 'missed',
      action: 'start',
      reason:
        'scheduled start of the app host given up: its window ends at 2026-11-25T10:00:00Z and the app host is still stopped; npx gpu-manage start-app does it by hand',
    });
    expect(decideScheduledRetry(stop, 'pending', at('2026-11-27T00:00:00Z'))).toMatchObject({
      kind: 'missed',
      reason: expect.stringContaining('npx gpu-manage stop-app does it by hand'),
    });
  });

  it('a host already where the action wanted it is done, even after the window', () => {
    expect(decideScheduledRetry(start, 'running', at('2026-11-25T12:00:00Z'))).toEqual({
      kind: 'done',
      action: 'start',
      reason: 'scheduled start of the app host: the app host is running; no retry needed',
    });
  });

  it('says why it waits and why it gave up on a host that is gone', () => {
    expect(decideScheduledRetry(stop, 'pending', noon).reason).toBe(
      'scheduled stop of the app host waits: the app host is pending; retried once it settles',
    );
    expect(decideScheduledRetry(stop, 'terminated', noon).reason).toBe(
      'scheduled stop of the app host given up: the app host is terminated',
    );
  });
});

describe("an operator's start or stop of the app host", () => {
  it('clears a pending scheduled action, and writes nothing when none is pending', () => {
    expect(endScheduledRetries({ [TAGS.scheduledAction]: 'start until 2026-11-25T10:00:00Z' })).toEqual({
      [TAGS.scheduledAction]: '',
    });
    expect(endScheduledRetries({ [TAGS.scheduledAction]: '' })).toEqual({});
    expect(endScheduledRetries({})).toEqual({});
  });
});
