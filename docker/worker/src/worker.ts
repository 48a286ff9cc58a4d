import { EventEmitter } from 'node:events';
import { type AutoScalingClient, CompleteLifecycleActionCommand } from '@aws-sdk/client-auto-scaling';
import { CreateTagsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { ChangeMessageVisibilityCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import { Consumer } from 'sqs-consumer';
import { ActivityTag, isoSecond } from './activity.js';
import type { InstanceMetadata } from './imds.js';
import { type Job, parseJob } from './job.js';
import { OpenVoiceError, type OpenVoiceClient } from './openvoice.js';
import { InputError, type ResultStore, StorageFault } from './store.js';

/** The tag the scaler reads to count idle time from readiness (src/core/tags.ts TAGS.readyAt). */
export const READY_TAG = 'gpu-fleet:ready-at';

/** The lifecycle events a QueueWorker emits (besides 'error'). */
export const WORKER_EVENTS = [
  'ready',
  'job_started',
  'job_done',
  'job_duplicate',
  'job_failed',
  'job_retry',
  'job_handed_back',
  'malformed',
  'spot_interruption',
  'scale_in',
  'lifecycle_completed',
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
  /** Jobs that may run on the GPU at once. @default 1 */
  readonly slots?: number;
  /**
   * The queue's maxReceiveCount (lib/data-stack.ts): on that receive a job that fails again gets
   * a failed status instead of going to the DLQ without one. @default 5
   */
  readonly maxReceiveCount?: number;
  /** Seconds a received job stays hidden; extended by the heartbeat while it runs. @default 120 */
  readonly visibilityTimeoutS?: number;
  /** Seconds between visibility extensions. @default 30 */
  readonly heartbeatS?: number;
  /** Long-poll seconds. @default 20 */
  readonly waitTimeS?: number;
  /** Seconds a job that failed for a passing reason stays hidden before its retry. @default 30 */
  readonly retryDelayS?: number;
  /** Largest reference recording a clone accepts. @default 10 MiB */
  readonly maxReferenceBytes?: number;
  /** How often OpenVoice health, storage and the spot notice are polled. @default 5000 */
  readonly pollMs?: number;
  /** Minimum milliseconds between writes of the last-job-at tag. @default 30000 */
  readonly activityIntervalMs?: number;
  readonly clock?: () => Date;
  /**
   * A burst worker's group: when the group terminates the instance, the worker drains and then
   * completes the group's termination hook so the instance goes at once. Absent on the primary.
   */
  readonly scaleIn?: ScaleInOptions;
}

export interface ScaleInOptions {
  readonly autoScaling: AutoScalingClient;
  readonly groupName: string;
  readonly hookName: string;
  /**
   * How long running jobs may take to finish before they are handed back; within the hook's
   * heartbeat timeout (3 minutes), with a margin for the hand-back and the completion.
   * @default 150000
   */
  readonly graceMs?: number;
}

/** What the worker waits for: OpenVoice healthy, the storage writable, OpenVoice taking our token. */
type PauseReason = 'openvoice' | 'storage' | 'auth';

interface RunningJob {
  readonly receiptHandle: string;
  readonly abort: AbortController;
  /** Stops the visibility heartbeat; resolves once no extension is in flight. */
  readonly stopHeartbeat: () => Promise<void>;
  settled: Promise<unknown>;
}

/**
 * Holds receives closed while the worker is paused or draining. The consumer keeps its single
 * polling loop: it waits here before each receive instead of being stopped and restarted
 * (a restart while the old poll cycle is finishing starts a second loop: two jobs on one GPU).
 */
class ReceiveGate {
  private waiters: Array<() => void> = [];
  private readonly closedFor = new Set<string>();

  get open(): boolean {
    return this.closedFor.size === 0;
  }

  close(reason: string): void {
    this.closedFor.add(reason);
  }

  reopen(reason: string): void {
    this.closedFor.delete(reason);
    if (!this.open) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  pass(): Promise<void> {
    return this.open ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}

/**
 * The queue worker: waits for OpenVoice to be healthy, reports ready with a tag on its own
 * instance, then consumes jobs, at most `slots` at a time. Every message with a valid jobId ends
 * with exactly one status file (done or failed, with the reason); only messages that are not
 * jobs go to the DLQ. A job's message is deleted only after its result and status are on EFS.
 * When OpenVoice or the storage fails, the worker pauses (the job waits in the queue) until they
 * recover.
 *
 * Lifecycle events: WORKER_EVENTS, and error.
 */
export class QueueWorker extends EventEmitter {
  private consumers: Consumer[] = [];
  private readonly inFlight = new Map<string, RunningJob>();
  private readonly malformed = new Set<string>();
  private readonly gate = new ReceiveGate();
  private readonly pausedFor = new Map<PauseReason, string>();
  private timers: NodeJS.Timeout[] = [];
  private draining: Promise<void> | undefined;
  private scaleInStarted = false;
  private activity: ActivityTag | undefined;
  private readonly clock: () => Date;

  constructor(private readonly options: WorkerOptions) {
    super();
    this.clock = options.clock ?? (() => new Date());
  }

  /**
   * Healthy unless the host is at fault (its storage failed, or OpenVoice refuses the token):
   * the container's health check reads this. An OpenVoice outage is OpenVoice's own health.
   */
  health(): { healthy: boolean; reason?: string } {
    const storage = this.pausedFor.get('storage');
    if (storage) return { healthy: false, reason: `storage fault: ${storage}` };
    const auth = this.pausedFor.get('auth');
    if (auth) return { healthy: false, reason: `OpenVoice refuses the token: ${auth}` };
    return { healthy: true };
  }

  /** Waits for OpenVoice, tags the instance ready, starts consuming and watching for spot notices. */
  async start(signal?: AbortSignal): Promise<void> {
    const pollMs = this.options.pollMs ?? 5000;
    const instanceId = await this.options.metadata.instanceId();
    // From boot, not from ready: a burst worker retired while it still boots (never ready, a
    // replaced spot worker) completes its group's hook at once instead of holding it 3 minutes.
    const scaleIn = this.options.scaleIn;
    if (scaleIn) this.timers.push(setInterval(() => void this.watchScaleIn(scaleIn, instanceId), pollMs));
    while (!(await this.options.openVoice.healthy(signal))) {
      if (signal?.aborted || this.draining) return;
      await sleep(pollMs);
    }
    if (signal?.aborted || this.draining) return;
    const readyAt = isoSecond(this.clock());
    await this.options.ec2.send(
      new CreateTagsCommand({ Resources: [instanceId], Tags: [{ Key: READY_TAG, Value: readyAt }] }),
    );
    this.activity = new ActivityTag({
      ec2: this.options.ec2,
      instanceId,
      clock: this.clock,
      minIntervalMs: this.options.activityIntervalMs,
      onError: (error) => this.emit('error', error),
    });
    this.emit('ready', { instanceId, readyAt });

    // One consumer per GPU slot, each with a single loop taking one message at a time.
    for (let slot = 0; slot < (this.options.slots ?? 1); slot += 1) {
      const consumer = Consumer.create({
        queueUrl: this.options.queueUrl,
        sqs: this.options.sqs,
        batchSize: 1,
        visibilityTimeout: this.options.visibilityTimeoutS ?? 120,
        waitTimeSeconds: this.options.waitTimeS ?? 20,
        messageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
        preReceiveMessageCallback: () => this.gate.pass(),
        // A malformed message comes back at once until SQS moves it to the DLQ (maxReceiveCount);
        // a job that failed for a passing reason waits a little before its retry.
        terminateVisibilityTimeout: (messages) =>
          messages.some((m) => this.malformed.has(m.MessageId ?? '')) ? 0 : (this.options.retryDelayS ?? 30),
        handleMessage: (message) => this.handle(message),
      });
      consumer.on('error', (error) => this.emit('error', error));
      consumer.on('processing_error', (error) => this.emit('error', error));
      consumer.start();
      this.consumers.push(consumer);
    }
    this.timers.push(setInterval(() => void this.watchSpot(), pollMs));
  }

  private async handle(message: Message): Promise<Message | undefined> {
    const id = message.MessageId ?? '';
    const receiveCount = Number(message.Attributes?.ApproximateReceiveCount ?? '1');
    if (this.draining) {
      // Taken by a long poll that was already in flight when the drain began: give it back now.
      await this.handBack(message.ReceiptHandle ?? '');
      this.emit('job_handed_back', { messageId: id, reason: 'draining' });
      return undefined;
    }
    const parsed = parseJob(message.Body);
    if ('malformed' in parsed) {
      this.malformed.add(id);
      this.emit('malformed', { messageId: id, error: parsed.malformed, receiveCount });
      throw new Error(`malformed job message ${id}: ${parsed.malformed}`);
    }
    if ('invalid' in parsed) {
      // A redelivery, or a broken message reusing the id of a finished job: its status stands.
      const previous = await this.options.store.readStatus(parsed.jobId).catch((error: unknown) => {
        if (error instanceof StorageFault) this.pause('storage', error.message);
        throw error;
      });
      if (previous) {
        this.emit('job_duplicate', { jobId: parsed.jobId, state: previous.state });
        return message;
      }
      await this.fail(parsed.jobId, parsed.type, parsed.invalid);
      return message;
    }
    const job = parsed.job;
    const abort = new AbortController();
    const running: RunningJob = {
      receiptHandle: message.ReceiptHandle ?? '',
      abort,
      stopHeartbeat: this.startHeartbeat(message.ReceiptHandle ?? ''),
      settled: Promise.resolve(),
    };
    const work = this.runJob(job, message, receiveCount, abort.signal);
    running.settled = work.catch(() => undefined);
    this.inFlight.set(id, running);
    try {
      return await work;
    } finally {
      this.inFlight.delete(id);
      await running.stopHeartbeat();
    }
  }

  private async runJob(
    job: Job,
    message: Message,
    receiveCount: number,
    signal: AbortSignal,
  ): Promise<Message | undefined> {
    this.activity?.record();
    this.emit('job_started', { jobId: job.jobId, type: job.type, receiveCount });
    try {
      await this.process(job, Number(message.Attributes?.SentTimestamp ?? this.clock().getTime()), signal);
      return message; // acknowledged: deleted only now, after the result is on EFS
    } catch (error) {
      if (signal.aborted && this.draining) return undefined; // the drain hands it back
      if (error instanceof StorageFault) {
        this.pause('storage', error.message);
        this.emit('job_retry', { jobId: job.jobId, error: error.message });
        throw error;
      }
      const reason = (error as Error).message;
      if (error instanceof InputError || (error instanceof OpenVoiceError && error.permanent)) {
        await this.fail(job.jobId, job.type, reason);
        return message;
      }
      if (receiveCount >= (this.options.maxReceiveCount ?? 5)) {
        await this.fail(job.jobId, job.type, `gave up after ${receiveCount} attempts: ${reason}`);
        return message;
      }
      this.emit('job_retry', { jobId: job.jobId, error: reason, receiveCount });
      if (error instanceof OpenVoiceError) {
        this.pause(error.status === 401 || error.status === 403 ? 'auth' : 'openvoice', reason);
      }
      throw error;
    } finally {
      this.activity?.record();
    }
  }

  private async process(job: Job, requestedAt: number, signal: AbortSignal): Promise<void> {
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
      // The output first, the status last: a reader that sees "done" finds the whole output.
      const output = await store.writeAtomically(`outputs/${job.jobId}.wav`, wav);
      await store.writeStatus({
        jobId: job.jobId,
        type: job.type,
        state: 'done',
        output,
        finishedAt: this.clock().toISOString(),
      });
    } else {
      const reference = await store.openReference(
        job.referencePath,
        this.options.maxReferenceBytes ?? 10 * 1024 * 1024,
      );
      try {
        await openVoice.createVoice(job.voiceId, reference, requestedAt, signal);
      } finally {
        await reference.handle.close();
      }
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

  /** Records a job as failed for good; a storage fault while doing so pauses and keeps the job. */
  private async fail(jobId: string, type: string, error: string): Promise<void> {
    try {
      await this.options.store.writeStatus({
        jobId,
        type,
        state: 'failed',
        error,
        finishedAt: this.clock().toISOString(),
      });
    } catch (writeError) {
      if (writeError instanceof StorageFault) this.pause('storage', writeError.message);
      throw writeError;
    }
    this.emit('job_failed', { jobId, error });
  }

  /** Keeps a running job hidden from other receivers; the returned stop waits for a call in flight. */
  private startHeartbeat(receiptHandle: string): () => Promise<void> {
    let extending: Promise<unknown> = Promise.resolve();
    const timer = setInterval(
      () => {
        extending = this.options.sqs
          .send(
            new ChangeMessageVisibilityCommand({
              QueueUrl: this.options.queueUrl,
              ReceiptHandle: receiptHandle,
              VisibilityTimeout: this.options.visibilityTimeoutS ?? 120,
            }),
          )
          .catch((error: unknown) => this.emit('error', error));
      },
      (this.options.heartbeatS ?? 30) * 1000,
    );
    return async () => {
      clearInterval(timer);
      await extending;
    };
  }

  /**
   * OpenVoice or the storage failed for a passing reason: close the receive gate until it
   * recovers, so an outage costs each waiting job nothing (a job retried into a dead service
   * would use up its receives). The consumer's loop stays the only one.
   */
  private pause(reason: PauseReason, detail: string): void {
    if (this.pausedFor.has(reason) || this.draining) return;
    this.pausedFor.set(reason, detail);
    this.gate.close(reason);
    this.emit('paused', { reason, detail });
    void this.recover(reason);
  }

  private async recover(reason: PauseReason): Promise<void> {
    const checks: Record<PauseReason, () => Promise<boolean>> = {
      openvoice: () => this.options.openVoice.healthy(),
      auth: () => this.options.openVoice.authorized(),
      storage: () =>
        this.options.store.probe().then(
          () => true,
          () => false,
        ),
    };
    const check = checks[reason];
    do await sleep(this.options.pollMs ?? 5000);
    while (!this.draining && !(await check()));
    this.pausedFor.delete(reason);
    if (this.draining) return;
    this.gate.reopen(reason);
    this.emit('resumed', { reason });
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
   * Polls the state the group is taking this instance to, like the spot notice. On Terminated
   * (the scaler retired it, or an instance refresh or rebalance replaces it) the worker drains,
   * then lets the group go on without waiting out the hook.
   */
  private async watchScaleIn(scaleIn: ScaleInOptions, instanceId: string): Promise<void> {
    if (this.scaleInStarted) return;
    try {
      const state = await this.options.metadata.targetLifecycleState();
      if (state !== 'Terminated' || this.scaleInStarted) return;
      this.scaleInStarted = true;
      this.emit('scale_in', { instanceId, groupName: scaleIn.groupName });
      await this.drain('scale-in', scaleIn.graceMs ?? 150_000);
      await scaleIn.autoScaling.send(
        new CompleteLifecycleActionCommand({
          AutoScalingGroupName: scaleIn.groupName,
          LifecycleHookName: scaleIn.hookName,
          InstanceId: instanceId,
          LifecycleActionResult: 'CONTINUE',
        }),
      );
      this.emit('lifecycle_completed', { instanceId, hookName: scaleIn.hookName });
    } catch (error) {
      // The hook's default result (CONTINUE) ends the wait anyway once its heartbeat times out.
      this.emit('error', error);
    }
  }

  private async handBack(receiptHandle: string): Promise<void> {
    try {
      await this.options.sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: this.options.queueUrl,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: 0,
        }),
      );
    } catch (error) {
      this.emit('error', error);
    }
  }

  /**
   * Stops taking jobs, lets running ones finish within `graceMs`, and makes the rest visible
   * again at once so another start picks them up: nothing is lost. A message that a long poll
   * already in flight delivers afterwards is handed back the same way.
   */
  drain(reason: string, graceMs: number): Promise<void> {
    this.draining ??= (async () => {
      this.emit('draining', { reason, inFlight: this.inFlight.size, graceMs });
      for (const timer of this.timers) clearInterval(timer);
      this.timers = [];
      this.gate.close('draining');
      for (const consumer of this.consumers) consumer.stop();
      const deadline = Date.now() + graceMs;
      while (this.inFlight.size > 0 && Date.now() < deadline) await sleep(50);
      const released = [...this.inFlight.values()];
      for (const job of released) job.abort.abort();
      // Wait for the aborted jobs (a hung file operation may never return: not forever), and for
      // their heartbeats, so no extension lands after the reset below.
      if (released.length > 0) {
        await Promise.race([Promise.all(released.map((job) => job.settled)), sleep(5000, true)]);
      }
      await Promise.all(released.map((job) => job.stopHeartbeat()));
      await Promise.all(released.map((job) => this.handBack(job.receiptHandle)));
      await this.activity?.flush();
      this.emit('drained', { reason, released: released.length });
    })();
    return this.draining;
  }
}

/** `unref`: a wait that must not keep the process alive on its own. */
function sleep(ms: number, unref = false): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (unref) timer.unref();
  });
}
