import { NO_PROGRESS_MINUTES, type ScalerConfig } from '../config.js';
import type {
  Decision,
  DecisionSignals,
  Ec2ErrorCode,
  GpuObservation,
  Observation,
  ScalerMemory,
} from './model.js';
import { isoSeconds as iso, pastTime } from './tags.js';

/**
 * The control loop's one decision, as a pure function: no I/O, no clock.
 *
 * The scaler Lambda, `gpu-manage` and the simulator all call this, so each rule exists once.
 * It reacts to what it observes, not to what it did: EC2 may stop a spot instance or start it
 * again by itself, and the next tick simply sees the new state.
 */

const MINUTE_MS = 60_000;

/** EC2's state reason when it stopped a spot instance because of an interruption. */
export const SPOT_INTERRUPTION_REASON = 'Server.SpotInstanceShutdown';

/** Back-off between failed starts: 1, 2, 4, 8, then 15 minutes at most. */
export const MAX_START_BACKOFF_MINUTES = 15;

/**
 * After a worker never became ready, the scaler waits this long before it starts the GPU again,
 * so a broken image costs at most one boot timeout an hour (an operator can start it sooner).
 */
export const BOOT_TIMEOUT_PAUSE_MINUTES = 60;

export { NO_PROGRESS_MINUTES } from '../config.js';

/**
 * Past maxRunHours the GPU is stopped at the first tick with nothing in flight, and after this
 * much longer even with a job in flight (the job returns to the queue): the hard limit.
 */
export const MAX_RUN_GRACE_MINUTES = 30;

/** EC2 leaves pending within about a minute and stopping within a few: longer than this is stuck. */
export const STUCK_TRANSITION_MINUTES = 10;

/** The longest hold or pause the scaler honours (the CLI's limit); a later value is ignored. */
export const MAX_OPERATOR_DAYS = 7;

/** How far a launch time may precede the start it answers (clock skew, tag times to the second). */
const LAUNCH_SKEW_MS = 30_000;

const NO_SIGNALS: DecisionSignals = {
  startBlockedMinutes: 0,
  runningMinutes: 0,
  bootTimedOut: false,
  workerStalled: false,
  maxRunExceeded: false,
};

/**
 * An operator's time (hold or pause) that still binds at `now`: expired values and values further
 * ahead than MAX_OPERATOR_DAYS (hand-written, never from the CLI) are ignored, never cleared.
 */
export function activeOperatorTime(until: Date | undefined, now: Date): Date | undefined {
  if (until === undefined || until <= now) return undefined;
  const limit = now.getTime() + MAX_OPERATOR_DAYS * 1440 * MINUTE_MS + MINUTE_MS;
  return until.getTime() <= limit ? until : undefined;
}

/**
 * Since when the worker of the current launch has been idle as far as it reported: the later of
 * its ready time and its last job. Values from an earlier launch do not count. Undefined while
 * the worker has reported neither.
 */
export function idleSince(gpu: GpuObservation, now: Date): Date | undefined {
  return workerIdleSince(gpu, now);
}

/**
 * The same for any worker, primary or burst: the later of its ready and last-job times of its
 * current launch. One rule for every worker, so "idle" means the same thing everywhere. A time
 * from the future is no report at all (pastTime).
 */
export function workerIdleSince(
  worker: {
    readonly launchTime?: Date;
    readonly readyAt?: Date;
    readonly lastJobAt?: Date;
  },
  now: Date,
): Date | undefined {
  const launchedAt = worker.launchTime;
  const current = (reported: Date | undefined): Date | undefined => {
    const date = pastTime(reported, now);
    return date !== undefined && (launchedAt === undefined || date >= launchedAt) ? date : undefined;
  };
  // A job of this launch proves the worker ready even if its ready tag has not landed yet.
  const lastJobAt = current(worker.lastJobAt);
  const readyAt = current(worker.readyAt) ?? lastJobAt;
  if (readyAt === undefined) return undefined;
  // Stryker disable next-line EqualityOperator: equivalent - on equal times either one is the answer
  return lastJobAt !== undefined && lastJobAt > readyAt ? lastJobAt : readyAt;
}

