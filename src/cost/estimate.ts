import {
  BURST_ALARM_COUNT,
  BURST_GAUGES,
  SCALER_ALARM_COUNT,
  TICK_COUNTERS,
  TICK_GAUGES,
} from '../control/metrics.js';
import { scheduledWeekDays } from '../core/schedule.js';
import { JOB_METRICS } from '../names.js';
import type { FleetConfig, PriceConfig } from '../config.js';

/** Hours in an average month, as AWS bills them. */
export const HOURS_PER_MONTH = 730;
const WEEKS_PER_MONTH = 52.143 / 12;
const DAY_S = 86_400;

/**
 * GB of models one full copy of the GPU service's model set holds: the files
 * docker/openvoice/app/model_pins.json lists, at their published sizes (six MeloTTS checkpoints of
 * about 0.2 GB, six BERTs of 0.44–0.67 GB, a 0.12 GB checkpoint archive; docs/models.md). The first
 * real fetch logs the exact figure.
 */
export const MODEL_SET_GB = 4.3;

/**
 * GB a warm start of the primary reads from EFS: the host's root volume keeps a verified copy of
 * the models, so only the lock (a few KB) is read; a start after the lock changed reads the
 * changed files, at most one copy.
 */
export const WARM_START_READ_GB = 0;

/** GPU starts a month in the plan: 2 on each of 22 weekdays. */
export const PLAN_GPU_STARTS = 44;

/**
 * Flow log data a running host produces, in MB an hour: the flow logs record all traffic (a record
 * of about 130 bytes per connection and 10-minute window: AWS APIs, EFS, the users' requests, and
 * the internet's scans of the public addresses). An estimate, generous for this fleet.
 */
export const FLOW_LOG_MB_PER_HOST_HOUR = 1;

/** Unit prices (USD, Tokyo list prices at the time of writing); every one can be overridden. */
export interface UnitPrices extends PriceConfig {
  /** gp3 storage, per GB-month. */
  readonly ebsGp3UsdPerGbMonth: number;
  /** Every public IPv4 address, in use or not, since February 2024. */
  readonly publicIpv4UsdPerHour: number;
  /** EFS Standard storage, per GB-month. */
  readonly efsUsdPerGbMonth: number;
  /** EFS Elastic throughput reads, per GB transferred. */
  readonly efsElasticReadUsdPerGb: number;
  readonly cloudWatchMetricUsdPerMonth: number;
  readonly cloudWatchAlarmUsdPerMonth: number;
  /** A dashboard beyond the account's three free ones. */
  readonly cloudWatchDashboardUsdPerMonth: number;
  readonly lambdaUsdPerGbSecond: number;
  readonly lambdaUsdPerMillionRequests: number;
  readonly schedulerUsdPerMillion: number;
  readonly sqsUsdPerMillion: number;
  /**
   * CloudWatch Logs ingestion, per GB: vended logs (VPC flow logs) and the standard class the
   * hosts, workers and scaler write cost the same in Tokyo.
   */
  readonly logsIngestUsdPerGb: number;
  /** CloudWatch Logs storage, per GB-month. */
  readonly logsStorageUsdPerGbMonth: number;
}

export function defaultPrices(config: FleetConfig): UnitPrices {
  return {
    ...config.prices,
    ebsGp3UsdPerGbMonth: 0.096,
    publicIpv4UsdPerHour: 0.005,
    efsUsdPerGbMonth: 0.36,
    // AWS's list price in us-east-1 and eu-west-1; check your region's.
    efsElasticReadUsdPerGb: 0.03,
    cloudWatchMetricUsdPerMonth: 0.3,
    cloudWatchAlarmUsdPerMonth: 0.1,
    cloudWatchDashboardUsdPerMonth: 3,
    lambdaUsdPerGbSecond: 0.0000133334,
    lambdaUsdPerMillionRequests: 0.2,
    schedulerUsdPerMillion: 1,
    sqsUsdPerMillion: 0.4,
    logsIngestUsdPerGb: 0.76,
    logsStorageUsdPerGbMonth: 0.033,
  };
}

