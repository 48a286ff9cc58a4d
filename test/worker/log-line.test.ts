import { logLine } from '../../docker/worker/src/log-line';
import { parseJobLine } from '../../src/cli/logs';

const TIME = new Date('2026-11-24T03:00:00.250Z');
const CONTEXT = { health: { healthy: true }, stats: { running: 1 } };

describe("the worker's log lines: the contract of the metric filters and gpu-manage logs --job", () => {
  it('a started job carries its queue wait as a JSON number', () => {
    const line = logLine('job_started', { jobId: 'job-1', type: 'synthesize', waitMs: 4200 }, TIME, CONTEXT);
    expect(JSON.parse(line)).toMatchObject({ level: 'info', msg: 'job', state: 'started', waitMs: 4200 });
    expect(parseJobLine(line)).toEqual({
      jobId: 'job-1',
      type: 'synthesize',
      state: 'started',
      waitMs: 4200,
      durationMs: undefined,
      output: undefined,
      error: undefined,
    });
  });

  it('a done job carries its duration and output; a failed one its error, at level error', () => {
    const done = logLine(
      'job_done',
      { jobId: 'job-1', type: 'synthesize', durationMs: 9100, output: 'outputs/job-1.wav' },
      TIME,
      CONTEXT,
    );
    expect(parseJobLine(done)).toMatchObject({
      state: 'done',
      durationMs: 9100,
      output: 'outputs/job-1.wav',
    });
    const failed = logLine(
      'job_failed',
      { jobId: 'job-2', type: 'clone-voice', durationMs: 30, error: 'reference is not a WAV' },
      TIME,
      CONTEXT,
    );
    expect(JSON.parse(failed)).toMatchObject({ level: 'error', state: 'failed' });
    expect(parseJobLine(failed)).toMatchObject({ jobId: 'job-2', error: 'reference is not a WAV' });
  });

  it('other events are one JSON line without a job state, so no job metric counts them', () => {
    const paused = logLine('paused', { reason: 'openvoice' }, TIME, CONTEXT);
    expect(JSON.parse(paused)).toEqual({
      time: '2026-11-24T03:00:00.250Z',
      level: 'info',
      msg: 'paused',
      event: 'paused',
      reason: 'openvoice',
      ...CONTEXT,
    });
    expect(parseJobLine(paused)).toBeUndefined();
    expect(JSON.parse(logLine('error', new Error('boom'), TIME, CONTEXT))).toMatchObject({
      level: 'error',
      error: 'boom',
    });
  });

  it('a duplicate of a recorded job is no job state change: its state is named jobState, so no metric counts it', () => {
    const duplicate = logLine(
      'job_duplicate',
      { jobId: 'job-1', state: 'failed', messageId: 'm-2' },
      TIME,
      CONTEXT,
    );
    expect(JSON.parse(duplicate)).toMatchObject({ msg: 'job_duplicate', jobId: 'job-1', jobState: 'failed' });
    expect(JSON.parse(duplicate)).not.toHaveProperty('state');
    expect(parseJobLine(duplicate)).toBeUndefined();
  });
});
