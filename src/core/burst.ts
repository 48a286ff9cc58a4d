import type { BurstConfig } from '../config.js';
import { NO_PROGRESS_MINUTES, formatMinutes, minutesBetween, round1, workerIdleSince } from './decide.js';
import type { BurstMemory, QueueCounts } from './model.js';
import { isoSeconds } from './tags.js';

/**
 * The burst decision, as a pure function: how many extra GPU workers the backlog needs,
 * which idle ones go, and which market new ones come from. The scaler Lambda and the simulator
 * both call it through the one tick; the primary GPU stays governed by `decide`.
 */

/**
 * The group is sized so the work in the queue is served within this many minutes: about a cold
 * launch of a burst worker plus a few jobs. Longer and a burst waits for one GPU; shorter and
 * workers boot for backlogs the running ones clear before they are ready.
 */
export const BURST_DRAIN_MINUTES = 10;

/**
 * On-demand is used this long at a time; then new launches try spot again (the only way to learn
 * that spot capacity is back). If spot still fails for onDemandFallback.afterMinutes while work
 * waits, the group goes back to on-demand.
 */
export const SPOT_RETRY_MINUTES = 30;

/** A launch failure older than this no longer counts as "spot failing now" (the group retries within minutes). */
export const LAUNCH_FAILURE_FRESH_MINUTES = 5;

const MINUTE_MS = 60_000;

/** What the primary GPU is doing this tick, as far as the burst workers are concerned. */
export type PrimaryStatus =
  /** Running or pending, or started on this tick: it serves (or is about to). */
  | 'serving'
  /** Wanted but it cannot be had: start failed or in back-off, spot-interrupted, stuck, terminated. */
  | 'blocked'
  /** Stopped (or stopping) and not wanted, or paused by the operator: burst workers must not start. */
  | 'idle';

/** One burst worker as the scaler sees it: the group's view and the worker's own tags. */
export interface BurstWorkerObservation {
  readonly instanceId: string;
  /** The group's lifecycle state: Pending*, InService, Terminating*, ... */
  readonly lifecycleState: string;
  readonly market: 'spot' | 'on-demand';
  readonly launchTime?: Date;
  /** The worker's ready tag (OpenVoice healthy); stale if before launchTime. */
  readonly readyAt?: Date;
  /** The worker's last-job tag (job start or end, at most every 30 s); stale if before launchTime. */
  readonly lastJobAt?: Date;
}

export interface BurstGroupObservation {
  readonly desired: number;
  readonly max: number;
  readonly onDemand: boolean;
  readonly workers: readonly BurstWorkerObservation[];
  readonly lastLaunchFailure?: { readonly at: Date; readonly message: string };
}

export interface BurstObservation {
  readonly queue: QueueCounts;
  readonly primary: PrimaryStatus;
  readonly group: BurstGroupObservation;
  /** Burst workers an operator's active hold keeps (`start-gpu --workers N --hold …`); 0 without. */
  readonly heldWorkers?: number;
  /**
   * An operator's stop is in force (pausedUntil): every burst worker goes, busy ones draining
   * through the hook, as `stop-gpu` does. Catches workers a tick launched while the stop ran.
   */
  readonly paused?: boolean;
}

/** The rules the burst decision reads. */
export interface BurstRules {
  readonly burst: BurstConfig;
}

/** Numbers the handler publishes (BurstWorkers, BurstOnDemandWorkers, BurstLaunchFailures). */
export interface BurstSignals {
  /** Burst workers pending or in service (not terminating). */
  readonly workers: number;
  readonly onDemandWorkers: number;
  /** 1 when the group reported a launch failure within the last minute, else 0. */
  readonly launchFailures: number;
}

/** A burst decision is data too: what to do, the new memory, and the reason in words. */
export interface BurstDecision {
  /** New desired capacity of the group; undefined leaves it as it is. */
  readonly desired?: number;
  /** Idle (or broken) workers to terminate, longest idle first. */
  readonly retire: readonly BurstRetirement[];
  /** Switch the market of new launches; undefined leaves it as it is. */
  readonly onDemand?: boolean;
  readonly reason: string;
  readonly memory: BurstMemory;
  readonly signals: BurstSignals;
}