/** What the estimate assumes about use; each is printed next to the result. */
export interface UsageAssumptions {
  /** App host hours a month; from the schedule unless given. */
  readonly appHours: number;
  /** GPU hours a month. */
  readonly gpuHours: number;
  readonly market: 'spot' | 'on-demand';
  readonly efsGb: number;
  /** Where gpuHours came from, in words. */
  readonly gpuHoursSource: string;
  /**
   * Burst worker hours a month by market, e.g. from a simulation with burst workers.
   * @default none: no burst lines unless burst.maxWorkers > 0, then 0 h with a note
   */
  readonly burstHours?: BurstHours;
  /** Where burstHours came from, in words. */
  readonly burstHoursSource?: string;
  /** Starts of the primary GPU a month. @default PLAN_GPU_STARTS */
  readonly gpuStarts?: number;
  /** Burst worker launches a month. @default 0 */
  readonly burstLaunches?: number;
  /**
   * GB a month the hosts, workers and scaler write to CloudWatch Logs.
   * @default 1 (DEFAULT_LOGS_GB_PER_MONTH)
   */
  readonly logsGb?: number;
}

/** A small fleet's log volume a month: container output, one JSON line per job change, a line a tick. */
export const DEFAULT_LOGS_GB_PER_MONTH = 1;

/** Burst worker hours a month, by market. */
export interface BurstHours {
  readonly spot: number;
  readonly onDemand: number;
}

export interface CostItem {
  readonly item: string;
  readonly arithmetic: string;
  readonly usd: number;
  readonly note?: string;
}

export interface CostEstimate {
  readonly items: readonly CostItem[];
  readonly totalUsd: number;
  readonly assumptions: readonly string[];
  /** The GPU line at the other market's price, for comparison. */
  readonly gpuAlternative: CostItem;
}

/** App host hours a month from the weekday schedule: scheduled days × (stop − start) hours. */
export function scheduledAppHours(schedule: FleetConfig['schedule']): number {
  return round2(
    scheduledWeekDays(schedule.weekDays).size * WEEKS_PER_MONTH * (schedule.stopHour - schedule.startHour),
  );
}

/** How a simulated trace becomes a month: the factor its hours are multiplied by, and why. */
export interface MonthScale {
  readonly factor: number;
  /** In words, for the assumptions: "1 scheduled day, × 21.73 scheduled days a month". */
  readonly basis: string;
}

/**
 * A trace (day 0 a Monday, as the simulator takes it) whose jobs all arrive on scheduled days is
 * a sample of working days: it recurs on the month's scheduled days, not on 30 calendar days (a
 * one-weekday trace would otherwise be priced 38 % high). A trace with work on other days recurs
 * by calendar days.
 */
export function monthFromTrace(
  jobs: ReadonlyArray<{ readonly arrivalS: number }>,
  horizonS: number,
  weekDays: string,
): MonthScale {
  const scheduled = scheduledWeekDays(weekDays);
  const jobDays = new Set(jobs.map((job) => Math.floor(job.arrivalS / DAY_S)));
  const lastDay = Math.max(0, ...jobDays);
  let sampled = 0;
  for (let day = 0; day <= lastDay; day += 1) if (scheduled.has(day % 7)) sampled += 1;
  // No scheduled day in the trace at all (no jobs, a schedule without day 0): calendar days.
  if (sampled > 0 && [...jobDays].every((day) => scheduled.has(day % 7))) {
    const perMonth = scheduled.size * WEEKS_PER_MONTH;
    return {
      factor: perMonth / sampled,
      basis: `${sampled} scheduled day${sampled === 1 ? '' : 's'}, × ${round2(perMonth)} scheduled days a month`,
    };
  }
  const days = Math.max(1, Math.ceil(horizonS / DAY_S));
  return { factor: 30 / days, basis: `${days} days, scaled to 30 days` };
}

