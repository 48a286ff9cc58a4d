import { EC2Client } from '@aws-sdk/client-ec2';
import { SQSClient } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { createEc2Fleet } from '../../src/aws/ec2.js';
import { type FleetError, isFleetError } from '../../src/aws/errors.js';
import type { FleetPort, QueuePort } from '../../src/aws/ports.js';
import { createSqsQueue } from '../../src/aws/sqs.js';
import { runTick } from '../../src/control/tick.js';
import { isHoliday } from '../../src/core/schedule.js';
import { type ScalerEnvironment, readEnvironment } from './config.js';
import { type ScalerEvent, parseEvent } from './events.js';

/** What the handler needs from the world; the real ones are built at cold start. */
export interface ScalerDependencies {
  readonly fleet: FleetPort;
  readonly queue: QueuePort;
  readonly environment: ScalerEnvironment;
  readonly clock: () => Date;
  readonly logger: Pick<Logger, 'info' | 'warn' | 'error' | 'appendKeys'>;
  readonly metrics: Pick<Metrics, 'addMetric' | 'addDimension' | 'publishStoredMetrics'>;
}

export interface ScalerResult {
  readonly ok: boolean;
  readonly message: string;
}

/**
 * Builds the handler around its dependencies, so tests drive the real handler with mocked
 * clients and a virtual clock.
 */
export function createHandler(deps: ScalerDependencies): (event: unknown) => Promise<ScalerResult> {
  const { environment, logger, metrics } = deps;
  logger.appendKeys({ fleet: environment.appName });
  return async (event) => {
    const parsed = parseEvent(event);
    if ('invalid' in parsed) {
      logger.error('rejected event', { event, reason: parsed.invalid });
      return { ok: false, message: `invalid event: ${parsed.invalid}` };
    }
    metrics.addDimension('fleet', environment.appName);
    try {
      return parsed.action === 'tick' ? await tick(deps) : await manual(deps, parsed);
    } finally {
      metrics.publishStoredMetrics();
    }
  };
}

async function tick(deps: ScalerDependencies): Promise<ScalerResult> {
  const { environment, logger, metrics } = deps;
  const now = deps.clock();
  let report;
  try {
    report = await runTick(
      deps,
      { gpuInstanceId: environment.gpuInstanceId, queueUrl: environment.queueUrl },
      environment.scaler,
      now,
    );
  } catch (error) {
    // Throttling or a network blip: the next tick sees the world again. Anything else (access
    // denied, instance gone) is a fault an operator must see: rethrown for the Errors alarm.
    if (isFleetError(error) && error.retryable) {
      logger.warn('tick skipped: could not observe', { error: describe(error) });
      return { ok: false, message: error.message };
    }
    logger.error('tick failed', { error: isFleetError(error) ? describe(error) : String(error) });
    throw error;
  }

  const { observation, decision, outcome, error } = report;
  const count = (name: string, value: number): void => {
    metrics.addMetric(name, MetricUnit.Count, value);
  };
  count('Waiting', observation.queue.waiting);
  count('InFlight', observation.queue.inFlight);
  count('Delayed', observation.queue.delayed);
  count('GpuRunning', observation.gpu.state === 'running' ? 1 : 0);
  count('Starts', outcome === 'started' ? 1 : 0);
  count('Stops', outcome === 'stopped' ? 1 : 0);
  count('StartFailures', outcome === 'failed' && decision.action === 'start' ? 1 : 0);
  count('BootTimeouts', decision.signals.bootTimedOut ? 1 : 0);
  count('StartBlockedMinutes', decision.signals.startBlockedMinutes);
  count('GpuRunningMinutes', decision.signals.runningMinutes);

  const line = {
    observed: {
      ...observation.queue,
      gpuState: observation.gpu.state,
      stateReason: observation.gpu.stateReasonCode,
      readyAt: observation.gpu.readyAt?.toISOString(),
      holdUntil: report.previousMemory.holdUntil?.toISOString(),
    },
    decided: decision.action,
    reason: decision.reason,
    acted: outcome,
    error: error ? describe(error) : undefined,
    tagsWritten: Object.keys(report.tagsWritten).length,
  };
  if (outcome === 'failed') logger.warn(`tick: ${decision.action} failed: ${decision.reason}`, line);
  else logger.info(`tick: ${decision.action}: ${decision.reason}`, line);
  return { ok: outcome !== 'failed', message: decision.reason };
}

async function manual(
  deps: ScalerDependencies,
  event: Extract<ScalerEvent, { action: 'start' | 'stop' }>,
): Promise<ScalerResult> {
  const { environment, logger } = deps;
  if (event.action === 'start' && event.target === 'app' && event.source === 'schedule') {
    if (isHoliday(deps.clock(), environment.schedule)) {
      const message = 'scheduled start of the app host skipped: today is a configured holiday';
      logger.info(message, { event });
      return { ok: true, message };
    }
  }
  const ids =
    event.target === 'app'
      ? [environment.appInstanceId]
      : event.target === 'gpu'
        ? [environment.gpuInstanceId]
        : [environment.appInstanceId, environment.gpuInstanceId];
  try {
    await (event.action === 'start' ? deps.fleet.start(ids) : deps.fleet.stop(ids));
  } catch (error) {
    if (!isFleetError(error)) throw error;
    logger.error(`${event.action} ${event.target} failed`, { event, error: describe(error) });
    // Thrown so the invocation counts as failed and the scaler-errors alarm tells someone.
    throw error;
  }
  const message = `${event.action} ${event.target} (${ids.join(', ')}) requested`;
  logger.info(message, { event });
  return { ok: true, message };
}

function describe(error: FleetError): Record<string, unknown> {
  return { code: error.code, message: error.message, retryable: error.retryable };
}

let live: ((event: unknown) => Promise<ScalerResult>) | undefined;

/** The Lambda entry point; clients and configuration are created once per container. */
export const handler = async (event: unknown): Promise<ScalerResult> => {
  live ??= createHandler({
    fleet: createEc2Fleet(new EC2Client({})),
    queue: createSqsQueue(new SQSClient({})),
    environment: readEnvironment(process.env),
    clock: () => new Date(),
    logger: new Logger(),
    metrics: new Metrics(),
  });
  return live(event);
};
