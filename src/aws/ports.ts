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
  readonly lifecycle: 'spot' | 'on-demand';
  readonly spotInstanceRequestId?: string;
  readonly tags: Readonly<Record<string, string>>;
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
}

/** Live counts of a queue. */
export interface QueuePort {
  counts(queueUrl: string): Promise<QueueCounts>;
}
