import type { ScalerConfig } from '../../lib/config.js';
import type { Decision, DecisionSignals, Ec2ErrorCode, Observation, ScalerMemory } from './model.js';

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

export function decide(
  observation: Observation,
  memory: ScalerMemory,
  config: ScalerConfig,
  now: Date,
): Decision {
  const { queue, gpu } = observation;
  const busy = queue.waiting + queue.inFlight + queue.delayed;
  const holdActive = memory.holdUntil !== undefined && now < memory.holdUntil;
  const queueText = `${queue.waiting} waiting, ${queue.inFlight} in flight, ${queue.delayed} delayed`;

  // Tracked in every state, so the maximum-wait rule sees the whole wait.
  const pendingSince = queue.waiting > 0 ? (memory.pendingSince ?? now) : undefined;
  // An expired hold is dropped, so status shows only holds that still bind.
  const base: ScalerMemory = {
    ...memory,
    pendingSince,
    holdUntil: holdActive ? memory.holdUntil : undefined,
  };

  switch (gpu.state) {
    case 'pending':
    case 'stopping':
    case 'shutting-down':
      return stayPut(base, `GPU is ${gpu.state}; no action until it settles (${queueText})`, now);
    case 'terminated':
      return stayPut(
        base,
        `GPU instance ${gpu.instanceId} is terminated; it cannot be started (redeploy the compute stack)`,
        now,
        queue.waiting > 0 ? 'NotFound' : undefined,
      );
    case 'stopped':
      return decideStopped(observation, base, config, now, holdActive, queueText);
    case 'running':
      return decideRunning(observation, base, config, now, holdActive, busy, queueText);
  }
}

function decideStopped(
  { queue, gpu }: Observation,
  memory: ScalerMemory,
  config: ScalerConfig,
  now: Date,
  holdActive: boolean,
  queueText: string,
): Decision {
  const waitedMinutes = memory.pendingSince ? minutesBetween(memory.pendingSince, now) : 0;
  const why =
    queue.waiting > config.startBacklog
      ? `${queue.waiting} jobs waiting > start backlog ${config.startBacklog}`
      : memory.pendingSince && waitedMinutes >= config.maxWaitMinutes
        ? `jobs waiting for ${formatMinutes(waitedMinutes)} >= maximum wait ${config.maxWaitMinutes}m`
        : holdActive
          ? `held until ${iso(memory.holdUntil)}`
          : undefined;

  if (why === undefined) {
    // Nothing asks for the GPU: errors from earlier attempts no longer matter.
    const quiet = {
      ...memory,
      lastError: undefined,
      errorSince: undefined,
      failedStarts: undefined,
      retryAt: undefined,
    };
    const waitNote =
      queue.waiting > 0 ? `, waiting for ${formatMinutes(waitedMinutes)} of ${config.maxWaitMinutes}m` : '';
    return noAction(quiet, `GPU stopped; ${queueText}${waitNote}`, signals(quiet, now, false));
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
  const started: ScalerMemory = {
    ...memory,
    idleSince: undefined,
    lastAction: 'start',
    lastActionAt: now,
    lastReason: `start: ${why}`,
  };
  return {
    action: 'start',
    reason: started.lastReason ?? '',
    memory: started,
    signals: signals(started, now, true),
  };
}

function decideRunning(
  { queue, gpu }: Observation,
  memory: ScalerMemory,
  config: ScalerConfig,
  now: Date,
  holdActive: boolean,
  busy: number,
  queueText: string,
): Decision {
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
  const readyAt = gpu.readyAt && gpu.readyAt >= startedAt ? gpu.readyAt : undefined;
  const runSignals = (bootTimedOut = false): DecisionSignals => ({
    startBlockedMinutes: 0,
    runningMinutes,
    bootTimedOut,
  });

  if (readyAt === undefined) {
    const notReady = { ...running, idleSince: undefined };
    if (runningMinutes < config.bootTimeoutMinutes) {
      return noAction(
        notReady,
        `GPU booting for ${formatMinutes(runningMinutes)}; worker not ready yet (${queueText})`,
        runSignals(),
      );
    }
    if (queue.inFlight > 0) {
      return noAction(
        notReady,
        `worker not ready after ${formatMinutes(runningMinutes)} but ${queue.inFlight} jobs in flight; not stopping`,
        runSignals(),
      );
    }
    if (holdActive) {
      return noAction(
        notReady,
        `worker not ready after ${formatMinutes(runningMinutes)}; held until ${iso(memory.holdUntil)}, not stopping`,
        runSignals(),
      );
    }
    const broken: ScalerMemory = {
      ...notReady,
      lastError: 'WorkerNeverReady',
      errorSince: now,
      retryAt: new Date(now.getTime() + BOOT_TIMEOUT_PAUSE_MINUTES * MINUTE_MS),
    };
    return stop(
      broken,
      `stop: worker not ready ${formatMinutes(runningMinutes)} after start (boot timeout ${config.bootTimeoutMinutes}m); no new start before ${iso(broken.retryAt)}`,
      now,
      runSignals(true),
    );
  }

  if (busy > 0) {
    return noAction({ ...running, idleSince: undefined }, `GPU busy: ${queueText}`, runSignals());
  }

  // Idleness counts from when the worker became ready, never from boot.
  const previous = running.idleSince ?? now;
  const idleSince = previous > readyAt ? previous : readyAt;
  const idle: ScalerMemory = { ...running, idleSince };
  const idleMinutes = minutesBetween(idleSince, now);
  if (holdActive) {
    return noAction(
      idle,
      `GPU idle for ${formatMinutes(idleMinutes)}; held until ${iso(memory.holdUntil)}`,
      runSignals(),
    );
  }
  if (idleMinutes >= config.idleMinutes) {
    return stop(
      idle,
      `stop: idle for ${formatMinutes(idleMinutes)} >= ${config.idleMinutes}m since ready`,
      now,
      runSignals(),
    );
  }
  return noAction(idle, `GPU idle for ${formatMinutes(idleMinutes)} of ${config.idleMinutes}m`, runSignals());
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

/** Folds a failed StopInstances into memory; the next tick decides to stop again on its own. */
export function recordStopFailure(memory: ScalerMemory, error: Ec2ErrorCode, now: Date): ScalerMemory {
  return { ...memory, lastError: error, errorSince: memory.errorSince ?? now };
}

function stop(memory: ScalerMemory, reason: string, now: Date, signalsNow: DecisionSignals): Decision {
  return {
    action: 'stop',
    reason,
    memory: { ...memory, idleSince: undefined, lastAction: 'stop', lastActionAt: now, lastReason: reason },
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
    startBlockedMinutes: blockedSince ? minutesBetween(blockedSince, now) : 0,
    runningMinutes: 0,
    bootTimedOut: false,
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

function iso(date: Date | undefined): string {
  return date ? date.toISOString().replace(/\.\d{3}Z$/, 'Z') : 'unknown';
}
