import type { BurstConfig } from '../config.js';
import {
  BOOT_TIMEOUT_PAUSE_MINUTES,
  NO_PROGRESS_MINUTES,
  formatMinutes,
  minutesBetween,
  round1,
  workerIdleSince,
} from './decide.js';
import type { BurstMemory, QueueCounts } from './model.js';
import { isoSeconds, pastTime } from './tags.js';

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

/**
 * A worker running a job refreshes its last-job tag at least this often (with its visibility
 * heartbeat), so one quiet for twice as long holds no job whatever the queue says is in flight.
 */
export const WORKER_ACTIVITY_REFRESH_SECONDS = 60;

/** Quiet this long (two refreshes missed), a worker is known to run no job. */
const NO_JOB_RUNNING_MINUTES = (2 * WORKER_ACTIVITY_REFRESH_SECONDS) / 60;

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
  /** The worker's last-job tag (job start, refresh while it runs, end); stale if before launchTime. */
  readonly lastJobAt?: Date;
  /** The worker's drained tag: it has drained for its termination and waits for the hook's completion. */
  readonly drainedAt?: Date;
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
  /** Since when jobs have waited continuously (the scaler's pendingSince): a stall counts from it. */
  readonly waitingSince?: Date;
  /**
   * The primary could not be observed this tick (its memory, holds and pauses unknown): the group
   * does not grow, and only workers that provably hold no job go.
   */
  readonly primaryUnknown?: boolean;
}

/** The rules the burst decision reads. */
export interface BurstRules {
  readonly burst: BurstConfig;
  /**
   * A burst worker running this long since its launch without the operator's hold is retired,
   * busy or not (its job goes back to the queue): scaler.maxRunHours, the primary's limit.
   * @default no limit
   */
  readonly maxRunHours?: number;
}

/** Numbers the handler publishes (BurstWorkers, BurstOnDemandWorkers, BurstLaunchFailures). */
export interface BurstSignals {
  /** Burst workers pending or in service (not terminating). */
  readonly workers: number;
  readonly onDemandWorkers: number;
  /** 1 when the group reported a launch failure within the last minute, else 0. */
  readonly launchFailures: number;
  /** Workers retired on this tick because they never became ready within burst.bootTimeoutMinutes. */
  readonly bootTimeouts: number;
  /** Workers retired on this tick because they ran maxRunHours without the operator's hold. */
  readonly overRunTime: number;
}

