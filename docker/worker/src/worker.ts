import { EventEmitter } from 'node:events';
import { CreateTagsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { ChangeMessageVisibilityCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import { Consumer } from 'sqs-consumer';
import type { InstanceMetadata } from './imds.js';
import { type Job, parseJob } from './job.js';
import { OpenVoiceError, type OpenVoiceClient } from './openvoice.js';
import type { ResultStore } from './store.js';

/** The tag the scaler reads to count idle time from readiness (src/core/tags.ts TAGS.readyAt). */
export const READY_TAG = 'gpu-fleet:ready-at';

/** The lifecycle events a QueueWorker emits (besides 'error'). */
export const WORKER_EVENTS = [
  'ready',
  'job_done',
  'job_duplicate',
  'job_failed',
  'job_retry',
  'malformed',
  'spot_interruption',
  'paused',
  'resumed',
  'draining',
  'drained',
] as const;

export interface WorkerOptions {
  readonly queueUrl: string;
  readonly sqs: SQSClient;
  readonly ec2: EC2Client;
  readonly openVoice: OpenVoiceClient;
  readonly store: ResultStore;
  readonly metadata: InstanceMetadata;
  /** Seconds a received job stays hidden; extended by the heartbeat while it runs. @default 120 */
  readonly visibilityTimeoutS?: number;
  /** Seconds between visibility extensions. @default 30 */
  readonly heartbeatS?: number;
  /** Long-poll seconds. @default 20 */
  readonly waitTimeS?: number;
  /** Seconds a job that failed for a passing reason stays hidden before its retry. @default 30 */
  readonly retryDelayS?: number;
  /** How often OpenVoice health and the spot notice are polled. @default 5000 */
  readonly pollMs?: number;
  readonly clock?: () => Date;
}

/**
 * The queue worker: waits for OpenVoice to be healthy, reports ready with a tag on its own
 * instance, then consumes jobs one at a time. A job's message is deleted only after its result
 * and status are on EFS; redelivery of a finished job is recognised by its status file.
 *
 * Lifecycle events: WORKER_EVENTS, and error.
 */
export class QueueWorker extends EventEmitter {
  private consumer: Consumer | undefined;
  private readonly inFlight = new Map<string, { receiptHandle: string; abort: AbortController }>();
  private readonly malformed = new Set<string>();
  private timers: NodeJS.Timeout[] = [];
  private draining: Promise<void> | undefined;
  private paused = false;
  private readonly clock: () => Date;

  constructor(private readonly options: WorkerOptions) {
    super();
    this.clock = options.clock ?? (() => new Date());
  }

  /** Waits for OpenVoice, tags the instance ready, starts consuming and watching for spot notices. */
  async start(signal?: AbortSignal): Promise<void> {
    const pollMs = this.options.pollMs ?? 5000;
    while (!(await this.options.openVoice.healthy(signal))) {
      if (signal?.aborted) return;
      await sleep(pollMs);
    }
    if (signal?.aborted) return;
    const instanceId = await this.options.metadata.instanceId();
    const readyAt = this.clock()
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
    await this.options.ec2.send(
      new CreateTagsCommand({ Resources: [instanceId], Tags: [{ Key: READY_TAG, Value: readyAt }] }),
    );
    this.emit('ready', { instanceId, readyAt });

    this.consumer = Consumer.create({
      queueUrl: this.options.queueUrl,
      sqs: this.options.sqs,
      batchSize: 1,
      visibilityTimeout: this.options.visibilityTimeoutS ?? 120,
      heartbeatInterval: this.options.heartbeatS ?? 30,
      waitTimeSeconds: this.options.waitTimeS ?? 20,
      // A malformed message comes back at once until SQS moves it to the DLQ (maxReceiveCount);
      // a job that failed for a passing reason waits a little before its retry.
      terminateVisibilityTimeout: (messages) =>
        messages.some((m) => this.malformed.has(m.MessageId ?? '')) ? 0 : (this.options.retryDelayS ?? 30),
      handleMessage: (message) => this.handle(message),
    });
    this.consumer.on('error', (error) => this.emit('error', error));
    this.consumer.on('processing_error', (error) => this.emit('error', error));
    this.consumer.start();
    this.timers.push(setInterval(() => void this.watchSpot(), pollMs));
  }

  private async handle(message: Message): Promise<Message | undefined> {
    const id = message.MessageId ?? '';
    const parsed = parseJob(message.Body);
    if ('error' in parsed) {
      this.malformed.add(id);
      this.emit('malformed', {
        messageId: id,
        error: parsed.error,
        receiveCount: message.Attributes?.ApproximateReceiveCount,
      });
      throw new Error(`malformed job message ${id}: ${parsed.error}`);
    }
    const abort = new AbortController();
    this.inFlight.set(id, { receiptHandle: message.ReceiptHandle ?? '', abort });
    try {
      await this.process(parsed.job, abort.signal);
      return message; // acknowledged: deleted only now, after the result is on EFS
    } catch (error) {
      if (error instanceof OpenVoiceError && error.permanent) {
        await this.options.store.writeStatus({
          jobId: parsed.job.jobId,
          type: parsed.job.type,
          state: 'failed',
          error: error.message,
          finishedAt: this.clock().toISOString(),
        });
        this.emit('job_failed', { jobId: parsed.job.jobId, error: error.message });
        return message;
      }
      this.emit('job_retry', { jobId: parsed.job.jobId, error: (error as Error).message });
      if (error instanceof OpenVoiceError) void this.pauseUntilHealthy();
      throw error;
    } finally {
      this.inFlight.delete(id);
    }
  }

  private async process(job: Job, signal: AbortSignal): Promise<void> {
    const { store, openVoice } = this.options;
    const previous = await store.readStatus(job.jobId);
    if (previous) {
      this.emit('job_duplicate', { jobId: job.jobId, state: previous.state });
      return;
    }
    if (job.type === 'synthesize') {
      const wav = await openVoice.synthesize(
        { text: job.text, language: job.language, voiceId: job.voiceId, speed: job.speed },
        signal,
      );
      const output = await store.writeAtomically(`outputs/${job.jobId}.wav`, wav);
      await store.writeStatus({
        jobId: job.jobId,
        type: job.type,
        state: 'done',
        output,
        finishedAt: this.clock().toISOString(),
      });
    } else {
      await openVoice.createVoice(job.voiceId, store.resolve(job.referencePath), signal);
      await store.writeStatus({
        jobId: job.jobId,
        type: job.type,
        state: 'done',
        voiceId: job.voiceId,
        finishedAt: this.clock().toISOString(),
      });
    }
    this.emit('job_done', { jobId: job.jobId, type: job.type });
  }

  /**
   * OpenVoice failed for a passing reason: stop taking jobs until it answers healthy again, so
   * an outage costs each waiting job nothing (a job retried into a dead service would use up its
   * receives and land in the DLQ).
   */
  private async pauseUntilHealthy(): Promise<void> {
    if (this.paused || this.draining) return;
    this.paused = true;
    this.consumer?.stop();
    this.emit('paused', { reason: 'OpenVoice failed; waiting for it to answer healthy' });
    while (!this.draining && !(await this.options.openVoice.healthy()))
      await sleep(this.options.pollMs ?? 5000);
    this.paused = false;
    if (this.draining) return;
    this.consumer?.start();
    this.emit('resumed', {});
  }

  private async watchSpot(): Promise<void> {
    try {
      const notice = await this.options.metadata.spotInterruption();
      if (!notice || this.draining) return;
      this.emit('spot_interruption', notice);
      // EC2 gives about two minutes; keep a margin for the visibility reset and the exit.
      const graceMs = Math.max(0, Math.min(90_000, notice.time.getTime() - this.clock().getTime() - 20_000));
      await this.drain('spot interruption', graceMs);
    } catch (error) {
      this.emit('error', error);
    }
  }

  /**
   * Stops taking jobs, lets running ones finish within `graceMs`, and makes the rest visible
   * again at once so another start picks them up: nothing is lost.
   */
  drain(reason: string, graceMs: number): Promise<void> {
    this.draining ??= (async () => {
      this.emit('draining', { reason, inFlight: this.inFlight.size, graceMs });
      for (const timer of this.timers) clearInterval(timer);
      this.timers = [];
      this.consumer?.stop();
      const deadline = Date.now() + graceMs;
      while (this.inFlight.size > 0 && Date.now() < deadline) await sleep(50);
      const released = [...this.inFlight.values()];
      for (const job of released) job.abort.abort();
      await Promise.all(
        released.map((job) =>
          this.options.sqs.send(
            new ChangeMessageVisibilityCommand({
              QueueUrl: this.options.queueUrl,
              ReceiptHandle: job.receiptHandle,
              VisibilityTimeout: 0,
            }),
          ),
        ),
      );
      this.emit('drained', { reason, released: released.length });
    })();
    return this.draining;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
