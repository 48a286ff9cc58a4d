/**
 * The one typed configuration of gpu-fleet.
 *
 * Read from the `gpuFleet` key of `cdk.json` context (overridable with `-c gpuFleet='{...}'`),
 * merged over {@link DEFAULT_CONFIG}, and validated once by {@link resolveConfig}. The CDK app,
 * the scaler Lambda (through its environment), the CLI and the simulator all read this shape.
 */

/** The context key that holds the configuration. */
export const CONFIG_CONTEXT_KEY = 'gpuFleet';

/** Weekday schedule of the app host. */
export interface ScheduleConfig {
  /** IANA time zone the schedule runs in. @default 'Asia/Tokyo' */
  readonly timeZone: string;
  /** Hour (0–23) at which the app host starts. @default 9 */
  readonly startHour: number;
  /** Hour (1–24) at which the app host stops; must be after startHour. @default 19 */
  readonly stopHour: number;
  /** Days on which the schedule runs, EventBridge cron day-of-week syntax. @default 'MON-FRI' */
  readonly weekDays: string;
  /** Dates (YYYY-MM-DD, in timeZone) on which the morning start is skipped. @default [] */
  readonly holidays: readonly string[];
}

/** The rules of the GPU control loop. */
export interface ScalerConfig {
  /** Start the GPU when more than this many jobs wait. @default 10 */
  readonly startBacklog: number;
  /**
   * Stop the GPU once this many minutes have passed since the last job ended (the worker's
   * last-job-at tag) or, with no job yet, since the worker became ready; never counted from boot. @default 5
   */
  readonly idleMinutes: number;
  /** Start the GPU anyway once a job has waited this long, so small backlogs never starve. @default 15 */
  readonly maxWaitMinutes: number;
  /** Stop the GPU and alarm if the worker has not reported ready this long after a start. @default 20 */
  readonly bootTimeoutMinutes: number;
  /**
   * The boot timeout of a GPU host that has never finished its one-time setup (packages, image
   * pulls of several GB, model download): one whose worker has never reported ready. @default 60
   */
  readonly firstBootTimeoutMinutes: number;
  /** Alarm when the GPU could not be started for this long while work waits. @default 15 */
  readonly startFailureAlarmMinutes: number;
  /** Past this many hours of continuous running without a hold the scaler stops the GPU, and alarms. @default 12 */
  readonly maxRunHours: number;
}

/** Prices used by `gpu-manage status`, `cost` and `simulate`; all overridable. */
export interface PriceConfig {
  /** g4dn.xlarge spot price, USD per hour (Tokyo, typical). @default 0.21 */
  readonly gpuSpotUsdPerHour: number;
  /** g4dn.xlarge on-demand price, USD per hour (Tokyo). @default 0.71 */
  readonly gpuOnDemandUsdPerHour: number;
  /** t3.large on-demand price, USD per hour (Tokyo). @default 0.1 */
  readonly appUsdPerHour: number;
}

/** Container images of the team's own application on the app host. */
export interface AppImagesConfig {
  /** Frontend image (served on 55433). When absent the host runs VOICEVOX only and says so. */
  readonly frontend?: string;
  /** Backend image (served on 55434). When absent the host runs VOICEVOX only and says so. */
  readonly backend?: string;
  /** The VOICEVOX engine image, pinned. @default 'voicevox/voicevox_engine:cpu-ubuntu20.04-0.14.6' */
  readonly voicevox: string;
}

/** Launch generation of each host; see FleetConfig.hostRevision. */
export interface HostRevisionConfig {
  /** @default 1 */
  readonly app: number;
  /** @default 1 */
  readonly gpu: number;
}

/**
 * Extra GPU workers beyond the primary, on an EC2 Auto Scaling group. With the default
 * maxWorkers 0 nothing of it is deployed and the fleet is exactly the plan's: one GPU.
 */
