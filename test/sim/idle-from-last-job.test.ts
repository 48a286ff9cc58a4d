import { DEFAULT_CONFIG } from '../../src/config';
import { type SimulationReport, simulate } from '../../src/sim/simulate';
import { trace } from './support';

const scaler = DEFAULT_CONFIG.scaler;
const fleet = { readyDelayS: 180, stopDelayS: 60, concurrency: 1 };

/** Seconds from each stop back to the end of the last job before it (Infinity when none ran). */
function stopGapsAfterJobs(report: SimulationReport): number[] {
  let lastEnd = Number.NEGATIVE_INFINITY;
  const gaps: number[] = [];
  for (const event of report.events) {
    if (event.type === 'job-end') lastEnd = event.t;
    if (event.type === 'stop') gaps.push(event.t - lastEnd);
  }
  return gaps;
}

describe('idle counts from the end of the last job', () => {
  it('a 30-second job every 4 min 50 s keeps the GPU up: one start in a day', async () => {
    const period = 4 * 60 + 50;
    const jobs = Array.from({ length: Math.floor(86_400 / period) }, (_, i) => ({
      arrivalS: i * period,
      serviceS: 30,
    }));
    // A day of work: the hard limit (maxRunHours, 12 by default) is lifted to see the idle rule alone.
    const report = await simulate(jobs, {
      scaler: { ...scaler, maxRunHours: 24 },
      fleet,
      gpuUsdPerHour: 0.21,
    });
    expect(report.starts).toBe(1);
    expect(report.stops).toBe(1);
    for (const gap of stopGapsAfterJobs(report)) expect(gap).toBeGreaterThanOrEqual(scaler.idleMinutes * 60);
  });

  it.each(['weekday-month', 'bursty-day', 'trickle-day'])(
    'in traces/%s.csv no stop comes sooner than idleMinutes after a job ended',
    async (name) => {
      const report = await simulate(trace(name), { scaler, fleet, gpuUsdPerHour: 0.21 });
      const early = stopGapsAfterJobs(report).filter((gap) => gap < scaler.idleMinutes * 60);
      expect(early).toEqual([]);
    },
  );
});
