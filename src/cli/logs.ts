import { stackOutputs } from '../aws/discovery.js';
import { FleetError } from '../aws/errors.js';
import type { LogEvent, LogsPort } from '../aws/logs.js';
import {
  LOG_GROUP_OUTPUTS,
  LOG_SOURCES,
  type LogSource,
  type LogTarget,
  PROVISION_STREAM_PREFIX,
} from '../names.js';
import { CliFailure } from './io.js';
import type { CommandContext } from './fleet-commands.js';
import type { Session } from './session.js';

/** The fleet's log groups by source; burst is absent on a fleet without burst workers. */
export type LogGroups = Partial<Record<LogSource, string>>;

/** A line with the source it came from. */
export interface SourcedLine extends LogEvent {
  readonly source: LogSource;
}

/** Where the worker writes its job lines: the primary's group and the burst workers'. */
export const WORKER_SOURCES: readonly LogSource[] = ['gpu', 'burst'];

/** Finds the log groups from the Compute and Scaler stacks' outputs. */
export async function discoverLogGroups(session: Session): Promise<LogGroups> {
  const stacks = [...new Set(Object.values(LOG_GROUP_OUTPUTS).map((o) => o.stack))];
  const outputs = Object.fromEntries(
    await Promise.all(
      stacks.map(
        async (stack) =>
          [stack, await stackOutputs(session.cloudFormation, `${session.prefix}-${stack}`)] as const,
      ),
    ),
  );
  const groups: LogGroups = {};
  for (const source of LOG_SOURCES) {
    const { stack, key } = LOG_GROUP_OUTPUTS[source];
    const name = outputs[stack]?.[key];
    if (name) groups[source] = name;
  }
  if (!groups.gpu || !groups.scaler) {
    throw new FleetError(
      'NotFound',
      `stacks ${session.prefix}-Compute and ${session.prefix}-Scaler have no log group outputs (deploy this version first)`,
      false,
    );
  }
  return groups;
}

/** The groups (and stream prefix) a target reads; without a target, every group. */
export function sourcesOf(
  target: LogTarget | undefined,
  groups: LogGroups,
): { readonly sources: LogSource[]; readonly streamPrefix?: string } {
  const deployed = (sources: readonly LogSource[]): LogSource[] =>
    sources.filter((s) => groups[s] !== undefined);
  if (target === undefined) return { sources: deployed(['gpu', 'burst', 'app', 'scaler']) };
  if (target === 'provision')
    return { sources: deployed(['app', 'gpu', 'burst']), streamPrefix: PROVISION_STREAM_PREFIX };
  if (groups[target] === undefined)
    throw new CliFailure(
      'No burst workers are deployed (gpuFleet.burst.maxWorkers is 0), so there are no burst logs.',
    );
  return { sources: [target] };
}

/** Reads several groups over one window and merges them into one timeline, newest last. */
export async function readSources(
  port: LogsPort,
  groups: LogGroups,
  sources: readonly LogSource[],
  query: { startTime: number; endTime?: number; pattern?: string; streamPrefix?: string; limit?: number },
): Promise<SourcedLine[]> {
  // A source the fleet does not deploy (burst workers) has no lines.
  const perSource = await Promise.all(
    sources.flatMap((source) => {
      const groupName = groups[source];
      if (groupName === undefined) return [];
      return [port.read({ ...query, groupName }).then((events) => events.map((e) => ({ ...e, source })))];
    }),
  );
  const merged = perSource.flat().sort((a, b) => a.timestamp - b.timestamp);
  return query.limit === undefined ? merged : merged.slice(-query.limit);
}

/** One line for a person: time, source, stream, message. */
export function formatLine(line: SourcedLine): string {
  return `${new Date(line.timestamp).toISOString()} ${line.source.padEnd(6)} ${line.stream}  ${line.message}`;
}

/** A filter pattern that matches the worker's JSON lines of one job. */
export function jobPattern(jobId: string): string {
  return `{ $.jobId = "${jobId.replace(/["\\]/g, '')}" }`;
}

/** The fields of a worker's job line (see docs/jobs.md); undefined for any other line. */
export interface JobLine {
  readonly jobId: string;
  readonly type?: string;
  readonly state: string;
  readonly waitMs?: number;
  readonly durationMs?: number;
  readonly output?: string;
  readonly error?: string;
}