export interface BurstConfig {
  /** Burst workers at most, beyond the primary GPU. @default 0 */
  readonly maxWorkers: number;
  /** Single-GPU types the image and AMI support, in order of preference. @default ['g4dn.xlarge', 'g5.xlarge', 'g6.xlarge'] */
  readonly instanceTypes: readonly string[];
  /** An idle burst worker goes after this many minutes without a job. @default 2 */
  readonly idleMinutes: number;
  /**
   * A burst worker not ready this many minutes after its launch is broken and goes. Its own key:
   * a burst worker boots cold (about 6 minutes), the primary restarts warm (scaler.bootTimeoutMinutes).
   * @default 20
   */
  readonly bootTimeoutMinutes: number;
  /** Voice jobs one worker finishes per hour, for sizing the group from the backlog. @default 45 */
  readonly jobsPerWorkerHour: number;
  /** On-demand capacity when spot cannot be had while work waits. */
  readonly onDemandFallback: OnDemandFallbackConfig;
}

export interface OnDemandFallbackConfig {
  /** @default true */
  readonly enabled: boolean;
  /** Minutes spot capacity must have been unobtainable while work waits before on-demand is used. @default 10 */
  readonly afterMinutes: number;
}

/**
 * How the GPU service trusts models its pins file (docker/openvoice/app/model_pins.json) leaves
 * null: `first-use` resolves each once, records commit and sha256 in a lock on EFS and verifies
 * against it from then on; `strict` refuses anything not pinned in the repository.
 */
export type ModelTrust = 'first-use' | 'strict';

/**
 * A ready worker that takes no job for this long while jobs wait is stalled (OpenVoice died, a
 * job hangs): the scaler stops it, and the ordinary start rules start it again. The worker's own
 * job timeout (jobTimeoutMinutes) stays under it, so a hung job ends before its GPU is judged.
 */
export const NO_PROGRESS_MINUTES = 30;

export const MODEL_TRUST_MODES: readonly ModelTrust[] = ['first-use', 'strict'];

export interface FleetConfig {
  /** Prefix of the stack names and value of the fleet tag that the scaler and CLI look for. @default 'GpuFleet' */
  readonly appName: string;
  /** Availability zone of the subnet; the region's first zone when absent. @default undefined */
  readonly availabilityZone?: string;
  /** CIDR of the VPC. @default '10.0.0.0/16' */
  readonly vpcCidr: string;
  /** CIDR of the one public subnet; must lie inside vpcCidr. @default '10.0.1.0/24' */
  readonly subnetCidr: string;
  /** Fixed private IP of the app host, inside subnetCidr. @default '10.0.1.10' */
  readonly appPrivateIp: string;
  /** Fixed private IP of the GPU worker, inside subnetCidr. @default '10.0.1.20' */
  readonly gpuPrivateIp: string;
  /** Instance type of the app host. @default 't3.large' */
  readonly appInstanceType: string;
  /** Instance type of the GPU worker. @default 'g4dn.xlarge' */
  readonly gpuInstanceType: string;
  /**
   * Highest spot price the GPU worker pays, USD per hour; `null` removes the cap (the GPU then pays
   * the spot price up to the on-demand price, which AWS recommends: a cap means more interruptions).
   * @default 0.3 (the plan's cap)
   */
  readonly spotMaxPriceUsd: number | null;
  /**
   * End of the persistent spot request (ISO 8601). After it, the GPU can no longer be stopped,
   * only terminated; it must lie at least 30 days ahead at synth time. @default '2027-12-31T00:00:00Z'
   */
  readonly spotValidUntil: string;
  /** Root volume size of the app host, GiB. @default 30 */
  readonly appRootVolumeGb: number;
  /** Root volume size of the GPU worker, GiB (the DLAMI snapshot needs at least 75). @default 100 */
  readonly gpuRootVolumeGb: number;
  /** CIDRs allowed to reach the app ports (55433–55434); VOICEVOX stays closed. @default [] (closed) */
  readonly appIngressCidrs: readonly string[];
  /** CIDRs allowed to SSH (22) to the hosts. @default [] (use SSM Session Manager) */
  readonly sshIngressCidrs: readonly string[];
  /**
   * Bump a host's number and deploy to roll it onto a fresh launch (the newest AMI, for one): the
   * deploy cancels its spot request, terminates it and launches the new one on the same IP.
   * @default { app: 1, gpu: 1 }
   */
  readonly hostRevision: HostRevisionConfig;
  /** Weekday schedule of the app host. */
  readonly schedule: ScheduleConfig;
  /** Rules of the GPU control loop. */
  readonly scaler: ScalerConfig;
  /** Prices for status, cost and simulate. */
  readonly prices: PriceConfig;
  /** E-mail address subscribed to the alarm topic. @default undefined (no subscription) */
  readonly alarmEmail?: string;
  /** The team's frontend/backend images for the app host. @default {} */
  readonly appImages: AppImagesConfig;
  /** Tags put on every resource, in addition to the fleet and role tags. @default { Project: 'gpu-fleet' } */
  readonly tags: Readonly<Record<string, string>>;
  /** Burst GPU workers on an Auto Scaling group; off (maxWorkers 0) by default. */
  readonly burst: BurstConfig;
  /**
   * How the GPU host trusts models the repository does not pin; `strict` fails synth while any
   * pin in docker/openvoice/app/model_pins.json is null. @default 'first-use'
   */
  readonly modelTrust: ModelTrust;
  /**
   * How long the GPU worker waits for OpenVoice on one job before it counts an OpenVoice fault
   * (retried, then paused on). Under the scaler's 30-minute stall limit. @default 15
   */
  readonly jobTimeoutMinutes: number;
  /**
   * Days CloudWatch Logs keeps the hosts', the burst workers' and the scaler's logs; one of the
   * retention periods CloudWatch offers (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...).
   * @default 30
   */
  readonly logRetentionDays: number;
}

