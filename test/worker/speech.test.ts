import { MIN_SPEECH_SECONDS, speechProblem } from '../../docker/worker/src/speech';
import { wavOf } from './harness';

describe('speechProblem: a whole WAV of plausible length for the text, or why not', () => {
  const hello = { text: 'こんにちは' }; // 5 characters: at most 10 + 5 × 1 = 15 s at speed 1

  it('accepts speech of a plausible length, and a WAV with an extra chunk before the data', () => {
    expect(speechProblem(wavOf(0.5), hello)).toBeUndefined();
    expect(speechProblem(wavOf(15), hello)).toBeUndefined();
    const plain = wavOf(0.5);
    const list = Buffer.from('LIST\u0003\u0000\u0000\u0000abc\u0000', 'latin1'); // odd size, padded
    const withList = Buffer.concat([plain.subarray(0, 36), list, plain.subarray(36)]);
    withList.writeUInt32LE(withList.length - 8, 4);
    expect(speechProblem(withList, hello)).toBeUndefined();
  });

  it('reads a view into a larger buffer at its own offset', () => {
    const wav = wavOf(0.5);
    const larger = Buffer.concat([Buffer.from('junk'), wav]);
    expect(
      speechProblem(new Uint8Array(larger.buffer, larger.byteOffset + 4, wav.length), hello),
    ).toBeUndefined();
  });

  it.each([
    ['nothing', Buffer.alloc(0), '0 bytes are no WAV file'],
    ['11 bytes', Buffer.from('RIFF1234WAV'), '11 bytes are no WAV file'],
    [
      'an HTML page',
      Buffer.from('<html><body>502</body></html>'),
      'not a RIFF/WAVE file (it begins "<html><body>502<")',
    ],
    ['RIFF but not WAVE', Buffer.from('RIFF\u0004\u0000\u0000\u0000AVI '), 'not a RIFF/WAVE file'],
    ['a cut-off body', wavOf(1).subarray(0, 3000), 'declares 44144 bytes but 3000 arrived'],
  ])('refuses %s', (_, wav, problem) => {
    expect(speechProblem(wav, hello)).toContain(problem);
  });

  it('refuses a WAV without a usable fmt chunk, without data, or with a chunk past its end', () => {
    const wav = wavOf(0.5);
    const noFormat = Buffer.from(wav);
    noFormat.write('fmX ', 12, 'latin1');
    expect(speechProblem(noFormat, hello)).toBe('the WAV file has no usable "fmt " chunk');
    const shortFormat = Buffer.from(wav);
    shortFormat.writeUInt32LE(15, 16); // a fmt chunk too small to hold a byte rate
    expect(speechProblem(shortFormat, hello)).toContain('"fmt "');
    const noData = Buffer.from(wav);
    noData.write('dat4', 36, 'latin1');
    expect(speechProblem(noData, hello)).toBe('the WAV file has no "data" chunk');
    const overlong = Buffer.from(wav);
    overlong.writeUInt32LE(wav.length, 40);
    expect(speechProblem(overlong, hello)).toBe('the WAV chunk "data" runs past the end of the file');
  });

  it('finds a data chunk that ends the file, and a chunk that overruns the end by a byte', () => {
    const header = wavOf(0).subarray(0, 44); // an empty data chunk, the last 8 bytes of the file
    expect(speechProblem(header, hello)).toBe('0.000 s of audio is too short to be speech');
    const overrun = Buffer.from(wavOf(0.5));
    overrun.writeUInt32LE(overrun.length - 44 + 1, 40);
    expect(speechProblem(overrun, hello)).toBe('the WAV chunk "data" runs past the end of the file');
    const notRiff = Buffer.from(wavOf(0.5));
    notRiff.write('RIFX', 0, 'latin1');
    expect(speechProblem(notRiff, hello)).toContain('not a RIFF/WAVE file');
  });

  it('refuses audio too short to be speech, and audio too long for the text and speed', () => {
    expect(speechProblem(wavOf(MIN_SPEECH_SECONDS * 0.9), hello)).toContain('too short to be speech');
    expect(speechProblem(wavOf(MIN_SPEECH_SECONDS), hello)).toBeUndefined();
    expect(speechProblem(wavOf(16), hello)).toBe('16.0 s of audio for 5 characters is more than 15.0 s');
    expect(speechProblem(wavOf(29), { ...hello, speed: 0.5 })).toBeUndefined();
    expect(speechProblem(wavOf(8), { ...hello, speed: 2 })).toBe(
      '8.0 s of audio for 5 characters is more than 7.5 s',
    );
  });
});