/** The monthly bill, itemised, with the arithmetic of every line. */
export function estimateMonthlyCost(
  config: FleetConfig,
  usage: UsageAssumptions,
  prices: UnitPrices,
): CostEstimate {
  // Deployed: the group's metrics and alarm are billed whether it runs or not.
  const burstDeployed = config.burst.maxWorkers > 0;
  const burstOn = burstDeployed || usage.burstHours !== undefined;
  const burstHours = usage.burstHours ?? { spot: 0, onDemand: 0 };
  const items: CostItem[] = [
    costLine(`App host ${config.appInstanceType}`, usage.appHours, 'h', prices.appUsdPerHour),
    gpuLine(config, usage, prices, usage.market),
    costLine(
      'EBS gp3 root volumes',
      config.appRootVolumeGb + config.gpuRootVolumeGb,
      'GB-month',
      prices.ebsGp3UsdPerGbMonth,
      'billed while the instances are stopped too',
    ),
    ...(burstOn ? burstLines(config, burstHours, prices) : []),
    ...addressAndStorageLines(usage, prices),
    ...modelReadLines(usage, burstOn, prices),
    flowLogLine(usage.appHours + usage.gpuHours + burstHours.spot + burstHours.onDemand, prices),
    ...monitoringLines(burstDeployed, prices),
    ...operationsLines(config, usage.logsGb ?? DEFAULT_LOGS_GB_PER_MONTH, prices),
    requestsLine(usage.gpuHours + burstHours.spot + burstHours.onDemand, prices),
  ];
  return {
    items,
    totalUsd: round2(items.reduce((sum, item) => sum + item.usd, 0)),
    gpuAlternative: gpuLine(config, usage, prices, usage.market === 'spot' ? 'on-demand' : 'spot'),
    assumptions: assumptionsOf(config, usage, prices, burstOn ? burstHours : undefined),
  };
}

/** A price with as many decimals as it needs: 0.096, 0.0000133334. */
function money(n: number): string {
  return n
    .toFixed(n < 0.01 ? 6 : 3)
    .replace(/0+$/, '')
    .replace(/\.$/, '');
}

function costLine(item: string, quantity: number, unit: string, price: number, note?: string): CostItem {
  return {
    item,
    arithmetic: `${round2(quantity)} ${unit} × ${money(price)}`,
    usd: round2(quantity * price),
    note,
  };
}

function gpuLine(
  config: FleetConfig,
  usage: UsageAssumptions,
  prices: UnitPrices,
  market: 'spot' | 'on-demand',
): CostItem {
  return costLine(
    `GPU worker ${config.gpuInstanceType} (${market})`,
    usage.gpuHours,
    'h',
    market === 'spot' ? prices.gpuSpotUsdPerHour : prices.gpuOnDemandUsdPerHour,
    market === 'spot' ? 'spot price varies; capped at spotMaxPriceUsd' : undefined,
  );
}

/** The burst workers' hours by market, and their addresses and root volumes while they run. */
function burstLines(config: FleetConfig, hours: BurstHours, prices: UnitPrices): CostItem[] {
  const types = config.burst.instanceTypes.join('/');
  const running = hours.spot + hours.onDemand;
  return [
    costLine(
      `Burst workers ${types} (spot)`,
      hours.spot,
      'h',
      prices.gpuSpotUsdPerHour,
      'priced as the GPU worker; G5/G6 spot costs more than g4dn',
    ),
    costLine(
      `Burst workers ${types} (on-demand)`,
      hours.onDemand,
      'h',
      prices.gpuOnDemandUsdPerHour,
      'the fallback when spot cannot be had',
    ),
    costLine('Public IPv4: burst workers', running, 'h', prices.publicIpv4UsdPerHour, 'only while they run'),
    costLine(
      'EBS gp3 root volumes: burst workers',
      (running / HOURS_PER_MONTH) * config.gpuRootVolumeGb,
      'GB-month',
      prices.ebsGp3UsdPerGbMonth,
      'deleted with each worker',
    ),
  ];
}