/** The retention periods CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** The most burst workers a fleet may have (burst.maxWorkers); the CLI's --burst-workers too. */
export const MAX_BURST_WORKERS = 20;

export const DEFAULT_CONFIG: FleetConfig = {
  appName: 'GpuFleet',
  vpcCidr: '10.0.0.0/16',
  subnetCidr: '10.0.1.0/24',
  appPrivateIp: '10.0.1.10',
  gpuPrivateIp: '10.0.1.20',
  appInstanceType: 't3.large',
  gpuInstanceType: 'g4dn.xlarge',
  spotMaxPriceUsd: 0.3,
  spotValidUntil: '2027-12-31T00:00:00Z',
  appRootVolumeGb: 30,
  gpuRootVolumeGb: 100,
  hostRevision: { app: 1, gpu: 1 },
  appIngressCidrs: [],
  sshIngressCidrs: [],
  schedule: {
    timeZone: 'Asia/Tokyo',
    startHour: 9,
    stopHour: 19,
    weekDays: 'MON-FRI',
    holidays: [],
  },
  scaler: {
    startBacklog: 10,
    idleMinutes: 5,
    maxWaitMinutes: 15,
    bootTimeoutMinutes: 20,
    firstBootTimeoutMinutes: 60,
    startFailureAlarmMinutes: 15,
    maxRunHours: 12,
  },
  prices: {
    gpuSpotUsdPerHour: 0.21,
    gpuOnDemandUsdPerHour: 0.71,
    appUsdPerHour: 0.1,
  },
  appImages: { voicevox: 'voicevox/voicevox_engine:cpu-ubuntu20.04-0.14.6' },
  tags: { Project: 'gpu-fleet' },
  burst: {
    maxWorkers: 0,
    instanceTypes: ['g4dn.xlarge', 'g5.xlarge', 'g6.xlarge'],
    idleMinutes: 2,
    bootTimeoutMinutes: 20,
    jobsPerWorkerHour: 45,
    onDemandFallback: { enabled: true, afterMinutes: 10 },
  },
  modelTrust: 'first-use',
  jobTimeoutMinutes: 15,
  logRetentionDays: 30,
};

/**
 * The burst workers' subnets: the two blocks of the hosts' subnet's size that follow it
 * (10.0.2.0/24 and 10.0.3.0/24 by default). Validation keeps them inside vpcCidr when burst is on.
 */
