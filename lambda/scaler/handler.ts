import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SQSClient } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { burstGroupFromEnvironment } from '../../src/aws/burst.js';
import { createEc2Fleet, discoverFleetInstances } from '../../src/aws/ec2.js';
import { type FleetError, isFleetError } from '../../src/aws/errors.js';
import type { BurstPort, FleetPort, InstanceInfo, QueuePort } from '../../src/aws/ports.js';
import { createSqsQueue } from '../../src/aws/sqs.js';
import { type ScheduledActionCounter, TICK_COUNTERS, type TickCounter } from '../../src/control/metrics.js';
import { retireAllBurstWorkers, runOperatorCommand } from '../../src/control/operator.js';
import { rememberFailedScheduledAction, retryScheduledAction } from '../../src/control/scheduled-action.js';
import {
  type BurstTickReport,
  type FleetDiscovery,
  FleetLayoutError,
  PrimaryUnobservedError,
  type TickReport,
  instanceOfRole,
  runTick,
} from '../../src/control/tick.js';
import { pauseUntil } from '../../src/core/operator.js';
import { isHoliday, scheduledActionWindowEnd } from '../../src/core/schedule.js';
import { type Role, isoSeconds } from '../../src/core/tags.js';
import { type ScalerEnvironment, readEnvironment } from './config.js';
import { type ScalerEvent, parseEvent } from './events.js';

/** What the handler needs from the world; the real ones are built at cold start. */
export interface ScalerDependencies {
  readonly fleet: FleetPort & FleetDiscovery;
  readonly queue: QueuePort;
  /**
   * The burst workers' Auto Scaling group, when the fleet has one. Used only when the
   * environment's burst.maxWorkers is above 0; without it the scaler runs the one-GPU loop.
   */
  readonly burst?: BurstPort;
  readonly environment: ScalerEnvironment;
  readonly clock: () => Date;
  readonly logger: Pick<Logger, 'info' | 'warn' | 'error' | 'appendKeys'>;
  readonly metrics: Pick<Metrics, 'addMetric' | 'addDimension' | 'publishStoredMetrics'>;
}

export interface ScalerResult {
  readonly ok: boolean;
  readonly message: string;
}

export { TICK_COUNTERS } from '../../src/control/metrics.js';

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
  // The tick's one DescribeInstances, kept for the app host's turn: it needs no second call.
  let discovered: readonly InstanceInfo[] | undefined;
  const fleet: ScalerDependencies['fleet'] = {
    ...deps.fleet,
    discover: async (appName) => (discovered = await deps.fleet.discover(appName)),
  };
  let report: TickReport;
  try {
    report = await runTick(
      { ...deps, fleet },
      { appName: environment.appName, queueUrl: environment.queueUrl },
      environment.scaler,
      now,
      environment.burst,
    );
  } catch (error) {
    // A GPU that cannot be observed does not keep the app host from its scheduled start.
    await scheduledActionTurn(deps, discovered, now);
    return unobservedTick(deps, error);
  }
  await scheduledActionTurn(deps, discovered, now);
  recordTickMetrics(metrics, report);
  const { decision, outcome, tagError, burst } = report;
  const burstFailed = (burst?.errors.length ?? 0) > 0;
  const line = tickLogLine(report);
  if (outcome === 'failed' || tagError || burstFailed)
    logger.warn(`tick: ${decision.action} ${outcome}: ${decision.reason}`, line);
  else logger.info(`tick: ${decision.action}: ${decision.reason}`, line);

  // A refusal that retrying cannot cure (access denied, instance gone) fails the invocation, so
  // the Errors alarm reaches a person; the metrics above are already stored for publishing.
  const fatal = [report.error, tagError, ...(burst?.errors.map((e) => e.error) ?? [])].find(
    (e) => e !== undefined && !e.retryable,
  );
  if (fatal) throw fatal;
  const message = burst?.decision ? `${decision.reason} | ${burst.decision.reason}` : decision.reason;
  return { ok: outcome !== 'failed' && tagError === undefined && !burstFailed, message };
}

/**
 * The app host's turn on a tick: a scheduled start or stop that failed is retried until it
 * succeeds or its window ends. Its own metrics and log line say what happened; it never fails the
 * tick (the GPU's loop is not the app host's). Skipped when the fleet was not observed, or when
 * it holds no or several app hosts.
 */
