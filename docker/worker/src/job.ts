/**
 * The job message contract between the backend (producer) and this worker (consumer).
 * Versioned: a message with an unknown version is refused, never guessed at.
 */

/** Create (or replace) a voice profile from a reference recording already uploaded to EFS. */
export interface CloneVoiceJob {
  readonly version: 1;
  readonly jobId: string;
  readonly type: 'clone-voice';
  readonly voiceId: string;
  /** Path of the reference audio relative to the shared directory, under uploads/. */
  readonly referencePath: string;
}

/** Speak `text` in a profile's voice; the WAV lands in outputs/<jobId>.wav. */
export interface SynthesizeJob {
  readonly version: 1;
  readonly jobId: string;
  readonly type: 'synthesize';
  readonly voiceId: string;
  readonly text: string;
  readonly language: 'EN' | 'JP' | 'ZH' | 'ES' | 'FR' | 'KR';
  /** Speaking rate, 0.5–2.0. @default 1 */
  readonly speed?: number;
}

export type Job = CloneVoiceJob | SynthesizeJob;

/**
 * What a message turned out to be:
 * - `job`: a valid job, to run;
 * - `invalid`: it names a valid jobId but something else is wrong: the job fails with a status
 *   file saying why (the backend is waiting for exactly that file);
 * - `malformed`: not a job at all (no usable jobId): nobody waits for it, it goes to the DLQ.
 */
export type ParsedMessage =
  | { readonly job: Job }
  | { readonly invalid: string; readonly jobId: string; readonly type: string }
  | { readonly malformed: string };

const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const VOICE_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;
const LANGUAGES = ['EN', 'JP', 'ZH', 'ES', 'FR', 'KR'];
export const MAX_TEXT_CHARS = 2000;
/** Segments of a reference path: no empty, ".", ".." or hidden segments, no control characters. */
const PATH_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$/;
const MAX_PATH_CHARS = 1024;
/** How much of a refused value a reason quotes: enough to recognise it, never the whole field. */
const QUOTED_CHARS = 40;

function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > QUOTED_CHARS ? `${text.slice(0, QUOTED_CHARS)}…` : text;
}

/** Parses and validates a message body; every refusal says what is wrong, for the status and the log. */
export function parseJob(body: string | undefined): ParsedMessage {
  let value: unknown;
  try {
    value = JSON.parse(body ?? '');
  } catch {
    return { malformed: 'the message body is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { malformed: 'the message body is not a JSON object' };
  }
  const m = value as Record<string, unknown>;
  if (typeof m.jobId !== 'string' || !ID.test(m.jobId)) {
    return { malformed: 'jobId must be 1-128 letters, digits, "_" or "-"' };
  }
  const jobId = m.jobId;
  const type = typeof m.type === 'string' ? m.type.slice(0, 64) : 'unknown';
  const invalid = (reason: string): ParsedMessage => ({ invalid: reason, jobId, type });
  if (m.version !== 1) return invalid(`version ${quote(m.version)} is not supported (expected 1)`);
  if (typeof m.voiceId !== 'string' || !VOICE_ID.test(m.voiceId)) {
    return invalid('voiceId must be 1-64 lowercase letters, digits or "-"');
  }
  if (m.type === 'clone-voice') {
    const ref = m.referencePath;
    if (
      typeof ref !== 'string' ||
      ref.length > MAX_PATH_CHARS ||
      !ref.startsWith('uploads/') ||
      !ref
        .split('/')
        .slice(1)
        .every((segment) => PATH_SEGMENT.test(segment))
    ) {
      return invalid(
        'referencePath must be a path under uploads/ of letters, digits, ".", "_" and "-" (no "..", hidden or empty segments)',
      );
    }
    return { job: { version: 1, jobId, type: 'clone-voice', voiceId: m.voiceId, referencePath: ref } };
  }
  if (m.type === 'synthesize') {
    if (typeof m.text !== 'string' || m.text.trim() === '' || m.text.length > MAX_TEXT_CHARS) {
      return invalid(`text must be a non-empty string of at most ${MAX_TEXT_CHARS} characters`);
    }
    if (typeof m.language !== 'string' || !LANGUAGES.includes(m.language)) {
      return invalid(`language must be one of ${LANGUAGES.join(', ')}`);
    }
    if (m.speed !== undefined && (typeof m.speed !== 'number' || !(m.speed >= 0.5 && m.speed <= 2))) {
      return invalid('speed must be a number from 0.5 to 2.0');
    }
    return {
      job: {
        version: 1,
        jobId,
        type: 'synthesize',
        voiceId: m.voiceId,
        text: m.text,
        language: m.language as SynthesizeJob['language'],
        ...(m.speed !== undefined && { speed: m.speed as number }),
      },
    };
  }
  return invalid(`type ${quote(m.type)} is not one of "clone-voice", "synthesize"`);
}
