/**
 * The vocabulary of the control loop: what the scaler observes, what it remembers between ticks,
 * and what it decides. Shared by the scaler Lambda, `gpu-manage` and the simulator.
 */

/** EC2 instance states, as DescribeInstances reports them. */
export type InstanceState = 'pending' | 'running' | 'stopping' | 'stopped' | 'shutting-down' | 'terminated';

/** Live counts from the job queue's GetQueueAttributes (never CloudWatch metrics, which lag). */
export interface QueueCounts {
  /** ApproximateNumberOfMessages: jobs waiting to be received. */
  readonly waiting: number;
  /** ApproximateNumberOfMessagesNotVisible: jobs a worker has received and not yet deleted. */
  readonly inFlight: number;
  /** ApproximateNumberOfMessagesDelayed: jobs not yet visible because of a delivery delay. */
  readonly delayed: number;
}

/** What the scaler sees of the GPU worker instance. */
export interface GpuObservation {
  readonly instanceId: string;
  readonly state: InstanceState;
  /** EC2 LaunchTime: the time of the most recent start, not of the first launch. */
  readonly launchTime?: Date;
  /** EC2 StateReason code, e.g. `Server.SpotInstanceShutdown` after a spot interruption. */
  readonly stateReasonCode?: string;
  /** When the queue worker reported OpenVoice healthy (its ready tag); stale if before launchTime. */
  readonly readyAt?: Date;
  /**
   * When the queue worker last started, ran or finished a job (its last-job tag, refreshed while a
   * job runs, written at most every 30 s with a trailing write of the latest job end); stale if
   * before launchTime.
   */
  readonly lastJobAt?: Date;
  /**
   * The worker's ready tag whatever launch wrote it: absent only on an instance that has never
   * become ready, whose first boot (packages, image pulls of several GB, the model download) gets
   * firstBootTimeoutMinutes instead of bootTimeoutMinutes.
   */
  readonly everReadyAt?: Date;
  /**
   * Status code of the GPU's spot request, read only when it stayed stopped after a start:
   * `price-too-low` (the spot price is above the cap), `capacity-not-available`, ...
   */
  readonly spotRequestStatus?: string;
}

export interface Observation {
  readonly queue: QueueCounts;
  readonly gpu: GpuObservation;
}

/** Why the GPU could not serve: the errors an AWS call can end with, and a worker that never got ready, named so the decision and the CLI can speak about them. */
export type Ec2ErrorCode =
  | 'InsufficientCapacity'
  | 'IncorrectSpotRequestState'
  | 'IncorrectInstanceState'
  | 'SpotInterrupted'
  | 'Throttled'
  | 'AccessDenied'
  | 'NotFound'
  | 'NoCredentials'
  | 'ExpiredCredentials'
  | 'WorkerNeverReady'
  /** A ready worker took no job for NO_PROGRESS_MINUTES while jobs waited (OpenVoice died, a job hangs). */
  | 'WorkerStalled'
  /** EC2 accepted StartInstances but the instance is still stopped on the next tick. */
  | 'StartNotTaken'
  /** The instance has been pending or stopping far longer than EC2 normally takes. */
  | 'StuckInTransition'
  /** The spot price is above spotMaxPriceUsd: the GPU's spot request says price-too-low. */
  | 'SpotPriceTooLow'
  | 'Unknown'
  | 'InvalidCredentials'
  | 'ServerError'
  | 'Unreachable'
  | 'BadResponse';

/**
 * What the scaler remembers between ticks. Stored as tags on the GPU instance (see tags.ts) so
 * that `gpu-manage status` can show it. The operator's commands (CLI or the Lambda's manual
 * events) write `holdUntil`, `pausedUntil` and `burstHoldWorkers`; the scaler only reads them, and
 * writes the rest.
 * Idleness is not remembered: it is observed (the worker's ready and last-job tags).
 */
export interface ScalerMemory extends BurstMemory {
  /** Since when jobs have been waiting continuously (first tick that saw waiting > 0). */
  readonly pendingSince?: Date;
  /** A manual hold: the scaler does not stop the GPU before this time, and starts it if stopped. */
  readonly holdUntil?: Date;
  /** An operator's stop: the scaler starts nothing before this time and stops a GPU it finds running. */
  readonly pausedUntil?: Date;
  /** With a hold: the burst workers the operator asked for, kept (not retired idle) until holdUntil. */
  readonly burstHoldWorkers?: number;
  /** First tick that saw the GPU pending, stopping or shutting-down (cleared in any other state). */
  readonly transitionSince?: Date;
  /** The last action the scaler took, when, and why (the reason verbatim). */
  readonly lastAction?: 'start' | 'stop';
  readonly lastActionAt?: Date;
  readonly lastReason?: string;
  /** The last EC2 error, since when errors have persisted, and the start back-off. */
  readonly lastError?: Ec2ErrorCode;
  readonly errorSince?: Date;
  readonly failedStarts?: number;
  readonly retryAt?: Date;
}

/**
 * What the burst decision remembers between ticks, kept with the rest of the scaler's
 * memory in the primary's tags so `gpu-manage status` reads it from the same place.
 */
export interface BurstMemory {
  /** First launch failure of the burst group's current streak seen while work waits (spot not to be had). */
  readonly burstSpotFailingSince?: Date;
  /** Since when the burst group launches on-demand (the fallback); spot is tried again after a while. */
  readonly burstOnDemandSince?: Date;
  /** The reason of the last burst action (scale-out, retire, market switch), verbatim. */
  readonly burstLastReason?: string;
  /**
   * A burst worker never became ready (a broken image, template or mount): no scale-out before
   * this time, so a broken launch costs at most maxWorkers boot timeouts per pause.
   */
  readonly burstBootPausedUntil?: Date;
}

/** Numbers the handler emits as metrics, from which the alarms are built. */
export interface DecisionSignals {
  /** Minutes the GPU has been unable to start while work waits (0 when not blocked). */
  readonly startBlockedMinutes: number;
  /** Minutes since the GPU's last start while it is running (0 when not running). */
  readonly runningMinutes: number;
  /** True on the tick that stops a worker which never became ready within the boot timeout. */
  readonly bootTimedOut: boolean;
  /** True on a tick that finds a ready worker taking no job while jobs wait (a fault: stop, then restart). */
  readonly workerStalled: boolean;
  /** True on the tick that stops a GPU past maxRunHours without a hold (the hard limit). */
  readonly maxRunExceeded: boolean;
}

export type ScalingAction = 'start' | 'stop' | 'none';

/** A decision is data: the action, the new memory, and the reason in words. */
export interface Decision {
  readonly action: ScalingAction;
  readonly reason: string;
  readonly memory: ScalerMemory;
  readonly signals: DecisionSignals;
}