function addressAndStorageLines(usage: UsageAssumptions, prices: UnitPrices): CostItem[] {
  return [
    costLine(
      'Public IPv4: app host Elastic IP',
      HOURS_PER_MONTH,
      'h',
      prices.publicIpv4UsdPerHour,
      'billed around the clock',
    ),
    costLine(
      'Public IPv4: GPU worker',
      usage.gpuHours,
      'h',
      prices.publicIpv4UsdPerHour,
      'released while stopped',
    ),
    costLine(
      'EFS Standard storage',
      usage.efsGb,
      'GB-month',
      prices.efsUsdPerGbMonth,
      'less once files move to IA after 30 days',
    ),
  ];
}

/**
 * What the GPU hosts read from EFS when they start, on Elastic throughput: ~nothing for a warm
 * start of the primary, one copy of the model set for each burst launch (a fresh root volume).
 */
function modelReadLines(usage: UsageAssumptions, burstOn: boolean, prices: UnitPrices): CostItem[] {
  const read = (item: string, count: number, unit: string, gb: number, note: string): CostItem => ({
    item,
    arithmetic: `${round2(count)} ${unit} × ${gb} GB × ${money(prices.efsElasticReadUsdPerGb)}`,
    usd: round2(count * gb * prices.efsElasticReadUsdPerGb),
    note,
  });
  return [
    read(
      'EFS Elastic reads: GPU starts',
      usage.gpuStarts ?? PLAN_GPU_STARTS,
      'starts',
      WARM_START_READ_GB,
      'the host keeps a verified copy of the models',
    ),
    ...(burstOn
      ? [
          read(
            'EFS Elastic reads: burst launches',
            usage.burstLaunches ?? 0,
            'launches',
            MODEL_SET_GB,
            'one copy of the model set each',
          ),
        ]
      : []),
  ];
}

/** The flow logs of all traffic, by the hours the hosts run: ingested, and kept a month. */
function flowLogLine(hostHours: number, prices: UnitPrices): CostItem {
  return costLine(
    'VPC flow logs (all traffic)',
    hostHours * (FLOW_LOG_MB_PER_HOST_HOUR / 1000),
    'GB',
    prices.logsIngestUsdPerGb + prices.logsStorageUsdPerGbMonth,
    `ingested and kept a month; about ${FLOW_LOG_MB_PER_HOST_HOUR} MB an hour a running host`,
  );
}

/** The scaler's metrics and alarms, and the burst group's when it is deployed. */
function monitoringLines(burstDeployed: boolean, prices: UnitPrices): CostItem[] {
  return [
    costLine(
      'CloudWatch custom metrics (scaler EMF)',
      TICK_COUNTERS.length + TICK_GAUGES.length + (burstDeployed ? BURST_GAUGES.length : 0),
      'metrics',
      prices.cloudWatchMetricUsdPerMonth,
    ),
    costLine(
      'CloudWatch alarms',
      SCALER_ALARM_COUNT + (burstDeployed ? BURST_ALARM_COUNT : 0),
      'alarms',
      prices.cloudWatchAlarmUsdPerMonth,
    ),
  ];
}

/** The operator's tooling: the job metrics of the log filters, the dashboard, the logs. */
function operationsLines(config: FleetConfig, logsGb: number, prices: UnitPrices): CostItem[] {
  return [
    costLine(
      'CloudWatch job metrics (log metric filters)',
      Object.keys(JOB_METRICS).length,
      'metrics',
      prices.cloudWatchMetricUsdPerMonth,
    ),
    costLine(
      'CloudWatch dashboard',
      1,
      'dashboards',
      prices.cloudWatchDashboardUsdPerMonth,
      'free if the account has no more than 3',
    ),
    costLine('CloudWatch Logs ingestion', logsGb, 'GB', prices.logsIngestUsdPerGb),
    // Kept logRetentionDays: on average that many days' worth is stored.
    costLine(
      'CloudWatch Logs storage',
      (logsGb * config.logRetentionDays) / 30,
      'GB-month',
      prices.logsStorageUsdPerGbMonth,
    ),
  ];
}

