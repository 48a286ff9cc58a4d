import { FleetError } from '../../src/aws/errors';
import type { TickReport } from '../../src/control/tick';
import { tickCounters, tickLogLine } from '../../lambda/scaler/handler';

const readyAt = new Date('2026-11-24T01:05:00Z');

function report(overrides: Partial<TickReport> = {}): TickReport {
  return {
    observation: {
      queue: { waiting: 12, inFlight: 0, delayed: 1 },
      gpu: { instanceId: 'i-gpu', state: 'stopped', readyAt },
    },
    decision: {
      action: 'start',
      reason: 'start: 12 jobs wait > 10',
      memory: {},
      signals: {
        startBlockedMinutes: 0,
        runningMinutes: 0,
        bootTimedOut: false,
        workerStalled: false,
        maxRunExceeded: false,
      },
    },
    outcome: 'failed',
    error: new FleetError('InsufficientCapacity', 'no capacity', true),
    previousMemory: {},
    memory: {},
    tagsWritten: { 'gpu-fleet:last-error': 'InsufficientCapacity' },
    tagError: new FleetError('Throttled', 'slow down', true),
    ...overrides,
  };
}

describe("a tick's telemetry, from its report", () => {
  it('counts a refused start and a failed tag write, with the heartbeat', () => {
    expect(tickCounters(report())).toMatchObject({
      Heartbeat: 1,
      Starts: 0,
      StartFailures: 1,
      StopFailures: 0,
      TagWriteFailures: 1,
      TickFailures: 1,
    });
    const started = report({ outcome: 'started', error: undefined, tagError: undefined });
    expect(tickCounters(started)).toMatchObject({ Starts: 1, StartFailures: 0, TickFailures: 0 });
  });

  it('logs observed, decided, reason and acted on one line', () => {
    expect(tickLogLine(report())).toEqual({
      observed: {
        waiting: 12,
        inFlight: 0,
        delayed: 1,
        gpuState: 'stopped',
        stateReason: undefined,
        readyAt: readyAt.toISOString(),
        lastJobAt: undefined,
        holdUntil: undefined,
        pausedUntil: undefined,
      },
      decided: 'start',
      reason: 'start: 12 jobs wait > 10',
      acted: 'failed',
      error: { code: 'InsufficientCapacity', message: 'no capacity', retryable: true },
      tagsWritten: 1,
      tagError: { code: 'Throttled', message: 'slow down', retryable: true },
    });
  });
});
