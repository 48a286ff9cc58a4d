import { DEFAULT_CONFIG } from '../../src/config';
import { changedTags, checkOperatorTime, pauseUntil, planTarget, startTags } from '../../src/core/operator';
import { nextScheduledStart } from '../../src/core/schedule';

const schedule = DEFAULT_CONFIG.schedule;
const now = new Date('2026-11-24T03:00:00Z');
/** When a pause from `now` ends, given the schedule and the end asked for, as an ISO string. */
const pauseEnd = (asked?: string, pauseSchedule = schedule): string =>
  pauseUntil(now, pauseSchedule, asked === undefined ? undefined : new Date(asked)).toISOString();

describe('nextScheduledStart', () => {
  it.each([
    ['2026-11-24T03:00:00Z', '2026-11-25T00:00:00Z'], // Tue 12:00 Tokyo → Wed 09:00
    ['2026-11-23T23:59:00Z', '2026-11-24T00:00:00Z'], // Tue 08:59 Tokyo → the same morning
    ['2026-11-27T11:00:00Z', '2026-11-30T00:00:00Z'], // Fri 20:00 Tokyo → Mon 09:00
  ])('%s → %s', (from, next) => {
    expect(nextScheduledStart(new Date(from), schedule)?.toISOString()).toBe(new Date(next).toISOString());
  });

  it('skips holidays and honours other zones and day lists', () => {
    const holidays = { ...schedule, holidays: ['2026-11-30'] };
    expect(nextScheduledStart(new Date('2026-11-27T11:00:00Z'), holidays)?.toISOString()).toBe(
      '2026-12-01T00:00:00.000Z',
    );
    // New York in summer (UTC-4), Mondays and Wednesdays at 8.
    const ny = { timeZone: 'America/New_York', holidays: [], startHour: 8, weekDays: 'MON,WED' };
    expect(nextScheduledStart(new Date('2026-07-07T12:00:00Z'), ny)?.toISOString()).toBe(
      '2026-07-08T12:00:00.000Z',
    );
  });
});

describe('pauseUntil', () => {
  it('defaults to the next scheduled start, and never lies more than 7 days ahead', () => {
    expect(pauseEnd()).toBe('2026-11-25T00:00:00.000Z');
    const sundaysOnly = { ...schedule, weekDays: 'SUN', holidays: ['2026-11-29'] };
    expect(pauseEnd(undefined, sundaysOnly)).toBe('2026-12-01T03:00:00.000Z');
    expect(pauseEnd('2026-11-24T05:00:00Z')).toBe('2026-11-24T05:00:00.000Z');
  });
});