export function decide(
  observation: Observation,
  memory: ScalerMemory,
  config: ScalerConfig,
  now: Date,
): Decision {
  const { queue, gpu } = observation;
  const hold = activeOperatorTime(memory.holdUntil, now);
  const pause = activeOperatorTime(memory.pausedUntil, now);
  const queueText = `${queue.waiting} waiting, ${queue.inFlight} in flight, ${queue.delayed} delayed`;
  const inTransition = gpu.state === 'pending' || gpu.state === 'stopping' || gpu.state === 'shutting-down';

  // Tracked in every state, so the maximum-wait rule sees the whole wait.
  const base: ScalerMemory = {
    ...memory,
    pendingSince: queue.waiting > 0 ? (memory.pendingSince ?? now) : undefined,
    transitionSince: inTransition ? (memory.transitionSince ?? now) : undefined,
  };
  const context: Context = {
    observation,
    config,
    now,
    hold,
    pause,
    queueText,
    previousError: memory.lastError,
    errorSince: memory.errorSince,
  };

  switch (gpu.state) {
    case 'pending':
    case 'stopping':
    case 'shutting-down':
      return decideTransition(context, base);
    case 'terminated':
      return stayPut(
        base,
        `GPU instance ${gpu.instanceId} is terminated; it cannot be started (redeploy the compute stack)`,
        now,
        queue.waiting > 0 ? 'NotFound' : undefined,
      );
    case 'stopped':
      return decideStopped(context, base);
    case 'running':
      return decideRunning(context, base);
  }
}

interface Context {
  readonly observation: Observation;
  readonly config: ScalerConfig;
  readonly now: Date;
  /** The hold that binds now, if any. */
  readonly hold?: Date;
  /** The operator's pause that binds now, if any. */
  readonly pause?: Date;
  readonly queueText: string;
  /** The error the memory held before this tick, and since when. */
  readonly previousError?: Ec2ErrorCode;
  readonly errorSince?: Date;
}

function decideTransition({ observation, now, queueText }: Context, memory: ScalerMemory): Decision {
  const { gpu, queue } = observation;
  // Pending starts at the launch; the first tick that saw the state bounds both.
  const since =
    gpu.state === 'pending' &&
    gpu.launchTime &&
    memory.transitionSince &&
    // Stryker disable next-line EqualityOperator: equivalent - on equal times either one is the answer
    gpu.launchTime < memory.transitionSince
      ? gpu.launchTime
      : (memory.transitionSince ?? now);
  const minutes = minutesBetween(since, now);
  if (minutes < STUCK_TRANSITION_MINUTES) {
    return stayPut(memory, `GPU is ${gpu.state}; no action until it settles (${queueText})`, now);
  }
  // EC2 is not doing what it should: blocked while work waits, so the start alarm fires.
  const stuck: ScalerMemory = {
    ...memory,
    lastError: 'StuckInTransition',
    errorSince: memory.lastError === 'StuckInTransition' ? (memory.errorSince ?? since) : since,
  };
  return noAction(
    stuck,
    `GPU stuck ${gpu.state} for ${formatMinutes(minutes)} (over ${STUCK_TRANSITION_MINUTES}m); ${queueText}`,
    signals(stuck, now, queue.waiting > 0),
  );
}

function decideStopped(context: Context, stoppedMemory: ScalerMemory): Decision {
  const { observation, config, now, hold, pause, queueText } = context;
  const { queue, gpu } = observation;
  const memory = startTookEffect(gpu, stoppedMemory)
    ? stoppedMemory
    : recordStartFailure(stoppedMemory, startNotTakenBecause(gpu.spotRequestStatus), now);
  const waitedMinutes = memory.pendingSince ? minutesBetween(memory.pendingSince, now) : 0;
  const why =
    queue.waiting > config.startBacklog
      ? `${queue.waiting} jobs waiting > start backlog ${config.startBacklog}`
      : memory.pendingSince && waitedMinutes >= config.maxWaitMinutes
        ? `jobs waiting for ${formatMinutes(waitedMinutes)} >= maximum wait ${config.maxWaitMinutes}m`
        : hold
          ? `held until ${iso(hold)}`
          : undefined;

  if (why === undefined || pause) {
    // Nothing asks for the GPU, or the operator stopped it: earlier start errors no longer matter,
    // except a boot-timeout pause, which holds until it ends however often the queue empties.
    const bootPause = bootTimeoutPauseAt(memory, now);
    const quiet = {
      ...memory,
      lastError: bootPause ? memory.lastError : undefined,
      errorSince: bootPause ? memory.errorSince : undefined,
      failedStarts: undefined,
      retryAt: bootPause,
    };
    const waitNote =
      queue.waiting > 0 ? `, waiting for ${formatMinutes(waitedMinutes)} of ${config.maxWaitMinutes}m` : '';
    const reason = pause
      ? `GPU stopped by the operator; no automatic start before ${iso(pause)} (${queueText})`
      : `GPU stopped; ${queueText}${waitNote}`;
    return noAction(quiet, reason, signals(quiet, now, false));
  }

  if (gpu.stateReasonCode === SPOT_INTERRUPTION_REASON) {
    return stayPut(
      memory,
      `GPU wanted (${why}) but it was stopped by a spot interruption; EC2 starts it again when capacity returns`,
      now,
      'SpotInterrupted',
    );
  }
  if (memory.retryAt && now < memory.retryAt) {
    return noAction(
      memory,
      `GPU wanted (${why}); last start failed with ${memory.lastError ?? 'an error'}, retrying at ${iso(memory.retryAt)}`,
      signals(memory, now, true),
    );
  }
  const reason = `start: ${why}`;
  const started: ScalerMemory = { ...memory, lastAction: 'start', lastActionAt: now, lastReason: reason };
  return {
    action: 'start',
    reason,
    memory: started,
    signals: signals(started, now, true),
  };
}