async function scheduledActionTurn(
  deps: ScalerDependencies,
  discovered: readonly InstanceInfo[] | undefined,
  now: Date,
): Promise<void> {
  const apps = discovered?.filter((instance) => instance.role === 'app') ?? [];
  const app = apps.length === 1 ? apps[0] : undefined;
  if (app === undefined) return;
  const retry = await retryScheduledAction(deps.fleet, app, now);
  if (retry === undefined) return;
  const { pending, decision, error, tagError } = retry;
  countScheduledAction(deps.metrics, 'ScheduledHostActionFailures', error ? 1 : 0);
  countScheduledAction(deps.metrics, 'ScheduledHostActionsMissed', decision.kind === 'missed' ? 1 : 0);
  const fields = {
    scheduledAction: {
      action: pending.action,
      until: isoSeconds(pending.until),
      appState: app.state,
      decided: decision.kind,
      error: error ? describe(error) : undefined,
      tagError: tagError ? describe(tagError) : undefined,
    },
  };
  if (error) {
    deps.logger.error(
      `scheduled ${pending.action} of the app host failed again (${error.message}); retried every minute until ${isoSeconds(pending.until)}; npx gpu-manage ${pending.action}-app does it by hand`,
      fields,
    );
  } else if (decision.kind === 'missed') deps.logger.error(decision.reason, fields);
  else if (tagError)
    deps.logger.warn(`${decision.reason}; its mark not cleared: ${tagError.message}`, fields);
  else deps.logger.info(decision.reason, fields);
}

function countScheduledAction(
  metrics: ScalerDependencies['metrics'],
  name: ScheduledActionCounter,
  value: number,
): void {
  metrics.addMetric(name, MetricUnit.Count, value);
}

/**
 * A tick that could not observe the fleet still publishes its counters. Throttling or a 5xx: the
 * next tick sees the world again. Anything else (access denied, no or several GPU instances) is a
 * fault an operator must see: rethrown for the Errors alarm.
 */
function unobservedTick(deps: ScalerDependencies, caught: unknown): ScalerResult {
  // The burst workers' turn may have run without the primary: its figures and its reason are kept.
  const burst = caught instanceof PrimaryUnobservedError ? caught.burst : undefined;
  const error = caught instanceof PrimaryUnobservedError ? caught.cause : caught;
  const counters = zeroCounters();
  counters.TickFailures = 1;
  if (error instanceof FleetLayoutError) counters.FleetLayoutErrors = 1;
  for (const name of TICK_COUNTERS) deps.metrics.addMetric(name, MetricUnit.Count, counters[name]);
  if (burst) {
    recordBurstMetrics(deps.metrics, burst);
    deps.logger.warn(`burst without the primary: ${burst.decision?.reason ?? 'group not described'}`, {
      burst: burstLogFields(burst),
    });
  }
  if (isFleetError(error) && error.retryable) {
    deps.logger.warn('tick skipped: could not observe', { error: describe(error) });
    return { ok: false, message: error.message };
  }
  deps.logger.error('tick failed', { error: isFleetError(error) ? describe(error) : String(error) });
  throw error;
}

function zeroCounters(): Record<TickCounter, number> {
  const counters = Object.fromEntries(TICK_COUNTERS.map((n) => [n, 0])) as Record<TickCounter, number>;
  counters.Heartbeat = 1;
  return counters;
}

/** The counters of a tick that observed the fleet: what it did, what failed, what the decision signalled. */
export function tickCounters(report: TickReport): Record<TickCounter, number> {
  const { decision, outcome, tagError } = report;
  const counters = zeroCounters();
  counters.Starts = outcome === 'started' ? 1 : 0;
  counters.Stops = outcome === 'stopped' ? 1 : 0;
  counters.StartFailures = outcome === 'failed' && decision.action === 'start' ? 1 : 0;
  counters.StopFailures = outcome === 'failed' && decision.action === 'stop' ? 1 : 0;
  counters.TagWriteFailures = tagError ? 1 : 0;
  counters.TickFailures = tagError ? 1 : 0;
  counters.BootTimeouts = decision.signals.bootTimedOut ? 1 : 0;
  counters.WorkerStalls = decision.signals.workerStalled ? 1 : 0;
  counters.MaxRunStops = decision.signals.maxRunExceeded ? 1 : 0;
  return counters;
}

