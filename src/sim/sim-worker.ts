import { SPOT_INTERRUPTION_REASON } from '../core/decide.js';
import { TAGS, isoSeconds } from '../core/tags.js';

export type SimEventType =
  | 'start'
  | 'ready'
  | 'stop'
  | 'stopped'
  | 'job-start'
  | 'job-end'
  | 'interrupted'
  | 'start-refused'
  /** EC2 accepted a StartInstances and the instance stayed stopped. */
  | 'start-not-taken'
  /** Burst workers: launched by the group, ready, retired by the scaler, gone. */
  | 'burst-launch'
  | 'burst-launch-failed'
  | 'burst-ready'
  | 'burst-retire'
  | 'burst-interrupted'
  | 'burst-terminated';

export interface SimEvent {
  /** Seconds from the start of the trace. */
  readonly t: number;
  readonly type: SimEventType;
  /** The worker the event happened on: the primary's instance id or a burst worker's. */
  readonly worker: string;
  /** The job's index in the trace, for job events. */
  readonly job?: number;
  /** The market of a burst worker, on burst-launch. */
  readonly market?: 'spot' | 'on-demand';
}

const EPOCH_MS = Date.parse('2026-01-05T00:00:00Z');

/** Seconds of the trace as the clock the scaler sees (a Monday, so weekdays line up). */
export function simTime(seconds: number): Date {
  return new Date(EPOCH_MS + seconds * 1000);
}

/** EC2 reports pending for about this long after a launch; the boot continues after that. */
const PENDING_S = 30;

/** The queue worker writes its last-job tag at most this often, with a trailing write of the latest. */
export const LAST_JOB_TAG_INTERVAL_S = 30;

/** A worker's life as EC2 sees it; a burst worker that is stopped is terminated and never comes back. */
export type SimWorkerState = 'pending' | 'running' | 'stopping' | 'stopped';

/** The fleet around a worker: the one queue every worker polls, and the log of what happened. */
export interface WorkerSurroundings {
  /** Jobs a worker runs at the same time. */
  readonly concurrency: number;
  /** Seconds from a stop or termination until the instance is gone (and no longer billed). */
  readonly stopDelayS: number;
  record(event: SimEvent): void;
  /** Takes the next waiting job (undefined when none waits) and returns when it will end. */
  takeJob(now: number): { readonly job: number; readonly endS: number } | undefined;
  /** A job's message reappears in the queue, first in line. */
  giveBack(job: number): void;
  jobFinished(): void;
}

/** What tells the primary from a burst worker: parameters, not code paths of their own. */
export interface SimWorkerOptions {
  readonly id: string;
  /** Names its events: the primary's plain ones, a burst worker's `burst-…`. */
  readonly kind: 'primary' | 'burst';
  /** Seconds from a launch until the worker reports ready. */
  readonly readyDelayS: number;
  /** The market a burst worker was launched on, named on its launch event. */
  readonly market?: 'spot' | 'on-demand';
  /** Spot interruptions per running hour (0 for a worker that cannot be interrupted). */
  readonly interruptionsPerHour: number;
  /**
   * Seconds from an interruption's stop until EC2 starts the worker again by itself: the
   * persistent spot primary. Undefined for a burst worker, which is terminated and replaced.
   */
  readonly restartAfterInterruptionS?: number;
  /** The random stream its interruptions are drawn from. */
  readonly random: () => number;
  readonly tags: Record<string, string>;
  /** Called when EC2 interrupts the worker (after its jobs went back to the queue). */
  readonly onInterrupted?: (t: number) => void;
  /** A broken worker (image, template, mount): it boots and bills but never reports ready. @default false */
  readonly neverReady?: boolean;
  /**
   * Seconds a tag write may take to land (EC2 tags are eventually consistent): each write lands
   * after a random share of this, in the order written. @default 0
   */
  readonly tagLagS?: number;
}

const EVENT_TYPES = {
  primary: { start: 'start', ready: 'ready', interrupted: 'interrupted', gone: 'stopped' },
  burst: {
    start: 'burst-launch',
    ready: 'burst-ready',
    interrupted: 'burst-interrupted',
    gone: 'burst-terminated',
  },
} as const satisfies Record<SimWorkerOptions['kind'], Record<string, SimEventType>>;

/**
 * One simulated GPU worker, the primary or a burst worker: it boots, reports ready and its last
 * job through its tags, runs jobs from the shared queue, bills from running to gone, and may be
 * interrupted by EC2.
 */
