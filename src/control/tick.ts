import type { BurstConfig, ScalerConfig } from '../config.js';
import {
  type BurstDecision,
  type BurstGroupObservation,
  type BurstObservation,
  type BurstRules,
  type PrimaryStatus,
  decideBurst,
  isActiveWorker,
} from '../core/burst.js';
import { activeOperatorTime, decide, recordStartFailure, recordStopFailure } from '../core/decide.js';
import type { Decision, Observation, ScalerMemory } from '../core/model.js';
import {
  type Role,
  TAGS,
  memoryFromTags,
  memoryTagChanges,
  parseTagDate,
  workerReportFromTags,
} from '../core/tags.js';
import { type FleetError, isFleetError } from '../aws/errors.js';
import { attemptRecordingRefusals, completeDrains, resizeAndRetire } from './burst-actions.js';
import type { BurstGroupState, BurstPort, FleetPort, InstanceInfo, QueuePort } from '../aws/ports.js';

/** Finds the fleet's instances by their fleet tag (never by ids handed over from a stack). */
export interface FleetDiscovery {
  discover(appName: string): Promise<InstanceInfo[]>;
}

/** Where the loop looks: the fleet (by its tag) and the job queue. */
export interface TickTarget {
  readonly appName: string;
  readonly queueUrl: string;
}

/** Zero or several instances where exactly one must be: a deployment fault, never a silent pick. */
export class FleetLayoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FleetLayoutError';
  }
}

/**
 * The primary could not be observed (its description failed, or zero or several were found), so
 * its turn did not run; the burst group's turn ran without it and is reported here. `cause` is the
 * original error, which the handler treats as it would treat it alone.
 */
export class PrimaryUnobservedError extends Error {
  constructor(
    readonly cause: unknown,
    readonly burst: BurstTickReport,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'PrimaryUnobservedError';
  }
}

/** Everything one tick saw, decided and did: what the handler logs and the simulator records. */
export interface TickReport {
  readonly observation: Observation;
  readonly decision: Decision;
  /** What was done: the decided action, or 'failed' when EC2 refused it. */
  readonly outcome: 'started' | 'stopped' | 'none' | 'failed';
  /** The EC2 error of a refused start/stop. */
  readonly error?: FleetError;
  /** The memory as it was before and as it should be now. */
  readonly previousMemory: ScalerMemory;
  readonly memory: ScalerMemory;
  /** The tags written (or attempted) to hold the new memory (empty when nothing changed). */
  readonly tagsWritten: Readonly<Record<string, string>>;
  /** Set when the memory could not be written; the action above stands (EC2 shows it next tick). */
  readonly tagError?: FleetError;
  /** The burst workers' turn, when a burst group is configured (maxWorkers > 0) and given. */
  readonly burst?: BurstTickReport;
}

/** What the burst decision saw, decided and did on this tick. */
export interface BurstTickReport {
  /** Undefined when the group could not be described (then `errors` says why and nothing was done). */
  readonly observation?: BurstObservation;
  readonly decision?: BurstDecision;
  /** The memory to keep: the decision's, except that a refused market switch keeps the old market memory. */
  readonly memory?: ScalerMemory;
  /** Each refused group call, by what was asked; the others still ran. */
  readonly errors: ReadonlyArray<{ readonly action: string; readonly error: FleetError }>;
}

/**
 * The one instance of `role` in the fleet. Zero or several is an error that names what was found,
 * so a copy left by a failed replacement or a missing tag is reported, never guessed around.
 */
export function instanceOfRole(
  instances: readonly InstanceInfo[],
  role: Role,
  appName: string,
): InstanceInfo {
  const found = instances.filter((i) => i.role === role);
  if (found.length === 1 && found[0]) return found[0];
  throw new FleetLayoutError(
    found.length === 0
      ? `no ${role} instance tagged ${TAGS.fleet}=${appName} and ${TAGS.role}=${role} (terminated ones do not count)`
      : `${found.length} ${role} instances tagged ${TAGS.fleet}=${appName}: ${found.map((i) => `${i.instanceId} (${i.state})`).join(', ')}; exactly one is expected`,
  );
}

/** What the scaler observes of the GPU instance, from its EC2 description and the worker's tags. */
export function observeGpu(gpu: InstanceInfo): Observation['gpu'] {
  const report = workerReportFromTags(gpu.tags);
  return {
    instanceId: gpu.instanceId,
    state: gpu.state,
    launchTime: gpu.launchTime,
    stateReasonCode: gpu.stateReasonCode,
    ...report,
    // The ready tag of any launch: present once this instance has completed its first boot.
    everReadyAt: report.readyAt,
  };
}

