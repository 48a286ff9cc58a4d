import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { discoverFleetOutputs } from '../aws/discovery.js';
import { callAws, toFleetError } from '../aws/errors.js';
import type { InstanceInfo } from '../aws/ports.js';
import { activeOperatorTime } from '../core/decide.js';
import { TAGS, isoSeconds, parseTagDate } from '../core/tags.js';
import { CliFailure } from './io.js';
import {
  type LogGroups,
  type LogsContext,
  WORKER_SOURCES,
  discoverLogGroups,
  formatLine,
  jobPattern,
  parseJobLine,
  readSources,
} from './logs.js';

/** What `logs` reads with, but no Ctrl-C: the test ends at its own timeout. */
export type SmokeTestContext = Omit<LogsContext, 'signal'>;

export interface SmokeTestOptions {
  /** A reference recording on EFS (relative to /mnt/shared, under uploads/): clone it first. */
  readonly clonePath?: string;
  /** The voice the synthesize job speaks with (and the clone makes). */
  readonly voiceId: string;
  /** How long the whole test may take. */
  readonly timeoutMs: number;
  /** How often it looks. */
  readonly intervalMs: number;
}

/** What a deploy must show, in order; the job stages repeat for a clone. */
type Stage = string;

/** Lines of each log shown when a stage does not happen. */
const LAST_LINES = 15;

/**
 * `gpu-manage smoke-test`: proves a deploy works end to end. Holds the GPU for the test's length
 * (the scaler starts it), sends a synthesize job (a clone first with --clone) with a recognisable
 * id, and follows it through EC2, the worker's ready tag and the worker's job lines, printing each
 * stage with its time. A stage that does not happen fails the test with that stage and the last
 * log lines. The hold (and any pause) is put back as it was, whatever happens.
 */
export async function smokeTest(ctx: SmokeTestContext, options: SmokeTestOptions): Promise<void> {
  const { io, session, clock } = ctx;
  const [outputs, groups, instances] = await Promise.all([
    discoverFleetOutputs(session.cloudFormation, session.prefix),
    discoverLogGroups(session),
    session.instances(),
  ]);
  const started = clock();
  const runId = `smoke-${isoSeconds(started).replace(/[-:TZ]/g, '')}-${Math.random().toString(36).slice(2, 6)}`;
  const gpu = instances.gpu;
  io.out(`Smoke test ${runId} on ${session.prefix}: up to ${Math.round(options.timeoutMs / 1000)}s.`);

  const restore = await holdForTest(ctx, gpu, new Date(started.getTime() + options.timeoutMs));
  let failure: Error | undefined;
  try {
    await runStages(ctx, options, { runId, gpu, queueUrl: outputs.jobQueueUrl, groups, started });
  } catch (error) {
    failure = error as Error;
  } finally {
    try {
      await restore();
    } catch (error) {
      io.err(
        `The smoke test's hold could not be removed: ${toFleetError(error).message}; run gpu-manage hold --release.`,
      );
    }
  }
  if (failure) throw failure;
}

/**
 * Keeps the GPU up for the test: a hold until `until` (an operator's longer hold stays) and no
 * operator pause. Returns what puts both tags back as they were.
 */
async function holdForTest(
  ctx: SmokeTestContext,
  gpu: InstanceInfo,
  until: Date,
): Promise<() => Promise<void>> {
  const now = ctx.clock();
  const previous: Record<string, string> = {
    [TAGS.holdUntil]: gpu.tags[TAGS.holdUntil] ?? '',
    [TAGS.pausedUntil]: gpu.tags[TAGS.pausedUntil] ?? '',
  };
  const held = activeOperatorTime(parseTagDate(previous[TAGS.holdUntil]), now);
  const wanted: Record<string, string> = {};
  if (held === undefined || held < until) wanted[TAGS.holdUntil] = isoSeconds(until);
  if (activeOperatorTime(parseTagDate(previous[TAGS.pausedUntil]), now) !== undefined) {
    wanted[TAGS.pausedUntil] = '';
    ctx.io.out('The operator pause of automatic GPU starts is lifted for the test and put back after it.');
  }
  if (Object.keys(wanted).length > 0) await ctx.session.fleet.writeTags(gpu.instanceId, wanted);
  return async () => {
    const back = Object.fromEntries(Object.keys(wanted).map((key) => [key, previous[key] ?? '']));
    if (Object.keys(back).length > 0) await ctx.session.fleet.writeTags(gpu.instanceId, back);
    ctx.io.out('Smoke test hold removed.');
  };
}

interface Run {
  readonly runId: string;
  readonly gpu: InstanceInfo;
  readonly queueUrl: string;
  readonly groups: LogGroups;
  readonly started: Date;
}

/** A job the test sends, with the word its stages are printed under. */
interface SmokeJob {
  readonly id: string;
  readonly label: 'clone' | 'job';
  readonly body: Readonly<Record<string, unknown>>;
}

/** The jobs of a run, in the order they are sent: the clone (with --clone), then the synthesis. */
function smokeJobs(runId: string, options: Pick<SmokeTestOptions, 'clonePath' | 'voiceId'>): SmokeJob[] {
  const synthesize: SmokeJob = {
    id: runId,
    label: 'job',
    body: {
      type: 'synthesize',
      voiceId: options.voiceId,
      text: 'This is a gpu-fleet smoke test.',
      language: 'EN',
      speed: 1,
    },
  };
  if (options.clonePath === undefined) return [synthesize];
  return [
    {
      id: `${runId}-clone`,
      label: 'clone',
      body: { type: 'clone-voice', voiceId: options.voiceId, referencePath: options.clonePath },
    },
    synthesize,
  ];
}

