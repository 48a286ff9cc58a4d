import { FleetError } from '../aws/errors.js';
import type { BurstGroupState, BurstPort, FleetPort, InstanceInfo, QueuePort } from '../aws/ports.js';
import type { FleetDiscovery } from '../control/tick.js';
import { DRAIN_HOOK_WAIT } from '../core/burst.js';
import { SPOT_INTERRUPTION_REASON } from '../core/decide.js';
import type { InstanceState, QueueCounts } from '../core/model.js';
import { TAGS } from '../core/tags.js';
import { BURST_DRAIN_TIMEOUT_SECONDS } from '../names.js';
import { DEFAULT_BURST_READY_DELAY_S } from './defaults.js';
import { SimWorker, type SimEvent, type WorkerSurroundings, simTime } from './sim-worker.js';
import { type TraceJob, seededRandom } from './trace.js';

export { DEFAULT_BURST_READY_DELAY_S } from './defaults.js';
export { LAST_JOB_TAG_INTERVAL_S, type SimEvent, simTime } from './sim-worker.js';

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
  /** The primary is broken (image, mount, settings): it boots and bills but never reports ready. @default false */
  readonly primaryNeverReady?: boolean;
  /** Share (0–1) of burst workers launched broken: they boot and bill but never report ready. @default 0 */
  readonly burstNeverReadyShare?: number;
  /** Share (0–1) of StartInstances calls EC2 accepts and does not carry out (the GPU stays stopped). @default 0 */
  readonly startNotTakenRate?: number;
  /** Seconds a worker's tag write may take to be seen (seeded, in write order). @default 0 */
  readonly tagLagS?: number;
}

/** An Auto Scaling group retries a failed launch after about this long. */
export const BURST_LAUNCH_RETRY_S = 60;

export const DEFAULT_FLEET_MODEL: FleetModelOptions = { readyDelayS: 180, stopDelayS: 60, concurrency: 1 };

export const SIM_GPU_ID = 'i-simulated-gpu';
/** The `worker` of events that concern the burst group as a whole (a launch that failed). */
export const SIM_BURST_GROUP = 'burst-group';
export const SIM_APP_NAME = 'SimulatedFleet';

/** A burst worker: the simulated worker and where the group placed it. */
interface SimBurstWorker {
  readonly worker: SimWorker;
  readonly market: 'spot' | 'on-demand';
  readonly instanceType: string;
  readonly zone: string;
}

/**
 * The fleet and the job queue in virtual time: the same ports the AWS adapters implement, so the
 * simulator runs the scaler's real tick against it. Time moves only through advanceTo(); jobs
 * start the moment a worker is ready and has a free slot. EC2 is not kind here: it can refuse a
 * start for capacity and interrupt a running spot GPU (seeded), and it bills from running to stopped.
 * The primary and the burst workers are the same SimWorker with different parameters.
 */
