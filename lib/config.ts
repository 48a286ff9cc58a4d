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

/** The rules of the GPU control loop (see DESIGN.md, "The control loop"). */
export interface ScalerConfig {
  /** Start the GPU when more than this many jobs wait. @default 10 */
  readonly startBacklog: number;
  /** Stop the GPU after this many minutes of continuous idleness since it became ready. @default 5 */
  readonly idleMinutes: number;
  /** Start the GPU anyway once a job has waited this long, so small backlogs never starve. @default 15 */
  readonly maxWaitMinutes: number;
  /** Stop the GPU and alarm if the worker has not reported ready this long after a start. @default 20 */
  readonly bootTimeoutMinutes: number;
  /** Alarm when the GPU could not be started for this long while work waits. @default 15 */
  readonly startFailureAlarmMinutes: number;
  /** Alarm when the GPU has been running continuously for longer than this. @default 12 */
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
}

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
  /** Highest spot price the GPU worker pays, USD per hour. @default 0.3 */
  readonly spotMaxPriceUsd: number;
  /**
   * End of the persistent spot request (ISO 8601). After it, the GPU can no longer be stopped,
   * only terminated; it must lie at least 30 days ahead at synth time. @default '2027-12-31T00:00:00Z'
   */
  readonly spotValidUntil: string;
  /** Root volume size of the app host, GiB. @default 30 */
  readonly appRootVolumeGb: number;
  /** Root volume size of the GPU worker, GiB (the DLAMI snapshot needs at least 75). @default 100 */
  readonly gpuRootVolumeGb: number;
  /** CIDRs allowed to reach the app ports (55433–55434) and VOICEVOX (50021). @default [] (closed) */
  readonly appIngressCidrs: readonly string[];
  /** CIDRs allowed to SSH (22) to the hosts. @default [] (use SSM Session Manager) */
  readonly sshIngressCidrs: readonly string[];
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
}

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
    startFailureAlarmMinutes: 15,
    maxRunHours: 12,
  },
  prices: {
    gpuSpotUsdPerHour: 0.21,
    gpuOnDemandUsdPerHour: 0.71,
    appUsdPerHour: 0.1,
  },
  appImages: {},
  tags: { Project: 'gpu-fleet' },
};

/** A configuration value that is not allowed; the message names the key, the value and what is allowed. */
export class ConfigError extends Error {
  constructor(
    readonly key: string,
    readonly value: unknown,
    readonly allowed: string,
  ) {
    super(`Invalid gpuFleet config: ${key} = ${JSON.stringify(value)}; allowed: ${allowed}`);
    this.name = 'ConfigError';
  }
}

/**
 * Merges raw context over the defaults and validates every value.
 *
 * @param raw the value of the `gpuFleet` context key (an object, a JSON string from `-c`, or undefined)
 * @param now the synth time, for checks relative to today (spot ValidUntil)
 * @throws ConfigError on the first invalid value
 */
export function resolveConfig(raw: unknown, now: Date): FleetConfig {
  // Placeholder merge; validation is completed in the infrastructure issue.
  void now;
  const parsed =
    typeof raw === 'string' ? (JSON.parse(raw) as Partial<FleetConfig>) : (raw as Partial<FleetConfig>);
  return { ...DEFAULT_CONFIG, ...(parsed ?? {}) };
}
