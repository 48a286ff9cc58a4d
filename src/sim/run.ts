import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FleetConfig, ScalerConfig } from '../config.js';
import { loadConfig } from '../cli/config-file.js';
import { CliFailure, UsageError } from '../cli/io.js';
import type { CliEnvironment } from '../cli/environment.js';
import {
  type UnitPrices,
  type UsageAssumptions,
  defaultPrices,
  estimateMonthlyCost,
  monthFromTrace,
  renderEstimate,
  scheduledAppHours,
} from '../cost/estimate.js';
import {
  type SimulationOptions,
  type SimulationReport,
  UnfinishedSimulationError,
  simulate,
} from './simulate.js';
import { renderSweep, sweep } from './sweep.js';
import { CALENDAR_AFTER_S, renderSimulationSvg } from './svg.js';
import { TraceError, type TraceJob, parseTrace } from './trace.js';

/** The flags simulate and cost share: scaler rules, the modelled fleet, injected faults, prices. */
export interface ScalerOverrides {
  /** Overrides burst.maxWorkers. */
  readonly burstWorkers?: number;
  readonly startBacklog?: number;
  readonly idleMinutes?: number;
  readonly maxWaitMinutes?: number;
  readonly bootTimeoutMinutes?: number;
  readonly readyDelay: number;
  readonly stopDelay: number;
  readonly concurrency: number;
  readonly interruptionsPerHour?: number;
  readonly capacityFailures?: number;
  readonly seed: number;
  readonly countLag?: number;
  readonly tagLag?: number;
  readonly startNotTaken?: number;
  readonly primaryNeverReady?: boolean;
  readonly burstNeverReady?: number;
  readonly spotPrice?: number;
  readonly onDemandPrice?: number;
  readonly market: 'spot' | 'on-demand';
}

/** The flags of `gpu-manage simulate`. */
export interface SimulateOptions extends ScalerOverrides {
  readonly trace: string;
  readonly burstReadyDelay: number;
  readonly sweep?: boolean;
  readonly json?: boolean;
  readonly svg?: string;
}

/** The flags of `gpu-manage cost`. */
export interface CostOptions extends ScalerOverrides {
  readonly appHours?: number;
  readonly gpuHours?: number;
  readonly trace?: string;
  readonly efsGb: number;
  readonly logsGb: number;
  readonly appPrice?: number;
  readonly ebsPrice?: number;
  readonly ipv4Price?: number;
  readonly efsPrice?: number;
  readonly efsReadPrice?: number;
  readonly json?: boolean;
}

/** The plan's GPU use: about 2 hours on each of 22 weekdays. */
export const PLAN_GPU_HOURS = 44;

function scalerFrom(config: FleetConfig, o: ScalerOverrides): ScalerConfig {
  return {
    ...config.scaler,
    ...(o.startBacklog !== undefined && { startBacklog: o.startBacklog }),
    ...(o.idleMinutes !== undefined && { idleMinutes: o.idleMinutes }),
    ...(o.maxWaitMinutes !== undefined && { maxWaitMinutes: o.maxWaitMinutes }),
    ...(o.bootTimeoutMinutes !== undefined && { bootTimeoutMinutes: o.bootTimeoutMinutes }),
  };
}

function gpuPrice(config: FleetConfig, o: ScalerOverrides): number {
  return o.market === 'spot'
    ? (o.spotPrice ?? config.prices.gpuSpotUsdPerHour)
    : (o.onDemandPrice ?? config.prices.gpuOnDemandUsdPerHour);
}

function readTrace(env: CliEnvironment, file: string): TraceJob[] {
  let text: string;
  try {
    text = fs.readFileSync(path.resolve(env.cwd, file), 'utf8');
  } catch {
    throw new CliFailure(`cannot read the trace ${file}: no such file or not readable`);
  }
  try {
    return parseTrace(text, file);
  } catch (error) {
    if (error instanceof TraceError) throw new CliFailure(error.message);
    throw error;
  }
}