/** The end of the pause after a worker never became ready, while it binds at `now`. */
function bootTimeoutPauseAt(memory: ScalerMemory, now: Date): Date | undefined {
  return memory.lastError === 'WorkerNeverReady' && memory.retryAt !== undefined && memory.retryAt > now
    ? memory.retryAt
    : undefined;
}

/**
 * False when the scaler's last start was accepted by EC2 but never took: the instance is still
 * stopped and was not launched since (and was not interrupted, which is EC2's own doing). Each
 * start is judged once: a failure recorded after it (retryAt later than the start) settles it.
 */
function startTookEffect(gpu: GpuObservation, memory: ScalerMemory): boolean {
  if (memory.lastAction !== 'start' || memory.lastActionAt === undefined) return true;
  if (gpu.stateReasonCode === SPOT_INTERRUPTION_REASON) return true;
  if (memory.retryAt !== undefined && memory.retryAt > memory.lastActionAt) return true;
  const launched =
    gpu.launchTime && gpu.launchTime.getTime() >= memory.lastActionAt.getTime() - LAUNCH_SKEW_MS;
  return launched === true;
}

/** What a running GPU's rules read besides the context: its memory and how long it has run. */
interface RunningState {
  readonly memory: ScalerMemory;
  readonly runningMinutes: number;
  /** Minutes of the run not covered by a hold: from the later of the start and the hold's end. */
  readonly unheldMinutes: number;
  readonly runSignals: (extra?: Partial<DecisionSignals>) => DecisionSignals;
}

function decideRunning(context: Context, memory: ScalerMemory): Decision {
  const { observation, now, hold, pause } = context;
  const { gpu } = observation;
  // It runs, so any start error is over.
  const running: ScalerMemory = {
    ...memory,
    lastError: undefined,
    errorSince: undefined,
    failedStarts: undefined,
    retryAt: undefined,
  };
  const startedAt = gpu.launchTime ?? memory.lastActionAt ?? now;
  const runningMinutes = minutesBetween(startedAt, now);
  // A hold that ended is where the unheld run begins: the limit counts from the later of the two.
  const heldUntil = memory.holdUntil !== undefined && memory.holdUntil <= now ? memory.holdUntil : undefined;
  const unheldMinutes =
    // Stryker disable next-line EqualityOperator: equivalent - a hold that ended at the start gives the same minutes
    heldUntil !== undefined && heldUntil > startedAt ? minutesBetween(heldUntil, now) : runningMinutes;
  const state: RunningState = {
    memory: running,
    runningMinutes,
    unheldMinutes,
    runSignals: (extra = {}) => ({ ...NO_SIGNALS, runningMinutes, ...extra }),
  };

  if (pause && !hold) {
    return stop(
      running,
      `stop: the operator stopped the GPU; no automatic start before ${iso(pause)}`,
      now,
      state.runSignals(),
    );
  }
  const idleFrom = idleSince(gpu, now);
  return (
    decideMaxRun(context, state) ??
    (idleFrom === undefined ? decideNotReady(context, state) : decideReady(context, state, idleFrom))
  );
}

