import type { InstanceState, QueueCounts } from '../core/model.js';
import type { Role } from '../core/tags.js';

/**
 * The ports through which the control loop touches the world. The AWS adapters (ec2.ts, sqs.ts)
 * and the simulator's in-memory fleet implement the same interfaces, so `decide` and the code
 * around it cannot tell them apart.
 */

/** One instance of the fleet as DescribeInstances shows it. */
export interface InstanceInfo {
  readonly instanceId: string;
  /** From the role tag; undefined for an instance without one. */
  readonly role?: Role;
  readonly instanceType: string;
  readonly state: InstanceState;
  /** Time of the most recent start. */
  readonly launchTime?: Date;
  /** StateReason.Code, e.g. `Server.SpotInstanceShutdown`. */
  readonly stateReasonCode?: string;
  /** StateTransitionReason text, which carries the time of the last transition, e.g. "User initiated (2026-11-24 03:00:00 GMT)". */
  readonly stateTransitionReason?: string;
  readonly privateIp?: string;
  readonly publicIp?: string;
  /** Placement.AvailabilityZone, when EC2 reported it. */
  readonly availabilityZone?: string;
  readonly lifecycle: 'spot' | 'on-demand';
  readonly spotInstanceRequestId?: string;
  readonly tags: Readonly<Record<string, string>>;
  /**
   * Set for an instance found through its spot request rather than by its own tags: a persistent
   * request relaunched it (after a termination by hand) without the launch's tags. The value is
   * the request's id; `role` comes from the request's tags.
   */
  readonly relaunchedBy?: string;
}

/** Start, stop, describe and tag the fleet's instances. */
export interface FleetPort {
  describe(instanceIds: readonly string[]): Promise<InstanceInfo[]>;
  /** Resolves when EC2 accepted the request; rejects with a FleetError. */
  start(instanceIds: readonly string[]): Promise<void>;
  /** Resolves when EC2 accepted the request; rejects with a FleetError. */
  stop(instanceIds: readonly string[]): Promise<void>;
  /** Writes tags (an empty value means "not set"); rejects with a FleetError. */
  writeTags(instanceId: string, tags: Readonly<Record<string, string>>): Promise<void>;
  /** The status code of a spot request (e.g. price-too-low); undefined when it cannot be told. */
  spotRequestStatus?(spotInstanceRequestId: string): Promise<string | undefined>;
}

/** Live counts of a queue. */
export interface QueuePort {
  counts(queueUrl: string): Promise<QueueCounts>;
}

/** One burst worker as the Auto Scaling group and EC2 show it. */
export interface BurstWorkerInfo {
  readonly instanceId: string;
  readonly instanceType: string;
  readonly market: 'spot' | 'on-demand';
  readonly availabilityZone: string;
  /** The group's lifecycle state: Pending, InService, Terminating, Terminating:Wait, ... */
  readonly lifecycleState: string;
  readonly launchTime?: Date;
  /** The worker's own tags: gpu-fleet:ready-at and gpu-fleet:last-job-at as on the primary, and gpu-fleet:drained-at. */
  readonly tags: Readonly<Record<string, string>>;
}

/** The burst group: how many workers it should have, may have, and has. */
export interface BurstGroupState {
  readonly desired: number;
  readonly max: number;
  /** True while new workers come from on-demand (the fallback), false for spot. */
  readonly onDemand: boolean;
  readonly workers: readonly BurstWorkerInfo[];
  /** The latest failed launch of the group (its scaling activity), e.g. no spot capacity. */
  readonly lastLaunchFailure?: { readonly at: Date; readonly message: string };
}

/**
 * The burst workers' Auto Scaling group: implemented over the Auto Scaling API and by the
 * simulator's fleet model. Scale-in is always targeted: the group never picks a worker itself.
 */
export interface BurstPort {
  describe(): Promise<BurstGroupState>;
  /** Raises (or lowers, never below the workers in service) the group's desired capacity. */
  setDesired(desired: number): Promise<void>;
  /**
   * Terminates this idle worker; with decrementDesired the desired capacity drops by one (so no
   * replacement launches). Auto Scaling refuses the decrement at the group's minimum size (0),
   * which a desired capacity set below the protected workers reaches: then retire without it.
   */
  retire(instanceId: string, decrementDesired: boolean): Promise<void>;
  /** Switches the market of the workers launched from now on. */
  setOnDemand(onDemand: boolean): Promise<void>;
  /**
   * Completes the drain hook of this terminating worker (CONTINUE), so it goes now. A hook that
   * is no longer waiting (completed on an earlier tick, or timed out) counts as done.
   */
  completeDrain(instanceId: string): Promise<void>;
}