/** The scaler's tick every minute, its queue reads, and every running worker's long polls (20 s). */
function requestsLine(workerHours: number, prices: UnitPrices): CostItem {
  const ticksPerMonth = HOURS_PER_MONTH * 60;
  const lambdaGbSeconds = ticksPerMonth * 0.256 * 0.3; // 256 MB for about 300 ms a tick
  const sqsRequests = ticksPerMonth * 2 + (workerHours * 3600) / 20;
  return {
    item: 'Lambda, Scheduler, SQS requests',
    arithmetic: `${ticksPerMonth} ticks, ${Math.round(lambdaGbSeconds)} GB-s, ${Math.round(sqsRequests)} SQS calls`,
    usd: round2(
      lambdaGbSeconds * prices.lambdaUsdPerGbSecond +
        (ticksPerMonth / 1e6) * (prices.lambdaUsdPerMillionRequests + prices.schedulerUsdPerMillion) +
        (sqsRequests / 1e6) * prices.sqsUsdPerMillion,
    ),
    note: 'before free tiers',
  };
}

/** What the estimate assumed, in words; burst hours only when burst lines are shown. */
function assumptionsOf(
  config: FleetConfig,
  usage: UsageAssumptions,
  prices: UnitPrices,
  burstHours?: BurstHours,
): string[] {
  const { schedule } = config;
  const burstSource =
    usage.burstHoursSource ??
    (usage.burstHours ? 'as given' : 'none given (simulate a trace with burst workers to see them)');
  return [
    `app host: ${usage.appHours} h a month (${schedule.weekDays} ${schedule.startHour}:00–${schedule.stopHour}:00 ${schedule.timeZone} unless --app-hours)`,
    `GPU: ${usage.gpuHours} h a month, ${usage.gpuHoursSource}`,
    ...(burstHours
      ? [
          `burst workers: ${burstHours.spot} h spot + ${burstHours.onDemand} h on-demand a month, ${burstSource}`,
        ]
      : []),
    `EFS: ${usage.efsGb} GB stored`,
    `model reads from EFS (Elastic throughput, ${money(prices.efsElasticReadUsdPerGb)} USD/GB): a warm start of the primary reads ~${WARM_START_READ_GB} GB (${(WARM_START_READ_GB * prices.efsElasticReadUsdPerGb).toFixed(2)} USD); ${burstHours ? 'a burst launch, or a start after the model lock changed,' : 'a start after the model lock changed'} reads one copy of the model set, ${MODEL_SET_GB} GB (${(MODEL_SET_GB * prices.efsElasticReadUsdPerGb).toFixed(2)} USD)`,
    `logs: ${usage.logsGb ?? DEFAULT_LOGS_GB_PER_MONTH} GB a month written to CloudWatch Logs, kept ${config.logRetentionDays} days (logRetentionDays)`,
    `a month is ${HOURS_PER_MONTH} h; prices are USD list prices for ap-northeast-1 (Tokyo), without tax or free tiers`,
  ];
}

export function renderEstimate(estimate: CostEstimate): string {
  const width = Math.max(...estimate.items.map((i) => i.item.length));
  const arithmetic = Math.max(...estimate.items.map((i) => i.arithmetic.length));
  const row = (item: CostItem): string =>
    `  ${item.item.padEnd(width)}  ${item.arithmetic.padEnd(arithmetic)}  ${item.usd.toFixed(2).padStart(7)}${item.note ? `  (${item.note})` : ''}`;
  return [
    'Monthly estimate (USD)',
    ...estimate.items.map(row),
    `  ${'Total'.padEnd(width)}  ${''.padEnd(arithmetic)}  ${estimate.totalUsd.toFixed(2).padStart(7)}`,
    '',
    `For comparison: ${estimate.gpuAlternative.item}: ${estimate.gpuAlternative.arithmetic} = ${estimate.gpuAlternative.usd.toFixed(2)} USD`,
    '',
    'Assumptions:',
    ...estimate.assumptions.map((a) => `  - ${a}`),
  ].join('\n');
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
