import { CreateTagsCommand, type EC2Client } from '@aws-sdk/client-ec2';

/**
 * The tag the scaler reads to count each worker's idle time from the end of its last job: an
 * ISO time to the second, like gpu-fleet:ready-at.
 */
export const LAST_JOB_TAG = 'gpu-fleet:last-job-at';

export interface ActivityTagOptions {
  readonly ec2: EC2Client;
  readonly instanceId: string;
  readonly clock: () => Date;
  /** At most one tag write per this many milliseconds. @default 30000 */
  readonly minIntervalMs?: number;
  /** A failed write is reported here and retried with the next one; it never fails a job. */
  readonly onError: (error: unknown) => void;
}

export function isoSecond(time: Date): string {
  return time.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Reports job activity on the worker's own instance: `record()` when a job starts, with each
 * heartbeat while it runs, and when it ends. Writes are coalesced to one per interval, and a trailing write always follows, so the
 * tag ends at the time of the last job's end (at most one interval after it). Writes run in the
 * background: a job never waits for EC2.
 */
export class ActivityTag {
  private latest: string | undefined;
  private written: string | undefined;
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private readonly minIntervalMs: number;

  constructor(private readonly options: ActivityTagOptions) {
    this.minIntervalMs = options.minIntervalMs ?? 30_000;
  }

  record(): void {
    this.latest = isoSecond(this.options.clock());
    this.schedule();
  }

  /** Writes what is pending now, ignoring the interval (the worker is about to exit). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.writing;
    if (this.latest !== this.written) await this.write();
  }

  private schedule(): void {
    if (this.timer || this.writing || this.latest === this.written) return;
    const wait = Math.max(0, this.lastWriteAt + this.minIntervalMs - this.options.clock().getTime());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.write();
    }, wait);
    this.timer.unref?.();
  }

  private write(): Promise<void> {
    const value = this.latest;
    if (value === undefined || value === this.written) return Promise.resolve();
    this.lastWriteAt = this.options.clock().getTime();
    this.writing = (async () => {
      try {
        await this.options.ec2.send(
          new CreateTagsCommand({
            Resources: [this.options.instanceId],
            Tags: [{ Key: LAST_JOB_TAG, Value: value }],
          }),
        );
        this.written = value;
      } catch (error) {
        this.options.onError(error);
      } finally {
        this.writing = undefined;
        this.schedule();
      }
    })();
    return this.writing;
  }
}
