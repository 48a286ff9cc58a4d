import type { ScalerConfig } from '../../lib/config.js';
import { decide, recordStartFailure, recordStopFailure } from '../core/decide.js';
import type { Decision, Observation, ScalerMemory } from '../core/model.js';
import { type Role, TAGS, memoryFromTags, memoryTagChanges, parseTagDate } from '../core/tags.js';
import { type FleetError, isFleetError } from '../aws/errors.js';
import type { FleetPort, InstanceInfo, QueuePort } from '../aws/ports.js';

/** Finds the fleet's instances by their fleet tag (never by ids handed over from a stack). */
export interface FleetDiscovery {
  discover(appName: string): Promise<InstanceInfo[]>;
}

/** Where the loop looks: the fleet (by its tag) and the job queue. */
export interface TickTarget {
  readonly appName: string;
  readonly queueUrl: string;
}

/** Zero or several instances where exactly one must be: a deployment fault, never a silent pick. */
export class FleetLayoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FleetLayoutError';
  }
}

/** Everything one tick saw, decided and did: what the handler logs and the simulator records. */
export interface TickReport {
  readonly observation: Observation;
  readonly decision: Decision;
  /** What was done: the decided action, or 'failed' when EC2 refused it. */
  readonly outcome: 'started' | 'stopped' | 'none' | 'failed';
  /** The EC2 error of a refused start/stop. */
  readonly error?: FleetError;
  /** The memory as it was before and as it should be now. */
  readonly previousMemory: ScalerMemory;
  readonly memory: ScalerMemory;
  /** The tags written (or attempted) to hold the new memory (empty when nothing changed). */
  readonly tagsWritten: Readonly<Record<string, string>>;
  /** Set when the memory could not be written; the action above stands (EC2 shows it next tick). */
  readonly tagError?: FleetError;
}

/**
 * The one instance of `role` in the fleet. Zero or several is an error that names what was found,
 * so a copy left by a failed replacement or a missing tag is reported, never guessed around.
 */
export function instanceOfRole(
  instances: readonly InstanceInfo[],
  role: Role,
  appName: string,
): InstanceInfo {
  const found = instances.filter((i) => i.role === role);
  if (found.length === 1 && found[0]) return found[0];
  throw new FleetLayoutError(
    found.length === 0
      ? `no ${role} instance tagged ${TAGS.fleet}=${appName} and ${TAGS.role}=${role} (terminated ones do not count)`
      : `${found.length} ${role} instances tagged ${TAGS.fleet}=${appName}: ${found.map((i) => `${i.instanceId} (${i.state})`).join(', ')}; exactly one is expected`,
  );
}

/** What the scaler observes of the GPU instance, from its EC2 description and the worker's tags. */
export function observeGpu(gpu: InstanceInfo): Observation['gpu'] {
  return {
    instanceId: gpu.instanceId,
    state: gpu.state,
    launchTime: gpu.launchTime,
    stateReasonCode: gpu.stateReasonCode,
    readyAt: parseTagDate(gpu.tags[TAGS.readyAt]),
    lastJobAt: parseTagDate(gpu.tags[TAGS.lastJobAt]),
    // The ready tag of any launch: present once this instance has completed its first boot.
    everReadyAt: parseTagDate(gpu.tags[TAGS.readyAt]),
  };
}

/**
 * Why a start did not take is in the spot request (price-too-low, capacity-not-available): read
 * only for a stopped GPU after a start, and never at the price of the tick (a failure reads as unknown).
 */
async function spotRequestAfterStart(
  fleet: FleetPort,
  gpu: InstanceInfo,
  memory: ScalerMemory,
): Promise<string | undefined> {
  if (gpu.state !== 'stopped' || !gpu.spotInstanceRequestId || memory.lastAction !== 'start')
    return undefined;
  if (!fleet.spotRequestStatus) return undefined;
  try {
    return await fleet.spotRequestStatus(gpu.spotInstanceRequestId);
  } catch {
    return undefined;
  }
}

/**
 * One turn of the control loop: observe → decide → act → remember. Shared by the scaler Lambda
 * (with the AWS adapters) and the simulator (with its in-memory fleet), so neither has its own copy.
 * Errors of the observation propagate. A refused start or stop is folded into memory; a failed
 * tag write is reported beside the action, which stands: the next tick sees it in EC2's state.
 */
export async function runTick(
  ports: { readonly fleet: FleetPort & FleetDiscovery; readonly queue: QueuePort },
  target: TickTarget,
  config: ScalerConfig,
  now: Date,
): Promise<TickReport> {
  const [queue, instances] = await Promise.all([
    ports.queue.counts(target.queueUrl),
    ports.fleet.discover(target.appName),
  ]);
  const gpu = instanceOfRole(instances, 'gpu', target.appName);
  const previousMemory = memoryFromTags(gpu.tags);
  const observation: Observation = {
    queue,
    gpu: {
      ...observeGpu(gpu),
      spotRequestStatus: await spotRequestAfterStart(ports.fleet, gpu, previousMemory),
    },
  };
  const decision = decide(observation, previousMemory, config, now);

  let memory = decision.memory;
  let outcome: TickReport['outcome'] = 'none';
  let error: FleetError | undefined;
  if (decision.action !== 'none') {
    try {
      if (decision.action === 'start') await ports.fleet.start([gpu.instanceId]);
      else await ports.fleet.stop([gpu.instanceId]);
      outcome = decision.action === 'start' ? 'started' : 'stopped';
    } catch (caught) {
      if (!isFleetError(caught)) throw caught;
      error = caught;
      outcome = 'failed';
      memory =
        decision.action === 'start'
          ? recordStartFailure(memory, caught.code, now)
          : recordStopFailure(memory, caught.code, now);
    }
  }

  const tagsWritten = memoryTagChanges(previousMemory, memory);
  let tagError: FleetError | undefined;
  if (Object.keys(tagsWritten).length > 0) {
    try {
      await ports.fleet.writeTags(gpu.instanceId, tagsWritten);
    } catch (caught) {
      if (!isFleetError(caught)) throw caught;
      tagError = caught;
    }
  }
  return { observation, decision, outcome, error, previousMemory, memory, tagsWritten, tagError };
}
