import { logLine } from '../../docker/worker/src/log-line';
import { parseJobLine } from '../../src/cli/logs';

const TIME = new Date('2026-11-24T03:00:00.250Z');
const CONTEXT = { health: { healthy: true }, stats: { running: 1 } };
const lineOf = (event: string, detail: unknown) => logLine(event, detail, TIME, CONTEXT);

describe("the worker's log lines: the contract of the metric filters and gpu-manage logs --job", () => {
  it('a started job carries its queue wait as a JSON number', () => {
    const line = lineOf('job_started', { jobId: 'job-1', type: 'synthesize', waitMs: 4200 });
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
    const done = lineOf('job_done', {
      jobId: 'job-1',
      type: 'synthesize',
      durationMs: 9100,
      output: 'outputs/job-1.wav',
    });
    expect(parseJobLine(done)).toMatchObject({
      state: 'done',
      durationMs: 9100,
      output: 'outputs/job-1.wav',
    });
    const failed = lineOf('job_failed', {
      jobId: 'job-2',
      type: 'clone-voice',
      durationMs: 30,
      error: 'reference is not a WAV',
    });
    expect(JSON.parse(failed)).toMatchObject({ level: 'error', state: 'failed' });
    expect(parseJobLine(failed)).toMatchObject({ jobId: 'job-2', error: 'reference is not a WAV' });
  });

  it('other events are one JSON line without a job state, so no job metric counts them', () => {
    const paused = lineOf('paused', { reason: 'openvoice' });
    expect(JSON.parse(paused)).toEqual({
      time: '2026-11-24T03:00:00.250Z',
      level: 'info',
      msg: 'paused',
      event: 'paused',
      reason: 'openvoice',
      ...CONTEXT,
    });
    expect(parseJobLine(paused)).toBeUndefined();
    expect(JSON.parse(lineOf('error', new Error('boom')))).toMatchObject({ level: 'error', error: 'boom' });
  });

  it('a duplicate of a recorded job is no job state change: its state is named jobState, so no metric counts it', () => {
    const duplicate = lineOf('job_duplicate', { jobId: 'job-1', state: 'failed', messageId: 'm-2' });
    expect(JSON.parse(duplicate)).toMatchObject({ msg: 'job_duplicate', jobId: 'job-1', jobState: 'failed' });
    expect(JSON.parse(duplicate)).not.toHaveProperty('state');
    expect(parseJobLine(duplicate)).toBeUndefined();
  });
});