/** One worker to terminate, and whether the group's desired capacity drops with it. */
export interface BurstRetirement {
  readonly instanceId: string;
  /**
   * True while the desired capacity counts this worker: without the decrement the group would
   * launch a replacement. False once desired is already at or below the workers left (an operator
   * set it below the protected workers): Auto Scaling refuses a decrement below its minimum of 0.
   */
  readonly decrementDesired: boolean;
}

/**
 * Retires the given workers in order, each with the decrement the group needs: desired counts
 * down with the workers while it covers them, and is left alone once it is below them.
 */
export function retirements(
  instanceIds: readonly string[],
  desired: number,
  activeWorkers: number,
): BurstRetirement[] {
  // Desired counts the workers left after this retire while it is above them; once it is, every
  // later retire lowers both by one and it stays so.
  return instanceIds.map((instanceId, index) => ({
    instanceId,
    decrementDesired: desired > activeWorkers - 1 - index,
  }));
}

/** Pending and in-service workers: those that serve or will. Terminating ones are already going. */
export function isActiveWorker(worker: BurstWorkerObservation): boolean {
  return worker.lifecycleState.startsWith('Pending') || worker.lifecycleState === 'InService';
}

/** Jobs one worker serves within BURST_DRAIN_MINUTES. */
export function jobsPerWorkerInWindow(burst: BurstConfig): number {
  return (burst.jobsPerWorkerHour * BURST_DRAIN_MINUTES) / 60;
}

export function decideBurst(
  observation: BurstObservation,
  memory: BurstMemory,
  rules: BurstRules,
  now: Date,
): BurstDecision {
  const { queue, primary, group } = observation;
  const { burst } = rules;
  const active = group.workers.filter(isActiveWorker);
  const signals: BurstSignals = {
    workers: active.length,
    onDemandWorkers: active.filter((w) => w.market === 'on-demand').length,
    launchFailures:
      group.lastLaunchFailure && now.getTime() - group.lastLaunchFailure.at.getTime() < MINUTE_MS ? 1 : 0,
  };
  const notes: string[] = [];
  const actions: string[] = [];

  // --- Size: how many burst workers the work in the queue needs beside the primary.
  const demand = queue.waiting + queue.inFlight + queue.delayed;
  const perWorker = jobsPerWorkerInWindow(burst);
  const mayGrow = queue.waiting > 0 && primary !== 'idle';
  const forQueue = mayGrow
    ? Math.min(burst.maxWorkers, Math.max(0, Math.ceil(demand / perWorker) - (primary === 'serving' ? 1 : 0)))
    : 0;
  // The operator's hold is a floor: its workers launch, are not cancelled and do not idle out.
  const held = observation.paused ? 0 : Math.min(burst.maxWorkers, observation.heldWorkers ?? 0);
  const wanted = Math.max(forQueue, held);
  const current = Math.max(group.desired, active.length);
  let desired: number | undefined;
  if (observation.paused) {
    if (group.desired > 0) {
      desired = 0;
      actions.push(`lower desired ${group.desired} → 0: the operator's pause`);
    }
  } else if (wanted > current) {
    desired = wanted;
    actions.push(
      forQueue >= held
        ? `scale out to ${wanted} burst (${demand} jobs ÷ ${round1(perWorker)} per worker in ${BURST_DRAIN_MINUTES}m, primary ${primary})`
        : `scale out to ${wanted} burst (the operator's hold)`,
    );
  } else if (group.desired > active.length && wanted < group.desired) {
    // Launches still owed (spot failing, say) that the queue no longer needs: cancel them, so a
    // worker does not boot for nothing when capacity returns. Never below the workers there.
    desired = Math.max(wanted, active.length);
    actions.push(`lower desired ${group.desired} → ${desired}: the queue no longer needs the launches owed`);
  }
  if (!mayGrow && queue.waiting > 0) notes.push('primary stopped and not wanted: no burst');

  // --- Retire: only idle workers, never one that may hold a job; none the operator's hold keeps.
  // Under the operator's pause, every worker in service (a busy one drains through the hook).
  const retire = observation.paused
    ? group.workers
        .filter((w) => w.lifecycleState === 'InService')
        .map((w) => ({ instanceId: w.instanceId, why: "the operator's pause", since: 0, broken: false }))
    : keepHeld(mayRetire(observation, rules, now), active.length, held);
  if (held > 0) notes.push(`the operator's hold keeps ${held} burst`);
  for (const r of retire) actions.push(`retire ${r.instanceId}: ${r.why}`);

  // --- Market: spot unless spot launches keep failing while work waits.
  const market = decideMarket(observation, memory, burst, now);
  if (market.note) (market.onDemand === undefined ? notes : actions).push(market.note);

  const counts = `${queue.waiting} waiting, ${queue.inFlight} in flight; burst ${active.length} of ${burst.maxWorkers} (desired ${group.desired})${group.onDemand ? ' on-demand' : ''}`;
  const reason = [`burst: ${counts}`, ...actions, ...notes].join('; ');
  const acted = desired !== undefined || retire.length > 0 || market.onDemand !== undefined;
  return {
    desired,
    retire: retirements(
      retire.map((r) => r.instanceId),
      desired ?? group.desired,
      active.length,
    ),
    onDemand: market.onDemand,
    reason,
    memory: { ...market.memory, burstLastReason: acted ? reason : memory.burstLastReason },
    signals,
  };
}

