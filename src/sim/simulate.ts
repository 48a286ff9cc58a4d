import type { BurstConfig, ScalerConfig, ScheduleConfig } from '../config.js';
import { runTick } from '../control/tick.js';
import { scheduledWeekDays } from '../core/schedule.js';
import {
  DEFAULT_BURST_READY_DELAY_S,
  DEFAULT_FLEET_MODEL,
  FleetModel,
  type FleetModelOptions,
  SIM_APP_NAME,
  type SimEvent,
  simTime,
} from './fleet-model.js';
import type { TraceJob } from './trace.js';

export interface SimulationOptions {
  readonly scaler: ScalerConfig;
  readonly fleet?: FleetModelOptions;
  /** USD per GPU hour that applies (spot or on-demand). */
  readonly gpuUsdPerHour: number;
  /** The scheduler's tick. @default 60 */
  readonly tickS?: number;
  /**
   * The app host's schedule, for the second baseline (a GPU kept up during app hours). Trace time
   * 0 is taken as a Monday 00:00 in the schedule's own time zone. @default the plan's 09–19 MON-FRI
   */
  readonly schedule?: Pick<ScheduleConfig, 'startHour' | 'stopHour' | 'weekDays'>;
  /**
   * Burst workers: the group's rules and what its hours cost. Absent, or maxWorkers 0:
   * the one-GPU fleet. The launch-to-ready time is `fleet.burstReadyDelayS`.
   */
  readonly burst?: {
    readonly config: BurstConfig;
    readonly spotUsdPerHour: number;
    readonly onDemandUsdPerHour: number;
  };
}

/** The burst workers' share of a run (all zero without burst workers). */
export interface BurstReport {
  readonly maxWorkers: number;
  readonly readyDelayS: number;
  readonly launches: number;
  readonly launchFailures: number;
  readonly retires: number;
  readonly interruptions: number;
  /** Workers retired with a job running on them: the scaler must never do it, so always 0. */
  readonly retiredBusy: number;
  readonly spotHours: number;
  readonly onDemandHours: number;
  readonly costUsd: number;
  /** The most burst workers that ran (pending or in service) at once. */
  readonly peakWorkers: number;
}

export interface SimulationReport {
  /** Every GPU's billed hours: the primary's and the burst workers'. */
  readonly gpuHours: number;
  /** What those hours cost, each at its market's price. */
  readonly costUsd: number;
  /** The primary GPU's share of gpuHours. */
  readonly primaryGpuHours: number;
  readonly burst: BurstReport;
  readonly starts: number;
  readonly stops: number;
  readonly jobs: {
    readonly count: number;
    readonly waitP50S: number;
    readonly waitP95S: number;
    readonly waitMaxS: number;
  };
  /** The same trace with the GPU running from its first to its last second (24/7). */
  readonly alwaysOn: { readonly gpuHours: number; readonly costUsd: number };
  /** The same trace with the GPU running whenever the app host's schedule runs it. */
  readonly alwaysOnSchedule: { readonly gpuHours: number; readonly costUsd: number };
  /** Spot interruptions EC2 made, and starts it refused for capacity (both injected, seeded). */
  readonly interruptions: number;
  readonly capacityFailures: number;
  /** The physical floor: total service time ÷ concurrency. */
  readonly busyHours: number;
  /** Seconds simulated, from 0 to the last tick. */
  readonly horizonS: number;
  readonly events: readonly SimEvent[];
  /** Queue depth (waiting) at every tick, for the timeline picture. */
  readonly depth: ReadonlyArray<readonly [number, number]>;
}

const HOUR_S = 3600;

/**
 * Replays a trace through the scaler's own tick (observe → decide → act → remember) against the
 * in-memory fleet, in virtual time: every minute, exactly as EventBridge Scheduler would.
 */
