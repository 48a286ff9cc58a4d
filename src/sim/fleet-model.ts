import { FleetError } from '../aws/errors.js';
import type { FleetPort, InstanceInfo, QueuePort } from '../aws/ports.js';
import type { FleetDiscovery } from '../control/tick.js';
import { SPOT_INTERRUPTION_REASON } from '../core/decide.js';
import type { InstanceState, QueueCounts } from '../core/model.js';
import { TAGS, isoSeconds } from '../core/tags.js';
import { type TraceJob, seededRandom } from './trace.js';

/** How the simulated fleet behaves; defaults are what a g4dn.xlarge with the DLAMI does. */
export interface FleetModelOptions {
  /** Seconds from StartInstances until the worker reports ready (EC2 boot + containers). @default 180 */
  readonly readyDelayS: number;
  /** Seconds from StopInstances until the instance is stopped (and no longer billed). @default 60 */
  readonly stopDelayS: number;
  /** Jobs the worker runs at the same time. @default 1 */
  readonly concurrency: number;
  /** Spot interruptions per running hour (a Poisson rate); EC2 stops the GPU and starts it later. @default 0 */
  readonly interruptionsPerHour?: number;
  /** Seconds from an interruption's stop until EC2 starts the GPU again by itself. @default 600 */
  readonly interruptionDowntimeS?: number;
  /** Share (0–1) of StartInstances calls refused with InsufficientInstanceCapacity. @default 0 */
  readonly capacityFailureRate?: number;
  /** Seed of the interruptions and capacity failures, so a run is repeatable. @default 1 */
  readonly seed?: number;
  /**
   * How many seconds the queue counts lag behind the queue (SQS counts are approximate and
   * eventually consistent): each tick sees the counts as they were this long ago. @default 0
   */
  readonly countLagS?: number;
}

export const DEFAULT_FLEET_MODEL: FleetModelOptions = { readyDelayS: 180, stopDelayS: 60, concurrency: 1 };

/** EC2 reports pending for about this long after StartInstances; the boot continues after that. */
const PENDING_S = 30;

/** The queue worker writes its last-job tag at most this often, with a trailing write of the latest. */
export const LAST_JOB_TAG_INTERVAL_S = 30;

export type SimEventType =
  'start' | 'ready' | 'stop' | 'stopped' | 'job-start' | 'job-end' | 'interrupted' | 'start-refused';

export interface SimEvent {
  /** Seconds from the start of the trace. */
  readonly t: number;
  readonly type: SimEventType;
  /** The job's index in the trace, for job events. */
  readonly job?: number;
}

export const SIM_GPU_ID = 'i-simulated-gpu';
export const SIM_APP_NAME = 'SimulatedFleet';
const EPOCH_MS = Date.parse('2026-01-05T00:00:00Z');

/** Seconds of the trace as the clock the scaler sees (a Monday, so weekdays line up). */
export function simTime(seconds: number): Date {
  return new Date(EPOCH_MS + seconds * 1000);
}

/**
 * The fleet and the job queue in virtual time: the same ports the AWS adapters implement, so the
 * simulator runs the scaler's real tick against it. Time moves only through advanceTo(); jobs
 * start the moment the worker is ready and has a free slot. EC2 is not kind here: it can refuse a
 * start for capacity and interrupt a running spot GPU (seeded), and it bills from running to stopped.
 */
export class FleetModel implements FleetPort, FleetDiscovery, QueuePort {
  readonly events: SimEvent[] = [];
  /** Start time of each job's first run (NaN until it starts). */
  readonly startedAt: Float64Array;
  private nowS = 0;
  private state: InstanceState = 'stopped';
  private stateReasonCode: string | undefined;
  private launchS: number | undefined;
  private pendingUntilS = 0;
  private readyAtS = Number.POSITIVE_INFINITY;
  private stoppingUntilS = 0;
  private interruptAtS = Number.POSITIVE_INFINITY;
  private restartAtS = Number.POSITIVE_INFINITY;
  private billedSinceS: number | undefined;
  private billedS = 0;
  private tags: Record<string, string> = { [TAGS.fleet]: SIM_APP_NAME, [TAGS.role]: 'gpu' };
  private lastJobWriteS = Number.NEGATIVE_INFINITY;
  private lastJobPendingS: number | undefined;
  private arrived = 0;
  private readonly waiting: number[] = [];
  private finished = 0;
  private readonly running: Array<{ job: number; endS: number }> = [];
  private readonly random: () => number;
  /** Queue counts after every change, oldest first, for lagging counts: [t, waiting, inFlight]. */
  private readonly countHistory: Array<readonly [number, number, number]> = [[0, 0, 0]];

