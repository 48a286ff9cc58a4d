/**
 * The job message contract between the backend (producer) and this worker (consumer).
 * Versioned: a message with an unknown version is malformed, never guessed at.
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

const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const VOICE_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;
const LANGUAGES = ['EN', 'JP', 'ZH', 'ES', 'FR', 'KR'];
export const MAX_TEXT_CHARS = 2000;

/** Parses and validates a message body; the error says what is wrong, for the log and the DLQ. */
export function parseJob(body: string | undefined): { job: Job } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(body ?? '');
  } catch {
    return { error: 'the message body is not JSON' };
  }
  if (typeof value !== 'object' || value === null) return { error: 'the message body is not a JSON object' };
  const m = value as Record<string, unknown>;
  if (m.version !== 1) return { error: `version ${JSON.stringify(m.version)} is not supported (expected 1)` };
  if (typeof m.jobId !== 'string' || !ID.test(m.jobId)) {
    return { error: 'jobId must be 1-128 letters, digits, "_" or "-"' };
  }
  if (typeof m.voiceId !== 'string' || !VOICE_ID.test(m.voiceId)) {
    return { error: 'voiceId must be 1-64 lowercase letters, digits or "-"' };
  }
  if (m.type === 'clone-voice') {
    const ref = m.referencePath;
    if (typeof ref !== 'string' || !ref.startsWith('uploads/') || ref.split('/').includes('..')) {
      return { error: 'referencePath must be a path under uploads/ without ".."' };
    }
    return {
      job: { version: 1, jobId: m.jobId, type: 'clone-voice', voiceId: m.voiceId, referencePath: ref },
    };
  }
  if (m.type === 'synthesize') {
    if (typeof m.text !== 'string' || m.text.trim() === '' || m.text.length > MAX_TEXT_CHARS) {
      return { error: `text must be a non-empty string of at most ${MAX_TEXT_CHARS} characters` };
    }
    if (typeof m.language !== 'string' || !LANGUAGES.includes(m.language)) {
      return { error: `language must be one of ${LANGUAGES.join(', ')}` };
    }
    if (m.speed !== undefined && (typeof m.speed !== 'number' || m.speed < 0.5 || m.speed > 2)) {
      return { error: 'speed must be a number from 0.5 to 2.0' };
    }
    return {
      job: {
        version: 1,
        jobId: m.jobId,
        type: 'synthesize',
        voiceId: m.voiceId,
        text: m.text,
        language: m.language as SynthesizeJob['language'],
        ...(m.speed !== undefined && { speed: m.speed as number }),
      },
    };
  }
  return { error: `type ${JSON.stringify(m.type)} is not one of "clone-voice", "synthesize"` };
}
