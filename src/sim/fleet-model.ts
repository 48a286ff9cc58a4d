import { FleetError } from '../aws/errors.js';
import type { BurstGroupState, BurstPort, FleetPort, InstanceInfo, QueuePort } from '../aws/ports.js';
import type { FleetDiscovery } from '../control/tick.js';
import { SPOT_INTERRUPTION_REASON } from '../core/decide.js';
import type { InstanceState, QueueCounts } from '../core/model.js';
import { TAGS, isoSeconds } from '../core/tags.js';
import { DEFAULT_BURST_READY_DELAY_S } from './defaults.js';
import { type TraceJob, seededRandom } from './trace.js';

export { DEFAULT_BURST_READY_DELAY_S } from './defaults.js';

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
  /** Burst workers the group may run (burst.maxWorkers); 0 keeps the one-GPU fleet. @default 0 */
  readonly burstMaxWorkers?: number;
  /**
   * Seconds from a burst worker's launch until it reports ready: a cold start (boot, image pull,
   * model load), unlike the primary's warm restart from its own disk. @default DEFAULT_BURST_READY_DELAY_S
   */
  readonly burstReadyDelayS?: number;
  /** Instance types of the burst group; the first is launched (cosmetic in the simulator). */
  readonly burstInstanceTypes?: readonly string[];
  /** A window [from, to) of trace seconds in which no spot capacity is to be had for the burst group. */
  readonly burstSpotOutageS?: readonly [number, number];
}

/** An Auto Scaling group retries a failed launch after about this long. */
export const BURST_LAUNCH_RETRY_S = 60;

export const DEFAULT_FLEET_MODEL: FleetModelOptions = { readyDelayS: 180, stopDelayS: 60, concurrency: 1 };

/** EC2 reports pending for about this long after StartInstances; the boot continues after that. */
const PENDING_S = 30;

/** The queue worker writes its last-job tag at most this often, with a trailing write of the latest. */
export const LAST_JOB_TAG_INTERVAL_S = 30;

export type SimEventType =
  | 'start'
  | 'ready'
  | 'stop'
  | 'stopped'
  | 'job-start'
  | 'job-end'
  | 'interrupted'
  | 'start-refused'
  /** Burst workers (issue 10): launched by the group, ready, retired by the scaler, gone. */
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

/** One burst worker of the simulated group. */
interface SimBurstWorker {
  readonly id: string;
  readonly market: 'spot' | 'on-demand';
  readonly instanceType: string;
  readonly zone: string;
  readonly launchS: number;
  /** Pending ends (and billing starts) here. */
  readonly runningAtS: number;
  readonly readyAtS: number;
  state: 'pending' | 'running' | 'terminating' | 'terminated';
  interruptAtS: number;
  goneAtS: number;
  readonly running: Array<{ job: number; endS: number }>;
  readonly tags: Record<string, string>;
  lastJobWriteS: number;
  lastJobPendingS: number | undefined;
}

