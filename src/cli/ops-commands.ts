import { Argument, type Command, Option } from 'commander';
import { UsageError } from './io.js';
import { LOG_TARGETS, type LogTarget } from '../names.js';
import type { CliEnvironment } from './environment.js';
import type { GlobalOptions, Session } from './session.js';

/**
 * Registers the commands an operator runs a deployed fleet with beyond start and stop: `logs`,
 * `smoke-test` and `dlq`. Each loads its AWS modules inside its action, so `--help` stays fast.
 */
export function registerOperationsCommands(program: Command, env: CliEnvironment): void {
  const { io, clock } = env;
  const session = async (command: Command): Promise<Session> => {
    const { createSession } = await import('./session.js');
    return createSession(command.optsWithGlobals<GlobalOptions>(), env.cwd);
  };
  const logsOf = async (s: Session) => {
    const { createCloudWatchLogs } = await import('../aws/logs.js');
    return createCloudWatchLogs(s.logs);
  };
  const deadLetters = async (s: Session) => {
    const [{ discoverFleetOutputs }, { createDeadLetterQueue }] = await Promise.all([
      import('../aws/discovery.js'),
      import('../aws/dlq.js'),
    ]);
    const { deadLetterQueueUrl } = await discoverFleetOutputs(s.cloudFormation, s.prefix);
    return createDeadLetterQueue(s.sqs, deadLetterQueueUrl);
  };
  const interval = (fallback: number): Option =>
    new Option('--interval <seconds>', 'how often to look again')
      .default(fallback)
      .argParser((value) => positiveNumber(value, '--interval'));

  program
    .command('logs')
    .description("read the fleet's logs from CloudWatch, newest last; they outlive a stopped instance")
    .addArgument(
      new Argument('[source]', 'gpu, app, scaler, provision or burst (default: all)').choices(LOG_TARGETS),
    )
    .option('--since <duration>', 'from this long ago: 30m, 2h, 1d', '1h')
    .option('--follow', 'keep printing new lines until Ctrl-C')
    .option('--job <id>', "one job's lines (the worker's), with the scaler's while it waited and ran")
    .addOption(
      new Option('--limit <lines>', 'at most this many lines of the window (the newest)')
        .default(1000)
        .argParser((value) => wholePositive(value, '--limit')),
    )
    .addOption(interval(2))
    .action(
      async (
        source: LogTarget | undefined,
        options: { since: string; follow?: boolean; job?: string; limit: number; interval: number },
        cmd: Command,
      ) => {
        const sinceMs = parseSince(options.since);
        if (options.job !== undefined && !/^[A-Za-z0-9_-]{1,128}$/.test(options.job))
          throw new UsageError(
            `--job must be a job id (1–128 letters, digits, _ or -), got "${options.job}"`,
          );
        if (options.job !== undefined && source !== undefined)
          throw new UsageError('--job reads the worker and scaler logs itself: give no source with it');
        const { logsCommand } = await import('./logs.js');
        const s = await session(cmd);
        const stop = new AbortController();
        const onInterrupt = (): void => stop.abort();
        process.once('SIGINT', onInterrupt);
        process.once('SIGTERM', onInterrupt);
        try {
          await logsCommand({ io, clock, session: s, logs: await logsOf(s), signal: stop.signal }, source, {
            sinceMs,
            follow: options.follow ?? false,
            jobId: options.job,
            limit: options.limit,
            intervalMs: options.interval * 1000,
          });
        } finally {
          process.off('SIGINT', onInterrupt);
          process.off('SIGTERM', onInterrupt);
        }
      },
    );

  program
    .command('smoke-test')
    .description(
      'prove a deploy works: hold the GPU, send a synthesize job and follow it to its output, stage by stage',
    )
    .option(
      '--clone <path>',
      'first clone a voice from this recording on EFS (relative to /mnt/shared, under uploads/)',
    )
    .option('--voice <id>', 'the voice to synthesize with (and to clone into)', 'smoke-test')
    .addOption(
      new Option('--timeout <seconds>', 'how long the whole test may take (a first boot takes longest)')
        .default(1800)
        .argParser((value) => positiveNumber(value, '--timeout')),
    )
    .addOption(interval(5))
    .action(
      async (options: { clone?: string; voice: string; timeout: number; interval: number }, cmd: Command) => {
        if (
          options.clone !== undefined &&
          !/^uploads\/(?:[A-Za-z0-9_-][A-Za-z0-9._-]*\/)*[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(options.clone)
        )
          throw new UsageError(
            `--clone must be a recording's path relative to /mnt/shared under uploads/, such as uploads/alice.wav, got "${options.clone}"`,
          );
        if (!/^[a-z0-9-]{1,64}$/.test(options.voice))
          throw new UsageError(`--voice must be 1–64 lowercase letters, digits or -, got "${options.voice}"`);
        const { smokeTest } = await import('./smoke-test.js');
        const s = await session(cmd);
        await smokeTest(
          { io, clock, session: s, logs: await logsOf(s) },
          {
            clonePath: options.clone,
            voiceId: options.voice,
            timeoutMs: options.timeout * 1000,
            intervalMs: options.interval * 1000,
          },
        );
      },
    );

  const dlq = program
    .command('dlq')
    .description('the dead-letter queue: list its messages, move them back to the job queue, or purge it');
  dlq
    .command('list')
    .description("each message's id, first receive, receive count and a short body (messages stay)")
    .addOption(
      new Option('--max <n>', 'show at most this many')
        .default(100)
        .argParser((value) => wholePositive(value, '--max')),
    )
    .action(async (options: { max: number }, cmd: Command) => {
      const { dlqList } = await import('./dlq.js');
      await dlqList({ io, clock, queue: await deadLetters(await session(cmd)) }, options.max);
    });
  dlq
    .command('redrive')
    .description("move the messages back to the job queue with SQS's own redrive, and follow its progress")
    .addOption(
      new Option(
        '--max <n>',
        'move at most this many messages a second (SQS: 1–500; default: its own rate)',
      ).argParser((value) => {
        const n = wholePositive(value, '--max');
        if (n > 500) throw new UsageError(`--max must be from 1 to 500 messages a second, got "${value}"`);
        return n;
      }),
    )
    .addOption(
      new Option('--timeout <seconds>', 'how long to follow the redrive')
        .default(300)
        .argParser((value) => positiveNumber(value, '--timeout')),
    )
    .addOption(interval(5))
    .action(async (options: { max?: number; timeout: number; interval: number }, cmd: Command) => {
      const { dlqRedrive } = await import('./dlq.js');
      await dlqRedrive(
        { io, clock, queue: await deadLetters(await session(cmd)) },
        { maxPerSecond: options.max, timeoutMs: options.timeout * 1000, intervalMs: options.interval * 1000 },
      );
    });
  dlq
    .command('purge')
    .description('delete every message of the dead-letter queue, for good')
    .option('--yes', 'confirm: the messages cannot be brought back')
    .action(async (options: { yes?: boolean }, cmd: Command) => {
      if (!options.yes)
        throw new UsageError(
          'dlq purge deletes every dead letter for good: add --yes to confirm (dlq list shows them)',
        );
      const { dlqPurge } = await import('./dlq.js');
      await dlqPurge({ io, clock, queue: await deadLetters(await session(cmd)) });
    });
}

/** `--since`: minutes, hours or days such as 30m, 2h, 1d; at most 30 days. */
export function parseSince(text: string): number {
  const parts = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$/.exec(text.trim());
  const ms = parts
    ? Number(parts[1] ?? 0) * 86_400_000 + Number(parts[2] ?? 0) * 3_600_000 + Number(parts[3] ?? 0) * 60_000
    : 0;
  if (!parts || ms <= 0 || ms > 30 * 86_400_000)
    throw new UsageError(`--since "${text}" is not a duration from 1m to 30d such as 30m, 2h or 1d`);
  return ms;
}

function positiveNumber(value: string, name: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0)
    throw new UsageError(`${name} must be a number of seconds above 0, got "${value}"`);
  return parsed;
}

function wholePositive(value: string, name: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed < 1)
    throw new UsageError(`${name} must be a whole number from 1, got "${value}"`);
  return parsed;
}