export function burstSubnetCidrs(subnetCidr: string): [string, string] {
  const [address = '', prefixText = ''] = subnetCidr.split('/');
  const prefix = Number(prefixText);
  const start = address.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
  const size = 2 ** (32 - prefix);
  const block = (n: number): string => {
    const value = start + n * size;
    return `${[24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.')}/${prefix}`;
  };
  return [block(1), block(2)];
}

/** A configuration value that is not allowed; the message names the key, the value and what is allowed. */
export class ConfigError extends Error {
  constructor(
    readonly key: string,
    readonly value: unknown,
    readonly allowed: string,
    /** The message without its "Invalid gpuFleet config" prefix, for readers that name their own source. */
    readonly detail = `${key} = ${JSON.stringify(value)}; allowed: ${allowed}`,
  ) {
    super(`Invalid gpuFleet config: ${detail}`);
    this.name = 'ConfigError';
  }
}

/**
 * Settings gpu-fleet does not have any more: a config that sets one fails saying so and what to do,
 * rather than as an unknown key that reads like a typo.
 */
const REMOVED_SETTINGS: Readonly<Record<string, string>> = {
  'scaler.startPolicy':
    'the GPU starts when more than scaler.startBacklog jobs wait or one has waited scaler.maxWaitMinutes; delete the key',
  'scaler.startLookaheadMinutes':
    'it belonged to the removed scaler.startPolicy "arrival-rate"; delete the key',
};

function rejectRemovedSettings(input: Record<string, unknown>): void {
  for (const [key, advice] of Object.entries(REMOVED_SETTINGS)) {
    const [section = '', name = ''] = key.split('.');
    const value = objectAt(input, section)[name];
    if (value !== undefined) {
      throw new ConfigError(key, value, 'no value', `${key} was removed; ${advice}`);
    }
  }
}

/**
 * Merges raw context over the defaults and validates every value, as synth and the CLI read it.
 *
 * @param raw the value of the `gpuFleet` context key (an object, a JSON string from `-c`, or undefined)
 * @param now the synth time, for checks relative to today (spot ValidUntil)
 * @throws ConfigError on the first invalid value
 */
export function resolveConfig(raw: unknown, now: Date): FleetConfig {
  const config = resolveDeployedConfig(raw);
  checkSpotValidUntilAhead(config, now);
  return config;
}

/**
 * Merges and validates a configuration as a deployed function reads it: every check of
 * {@link resolveConfig} but those relative to the synth date. The spot request's end had to lie
 * 30 days ahead of the deploy, not of every cold start that follows it.
 *
 * @throws ConfigError on the first invalid value
 */
export function resolveDeployedConfig(raw: unknown): FleetConfig {
  const input = parseRaw(raw);
  rejectRemovedSettings(input);
  rejectUnknownKeys(input, DEFAULT_CONFIG, '', ['availabilityZone', 'alarmEmail']);
  for (const nested of ['schedule', 'scaler', 'prices', 'hostRevision'] as const) {
    rejectUnknownKeys(objectAt(input, nested), DEFAULT_CONFIG[nested], `${nested}.`, []);
  }
  rejectUnknownKeys(
    objectAt(input, 'appImages'),
    { frontend: '', backend: '', voicevox: '' },
    'appImages.',
    [],
  );
  const config = mergeOverDefaults(input);
  for (const check of CONFIG_CHECKS) check(config);
  return config;
}

function mergeOverDefaults(input: Record<string, unknown>): FleetConfig {
  const burst = objectAt(input, 'burst');
  return {
    ...DEFAULT_CONFIG,
    ...input,
    schedule: { ...DEFAULT_CONFIG.schedule, ...objectAt(input, 'schedule') },
    scaler: { ...DEFAULT_CONFIG.scaler, ...objectAt(input, 'scaler') },
    prices: { ...DEFAULT_CONFIG.prices, ...objectAt(input, 'prices') },
    hostRevision: { ...DEFAULT_CONFIG.hostRevision, ...objectAt(input, 'hostRevision') },
    burst: {
      ...DEFAULT_CONFIG.burst,
      ...burst,
      onDemandFallback: { ...DEFAULT_CONFIG.burst.onDemandFallback, ...objectAt(burst, 'onDemandFallback') },
    },
    appImages: { ...DEFAULT_CONFIG.appImages, ...objectAt(input, 'appImages') },
    tags: { ...DEFAULT_CONFIG.tags, ...objectAt(input, 'tags') },
  } as FleetConfig;
}

