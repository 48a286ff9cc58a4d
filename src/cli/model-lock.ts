import * as fs from 'node:fs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { runOnHost } from '../aws/host-command.js';
import type { CommandContext } from './fleet-commands.js';
import { CliFailure } from './io.js';
import type { GlobalOptions } from './session.js';

/** The GPU host's compose project, as its unit starts it; `models lock` reads the lock on EFS. */
export const PRINT_LOCK_ON_GPU_HOST = [
  'docker compose --env-file /opt/gpu-fleet/gpu-host.env -f /opt/gpu-fleet/compose.yaml' +
    ' run --rm --no-deps -T models python -m app.models lock',
];

export interface ModelLockOptions {
  /** Write the lock here instead of printing it. */
  readonly out?: string;
  /** How long the host may take, seconds. */
  readonly timeoutSeconds: number;
}

/**
 * Prints the model lock the GPU host recorded on first use (model_pins.json content), so a team
 * can review it and commit it for `modelTrust: "strict"`. The lock lives on EFS, which only the
 * hosts mount: the GPU host prints it through SSM Run Command, so the GPU must be running.
 */
export async function modelLockCommand(
  ctx: CommandContext,
  globals: GlobalOptions,
  options: ModelLockOptions,
  ssm: SSMClient = new SSMClient({ region: globals.region, profile: globals.profile }),
): Promise<void> {
  const { io, session } = ctx;
  const { gpu } = await session.instances();
  if (gpu.state !== 'running') {
    throw new CliFailure(
      `the GPU is ${gpu.state}: the lock is read on the GPU host. Run gpu-manage start-gpu --hold 15m --wait, then this again.`,
    );
  }
  const result = await runOnHost(ssm, gpu.instanceId, PRINT_LOCK_ON_GPU_HOST, {
    timeoutSeconds: options.timeoutSeconds,
  });
  if (result.status !== 'Success') {
    const why = lastLines(result.stderr || result.stdout) || 'no output';
    throw new CliFailure(
      result.status === 'NoAnswer'
        ? `the GPU host ${gpu.instanceId} did not answer within ${options.timeoutSeconds} s (is its SSM agent online?)`
        : `printing the lock on ${gpu.instanceId} ended ${result.status}: ${why}`,
    );
  }
  if (options.out === undefined) {
    io.out(result.stdout.trimEnd());
    return;
  }
  fs.writeFileSync(options.out, result.stdout.endsWith('\n') ? result.stdout : `${result.stdout}\n`);
  io.out(
    `Model lock of ${gpu.instanceId} written to ${options.out}: review it, then commit it as docker/openvoice/app/model_pins.json.`,
  );
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join(' | ');
}
