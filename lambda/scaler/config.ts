import {
  type BurstConfig,
  ConfigError,
  type ScalerConfig,
  type ScheduleConfig,
  resolveDeployedConfig,
} from '../../src/config.js';

/** What the scaler reads from its environment, set by the scaler stack. */
export interface ScalerEnvironment {
  /** The fleet tag's value: the scaler finds its instances by it, never by ids. */
  readonly appName: string;
  readonly scaler: ScalerConfig;
  readonly schedule: Pick<ScheduleConfig, 'timeZone' | 'holidays' | 'startHour' | 'stopHour' | 'weekDays'>;
  readonly queueUrl: string;
  /** The burst group's rules, when FLEET_CONFIG carries them; absent means no burst workers. */
  readonly burst?: BurstConfig;
}

/**
 * Reads the environment once, at cold start. FLEET_CONFIG is the part of the fleet's config the
 * scaler needs, resolved and checked by the same rules as at synth, so a hand-edited function
 * configuration fails here, naming the variable at fault.
 */
export function readEnvironment(env: Readonly<Record<string, string | undefined>>): ScalerEnvironment {
  const parsed = parseFleetConfig(required(env, 'FLEET_CONFIG'));
  const config = resolveFleetConfig(parsed);
  return {
    appName: config.appName,
    scaler: config.scaler,
    schedule: config.schedule,
    queueUrl: required(env, 'JOB_QUEUE_URL'),
    ...(parsed.burst !== undefined && { burst: config.burst }),
  };
}

function required(env: Readonly<Record<string, string | undefined>>, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`scaler environment: ${name} is not set`);
  return value;
}

function parseFleetConfig(text: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`scaler environment: FLEET_CONFIG is not valid JSON (${(error as Error).message})`);
  }
}

function resolveFleetConfig(parsed: Record<string, unknown>): ReturnType<typeof resolveDeployedConfig> {
  try {
    return resolveDeployedConfig(parsed);
  } catch (error) {
    if (error instanceof ConfigError) throw new Error(`scaler environment: FLEET_CONFIG.${error.detail}`);
    throw error;
  }
}