function parseRaw(raw: unknown): Record<string, unknown> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw === 'string') {
    try {
      return parseRaw(JSON.parse(raw));
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError(
        CONFIG_CONTEXT_KEY,
        raw,
        'a JSON object, e.g. -c gpuFleet=\'{"alarmEmail":"ops@example.com"}\'',
      );
    }
  }
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(CONFIG_CONTEXT_KEY, raw, 'an object');
  return raw as Record<string, unknown>;
}

function objectAt(input: Record<string, unknown>, key: string): Record<string, unknown> {
  const value = input[key];
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ConfigError(key, value, 'an object');
  return value as Record<string, unknown>;
}

function rejectUnknownKeys(
  input: Record<string, unknown>,
  known: object,
  prefix: string,
  optional: string[],
): void {
  const allowed = [...Object.keys(known), ...optional];
  for (const key of Object.keys(input)) {
    if (!allowed.includes(key)) {
      throw new ConfigError(
        `${prefix}${key}`,
        input[key],
        `one of the keys ${allowed.map((k) => prefix + k).join(', ')}`,
      );
    }
  }
}

/** One concern of a merged configuration: throws a ConfigError naming the key and what is allowed. */
type ConfigCheck = (config: FleetConfig) => void;

/** The name the stacks and the fleet tag carry. */
function checkAppName(c: FleetConfig): void {
  check(
    'appName',
    c.appName,
    /^[A-Za-z][A-Za-z0-9-]{0,63}$/.test(String(c.appName)),
    'letters, digits and hyphens, starting with a letter, at most 64 characters',
  );
}

function checkAvailabilityZone(c: FleetConfig): void {
  if (c.availabilityZone === undefined) return;
  check(
    'availabilityZone',
    c.availabilityZone,
    /^[a-z]{2}(-[a-z]+)+-\d[a-z]$/.test(String(c.availabilityZone)),
    'an availability zone name such as ap-northeast-1a',
  );
}

/** The subnet lies in the VPC and both fixed host addresses are usable, distinct addresses of it. */
function checkAddresses(c: FleetConfig): void {
  const vpc = cidr('vpcCidr', c.vpcCidr, 16, 28);
  const subnet = cidr('subnetCidr', c.subnetCidr, 16, 28);
  check('subnetCidr', c.subnetCidr, contains(vpc, subnet), `a CIDR inside vpcCidr ${c.vpcCidr}`);
  const hosts = `an address inside subnetCidr ${c.subnetCidr}, not its first four or last (reserved by AWS)`;
  const appIp = ipv4('appPrivateIp', c.appPrivateIp);
  check('appPrivateIp', c.appPrivateIp, usableHost(subnet, appIp), hosts);
  const gpuIp = ipv4('gpuPrivateIp', c.gpuPrivateIp);
  check('gpuPrivateIp', c.gpuPrivateIp, usableHost(subnet, gpuIp), hosts);
  check(
    'gpuPrivateIp',
    c.gpuPrivateIp,
    gpuIp !== appIp,
    `an address other than appPrivateIp ${c.appPrivateIp}`,
  );
}

function checkInstanceTypes(c: FleetConfig): void {
  const instanceType = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;
  check(
    'appInstanceType',
    c.appInstanceType,
    instanceType.test(String(c.appInstanceType)),
    'an EC2 instance type such as t3.large',
  );
  check(
    'gpuInstanceType',
    c.gpuInstanceType,
    instanceType.test(String(c.gpuInstanceType)) && /^(g|p)\d/.test(String(c.gpuInstanceType)),
    'a GPU instance type (g or p family) such as g4dn.xlarge',
  );
}

