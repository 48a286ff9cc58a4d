import { waitUntilInstanceRunning, waitUntilInstanceStopped } from '@aws-sdk/client-ec2';
import type { InstanceInfo } from '../aws/ports.js';
import { SPOT_INTERRUPTION_REASON } from '../core/decide.js';
import { type Role, TAGS, isoSeconds } from '../core/tags.js';
import { formatDuration } from './duration.js';
import { CliFailure, type CliIO } from './io.js';
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
}

/** start-all, start-app, start-gpu: idempotent, honest about what it did. */
export async function startCommand(
  ctx: CommandContext,
  roles: readonly Role[],
  options: StartOptions,
): Promise<void> {
  const { io, session } = ctx;
  const instances = await session.instances();
  const toStart: InstanceInfo[] = [];
  for (const role of roles) {
    const instance = instances[role];
    const name = `${role} ${instance.instanceId}`;
    if (instance.state === 'running' || instance.state === 'pending') {
      io.out(`${name} is already ${instance.state}.`);
    } else if (instance.state === 'stopping' || instance.state === 'shutting-down') {
      throw new CliFailure(
        `${name} is ${instance.state}; start it once it has stopped (try again in a minute).`,
      );
    } else if (role === 'gpu' && instance.stateReasonCode === SPOT_INTERRUPTION_REASON) {
      throw new CliFailure(
        `${name} was stopped by a spot interruption; only EC2 can start it again, which it does when capacity returns.`,
      );
    } else {
      toStart.push(instance);
    }
  }
  if (toStart.length > 0) {
    await session.fleet.start(toStart.map((i) => i.instanceId));
    for (const instance of toStart)
      io.out(`Starting ${instance.role} ${instance.instanceId} (was ${instance.state}).`);
  }
  if (roles.includes('gpu')) {
    if (options.holdMs !== undefined) {
      await setHold(ctx, instances.gpu, options.holdMs);
    } else {
      io.out(
        `The scaler stops the GPU after ${session.config.scaler.idleMinutes} idle minutes; add --hold 2h to keep it up longer.`,
      );
    }
  }
  if (options.wait && toStart.length > 0) await waitFor(ctx, toStart, 'running', options.timeoutSeconds);
}

/** stop-all, stop-gpu: also ends a GPU hold, or the scaler would start the GPU again. */
export async function stopCommand(
  ctx: CommandContext,
  roles: readonly Role[],
  options: Omit<StartOptions, 'holdMs'>,
): Promise<void> {
  const { io, session } = ctx;
  const instances = await session.instances();
  const toStop: InstanceInfo[] = [];
  for (const role of roles) {
    const instance = instances[role];
    const name = `${role} ${instance.instanceId}`;
    if (instance.state === 'stopped' || instance.state === 'stopping') {
      io.out(`${name} is already ${instance.state}.`);
    } else if (instance.state === 'pending') {
      throw new CliFailure(
        `${name} is still starting (pending); stop it once it runs (try again in a minute).`,
      );
    } else {
      toStop.push(instance);
    }
  }
  if (roles.includes('gpu') && instances.gpu.tags[TAGS.holdUntil]) {
    await session.fleet.writeTags(instances.gpu.instanceId, { [TAGS.holdUntil]: '' });
    io.out('GPU hold released.');
  }
  if (toStop.length > 0) {
    await session.fleet.stop(toStop.map((i) => i.instanceId));
    for (const instance of toStop)
      io.out(`Stopping ${instance.role} ${instance.instanceId} (was ${instance.state}).`);
  }
  if (options.wait && toStop.length > 0) await waitFor(ctx, toStop, 'stopped', options.timeoutSeconds);
}

/** hold <duration> and hold --release. */
export async function holdCommand(ctx: CommandContext, holdMs: number | 'release'): Promise<void> {
  const { gpu } = await ctx.session.instances();
  if (holdMs === 'release') {
    await ctx.session.fleet.writeTags(gpu.instanceId, { [TAGS.holdUntil]: '' });
    ctx.io.out(
      `GPU hold released; the scaler stops the GPU after ${ctx.session.config.scaler.idleMinutes} idle minutes.`,
    );
    return;
  }
  await setHold(ctx, gpu, holdMs);
  if (gpu.state === 'stopped')
    ctx.io.out('The GPU is stopped; the scaler starts it within a minute for the hold.');
}

async function setHold(ctx: CommandContext, gpu: InstanceInfo, holdMs: number): Promise<void> {
  const until = new Date(ctx.clock().getTime() + holdMs);
  await ctx.session.fleet.writeTags(gpu.instanceId, { [TAGS.holdUntil]: isoSeconds(until) });
  ctx.io.out(
    `Hold set until ${isoSeconds(until)} (${formatDuration(holdMs)}): the scaler keeps the GPU running until then.`,
  );
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
