import { type DeadLetterPort, type MoveTask, PurgeTooSoon, RedriveAlreadyRunning } from '../aws/dlq.js';
import { isoSeconds } from '../core/tags.js';
import { CliFailure, type CliIO, table } from './io.js';

export interface DlqContext {
  readonly io: CliIO;
  readonly clock: () => Date;
  readonly queue: DeadLetterPort;
}

/** The body as one short line: enough to tell a job from garbage. */
export function shortBody(body: string, width = 60): string {
  const line = body.replace(/\s+/g, ' ').trim();
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
}

/** `dlq list`: every message's id, first receive, receive count and a short body. */
export async function dlqList(ctx: DlqContext, max: number): Promise<void> {
  const messages = await ctx.queue.list(max);
  if (messages.length === 0) {
    ctx.io.out('The dead-letter queue is empty.');
    return;
  }
  const rows = [
    ['MESSAGE ID', 'FIRST RECEIVED', 'RECEIVES', 'BODY'],
    ...messages.map((m) => [
      m.messageId,
      m.firstReceiveAt ? isoSeconds(m.firstReceiveAt) : '—',
      String(m.receiveCount),
      shortBody(m.body),
    ]),
  ];
  for (const line of table(rows)) ctx.io.out(line);
  ctx.io.out(
    `${messages.length} message${messages.length === 1 ? '' : 's'}${messages.length >= max ? ` (the first ${max}; --max shows more)` : ''}. Move them back with gpu-manage dlq redrive, or delete them with gpu-manage dlq purge --yes.`,
  );
}

export interface RedriveOptions {
  /** SQS's MaxNumberOfMessagesPerSecond; its own optimised rate when absent. */
  readonly maxPerSecond?: number;
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

/**
 * `dlq redrive`: SQS's own message move task back to the job queue, followed until it ends. A
 * task already running is followed instead of a second one.
 */
export async function dlqRedrive(ctx: DlqContext, options: RedriveOptions): Promise<void> {
  const { io, queue, clock } = ctx;
  const waiting = await queue.count();
  try {
    if (waiting === 0) {
      io.out('The dead-letter queue is empty; nothing to redrive.');
      return;
    }
    await queue.startRedrive(options.maxPerSecond);
    io.out(
      `Redrive started: about ${waiting} message${waiting === 1 ? '' : 's'} back to the job queue${options.maxPerSecond ? `, at most ${options.maxPerSecond} a second` : ''}.`,
    );
  } catch (error) {
    if (!(error instanceof RedriveAlreadyRunning)) throw error;
    io.out('A redrive of the dead-letter queue is already running; following it.');
  }
  const started = clock().getTime();
  let last = '';
  for (;;) {
    const task = await queue.latestRedrive();
    const line = task ? progress(task) : 'waiting for SQS to report the task';
    if (line !== last) io.out(`  ${line}`);
    last = line;
    if (task && task.status !== 'RUNNING' && task.status !== 'CANCELLING') {
      if (task.status === 'COMPLETED') return;
      throw new CliFailure(
        `The redrive ended ${task.status}${task.failureReason ? `: ${task.failureReason}` : ''} after moving ${task.moved} messages.`,
      );
    }
    if (clock().getTime() - started >= options.timeoutMs) {
      throw new CliFailure(
        `The redrive is still running after ${Math.round(options.timeoutMs / 1000)}s (${line}); SQS goes on with it: check again with gpu-manage dlq redrive.`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
}

function progress(task: MoveTask): string {
  const of = task.toMove === undefined ? '' : ` of ${task.toMove}`;
  return `${task.status}: ${task.moved}${of} moved${task.startedAt ? ` (started ${isoSeconds(task.startedAt)})` : ''}`;
}

/** `dlq purge --yes`: deletes every message for good. */
export async function dlqPurge(ctx: DlqContext): Promise<void> {
  const waiting = await ctx.queue.count();
  try {
    await ctx.queue.purge();
  } catch (error) {
    if (error instanceof PurgeTooSoon) throw new CliFailure(`${error.message}: try again in a minute.`);
    throw error;
  }
  ctx.io.out(
    `Purged the dead-letter queue (about ${waiting} message${waiting === 1 ? '' : 's'}); SQS may take up to 60 seconds to finish.`,
  );
}