describe('planTarget: one table for the CLI and the Lambda', () => {
  it.each([
    ['start', 'app', 'stopped', undefined, 'act'],
    ['start', 'gpu', 'running', undefined, 'done'],
    ['start', 'gpu', 'stopping', undefined, 'refused'],
    ['start', 'gpu', 'stopped', 'Server.SpotInstanceShutdown', 'refused'],
    ['start', 'app', 'terminated', undefined, 'refused'],
    ['stop', 'gpu', 'running', undefined, 'act'],
    ['stop', 'gpu', 'pending', undefined, 'deferred'],
    ['stop', 'app', 'pending', undefined, 'refused'],
    ['stop', 'app', 'stopped', undefined, 'done'],
  ] as const)('%s %s when %s (%s) → %s', (action, role, state, stateReasonCode, kind) => {
    expect(planTarget(action, { role, instanceId: 'i-x', state, stateReasonCode }).kind).toBe(kind);
  });

  it.each([
    [
      'start',
      'gpu',
      'shutting-down',
      undefined,
      'gpu i-x is shutting-down; it cannot be started (redeploy the compute stack).',
    ],
    [
      'stop',
      'app',
      'terminated',
      undefined,
      'app i-x is terminated; it cannot be stopped (redeploy the compute stack).',
    ],
    ['start', 'gpu', 'pending', undefined, 'gpu i-x is already pending.'],
    [
      'start',
      'gpu',
      'stopping',
      undefined,
      'gpu i-x is stopping; start it once it has stopped (try again in a minute).',
    ],
    [
      'start',
      'gpu',
      'stopped',
      'Server.SpotInstanceShutdown',
      'gpu i-x was stopped by a spot interruption; only EC2 can start it again, which it does when capacity returns.',
    ],
    // Only the GPU has a spot request: the app host starts whatever stopped it.
    ['start', 'app', 'stopped', 'Server.SpotInstanceShutdown', 'Starting app i-x (was stopped).'],
    ['stop', 'gpu', 'stopping', undefined, 'gpu i-x is already stopping.'],
    [
      'stop',
      'gpu',
      'pending',
      undefined,
      'gpu i-x is still starting (pending); the scaler stops it as soon as it runs.',
    ],
    [
      'stop',
      'app',
      'pending',
      undefined,
      'app i-x is still starting (pending); stop it once it runs (try again in a minute).',
    ],
    ['stop', 'gpu', 'running', undefined, 'Stopping gpu i-x (was running).'],
  ] as const)('says what %s of %s when %s (%s) means', (action, role, state, stateReasonCode, note) => {
    expect(planTarget(action, { role, instanceId: 'i-x', state, stateReasonCode }).note).toBe(note);
  });

  it('writes only the tags that change', () => {
    expect(changedTags({ a: '1', b: '' }, { a: '1', b: '', c: '' })).toEqual({});
    expect(changedTags({ a: '1' }, { a: '', b: 'x' })).toEqual({ a: '', b: 'x' });
  });
});

describe('checkOperatorTime and the pause limit', () => {
  it('takes a time in the future, at most 7 days ahead, and says why not otherwise', () => {
    expect(checkOperatorTime(new Date('2026-11-24T05:00:00Z'), now)).toBeUndefined();
    expect(checkOperatorTime(new Date('2026-12-01T03:00:00Z'), now)).toBeUndefined();
    expect(checkOperatorTime(new Date('2026-12-01T03:00:01Z'), now)).toBe('lies more than 7 days ahead');
    expect(checkOperatorTime(now, now)).toBe('lies in the past');
    expect(checkOperatorTime(new Date('2026-11-24T02:59:59Z'), now)).toBe('lies in the past');
    expect(checkOperatorTime(new Date('soon'), now)).toBe('is not a time');
  });

  it('caps a pause at 7 days, and keeps one exactly at the limit', () => {
    expect(pauseEnd('2026-12-09T00:00:00Z')).toBe('2026-12-01T03:00:00.000Z');
    expect(pauseEnd('2026-12-01T03:00:00Z')).toBe('2026-12-01T03:00:00.000Z');
  });
});

describe('startTags: the burst workers a start holds', () => {
  const hold = new Date('2026-11-24T05:00:00Z');
  it('keeps the number only with a hold and at least one worker; otherwise clears it', () => {
    expect(startTags(hold, 2)).toEqual({
      'gpu-fleet:paused-until': '',
      'gpu-fleet:hold-until': '2026-11-24T05:00:00Z',
      'gpu-fleet:burst-hold-workers': '2',
    });
    expect(startTags(hold, 0)['gpu-fleet:burst-hold-workers']).toBe('');
    expect(startTags(hold, null)['gpu-fleet:burst-hold-workers']).toBe('');
    expect(startTags(undefined, 2)).toEqual({
      'gpu-fleet:paused-until': '',
      'gpu-fleet:burst-hold-workers': '',
    });
    // `hold` extending a hold leaves the number as it is.
    expect(startTags(hold)).toEqual({
      'gpu-fleet:paused-until': '',
      'gpu-fleet:hold-until': '2026-11-24T05:00:00Z',
    });
  });
});
