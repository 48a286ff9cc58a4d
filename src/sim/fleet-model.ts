import type { FleetPort, InstanceInfo, QueuePort } from '../aws/ports.js';
import type { InstanceState, QueueCounts } from '../core/model.js';
import { TAGS, isoSeconds } from '../core/tags.js';
import type { TraceJob } from './trace.js';

/** How the simulated fleet behaves; defaults are what a g4dn.xlarge with the DLAMI does. */
export interface FleetModelOptions {
  /** Seconds from StartInstances until the worker reports ready (EC2 boot + containers). @default 180 */
  readonly readyDelayS: number;
  /** Seconds from StopInstances until the instance is stopped (and no longer billed). @default 60 */
  readonly stopDelayS: number;
  /** Jobs the worker runs at the same time. @default 1 */
  readonly concurrency: number;
}

export const DEFAULT_FLEET_MODEL: FleetModelOptions = { readyDelayS: 180, stopDelayS: 60, concurrency: 1 };

/** EC2 reports pending for about this long after StartInstances; the boot continues after that. */
const PENDING_S = 30;

export type SimEventType = 'start' | 'ready' | 'stop' | 'stopped' | 'job-start' | 'job-end';

export interface SimEvent {
  /** Seconds from the start of the trace. */
  readonly t: number;
  readonly type: SimEventType;
  /** The job's index in the trace, for job events. */
  readonly job?: number;
}

export const SIM_GPU_ID = 'i-simulated-gpu';
const EPOCH_MS = Date.parse('2026-01-05T00:00:00Z');

/** Seconds of the trace as the clock the scaler sees (a Monday, so weekdays line up). */
export function simTime(seconds: number): Date {
  return new Date(EPOCH_MS + seconds * 1000);
}

/**
 * The fleet and the job queue in virtual time: the same FleetPort and QueuePort the AWS adapters
 * implement, so the simulator runs the scaler's real tick against it. Time moves only through
 * advanceTo(); jobs start the moment the worker is ready and has a free slot.
 */
export class FleetModel implements FleetPort, QueuePort {
  readonly events: SimEvent[] = [];
  /** Start time of each job (NaN until it starts). */
  readonly startedAt: Float64Array;
  private nowS = 0;
  private state: InstanceState = 'stopped';
  private launchS = 0;
  private pendingUntilS = 0;
  private readyAtS = Number.POSITIVE_INFINITY;
  private stoppingUntilS = 0;
  private billedSinceS: number | undefined;
  private billedS = 0;
  private tags: Record<string, string> = { [TAGS.role]: 'gpu' };
  private arrived = 0;
  private started = 0;
  private finished = 0;
  private readonly running: Array<{ job: number; endS: number }> = [];

  constructor(
    private readonly jobs: readonly TraceJob[],
    private readonly options: FleetModelOptions = DEFAULT_FLEET_MODEL,
  ) {
    this.startedAt = new Float64Array(jobs.length).fill(Number.NaN);
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

  /** GPU seconds billed so far: from StartInstances until the instance is stopped. */
  get billedSeconds(): number {
    return this.billedS + (this.billedSinceS === undefined ? 0 : this.nowS - this.billedSinceS);
  }

  /** Moves virtual time to `t`, playing every arrival, boot step, job start and end on the way. */
  advanceTo(t: number): void {
    for (;;) {
      this.startJobs();
      const next = this.nextEventTime();
      if (next > t) break;
      this.nowS = next;
      this.playEventsAt(next);
    }
    this.nowS = t;
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
    if (this.state === 'stopping') next = Math.min(next, this.stoppingUntilS);
    return next;
  }

  private playEventsAt(t: number): void {
    while (this.arrived < this.jobs.length && (this.jobs[this.arrived]?.arrivalS ?? Infinity) <= t)
      this.arrived += 1;
    for (let i = this.running.length - 1; i >= 0; i -= 1) {
      const r = this.running[i];
      if (r && r.endS <= t) {
        this.running.splice(i, 1);
        this.finished += 1;
        this.events.push({ t, type: 'job-end', job: r.job });
      }
    }
    if (this.state === 'pending' && this.pendingUntilS <= t) this.state = 'running';
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
  }

  private startJobs(): void {
    while (this.ready && this.running.length < this.options.concurrency && this.started < this.arrived) {
      const job = this.started;
      this.started += 1;
      this.startedAt[job] = this.nowS;
      this.running.push({ job, endS: this.nowS + (this.jobs[job]?.serviceS ?? 0) });
      this.events.push({ t: this.nowS, type: 'job-start', job });
    }
  }

  // --- QueuePort: what GetQueueAttributes would answer now.
  async counts(): Promise<QueueCounts> {
    return { waiting: this.arrived - this.started, inFlight: this.running.length, delayed: 0 };
  }

  // --- FleetPort: what EC2 would do.
  async describe(): Promise<InstanceInfo[]> {
    return [
      {
        instanceId: SIM_GPU_ID,
        role: 'gpu',
        instanceType: 'g4dn.xlarge',
        state: this.state,
        launchTime: this.state === 'stopped' ? undefined : simTime(this.launchS),
        lifecycle: 'spot',
        tags: { ...this.tags },
      },
    ];
  }

  async start(): Promise<void> {
    if (this.state !== 'stopped') return;
    this.state = 'pending';
    this.launchS = this.nowS;
    this.pendingUntilS = this.nowS + Math.min(PENDING_S, this.options.readyDelayS);
    this.readyAtS = this.nowS + this.options.readyDelayS;
    this.billedSinceS = this.nowS;
    this.events.push({ t: this.nowS, type: 'start' });
  }

  async stop(): Promise<void> {
    if (this.state !== 'running' && this.state !== 'pending') return;
    if (this.running.length > 0)
      throw new Error(`the GPU was stopped with ${this.running.length} jobs in flight`);
    this.state = 'stopping';
    this.readyAtS = Number.POSITIVE_INFINITY;
    this.stoppingUntilS = this.nowS + this.options.stopDelayS;
    this.events.push({ t: this.nowS, type: 'stop' });
  }

  async writeTags(_instanceId: string, tags: Readonly<Record<string, string>>): Promise<void> {
    this.tags = { ...this.tags, ...tags };
  }
}