export function parseJobLine(message: string): JobLine | undefined {
  const start = message.indexOf('{');
  if (start < 0) return undefined;
  try {
    const value = JSON.parse(message.slice(start)) as Record<string, unknown>;
    if (typeof value.jobId !== 'string' || typeof value.state !== 'string') return undefined;
    const number = (key: string): number | undefined =>
      typeof value[key] === 'number' ? value[key] : undefined;
    const text = (key: string): string | undefined =>
      typeof value[key] === 'string' ? value[key] : undefined;
    return {
      jobId: value.jobId,
      state: value.state,
      type: text('type'),
      waitMs: number('waitMs'),
      durationMs: number('durationMs'),
      output: text('output'),
      error: text('error'),
    };
  } catch {
    return undefined;
  }
}

export interface LogsOptions {
  readonly sinceMs: number;
  readonly follow: boolean;
  readonly jobId?: string;
  /** How often --follow looks for new lines. */
  readonly intervalMs: number;
  /** At most this many lines of the window (the newest). */
  readonly limit: number;
}

export interface LogsContext extends CommandContext {
  readonly logs: LogsPort;
  /** Ends --follow (Ctrl-C). */
  readonly signal?: AbortSignal;
}

/** `gpu-manage logs [target] [--since 1h] [--follow] [--job ID]`. */
export async function logsCommand(
  ctx: LogsContext,
  target: LogTarget | undefined,
  options: LogsOptions,
): Promise<void> {
  const groups = await discoverLogGroups(ctx.session);
  const now = ctx.clock().getTime();
  const startTime = now - options.sinceMs;
  if (options.jobId !== undefined) {
    await jobTimeline(ctx, groups, options.jobId, startTime, options.limit);
    if (!options.follow) return;
  }
  const { sources, streamPrefix } =
    options.jobId !== undefined
      ? { sources: [...WORKER_SOURCES], streamPrefix: undefined }
      : sourcesOf(target, groups);
  const pattern = options.jobId === undefined ? undefined : jobPattern(options.jobId);
  const seen = new Set<string>();
  let from = startTime;
  const show = (lines: readonly SourcedLine[]): void => {
    for (const line of lines) {
      if (seen.has(line.eventId)) continue;
      seen.add(line.eventId);
      ctx.io.out(formatLine(line));
      from = Math.max(from, line.timestamp);
    }
  };
  if (options.jobId === undefined) {
    const lines = await readSources(ctx.logs, groups, sources, {
      startTime,
      pattern,
      streamPrefix,
      limit: options.limit,
    });
    if (lines.length === 0 && !options.follow)
      ctx.io.err(`No log lines in the last ${Math.round(options.sinceMs / 60_000)} minutes.`);
    show(lines);
  } else {
    // The timeline above showed the window; from here on only new lines of the job.
    from = now;
  }
  while (options.follow && !ctx.signal?.aborted) {
    await sleep(options.intervalMs, ctx.signal);
    if (ctx.signal?.aborted) break;
    // Lines reach CloudWatch a little after their timestamp: look back, and skip those shown.
    show(
      await readSources(ctx.logs, groups, sources, { startTime: from - LATE_LINE_MS, pattern, streamPrefix }),
    );
  }
}

/** How far back each --follow poll looks again for lines that arrived late. */
const LATE_LINE_MS = 30_000;

/**
 * One job across the worker's and the scaler's lines: the job's own lines, and the scaler's from
 * the time the job was sent (its first line's time minus its queue wait) to its last line.
 */
async function jobTimeline(
  ctx: LogsContext,
  groups: LogGroups,
  jobId: string,
  startTime: number,
  limit: number,
): Promise<void> {
  const jobLines = await readSources(ctx.logs, groups, WORKER_SOURCES, {
    startTime,
    pattern: jobPattern(jobId),
    limit,
  });
  const first = jobLines[0];
  const last = jobLines.at(-1);
  if (!first || !last) {
    throw new CliFailure(
      `No worker line of job ${jobId} since ${new Date(startTime).toISOString()}: it has not started yet, or it is older (try --since 1d).`,
    );
  }
  const sentAt = first.timestamp - (parseJobLine(first.message)?.waitMs ?? 0);
  const scalerLines = await readSources(ctx.logs, groups, ['scaler'], {
    startTime: sentAt,
    endTime: last.timestamp,
    limit,
  });
  for (const line of [...scalerLines, ...jobLines].sort((a, b) => a.timestamp - b.timestamp))
    ctx.io.out(formatLine(line));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