/** The simulation's options from the configuration and the command line. */
function simulationOptions(
  config: FleetConfig,
  o: ScalerOverrides & Partial<Pick<SimulateOptions, 'burstReadyDelay'>>,
): SimulationOptions & { burst: NonNullable<SimulationOptions['burst']> } {
  return {
    scaler: scalerFrom(config, o),
    fleet: {
      readyDelayS: o.readyDelay,
      stopDelayS: o.stopDelay,
      concurrency: o.concurrency,
      interruptionsPerHour: o.interruptionsPerHour,
      capacityFailureRate: o.capacityFailures,
      seed: o.seed,
      countLagS: o.countLag,
      tagLagS: o.tagLag,
      startNotTakenRate: o.startNotTaken,
      primaryNeverReady: o.primaryNeverReady,
      burstNeverReadyShare: o.burstNeverReady,
      burstReadyDelayS: o.burstReadyDelay,
      burstInstanceTypes: config.burst.instanceTypes,
    },
    gpuUsdPerHour: gpuPrice(config, o),
    schedule: config.schedule,
    burst: {
      config: { ...config.burst, maxWorkers: o.burstWorkers ?? config.burst.maxWorkers },
      spotUsdPerHour: o.spotPrice ?? config.prices.gpuSpotUsdPerHour,
      onDemandUsdPerHour: o.onDemandPrice ?? config.prices.gpuOnDemandUsdPerHour,
    },
  };
}

export async function runSimulateCommand(env: CliEnvironment, options: SimulateOptions): Promise<void> {
  const config = loadConfig(env.cwd);
  if (options.sweep && options.svg) {
    throw new UsageError('--svg draws one run; it cannot be used with --sweep');
  }
  if (options.sweep) {
    const rows = await sweep(readTrace(env, options.trace), simulationOptions(config, options));
    env.io.out(
      options.json
        ? JSON.stringify(rows, null, 2)
        : renderSweep(
            rows,
            `${options.trace}: burst workers ready ${options.burstReadyDelay} s after launch; burst hours at spot ${config.prices.gpuSpotUsdPerHour} / on-demand ${config.prices.gpuOnDemandUsdPerHour} USD/h`,
          ),
    );
    return;
  }
  const jobs = readTrace(env, options.trace);
  const report = await simulateOrExplain(jobs, simulationOptions(config, options));
  if (options.svg) {
    fs.writeFileSync(
      path.resolve(env.cwd, options.svg),
      renderSimulationSvg(report, jobs, path.basename(options.trace)),
    );
  }
  if (options.json) {
    const { depth: _depth, horizonS: _horizon, ...json } = report;
    env.io.out(JSON.stringify(json, null, 2));
  } else {
    env.io.out(renderReport(report, options, scalerFrom(config, options)));
    if (options.svg)
      env.io.out(`${report.horizonS > CALENDAR_AFTER_S ? 'Calendar' : 'Timeline'} written to ${options.svg}`);
  }
}

/** The start and stop rules a run used, in the words of the configuration. */
function describeRules(scaler: ScalerConfig): string {
  return `start when > ${scaler.startBacklog} jobs wait, or one waited ${scaler.maxWaitMinutes}m; stop after ${scaler.idleMinutes}m idle`;
}

export function renderReport(report: SimulationReport, o: ScalerOverrides, scaler: ScalerConfig): string {
  const h = (n: number): string => `${n.toFixed(2)} h`;
  const usd = (n: number): string => `${n.toFixed(2)} USD`;
  const saved = (baseline: { costUsd: number }): string =>
    `${((baseline.costUsd > 0 ? 1 - report.costUsd / baseline.costUsd : 0) * 100).toFixed(0)}%`;
  const injected =
    report.interruptions > 0 || report.capacityFailures > 0 || o.interruptionsPerHour || o.capacityFailures
      ? [
          `EC2 refused     ${report.capacityFailures} starts (capacity) · ${report.interruptions} spot interruptions`,
        ]
      : [];
  const b = report.burst;
  const burst =
    b.maxWorkers > 0
      ? [
          `Burst workers   up to ${b.maxWorkers} (ready ${b.readyDelayS} s after launch) · ${b.launches} launched, ${b.peakWorkers} at most at once · ${b.launchFailures} launches refused`,
          `Burst billed    spot ${h(b.spotHours)} · on-demand ${h(b.onDemandHours)} · ${usd(b.costUsd)}; primary ${h(report.primaryGpuHours)}`,
        ]
      : [];
  return [
    `Jobs            ${report.jobs.count}`,
    `Rules           ${describeRules(scaler)}`,
    `GPU billed      ${h(report.gpuHours)} · ${usd(report.costUsd)} (${b.maxWorkers > 0 ? `primary ${o.market}, burst by market` : o.market})`,
    ...burst,
    `Starts / stops  ${report.starts} / ${report.stops}`,
    `Wait (s)        p50 ${Math.round(report.jobs.waitP50S)} · p95 ${Math.round(report.jobs.waitP95S)} · max ${Math.round(report.jobs.waitMaxS)}`,
    `Busy (floor)    ${h(report.busyHours)}`,
    ...injected,
    `Always on 24/7  ${h(report.alwaysOn.gpuHours)} · ${usd(report.alwaysOn.costUsd)}  → the scaler saves ${saved(report.alwaysOn)}`,
    `On in app hours ${h(report.alwaysOnSchedule.gpuHours)} · ${usd(report.alwaysOnSchedule.costUsd)}  → the scaler saves ${saved(report.alwaysOnSchedule)}`,
  ].join('\n');
}

