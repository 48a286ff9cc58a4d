import {
  type BurstConfig,
  DEFAULT_CONFIG,
  START_POLICIES,
  type ScalerConfig,
  type ScheduleConfig,
} from '../../src/config.js';

/** What the scaler reads from its environment, set by the scaler stack. */
export interface ScalerEnvironment {
  /** The fleet tag's value: the scaler finds its instances by it, never by ids. */
  readonly appName: string;
  readonly scaler: ScalerConfig;
  readonly schedule: Pick<ScheduleConfig, 'timeZone' | 'holidays' | 'startHour' | 'weekDays'>;
  readonly queueUrl: string;
  /** The burst group's rules (issue 10), when FLEET_CONFIG carries them; absent means no burst workers. */
  readonly burst?: BurstConfig;
}

const SCALER_KEYS: readonly (keyof ScalerConfig)[] = [
  'startBacklog',
  'idleMinutes',
  'maxWaitMinutes',
  'bootTimeoutMinutes',
  'firstBootTimeoutMinutes',
  'startFailureAlarmMinutes',
  'maxRunHours',
];

/**
 * Reads and checks the environment once, at cold start. The values were validated at synth;
 * this guards against a hand-edited function configuration, naming the variable at fault.
 */
export function readEnvironment(env: Readonly<Record<string, string | undefined>>): ScalerEnvironment {
  const required = (name: string): string => {
    const value = env[name];
    if (!value) throw new Error(`scaler environment: ${name} is not set`);
    return value;
  };
  let parsed: {
    appName?: unknown;
    scaler?: Record<string, unknown>;
    schedule?: Record<string, unknown>;
    burst?: Record<string, unknown>;
  };
  try {
    parsed = JSON.parse(required('FLEET_CONFIG')) as typeof parsed;
  } catch (error) {
    throw new Error(`scaler environment: FLEET_CONFIG is not valid JSON (${(error as Error).message})`);
  }
  if (typeof parsed.appName !== 'string' || parsed.appName === '') {
    throw new Error('scaler environment: FLEET_CONFIG.appName must name the fleet (its gpu-fleet:fleet tag)');
  }
  for (const key of SCALER_KEYS) {
    const value = parsed.scaler?.[key];
    if (typeof value !== 'number' || !(value > 0)) {
      throw new Error(
        `scaler environment: FLEET_CONFIG.scaler.${key} must be a positive number, got ${JSON.stringify(value)}`,
      );
    }
  }
  // Opt-in keys newer than the rest: absent means the plan's default, a wrong value still fails.
  const {
    startPolicy = DEFAULT_CONFIG.scaler.startPolicy,
    startLookaheadMinutes = DEFAULT_CONFIG.scaler.startLookaheadMinutes,
  } = parsed.scaler ?? {};
  if (!(START_POLICIES as readonly unknown[]).includes(startPolicy)) {
    throw new Error(
      `scaler environment: FLEET_CONFIG.scaler.startPolicy must be ${START_POLICIES.map((p) => `"${p}"`).join(' or ')}, got ${JSON.stringify(startPolicy)}`,
    );
  }
  if (
    !Number.isInteger(startLookaheadMinutes) ||
    (startLookaheadMinutes as number) < 1 ||
    (startLookaheadMinutes as number) > 60
  ) {
    throw new Error(
      `scaler environment: FLEET_CONFIG.scaler.startLookaheadMinutes must be a whole number from 1 to 60, got ${JSON.stringify(startLookaheadMinutes)}`,
    );
  }
  const { timeZone, holidays = [], startHour, weekDays } = parsed.schedule ?? {};
  if (
    typeof timeZone !== 'string' ||
    !Array.isArray(holidays) ||
    typeof startHour !== 'number' ||
    typeof weekDays !== 'string'
  ) {
    throw new Error(
      'scaler environment: FLEET_CONFIG.schedule needs timeZone, holidays, startHour and weekDays',
    );
  }
  return {
    ...(parsed.burst !== undefined && { burst: readBurst(parsed.burst) }),
    appName: parsed.appName,
    scaler: {
      ...(parsed.scaler as unknown as ScalerConfig),
      startPolicy,
      startLookaheadMinutes,
    } as ScalerConfig,
    schedule: { timeZone, holidays: holidays.map(String), startHour, weekDays },
    queueUrl: required('JOB_QUEUE_URL'),
  };
}

/** The burst keys the scaler reads, checked like the scaler's own (validated in full at synth). */
function readBurst(burst: Record<string, unknown>): BurstConfig {
  const fail = (key: string): never => {
    throw new Error(
      `scaler environment: FLEET_CONFIG.burst.${key} is missing or invalid, got ${JSON.stringify(key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], burst))}`,
    );
  };
  const { maxWorkers, idleMinutes, jobsPerWorkerHour, onDemandFallback } = burst;
  if (typeof maxWorkers !== 'number' || !Number.isInteger(maxWorkers) || maxWorkers < 0) fail('maxWorkers');
  if (typeof idleMinutes !== 'number' || !(idleMinutes > 0)) fail('idleMinutes');
  if (typeof jobsPerWorkerHour !== 'number' || !(jobsPerWorkerHour > 0)) fail('jobsPerWorkerHour');
  const fallback = onDemandFallback as Record<string, unknown> | undefined;
  if (typeof fallback?.enabled !== 'boolean') fail('onDemandFallback.enabled');
  if (typeof fallback?.afterMinutes !== 'number' || !(fallback.afterMinutes > 0))
    fail('onDemandFallback.afterMinutes');
  // Added after the first burst release: an environment deployed before it reads as the default.
  const bootTimeoutMinutes = burst.bootTimeoutMinutes ?? DEFAULT_CONFIG.burst.bootTimeoutMinutes;
  if (
    typeof bootTimeoutMinutes !== 'number' ||
    !Number.isInteger(bootTimeoutMinutes) ||
    bootTimeoutMinutes < 1
  )
    fail('bootTimeoutMinutes');
  return { ...(burst as unknown as BurstConfig), bootTimeoutMinutes: bootTimeoutMinutes as number };
}
