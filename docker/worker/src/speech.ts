import type { SynthesizeJob } from './job.js';

/**
 * What counts as speech from OpenVoice: a whole RIFF/WAVE file whose audio lasts a plausible time
 * for the text. Anything else (an empty or cut-off body, an HTML error page, JSON) is the service
 * failing, never a result.
 */

/** The shortest answer accepted: a blink of audio is a broken synthesis, not speech. */
export const MIN_SPEECH_SECONDS = 0.1;
/** Generous room for slow speech: seconds allowed per character of text, plus a fixed margin. */
export const MAX_SECONDS_PER_CHAR = 1;
export const SPEECH_MARGIN_SECONDS = 10;

export type SpeechRequest = Pick<SynthesizeJob, 'text' | 'speed'>;

/** Undefined when `wav` is speech for `request`; otherwise what is wrong with it, in words. */
export function speechProblem(wav: Uint8Array, request: SpeechRequest): string | undefined {
  const bytes = Buffer.from(wav.buffer, wav.byteOffset, wav.byteLength);
  if (bytes.length < 12) return `${bytes.length} bytes are no WAV file`;
  if (bytes.toString('latin1', 0, 4) !== 'RIFF' || bytes.toString('latin1', 8, 12) !== 'WAVE') {
    return `the answer is not a RIFF/WAVE file (it begins ${JSON.stringify(bytes.toString('latin1', 0, 16))})`;
  }
  const declared = bytes.readUInt32LE(4) + 8;
  if (declared !== bytes.length) {
    return `the WAV file declares ${declared} bytes but ${bytes.length} arrived`;
  }
  let byteRate: number | undefined;
  let dataBytes: number | undefined;
  for (let offset = 12; offset + 8 <= bytes.length;) {
    const id = bytes.toString('latin1', offset, offset + 4);
    const size = bytes.readUInt32LE(offset + 4);
    if (offset + 8 + size > bytes.length) return `the WAV chunk "${id}" runs past the end of the file`;
    if (id === 'fmt ' && size >= 16) byteRate = bytes.readUInt32LE(offset + 16);
    if (id === 'data') dataBytes = size;
    offset += 8 + size + (size % 2);
  }
  if (!byteRate) return 'the WAV file has no usable "fmt " chunk';
  if (dataBytes === undefined) return 'the WAV file has no "data" chunk';
  const seconds = dataBytes / byteRate;
  const speed = request.speed ?? 1;
  const longest = (SPEECH_MARGIN_SECONDS + request.text.length * MAX_SECONDS_PER_CHAR) / speed;
  if (seconds < MIN_SPEECH_SECONDS) return `${seconds.toFixed(3)} s of audio is too short to be speech`;
  if (seconds > longest) {
    return `${seconds.toFixed(1)} s of audio for ${request.text.length} characters is more than ${longest.toFixed(1)} s`;
  }
  return undefined;
}