export async function runCostCommand(env: CliEnvironment, options: CostOptions): Promise<void> {
  const loaded = loadConfig(env.cwd);
  // --burst-workers prices a fleet with that many: its burst lines, metrics and alarm too.
  const config: FleetConfig =
    options.burstWorkers === undefined
      ? loaded
      : { ...loaded, burst: { ...loaded.burst, maxWorkers: options.burstWorkers } };
  const hours: GpuHoursAssumption = options.trace
    ? await hoursFromTrace(env, config, options, options.trace)
    : {
        gpuHours: options.gpuHours ?? PLAN_GPU_HOURS,
        gpuHoursSource:
          options.gpuHours === undefined
            ? 'the plan’s 2 h on each of 22 weekdays (--gpu-hours or --trace to change)'
            : 'given with --gpu-hours',
      };
  const prices = unitPricesFrom(config, options);
  const estimate = estimateMonthlyCost(
    config,
    {
      appHours: options.appHours ?? scheduledAppHours(config.schedule),
      market: options.market,
      efsGb: options.efsGb,
      logsGb: options.logsGb,
      ...hours,
    },
    prices,
  );
  env.io.out(options.json ? JSON.stringify({ ...estimate, prices }, null, 2) : renderEstimate(estimate));
}

type GpuHoursAssumption = Pick<
  UsageAssumptions,
  'gpuHours' | 'gpuHoursSource' | 'burstHours' | 'burstHoursSource' | 'gpuStarts' | 'burstLaunches'
>;

/** GPU hours a month from simulating a trace: the primary's, and the burst workers' by market. */
async function hoursFromTrace(
  env: CliEnvironment,
  config: FleetConfig,
  options: CostOptions,
  trace: string,
): Promise<GpuHoursAssumption> {
  const jobs = readTrace(env, trace);
  const report = await simulateOrExplain(jobs, simulationOptions(config, options));
  const month = monthFromTrace(jobs, report.horizonS, config.schedule.weekDays);
  const monthly = (hours: number): number => Math.round(hours * month.factor * 100) / 100;
  const burstHours = report.burst.spotHours + report.burst.onDemandHours;
  return {
    // The primary's hours only: the burst group's are priced by their own market.
    gpuHours: monthly(report.primaryGpuHours),
    gpuStarts: monthly(report.starts),
    gpuHoursSource: `simulated from ${trace} (${report.primaryGpuHours.toFixed(2)} h over ${month.basis})`,
    ...(report.burst.maxWorkers > 0 && {
      burstHours: { spot: monthly(report.burst.spotHours), onDemand: monthly(report.burst.onDemandHours) },
      burstLaunches: monthly(report.burst.launches),
      burstHoursSource: `simulated from ${trace} with ${report.burst.maxWorkers} burst workers (${burstHours.toFixed(2)} h over ${month.basis})`,
    }),
  };
}

/** The configuration's prices and the defaults, overridden by the price flags given. */
function unitPricesFrom(config: FleetConfig, options: CostOptions): UnitPrices {
  return {
    ...defaultPrices(config),
    ...(options.appPrice !== undefined && { appUsdPerHour: options.appPrice }),
    ...(options.spotPrice !== undefined && { gpuSpotUsdPerHour: options.spotPrice }),
    ...(options.onDemandPrice !== undefined && { gpuOnDemandUsdPerHour: options.onDemandPrice }),
    ...(options.ebsPrice !== undefined && { ebsGp3UsdPerGbMonth: options.ebsPrice }),
    ...(options.ipv4Price !== undefined && { publicIpv4UsdPerHour: options.ipv4Price }),
    ...(options.efsPrice !== undefined && { efsUsdPerGbMonth: options.efsPrice }),
    ...(options.efsReadPrice !== undefined && { efsElasticReadUsdPerGb: options.efsReadPrice }),
  };
}

/** A run whose injected faults leave jobs unserved is an answer for the operator, not a crash. */
async function simulateOrExplain(
  jobs: readonly TraceJob[],
  options: Parameters<typeof simulate>[1],
): Promise<Awaited<ReturnType<typeof simulate>>> {
  try {
    return await simulate(jobs, options);
  } catch (error) {
    if (!(error instanceof UnfinishedSimulationError)) throw error;
    throw new CliFailure(
      `${error.message}: with these faults no worker serves the queue (a primary that is never ready needs burst workers: --burst-workers N)`,
    );
  }
}