/**
 * Past maxRunHours without a hold (counted from the later of the start and a hold's end) the GPU
 * stops, once nothing is in flight or after a grace.
 */
function decideMaxRun(context: Context, state: RunningState): Decision | undefined {
  const { config, now, hold, queueText, observation } = context;
  const { memory, unheldMinutes, runSignals } = state;
  const maxRunMinutes = config.maxRunHours * 60;
  if (hold || unheldMinutes < maxRunMinutes) return undefined;
  if (observation.queue.inFlight === 0 || unheldMinutes >= maxRunMinutes + MAX_RUN_GRACE_MINUTES) {
    return stop(
      memory,
      `stop: running for ${formatMinutes(unheldMinutes)} >= maximum run ${config.maxRunHours}h without a hold`,
      now,
      runSignals({ maxRunExceeded: true }),
    );
  }
  return noAction(
    memory,
    `running for ${formatMinutes(unheldMinutes)} >= maximum run ${config.maxRunHours}h; stopping once nothing is in flight (${queueText})`,
    runSignals(),
  );
}

/** A worker not ready yet: booting, or broken past its boot timeout unless work or a hold binds. */
function decideNotReady(context: Context, state: RunningState): Decision {
  const { config, now, hold, queueText, observation } = context;
  const { gpu } = observation;
  const { memory, runningMinutes, runSignals } = state;
  // A host that never finished its one-time setup gets the longer first-boot limit.
  const firstBoot = gpu.everReadyAt === undefined;
  const bootLimit = firstBoot ? config.firstBootTimeoutMinutes : config.bootTimeoutMinutes;
  const bootText = firstBoot ? `first-boot timeout ${bootLimit}m` : `boot timeout ${bootLimit}m`;
  if (runningMinutes < bootLimit) {
    return noAction(
      memory,
      `GPU ${firstBoot ? 'provisioning (first boot)' : 'booting'} for ${formatMinutes(runningMinutes)}; worker not ready yet (${queueText})`,
      runSignals(),
    );
  }
  // A worker that never reported ready nor a job holds no job: jobs in flight are other workers'.
  if (hold) {
    // Kept for the operator, but unavailable: burst workers are sized without it and the alarm sees it.
    const unavailable: ScalerMemory = {
      ...memory,
      lastError: 'WorkerNeverReady',
      errorSince: context.previousError === 'WorkerNeverReady' ? (context.errorSince ?? now) : now,
    };
    return noAction(
      unavailable,
      `worker not ready after ${formatMinutes(runningMinutes)}; held until ${iso(hold)}, not stopping (${queueText})`,
      runSignals(),
    );
  }
  const retryAt = new Date(now.getTime() + BOOT_TIMEOUT_PAUSE_MINUTES * MINUTE_MS);
  const broken: ScalerMemory = { ...memory, lastError: 'WorkerNeverReady', errorSince: now, retryAt };
  return stop(
    broken,
    `stop: worker not ready ${formatMinutes(runningMinutes)} after start (${bootText}); no new start before ${iso(retryAt)}`,
    now,
    runSignals({ bootTimedOut: true }),
  );
}

/**
 * A ready worker: restarted when it stalls with work waiting, kept while busy or held, stopped
 * after idleMinutes from its last sign of work (its ready time or its last job).
 */
function decideReady(context: Context, state: RunningState, idleFrom: Date): Decision {
  const { config, now, hold, queueText, observation } = context;
  const { queue } = observation;
  const { memory, runSignals } = state;
  const quietMinutes = minutesBetween(idleFrom, now);
  // Stalled only if it took no job while jobs waited: counted from the later of its last sign of
  // work and the moment the jobs started waiting (an idle worker is not stalled by a new job).
  const stalledMinutes =
    // Stryker disable next-line EqualityOperator: equivalent - on equal times either one is the answer
    memory.pendingSince && memory.pendingSince > idleFrom
      ? minutesBetween(memory.pendingSince, now)
      : quietMinutes;
  if (queue.waiting > 0 && stalledMinutes >= NO_PROGRESS_MINUTES) {
    // A hold does not protect a stalled worker: the hold starts it again once it has stopped.
    const stalled: ScalerMemory = { ...memory, lastError: 'WorkerStalled', errorSince: now };
    return stop(
      stalled,
      `stop: ${queue.waiting} jobs waiting for ${formatMinutes(stalledMinutes)} but the ready worker took none (limit ${NO_PROGRESS_MINUTES}m); restarting it`,
      now,
      runSignals({ workerStalled: true }),
    );
  }

  const busy = queue.waiting + queue.inFlight + queue.delayed;
  if (busy > 0) return noAction(memory, `GPU busy: ${queueText}`, runSignals());

  if (hold) {
    return noAction(
      memory,
      `GPU idle for ${formatMinutes(quietMinutes)}; held until ${iso(hold)}`,
      runSignals(),
    );
  }
  if (quietMinutes >= config.idleMinutes) {
    return stop(
      memory,
      `stop: idle for ${formatMinutes(quietMinutes)} >= ${config.idleMinutes}m since the last job (or ready)`,
      now,
      runSignals(),
    );
  }
  return noAction(
    memory,
    `GPU idle for ${formatMinutes(quietMinutes)} of ${config.idleMinutes}m since the last job (or ready)`,
    runSignals(),
  );
}