/** The persistent spot request: its price cap and an end date that parses. */
function checkSpotRequest(c: FleetConfig): void {
  if (c.spotMaxPriceUsd !== null) {
    check(
      'spotMaxPriceUsd',
      c.spotMaxPriceUsd,
      typeof c.spotMaxPriceUsd === 'number' && Number.isFinite(c.spotMaxPriceUsd) && c.spotMaxPriceUsd > 0,
      'a number greater than 0, or null for no cap (pay up to the on-demand price)',
    );
  }
  check(
    'spotValidUntil',
    c.spotValidUntil,
    typeof c.spotValidUntil === 'string' && !Number.isNaN(new Date(c.spotValidUntil).getTime()),
    'an ISO 8601 date such as 2027-12-31T00:00:00Z',
  );
}

/** After spotValidUntil the GPU can only be terminated: a deploy must leave a month before it. */
function checkSpotValidUntilAhead(c: FleetConfig, now: Date): void {
  const minimum = new Date(now.getTime() + 30 * 86_400_000);
  check(
    'spotValidUntil',
    c.spotValidUntil,
    new Date(c.spotValidUntil) >= minimum,
    `a date at least 30 days ahead (after ${minimum.toISOString().slice(0, 10)}); after it the GPU can only be terminated, not stopped`,
  );
}

/** Launch generations and root volume sizes of the two hosts. */
function checkHosts(c: FleetConfig): void {
  integer('hostRevision.app', c.hostRevision.app, 1, 1_000_000);
  integer('hostRevision.gpu', c.hostRevision.gpu, 1, 1_000_000);
  integer('appRootVolumeGb', c.appRootVolumeGb, 8, 16384);
  integer('gpuRootVolumeGb', c.gpuRootVolumeGb, 75, 16384);
}

function checkIngress(c: FleetConfig): void {
  cidrList('appIngressCidrs', c.appIngressCidrs);
  cidrList('sshIngressCidrs', c.sshIngressCidrs);
}

const WEEKDAY = '(SUN|MON|TUE|WED|THU|FRI|SAT)';
const WEEKDAYS = new RegExp(`^${WEEKDAY}(-${WEEKDAY})?(,${WEEKDAY}(-${WEEKDAY})?)*$`);

function checkSchedule({ schedule: s }: FleetConfig): void {
  check('schedule.timeZone', s.timeZone, isTimeZone(s.timeZone), 'an IANA time zone such as Asia/Tokyo');
  integer('schedule.startHour', s.startHour, 0, 23);
  integer('schedule.stopHour', s.stopHour, 1, 23);
  check(
    'schedule.stopHour',
    s.stopHour,
    s.stopHour > s.startHour,
    `an hour after schedule.startHour ${s.startHour}`,
  );
  check(
    'schedule.weekDays',
    s.weekDays,
    WEEKDAYS.test(String(s.weekDays)),
    'cron day-of-week names such as MON-FRI or MON,WED,FRI',
  );
  check('schedule.holidays', s.holidays, Array.isArray(s.holidays), 'a list of dates YYYY-MM-DD');
  for (const day of s.holidays) check('schedule.holidays', day, isIsoDate(day), 'dates written YYYY-MM-DD');
}

function checkScaler({ scaler: r }: FleetConfig): void {
  integer('scaler.startBacklog', r.startBacklog, 1, 100_000);
  integer('scaler.idleMinutes', r.idleMinutes, 1, 1440);
  integer('scaler.maxWaitMinutes', r.maxWaitMinutes, 1, 1440);
  integer('scaler.bootTimeoutMinutes', r.bootTimeoutMinutes, 1, 1440);
  integer('scaler.firstBootTimeoutMinutes', r.firstBootTimeoutMinutes, 1, 1440);
  check(
    'scaler.firstBootTimeoutMinutes',
    r.firstBootTimeoutMinutes,
    r.firstBootTimeoutMinutes >= r.bootTimeoutMinutes,
    `at least scaler.bootTimeoutMinutes ${r.bootTimeoutMinutes}`,
  );
  integer('scaler.startFailureAlarmMinutes', r.startFailureAlarmMinutes, 1, 1440);
  integer('scaler.maxRunHours', r.maxRunHours, 1, 744);
}