/** The primary GPU's stages as DescribeInstances and its ready tag show them. */
function gpuStages(
  before: InstanceInfo,
  gpu: InstanceInfo,
  mark: (stage: Stage, note?: string) => void,
): void {
  if (gpu.state === 'pending' || gpu.state === 'running')
    mark('GPU start requested', before.state === 'running' ? 'it was already running' : gpu.state);
  if (gpu.state !== 'running') return;
  mark('instance running', gpu.instanceId);
  // A ready tag from before this start is the last boot's, not this one's.
  const readyAt = parseTagDate(gpu.tags[TAGS.readyAt]);
  const launchedAt = gpu.launchTime?.getTime() ?? before.launchTime?.getTime() ?? 0;
  if (readyAt !== undefined && readyAt.getTime() >= launchedAt) mark('worker ready', isoSeconds(readyAt));
}

async function runStages(ctx: SmokeTestContext, options: SmokeTestOptions, run: Run): Promise<void> {
  const { io, clock } = ctx;
  const jobs = smokeJobs(run.runId, options);

  const deadline = run.started.getTime() + options.timeoutMs;
  const reached = new Map<Stage, Date>();
  const mark = (stage: Stage, note = ''): void => {
    if (reached.has(stage)) return;
    const at = clock();
    reached.set(stage, at);
    io.out(
      `  ${isoSeconds(at).slice(11)} ${seconds(at, run.started).padStart(6)}  ${stage}${note ? `: ${note}` : ''}`,
    );
  };
  const fail = async (stage: Stage, why: string, jobId?: string): Promise<never> => {
    const lines = await lastLines(ctx, run, jobId);
    throw new CliFailure(
      [`Smoke test failed: ${stage} ${why} (after ${seconds(clock(), run.started)}).`, ...lines].join('\n'),
    );
  };

  const send = async (job: SmokeJob): Promise<void> => {
    await callAws('sqs:SendMessage', () =>
      ctx.session.sqs.send(
        new SendMessageCommand({
          QueueUrl: run.queueUrl,
          MessageBody: JSON.stringify({ version: 1, jobId: job.id, ...job.body }),
        }),
      ),
    );
  };

  const first = jobs[0];
  if (!first) throw new Error('no job to send');
  await send(first);
  mark('queued', first.id);
  let jobIndex = 0;
  for (;;) {
    const job = jobs[jobIndex];
    // The job's lines are read before the GPU: a worker tags itself ready before it takes a job,
    // so a job line seen here finds the ready tag in the describe that follows.
    const lines = job
      ? await readSources(ctx.logs, run.groups, WORKER_SOURCES, {
          startTime: run.started.getTime() - 60_000,
          pattern: jobPattern(job.id),
        })
      : [];
    const [gpu] = await ctx.session.fleet.describe([run.gpu.instanceId]);
    if (gpu) gpuStages(run.gpu, gpu, mark);
    if (job) {
      const states = lines.map((l) => parseJobLine(l.message)).filter((l) => l !== undefined);
      const startedLine = states.find((s) => s.state === 'started');
      if (startedLine)
        mark(
          `${job.label} started`,
          startedLine.waitMs === undefined ? '' : `waited ${startedLine.waitMs} ms`,
        );
      const failed = states.find((s) => s.state === 'failed');
      if (failed)
        await fail(
          `${job.label} done`,
          `did not happen: the job failed: ${failed.error ?? 'no reason given'}`,
          job.id,
        );
      const done = states.find((s) => s.state === 'done');
      if (done) {
        mark(`${job.label} started`);
        mark(
          `${job.label} done`,
          `${done.output ?? (job.body.type === 'clone-voice' ? `voices/${options.voiceId}` : 'no output path')}${done.durationMs === undefined ? '' : ` in ${done.durationMs} ms`}`,
        );
        jobIndex += 1;
        const next = jobs[jobIndex];
        if (!next) {
          io.out(`Smoke test passed in ${seconds(clock(), run.started)}.`);
          return;
        }
        await send(next);
        mark('queued synthesize', next.id);
        continue;
      }
    }
    if (clock().getTime() >= deadline) {
      const missing = stagesFor(jobs.map((j) => j.label)).find((s) => !reached.has(s)) ?? 'job done';
      await fail(missing, `did not happen within ${Math.round(options.timeoutMs / 1000)}s`, job?.id);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
}

function stagesFor(labels: readonly string[]): Stage[] {
  return [
    'queued',
    'GPU start requested',
    'instance running',
    'worker ready',
    ...labels.flatMap((label) => [`${label} started`, `${label} done`]),
  ];
}

/** The GPU's last lines (containers and provisioning), and the job's own when it has any. */
async function lastLines(ctx: SmokeTestContext, run: Run, jobId: string | undefined): Promise<string[]> {
  try {
    const since = run.started.getTime() - 3_600_000;
    const gpuLines = await readSources(ctx.logs, run.groups, ['gpu'], {
      startTime: since,
      limit: LAST_LINES,
    });
    const jobLines =
      jobId === undefined
        ? []
        : await readSources(ctx.logs, run.groups, WORKER_SOURCES, {
            startTime: since,
            pattern: jobPattern(jobId),
            limit: LAST_LINES,
          });
    return [
      `Last lines of the GPU (gpu-manage logs gpu --since 1h for more):`,
      ...(gpuLines.length > 0 ? gpuLines.map(formatLine) : ['  (none)']),
      ...(jobLines.length > 0 ? ['Lines of the job:', ...jobLines.map(formatLine)] : []),
    ];
  } catch (error) {
    return [`(the logs could not be read: ${toFleetError(error).message})`];
  }
}

function seconds(at: Date, from: Date): string {
  return `${Math.round((at.getTime() - from.getTime()) / 1000)}s`;
}