/** Every tick's metrics: its counters, the queue, the GPU and, with burst workers, the group's. */
function recordTickMetrics(metrics: ScalerDependencies['metrics'], report: TickReport): void {
  const count = (name: string, value: number): void => {
    metrics.addMetric(name, MetricUnit.Count, value);
  };
  const { observation, decision, burst } = report;
  const counters = tickCounters(report);
  for (const name of TICK_COUNTERS) count(name, counters[name]);
  count('Waiting', observation.queue.waiting);
  count('InFlight', observation.queue.inFlight);
  count('Delayed', observation.queue.delayed);
  count('GpuRunning', observation.gpu.state === 'running' ? 1 : 0);
  count('StartBlockedMinutes', decision.signals.startBlockedMinutes);
  count('GpuRunningMinutes', decision.signals.runningMinutes);
  if (burst) recordBurstMetrics(metrics, burst);
}

/** The burst group's figures of a tick; unobserved (describe refused), only the failure counts. */
function recordBurstMetrics(metrics: ScalerDependencies['metrics'], burst: BurstTickReport): void {
  const signals = burst.decision?.signals;
  if (signals) {
    metrics.addMetric('BurstWorkers', MetricUnit.Count, signals.workers);
    metrics.addMetric('BurstOnDemandWorkers', MetricUnit.Count, signals.onDemandWorkers);
  }
  metrics.addMetric('BurstLaunchFailures', MetricUnit.Count, signals?.launchFailures ?? 0);
  metrics.addMetric('BurstBootTimeouts', MetricUnit.Count, signals?.bootTimeouts ?? 0);
  metrics.addMetric('BurstRunTooLong', MetricUnit.Count, signals?.overRunTime ?? 0);
}

/** The tick's one log line: observed → decided → reason → acted, and the burst group's turn. */
export function tickLogLine(report: TickReport): Record<string, unknown> {
  const { observation, decision, outcome, error, tagError, burst } = report;
  return {
    observed: {
      ...observation.queue,
      gpuState: observation.gpu.state,
      stateReason: observation.gpu.stateReasonCode,
      readyAt: observation.gpu.readyAt?.toISOString(),
      lastJobAt: observation.gpu.lastJobAt?.toISOString(),
      holdUntil: report.previousMemory.holdUntil?.toISOString(),
      pausedUntil: report.previousMemory.pausedUntil?.toISOString(),
    },
    decided: decision.action,
    reason: decision.reason,
    acted: outcome,
    error: error ? describe(error) : undefined,
    tagsWritten: Object.keys(report.tagsWritten).length,
    tagError: tagError ? describe(tagError) : undefined,
    ...(burst && { burst: burstLogFields(burst) }),
  };
}

/** The burst turn in the tick's log line. */
function burstLogFields(burst: BurstTickReport): Record<string, unknown> {
  return {
    primary: burst.observation?.primaryUnknown ? 'unobserved' : burst.observation?.primary,
    desired: burst.observation?.group.desired,
    workers: burst.decision?.signals.workers,
    onDemand: burst.observation?.group.onDemand,
    reason: burst.decision?.reason,
    setDesired: burst.decision?.desired,
    retired: burst.decision?.retire.map((r) => r.instanceId),
    drainsCompleted: burst.decision?.complete,
    setOnDemand: burst.decision?.onDemand,
    errors: burst.errors.map((e) => ({ action: e.action, ...describe(e.error) })),
  };
}