export class SimWorker {
  state: SimWorkerState = 'stopped';
  tags: Record<string, string>;
  stateReasonCode: string | undefined;
  /** The latest launch; EC2 keeps it on a stopped instance. */
  launchS: number | undefined;
  readonly running: Array<{ readonly job: number; readonly endS: number }> = [];
  /** Pending ends (and billing starts) here. */
  private runningAtS = 0;
  private readyAtS = Number.POSITIVE_INFINITY;
  /** A stop or termination ends (and billing stops) here. */
  private goneAtS = Number.POSITIVE_INFINITY;
  private interruptAtS = Number.POSITIVE_INFINITY;
  private restartAtS = Number.POSITIVE_INFINITY;
  /** A retired burst worker held by its group's drain hook until the scaler completes it. */
  private drainHookHeld = false;
  private billedS = 0;
  private billedSinceS: number | undefined;
  private lastJobWriteS = Number.NEGATIVE_INFINITY;
  private lastJobPendingS: number | undefined;
  /** Tag writes sent and not yet visible, in the order they land. */
  private readonly landing: Array<{ readonly atS: number; readonly key: string; readonly value: string }> =
    [];
  private readonly events: (typeof EVENT_TYPES)[SimWorkerOptions['kind']];

  constructor(
    private readonly options: SimWorkerOptions,
    private readonly around: WorkerSurroundings,
  ) {
    this.tags = options.tags;
    this.events = EVENT_TYPES[options.kind];
  }

  get id(): string {
    return this.options.id;
  }

  /** Running, booted and with its containers up: it takes jobs. */
  isReady(now: number): boolean {
    return this.state === 'running' && now >= this.readyAtS;
  }

  /** Seconds billed up to `now`: from each running until gone. */
  billedSeconds(now: number): number {
    return this.billedS + (this.billedSinceS === undefined ? 0 : now - this.billedSinceS);
  }

  /** Starts the instance: pending for a moment, ready after its ready delay. */
  launch(t: number): void {
    const { readyDelayS, market } = this.options;
    this.state = 'pending';
    this.stateReasonCode = undefined;
    this.launchS = t;
    this.runningAtS = t + Math.min(PENDING_S, readyDelayS);
    this.readyAtS = this.options.neverReady ? Number.POSITIVE_INFINITY : t + readyDelayS;
    this.lastJobWriteS = Number.NEGATIVE_INFINITY;
    this.around.record({ t, type: this.events.start, worker: this.id, ...(market && { market }) });
  }

  /** The next moment something happens on this worker. */
  nextEventTime(now: number): number {
    let next = Number.POSITIVE_INFINITY;
    for (const r of this.running) next = Math.min(next, r.endS);
    if (this.state === 'pending') next = Math.min(next, this.runningAtS);
    if (this.state === 'running' && now < this.readyAtS) next = Math.min(next, this.readyAtS);
    if (this.state === 'running') next = Math.min(next, this.interruptAtS);
    if (this.state === 'stopping') next = Math.min(next, this.goneAtS);
    if (this.state === 'stopped') next = Math.min(next, this.restartAtS);
    if (this.lastJobPendingS !== undefined || this.running.length > 0)
      next = Math.min(next, this.lastJobWriteS + LAST_JOB_TAG_INTERVAL_S);
    const landing = this.landing[0];
    if (landing) next = Math.min(next, landing.atS);
    return next;
  }

  /** Plays what happens at `t`: jobs end, the trailing tag write, the boot's steps, an interruption, the end. */
  playEventsAt(t: number): void {
    for (let i = this.running.length - 1; i >= 0; i -= 1) {
      const r = this.running[i];
      if (r && r.endS <= t) {
        this.running.splice(i, 1);
        this.around.jobFinished();
        this.around.record({ t, type: 'job-end', worker: this.id, job: r.job });
        this.reportJobActivity(t);
      }
    }
    if (this.lastJobPendingS !== undefined && this.lastJobWriteS + LAST_JOB_TAG_INTERVAL_S <= t) {
      this.writeLastJob(this.lastJobPendingS, t);
    }
    // The worker says it is busy while a job runs, with each visibility heartbeat.
    if (this.running.length > 0 && this.lastJobWriteS + LAST_JOB_TAG_INTERVAL_S <= t) this.writeLastJob(t, t);
    while (this.landing[0] && this.landing[0].atS <= t) {
      const write = this.landing.shift();
      if (write) this.tags[write.key] = write.value;
    }
    if (this.state === 'pending' && this.runningAtS <= t) {
      this.state = 'running';
      this.billedSinceS = t;
      this.interruptAtS = this.nextInterruption(t);
    }
    if (this.state === 'running' && this.interruptAtS <= t) this.interrupt(t);
    if (this.state === 'running' && this.readyAtS === t) {
      this.writeTag(TAGS.readyAt, isoSeconds(simTime(t)), t);
      this.around.record({ t, type: this.events.ready, worker: this.id });
    }
    if (this.state === 'stopping' && this.goneAtS <= t) {
      this.state = 'stopped';
      this.billedS += t - (this.billedSinceS ?? t);
      this.billedSinceS = undefined;
      this.around.record({ t, type: this.events.gone, worker: this.id });
    }
    if (this.state === 'stopped' && this.restartAtS <= t) {
      // Capacity is back: EC2 starts the interrupted instance by itself.
      this.restartAtS = Number.POSITIVE_INFINITY;
      this.launch(t);
    }
  }