  constructor(
    private readonly jobs: readonly TraceJob[],
    private readonly options: FleetModelOptions = DEFAULT_FLEET_MODEL,
  ) {
    this.startedAt = new Float64Array(jobs.length).fill(Number.NaN);
    this.random = seededRandom(options.seed ?? 1);
  }

  get time(): number {
    return this.nowS;
  }

  get allJobsDone(): boolean {
    return this.finished === this.jobs.length;
  }

  get gpuState(): InstanceState {
    return this.state;
  }

  /** GPU seconds billed so far: from running until the instance is stopped. */
  get billedSeconds(): number {
    return this.billedS + (this.billedSinceS === undefined ? 0 : this.nowS - this.billedSinceS);
  }

  /** Moves virtual time to `t`, playing every arrival, boot step, job start and end on the way. */
  advanceTo(t: number): void {
    for (;;) {
      this.startJobs();
      this.recordCounts();
      const next = this.nextEventTime();
      if (next > t) break;
      this.nowS = next;
      this.playEventsAt(next);
    }
    this.nowS = t;
  }

  private recordCounts(): void {
    const last = this.countHistory.at(-1);
    const now = [this.nowS, this.waiting.length, this.running.length] as const;
    if (last && last[1] === now[1] && last[2] === now[2]) return;
    if (last && last[0] === now[0]) this.countHistory.pop();
    this.countHistory.push(now);
  }

  private get ready(): boolean {
    return this.state === 'running' && this.nowS >= this.readyAtS;
  }

  private nextEventTime(): number {
    let next = Number.POSITIVE_INFINITY;
    if (this.arrived < this.jobs.length) next = Math.min(next, this.jobs[this.arrived]?.arrivalS ?? next);
    for (const r of this.running) next = Math.min(next, r.endS);
    if (this.state === 'pending') next = Math.min(next, this.pendingUntilS);
    if (this.state === 'running' && this.nowS < this.readyAtS) next = Math.min(next, this.readyAtS);
    if (this.state === 'running') next = Math.min(next, this.interruptAtS);
    if (this.state === 'stopping') next = Math.min(next, this.stoppingUntilS);
    if (this.state === 'stopped') next = Math.min(next, this.restartAtS);
    if (this.lastJobPendingS !== undefined)
      next = Math.min(next, this.lastJobWriteS + LAST_JOB_TAG_INTERVAL_S);
    return next;
  }

  private playEventsAt(t: number): void {
    while (this.arrived < this.jobs.length && (this.jobs[this.arrived]?.arrivalS ?? Infinity) <= t) {
      this.waiting.push(this.arrived);
      this.arrived += 1;
    }
    for (let i = this.running.length - 1; i >= 0; i -= 1) {
      const r = this.running[i];
      if (r && r.endS <= t) {
        this.running.splice(i, 1);
        this.finished += 1;
        this.events.push({ t, type: 'job-end', job: r.job });
        this.reportJobActivity(t);
      }
    }
    if (this.lastJobPendingS !== undefined && this.lastJobWriteS + LAST_JOB_TAG_INTERVAL_S <= t) {
      this.writeLastJob(this.lastJobPendingS, t);
    }
    if (this.state === 'pending' && this.pendingUntilS <= t) {
      this.state = 'running';
      this.billedSinceS = t;
      this.interruptAtS = this.nextInterruption(t);
    }
    if (this.state === 'running' && this.interruptAtS <= t) this.interrupt(t);
    if (this.state === 'running' && this.readyAtS === t) {
      this.tags[TAGS.readyAt] = isoSeconds(simTime(t));
      this.events.push({ t, type: 'ready' });
    }
    if (this.state === 'stopping' && this.stoppingUntilS <= t) {
      this.state = 'stopped';
      this.billedS += t - (this.billedSinceS ?? t);
      this.billedSinceS = undefined;
      this.events.push({ t, type: 'stopped' });
    }
    if (this.state === 'stopped' && this.restartAtS <= t) {
      // Capacity is back: EC2 starts the interrupted instance by itself.
      this.restartAtS = Number.POSITIVE_INFINITY;
      this.launch(t);
    }
  }

  private startJobs(): void {
    while (this.ready && this.running.length < this.options.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift() ?? 0;
      if (Number.isNaN(this.startedAt[job])) this.startedAt[job] = this.nowS;
      this.running.push({ job, endS: this.nowS + (this.jobs[job]?.serviceS ?? 0) });
      this.events.push({ t: this.nowS, type: 'job-start', job });
      this.reportJobActivity(this.nowS);
    }
  }

  /** The worker's last-job tag: written at once, or coalesced into one trailing write 30 s after the last. */
  private reportJobActivity(t: number): void {
    if (t - this.lastJobWriteS >= LAST_JOB_TAG_INTERVAL_S) this.writeLastJob(t, t);
    else this.lastJobPendingS = t;
  }