async function manual(
  deps: ScalerDependencies,
  event: Extract<ScalerEvent, { action: 'start' | 'stop' }>,
): Promise<ScalerResult> {
  const { environment, logger, fleet } = deps;
  const now = deps.clock();
  const scheduled = event.source === 'schedule' && event.target === 'app';
  if (scheduled && event.action === 'start' && isHoliday(now, environment.schedule)) {
    const message = 'scheduled start of the app host skipped: today is a configured holiday';
    logger.info(message, { event });
    return { ok: true, message };
  }
  const roles: Role[] = event.target === 'all' ? ['app', 'gpu'] : [event.target];
  const discovered = await fleet.discover(environment.appName);
  const instances: Partial<Record<Role, InstanceInfo>> = {};
  for (const role of roles) instances[role] = instanceOfRole(discovered, role, environment.appName);
  const until =
    event.action === 'stop' && roles.includes('gpu')
      ? pauseUntil(now, environment.schedule, event.until)
      : event.until;
  const result = await runOperatorCommand(fleet, instances, { action: event.action, roles, until });
  const lines = result.outcomes.map((o) => (o.error ? `${o.note} Failed: ${o.error.message}` : o.note));
  if (result.tagError) lines.push(`GPU hold/pause tags not written: ${result.tagError.message}`);
  if (result.scheduledActionError)
    lines.push(`The app host's failed scheduled action not cleared: ${result.scheduledActionError.message}`);
  // A stop of the GPU is a stop of every GPU, as `gpu-manage stop-gpu`: the pause alone would only
  // keep new burst workers from starting, and busy ones would serve (and bill) until the queue is empty.
  let burstOk = true;
  if (
    event.action === 'stop' &&
    roles.includes('gpu') &&
    deps.burst &&
    (environment.burst?.maxWorkers ?? 0) > 0
  ) {
    const burst = await retireAllBurstWorkers(deps.burst);
    if (burst.retired.length > 0) lines.push(`burst workers retiring: ${burst.retired.join(', ')}.`);
    for (const { target, error } of burst.failures) lines.push(`${target}: ${error.message}.`);
    burstOk = burst.failures.length === 0;
  }
  let message = `${event.action} ${event.target}: ${lines.join(' ')}`;
  const app = instances.app;
  if (scheduled && app && result.outcomes.some((outcome) => !outcome.ok)) {
    // Remembered on the app host, the action is retried by the ticks for the rest of its window,
    // and the invocation returns its failure instead of throwing it. Only when it cannot be
    // remembered does it throw: Lambda's own retries (and the dropped-event alarm after them) are
    // what is left.
    countScheduledAction(deps.metrics, 'ScheduledHostActionFailures', 1);
    const pending = {
      action: event.action,
      until: scheduledActionWindowEnd(event.action, now, environment.schedule),
    };
    const markError = await rememberFailedScheduledAction(fleet, app, pending);
    if (markError === undefined) {
      message += ` The scaler retries it every minute until ${isoSeconds(pending.until)}; npx gpu-manage ${event.action}-app does it by hand.`;
      logger.error(message, { event, outcomes: result.outcomes, retryUntil: isoSeconds(pending.until) });
      return { ok: false, message };
    }
    message += ` Not remembered for the scaler's retries: ${markError.message}.`;
  }
  if (!result.ok || !burstOk) {
    logger.error(message, { event, outcomes: result.outcomes, tagsWritten: result.tagsWritten });
    // Thrown so the invocation counts as failed and the scaler-errors alarm tells someone.
    throw new Error(message);
  }
  logger.info(message, { event, outcomes: result.outcomes, tagsWritten: result.tagsWritten });
  return { ok: true, message };
}

function describe(error: FleetError): Record<string, unknown> {
  return { code: error.code, message: error.message, retryable: error.retryable };
}

/** The EC2 adapter with discovery by the fleet tag: what the Lambda (and the bench) run on. */
export function createAwsFleet(ec2: EC2Client): FleetPort & FleetDiscovery {
  return { ...createEc2Fleet(ec2), discover: (appName) => discoverFleetInstances(ec2, appName) };
}

let live: ((event: unknown) => Promise<ScalerResult>) | undefined;

/** The Lambda entry point; clients and configuration are created once per container. */
export const handler = async (event: unknown): Promise<ScalerResult> => {
  if (live === undefined) {
    const ec2 = new EC2Client({});
    live = createHandler({
      fleet: createAwsFleet(ec2),
      // The burst group, when the stack deployed one (BURST_GROUP_NAME is set only then).
      burst: burstGroupFromEnvironment(process.env, () => ({ autoScaling: new AutoScalingClient({}), ec2 })),
      queue: createSqsQueue(new SQSClient({})),
      environment: readEnvironment(process.env),
      clock: () => new Date(),
      logger: new Logger(),
      metrics: new Metrics(),
    });
  }
  return live(event);
};
