import { DEFAULT_CONFIG } from '../../src/config';
import { DEFAULT_FLEET_MODEL, type SimEvent } from '../../src/sim/fleet-model';
import { type SimulationReport, simulate } from '../../src/sim/simulate';
import { SWEEP_BURST_WORKERS, SWEEP_MAX_WAIT_MINUTES, renderSweep, sweep } from '../../src/sim/sweep';
import { type TraceJob, seededRandom } from '../../src/sim/trace';
import { simOptions as options, trace } from './support';

const figures = (r: SimulationReport) => [
  r.gpuHours,
  r.costUsd,
  r.starts,
  r.stops,
  r.jobs.waitP50S,
  r.jobs.waitP95S,
  r.jobs.waitMaxS,
  r.interruptions,
  r.capacityFailures,
];

/** Every burst worker's retire: when, and when that worker last became ready or ended a job. */
function retiresWithLastActivity(
  events: readonly SimEvent[],
): Array<{ t: number; worker: string; lastActivity: number }> {
  const last = new Map<string, number>();
  const found: Array<{ t: number; worker: string; lastActivity: number }> = [];
  for (const e of events) {
    if (e.type === 'burst-ready' || e.type === 'job-end' || e.type === 'job-start') last.set(e.worker, e.t);
    if (e.type === 'burst-retire')
      found.push({ t: e.t, worker: e.worker, lastActivity: last.get(e.worker) ?? NaN });
  }
  return found;
}