  /** Takes jobs from the queue while ready and a slot is free. */
  startJobs(now: number): void {
    while (this.startJob(now));
  }

  /** Ready with a slot free: its poll is open. */
  isPolling(now: number): boolean {
    return this.isReady(now) && this.running.length < this.around.concurrency;
  }

  /** Takes one job from the queue if ready with a slot free; false when it took none. */
  startJob(now: number): boolean {
    if (!this.isPolling(now)) return false;
    const taken = this.around.takeJob(now);
    if (taken === undefined) return false;
    this.running.push(taken);
    this.around.record({ t: now, type: 'job-start', worker: this.id, job: taken.job });
    this.reportJobActivity(now);
    return true;
  }

  /**
   * The worker goes down (a stop, a termination, an interruption): jobs in flight return to the
   * queue (their messages reappear), an unsent trailing tag write is lost, billing runs until gone.
   */
  goDown(t: number): void {
    for (const r of this.running.splice(0)) this.around.giveBack(r.job);
    this.state = 'stopping';
    this.drainHookHeld = false;
    this.readyAtS = Number.POSITIVE_INFINITY;
    this.interruptAtS = Number.POSITIVE_INFINITY;
    this.goneAtS = t + this.around.stopDelayS;
    this.lastJobPendingS = undefined;
  }

  /** Terminating, held by the group's drain hook: the scaler's completion (or the hook's timeout) lets it go. */
  get heldByDrainHook(): boolean {
    return this.state === 'stopping' && this.drainHookHeld;
  }

  /**
   * The group terminates this burst worker: it goes down (jobs in hand back to the queue), tags
   * itself drained, and stays, billed, until the scaler completes the drain hook or the hook's
   * timeout (`hookTimeoutS`) ends the wait.
   */
  retire(t: number, hookTimeoutS: number): void {
    this.goDown(t);
    this.drainHookHeld = true;
    this.goneAtS = t + hookTimeoutS + this.around.stopDelayS;
    this.writeTag(TAGS.drainedAt, isoSeconds(simTime(Math.ceil(t))), t);
  }

  /** The drain hook is completed: the worker terminates now. Once it is no longer held, nothing changes. */
  completeDrainHook(t: number): void {
    if (!this.heldByDrainHook) return;
    this.drainHookHeld = false;
    this.goneAtS = Math.min(this.goneAtS, t + this.around.stopDelayS);
  }

  /** EC2 takes the capacity back. */
  private interrupt(t: number): void {
    this.around.record({ t, type: this.events.interrupted, worker: this.id });
    this.goDown(t);
    this.stateReasonCode = SPOT_INTERRUPTION_REASON;
    if (this.options.restartAfterInterruptionS !== undefined) {
      this.restartAtS = this.goneAtS + this.options.restartAfterInterruptionS;
    }
    this.options.onInterrupted?.(t);
  }

  private nextInterruption(t: number): number {
    const rate = this.options.interruptionsPerHour;
    if (rate <= 0) return Number.POSITIVE_INFINITY;
    return t + Math.round((-Math.log(1 - this.options.random()) / rate) * 3600);
  }

  /** The worker's last-job tag: written at once, or coalesced into one trailing write 30 s after the last. */
  private reportJobActivity(t: number): void {
    if (t - this.lastJobWriteS >= LAST_JOB_TAG_INTERVAL_S) this.writeLastJob(t, t);
    else this.lastJobPendingS = t;
  }

  private writeLastJob(activityS: number, writtenAtS: number): void {
    // Rounded up to the second, so the tag never says a job ended before it did.
    this.writeTag(TAGS.lastJobAt, isoSeconds(simTime(Math.ceil(activityS))), writtenAtS);
    this.lastJobWriteS = writtenAtS;
    this.lastJobPendingS = undefined;
  }

  /** A tag write: visible at once, or after a seeded lag and never before an earlier write. */
  private writeTag(key: string, value: string, t: number): void {
    const lag = this.options.tagLagS ?? 0;
    if (lag <= 0) {
      this.tags[key] = value;
      return;
    }
    const atS = Math.max(t + Math.round(this.options.random() * lag), this.landing.at(-1)?.atS ?? t);
    this.landing.push({ atS, key, value });
  }
}