/** A burst decision is data too: what to do, the new memory, and the reason in words. */
export interface BurstDecision {
  /** New desired capacity of the group; undefined leaves it as it is. */
  readonly desired?: number;
  /** Idle (or broken) workers to terminate, longest idle first. */
  readonly retire: readonly BurstRetirement[];
  /** Switch the market of new launches; undefined leaves it as it is. */
  readonly onDemand?: boolean;
  /** Workers whose drain hook to complete (CONTINUE): held by it, and tagged drained by themselves. */
  readonly complete: readonly string[];
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

/** The lifecycle state of a worker that the group's drain hook holds on its way out. */
export const DRAIN_HOOK_WAIT = 'Terminating:Wait';

/**
 * The workers whose drain hook may be completed now: held by the hook and tagged drained by their
 * own queue worker (IAM lets a worker tag only itself, so the tag cannot speak for another). A
 * drained time ahead of the clock reads as absent, as every reported time does. Those without the
 * tag are still draining; the hook's timeout (default result CONTINUE) ends their wait anyway.
 */
export function drainedWorkers(
  workers: readonly BurstWorkerObservation[],
  now: Date,
): Array<{ readonly instanceId: string; readonly drainedAt: Date }> {
  return workers.flatMap(({ instanceId, lifecycleState, drainedAt }) => {
    const drained = pastTime(drainedAt, now);
    return lifecycleState === DRAIN_HOOK_WAIT && drained !== undefined
      ? [{ instanceId, drainedAt: drained }]
      : [];
  });
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
  const notes: string[] = [];
  const actions: string[] = [];

  // --- Size: how many burst workers the work in the queue needs beside the primary.
  const demand = queue.waiting + queue.inFlight + queue.delayed;
  const perWorker = jobsPerWorkerInWindow(burst);
  const mayGrow = queue.waiting > 0 && primary !== 'idle' && !observation.primaryUnknown;
  const forQueue = mayGrow
    ? Math.min(burst.maxWorkers, Math.max(0, Math.ceil(demand / perWorker) - (primary === 'serving' ? 1 : 0)))
    : 0;
  // The operator's hold is a floor: its workers launch, are not cancelled and do not idle out.
  const held =
    observation.paused || observation.primaryUnknown
      ? 0
      : Math.min(burst.maxWorkers, observation.heldWorkers ?? 0);
  const wanted = Math.max(forQueue, held);

  // --- Retire: never a worker that may hold a job; under the operator's pause, every one in service.
  const retire = observation.paused
    ? group.workers
        .filter((w) => w.lifecycleState === 'InService')
        .map((w) => ({
          instanceId: w.instanceId,
          why: "the operator's pause",
          since: 0,
          kind: 'idle' as const,
        }))
    : mayRetire(observation, rules, now, wanted, held);
  const bootTimeouts = retire.filter((r) => r.kind === 'broken').length;
  for (const r of retire) actions.push(`retire ${r.instanceId}: ${r.why}`);

  // --- Complete: workers that drained for their termination go now, not at the hook's timeout.
  const complete = drainedWorkers(group.workers, now);
  for (const w of complete) {
    actions.push(`complete the drain of ${w.instanceId} (drained at ${isoSeconds(w.drainedAt)})`);
  }

  // A worker that never became ready pauses scale-out, as a primary's boot timeout pauses its starts.
  const pausedUntil =
    bootTimeouts > 0
      ? new Date(now.getTime() + BOOT_TIMEOUT_PAUSE_MINUTES * MINUTE_MS)
      : memory.burstBootPausedUntil !== undefined && memory.burstBootPausedUntil > now
        ? memory.burstBootPausedUntil
        : undefined;

  const current = Math.max(group.desired, active.length);
  let desired: number | undefined;
  if (observation.paused) {
    if (group.desired > 0) {
      desired = 0;
      actions.push(`lower desired ${group.desired} → 0: the operator's pause`);
    }
  } else if (wanted > current && pausedUntil === undefined) {
    desired = wanted;
    actions.push(
      forQueue >= held
        ? `scale out to ${wanted} burst (${demand} jobs ÷ ${round1(perWorker)} per worker in ${BURST_DRAIN_MINUTES}m, primary ${primary})`
        : `scale out to ${wanted} burst (the operator's hold)`,
    );
  } else if (group.desired > active.length && (wanted < group.desired || pausedUntil !== undefined)) {
    // Launches still owed (spot failing, say) that the queue no longer needs, or that a boot pause
    // forbids: cancel them, so a worker does not boot for nothing. Never below the workers there.
    desired = Math.max(pausedUntil === undefined ? wanted : 0, active.length);
    actions.push(
      `lower desired ${group.desired} → ${desired}: ${pausedUntil === undefined ? 'the queue no longer needs the launches owed' : 'no launches during a boot pause'}`,
    );
  }
  if (pausedUntil !== undefined) {
    notes.push(`a burst worker never became ready: no scale-out before ${isoSeconds(pausedUntil)}`);
  }
  if (observation.primaryUnknown)
    notes.push('primary not observed: no scale-out, only workers holding no job go');
  else if (!mayGrow && queue.waiting > 0) notes.push('primary stopped and not wanted: no burst');
  if (held > 0) notes.push(`the operator's hold keeps ${held} burst`);

  // --- Market: spot unless spot launches keep failing while work waits.
  // Without the primary's memory the market's history is unknown: leave the market as it is.
  const market = observation.primaryUnknown ? { memory } : decideMarket(observation, memory, burst, now);
  if (market.note) (market.onDemand === undefined ? notes : actions).push(market.note);

  const counts = `${queue.waiting} waiting, ${queue.inFlight} in flight; burst ${active.length} of ${burst.maxWorkers} (desired ${group.desired})${group.onDemand ? ' on-demand' : ''}`;
  const reason = [`burst: ${counts}`, ...actions, ...notes].join('; ');
  const acted =
    desired !== undefined || retire.length > 0 || complete.length > 0 || market.onDemand !== undefined;
  return {
    desired,
    retire: retirements(
      retire.map((r) => r.instanceId),
      desired ?? group.desired,
      active.length,
    ),
    onDemand: market.onDemand,
    complete: complete.map((w) => w.instanceId),
    reason,
    memory: {
      ...market.memory,
      burstBootPausedUntil: pausedUntil,
      burstLastReason: acted ? reason : memory.burstLastReason,
    },
    signals: {
      workers: active.length,
      onDemandWorkers: active.filter((w) => w.market === 'on-demand').length,
      launchFailures:
        group.lastLaunchFailure && now.getTime() - group.lastLaunchFailure.at.getTime() < MINUTE_MS ? 1 : 0,
      bootTimeouts,
      overRunTime: retire.filter((r) => r.kind === 'capped').length,
    },
  };
}

/** A worker the rules let go, and why. */
interface Retiree {
  readonly instanceId: string;
  readonly why: string;
  /** Epoch ms it has been idle (or booting) since: the longest idle goes first. */
  readonly since: number;
  /**
   * broken: never ready within the boot timeout; stalled: ready but took no job while jobs waited
   * NO_PROGRESS_MINUTES (both go whatever the hold, and are replaced if still needed); idle: quiet
   * burst.idleMinutes; booting: not ready yet, launched for a backlog that cleared; capped: ran
   * maxRunHours without the operator's hold (goes whatever it runs, like the primary).
   */
  readonly kind: 'broken' | 'stalled' | 'idle' | 'booting' | 'capped';
}

/**
 * The workers to terminate now. Idleness is known per worker: a worker refreshes its last-job tag
 * while it runs a job (at least every WORKER_ACTIVITY_REFRESH_SECONDS), so one quiet for
 * burst.idleMinutes (and for two refreshes) holds no job, whatever the queue says is in flight.
 * Broken (never ready) and stalled workers always go. Idle workers go while nothing waits, and
 * beyond the `wanted` workers while jobs wait; workers still booting are cancelled once nothing
 * waits or runs, beyond `wanted`. The newest booting worker goes first, the longest idle first.
 */
function mayRetire(
  observation: BurstObservation,
  { burst, maxRunHours }: BurstRules,
  now: Date,
  wanted: number,
  held: number,
): Retiree[] {
  const { queue, group, waitingSince } = observation;
  const quietQueue = queue.waiting === 0 && queue.delayed === 0;
  const mustGo: Retiree[] = [];
  const idle: Retiree[] = [];
  const booting: Retiree[] = [];
  for (const worker of group.workers) {
    if (!isActiveWorker(worker)) continue;
    const since = workerIdleSince(worker, now);
    const launchedAt = worker.launchTime?.getTime() ?? 0;
    if (since === undefined) {
      const bootMinutes = worker.launchTime ? minutesBetween(worker.launchTime, now) : 0;
      if (bootMinutes >= burst.bootTimeoutMinutes) {
        mustGo.push({
          instanceId: worker.instanceId,
          why: `never ready ${formatMinutes(bootMinutes)} after launch (timeout ${burst.bootTimeoutMinutes}m)`,
          since: launchedAt,
          kind: 'broken',
        });
      } else if (quietQueue && queue.inFlight === 0) {
        // Nothing in flight anywhere: a worker whose ready tag has not landed yet holds no job either.
        booting.push({
          instanceId: worker.instanceId,
          why: `booting ${formatMinutes(bootMinutes)} for a backlog that cleared`,
          since: -launchedAt,
          kind: 'booting',
        });
      }
      continue;
    }
    if (worker.lifecycleState !== 'InService') continue;
    const runMinutes = worker.launchTime ? minutesBetween(worker.launchTime, now) : 0;
    if (maxRunHours !== undefined && held === 0 && runMinutes >= maxRunHours * 60) {
      mustGo.push({
        instanceId: worker.instanceId,
        why: `running ${round1(runMinutes / 60)}h ≥ maximum run ${maxRunHours}h without the operator’s hold`,
        since: launchedAt,
        kind: 'capped',
      });
      continue;
    }
    const quiet = minutesBetween(since, now);
    const stalledFrom = waitingSince && waitingSince > since ? waitingSince : since;
    const stalledMinutes = minutesBetween(stalledFrom, now);
    if (queue.waiting > 0 && waitingSince !== undefined && stalledMinutes >= NO_PROGRESS_MINUTES) {
      mustGo.push({
        instanceId: worker.instanceId,
        why: `took no job for ${formatMinutes(stalledMinutes)} while jobs waited (limit ${NO_PROGRESS_MINUTES}m)`,
        since: since.getTime(),
        kind: 'stalled',
      });
      continue;
    }
    if (quiet < burst.idleMinutes || quiet < NO_JOB_RUNNING_MINUTES) continue;
    idle.push({
      instanceId: worker.instanceId,
      why: `idle ${formatMinutes(quiet)} ≥ ${burst.idleMinutes}m since its last job (or ready)${quietQueue ? '' : ', beyond what the queue needs'}`,
      since: since.getTime(),
      kind: 'idle',
    });
  }
  const order = (a: Retiree, b: Retiree): number =>
    a.since - b.since || a.instanceId.localeCompare(b.instanceId);
  const mayGo = Math.max(0, group.workers.filter(isActiveWorker).length - mustGo.length - wanted);
  return [...mustGo.sort(order), ...[...idle.sort(order), ...booting.sort(order)].slice(0, mayGo)];
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