/** Why a start EC2 accepted did not take, as far as the spot request tells. */
function startNotTakenBecause(spotRequestStatus: string | undefined): Ec2ErrorCode {
  if (spotRequestStatus === 'price-too-low') return 'SpotPriceTooLow';
  if (spotRequestStatus === 'capacity-not-available') return 'InsufficientCapacity';
  return 'StartNotTaken';
}

/**
 * Folds the outcome of a failed StartInstances into memory: the error, since when errors last,
 * and when to try again (exponential back-off). A pure function, so the simulator uses it too.
 */
export function recordStartFailure(memory: ScalerMemory, error: Ec2ErrorCode, now: Date): ScalerMemory {
  const failedStarts = (memory.failedStarts ?? 0) + 1;
  const backoffMinutes = Math.min(2 ** (failedStarts - 1), MAX_START_BACKOFF_MINUTES);
  return {
    ...memory,
    lastError: error,
    errorSince: memory.errorSince ?? now,
    failedStarts,
    retryAt: new Date(now.getTime() + backoffMinutes * MINUTE_MS),
  };
}

/**
 * Folds a failed StopInstances into memory. Idleness is observed, not remembered, so the next
 * tick decides to stop again at once; the handler counts the failure for the stop alarm.
 */
export function recordStopFailure(memory: ScalerMemory, error: Ec2ErrorCode, now: Date): ScalerMemory {
  return { ...memory, lastError: error, errorSince: memory.errorSince ?? now };
}

function stop(memory: ScalerMemory, reason: string, now: Date, signalsNow: DecisionSignals): Decision {
  return {
    action: 'stop',
    reason,
    memory: { ...memory, lastAction: 'stop', lastActionAt: now, lastReason: reason },
    signals: signalsNow,
  };
}

function noAction(memory: ScalerMemory, reason: string, signalsNow: DecisionSignals): Decision {
  return { action: 'none', reason, memory, signals: signalsNow };
}

/** No action in a state the scaler must not touch; records why the GPU cannot be had, if it is wanted. */
function stayPut(memory: ScalerMemory, reason: string, now: Date, blockedBy?: Ec2ErrorCode): Decision {
  const next: ScalerMemory = blockedBy
    ? { ...memory, lastError: blockedBy, errorSince: memory.errorSince ?? now }
    : memory;
  return noAction(next, reason, signals(next, now, blockedBy !== undefined));
}

function signals(memory: ScalerMemory, now: Date, wanted: boolean): DecisionSignals {
  const blockedSince = wanted && memory.lastError !== undefined ? memory.errorSince : undefined;
  return {
    ...NO_SIGNALS,
    startBlockedMinutes: blockedSince ? minutesBetween(blockedSince, now) : 0,
  };
}

export function minutesBetween(from: Date, to: Date): number {
  return (to.getTime() - from.getTime()) / MINUTE_MS;
}

/** 4.98 → "4m59s": what an operator reads in logs and status. */
export function formatMinutes(minutes: number): string {
  const totalSeconds = Math.max(0, Math.round(minutes * 60));
  const m = Math.floor(totalSeconds / 60);
  const s = totalSeconds % 60;
  return s === 0 ? `${m}m` : `${m}m${String(s).padStart(2, '0')}s`;
}

/** 7.4999 → "7.5": a rate or a share, as an operator reads it. */
export function round1(value: number): string {
  return String(Math.round(value * 10) / 10);
}
