import { readEnvironment } from '../../lambda/scaler/config';
import type { ScalerDependencies } from '../../lambda/scaler/handler';
import { DEFAULT_CONFIG } from '../../src/config';

/** The scaler's environment: the default scaler on a Tokyo weekday schedule, with `fleetConfig` over it. */
export function scalerEnvironment(fleetConfig: Record<string, unknown> = {}, queueUrl = 'q') {
  return readEnvironment({
    FLEET_CONFIG: JSON.stringify({
      appName: 'GpuFleet',
      scaler: DEFAULT_CONFIG.scaler,
      schedule: { timeZone: 'Asia/Tokyo', holidays: [], startHour: 9, weekDays: 'MON-FRI' },
      ...fleetConfig,
    }),
    JOB_QUEUE_URL: queueUrl,
  });
}

export interface LogRecord {
  readonly level: string;
  readonly message: string;
  readonly extra?: unknown;
}

/**
 * The handler's logger and metrics as the handler suites read them: every log line in `logs`, and
 * the metrics of each invocation, as published, in `published`.
 */
export function recordingObservability(): Pick<ScalerDependencies, 'logger' | 'metrics'> & {
  readonly logs: LogRecord[];
  readonly published: Array<Record<string, number>>;
} {
  const logs: LogRecord[] = [];
  const published: Array<Record<string, number>> = [];
  let metrics: Record<string, number> = {};
  const record = (level: string) => (message: string, extra?: unknown) =>
    logs.push({ level, message, extra });
  return {
    logs,
    published,
    logger: {
      info: record('info'),
      warn: record('warn'),
      error: record('error'),
      appendKeys: () => undefined,
    } as unknown as ScalerDependencies['logger'],
    metrics: {
      addMetric: (name: string, _unit: unknown, value: number) => {
        metrics[name] = value;
      },
      addDimension: () => undefined,
      publishStoredMetrics: () => {
        published.push(metrics);
        metrics = {};
      },
    } as unknown as ScalerDependencies['metrics'],
  };
}
