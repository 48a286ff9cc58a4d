import type { ScalerConfig, ScheduleConfig } from '../../lib/config.js';

/** What the scaler reads from its environment, set by the scaler stack. */
export interface ScalerEnvironment {
  readonly appName: string;
  readonly scaler: ScalerConfig;
  readonly schedule: Pick<ScheduleConfig, 'timeZone' | 'holidays'>;
  readonly queueUrl: string;
  readonly gpuInstanceId: string;
  readonly appInstanceId: string;
}

const SCALER_KEYS: readonly (keyof ScalerConfig)[] = [
  'startBacklog',
  'idleMinutes',
  'maxWaitMinutes',
  'bootTimeoutMinutes',
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
  let parsed: { appName?: unknown; scaler?: Record<string, unknown>; schedule?: Record<string, unknown> };
  try {
    parsed = JSON.parse(required('FLEET_CONFIG')) as typeof parsed;
  } catch (error) {
    throw new Error(`scaler environment: FLEET_CONFIG is not valid JSON (${(error as Error).message})`);
  }
  for (const key of SCALER_KEYS) {
    const value = parsed.scaler?.[key];
    if (typeof value !== 'number' || !(value > 0)) {
      throw new Error(
        `scaler environment: FLEET_CONFIG.scaler.${key} must be a positive number, got ${JSON.stringify(value)}`,
      );
    }
  }
  const timeZone = parsed.schedule?.timeZone;
  const holidays = parsed.schedule?.holidays ?? [];
  if (typeof timeZone !== 'string' || !Array.isArray(holidays)) {
    throw new Error('scaler environment: FLEET_CONFIG.schedule needs timeZone and holidays');
  }
  return {
    appName: typeof parsed.appName === 'string' ? parsed.appName : 'GpuFleet',
    scaler: parsed.scaler as unknown as ScalerConfig,
    schedule: { timeZone, holidays: holidays.map(String) },
    queueUrl: required('JOB_QUEUE_URL'),
    gpuInstanceId: required('GPU_INSTANCE_ID'),
    appInstanceId: required('APP_INSTANCE_ID'),
  };
}