/** A worker the rules let go, and why. */
interface Retiree {
  readonly instanceId: string;
  readonly why: string;
  /** Epoch ms it has been idle (or booting) since: the longest idle goes first. */
  readonly since: number;
  /** Never ready: broken, holds no job. */
  readonly broken: boolean;
}

/**
 * The workers to terminate now. A worker goes once it has been idle burst.idleMinutes since its
 * last job (or, with none yet, since it became ready; never counted from boot), while nothing
 * waits. The queue says how many jobs are in flight, not where: with any in flight, a worker whose
 * last job *started* long ago may still be running it, so then only one quiet for longer than any
 * job (NO_PROGRESS_MINUTES) goes. A worker that never reported ready within the boot timeout is
 * broken and holds no job: it goes too, whatever the queue.
 */
function mayRetire({ queue, group }: BurstObservation, { burst }: BurstRules, now: Date): Retiree[] {
  const found: Retiree[] = [];
  for (const worker of group.workers) {
    if (worker.lifecycleState !== 'InService') continue;
    const since = workerIdleSince(worker, now);
    if (since === undefined) {
      const booting = worker.launchTime ? minutesBetween(worker.launchTime, now) : 0;
      if (booting >= burst.bootTimeoutMinutes) {
        found.push({
          instanceId: worker.instanceId,
          why: `never ready ${formatMinutes(booting)} after launch (timeout ${burst.bootTimeoutMinutes}m)`,
          since: worker.launchTime?.getTime() ?? 0,
          broken: true,
        });
      }
      continue;
    }
    if (queue.waiting > 0 || queue.delayed > 0) continue;
    const quiet = minutesBetween(since, now);
    if (quiet < burst.idleMinutes) continue;
    if (queue.inFlight > 0 && quiet < NO_PROGRESS_MINUTES) continue;
    found.push({
      instanceId: worker.instanceId,
      why: `idle ${formatMinutes(quiet)} ≥ ${burst.idleMinutes}m since its last job (or ready)`,
      since: since.getTime(),
      broken: false,
    });
  }
  return found.sort((a, b) => a.since - b.since || a.instanceId.localeCompare(b.instanceId));
}

