import { type FleetError, isFleetError } from '../aws/errors.js';
import type { BurstPort, FleetPort, InstanceInfo } from '../aws/ports.js';
import {
  type OperatorAction,
  type TargetPlan,
  changedTags,
  endScheduledRetries,
  planTarget,
  startTags,
  stopTags,
} from '../core/operator.js';
import type { Role } from '../core/tags.js';
import { attemptRecordingRefusals, resizeAndRetire } from './burst-actions.js';

/** How one target of an operator command ended. */
export interface TargetOutcome extends TargetPlan {
  /** True when the target is where the operator wanted it, or the scaler takes it there. */
  readonly ok: boolean;
  readonly error?: FleetError;
}

export interface OperatorRequest {
  readonly action: OperatorAction;
  readonly roles: readonly Role[];
  /** For a start: hold the GPU until then. For a stop: pause automatic starts until then. */
  readonly until?: Date;
  /** For a start with a hold: keep this many burst workers until then too. */
  readonly burstWorkers?: number;
}

export interface OperatorResult {
  readonly outcomes: readonly TargetOutcome[];
  /** The operator tags written on the GPU (hold and pause), empty when the GPU was not a target. */
  readonly tagsWritten: Readonly<Record<string, string>>;
  /** Set when those tags could not be written; the instance actions were still carried out. */
  readonly tagError?: FleetError;
  /**
   * Set when the app host's pending scheduled action could not be cleared: the scaler may still
   * retry it. The instance actions were still carried out.
   */
  readonly scheduledActionError?: FleetError;
  readonly ok: boolean;
}

/**
 * Carries out an operator's start or stop on each target it can, one EC2 call per target so one
 * refusal does not block the others, and reports each outcome. The GPU's operator tags are
 * written first: a stop's pause keeps the scaler from starting it again in between, and a hold
 * written before a start refused for capacity makes the scaler retry it. Shared by `gpu-manage`
 * and the scaler Lambda's manual events, so both mean the same thing.
 */
export async function runOperatorCommand(
  fleet: FleetPort,
  instances: Readonly<Partial<Record<Role, InstanceInfo>>>,
  request: OperatorRequest,
): Promise<OperatorResult> {
  const target = (role: Role): InstanceInfo => {
    const instance = instances[role];
    if (instance === undefined) throw new Error(`no ${role} instance was given for the ${request.action}`);
    return instance;
  };
  const plans = request.roles.map((role) => planTarget(request.action, { ...target(role), role }));
  let tagsWritten: Record<string, string> = {};
  let tagError: FleetError | undefined;
  if (request.roles.includes('gpu')) {
    const gpu = target('gpu');
    let wanted: Record<string, string>;
    if (request.action === 'start') wanted = startTags(request.until, request.burstWorkers ?? null);
    else if (request.until !== undefined) wanted = stopTags(request.until);
    else throw new Error('an operator stop of the GPU needs the time its pause ends');
    tagsWritten = changedTags(gpu.tags, wanted);
    try {
      if (Object.keys(tagsWritten).length > 0) await fleet.writeTags(gpu.instanceId, tagsWritten);
    } catch (error) {
      if (!isFleetError(error)) throw error;
      tagError = error;
    }
  }
  let scheduledActionError: FleetError | undefined;
  if (request.roles.includes('app')) {
    // Before the action, as the GPU's tags: a tick in between must not retry what the operator overrides.
    const app = target('app');
    const cleared = endScheduledRetries(app.tags);
    try {
      if (Object.keys(cleared).length > 0) await fleet.writeTags(app.instanceId, cleared);
    } catch (error) {
      if (!isFleetError(error)) throw error;
      scheduledActionError = error;
    }
  }
  const outcomes: TargetOutcome[] = [];
  for (const plan of plans) {
    if (plan.kind !== 'act') {
      outcomes.push({ ...plan, ok: plan.kind !== 'refused' });
      continue;
    }
    try {
      await (request.action === 'start' ? fleet.start([plan.instanceId]) : fleet.stop([plan.instanceId]));
      outcomes.push({ ...plan, ok: true });
    } catch (error) {
      if (!isFleetError(error)) throw error;
      outcomes.push({ ...plan, ok: false, error });
    }
  }
  return {
    outcomes,
    tagsWritten,
    tagError,
    scheduledActionError,
    ok: tagError === undefined && scheduledActionError === undefined && outcomes.every((o) => o.ok),
  };
}

/** How an operator's stop of the burst workers ended. */
export interface BurstStopResult {
  /** The workers asked to terminate (each drains its job through the group's hook first). */
  readonly retired: readonly string[];
  /** What Auto Scaling refused: the group (describe, desired 0) or one worker. */
  readonly failures: ReadonlyArray<{ readonly target: string; readonly error: FleetError }>;
}

/**
 * Stops every burst worker: the group's desired capacity goes to 0 first, so nothing replaces the
 * workers, then each live one is terminated by id without a further decrement (Auto Scaling
 * refuses one at its minimum of 0). Lowering desired alone would retire none: every worker is
 * protected from the group's own scale-in. One refusal does not keep the others from going.
 * Shared by `gpu-manage stop-gpu|stop-all` and the scaler Lambda's manual stop.
 */
export async function retireAllBurstWorkers(burst: BurstPort): Promise<BurstStopResult> {
  const failures: Array<{ target: string; error: FleetError }> = [];
  const attempt = attemptRecordingRefusals((target, error) => failures.push({ target, error }));
  // A group that cannot be read leaves these as they are: nothing to resize, no worker to retire.
  let live: string[] = [];
  let desired = 0;
  await attempt('burst group', async () => {
    const state = await burst.describe();
    desired = state.desired;
    live = state.workers.filter((w) => !w.lifecycleState.startsWith('Terminat')).map((w) => w.instanceId);
  });
  const retired = await resizeAndRetire(
    burst,
    { desired, activeWorkers: live.length },
    { desired: 0, retire: live },
    attempt,
    { desired: () => 'burst group', retire: (instanceId) => `burst ${instanceId}` },
  );
  return { retired, failures };
}