export async function simulate(
  jobs: readonly TraceJob[],
  options: SimulationOptions,
): Promise<SimulationReport> {
  const tickS = options.tickS ?? 60;
  const fleetOptions = options.fleet ?? DEFAULT_FLEET_MODEL;
  const burstConfig = options.burst?.config;
  const maxWorkers = burstConfig?.maxWorkers ?? 0;
  const model = new FleetModel(jobs, { ...fleetOptions, burstMaxWorkers: maxWorkers });
  const target = { appName: SIM_APP_NAME, queueUrl: 'simulated' };
  const lastArrival = jobs.at(-1)?.arrivalS ?? 0;
  const serviceS = jobs.reduce((sum, job) => sum + job.serviceS, 0);
  // Far enough for any backlog to drain and the GPU to idle out; a stuck loop cannot run forever.
  const limitS = lastArrival + serviceS + 86_400;
  const depth: Array<[number, number]> = [];

  let t = 0;
  for (; t <= limitS; t += tickS) {
    model.advanceTo(t);
    const { observation } = await runTick(
      { fleet: model, queue: model, burst: model.burst },
      target,
      options.scaler,
      simTime(t),
      burstConfig,
    );
    depth.push([t, observation.queue.waiting]);
    if (t >= lastArrival && model.allJobsDone && model.gpuState === 'stopped' && model.burstIdle) break;
  }
  if (!model.allJobsDone) throw new UnfinishedSimulationError(limitS);
  model.advanceTo(t);

  const waits = jobs.map((job, i) => (model.startedAt[i] ?? Number.NaN) - job.arrivalS).sort((a, b) => a - b);
  const primaryHours = model.billedSeconds / HOUR_S;
  const burstBilled = model.burstBilledSeconds;
  const spotHours = burstBilled.spot / HOUR_S;
  const onDemandHours = burstBilled.onDemand / HOUR_S;
  const gpuHours = primaryHours + spotHours + onDemandHours;
  const burstCost =
    spotHours * (options.burst?.spotUsdPerHour ?? 0) +
    onDemandHours * (options.burst?.onDemandUsdPerHour ?? 0);
  const count = (type: SimEvent['type']): number => model.events.filter((e) => e.type === type).length;
  const lastEnd = Math.max(0, ...model.events.filter((e) => e.type === 'job-end').map((e) => e.t));
  const alwaysOnHours = lastEnd / HOUR_S;
  const scheduleHours = scheduledHours(lastEnd, options.schedule ?? PLAN_SCHEDULE);
  return {
    gpuHours: round(gpuHours),
    costUsd: round(primaryHours * options.gpuUsdPerHour + burstCost),
    primaryGpuHours: round(primaryHours),
    burst: {
      maxWorkers,
      readyDelayS: fleetOptions.burstReadyDelayS ?? DEFAULT_BURST_READY_DELAY_S,
      launches: count('burst-launch'),
      launchFailures: count('burst-launch-failed'),
      retires: count('burst-retire'),
      interruptions: count('burst-interrupted'),
      retiredBusy: model.retiredBusy,
      spotHours: round(spotHours),
      onDemandHours: round(onDemandHours),
      costUsd: round(burstCost),
      peakWorkers: peakBurstWorkers(model.events),
    },
    starts: count('start'),
    stops: count('stop'),
    jobs: {
      count: jobs.length,
      waitP50S: percentile(waits, 0.5),
      waitP95S: percentile(waits, 0.95),
      waitMaxS: waits.at(-1) ?? 0,
    },
    alwaysOn: { gpuHours: round(alwaysOnHours), costUsd: round(alwaysOnHours * options.gpuUsdPerHour) },
    alwaysOnSchedule: {
      gpuHours: round(scheduleHours),
      costUsd: round(scheduleHours * options.gpuUsdPerHour),
    },
    interruptions: count('interrupted'),
    capacityFailures: count('start-refused'),
    busyHours: round(serviceS / fleetOptions.concurrency / HOUR_S),
    horizonS: t,
    events: model.events,
    depth,
  };
}

/** The most burst workers alive at once, from their launch and end events. */
function peakBurstWorkers(events: readonly SimEvent[]): number {
  let alive = 0;
  let peak = 0;
  for (const e of events) {
    if (e.type === 'burst-launch') peak = Math.max(peak, (alive += 1));
    if (e.type === 'burst-terminated') alive -= 1;
  }
  return peak;
}

const PLAN_SCHEDULE = { startHour: 9, stopHour: 19, weekDays: 'MON-FRI' } as const;
/** Hours between 0 and `endS` (trace seconds, day 0 a Monday) that the schedule runs the app host. */
export function scheduledHours(
  endS: number,
  schedule: Pick<ScheduleConfig, 'startHour' | 'stopHour' | 'weekDays'>,
): number {
  const days = scheduledWeekDays(schedule.weekDays);
  let seconds = 0;
  for (let day = 0; day * 86_400 < endS; day += 1) {
    if (!days.has(day % 7)) continue;
    const from = day * 86_400 + schedule.startHour * HOUR_S;
    const to = Math.min(endS, day * 86_400 + schedule.stopHour * HOUR_S);
    seconds += Math.max(0, to - from);
  }
  return seconds / HOUR_S;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? 0;
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

/** The run's faults left jobs that no worker ever served (a primary that is never ready, say). */
export class UnfinishedSimulationError extends Error {
  constructor(readonly limitS: number) {
    super(`the simulation did not finish every job within ${limitS}s`);
    this.name = 'UnfinishedSimulationError';
  }
}
