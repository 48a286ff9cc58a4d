import type { ScalerConfig } from '../../lib/config.js';
import { decide, recordStartFailure, recordStopFailure } from '../core/decide.js';
import type { Decision, Observation, ScalerMemory } from '../core/model.js';
import { TAGS, memoryFromTags, memoryTagChanges } from '../core/tags.js';
import { type FleetError, isFleetError } from '../aws/errors.js';
import type { FleetPort, QueuePort } from '../aws/ports.js';

/** Where the loop looks: the GPU instance and the job queue. */
export interface TickTarget {
  readonly gpuInstanceId: string;
  readonly queueUrl: string;
}

/** Everything one tick saw, decided and did: what the handler logs and the simulator records. */
export interface TickReport {
  readonly observation: Observation;
  readonly decision: Decision;
  /** What was done: the decided action, or 'failed' when EC2 refused it. */
  readonly outcome: 'started' | 'stopped' | 'none' | 'failed';
  /** The EC2 error of a refused start/stop. */
  readonly error?: FleetError;
  /** The memory as it was before and as it is now on the instance. */
  readonly previousMemory: ScalerMemory;
  readonly memory: ScalerMemory;
  /** The tags written to hold the new memory (empty when nothing changed). */
  readonly tagsWritten: Readonly<Record<string, string>>;
}

/**
 * One turn of the control loop: observe → decide → act → remember. Shared by the scaler Lambda
 * (with the AWS adapters) and the simulator (with its in-memory fleet), so neither has its own copy.
 * Errors of the observation propagate; a refused start or stop is folded into memory instead.
 */
export async function runTick(
  ports: { readonly fleet: FleetPort; readonly queue: QueuePort },
  target: TickTarget,
  config: ScalerConfig,
  now: Date,
): Promise<TickReport> {
  const [queue, described] = await Promise.all([
    ports.queue.counts(target.queueUrl),
    ports.fleet.describe([target.gpuInstanceId]),
  ]);
  const gpu = described[0];
  if (gpu === undefined) throw new Error(`DescribeInstances returned nothing for ${target.gpuInstanceId}`);
  const readyAt = gpu.tags[TAGS.readyAt] ? new Date(gpu.tags[TAGS.readyAt]) : undefined;
  const observation: Observation = {
    queue,
    gpu: {
      instanceId: gpu.instanceId,
      state: gpu.state,
      launchTime: gpu.launchTime,
      stateReasonCode: gpu.stateReasonCode,
      readyAt: readyAt && !Number.isNaN(readyAt.getTime()) ? readyAt : undefined,
    },
  };
  const previousMemory = memoryFromTags(gpu.tags);
  const decision = decide(observation, previousMemory, config, now);

  let memory = decision.memory;
  let outcome: TickReport['outcome'] = 'none';
  let error: FleetError | undefined;
  if (decision.action !== 'none') {
    try {
      if (decision.action === 'start') await ports.fleet.start([target.gpuInstanceId]);
      else await ports.fleet.stop([target.gpuInstanceId]);
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
  if (Object.keys(tagsWritten).length > 0) await ports.fleet.writeTags(target.gpuInstanceId, tagsWritten);
  return { observation, decision, outcome, error, previousMemory, memory, tagsWritten };
}
