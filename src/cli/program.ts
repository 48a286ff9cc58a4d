import { Command, CommanderError, Option } from 'commander';
import { registerEconomicsCommands } from '../sim/commands.js';
import { checkOperatorTime } from '../core/operator.js';
import { registerOperationsCommands } from './ops-commands.js';
import { parseDuration } from './duration.js';
import type { CliEnvironment } from './environment.js';
import { UsageError } from './io.js';
import type { GlobalOptions } from './session.js';

type Role = 'app' | 'gpu';

/**
 * The gpu-manage command line. This module loads nothing heavy: every AWS-facing module is
 * imported inside the action that needs it, so `--help` starts fast.
 */
export function buildProgram(env: CliEnvironment): Command {
  const program = rootCommand(env);
  registerStartCommands(program, env);
  registerStopCommands(program, env);
  registerHoldCommand(program, env);
  registerStatusCommand(program, env);
  registerOperationsCommands(program, env);
  registerEconomicsCommands(program, env);
  registerDoctorCommand(program, env);
  registerModelLockCommand(program, env);
  return program;
}

/** The program itself: its global options, its output through the CLI's IO, its examples. */
function rootCommand(env: CliEnvironment): Command {
  const { io } = env;
  return new Command('gpu-manage')
    .description(
      'Operate a gpu-fleet deployment: start and stop its hosts, hold the GPU, see what runs and what it costs.',
    )
    .version(env.version, '-V, --version', 'print the version')
    .option('--region <region>', 'AWS region (default: AWS_REGION or your profile)')
    .option('--profile <name>', 'AWS profile from ~/.aws/config')
    .option('--stack <prefix>', 'stack name prefix of the fleet (default: appName from cdk.json, GpuFleet)')
    .option('--debug', 'print stack traces of unexpected errors')
    .exitOverride()
    .showHelpAfterError()
    .configureOutput({
      writeOut: (text) => io.out(text.replace(/\n$/, '')),
      writeErr: (text) => io.err(text.replace(/\n$/, '')),
    })
    .addHelpText(
      'after',
      '\nExamples:\n  npx gpu-manage doctor\n  npx gpu-manage status\n  npx gpu-manage start-gpu --hold 2h --wait\n  npx gpu-manage stop-all\n  npx gpu-manage logs gpu --since 2h\n  npx gpu-manage smoke-test\n  npx gpu-manage dlq list\n  npx gpu-manage simulate --trace traces/weekday-month.csv',
    );
}

/** The AWS session of a command, from the global options; loaded only when a command runs. */
async function sessionOf(command: Command, env: CliEnvironment) {
  const { createSession } = await import('./session.js');
  return createSession(command.optsWithGlobals<GlobalOptions>(), env.cwd);
}

async function contextOf(command: Command, env: CliEnvironment) {
  return { io: env.io, clock: env.clock, session: await sessionOf(command, env) };
}

function withWaitOptions(command: Command): Command {
  return command
    .option('--wait', 'wait until the instances reach the target state')
    .addOption(
      new Option('--timeout <seconds>', 'how long --wait waits')
        .default(600)
        .argParser((value) => positiveInteger(value, '--timeout')),
    );
}

function registerStartCommands(program: Command, env: CliEnvironment): void {
  const starts: ReadonlyArray<[string, readonly Role[], string]> = [
    ['start-all', ['app', 'gpu'], 'start the app host and the GPU worker'],
    ['start-app', ['app'], 'start the app host'],
    ['start-gpu', ['gpu'], 'start the GPU worker (the scaler stops it again after the idle time)'],
  ];
  for (const [name, roles, description] of starts) {
    const command = withWaitOptions(program.command(name).description(description));
    if (roles.includes('gpu')) {
      command.option('--hold <duration>', 'keep the GPU running at least this long (30m, 2h, 1h30m)');
      command.addOption(
        new Option(
          '--workers <n>',
          'also set the burst workers wanted now (0..gpuFleet.burst.maxWorkers)',
        ).argParser((value) => wholeNumber(value, '--workers')),
      );
    }
    command.action(
      async (options: { hold?: string; wait?: boolean; timeout: number; workers?: number }, cmd: Command) => {
        const holdMs = options.hold === undefined ? undefined : parseDuration(options.hold);
        const { startCommand } = await import('./fleet-commands.js');
        await startCommand(await contextOf(cmd, env), roles, {
          holdMs,
          wait: options.wait ?? false,
          timeoutSeconds: options.timeout,
          workers: options.workers,
        });
      },
    );
  }
}

function registerStopCommands(program: Command, env: CliEnvironment): void {
  const stops: ReadonlyArray<[string, readonly Role[], string]> = [
    [
      'stop-all',
      ['app', 'gpu'],
      'stop the app host and the GPU worker (ends a GPU hold, pauses automatic GPU starts)',
    ],
    ['stop-app', ['app'], 'stop the app host'],
    [
      'stop-gpu',
      ['gpu'],
      'stop the GPU worker and retire the burst workers (ends a GPU hold, pauses automatic GPU starts)',
    ],
  ];
  for (const [name, roles, description] of stops) {
    const command = withWaitOptions(program.command(name).description(description));
    if (roles.includes('gpu'))
      command.option(
        '--until <time>',
        'pause automatic GPU starts until this ISO time or for this long (2h, 1d); default: the next scheduled app start',
      );
    command.action(async (options: { until?: string; wait?: boolean; timeout: number }, cmd: Command) => {
      const until = options.until === undefined ? undefined : parseUntil(options.until, env.clock());
      const { stopCommand } = await import('./fleet-commands.js');
      await stopCommand(await contextOf(cmd, env), roles, {
        until,
        wait: options.wait ?? false,
        timeoutSeconds: options.timeout,
      });
    });
  }
}

