import { waitUntilInstanceRunning, waitUntilInstanceStopped } from '@aws-sdk/client-ec2';
import { type FleetError, toFleetError } from '../aws/errors.js';
import type { InstanceInfo } from '../aws/ports.js';
import { type OperatorResult, retireAllBurstWorkers, runOperatorCommand } from '../control/operator.js';
import { activeOperatorTime } from '../core/decide.js';
import { changedTags, pauseUntil, startTags } from '../core/operator.js';
import { type Role, TAGS, isoSeconds, parseTagDate } from '../core/tags.js';
import { formatDuration } from './duration.js';
import { explain } from './explain.js';
import { CliFailure, type CliIO, UsageError } from './io.js';
import type { Session } from './session.js';

export interface CommandContext {
  readonly io: CliIO;
  readonly session: Session;
  readonly clock: () => Date;
}

export interface StartOptions {
  /** Hold length in ms, already parsed, so bad input fails before any AWS call. */
  readonly holdMs?: number;
  readonly wait: boolean;
  readonly timeoutSeconds: number;
  /** The burst group's desired capacity to set (0..burst.maxWorkers), already parsed. */
  readonly workers?: number;
}

export interface StopOptions {
  /** When the pause of automatic GPU starts ends; default: the app host's next scheduled start. */
  readonly until?: Date;
  readonly wait: boolean;
  readonly timeoutSeconds: number;
}

/**
 * start-all, start-app, start-gpu: the operator rules of src/core/operator.ts, shared with the
 * scaler Lambda. Acts on every target it can and reports each; exits 1 if any could not start.
 */
export async function startCommand(
  ctx: CommandContext,
  roles: readonly Role[],
  options: StartOptions,
): Promise<void> {
  const { io, session, clock } = ctx;
  // Checked before any AWS call: a bad number is a usage error (exit 2), not a half-done start.
  if (options.workers !== undefined) checkWorkers(options.workers, session.config.burst.maxWorkers);
  const instances = await session.instances();
  const holdUntil = options.holdMs === undefined ? undefined : new Date(clock().getTime() + options.holdMs);
  const result = await runOperatorCommand(session.fleet, instances, {
    action: 'start',
    roles,
    until: holdUntil,
    burstWorkers: options.workers,
  });
  const failures = report(io, result);
  if (roles.includes('gpu') && result.tagError === undefined) {
    if (result.tagsWritten[TAGS.pausedUntil] === '')
      io.out('Automatic GPU starts resumed (the operator pause ended).');
    if (holdUntil !== undefined && options.holdMs !== undefined) {
      io.out(
        `Hold set until ${isoSeconds(holdUntil)} (${formatDuration(options.holdMs)}): the scaler keeps the GPU running until then${failures.length > 0 ? ', and starts it once EC2 lets it' : ''}.`,
      );
    } else if (failures.length === 0) {
      io.out(
        `The scaler stops the GPU after ${session.config.scaler.idleMinutes} idle minutes; add --hold 2h to keep it up longer.`,
      );
    }
  }
  if (options.workers !== undefined && session.burst) {
    try {
      await session.burst.setDesired(options.workers);
      const held = holdUntil !== undefined && options.workers > 0 && result.tagError === undefined;
      io.out(
        held
          ? `Burst workers: desired capacity set to ${options.workers}; the scaler keeps ${options.workers} until ${isoSeconds(holdUntil)}, then retires idle ones after ${session.config.burst.idleMinutes} minutes without a job.`
          : `Burst workers: desired capacity set to ${options.workers}; the scaler sizes the group to the queue from its next tick and retires idle ones after ${session.config.burst.idleMinutes} minutes without a job; add --hold 1h to keep them.`,
      );
    } catch (error) {
      const refused = toFleetError(error);
      // Auto Scaling's own words for a refusal the CLI has none for (a deployed maximum below the config's, say).
      failures.push(`burst group: ${explain(refused)?.message ?? refused.message}`);
    }
  }
  await finish(ctx, result, failures, 'running', options);
}

function checkWorkers(workers: number, maxWorkers: number): void {
  if (maxWorkers === 0)
    throw new UsageError(
      '--workers needs burst workers, and none are deployed (gpuFleet.burst.maxWorkers is 0)',
    );
  if (workers > maxWorkers)
    throw new UsageError(
      `--workers must be between 0 and ${maxWorkers} (gpuFleet.burst.maxWorkers), got ${workers}`,
    );
}

/** Stops every burst worker (src/control/operator.ts) and reports each; a refusal is a failure line. */
async function retireBurstWorkers(ctx: CommandContext, failures: string[]): Promise<void> {
  const { io, session } = ctx;
  if (!session.burst) return;
  const result = await retireAllBurstWorkers(session.burst);
  for (const instanceId of result.retired) io.out(`burst ${instanceId}: retiring (drains its job first)`);
  // Every refusal is reported, even one the CLI has no words of its own for: the other workers went.
  for (const { target, error } of result.failures)
    failures.push(`${target}: ${explain(error)?.message ?? error.message}`);
  if (result.retired.length === 0 && result.failures.length === 0) io.out('No burst workers were running.');
}

/**
 * stop-all, stop-app, stop-gpu: stopping the GPU also ends its hold and pauses automatic starts
 * until the time given or the app host's next scheduled start, or the scaler would start it again.
 */
