import { DEFAULT_CONFIG } from '../../src/config';
import { BOOT_TIMEOUT_PAUSE_MINUTES } from '../../src/core/decide';
import { SIM_GPU_ID } from '../../src/sim/fleet-model';
import { simulate } from '../../src/sim/simulate';
import type { TraceJob } from '../../src/sim/trace';
import {
  billedWithoutAJob,
  mostBurstLaunchesWithin,
  neverReadyRuns,
  retiresTooSoonAfterAJob,
  startsSoonAfterAStop,
} from './invariants';
import { simOptions as options, trace } from './support';

const burstDefaults = DEFAULT_CONFIG.burst;
const scaler = DEFAULT_CONFIG.scaler;

/** A burst of `size` short jobs, then one job a minute for `minutes` minutes. */
function burstThenSteady(size: number, minutes: number, serviceS = 20): TraceJob[] {
  const burst = Array.from({ length: size }, () => ({ arrivalS: 0, serviceS: 60 }));
  const steady = Array.from({ length: minutes }, (_, i) => ({ arrivalS: 300 + i * 60, serviceS }));
  return [...burst, ...steady];
}

const isBurst = (worker: string): boolean => worker !== SIM_GPU_ID;

describe('no GPU billed for nothing, on a fleet as harsh as EC2', () => {
  it('burst workers that never become ready: at most maxWorkers launches per boot-timeout pause, not a relaunch on every retire', async () => {
    const report = await simulate(trace('bursty-day'), options(3, { burstNeverReadyShare: 1 }));
    expect(mostBurstLaunchesWithin(report.events, BOOT_TIMEOUT_PAUSE_MINUTES)).toBeLessThanOrEqual(3);
    for (const run of neverReadyRuns(report.events))
      expect(run.seconds).toBeLessThanOrEqual((burstDefaults.bootTimeoutMinutes + 2) * 60);
  });

  it('a primary that never becomes ready is stopped at its boot limit while burst workers run the jobs', async () => {
    // Two hours of work for three burst workers: jobs are in flight (theirs) at every tick.
    const jobs = Array.from({ length: 180 }, () => ({ arrivalS: 0, serviceS: 120 }));
    const report = await simulate(jobs, options(3, { primaryNeverReady: true }));
    const primaryRuns = neverReadyRuns(report.events).filter((r) => r.worker === SIM_GPU_ID);
    expect(primaryRuns.length).toBeGreaterThan(0);
    for (const run of primaryRuns)
      expect(run.seconds).toBeLessThanOrEqual((scaler.firstBootTimeoutMinutes + 2) * 60);
  });

  it('after a boot timeout the primary is not started again within the pause, even when burst workers empty the queue', async () => {
    const report = await simulate(trace('bursts-and-singles-day'), options(3, { primaryNeverReady: true }));
    expect(startsSoonAfterAStop(report.events, BOOT_TIMEOUT_PAUSE_MINUTES)).toEqual([]);
  });

  it('a steady job a minute spread over every worker: no burst worker idles past burst.idleMinutes, none retired sooner', async () => {
    const report = await simulate(burstThenSteady(40, 120), options(3));
    expect(report.burst.launches).toBeGreaterThan(0);
    expect(retiresTooSoonAfterAJob(report.events, burstDefaults.idleMinutes)).toEqual([]);
    expect(billedWithoutAJob(report.events, burstDefaults.idleMinutes + 4, isBurst)).toEqual([]);
  });

  it('burst workers launched for a backlog the primary clears first are cancelled while they boot', async () => {
    // 12 jobs of 8 s: the primary (ready at 180 s) takes the last at 268 s; a burst worker would be ready at 360 s.
    const jobs = Array.from({ length: 12 }, () => ({ arrivalS: 0, serviceS: 8 }));
    const report = await simulate(jobs, options(3));
    expect(report.burst.launches).toBeGreaterThan(0);
    expect(report.events.filter((e) => e.type === 'burst-ready')).toEqual([]);
  });
});