/** What the burst decision sees of the group: the Auto Scaling view with each worker's own tags read. */
export function observeBurstGroup(state: BurstGroupState): BurstGroupObservation {
  return {
    desired: state.desired,
    max: state.max,
    onDemand: state.onDemand,
    lastLaunchFailure: state.lastLaunchFailure,
    workers: state.workers.map((w) => ({
      instanceId: w.instanceId,
      lifecycleState: w.lifecycleState,
      market: w.market,
      launchTime: w.launchTime,
      ...workerReportFromTags(w.tags),
      drainedAt: parseTagDate(w.tags[TAGS.drainedAt]),
    })),
  };
}

/**
 * The primary as the burst rules see it after its own turn: serving when running or pending with
 * no error (not stuck, not past its boot timeout, not stopped on this tick) or started on this
 * tick; blocked when work waits and the primary's
 * memory holds an error (start refused or backing off, spot-interrupted, stuck, never ready);
 * otherwise idle. An operator's pause makes it idle whatever its state.
 */
export function primaryStatus(
  observation: Observation,
  outcome: TickReport['outcome'],
  action: Decision['action'],
  memory: ScalerMemory,
  now: Date,
): PrimaryStatus {
  // The operator's stop: a primary still pending from before it is stopped on a later tick, and
  // must not count as serving in between (burst workers would start against the pause).
  if (activeOperatorTime(memory.pausedUntil, now) !== undefined) return 'idle';
  const up = observation.gpu.state === 'running' || observation.gpu.state === 'pending';
  if (outcome === 'started') return 'serving';
  // Up but stuck, never ready or stalled is not serving: the group is sized without it.
  if (up && action !== 'stop' && memory.lastError === undefined) return 'serving';
  return observation.queue.waiting > 0 && memory.lastError !== undefined ? 'blocked' : 'idle';
}

/**
 * Why a start did not take is in the spot request (price-too-low, capacity-not-available): read
 * only for a stopped GPU after a start, and never at the price of the tick (a failure reads as unknown).
 */
async function spotRequestAfterStart(
  fleet: FleetPort,
  gpu: InstanceInfo,
  memory: ScalerMemory,
): Promise<string | undefined> {
  if (gpu.state !== 'stopped' || !gpu.spotInstanceRequestId || memory.lastAction !== 'start')
    return undefined;
  if (!fleet.spotRequestStatus) return undefined;
  try {
    return await fleet.spotRequestStatus(gpu.spotInstanceRequestId);
  } catch {
    return undefined;
  }
}

/**
 * One turn of the control loop: observe → decide → act → remember. Shared by the scaler Lambda
 * (with the AWS adapters) and the simulator (with its in-memory fleet), so neither has its own copy.
 * Errors of the observation propagate. A refused start or stop is folded into memory; a failed
 * tag write is reported beside the action, which stands: the next tick sees it in EC2's state.
 */
export async function runTick(
  ports: {
    readonly fleet: FleetPort & FleetDiscovery;
    readonly queue: QueuePort;
    /** The burst group; without it (or with burst.maxWorkers 0) the tick is the one-GPU loop, unchanged. */
    readonly burst?: BurstPort;
  },
  target: TickTarget,
  config: ScalerConfig,
  now: Date,
  burst?: BurstConfig,
): Promise<TickReport> {
  const [queue, gpu] = await observeQueueAndPrimary(ports, target, now, burst, config.maxRunHours);
  const previousMemory = memoryFromTags(gpu.tags);
  const observation: Observation = {
    queue,
    gpu: {
      ...observeGpu(gpu),
      spotRequestStatus: await spotRequestAfterStart(ports.fleet, gpu, previousMemory),
    },
  };
  const decided = decide(observation, previousMemory, config, now);
  // The scaler may neither start, stop nor tag an instance without the fleet's tags.
  const decision: Decision = gpu.relaunchedBy
    ? {
        ...decided,
        action: 'none',
        memory: previousMemory,
        reason: `GPU ${gpu.instanceId} was relaunched by its spot request ${gpu.relaunchedBy} without the fleet's tags (terminated by hand?): left alone; raise hostRevision.gpu and deploy to replace it`,
      }
    : decided;

  let memory = decision.memory;
  let outcome: TickReport['outcome'] = 'none';
  let error: FleetError | undefined;
  if (decision.action !== 'none') {
    try {
      if (decision.action === 'start') await ports.fleet.start([gpu.instanceId]);
      else await ports.fleet.stop([gpu.instanceId]);
      outcome = decision.action === 'start' ? 'started' : 'stopped';
    } catch (caught) {
      if (!isFleetError(caught)) throw caught;
      error = caught;
      outcome = 'failed';
      memory =
        decision.action === 'start'
          ? recordStartFailure(memory, caught.code, now)
          : recordStopFailure(memory, caught.code, now);
    }
  }

  let burstReport: BurstTickReport | undefined;
  if (ports.burst && burst && burst.maxWorkers > 0) {
    const status = primaryStatus(observation, outcome, decision.action, memory, now);
    burstReport = await runBurstTurn(
      ports.burst,
      observation.queue,
      status,
      memory,
      { burst, maxRunHours: config.maxRunHours },
      now,
    );
    if (burstReport.memory) memory = burstReport.memory;
  }

  const tagsWritten = gpu.relaunchedBy ? {} : memoryTagChanges(previousMemory, memory);
  let tagError: FleetError | undefined;
  if (Object.keys(tagsWritten).length > 0) {
    try {
      await ports.fleet.writeTags(gpu.instanceId, tagsWritten);
    } catch (caught) {
      if (!isFleetError(caught)) throw caught;
      tagError = caught;
    }
  }
  return {
    observation,
    decision,
    outcome,
    error,
    previousMemory,
    memory,
    tagsWritten,
    tagError,
    ...(burstReport && { burst: burstReport }),
  };
}