describe('simulate with burst workers', () => {
  it('maxWorkers 0 gives the figures main gave before burst workers existed, on the three traces, with and without faults', async () => {
    // Measured on main at faa37af (before this change) with the default configuration.
    const before: Record<string, { plain: number[]; faults: number[] }> = {
      'bursty-day': {
        plain: [1.575, 0.3308, 3, 3, 856, 1413, 1512, 0, 0],
        faults: [1.575, 0.3308, 3, 3, 902, 1526, 1692, 0, 2],
      },
      'trickle-day': {
        plain: [2.2167, 0.4655, 14, 14, 1080, 1080, 1080, 0, 0],
        faults: [2.2167, 0.4655, 14, 14, 1080, 1500, 1500, 0, 9],
      },
      'weekday-month': {
        plain: [47.1833, 9.9085, 44, 44, 14, 1016, 1110, 0, 0],
        faults: [46.1, 9.681, 62, 44, 182, 1080, 2464, 18, 16],
      },
    };
    const faults = { interruptionsPerHour: 0.5, capacityFailureRate: 0.3, seed: 7 };
    for (const [name, expected] of Object.entries(before)) {
      const jobs = trace(name);
      expect(figures(await simulate(jobs, options(0)))).toEqual(expected.plain);
      expect(figures(await simulate(jobs, options(0, faults)))).toEqual(expected.faults);
      // No burst options at all is the same run.
      const bare = await simulate(jobs, { scaler: DEFAULT_CONFIG.scaler, gpuUsdPerHour: 0.21 });
      expect(figures(bare)).toEqual(expected.plain);
      expect(bare.burst).toMatchObject({ launches: 0, spotHours: 0, onDemandHours: 0, costUsd: 0 });
    }
  });

  it('scale-out: three burst workers cut the waits of a bursty day; gpuHours is the total, each worker billed by market', async () => {
    const jobs = trace('bursty-day');
    const one = await simulate(jobs, options(0));
    const four = await simulate(jobs, options(3));
    expect(four.burst.peakWorkers).toBe(3);
    expect(four.jobs.waitP50S).toBeLessThan(one.jobs.waitP50S * 0.7);
    expect(four.jobs.waitP95S).toBeLessThan(one.jobs.waitP95S * 0.5);
    expect(four.gpuHours).toBeCloseTo(
      four.primaryGpuHours + four.burst.spotHours + four.burst.onDemandHours,
      3,
    );
    expect(four.costUsd).toBeCloseTo(four.primaryGpuHours * 0.21 + four.burst.spotHours * 0.21, 3);
    // Every job ran once to its end, on some worker, and events say which.
    const ends = four.events.filter((e) => e.type === 'job-end');
    expect(ends).toHaveLength(jobs.length);
    expect(new Set(ends.map((e) => e.worker)).size).toBe(1 + four.burst.launches);
  });

  it('the plan on batches of half the start backlog every quarter hour, one GPU: the figures the docs quote', async () => {
    const jobs: TraceJob[] = [];
    for (let k = 0; k < 36; k += 1) {
      for (let j = 0; j < 6; j += 1) jobs.push({ arrivalS: 32_410 + k * 900 + j * 2, serviceS: 60 });
    }
    const plan = await simulate(jobs, options(0));
    expect([plan.gpuHours, plan.starts, plan.jobs.waitP95S]).toEqual([5.3, 12, 1420]);
  });

  it('scale-in: no burst worker goes sooner than burst.idleMinutes after its last job, none with a job running', async () => {
    for (const [name, n] of [
      ['bursty-day', 3],
      ['bursts-and-singles-day', 4],
      ['weekday-month', 2],
    ] as const) {
      const report = await simulate(trace(name), options(n, { interruptionsPerHour: 0.3, seed: 3 }));
      const retires = retiresWithLastActivity(report.events);
      expect(retires.length).toBeGreaterThan(0);
      // A worker cancelled while it booted (no ready, no job) held nothing.
      for (const r of retires.filter((x) => !Number.isNaN(x.lastActivity)))
        expect(r.t - r.lastActivity).toBeGreaterThanOrEqual(DEFAULT_CONFIG.burst.idleMinutes * 60);
      expect(report.burst.retiredBusy).toBe(0);
      expect(report.events.filter((e) => e.type === 'job-end')).toHaveLength(report.jobs.count);
    }
  });

  it('scale-in with jobs longer than idleMinutes: a worker deep in a long job is never retired', async () => {
    // Bursts of 25 jobs of 30 s to 8 minutes: a worker's last-job tag (its job's start) grows old
    // while the job runs, and only the queue's in-flight count says work is still going on.
    const random = seededRandom(99);
    const jobs: TraceJob[] = [];
    for (const at of [9 * 3600, 11 * 3600, 14 * 3600]) {
      for (let i = 0; i < 25; i += 1) {
        jobs.push({ arrivalS: at + Math.floor(random() * 120), serviceS: 30 + Math.floor(random() * 450) });
      }
    }
    jobs.sort((a, b) => a.arrivalS - b.arrivalS);
    // Also with queue counts a minute old: a job that just started shows in its worker's tag at once.
    for (const fleet of [{}, { countLagS: 60 }]) {
      const report = await simulate(jobs, options(3, fleet));
      expect(report.burst.retires).toBeGreaterThan(0);
      expect(report.burst.retiredBusy).toBe(0);
      for (const r of retiresWithLastActivity(report.events)) {
        expect(r.t - r.lastActivity).toBeGreaterThanOrEqual(DEFAULT_CONFIG.burst.idleMinutes * 60);
      }
    }
  });

  it('burst workers that never become ready (a broken image) each cost at most the boot timeout, not the first-boot hour', async () => {
    const jobs = trace('bursty-day');
    const broken = await simulate(jobs, options(3, { burstReadyDelayS: 1e9 }));
    const one = await simulate(jobs, options(0));
    const timeoutHours = DEFAULT_CONFIG.burst.bootTimeoutMinutes / 60;
    expect(broken.burst.launches).toBeGreaterThan(0);
    // Each launch bills its boot timeout, plus up to a tick to notice and the stop delay.
    const perLaunch = timeoutHours + (60 + DEFAULT_FLEET_MODEL.stopDelayS) / 3600;
    expect(broken.burst.spotHours).toBeLessThanOrEqual(broken.burst.launches * perLaunch + 1e-9);
    expect(broken.burst.spotHours).toBeLessThan(one.gpuHours * 2.5);
    // The primary serves as if there were no group.
    expect(broken.jobs.waitP50S).toBe(one.jobs.waitP50S);
  });

  it('no burst worker starts while the primary is stopped and not wanted: a trickle never bursts', async () => {
    const report = await simulate(trace('trickle-day'), options(3));
    expect(report.burst.launches).toBe(0);
    expect(figures(report)).toEqual(figures(await simulate(trace('trickle-day'), options(0))));
  });

  it('fallback: spot gone for the first burst → on-demand after afterMinutes; spot again later', async () => {
    const jobs = trace('bursty-day');
    // No spot for the burst group from 09:00 to 12:00; the bursts come at 09:30, 13:00 and 16:30.
    const outage = { burstSpotOutageS: [9 * 3600, 12 * 3600] as const };
    const report = await simulate(
      jobs,
      options(3, outage, { onDemandFallback: { enabled: true, afterMinutes: 3 } }),
    );
    const launches = report.events.filter((e) => e.type === 'burst-launch');
    const failed = report.events.filter((e) => e.type === 'burst-launch-failed');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((e) => e.worker === 'burst-group')).toBe(true);
    const firstOnDemand = launches.find((e) => e.market === 'on-demand');
    expect(firstOnDemand).toBeDefined();
    expect((firstOnDemand?.t ?? 0) - (failed[0]?.t ?? 0)).toBeGreaterThanOrEqual(3 * 60);
    // After the outage, the later bursts launch on spot again.
    expect(launches.filter((e) => e.t > 12 * 3600).every((e) => e.market === 'spot')).toBe(true);
    expect(launches.some((e) => e.t > 12 * 3600)).toBe(true);
    expect(report.burst.onDemandHours).toBeGreaterThan(0);
    expect(report.costUsd).toBeCloseTo(
      report.primaryGpuHours * 0.21 + report.burst.spotHours * 0.21 + report.burst.onDemandHours * 0.71,
      3,
    );

    const disabled = await simulate(
      jobs,
      options(3, outage, { onDemandFallback: { enabled: false, afterMinutes: 3 } }),
    );
    expect(disabled.events.some((e) => e.type === 'burst-launch' && e.market === 'on-demand')).toBe(false);
    expect(disabled.burst.onDemandHours).toBe(0);
  });

  it('is repeatable: the same seed gives the same run with burst workers and faults', async () => {
    const run = () =>
      simulate(
        trace('bursty-day'),
        options(2, { capacityFailureRate: 0.5, interruptionsPerHour: 1, seed: 11 }),
      );
    const [a, b] = [await run(), await run()];
    expect(a.events).toEqual(b.events);
    expect(a.burst.launchFailures).toBeGreaterThan(0);
  });

  it('the sweep covers 0–4 burst workers × the maxWaitMinutes grid; 0 workers is the one-GPU run', async () => {
    const jobs = trace('bursty-day');
    const rows = await sweep(jobs, options(0));
    expect(rows).toHaveLength(SWEEP_BURST_WORKERS.length * SWEEP_MAX_WAIT_MINUTES.length);
    const plain = await simulate(jobs, options(0));
    const row = rows.find(
      (r) => r.burstWorkers === 0 && r.maxWaitMinutes === DEFAULT_CONFIG.scaler.maxWaitMinutes,
    );
    expect(row).toMatchObject({ gpuHours: plain.gpuHours, waitP95S: plain.jobs.waitP95S, burstSpotHours: 0 });
    const text = renderSweep(rows, 'bursty-day');
    expect(text.split('\n')).toHaveLength(rows.length + 2);
    expect(text).toMatch(/^ {4}3 {7}15m/m);
  });
});