function checkBurstWorkers({ burst: b }: FleetConfig): void {
  integer('burst.maxWorkers', b.maxWorkers, 0, MAX_BURST_WORKERS);
  check(
    'burst.instanceTypes',
    b.instanceTypes,
    Array.isArray(b.instanceTypes) &&
      b.instanceTypes.length > 0 &&
      b.instanceTypes.every((t) => /^(g4dn|g5|g6|g6e)\.(x|2x|4x|8x|16x)large$/.test(String(t))),
    'a non-empty list of single-GPU G4dn/G5/G6 types such as ["g4dn.xlarge","g5.xlarge","g6.xlarge"]',
  );
  integer('burst.idleMinutes', b.idleMinutes, 1, 1440);
  // Below 10 minutes a healthy cold start (estimated at 6) would be retired as broken.
  integer('burst.bootTimeoutMinutes', b.bootTimeoutMinutes, 10, 120);
  positive('burst.jobsPerWorkerHour', b.jobsPerWorkerHour);
  check(
    'burst.onDemandFallback.enabled',
    b.onDemandFallback.enabled,
    typeof b.onDemandFallback.enabled === 'boolean',
    'true or false',
  );
  integer('burst.onDemandFallback.afterMinutes', b.onDemandFallback.afterMinutes, 1, 1440);
}

/** With burst workers on, their two subnets (the blocks after subnetCidr) must fit in the VPC too. */
function checkBurstSubnets(c: FleetConfig): void {
  if (c.burst.maxWorkers <= 0) return;
  const vpc = cidr('vpcCidr', c.vpcCidr, 16, 28);
  const blocks = burstSubnetCidrs(c.subnetCidr);
  check(
    'subnetCidr',
    c.subnetCidr,
    blocks.every((block) => contains(vpc, cidr('subnetCidr', block, 0, 32))),
    `with burst.maxWorkers > 0, a subnetCidr whose burst subnets (the two blocks of its size that follow it: ${blocks.join(' and ')}) also lie inside vpcCidr ${c.vpcCidr}; choose a lower subnetCidr, a larger vpcCidr or burst.maxWorkers 0`,
  );
}

/** One of the retention periods CloudWatch Logs offers. */
function checkLogRetention({ logRetentionDays }: FleetConfig): void {
  check(
    'logRetentionDays',
    logRetentionDays,
    (LOG_RETENTION_DAYS as readonly unknown[]).includes(logRetentionDays),
    `one of CloudWatch Logs' retention periods: ${LOG_RETENTION_DAYS.join(', ')}`,
  );
}

function checkPrices({ prices }: FleetConfig): void {
  positive('prices.gpuSpotUsdPerHour', prices.gpuSpotUsdPerHour);
  positive('prices.gpuOnDemandUsdPerHour', prices.gpuOnDemandUsdPerHour);
  positive('prices.appUsdPerHour', prices.appUsdPerHour);
}

function checkAlarmEmail(c: FleetConfig): void {
  if (c.alarmEmail === undefined) return;
  check(
    'alarmEmail',
    c.alarmEmail,
    /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(String(c.alarmEmail)),
    'an e-mail address such as ops@example.com',
  );
}

/** Image references that parse, and a VOICEVOX tag that cannot move under a running host. */
function checkAppImages({ appImages }: FleetConfig): void {
  for (const key of ['frontend', 'backend', 'voicevox'] as const) {
    const image = appImages[key];
    if (image === undefined) continue;
    check(
      `appImages.${key}`,
      image,
      /^[a-z0-9][a-z0-9._\-/:@]*$/.test(String(image)),
      'a container image reference such as 123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/backend:1.2',
    );
  }
  check(
    'appImages.voicevox',
    appImages.voicevox,
    !/latest$/.test(String(appImages.voicevox)),
    'a pinned tag such as voicevox/voicevox_engine:cpu-ubuntu20.04-0.14.6, not a floating …latest tag',
  );
}