function registerHoldCommand(program: Command, env: CliEnvironment): void {
  program
    .command('hold')
    .description('keep the GPU running until a time (the scaler starts it if needed), or end the hold')
    .argument('[duration]', 'how long: 30m, 2h, 1h30m, 1d')
    .option('--release', 'end the hold now')
    .action(async (duration: string | undefined, options: { release?: boolean }, cmd: Command) => {
      if (options.release && duration) throw new UsageError('give either a duration or --release, not both');
      if (!options.release && !duration) throw new UsageError('give a duration such as 2h, or --release');
      const hold = options.release ? 'release' : parseDuration(duration ?? '');
      const { holdCommand } = await import('./fleet-commands.js');
      await holdCommand(await contextOf(cmd, env), hold);
    });
}

function registerStatusCommand(program: Command, env: CliEnvironment): void {
  program
    .command('status')
    .description('what runs, since when, why, and what it costs now')
    .option('--json', 'print the same data as JSON for scripts')
    .action(async (options: { json?: boolean }, cmd: Command) => {
      const { gatherStatus, renderStatus } = await import('./status.js');
      const now = env.clock();
      const report = await gatherStatus(await sessionOf(cmd, env), now);
      // Absent values are null, so scripts always find every key.
      const json = (): string => JSON.stringify(report, (_key, value: unknown) => value ?? null, 2);
      env.io.out(options.json ? json() : renderStatus(report, now, env.io.color));
    });
}

function registerDoctorCommand(program: Command, env: CliEnvironment): void {
  program
    .command('doctor')
    .description(
      'check the account, region and machine before cdk deploy: each check passes or fails with its fix',
    )
    .option('--config <json>', 'the gpuFleet JSON you give cdk deploy -c gpuFleet=…, instead of cdk.json’s')
    .action(async (_options: { config?: string }, cmd: Command) => {
      const { doctorCommand } = await import('./doctor.js');
      await doctorCommand(env, cmd.optsWithGlobals());
    });
}

function registerModelLockCommand(program: Command, env: CliEnvironment): void {
  program
    .command('model-lock')
    .description(
      'print the model lock the GPU host recorded on first use, to review and commit as model_pins.json (the GPU must run)',
    )
    .option('--out <file>', 'write it to this file instead of printing it')
    .addOption(
      new Option('--timeout <seconds>', 'how long the GPU host may take')
        .default(120)
        .argParser((value) => positiveInteger(value, '--timeout')),
    )
    .action(async (options: { out?: string; timeout: number }, cmd: Command) => {
      const { modelLockCommand } = await import('./model-lock.js');
      await modelLockCommand(await contextOf(cmd, env), cmd.optsWithGlobals<GlobalOptions>(), {
        out: options.out,
        timeoutSeconds: options.timeout,
      });
    });
}

/** `--until`: an ISO time, or a duration from now (2h, 1d), in the future and at most 7 days ahead. */
function parseUntil(text: string, now: Date): Date {
  const until = /^\d{4}-\d{2}-\d{2}/.test(text)
    ? new Date(text)
    : new Date(now.getTime() + parseDuration(text));
  const problem = checkOperatorTime(until, now);
  if (problem)
    throw new UsageError(`--until "${text}" ${problem}: give an ISO time or a duration such as 2h or 1d`);
  return until;
}

function wholeNumber(value: string, name: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed))
    throw new UsageError(`${name} must be a whole number of workers, got "${value}"`);
  return parsed;
}

function positiveInteger(value: string, name: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0)
    throw new UsageError(`${name} must be a whole number of seconds, got "${value}"`);
  return parsed;
}

/** Global options that take a value (their value is not a command name). */
const GLOBAL_VALUE_OPTIONS = new Set(['--region', '--profile', '--stack']);

/** Runs the CLI and returns the exit code: 0 ok, 1 failure, 2 bad usage. Never throws. */
export async function runCli(argv: readonly string[], env: CliEnvironment): Promise<number> {
  const program = buildProgram(env);
  try {
    const words = argv.filter(
      (arg, i) => !arg.startsWith('-') && !GLOBAL_VALUE_OPTIONS.has(argv[i - 1] ?? ''),
    );
    if (
      words[0] === 'help' &&
      words[1] !== undefined &&
      !program.commands.some((c) => c.name() === words[1])
    ) {
      throw new UsageError(`unknown command '${words[1]}'`);
    }
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help asked for is success; help shown because no command was given is bad usage.
      if (error.code === 'commander.help') return error.exitCode === 0 ? 0 : 2;
      return ['commander.helpDisplayed', 'commander.version'].includes(error.code) ? 0 : 2;
    }
    if (error instanceof UsageError || (error as { name?: string }).name === 'UsageError') {
      env.io.err(`error: ${(error as Error).message}`);
      env.io.err('Run gpu-manage --help for usage.');
      return 2;
    }
    const { explain } = await import('./explain.js');
    const known = explain(error);
    if (known) {
      env.io.err(known.message);
      return known instanceof UsageError ? 2 : known.exitCode;
    }
    env.io.err(`Unexpected error: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
    if (program.opts<{ debug?: boolean }>().debug && error instanceof Error) env.io.err(error.stack ?? '');
    else env.io.err('Run with --debug for details.');
    return 1;
  }
}
