import type { Ec2ErrorCode, ScalerMemory } from './model.js';

/**
 * The tag contract between the stacks, the scaler, the queue worker and `gpu-manage`.
 *
 * The scaler's memory lives in tags of the GPU instance, so the CLI can read it and nothing
 * else needs a database. Only CreateTags is ever needed: an empty value means "not set".
 */
export const TAG_PREFIX = 'gpu-fleet:';

export const TAGS = {
  /** Value: the fleet's appName. On every resource; how the scaler and CLI find the fleet. */
  fleet: `${TAG_PREFIX}fleet`,
  /** Value: 'app' | 'gpu'. On the instances. */
  role: `${TAG_PREFIX}role`,
  /**
   * Value: `<stack id>/<logical id>` of the host slot that launched it. On everything a host slot
   * launches (instance, volume, interface, spot request): how the slot finds what is its own.
   */
  owner: `${TAG_PREFIX}owner`,
  /** Value: the idempotency token of the launch, telling a slot's new instance from the one it replaces. */
  launch: `${TAG_PREFIX}launch`,
  /** Written by the queue worker once OpenVoice answers healthy: ISO time. */
  readyAt: `${TAG_PREFIX}ready-at`,
  /**
   * Written by the queue worker when a job starts, while it runs (with each visibility heartbeat,
   * at least every WORKER_ACTIVITY_REFRESH_SECONDS) and when it ends, at most once every 30 s with
   * a trailing write of the latest job end: ISO time. Idleness counts from it, per worker; the
   * scaler never writes it.
   */
  lastJobAt: `${TAG_PREFIX}last-job-at`,
  /**
   * Written by a burst worker's queue worker on its own instance once its group is terminating it
   * and it has drained (every job in hand finished or handed back, its last-job tag flushed): ISO
   * time. The scaler then completes the group's drain hook for it; a worker may tag only itself.
   */
  drainedAt: `${TAG_PREFIX}drained-at`,
  /** Written by the operator's commands (start with --hold, hold, stop ends it): ISO time. */
  holdUntil: `${TAG_PREFIX}hold-until`,
  /** Written by the operator's stop: no automatic start before this ISO time; a start ends it. */
  pausedUntil: `${TAG_PREFIX}paused-until`,
  /**
   * Written with a hold by `start-gpu --workers N --hold …`: the scaler keeps at least N burst
   * workers until holdUntil. Any other start or stop clears it; `hold` keeps it.
   */
  burstHoldWorkers: `${TAG_PREFIX}burst-hold-workers`,
  pendingSince: `${TAG_PREFIX}pending-since`,
  transitionSince: `${TAG_PREFIX}transition-since`,
  lastAction: `${TAG_PREFIX}last-action`,
  lastActionAt: `${TAG_PREFIX}last-action-at`,
  lastReason: `${TAG_PREFIX}last-reason`,
  lastError: `${TAG_PREFIX}last-error`,
  errorSince: `${TAG_PREFIX}error-since`,
  failedStarts: `${TAG_PREFIX}failed-starts`,
  retryAt: `${TAG_PREFIX}retry-at`,
  /** The burst decision's memory, on the primary beside the rest of the scaler's. */
  burstSpotFailingSince: `${TAG_PREFIX}burst-spot-failing-since`,
  burstOnDemandSince: `${TAG_PREFIX}burst-on-demand-since`,
  burstLastReason: `${TAG_PREFIX}burst-last-reason`,
  burstBootPausedUntil: `${TAG_PREFIX}burst-boot-paused-until`,
  /**
   * On the app host: a scheduled start or stop that failed and the scaler's tick retries, with the
   * end of its window (`start until <ISO time>`). Written by the scheduled action, cleared by the
   * tick when it succeeds or the window ends, and by an operator's start or stop of the app host.
   */
  scheduledAction: `${TAG_PREFIX}scheduled-action`,
} as const;

export type Role = 'app' | 'gpu';

/** Value of the role tag on the Auto Scaling group's extra GPU workers: not a host role. */
export const BURST_ROLE = 'burst';

/**
 * The memory tags the scaler owns. holdUntil, pausedUntil and burstHoldWorkers belong to the operator's commands,
 * readyAt, lastJobAt and drainedAt to the worker: the scaler never writes them, so it can never wipe a value
 * another writer set between its read and its write.
 */
const SCALER_OWNED = [
  'pendingSince',
  'transitionSince',
  'lastAction',
  'lastActionAt',
  'lastReason',
  'lastError',
  'errorSince',
  'failedStarts',
  'retryAt',
  'burstSpotFailingSince',
  'burstOnDemandSince',
  'burstLastReason',
  'burstBootPausedUntil',
] as const;

/**
 * The tags the operator's commands write on the GPU: hold, pause and the burst workers a hold
 * keeps. The operator's IAM policy (docs/operations.md) allows these keys and no others.
 */
export const OPERATOR_TAG_KEYS: readonly string[] = [TAGS.holdUntil, TAGS.pausedUntil, TAGS.burstHoldWorkers];

/**
 * Every tag the scaler Lambda may write: its own memory, and the operator's hold and pause (its
 * manual events are the operator's commands). Its IAM grant allows these keys and no others.
 */
export const SCALER_WRITABLE_TAG_KEYS: readonly string[] = [
  ...SCALER_OWNED.map((field) => TAGS[field]),
  ...OPERATOR_TAG_KEYS,
];