export const SIM_GPU_ID = 'i-simulated-gpu';
/** The `worker` of events that concern the burst group as a whole (a launch that failed). */
export const SIM_BURST_GROUP = 'burst-group';
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
  // The burst group: its own random stream, so the primary's faults are the same with or without it.
  private readonly burstRandom: () => number;
  private readonly burstWorkers: SimBurstWorker[] = [];
  private burstDesired = 0;
  private burstOnDemand = false;
  private burstLaunchFailure: { at: Date; message: string } | undefined;
  private burstNextLaunchS = Number.POSITIVE_INFINITY;
  private burstSerial = 0;
  /** Burst workers retired while a job ran on them (the scaler must never do it). */
  retiredBusy = 0;
  /** The group as the scaler's BurstPort sees it. */
  readonly burst: BurstPort;

  constructor(
    private readonly jobs: readonly TraceJob[],
    private readonly options: FleetModelOptions = DEFAULT_FLEET_MODEL,
  ) {
    this.startedAt = new Float64Array(jobs.length).fill(Number.NaN);
    this.random = seededRandom(options.seed ?? 1);
    this.burstRandom = seededRandom(((options.seed ?? 1) ^ 0x5bd1e995) >>> 0);
    this.burst = {
      describe: async () => this.describeBurst(),
      setDesired: async (desired) => this.setBurstDesired(desired),
      retire: async (instanceId, decrementDesired) => this.retireBurst(instanceId, decrementDesired),
      setOnDemand: async (onDemand) => {
        this.burstOnDemand = onDemand;
      },
    };
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

  /** Burst worker seconds billed so far by market: from running until terminated. */
  get burstBilledSeconds(): { spot: number; onDemand: number } {
    const billed = { spot: 0, onDemand: 0 };
    for (const w of this.burstWorkers) {
      if (this.nowS <= w.runningAtS) continue;
      const seconds = Math.min(this.nowS, w.goneAtS) - w.runningAtS;
      if (w.market === 'spot') billed.spot += Math.max(0, seconds);
      else billed.onDemand += Math.max(0, seconds);
    }
    return billed;
  }

  /** True when no burst worker is left running or going (the group is at rest). */
  get burstIdle(): boolean {
    return this.burstWorkers.every((w) => w.state === 'terminated');
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
    const now = [this.nowS, this.waiting.length, this.inFlight] as const;
    if (last && last[1] === now[1] && last[2] === now[2]) return;
    if (last && last[0] === now[0]) this.countHistory.pop();
    this.countHistory.push(now);
  }

  private get inFlight(): number {
    let count = this.running.length;
    for (const w of this.burstWorkers) count += w.running.length;
    return count;
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
    for (const w of this.burstWorkers) {
      if (w.state === 'terminated') continue;
      for (const r of w.running) next = Math.min(next, r.endS);
      if (w.state === 'pending') next = Math.min(next, w.runningAtS);
      if (w.state === 'running') next = Math.min(next, w.interruptAtS);
      if (w.state === 'running' && this.nowS < w.readyAtS) next = Math.min(next, w.readyAtS);
      if (w.state === 'terminating') next = Math.min(next, w.goneAtS);
      if (w.lastJobPendingS !== undefined) next = Math.min(next, w.lastJobWriteS + LAST_JOB_TAG_INTERVAL_S);
    }
    if (this.activeBurstWorkers < this.burstDesired) next = Math.min(next, this.burstNextLaunchS);
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
        this.events.push({ t, type: 'job-end', worker: SIM_GPU_ID, job: r.job });
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
      this.events.push({ t, type: 'ready', worker: SIM_GPU_ID });
    }
    if (this.state === 'stopping' && this.stoppingUntilS <= t) {
      this.state = 'stopped';
      this.billedS += t - (this.billedSinceS ?? t);
      this.billedSinceS = undefined;
      this.events.push({ t, type: 'stopped', worker: SIM_GPU_ID });
    }
    if (this.state === 'stopped' && this.restartAtS <= t) {
      // Capacity is back: EC2 starts the interrupted instance by itself.
      this.restartAtS = Number.POSITIVE_INFINITY;
      this.launch(t);
    }
    if (this.burstWorkers.length > 0 || this.burstDesired > 0) this.playBurstEventsAt(t);
  }

  private playBurstEventsAt(t: number): void {
    for (const w of this.burstWorkers) {
      if (w.state === 'terminated') continue;
      for (let i = w.running.length - 1; i >= 0; i -= 1) {
        const r = w.running[i];
        if (r && r.endS <= t) {
          w.running.splice(i, 1);
          this.finished += 1;
          this.events.push({ t, type: 'job-end', worker: w.id, job: r.job });
          this.reportBurstJobActivity(w, t);
        }
      }
      if (w.lastJobPendingS !== undefined && w.lastJobWriteS + LAST_JOB_TAG_INTERVAL_S <= t) {
        this.writeBurstLastJob(w, w.lastJobPendingS, t);
      }
      if (w.state === 'pending' && w.runningAtS <= t) {
        w.state = 'running';
        w.interruptAtS = this.nextBurstInterruption(w, t);
      }
      if (w.state === 'running' && w.interruptAtS <= t) {
        // EC2 takes a spot worker back: it terminates, and the group launches a replacement.
        this.events.push({ t, type: 'burst-interrupted', worker: w.id });
        this.endBurstWorker(w, t);
        this.burstNextLaunchS = Math.min(this.burstNextLaunchS, t);
      }
      if (w.state === 'running' && w.readyAtS === t) {
        w.tags[TAGS.readyAt] = isoSeconds(simTime(t));
        this.events.push({ t, type: 'burst-ready', worker: w.id });
      }
      if (w.state === 'terminating' && w.goneAtS <= t) {
        w.state = 'terminated';
        this.events.push({ t, type: 'burst-terminated', worker: w.id });
      }
    }
    if (this.activeBurstWorkers < this.burstDesired && this.burstNextLaunchS <= t) this.fillBurstGroup(t);
  }

  private get activeBurstWorkers(): number {
    return this.burstWorkers.filter((w) => w.state === 'pending' || w.state === 'running').length;
  }

  /** The group launches workers until it has its desired capacity; a spot launch may fail (seeded). */
  private fillBurstGroup(t: number): void {
    this.burstNextLaunchS = Number.POSITIVE_INFINITY;
    while (this.activeBurstWorkers < this.burstDesired) {
      const market = this.burstOnDemand ? 'on-demand' : 'spot';
      const outage = this.options.burstSpotOutageS;
      const noSpot =
        market === 'spot' &&
        ((outage !== undefined && t >= outage[0] && t < outage[1]) ||
          this.burstRandom() < (this.options.capacityFailureRate ?? 0));
      if (noSpot) {
        this.burstLaunchFailure = {
          at: simTime(t),
          message: "InsufficientInstanceCapacity: no spot capacity in any of the group's pools",
        };
        this.events.push({ t, type: 'burst-launch-failed', worker: SIM_BURST_GROUP });
        this.burstNextLaunchS = t + BURST_LAUNCH_RETRY_S;
        return;
      }
      this.burstSerial += 1;
      const id = `i-burst-${String(this.burstSerial).padStart(3, '0')}`;
      const readyDelay = this.options.burstReadyDelayS ?? DEFAULT_BURST_READY_DELAY_S;
      this.burstWorkers.push({
        id,
        market,
        instanceType: this.options.burstInstanceTypes?.[0] ?? 'g4dn.xlarge',
        zone: this.burstSerial % 2 === 1 ? 'ap-northeast-1a' : 'ap-northeast-1c',
        launchS: t,
        runningAtS: t + Math.min(PENDING_S, readyDelay),
        readyAtS: t + readyDelay,
        state: 'pending',
        interruptAtS: Number.POSITIVE_INFINITY,
        goneAtS: Number.POSITIVE_INFINITY,
        running: [],
        tags: { [TAGS.fleet]: SIM_APP_NAME, [TAGS.role]: 'burst' },
        lastJobWriteS: Number.NEGATIVE_INFINITY,
        lastJobPendingS: undefined,
      });
      this.events.push({ t, type: 'burst-launch', worker: id, market });
    }
  }

  private nextBurstInterruption(w: SimBurstWorker, t: number): number {
    const rate = this.options.interruptionsPerHour ?? 0;
    if (rate <= 0 || w.market !== 'spot') return Number.POSITIVE_INFINITY;
    return t + Math.round((-Math.log(1 - this.burstRandom()) / rate) * 3600);
  }

  /** A worker that goes returns its jobs to the queue (their messages reappear) and bills until gone. */
  private endBurstWorker(w: SimBurstWorker, t: number): void {
    for (const r of w.running.splice(0)) this.waiting.unshift(r.job);
    w.state = 'terminating';
    w.interruptAtS = Number.POSITIVE_INFINITY;
    w.lastJobPendingS = undefined;
    w.goneAtS = t + this.options.stopDelayS;
  }

  private reportBurstJobActivity(w: SimBurstWorker, t: number): void {
    if (t - w.lastJobWriteS >= LAST_JOB_TAG_INTERVAL_S) this.writeBurstLastJob(w, t, t);
    else w.lastJobPendingS = t;
  }

  private writeBurstLastJob(w: SimBurstWorker, activityS: number, writtenAtS: number): void {
    w.tags[TAGS.lastJobAt] = isoSeconds(simTime(Math.ceil(activityS)));
    w.lastJobWriteS = writtenAtS;
    w.lastJobPendingS = undefined;
  }

  // --- BurstPort: what the Auto Scaling group would answer and do.
  private describeBurst(): BurstGroupState {
    const lifecycle = { pending: 'Pending', running: 'InService', terminating: 'Terminating' } as const;
    return {
      desired: this.burstDesired,
      max: this.options.burstMaxWorkers ?? 0,
      onDemand: this.burstOnDemand,
      lastLaunchFailure: this.burstLaunchFailure,
      workers: this.burstWorkers
        .filter((w) => w.state !== 'terminated')
        .map((w) => ({
          instanceId: w.id,
          instanceType: w.instanceType,
          market: w.market,
          availabilityZone: w.zone,
          lifecycleState: lifecycle[w.state as keyof typeof lifecycle],
          launchTime: simTime(w.launchS),
          tags: { ...w.tags },
        })),
    };
  }

  private setBurstDesired(desired: number): void {
    const max = this.options.burstMaxWorkers ?? 0;
    if (!Number.isInteger(desired) || desired < 0 || desired > max) {
      throw new FleetError('Unknown', `ValidationError: desired ${desired} outside 0–${max}`, false);
    }
    // As Auto Scaling: a desired capacity below the workers there terminates none of them (every
    // worker is protected from scale-in); desired simply stays below them.
    this.burstDesired = desired;
    if (this.activeBurstWorkers < this.burstDesired) this.fillBurstGroup(this.nowS);
  }

  private retireBurst(instanceId: string, decrementDesired: boolean): void {
    const w = this.burstWorkers.find((x) => x.id === instanceId);
    if (!w || (w.state !== 'running' && w.state !== 'pending')) {
      throw new FleetError(
        'NotFound',
        `ValidationError: ${instanceId} is not in service in the group`,
        false,
      );
    }
    if (decrementDesired && this.burstDesired <= 0) {
      throw new FleetError(
        'Unknown',
        "ValidationError: Currently, desiredSize equals minSize (0). Terminating instance without replacement will violate group's min size constraint.",
        false,
      );
    }
    if (w.running.length > 0) this.retiredBusy += 1;
    this.events.push({ t: this.nowS, type: 'burst-retire', worker: w.id });
    if (decrementDesired) this.burstDesired -= 1;
    this.endBurstWorker(w, this.nowS);
    // Without the decrement, a group whose desired still counts the worker launches a replacement.
    if (this.activeBurstWorkers < this.burstDesired) this.fillBurstGroup(this.nowS);
  }

  private startJobs(): void {
    while (this.ready && this.running.length < this.options.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift() ?? 0;
      if (Number.isNaN(this.startedAt[job])) this.startedAt[job] = this.nowS;
      this.running.push({ job, endS: this.nowS + (this.jobs[job]?.serviceS ?? 0) });
      this.events.push({ t: this.nowS, type: 'job-start', worker: SIM_GPU_ID, job });
      this.reportJobActivity(this.nowS);
    }
    // Then the burst workers that are ready, oldest first (each polls the same queue).
    for (const w of this.burstWorkers) {
      if (w.state !== 'running' || this.nowS < w.readyAtS) continue;
      while (w.running.length < this.options.concurrency && this.waiting.length > 0) {
        const job = this.waiting.shift() ?? 0;
        if (Number.isNaN(this.startedAt[job])) this.startedAt[job] = this.nowS;
        w.running.push({ job, endS: this.nowS + (this.jobs[job]?.serviceS ?? 0) });
        this.events.push({ t: this.nowS, type: 'job-start', worker: w.id, job });
        this.reportBurstJobActivity(w, this.nowS);
      }
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
    this.events.push({ t, type: 'interrupted', worker: SIM_GPU_ID });
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
    this.events.push({ t, type: 'start', worker: SIM_GPU_ID });
  }

  /** A worker that stops takes its unsent trailing write with it. */
  private dropPendingJobWrite(): void {
    this.lastJobPendingS = undefined;
  }

  // --- QueuePort: what GetQueueAttributes would answer now.
  async counts(): Promise<QueueCounts> {
    const lag = this.options.countLagS ?? 0;
    if (lag <= 0) return { waiting: this.waiting.length, inFlight: this.inFlight, delayed: 0 };
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
      this.events.push({ t: this.nowS, type: 'start-refused', worker: SIM_GPU_ID });
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
    this.events.push({ t: this.nowS, type: 'stop', worker: SIM_GPU_ID });
  }

  async writeTags(_instanceId: string, tags: Readonly<Record<string, string>>): Promise<void> {
    this.tags = { ...this.tags, ...tags };
  }
}
