import {
  SCALER_WRITABLE_TAG_KEYS,
  TAGS,
  isoSeconds,
  memoryFromTags,
  memoryTagChanges,
  parseTagDate,
  sanitizeTagValue,
  workerReportFromTags,
} from '../../src/core/tags';

describe('the scaler memory in tags', () => {
  it('keeps a reason within EC2 limits: control characters become spaces, at most 256 characters', () => {
    expect(sanitizeTagValue('start:\n11 jobs\twaiting\u0000')).toBe('start: 11 jobs waiting ');
    expect(sanitizeTagValue('x'.repeat(300))).toHaveLength(256);
    expect(sanitizeTagValue('jobs ≥ 10 → start ÷ 7.5')).toBe('jobs ≥ 10 → start ÷ 7.5');
    const changes = memoryTagChanges({}, { lastReason: `start: ${'y'.repeat(400)}` });
    expect(changes[TAGS.lastReason]).toHaveLength(256);
  });

  it('writes times to the second, and reads empty or malformed times as absent', () => {
    expect(isoSeconds(new Date('2026-11-24T01:02:03.456Z'))).toBe('2026-11-24T01:02:03Z');
    expect(parseTagDate('2026-11-24T01:02:03Z')).toEqual(new Date('2026-11-24T01:02:03Z'));
    expect(parseTagDate('')).toBeUndefined();
    expect(parseTagDate(undefined)).toBeUndefined();
    expect(parseTagDate('soon')).toBeUndefined();
  });

  it.each([
    ['3', 3],
    ['1', 1],
    ['0', undefined],
    ['-2', undefined],
    ['many', undefined],
    ['', undefined],
  ])('reads failed-starts %j as %p', (value, expected) => {
    expect(memoryFromTags({ [TAGS.failedStarts]: value }).failedStarts).toBe(expected);
  });

  it('reads only the actions it knows, and empty values as absent', () => {
    expect(memoryFromTags({ [TAGS.lastAction]: 'start' }).lastAction).toBe('start');
    expect(memoryFromTags({ [TAGS.lastAction]: 'stop' }).lastAction).toBe('stop');
    expect(memoryFromTags({ [TAGS.lastAction]: 'reboot' }).lastAction).toBeUndefined();
    expect(memoryFromTags({ [TAGS.lastReason]: '', [TAGS.lastError]: '' })).toMatchObject({
      lastReason: undefined,
      lastError: undefined,
    });
  });

  it('writes only the fields that changed, clears with an empty value, and never the operator or worker tags', () => {
    const since = new Date('2026-11-24T01:00:00Z');
    const previous = { pendingSince: since, failedStarts: 2, holdUntil: since };
    const next = {
      pendingSince: since,
      failedStarts: undefined,
      holdUntil: undefined,
      lastAction: 'stop' as const,
    };
    expect(memoryTagChanges(previous, next)).toEqual({
      [TAGS.failedStarts]: '',
      [TAGS.lastAction]: 'stop',
    });
    expect(SCALER_WRITABLE_TAG_KEYS).not.toContain(TAGS.readyAt);
    expect(SCALER_WRITABLE_TAG_KEYS).not.toContain(TAGS.lastJobAt);
    expect(SCALER_WRITABLE_TAG_KEYS).toEqual(expect.arrayContaining([TAGS.holdUntil, TAGS.pausedUntil]));
  });

  it("reads the operator's held burst workers as a whole number above 0, anything else as absent", () => {
    const held = (value: string) => memoryFromTags({ [TAGS.burstHoldWorkers]: value }).burstHoldWorkers;
    expect(held('2')).toBe(2);
    for (const value of ['', '0', '-1', '1.5', 'two']) expect(held(value)).toBeUndefined();
    // The scaler may write it (its manual stop clears it), and never does so from its own memory.
    expect(SCALER_WRITABLE_TAG_KEYS).toContain(TAGS.burstHoldWorkers);
    expect(memoryTagChanges({}, { burstHoldWorkers: 3 })).toEqual({});
  });

  it('reads back what it wrote', () => {
    const memory = {
      pendingSince: new Date('2026-11-24T01:00:00Z'),
      lastAction: 'start' as const,
      lastActionAt: new Date('2026-11-24T01:01:00Z'),
      lastReason: 'start: 11 jobs waiting > start backlog 10',
      lastError: 'InsufficientCapacity' as const,
      errorSince: new Date('2026-11-24T01:02:00Z'),
      failedStarts: 4,
      retryAt: new Date('2026-11-24T01:10:00Z'),
      burstSpotFailingSince: new Date('2026-11-24T01:03:00Z'),
      burstLastReason: 'burst: scale out to 3',
    };
    expect(memoryFromTags(memoryTagChanges({}, memory))).toEqual({
      transitionSince: undefined,
      holdUntil: undefined,
      pausedUntil: undefined,
      burstOnDemandSince: undefined,
      ...memory,
    });
  });
});

describe("a worker's own report in its tags", () => {
  it('reads ready-at and last-job-at, the same for the primary and a burst worker', () => {
    const tags = {
      [TAGS.role]: 'burst',
      [TAGS.readyAt]: '2026-01-05T00:06:00Z',
      [TAGS.lastJobAt]: '2026-01-05T00:07:30Z',
    };
    expect(workerReportFromTags(tags)).toEqual({
      readyAt: new Date('2026-01-05T00:06:00Z'),
      lastJobAt: new Date('2026-01-05T00:07:30Z'),
    });
  });

  it('reads a missing, empty or malformed value as absent', () => {
    expect(workerReportFromTags({})).toEqual({ readyAt: undefined, lastJobAt: undefined });
    expect(workerReportFromTags({ [TAGS.readyAt]: '', [TAGS.lastJobAt]: 'soon' })).toEqual({
      readyAt: undefined,
      lastJobAt: undefined,
    });
  });
});

describe('every time the scaler remembers is written as an ISO time to the second', () => {
  it.each([
    'pendingSince',
    'transitionSince',
    'lastActionAt',
    'errorSince',
    'retryAt',
    'burstSpotFailingSince',
    'burstOnDemandSince',
    'burstBootPausedUntil',
  ] as const)('%s', (field) => {
    const changes = memoryTagChanges({}, { [field]: new Date('2026-11-24T01:02:03.456Z') });
    expect(Object.values(changes)).toEqual(['2026-11-24T01:02:03Z']);
  });
});