const DATE_FIELDS = new Set([
  'pendingSince',
  'transitionSince',
  'lastActionAt',
  'errorSince',
  'retryAt',
  'burstSpotFailingSince',
  'burstOnDemandSince',
  'burstBootPausedUntil',
]);

/** EC2 tag values are at most 256 characters. */
const MAX_TAG_VALUE = 256;

/** An ISO time to the second, the form every time tag has. */
export function isoSeconds(date: Date): string {
  // Stryker disable next-line Regex: equivalent - toISOString ends in the milliseconds and Z, once
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Keeps a free-text tag value (a reason) within EC2's limits. EC2 accepts any printable
 * character in tag values (other services are stricter, but these tags live on an instance),
 * so only control characters go and the length is capped; the reason stays verbatim.
 */
export function sanitizeTagValue(text: string): string {
  return text.replace(/\p{Cc}/gu, ' ').slice(0, MAX_TAG_VALUE);
}

/** Reads a time tag; empty or malformed values read as absent. */
export function parseTagDate(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * How far ahead of the reader's clock a reported time may be and still count: the hosts, the
 * Lambda and the operator's machine keep time by NTP, and tag times are cut to the second.
 */
export const TAG_CLOCK_SKEW_MS = 60_000;

/**
 * A time that a tag says has already happened (a worker's ready or last-job time), or undefined
 * when it lies further ahead of `now` than TAG_CLOCK_SKEW_MS. Such a time is wrong (a bad clock)
 * or forged; read as it is, it would keep a worker "busy" until then.
 */
export function pastTime(date: Date | undefined, now: Date): Date | undefined {
  return date !== undefined && date.getTime() <= now.getTime() + TAG_CLOCK_SKEW_MS ? date : undefined;
}

/** What a GPU worker, the primary or a burst worker, reports about itself through its own tags. */
export interface WorkerReport {
  /** When the worker last reported ready (its queue worker saw OpenVoice healthy). */
  readonly readyAt?: Date;
  /** The start or end of its latest job. */
  readonly lastJobAt?: Date;
}

/** Reads a worker's report from its tags; empty or malformed values read as absent. */
export function workerReportFromTags(tags: Readonly<Record<string, string>>): WorkerReport {
  return { readyAt: parseTagDate(tags[TAGS.readyAt]), lastJobAt: parseTagDate(tags[TAGS.lastJobAt]) };
}

/** Reads the scaler's memory from the GPU instance's tags; unknown or malformed values read as absent. */
export function memoryFromTags(tags: Readonly<Record<string, string>>): ScalerMemory {
  const lastAction = tags[TAGS.lastAction];
  // Stryker disable next-line StringLiteral: equivalent - any text without digits parses as NaN, as the empty one
  const failedStarts = Number.parseInt(tags[TAGS.failedStarts] ?? '', 10);
  const burstHoldWorkers = Number(tags[TAGS.burstHoldWorkers] || Number.NaN);
  return {
    pendingSince: parseTagDate(tags[TAGS.pendingSince]),
    transitionSince: parseTagDate(tags[TAGS.transitionSince]),
    holdUntil: parseTagDate(tags[TAGS.holdUntil]),
    pausedUntil: parseTagDate(tags[TAGS.pausedUntil]),
    burstHoldWorkers:
      Number.isInteger(burstHoldWorkers) && burstHoldWorkers > 0 ? burstHoldWorkers : undefined,
    lastAction: lastAction === 'start' || lastAction === 'stop' ? lastAction : undefined,
    lastActionAt: parseTagDate(tags[TAGS.lastActionAt]),
    lastReason: tags[TAGS.lastReason] || undefined,
    lastError: (tags[TAGS.lastError] || undefined) as Ec2ErrorCode | undefined,
    errorSince: parseTagDate(tags[TAGS.errorSince]),
    failedStarts: Number.isFinite(failedStarts) && failedStarts > 0 ? failedStarts : undefined,
    retryAt: parseTagDate(tags[TAGS.retryAt]),
    burstSpotFailingSince: parseTagDate(tags[TAGS.burstSpotFailingSince]),
    burstOnDemandSince: parseTagDate(tags[TAGS.burstOnDemandSince]),
    burstLastReason: tags[TAGS.burstLastReason] || undefined,
    burstBootPausedUntil: parseTagDate(tags[TAGS.burstBootPausedUntil]),
  };
}

function encodeField(memory: ScalerMemory, field: keyof ScalerMemory): string {
  const value = memory[field];
  if (value === undefined) return '';
  if (DATE_FIELDS.has(field)) return isoSeconds(value as Date);
  return sanitizeTagValue(String(value));
}

/**
 * The tags to write so that the instance holds `next`: only those of the scaler's own fields
 * whose value changed since `previous`. Operator and worker tags are never written, not even to
 * clear an expired hold (the scaler ignores expired values instead), so no write can race theirs.
 */
export function memoryTagChanges(previous: ScalerMemory, next: ScalerMemory): Record<string, string> {
  const changes: Record<string, string> = {};
  for (const field of SCALER_OWNED) {
    const before = encodeField(previous, field);
    const after = encodeField(next, field);
    if (before !== after) changes[TAGS[field]] = after;
  }
  return changes;
}