export async function stopCommand(
  ctx: CommandContext,
  roles: readonly Role[],
  options: StopOptions,
): Promise<void> {
  const { io, session, clock } = ctx;
  const instances = await session.instances();
  const until = roles.includes('gpu')
    ? pauseUntil(clock(), session.config.schedule, options.until)
    : undefined;
  const result = await runOperatorCommand(session.fleet, instances, { action: 'stop', roles, until });
  const failures = report(io, result);
  if (roles.includes('gpu')) await retireBurstWorkers(ctx, failures);
  if (until !== undefined && result.tagError === undefined) {
    if (result.tagsWritten[TAGS.holdUntil] === '') io.out('GPU hold released.');
    io.out(
      `Automatic GPU starts paused until ${isoSeconds(until)}${options.until ? '' : ' (the next scheduled start of the app host)'}; start-gpu or hold resumes them.`,
    );
  }
  await finish(ctx, result, failures, 'stopped', options);
}

/** hold <duration> and hold --release. */
export async function holdCommand(ctx: CommandContext, holdMs: number | 'release'): Promise<void> {
  const { io, session, clock } = ctx;
  const { gpu } = await session.instances();
  const now = clock();
  const active = activeOperatorTime(parseTagDate(gpu.tags[TAGS.holdUntil]), now) !== undefined;
  if (holdMs === 'release') {
    // The burst workers a hold kept go with it, an expired one's too: a later hold must not bring
    // back its number.
    const cleared = changedTags(gpu.tags, {
      ...(active && { [TAGS.holdUntil]: '' }),
      [TAGS.burstHoldWorkers]: '',
    });
    if (Object.keys(cleared).length > 0) await session.fleet.writeTags(gpu.instanceId, cleared);
    if (!active) {
      io.out(
        Object.keys(cleared).length > 0
          ? 'No hold was set; the burst workers an expired hold had kept are forgotten.'
          : 'No hold was set; nothing changed.',
      );
      return;
    }
    io.out(
      `GPU hold released; the scaler stops the GPU after ${session.config.scaler.idleMinutes} idle minutes without work.`,
    );
    return;
  }
  const until = new Date(now.getTime() + holdMs);
  // A hold is an operator's start: it ends a pause, as start-gpu does. Extending an active hold
  // keeps the burst workers it holds; a new hold (the last one expired) holds none.
  const tags = changedTags(gpu.tags, startTags(until, active ? undefined : null));
  await session.fleet.writeTags(gpu.instanceId, tags);
  if (tags[TAGS.pausedUntil] === '') io.out('Automatic GPU starts resumed (the operator pause ended).');
  io.out(
    `Hold set until ${isoSeconds(until)} (${formatDuration(holdMs)}): the scaler keeps the GPU running until then.`,
  );
  if (gpu.state === 'stopped')
    io.out('The GPU is stopped; the scaler starts it within a minute for the hold.');
}

/** Prints each target's outcome; returns the lines that describe failures. */
function report(io: CliIO, result: OperatorResult): string[] {
  // Every success first, so an unexpected error (thrown below) never hides what did happen.
  for (const outcome of result.outcomes) if (outcome.ok) io.out(outcome.note);
  const failures = result.outcomes
    .filter((outcome) => !outcome.ok)
    .map((o) => (o.error ? `${o.role} ${o.instanceId}: ${describe(o.error)}` : o.note));
  if (result.tagError) failures.push(`GPU hold/pause not written: ${describe(result.tagError)}`);
  if (result.scheduledActionError)
    failures.push(
      `The app host's failed scheduled action was not cleared (the scaler may still retry it): ${describe(result.scheduledActionError)}`,
    );
  return failures;
}

function describe(error: FleetError): string {
  const known = explain(error);
  if (known === undefined) throw error;
  return known.message;
}

async function finish(
  ctx: CommandContext,
  result: OperatorResult,
  failures: readonly string[],
  target: 'running' | 'stopped',
  options: { readonly wait: boolean; readonly timeoutSeconds: number },
): Promise<void> {
  const instances = await ctx.session.instances();
  const acted = result.outcomes
    .filter((o) => o.kind === 'act' && o.ok)
    .map((o) => instances[o.role])
    .filter((i): i is InstanceInfo => i !== undefined);
  if (options.wait && acted.length > 0) await waitFor(ctx, acted, target, options.timeoutSeconds);
  if (failures.length > 0) throw new CliFailure(failures.join('\n'));
}

async function waitFor(
  ctx: CommandContext,
  instances: readonly InstanceInfo[],
  target: 'running' | 'stopped',
  timeoutSeconds: number,
): Promise<void> {
  const { io, session, clock } = ctx;
  const ids = instances.map((i) => i.instanceId);
  const started = clock().getTime();
  io.out(`Waiting up to ${timeoutSeconds}s for ${ids.join(', ')} to be ${target}…`);
  const progress =
    io.isTTY && io.color
      ? setInterval(() => io.err(`\r  ${Math.round((clock().getTime() - started) / 1000)}s`), 1000)
      : undefined;
  try {
    const waiter = target === 'running' ? waitUntilInstanceRunning : waitUntilInstanceStopped;
    await waiter(
      { client: session.ec2, maxWaitTime: timeoutSeconds, minDelay: 5, maxDelay: 15 },
      { InstanceIds: ids },
    );
  } catch (error) {
    const reason = (error as { name?: string }).name === 'TimeoutError' || /timed? ?out/i.test(String(error));
    throw new CliFailure(
      reason
        ? `${ids.join(', ')} did not reach ${target} within ${timeoutSeconds}s; check with gpu-manage status.`
        : `${ids.join(', ')} did not reach ${target}: ${(error as Error).message.split('\n')[0]}`,
    );
  } finally {
    if (progress) {
      clearInterval(progress);
      io.err('\n');
    }
  }
  io.out(
    `${ids.join(', ')} ${ids.length > 1 ? 'are' : 'is'} ${target} (after ${Math.round((clock().getTime() - started) / 1000)}s).`,
  );
}
