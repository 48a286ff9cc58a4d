import { MAX_TEXT_CHARS, parseJob } from '../../docker/worker/src/job';

describe('parseJob at its boundaries', () => {
  const synthesis = {
    version: 1,
    jobId: 'j-1',
    type: 'synthesize',
    voiceId: 'alice',
    text: 'hi',
    language: 'EN',
  };
  const cloning = {
    version: 1,
    jobId: 'c-1',
    type: 'clone-voice',
    voiceId: 'alice',
    referencePath: 'uploads/a.wav',
  };
  const parse = (value: unknown) => parseJob(JSON.stringify(value));
  const refusal = (value: unknown) => {
    const parsed = parse(value);
    return 'invalid' in parsed ? parsed.invalid : 'malformed' in parsed ? parsed.malformed : 'accepted';
  };

  it('a body that is not an object is not a job', () => {
    expect(parseJob(undefined)).toEqual({ malformed: 'the message body is not JSON' });
    for (const body of ['null', '"text"', '7', '[]']) {
      expect(parseJob(body)).toEqual({ malformed: 'the message body is not a JSON object' });
    }
  });

  it('jobId: 1–128 characters, whole', () => {
    expect(refusal({ ...synthesis, jobId: 'a'.repeat(128) })).toBe('accepted');
    expect(refusal({ ...synthesis, jobId: 'a'.repeat(129) })).toContain('jobId must be');
    expect(refusal({ ...synthesis, jobId: 'ok/../../x' })).toContain('jobId must be');
    expect(refusal({ ...synthesis, jobId: 7 })).toContain('jobId must be');
  });

  it('voiceId: 1–64 lowercase characters, whole, a string', () => {
    expect(refusal({ ...synthesis, voiceId: 'a'.repeat(64) })).toBe('accepted');
    expect(refusal({ ...synthesis, voiceId: 'a'.repeat(65) })).toContain('voiceId must be');
    expect(refusal({ ...synthesis, voiceId: 'alice/../bob' })).toContain('voiceId must be');
    expect(refusal({ ...synthesis, voiceId: ['alice'] })).toContain('voiceId must be');
  });

  it('the type of an invalid job is what it said, cut to 64 characters, or "unknown"', () => {
    expect(parse({ ...synthesis, version: 2 })).toMatchObject({ type: 'synthesize' });
    expect(parse({ ...synthesis, type: 't'.repeat(70) })).toMatchObject({ type: 't'.repeat(64) });
    expect(parse({ ...synthesis, type: 5 })).toMatchObject({
      type: 'unknown',
      invalid: 'type 5 is not one of "clone-voice", "synthesize"',
    });
  });

  it('quotes a refused value whole up to 40 characters, and its first 40 beyond', () => {
    const forty = `"${'v'.repeat(38)}"`;
    expect(refusal({ ...synthesis, version: 'v'.repeat(38) })).toBe(
      `version ${forty} is not supported (expected 1)`,
    );
    expect(refusal({ ...synthesis, version: 'v'.repeat(39) })).toBe(
      `version "${'v'.repeat(39)}… is not supported (expected 1)`,
    );
  });

  it('referencePath: a string of at most 1024 characters under uploads/', () => {
    const within = `uploads/${Array.from({ length: 5 }, () => 'a'.repeat(200)).join('/')}`;
    expect(refusal({ ...cloning, referencePath: within.slice(0, 1024) })).toBe('accepted');
    expect(refusal({ ...cloning, referencePath: `${within}/${'b'.repeat(1024 - within.length - 1)}` })).toBe(
      'accepted',
    );
    expect(
      refusal({ ...cloning, referencePath: `${within}/${'b'.repeat(1025 - within.length - 1)}` }),
    ).toContain('referencePath must be');
    expect(refusal({ ...cloning, referencePath: 42 })).toContain('referencePath must be');
    expect(refusal({ ...cloning, referencePath: 'uploads/a.wav/' })).toContain('referencePath must be');
  });

  it('text: a non-blank string of at most 2000 characters', () => {
    expect(refusal({ ...synthesis, text: 'x'.repeat(MAX_TEXT_CHARS) })).toBe('accepted');
    expect(refusal({ ...synthesis, text: 'x'.repeat(MAX_TEXT_CHARS + 1) })).toContain('text must be');
    expect(refusal({ ...synthesis, text: ' \n\t ' })).toContain('text must be');
    expect(refusal({ ...synthesis, text: '' })).toContain('text must be');
    expect(refusal({ ...synthesis, text: 12 })).toContain('text must be');
    expect(refusal({ ...synthesis, text: ['hi'] })).toContain('text must be');
  });

  it('language: one of the six, as a string', () => {
    expect(refusal({ ...synthesis, language: 'KR' })).toBe('accepted');
    expect(refusal({ ...synthesis, language: ['EN'] })).toContain('language must be');
  });

  it('speed: a number from 0.5 to 2.0, kept when given, absent when not', () => {
    for (const speed of [0.5, 1, 2])
      expect(parse({ ...synthesis, speed })).toEqual({ job: { ...synthesis, speed } });
    for (const speed of [0.49, 2.01, '1', true])
      expect(refusal({ ...synthesis, speed })).toContain('speed must be');
    expect(parse(synthesis)).toEqual({ job: synthesis });
    expect('speed' in (parse(synthesis) as { job: object }).job).toBe(false);
  });
});
