import fc from 'fast-check';
import { DEFAULT_CONFIG } from '../../src/config';
import { DEFAULT_FLEET_MODEL, type FleetModelOptions } from '../../src/sim/fleet-model';
import { simulate } from '../../src/sim/simulate';
import type { TraceJob } from '../../src/sim/trace';
import { stopsBusyOrTooSoon } from './invariants';
import { randomJobs, trace } from './support';

const scaler = DEFAULT_CONFIG.scaler;
/** A run of the default scaler on one GPU, with these faults, at this price. */
const run = (jobs: readonly TraceJob[], fleet: Partial<FleetModelOptions> = {}, gpuUsdPerHour = 0.21) =>
  simulate(jobs, { scaler, fleet: { ...DEFAULT_FLEET_MODEL, ...fleet }, gpuUsdPerHour });

describe('simulate: EC2 is not kind', () => {
  it('injects spot interruptions with a seed: the same seed replays the same day, every job still ends once', async () => {
    const jobs = trace('bursty-day');
    const fleet = { interruptionsPerHour: 2, seed: 7 };
    const first = await run(jobs, fleet);
    const again = await run(jobs, fleet);
    const other = await run(jobs, { ...fleet, seed: 8 });
    expect(first.interruptions).toBeGreaterThan(0);
    expect(again).toEqual(first);
    expect(other.events).not.toEqual(first.events);
    const ends = first.events.filter((e) => e.type === 'job-end').map((e) => e.job);
    expect(new Set(ends).size).toBe(jobs.length);
    expect(ends).toHaveLength(jobs.length);
    // The scaler never starts an interrupted GPU itself: EC2 does (a start follows each interruption's restart).
    const calm = await run(jobs);
    expect(first.jobs.waitP95S).toBeGreaterThanOrEqual(calm.jobs.waitP95S);
  });

  it('injects capacity failures: refused starts are retried with back-off, and the work still gets done', async () => {
    const jobs = trace('trickle-day');
    const report = await run(jobs, { capacityFailureRate: 0.5, seed: 3 });
    expect(report.capacityFailures).toBeGreaterThan(0);
    expect(report.events.filter((e) => e.type === 'job-end')).toHaveLength(jobs.length);
    const refused = report.events.filter((e) => e.type === 'start-refused').map((e) => e.t);
    // Back-off: never two refused starts on consecutive ticks.
    for (let i = 1; i < refused.length; i += 1) {
      const gap = (refused[i] ?? 0) - (refused[i - 1] ?? 0);
      if (gap < 3600) expect(gap).toBeGreaterThanOrEqual(60);
    }
  });

  it('lags the queue counts on request: a tick sees the queue as it was that many seconds ago', async () => {
    // 11 jobs at 30 s: with counts 45 s late, tick 60 still sees the empty queue of 15 s.
    const jobs = Array.from({ length: 11 }, () => ({ arrivalS: 30, serviceS: 5 }));
    const prompt = await run(jobs);
    const late = await run(jobs, { countLagS: 45 });
    const firstStart = (r: typeof prompt) => r.events.find((e) => e.type === 'start')?.t;
    expect(firstStart(prompt)).toBe(60);
    expect(firstStart(late)).toBe(120);
  });

  it('bills from running (not from StartInstances) to stopped', async () => {
    // One job at 0 (seen by tick 0): started at the 15-minute maximum wait, running 30 s later.
    const report = await run([{ arrivalS: 0, serviceS: 10 }], {}, 1);
    const at = (type: string) => report.events.find((e) => e.type === type)?.t ?? Number.NaN;
    expect(at('start')).toBe(900);
    expect(report.gpuHours).toBeCloseTo((at('stopped') - (900 + 30)) / 3600, 4);
  });

  it('reports both baselines: always on 24/7, and always on during the app host’s schedule', async () => {
    const report = await run(trace('weekday-month'));
    // 10 hours (09–19) on each weekday the trace covers, day 0 a Monday.
    const endDays = report.alwaysOn.gpuHours / 24;
    let weekdays = 0;
    for (let d = 0; d < Math.ceil(endDays); d += 1) if (d % 7 < 5) weekdays += 1;
    expect(report.alwaysOnSchedule.gpuHours).toBeLessThanOrEqual(weekdays * 10);
    expect(report.alwaysOnSchedule.gpuHours).toBeGreaterThan((weekdays - 1) * 10);
    expect(report.alwaysOn.gpuHours).toBeGreaterThan(report.alwaysOnSchedule.gpuHours * 3);
  });

  it('keeps its invariants under random faults and lagging counts: every job ends once, no stop in flight or sooner than idleMinutes after a job', async () => {
    await fc.assert(
      fc.asyncProperty(
        randomJobs(4, 600, 40),
        fc.double({ min: 0, max: 3, noNaN: true }),
        fc.double({ min: 0, max: 0.8, noNaN: true }),
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 0, max: 120 }),
        async (jobs, interruptionsPerHour, capacityFailureRate, seed, countLagS) => {
          const report = await run(jobs, { interruptionsPerHour, capacityFailureRate, seed, countLagS });
          const ends = report.events.filter((e) => e.type === 'job-end').map((e) => e.job);
          expect(new Set(ends).size).toBe(jobs.length);
          expect(ends).toHaveLength(jobs.length);
          expect(stopsBusyOrTooSoon(report.events, scaler.idleMinutes, false)).toEqual([]);
        },
      ),
      { numRuns: 30, seed: 20261124 },
    );
  });
});