  private writeLastJob(activityS: number, writtenAtS: number): void {
    // Rounded up to the second, so the tag never says a job ended before it did.
    this.tags[TAGS.lastJobAt] = isoSeconds(simTime(Math.ceil(activityS)));
    this.lastJobWriteS = writtenAtS;
    this.lastJobPendingS = undefined;
  }

  private nextInterruption(t: number): number {
    const rate = this.options.interruptionsPerHour ?? 0;
    if (rate <= 0) return Number.POSITIVE_INFINITY;
    return t + Math.round((-Math.log(1 - this.random()) / rate) * 3600);
  }

  /** EC2 takes the capacity back: the instance stops, jobs in flight return to the queue. */
  private interrupt(t: number): void {
    this.events.push({ t, type: 'interrupted' });
    for (const r of this.running.splice(0)) this.waiting.unshift(r.job);
    this.state = 'stopping';
    this.stateReasonCode = SPOT_INTERRUPTION_REASON;
    this.readyAtS = Number.POSITIVE_INFINITY;
    this.interruptAtS = Number.POSITIVE_INFINITY;
    this.stoppingUntilS = t + this.options.stopDelayS;
    this.restartAtS = this.stoppingUntilS + (this.options.interruptionDowntimeS ?? 600);
    this.dropPendingJobWrite();
  }

  private launch(t: number): void {
    this.state = 'pending';
    this.stateReasonCode = undefined;
    this.launchS = t;
    this.pendingUntilS = t + Math.min(PENDING_S, this.options.readyDelayS);
    this.readyAtS = t + this.options.readyDelayS;
    this.lastJobWriteS = Number.NEGATIVE_INFINITY;
    this.events.push({ t, type: 'start' });
  }

  /** A worker that stops takes its unsent trailing write with it. */
  private dropPendingJobWrite(): void {
    this.lastJobPendingS = undefined;
  }

  // --- QueuePort: what GetQueueAttributes would answer now.
  async counts(): Promise<QueueCounts> {
    const lag = this.options.countLagS ?? 0;
    if (lag <= 0) return { waiting: this.waiting.length, inFlight: this.running.length, delayed: 0 };
    // The last snapshot at or before now - lag (binary search; the history is in time order).
    const at = this.nowS - lag;
    let lo = 0;
    let hi = this.countHistory.length - 1;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if ((this.countHistory[mid]?.[0] ?? 0) <= at) lo = mid;
      else hi = mid - 1;
    }
    const [, waiting, inFlight] = this.countHistory[lo] ?? [0, 0, 0];
    return { waiting, inFlight, delayed: 0 };
  }

  // --- FleetDiscovery and FleetPort: what EC2 would answer and do.
  async discover(): Promise<InstanceInfo[]> {
    return this.describe();
  }

  async describe(): Promise<InstanceInfo[]> {
    return [
      {
        instanceId: SIM_GPU_ID,
        role: 'gpu',
        instanceType: 'g4dn.xlarge',
        state: this.state,
        // EC2 keeps the last launch time on a stopped instance.
        launchTime: this.launchS === undefined ? undefined : simTime(this.launchS),
        stateReasonCode: this.stateReasonCode,
        lifecycle: 'spot',
        tags: { ...this.tags },
      },
    ];
  }

  async start(): Promise<void> {
    if (this.state !== 'stopped') return;
    if (this.stateReasonCode === SPOT_INTERRUPTION_REASON) {
      throw new FleetError('SpotInterrupted', 'UnsupportedOperation: interrupted spot instance', true);
    }
    if (this.random() < (this.options.capacityFailureRate ?? 0)) {
      this.events.push({ t: this.nowS, type: 'start-refused' });
      throw new FleetError('InsufficientCapacity', 'InsufficientInstanceCapacity: no spot capacity', true);
    }
    this.launch(this.nowS);
  }

  async stop(): Promise<void> {
    if (this.state !== 'running' && this.state !== 'pending') return;
    // A stop takes the worker down: jobs in flight return to the queue (their messages reappear).
    for (const r of this.running.splice(0)) this.waiting.unshift(r.job);
    this.state = 'stopping';
    this.readyAtS = Number.POSITIVE_INFINITY;
    this.interruptAtS = Number.POSITIVE_INFINITY;
    this.stoppingUntilS = this.nowS + this.options.stopDelayS;
    this.dropPendingJobWrite();
    this.events.push({ t: this.nowS, type: 'stop' });
  }

  async writeTags(_instanceId: string, tags: Readonly<Record<string, string>>): Promise<void> {
    this.tags = { ...this.tags, ...tags };
  }
}