export class FleetModel implements FleetPort, FleetDiscovery, QueuePort {
  readonly events: SimEvent[] = [];
  /** Start time of each job's first run (NaN until it starts). */
  readonly startedAt: Float64Array;
  private nowS = 0;
  private arrived = 0;
  private readonly waiting: number[] = [];
  private finished = 0;
  private readonly random: () => number;
  /** Queue counts after every change, oldest first, for lagging counts: [t, waiting, inFlight]. */
  private readonly countHistory: Array<readonly [number, number, number]> = [[0, 0, 0]];
  /** What every worker shares: the queue, the job log and the fleet's settings. */
  private readonly surroundings: WorkerSurroundings;
  private readonly primary: SimWorker;
  // The burst group: its own random stream, so the primary's faults are the same with or without it.
  private readonly burstRandom: () => number;
  private readonly burstWorkers: SimBurstWorker[] = [];
  private burstDesired = 0;
  private burstOnDemand = false;
  private burstLaunchFailure: { at: Date; message: string } | undefined;
  private burstNextLaunchS = Number.POSITIVE_INFINITY;
  private burstSerial = 0;
  // Which open poll gets a message: its own stream, so dispatch does not shift the faults.
  private readonly dispatchRandom: () => number;
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
    this.dispatchRandom = seededRandom(((options.seed ?? 1) ^ 0x27d4eb2f) >>> 0);
    this.surroundings = {
      concurrency: options.concurrency,
      stopDelayS: options.stopDelayS,
      record: (event) => this.events.push(event),
      takeJob: (now) => {
        const job = this.waiting.shift();
        if (job === undefined) return undefined;
        if (Number.isNaN(this.startedAt[job])) this.startedAt[job] = now;
        return { job, endS: now + (this.jobs[job]?.serviceS ?? 0) };
      },
      giveBack: (job) => this.waiting.unshift(job),
      jobFinished: () => {
        this.finished += 1;
      },
    };
    this.primary = new SimWorker(
      {
        id: SIM_GPU_ID,
        kind: 'primary',
        readyDelayS: options.readyDelayS,
        interruptionsPerHour: options.interruptionsPerHour ?? 0,
        restartAfterInterruptionS: options.interruptionDowntimeS ?? 600,
        random: this.random,
        tags: { [TAGS.fleet]: SIM_APP_NAME, [TAGS.role]: 'gpu' },
        neverReady: options.primaryNeverReady ?? false,
        tagLagS: options.tagLagS ?? 0,
      },
      this.surroundings,
    );
    this.burst = {
      describe: async () => this.describeBurst(),
      setDesired: async (desired) => this.setBurstDesired(desired),
      retire: async (instanceId, decrementDesired) => this.retireBurst(instanceId, decrementDesired),
      setOnDemand: async (onDemand) => {
        this.burstOnDemand = onDemand;
      },
      // As Auto Scaling: completing a hook that no longer waits changes nothing (the adapter's "done").
      completeDrain: async (instanceId) => {
        this.burstWorkers.find((w) => w.worker.id === instanceId)?.worker.completeDrainHook(this.nowS);
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
    return this.primary.state;
  }

  /** GPU seconds billed so far: from running until the instance is stopped. */
  get billedSeconds(): number {
    return this.primary.billedSeconds(this.nowS);
  }

  /** Burst worker seconds billed so far by market: from running until terminated. */
  get burstBilledSeconds(): { spot: number; onDemand: number } {
    const billed = { spot: 0, onDemand: 0 };
    for (const { worker, market } of this.burstWorkers)
      billed[market === 'spot' ? 'spot' : 'onDemand'] += worker.billedSeconds(this.nowS);
    return billed;
  }

  /** True when no burst worker is left running or going (the group is at rest). */
  get burstIdle(): boolean {
    return this.burstWorkers.every((w) => w.worker.state === 'stopped');
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

  /** Every worker that may hold jobs: the primary, then the burst workers oldest first. */
  private get workers(): SimWorker[] {
    return [this.primary, ...this.burstWorkers.map((w) => w.worker)];
  }

  private recordCounts(): void {
    const last = this.countHistory.at(-1);
    const now = [this.nowS, this.waiting.length, this.inFlight] as const;
    if (last && last[1] === now[1] && last[2] === now[2]) return;
    if (last && last[0] === now[0]) this.countHistory.pop();
    this.countHistory.push(now);
  }

  private get inFlight(): number {
    return this.workers.reduce((count, w) => count + w.running.length, 0);
  }

  private nextEventTime(): number {
    let next = Number.POSITIVE_INFINITY;
    if (this.arrived < this.jobs.length) next = Math.min(next, this.jobs[this.arrived]?.arrivalS ?? next);
    for (const w of this.workers) next = Math.min(next, w.nextEventTime(this.nowS));
    if (this.activeBurstWorkers < this.burstDesired) next = Math.min(next, this.burstNextLaunchS);
    return next;
  }

  private playEventsAt(t: number): void {
    while (this.arrived < this.jobs.length && (this.jobs[this.arrived]?.arrivalS ?? Infinity) <= t) {
      this.waiting.push(this.arrived);
      this.arrived += 1;
    }
    for (const w of this.workers) w.playEventsAt(t);
    if (this.activeBurstWorkers < this.burstDesired && this.burstNextLaunchS <= t) this.fillBurstGroup(t);
  }

  /**
   * As SQS does: a waiting message goes to any open poll, not to the primary first. Each job goes
   * to a worker drawn (seeded) from those ready with a slot free.
   */
  private startJobs(): void {
    for (;;) {
      if (this.waiting.length === 0) return;
      const polling = this.workers.filter((w) => w.isPolling(this.nowS));
      const chosen = polling[Math.floor(this.dispatchRandom() * polling.length)];
      if (!chosen || !chosen.startJob(this.nowS)) return;
    }
  }

  private get activeBurstWorkers(): number {
    return this.burstWorkers.filter((w) => w.worker.state === 'pending' || w.worker.state === 'running')
      .length;
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
      const brokenShare = this.options.burstNeverReadyShare ?? 0;
      const worker = new SimWorker(
        {
          id: `i-burst-${String(this.burstSerial).padStart(3, '0')}`,
          kind: 'burst',
          market,
          readyDelayS: this.options.burstReadyDelayS ?? DEFAULT_BURST_READY_DELAY_S,
          neverReady: brokenShare > 0 && this.burstRandom() < brokenShare,
          tagLagS: this.options.tagLagS ?? 0,
          // On-demand capacity is not taken back.
          interruptionsPerHour: market === 'spot' ? (this.options.interruptionsPerHour ?? 0) : 0,
          random: this.burstRandom,
          tags: { [TAGS.fleet]: SIM_APP_NAME, [TAGS.role]: 'burst' },
          // EC2 took a spot worker back: it terminates, and the group launches a replacement.
          onInterrupted: (at) => {
            this.burstNextLaunchS = Math.min(this.burstNextLaunchS, at);
          },
        },
        this.surroundings,
      );
      this.burstWorkers.push({
        worker,
        market,
        instanceType: this.options.burstInstanceTypes?.[0] ?? 'g4dn.xlarge',
        zone: this.burstSerial % 2 === 1 ? 'ap-northeast-1a' : 'ap-northeast-1c',
      });
      worker.launch(t);
    }
  }

  // --- BurstPort: what the Auto Scaling group would answer and do.
  private describeBurst(): BurstGroupState {
    const lifecycle = { pending: 'Pending', running: 'InService', stopping: 'Terminating' } as const;
    const stateOf = (worker: SimWorker): string =>
      worker.heldByDrainHook ? DRAIN_HOOK_WAIT : lifecycle[worker.state as keyof typeof lifecycle];
    return {
      desired: this.burstDesired,
      max: this.options.burstMaxWorkers ?? 0,
      onDemand: this.burstOnDemand,
      lastLaunchFailure: this.burstLaunchFailure,
      workers: this.burstWorkers
        .filter((w) => w.worker.state !== 'stopped')
        .map(({ worker, market, instanceType, zone }) => ({
          instanceId: worker.id,
          instanceType,
          market,
          availabilityZone: zone,
          lifecycleState: stateOf(worker),
          launchTime: simTime(worker.launchS ?? 0),
          tags: { ...worker.tags },
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
    const w = this.burstWorkers.find((x) => x.worker.id === instanceId)?.worker;
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
    w.retire(this.nowS, BURST_DRAIN_TIMEOUT_SECONDS);
    // Without the decrement, a group whose desired still counts the worker launches a replacement.
    if (this.activeBurstWorkers < this.burstDesired) this.fillBurstGroup(this.nowS);
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
    const gpu = this.primary;
    return [
      {
        instanceId: SIM_GPU_ID,
        role: 'gpu',
        instanceType: 'g4dn.xlarge',
        state: gpu.state,
        // EC2 keeps the last launch time on a stopped instance.
        launchTime: gpu.launchS === undefined ? undefined : simTime(gpu.launchS),
        stateReasonCode: gpu.stateReasonCode,
        lifecycle: 'spot',
        tags: { ...gpu.tags },
      },
    ];
  }

  async start(): Promise<void> {
    if (this.primary.state !== 'stopped') return;
    if (this.primary.stateReasonCode === SPOT_INTERRUPTION_REASON) {
      throw new FleetError('SpotInterrupted', 'UnsupportedOperation: interrupted spot instance', true);
    }
    if (this.random() < (this.options.capacityFailureRate ?? 0)) {
      this.events.push({ t: this.nowS, type: 'start-refused', worker: SIM_GPU_ID });
      throw new FleetError('InsufficientCapacity', 'InsufficientInstanceCapacity: no spot capacity', true);
    }
    // Accepted, and EC2 never carries it out: the instance stays stopped.
    const notTaken = this.options.startNotTakenRate ?? 0;
    if (notTaken > 0 && this.random() < notTaken) {
      this.events.push({ t: this.nowS, type: 'start-not-taken', worker: SIM_GPU_ID });
      return;
    }
    this.primary.launch(this.nowS);
  }

  async stop(): Promise<void> {
    if (this.primary.state !== 'running' && this.primary.state !== 'pending') return;
    this.primary.goDown(this.nowS);
    this.events.push({ t: this.nowS, type: 'stop', worker: SIM_GPU_ID });
  }

  async writeTags(_instanceId: string, tags: Readonly<Record<string, string>>): Promise<void> {
    this.primary.tags = { ...this.primary.tags, ...tags };
  }
}