/**
 * The queue and the primary instance. When the primary cannot be observed but the queue can (its
 * description refused, or no GPU for a few minutes between a rotation's termination and its
 * launch), the burst workers are not left running idle: the group's turn runs without the
 * primary's memory (no scale-out, only workers that provably hold no job go, nothing written),
 * and the error says what it did.
 */
async function observeQueueAndPrimary(
  ports: Parameters<typeof runTick>[0],
  target: TickTarget,
  now: Date,
  burst: BurstConfig | undefined,
  maxRunHours: number,
): Promise<[Observation['queue'], InstanceInfo]> {
  const [queue, instances] = await Promise.allSettled([
    ports.queue.counts(target.queueUrl),
    ports.fleet.discover(target.appName),
  ]);
  if (queue.status === 'rejected') throw queue.reason;
  try {
    if (instances.status === 'rejected') throw instances.reason;
    return [queue.value, instanceOfRole(instances.value, 'gpu', target.appName)];
  } catch (error) {
    if (!ports.burst || !burst || burst.maxWorkers <= 0) throw error;
    const report = await runBurstTurn(
      ports.burst,
      queue.value,
      'blocked',
      {},
      { burst, maxRunHours },
      now,
      true,
    );
    throw new PrimaryUnobservedError(error, report);
  }
}

/**
 * The burst group's turn, after the primary's: observe the group, decide, act. Every group call is
 * isolated (a refused one is reported, the others still run), and a group that cannot be described
 * skips the turn without touching the primary's.
 */
async function runBurstTurn(
  port: BurstPort,
  queue: Observation['queue'],
  primary: PrimaryStatus,
  memory: ScalerMemory,
  rules: BurstRules,
  now: Date,
  primaryUnknown = false,
): Promise<BurstTickReport> {
  const errors: Array<{ action: string; error: FleetError }> = [];
  const attempt = attemptRecordingRefusals((action, error) => errors.push({ action, error }));
  let group: BurstGroupState | undefined;
  await attempt('describe', async () => {
    group = await port.describe();
  });
  if (group === undefined) return { errors };
  const observation: BurstObservation = {
    queue,
    primary,
    group: observeBurstGroup(group),
    heldWorkers: activeOperatorTime(memory.holdUntil, now) !== undefined ? (memory.burstHoldWorkers ?? 0) : 0,
    paused: activeOperatorTime(memory.pausedUntil, now) !== undefined,
    waitingSince: memory.pendingSince,
    ...(primaryUnknown && { primaryUnknown }),
  };
  const decision = decideBurst(observation, memory, rules, now);
  // Market first, so the workers this tick asks for come from the right one.
  let next: ScalerMemory = { ...memory, ...decision.memory };
  if (decision.onDemand !== undefined) {
    const onDemand = decision.onDemand;
    const before = errors.length;
    await attempt(onDemand ? 'on-demand' : 'spot', () => port.setOnDemand(onDemand));
    if (errors.length > before) {
      next = {
        ...next,
        burstSpotFailingSince: memory.burstSpotFailingSince,
        burstOnDemandSince: memory.burstOnDemandSince,
      };
    }
  }
  // Decrements recounted from the desired the group keeps if it refuses the new one.
  await resizeAndRetire(
    port,
    {
      desired: observation.group.desired,
      activeWorkers: observation.group.workers.filter(isActiveWorker).length,
    },
    { desired: decision.desired, retire: decision.retire.map((r) => r.instanceId) },
    attempt,
    { desired: (desired) => `desired ${desired}`, retire: (instanceId) => `retire ${instanceId}` },
  );
  await completeDrains(port, decision.complete, attempt);
  return { observation, decision, memory: next, errors };
}