/**
 * Drops idle workers from the retire list (the most recently busy first) so that the operator's
 * hold keeps its number; broken workers (never ready) still go, and are replaced.
 */
function keepHeld(found: Retiree[], active: number, held: number): Retiree[] {
  if (held === 0) return found;
  const broken = found.filter((r) => r.broken);
  const idle = found.filter((r) => !r.broken);
  const mayGo = Math.max(0, active - broken.length - held);
  return [...broken, ...idle.slice(0, mayGo)];
}

/**
 * Spot launches failing for onDemandFallback.afterMinutes while work waits → on-demand. Spot
 * "returns" when it is tried again: after SPOT_RETRY_MINUTES on on-demand, new launches go back to
 * spot; workers already running keep their market until they idle out.
 */
function decideMarket(
  { queue, group }: BurstObservation,
  memory: BurstMemory,
  burst: BurstConfig,
  now: Date,
): { onDemand?: boolean; memory: BurstMemory; note?: string } {
  const fallback = burst.onDemandFallback;
  if (group.onDemand) {
    if (!fallback.enabled) {
      return { onDemand: false, memory: cleared(memory), note: 'on-demand fallback disabled: back to spot' };
    }
    const since = memory.burstOnDemandSince ?? now;
    const minutes = minutesBetween(since, now);
    if (minutes >= SPOT_RETRY_MINUTES) {
      return {
        onDemand: false,
        memory: cleared(memory),
        note: `on-demand for ${formatMinutes(minutes)} ≥ ${SPOT_RETRY_MINUTES}m: trying spot again`,
      };
    }
    return {
      memory: { ...memory, burstSpotFailingSince: undefined, burstOnDemandSince: since },
      note: `on-demand since ${isoSeconds(since)} (spot again after ${SPOT_RETRY_MINUTES}m)`,
    };
  }

  // On spot while the scaler's memory says on-demand: something else wrote the distribution, most
  // likely a deploy that updated the group with the template's all-spot one. The shortage that
  // called for on-demand has not been retried yet, so on-demand again rather than a new streak of
  // refused launches.
  const onDemandSince = memory.burstOnDemandSince;
  if (fallback.enabled && onDemandSince && minutesBetween(onDemandSince, now) < SPOT_RETRY_MINUTES) {
    return {
      onDemand: true,
      memory: { ...memory, burstSpotFailingSince: undefined, burstOnDemandSince: onDemandSince },
      note: `the group is on spot, not by the scaler (a deploy?): on-demand again until ${isoSeconds(new Date(onDemandSince.getTime() + SPOT_RETRY_MINUTES * MINUTE_MS))}`,
    };
  }

  const failure = group.lastLaunchFailure;
  const owed = group.desired > group.workers.filter(isActiveWorker).length;
  const failing =
    failure !== undefined &&
    owed &&
    queue.waiting > 0 &&
    minutesBetween(failure.at, now) <= LAUNCH_FAILURE_FRESH_MINUTES;
  if (!failing) return { memory: cleared(memory) };
  const since = memory.burstSpotFailingSince ?? failure.at;
  const minutes = minutesBetween(since, now);
  if (fallback.enabled && minutes >= fallback.afterMinutes) {
    return {
      onDemand: true,
      memory: { ...memory, burstSpotFailingSince: undefined, burstOnDemandSince: now },
      note: `spot launches failing for ${formatMinutes(minutes)} ≥ ${fallback.afterMinutes}m while ${queue.waiting} jobs wait (${failure.message}): on-demand`,
    };
  }
  return {
    memory: { ...memory, burstSpotFailingSince: since, burstOnDemandSince: undefined },
    note: `spot launches failing for ${formatMinutes(minutes)} (${failure.message})${fallback.enabled ? `; on-demand after ${fallback.afterMinutes}m` : '; on-demand fallback disabled'}`,
  };
}

function cleared(memory: BurstMemory): BurstMemory {
  return { ...memory, burstSpotFailingSince: undefined, burstOnDemandSince: undefined };
}