function checkJobTimeout({ jobTimeoutMinutes }: FleetConfig): void {
  check(
    'jobTimeoutMinutes',
    jobTimeoutMinutes,
    Number.isInteger(jobTimeoutMinutes) && jobTimeoutMinutes >= 1 && jobTimeoutMinutes < NO_PROGRESS_MINUTES,
    `a whole number of minutes from 1 to ${NO_PROGRESS_MINUTES - 1} (under the scaler's ${NO_PROGRESS_MINUTES}-minute stall limit)`,
  );
}

function checkModelTrust(c: FleetConfig): void {
  check(
    'modelTrust',
    c.modelTrust,
    MODEL_TRUST_MODES.includes(c.modelTrust),
    MODEL_TRUST_MODES.map((mode) => JSON.stringify(mode)).join(' or '),
  );
}

/** Tags EC2 and CloudFormation accept. */
function checkTags({ tags }: FleetConfig): void {
  for (const [key, value] of Object.entries(tags)) {
    check(
      `tags.${key}`,
      value,
      typeof value === 'string' && value.length <= 256 && !key.startsWith('aws:') && key.length <= 128,
      'string values of at most 256 characters, keys of at most 128 not starting with aws:',
    );
  }
}

/** Every check of a merged configuration, in the order the first failure is reported. */
const CONFIG_CHECKS: readonly ConfigCheck[] = [
  checkAppName,
  checkAvailabilityZone,
  checkAddresses,
  checkInstanceTypes,
  checkSpotRequest,
  checkHosts,
  checkIngress,
  checkSchedule,
  checkScaler,
  checkBurstWorkers,
  checkBurstSubnets,
  checkLogRetention,
  checkPrices,
  checkAlarmEmail,
  checkAppImages,
  checkModelTrust,
  checkJobTimeout,
  checkTags,
];

function check(key: string, value: unknown, ok: boolean, allowed: string): void {
  if (!ok) throw new ConfigError(key, value, allowed);
}

function positive(key: string, value: unknown): void {
  check(
    key,
    value,
    typeof value === 'number' && Number.isFinite(value) && value > 0,
    'a number greater than 0',
  );
}

function integer(key: string, value: unknown, min: number, max: number): void {
  check(
    key,
    value,
    Number.isInteger(value) && (value as number) >= min && (value as number) <= max,
    `a whole number from ${min} to ${max}`,
  );
}

function ipv4(key: string, value: unknown): number {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(String(value));
  const octets = match ? match.slice(1).map(Number) : [];
  check(
    key,
    value,
    typeof value === 'string' && octets.length === 4 && octets.every((o) => o <= 255),
    'an IPv4 address such as 10.0.1.10',
  );
  return octets.reduce((acc, o) => acc * 256 + o, 0);
}

interface Range {
  readonly base: number;
  readonly size: number;
}

function cidr(key: string, value: unknown, minPrefix: number, maxPrefix: number): Range {
  const allowed = `an IPv4 CIDR with a prefix from /${minPrefix} to /${maxPrefix}, on its network boundary, such as 10.0.0.0/16`;
  const [address, prefixText] = typeof value === 'string' ? value.split('/') : [];
  const prefix = Number(prefixText);
  check(
    key,
    value,
    address !== undefined && Number.isInteger(prefix) && prefix >= minPrefix && prefix <= maxPrefix,
    allowed,
  );
  const base = ipv4(key, address);
  const size = 2 ** (32 - prefix);
  check(key, value, base % size === 0, allowed);
  return { base, size };
}

function cidrList(key: string, value: unknown): void {
  check(key, value, Array.isArray(value), 'a list of IPv4 CIDRs such as ["203.0.113.0/24"]');
  for (const entry of value as unknown[]) cidr(key, entry, 0, 32);
}

function contains(outer: Range, inner: Range): boolean {
  return inner.base >= outer.base && inner.base + inner.size <= outer.base + outer.size;
}

function usableHost(subnet: Range, ip: number): boolean {
  return ip >= subnet.base + 4 && ip < subnet.base + subnet.size - 1;
}

function isTimeZone(value: unknown): boolean {
  if (typeof value !== 'string' || value === '') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

function isIsoDate(value: unknown): boolean {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value;
}
