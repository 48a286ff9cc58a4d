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
  /** Written by the queue worker once OpenVoice answers healthy: ISO time. */
  readyAt: `${TAG_PREFIX}ready-at`,
  /** Written by the queue worker when a job starts or ends (at most every 30 s): ISO time. */
  lastJobAt: `${TAG_PREFIX}last-job-at`,
  /** Written by the GPU host's provisioning once its one-time setup is done: ISO time. */
  provisionedAt: `${TAG_PREFIX}provisioned-at`,
  /** Written by `gpu-manage start-gpu --hold` and `hold --release`: ISO time. */
  holdUntil: `${TAG_PREFIX}hold-until`,
  pendingSince: `${TAG_PREFIX}pending-since`,
  idleSince: `${TAG_PREFIX}idle-since`,
  lastAction: `${TAG_PREFIX}last-action`,
  lastActionAt: `${TAG_PREFIX}last-action-at`,
  lastReason: `${TAG_PREFIX}last-reason`,
  lastError: `${TAG_PREFIX}last-error`,
  errorSince: `${TAG_PREFIX}error-since`,
  failedStarts: `${TAG_PREFIX}failed-starts`,
  retryAt: `${TAG_PREFIX}retry-at`,
} as const;

export type Role = 'app' | 'gpu';

/** The memory tags the scaler owns; holdUntil belongs to the CLI and readyAt to the worker. */
const SCALER_OWNED = [
  'pendingSince',
  'idleSince',
  'lastAction',
  'lastActionAt',
  'lastReason',
  'lastError',
  'errorSince',
  'failedStarts',
  'retryAt',
] as const;

const DATE_FIELDS = new Set([
  'pendingSince',
  'idleSince',
  'holdUntil',
  'lastActionAt',
  'errorSince',
  'retryAt',
]);

/** EC2 tag values are at most 256 characters. */
const MAX_TAG_VALUE = 256;

/** An ISO time to the second, the form every time tag has. */
export function isoSeconds(date: Date): string {
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

function parseDate(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** Reads the scaler's memory from the GPU instance's tags; unknown or malformed values read as absent. */
export function memoryFromTags(tags: Readonly<Record<string, string>>): ScalerMemory {
  const lastAction = tags[TAGS.lastAction];
  const failedStarts = Number.parseInt(tags[TAGS.failedStarts] ?? '', 10);
  return {
    pendingSince: parseDate(tags[TAGS.pendingSince]),
    idleSince: parseDate(tags[TAGS.idleSince]),
    holdUntil: parseDate(tags[TAGS.holdUntil]),
    lastAction: lastAction === 'start' || lastAction === 'stop' ? lastAction : undefined,
    lastActionAt: parseDate(tags[TAGS.lastActionAt]),
    lastReason: tags[TAGS.lastReason] || undefined,
    lastError: (tags[TAGS.lastError] || undefined) as Ec2ErrorCode | undefined,
    errorSince: parseDate(tags[TAGS.errorSince]),
    failedStarts: Number.isFinite(failedStarts) && failedStarts > 0 ? failedStarts : undefined,
    retryAt: parseDate(tags[TAGS.retryAt]),
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
 * whose value changed since `previous`, so a hold the CLI wrote meanwhile is never overwritten.
 * An expired hold is cleared (the one CLI-owned field the scaler may reset).
 */
export function memoryTagChanges(previous: ScalerMemory, next: ScalerMemory): Record<string, string> {
  const changes: Record<string, string> = {};
  for (const field of SCALER_OWNED) {
    const before = encodeField(previous, field);
    const after = encodeField(next, field);
    if (before !== after) changes[TAGS[field]] = after;
  }
  if (previous.holdUntil !== undefined && next.holdUntil === undefined) changes[TAGS.holdUntil] = '';
  return changes;
}
