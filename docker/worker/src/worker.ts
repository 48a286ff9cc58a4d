import { EventEmitter } from 'node:events';
import { CreateTagsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import { Consumer } from 'sqs-consumer';
import { ActivityTag, isoSecond } from './activity.js';
import { ReceiveGate } from './gate.js';
import type { InstanceMetadata } from './imds.js';
import { type Job, type ParsedMessage, type SynthesizeJob, parseJob } from './job.js';
import { Lease, SENT_AT_ATTRIBUTE } from './lease.js';
import { OpenVoiceError, type OpenVoiceClient } from './openvoice.js';
import { speechProblem } from './speech.js';
import { type Claim, InputError, type ResultStore, StorageFault } from './store.js';

/** The tag the scaler reads to count idle time from readiness (src/core/tags.ts TAGS.readyAt). */
export const READY_TAG = 'gpu-fleet:ready-at';

/**
 * The tag a burst worker writes on its own instance once it has drained for its termination
 * (src/core/tags.ts TAGS.drainedAt): the scaler then completes the group's drain hook for it.
 */
export const DRAINED_TAG = 'gpu-fleet:drained-at';

/** The lifecycle events a QueueWorker emits (besides 'error'). */
export const WORKER_EVENTS = [
  'ready',
  'job_started',
  'job_done',
  'job_duplicate',
  'job_deferred',
  'job_failed',
  'job_retry',
  'job_handed_back',
  'job_requeued',
  'malformed',
  'visibility_lost',
  'storage_late',
  'spot_interruption',
  'scale_in',
  'drained_tagged',
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
   * The queue's maxReceiveCount (lib/data-stack.ts): a job that must go back to the queue on
   * that receive goes back as a fresh copy instead, so only non-jobs reach the DLQ. @default 5
   */
  readonly maxReceiveCount?: number;
  /**
   * Failed attempts after which a job is failed for good. Counted in the job's own record on EFS,
   * only for faults that are the job's (hand-backs and outages cost nothing). @default maxReceiveCount
   */
  readonly maxAttempts?: number;
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
  /** Longest wait between probes while OpenVoice keeps failing job after job. @default 300000 */
  readonly maxPauseMs?: number;
  /** How long a synthesis answered 404 waits before it asks once more (a profile switching). @default 1000 */
  readonly profileSwitchWaitMs?: number;
  /** Minimum milliseconds between writes of the last-job-at tag. @default 30000 */
  readonly activityIntervalMs?: number;
  readonly clock?: () => Date;
  /**
   * A burst worker's group: when the group terminates the instance, the worker drains and then
   * tags its own instance drained; the scaler completes the group's termination hook on its next
   * tick, so the instance goes within a minute. Absent on the primary.
   */
  readonly scaleIn?: ScaleInOptions;
}

export interface ScaleInOptions {
  /** The group the instance belongs to, named in the worker's scale-in line. */
  readonly groupName: string;
  /**
   * How long running jobs may take to finish before they are handed back; within the hook's
   * heartbeat timeout (3 minutes), with a margin for the hand-back, the tag and the scaler's
   * next tick.
   * @default 150000
   */
  readonly graceMs?: number;
}

/** What the worker waits for: OpenVoice healthy, the storage writable, OpenVoice taking our token. */
type PauseReason = 'openvoice' | 'storage' | 'auth';

/** How a run ends: its message is deleted, or it goes back to the queue after a delay. */
type Outcome = 'done' | { readonly retryInS: number };

/** One delivery of one message, from receipt until its message is deleted or given back. */
interface Run {
  readonly message: Message;
  readonly lease: Lease;
  readonly abort: AbortController;
  claim?: Claim;
  /** The run returned its message for deletion. */
  acknowledged: boolean;
  /** The run gave its message back to the queue itself. */
  returned: boolean;
  settled: Promise<unknown>;
}

/**
 * The queue worker: waits for OpenVoice to be healthy, reports ready with a tag on its own
 * instance, then consumes jobs, at most `slots` at a time. Every message with a valid jobId ends
 * with exactly one status file (done or failed, with the reason), published once and never
 * replaced; only messages that are not jobs go to the DLQ. A job id is claimed on EFS before
 * OpenVoice is called, so a job runs once however many messages or workers carry it. A job's
 * message is deleted only after its result and status are on EFS. When OpenVoice or the storage
 * fails, the worker pauses (the job waits in the queue) until a probe passes.
 *
 * Lifecycle events: WORKER_EVENTS, and error.
 */
export class QueueWorker extends EventEmitter {
  private consumers: Consumer[] = [];
  private readonly runs = new Set<Run>();
  private readonly malformed = new Set<string>();
  private readonly gate = new ReceiveGate();
  private readonly pausedFor = new Map<PauseReason, string>();
  private timers: NodeJS.Timeout[] = [];
  private draining: Promise<void> | undefined;
  private scaleInStarted = false;
  private activity: ActivityTag | undefined;
  private readonly clock: () => Date;
  /** The job whose OpenVoice call failed last, with no success since; undefined after a success. */
  private lastFaultOf: string | undefined;
  /** Failed OpenVoice calls in a row, across jobs: how long a pause waits between probes. */
  private faultStreak = 0;
  private extensionsFailed = 0;

  constructor(private readonly options: WorkerOptions) {
    super();
    this.clock = options.clock ?? (() => new Date());
    options.store.on('late', (late: unknown) => this.emit('storage_late', late));
  }

  private get retryDelayS(): number {
    return this.options.retryDelayS ?? 30;
  }

  private readonly now = () => this.clock().getTime();
  /** When each running job started (ms), for the duration its done or failed line carries. */
  private readonly startedAt = new Map<string, number>();

  private get maxReceiveCount(): number {
    return this.options.maxReceiveCount ?? 5;
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

  /** Counters for the log: visibility extensions that failed (ownership of a message at risk). */
  stats(): { visibilityExtensionsFailed: number; running: number } {
    return { visibilityExtensionsFailed: this.extensionsFailed, running: this.runs.size };
  }

  /** Waits for OpenVoice, tags the instance ready, starts consuming and watching for spot notices. */
  async start(signal?: AbortSignal): Promise<void> {
    const pollMs = this.options.pollMs ?? 5000;
    const instanceId = await this.options.metadata.instanceId();
    // From boot, not from ready: a burst worker retired while it still boots (never ready, a
    // replaced spot worker) says it drained at once instead of holding the hook 3 minutes.
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
        messageAttributeNames: [SENT_AT_ATTRIBUTE],
        preReceiveMessageCallback: () => this.gate.pass(),
        // Only what the handler throws comes here: a malformed message comes back at once until
        // SQS moves it to the DLQ; anything unforeseen waits a little before its retry.
        terminateVisibilityTimeout: (messages) =>
          messages.some((m) => this.malformed.has(m.MessageId ?? '')) ? 0 : this.retryDelayS,
        handleMessage: (message) => this.handle(message),
      });
      consumer.on('error', (error) => this.emit('error', error));
      consumer.on('processing_error', (error) => this.emit('error', error));
      consumer.start();
      this.consumers.push(consumer);
    }
    this.timers.push(setInterval(() => void this.watchSpot(), pollMs));
  }

  /** Tracks every delivery, whatever it turns out to be, so a drain waits for or hands back each. */
  private async handle(message: Message): Promise<Message | undefined> {
    const run: Run = {
      message,
      lease: this.lease(message, () => run.claim),
      abort: new AbortController(),
      acknowledged: false,
      returned: false,
      settled: Promise.resolve(),
    };
    this.runs.add(run);
    const work = this.serve(run).then((result) => {
      run.acknowledged = result !== undefined;
      return result;
    });
    run.settled = work.catch(() => undefined);
    try {
      return await work;
    } finally {
      this.runs.delete(run);
      await run.lease.stop();
    }
  }

  private async serve(run: Run): Promise<Message | undefined> {
    const messageId = run.message.MessageId ?? '';
    if (!this.gate.open) {
      // Delivered by a long poll already past the gate when the worker paused or began to drain.
      this.emit('job_handed_back', { messageId, reason: this.draining ? 'draining' : 'paused' });
      await this.giveBack(run, 0);
      return undefined;
    }
    const parsed = parseJob(run.message.Body);
    if ('malformed' in parsed) {
      this.malformed.add(messageId);
      this.emit('malformed', { messageId, error: parsed.malformed, receiveCount: run.lease.receiveCount });
      throw new Error(`malformed job message ${messageId}: ${parsed.malformed}`);
    }
    const jobId = 'job' in parsed ? parsed.job.jobId : parsed.jobId;
    let outcome: Outcome;
    try {
      outcome = await this.serveClaimed(run, jobId, parsed);
    } catch (error) {
      if (!(error instanceof StorageFault)) throw error;
      this.pause('storage', error.slow ? `slow or hung: ${error.message}` : error.message);
      this.emit('job_retry', { jobId, error: error.message });
      outcome = { retryInS: this.retryDelayS };
    }
    if (outcome === 'done') return run.message; // deleted now, after the status is on EFS
    await this.giveBack(run, outcome.retryInS);
    return undefined;
  }

  /** Claims the job id, runs what the message asks under the claim, and gives the claim up. */
  private async serveClaimed(run: Run, jobId: string, parsed: Exclude<ParsedMessage, { malformed: string }>) {
    const { store } = this.options;
    const messageId = run.message.MessageId ?? '';
    const claimed = await store.claim(jobId, messageId, (this.options.visibilityTimeoutS ?? 120) * 1000);
    if ('heldBy' in claimed) {
      if (claimed.heldBy !== messageId && claimed.heldBy !== 'unknown') {
        // Another message for a job that is running: the holder's message stays in the queue
        // until the job's status is written, so this copy adds nothing.
        this.emit('job_duplicate', { jobId, state: 'running', messageId });
        return 'done';
      }
      // This very message is still running (its visibility lapsed, or the worker holding it died
      // and its claim is not stale yet): it waits, it does not run twice.
      this.emit('job_deferred', { jobId, messageId });
      return { retryInS: this.retryDelayS };
    }
    run.claim = claimed.claim;
    try {
      const previous = await store.readStatus(jobId);
      if (previous) {
        this.emit('job_duplicate', { jobId, state: previous.state, messageId });
        return 'done';
      }
      if ('invalid' in parsed) {
        await this.fail(jobId, parsed.type, parsed.invalid);
        return 'done';
      }
      return await this.runJob(run, parsed.job);
    } finally {
      run.claim = undefined;
      // Before the message goes back: a copy sent now must find the id free.
      await store.releaseClaim(claimed.claim).catch((error: unknown) => this.emit('error', error));
    }
  }

  private async runJob(run: Run, job: Job): Promise<Outcome> {
    const attempts = await this.options.store.readAttempts(job.jobId);
    this.activity?.record();
    const startedAt = this.now();
    this.startedAt.set(job.jobId, startedAt);
    this.emit('job_started', {
      jobId: job.jobId,
      type: job.type,
      waitMs: Math.max(0, startedAt - run.lease.sentAt(this.now)),
      receiveCount: run.lease.receiveCount,
      attempt: attempts + 1,
    });
    try {
      await this.process(job, run);
      this.lastFaultOf = undefined;
      this.faultStreak = 0;
      return 'done';
    } catch (error) {
      if (error instanceof StorageFault) throw error;
      if (run.abort.signal.aborted) return { retryInS: 0 }; // a drain takes it back
      const reason = (error as Error).message;
      if (error instanceof InputError || (error instanceof OpenVoiceError && error.permanent)) {
        await this.fail(job.jobId, job.type, reason);
        return 'done';
      }
      return await this.onFault(job, attempts, error);
    } finally {
      this.startedAt.delete(job.jobId);
      this.activity?.record();
    }
  }

  /**
   * A passing fault (OpenVoice 5xx, no answer, no speech). It is judged by what fails: right
   * after another job's fault it is the service's, not this job's, and costs the job nothing;
   * after a success, or again for this same job, it is charged to the job's own record. Either
   * way the worker pauses until a probe passes, waiting longer while faults go on.
   */
  private async onFault(job: Job, attempts: number, error: unknown): Promise<Outcome> {
    const reason = (error as Error).message;
    const refused = error instanceof OpenVoiceError && (error.status === 401 || error.status === 403);
    const charged = !refused && (this.lastFaultOf === undefined || this.lastFaultOf === job.jobId);
    this.lastFaultOf = job.jobId;
    this.faultStreak += 1;
    const attempt = charged ? attempts + 1 : attempts;
    if (charged && attempt >= (this.options.maxAttempts ?? this.maxReceiveCount)) {
      await this.fail(job.jobId, job.type, `gave up after ${attempt} attempts: ${reason}`);
      return 'done';
    }
    if (charged) await this.options.store.writeAttempts(job.jobId, attempt);
    this.emit('job_retry', { jobId: job.jobId, error: reason, attempt, charged });
    if (error instanceof OpenVoiceError) this.pause(refused ? 'auth' : 'openvoice', reason);
    return { retryInS: this.retryDelayS };
  }

  private async process(job: Job, run: Run): Promise<void> {
    const { store, openVoice } = this.options;
    const signal = run.abort.signal;
    // What the done status names: a synthesis's output, a clone's voice.
    let result: { output: string } | { voiceId: string };
    if (job.type === 'synthesize') {
      const wav = await this.synthesize(job, signal);
      // The output first, the status last: a reader that sees "done" finds the whole output.
      result = { output: `outputs/${job.jobId}.wav` };
      await store.writeAtomically(result.output, wav);
    } else {
      const reference = await store.openReference(
        job.referencePath,
        this.options.maxReferenceBytes ?? 10 * 1024 * 1024,
      );
      try {
        await openVoice.createVoice(job.voiceId, reference, run.lease.sentAt(this.now), signal);
      } finally {
        await reference.handle.close();
      }
      result = { voiceId: job.voiceId };
    }
    const published = await store.writeStatus({
      jobId: job.jobId,
      type: job.type,
      state: 'done',
      ...result,
      finishedAt: this.clock().toISOString(),
    });
    await this.finished(job.jobId, published);
    if (published) {
      this.emit('job_done', {
        jobId: job.jobId,
        type: job.type,
        durationMs: this.durationOf(job.jobId),
        ...(job.type === 'synthesize' && { output: `outputs/${job.jobId}.wav` }),
      });
    }
  }

  /** Speech for the job, checked: anything but a whole WAV of plausible length is a fault. */
  private async synthesize(job: SynthesizeJob, signal: AbortSignal): Promise<Uint8Array> {
    const request = { text: job.text, language: job.language, voiceId: job.voiceId, speed: job.speed };
    let wav: Uint8Array;
    try {
      wav = await this.options.openVoice.synthesize(request, signal);
    } catch (error) {
      // A profile switching to a new version can be missing for a moment: one more question
      // before "does not exist" is final.
      if (!(error instanceof OpenVoiceError && error.status === 404)) throw error;
      await sleep(this.options.profileSwitchWaitMs ?? 1000);
      wav = await this.options.openVoice.synthesize(request, signal);
    }
    const problem = speechProblem(wav, job);
    if (problem) throw new OpenVoiceError(`OpenVoice /synthesize answered no speech: ${problem}`, 200, false);
    return wav;
  }

  /** Records a job as failed for good; a storage fault while doing so pauses and keeps the job. */
  private async fail(jobId: string, type: string, error: string): Promise<void> {
    const published = await this.options.store.writeStatus({
      jobId,
      type,
      state: 'failed',
      error,
      finishedAt: this.clock().toISOString(),
    });
    await this.finished(jobId, published);
    if (published) this.emit('job_failed', { jobId, type, durationMs: this.durationOf(jobId), error });
  }

  /** Milliseconds since the job started here; undefined for a job that never ran (invalid). */
  private durationOf(jobId: string): number | undefined {
    const startedAt = this.startedAt.get(jobId);
    return startedAt === undefined ? undefined : Math.max(0, this.now() - startedAt);
  }

  /** After a status: its run's record goes; a status that was already there is a duplicate. */
  private async finished(jobId: string, published: boolean): Promise<void> {
    if (!published) this.emit('job_duplicate', { jobId, state: 'already recorded' });
    await this.options.store.forget(jobId).catch((error: unknown) => this.emit('error', error));
  }

  /**
   * Keeps a delivery hidden from other receivers and its job's claim fresh. A failed extension
   * is counted and reported: the message may reappear, and its claim makes that copy wait.
   */
  private lease(message: Message, claim: () => Claim | undefined): Lease {
    return new Lease(message, {
      sqs: this.options.sqs,
      queueUrl: this.options.queueUrl,
      visibilityTimeoutS: this.options.visibilityTimeoutS ?? 120,
      heartbeatS: this.options.heartbeatS ?? 30,
      onBeat: async () => {
        const held = claim();
        if (!held) return;
        // A job runs: the scaler judges each worker idle from this tag, so it moves while the job does.
        this.activity?.record();
        await this.options.store.refreshClaim(held).catch((error: unknown) => this.emit('error', error));
      },
      onExtensionFailed: (error, failures) => {
        this.extensionsFailed += 1;
        this.emit('visibility_lost', {
          messageId: message.MessageId,
          jobId: claim()?.jobId,
          failures,
          total: this.extensionsFailed,
          error: (error as Error).message,
        });
      },
    });
  }

  /**
   * Puts a delivery's message back in the queue, visible after `delayS`. On the receive that the
   * queue would follow with the DLQ, a job goes back as a fresh copy instead: hand-backs and
   * outages must not use up a job's receives.
   */
  private async giveBack(run: Run, delayS: number): Promise<void> {
    run.returned = true;
    const lastReceive =
      run.lease.receiveCount >= this.maxReceiveCount && !('malformed' in parseJob(run.message.Body));
    try {
      if ((await run.lease.giveBack(delayS, lastReceive, this.now)) === 'requeued') {
        this.emit('job_requeued', { messageId: run.message.MessageId, receiveCount: run.lease.receiveCount });
      }
    } catch (error) {
      this.emit('error', error);
    }
  }

  /**
   * OpenVoice or the storage failed for a passing reason: close the receive gate until it
   * recovers, so an outage costs each waiting job nothing. The consumer's loop stays the only
   * one; a message that a poll already in flight delivers meanwhile is handed back.
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
    const pollMs = this.options.pollMs ?? 5000;
    const wait = () =>
      reason === 'openvoice'
        ? Math.min(this.options.maxPauseMs ?? 300_000, pollMs * 2 ** Math.max(0, this.faultStreak - 1))
        : pollMs;
    const check = checks[reason];
    do await sleep(wait());
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
   * then tags its own instance drained: the scaler completes the group's hook when it sees the
   * tag, so the instance goes without waiting out the hook. The worker holds no Auto Scaling
   * grant: one that could complete its own hook could complete any worker's.
   */
  private async watchScaleIn(scaleIn: ScaleInOptions, instanceId: string): Promise<void> {
    if (this.scaleInStarted) return;
    try {
      const state = await this.options.metadata.targetLifecycleState();
      if (state !== 'Terminated' || this.scaleInStarted) return;
      this.scaleInStarted = true;
      this.emit('scale_in', { instanceId, groupName: scaleIn.groupName });
      await this.drain('scale-in', scaleIn.graceMs ?? 150_000);
      const drainedAt = isoSecond(this.clock());
      await this.options.ec2.send(
        new CreateTagsCommand({ Resources: [instanceId], Tags: [{ Key: DRAINED_TAG, Value: drainedAt }] }),
      );
      this.emit('drained_tagged', { instanceId, drainedAt });
    } catch (error) {
      // The hook's default result (CONTINUE) ends the wait anyway once its heartbeat times out.
      this.emit('error', error);
    }
  }

  /**
   * Stops taking jobs, lets every delivery in hand finish within `graceMs` (jobs, and messages
   * being recorded as invalid or duplicate), and makes the rest visible again at once so another
   * start picks them up: nothing is lost. A message that a long poll already in flight delivers
   * afterwards is handed back the same way.
   */
  drain(reason: string, graceMs: number): Promise<void> {
    this.draining ??= (async () => {
      this.emit('draining', { reason, inFlight: this.runs.size, graceMs });
      for (const timer of this.timers) clearInterval(timer);
      this.timers = [];
      this.gate.close('draining');
      for (const consumer of this.consumers) consumer.stop();
      const deadline = Date.now() + graceMs;
      while (this.runs.size > 0 && Date.now() < deadline) await sleep(50);
      const released = [...this.runs];
      for (const run of released) run.abort.abort();
      // Wait for the aborted runs (a hung file operation may never return: not forever), and for
      // their heartbeats, so no extension lands after the reset below.
      if (released.length > 0) {
        await Promise.race([Promise.all(released.map((run) => run.settled)), sleep(5000, true)]);
      }
      await Promise.all(
        released.filter((run) => !run.acknowledged && !run.returned).map((run) => this.giveBack(run, 0)),
      );
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
