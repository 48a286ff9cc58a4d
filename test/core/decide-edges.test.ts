import {
  MAX_OPERATOR_DAYS,
  NO_PROGRESS_MINUTES,
  STUCK_TRANSITION_MINUTES,
  formatMinutes,
  recordStopFailure,
} from '../../src/core/decide';
import type { ScalerMemory } from '../../src/core/model';
import { at, config, decideAt, observe, running } from './decide-support';

// The boundaries of each rule, and the words and signals an operator reads from a decision.

describe('operator times at their limits', () => {
  const limit = MAX_OPERATOR_DAYS * 1440 + 1;
  it(`a hold ${MAX_OPERATOR_DAYS} days (and the minute a CLI run takes) ahead binds; a later one is ignored`, () => {
    expect(decideAt(observe({}, {}), { holdUntil: at(limit) }, at(0)).action).toBe('start');
    expect(decideAt(observe({}, {}), { holdUntil: at(limit, 1) }, at(0)).action).toBe('none');
  });

  it('a hold ended is where the maximum run counts from; one ignored as too far ahead does not shield the run', () => {
    const maxRun = config.maxRunHours * 60;
    const ranPastLimit = observe({}, running(maxRun - 1, maxRun - 1));
    // The hold ended just now: the unheld run begins now.
    expect(decideAt(ranPastLimit, { holdUntil: at(maxRun + 1) }, at(maxRun + 1)).action).toBe('none');
    // A hold beyond the operator limit is no hold at all.
    const tooFar = decideAt(ranPastLimit, { holdUntil: at(maxRun + 1 + 8 * 1440) }, at(maxRun + 1));
    expect(tooFar.action).toBe('stop');
    expect(tooFar.signals.maxRunExceeded).toBe(true);
  });

  it('a hold that ended before this launch does not move the start of the run', () => {
    const maxRun = config.maxRunHours * 60;
    const decision = decideAt(
      observe({ inFlight: 1 }, running(1, maxRun - 31)),
      { holdUntil: at(-60) },
      at(maxRun - 30),
    );
    expect(decision.action).toBe('none');
  });
});

describe('which report of the worker counts', () => {
  it('a ready tag written in the launch second counts: idle from then', () => {
    const decision = decideAt(observe({}, { ...running(0), readyAt: at(0) }), {}, at(config.idleMinutes));
    expect(decision.action).toBe('stop');
    expect(decision.reason).toBe(
      `stop: idle for ${config.idleMinutes}m >= ${config.idleMinutes}m since the last job (or ready)`,
    );
  });

  it('a worker that reported ready again after its last job is idle from the later ready', () => {
    const decision = decideAt(observe({}, running(4, 2)), {}, at(2 + config.idleMinutes));
    expect(decision.action).toBe('none');
    expect(decision.reason).toBe(`GPU idle for 3m of ${config.idleMinutes}m since the last job (or ready)`);
  });

  it('a stall counts from the worker’s last sign of work when the jobs waited longer than that', () => {
    const memory: ScalerMemory = { pendingSince: at(0) };
    expect(
      decideAt(observe({ waiting: 2 }, running(10)), memory, at(10 + NO_PROGRESS_MINUTES - 1)).action,
    ).toBe('none');
    expect(
      decideAt(observe({ waiting: 2 }, running(10)), memory, at(10 + NO_PROGRESS_MINUTES)).signals
        .workerStalled,
    ).toBe(true);
  });
});

describe('a GPU in transition', () => {
  it('pending counts from its launch when that came before the first tick that saw it', () => {
    const memory: ScalerMemory = { transitionSince: at(5) };
    const decision = decideAt(observe({}, { state: 'pending', launchTime: at(0) }), memory, at(10));
    expect(decision.reason).toBe('GPU stuck pending for 10m (over 10m); 0 waiting, 0 in flight, 0 delayed');
    expect(decision.memory).toMatchObject({ lastError: 'StuckInTransition', errorSince: at(0) });
  });

  it('counts from the first tick that saw it when the launch is later, or the state is not pending', () => {
    const late = decideAt(
      observe({}, { state: 'pending', launchTime: at(5) }),
      { transitionSince: at(0) },
      at(STUCK_TRANSITION_MINUTES),
    );
    expect(late.memory.lastError).toBe('StuckInTransition');
    const stopping = decideAt(
      observe({}, { state: 'stopping', launchTime: at(-60) }),
      { transitionSince: at(5) },
      at(STUCK_TRANSITION_MINUTES),
    );
    expect(stopping.reason).toBe(
      'GPU is stopping; no action until it settles (0 waiting, 0 in flight, 0 delayed)',
    );
  });

  it('a stuck GPU keeps the time it got stuck; a different earlier error does not count', () => {
    const stuck = observe({ waiting: 1 }, { state: 'stopping' });
    const memory: ScalerMemory = { transitionSince: at(0) };
    expect(
      decideAt(stuck, { ...memory, lastError: 'StuckInTransition', errorSince: at(3) }, at(20)).memory
        .errorSince,
    ).toEqual(at(3));
    expect(decideAt(stuck, { ...memory, lastError: 'StuckInTransition' }, at(20)).memory.errorSince).toEqual(
      at(0),
    );
    expect(
      decideAt(stuck, { ...memory, lastError: 'InsufficientCapacity', errorSince: at(-100) }, at(20)).memory
        .errorSince,
    ).toEqual(at(0));
  });

  it('a stuck GPU blocks a start only while work waits (the start alarm reads it)', () => {
    const memory: ScalerMemory = { transitionSince: at(0) };
    expect(
      decideAt(observe({ waiting: 1 }, { state: 'stopping' }), memory, at(20)).signals.startBlockedMinutes,
    ).toBe(20);
    expect(
      decideAt(observe({ inFlight: 1 }, { state: 'stopping' }), memory, at(20)).signals.startBlockedMinutes,
    ).toBe(0);
  });

  it('a pending GPU after failed starts is not blocked while it settles', () => {
    const memory: ScalerMemory = { lastError: 'InsufficientCapacity', errorSince: at(0) };
    const decision = decideAt(observe({ waiting: 20 }, { state: 'pending' }), memory, at(30));
    expect(decision.signals.startBlockedMinutes).toBe(0);
  });
});

describe('a stopped GPU: what it says, and what it remembers', () => {
  it('says how long jobs have waited of the maximum wait', () => {
    const waiting = decideAt(observe({ waiting: 2 }, {}), { pendingSince: at(0) }, at(3));
    expect(waiting.reason).toBe('GPU stopped; 2 waiting, 0 in flight, 0 delayed, waiting for 3m of 15m');
    const empty = decideAt(observe({ inFlight: 1 }, {}), { pendingSince: at(0) }, at(3));
    expect(empty.reason).toBe('GPU stopped; 0 waiting, 1 in flight, 0 delayed');
  });

  it('names the hold it starts for', () => {
    expect(decideAt(observe({}, {}), { holdUntil: at(60) }, at(0)).reason).toBe(
      'start: held until 2026-11-24T02:00:00Z',
    );
  });

  it('a failed start with nothing asking for the GPU is forgotten; a boot-timeout pause is kept until it ends', () => {
    const failed: ScalerMemory = { lastError: 'StartNotTaken', errorSince: at(0), retryAt: at(20) };
    expect(decideAt(observe({}, {}), failed, at(10)).memory).toMatchObject({
      lastError: undefined,
      errorSince: undefined,
      retryAt: undefined,
    });
    const bootPause: ScalerMemory = { lastError: 'WorkerNeverReady', errorSince: at(0), retryAt: at(60) };
    const paused = decideAt(observe({}, {}), bootPause, at(10));
    expect(paused.memory).toMatchObject({
      lastError: 'WorkerNeverReady',
      errorSince: at(0),
      retryAt: at(60),
    });
    // Nothing asks for the GPU: the pause is not a blocked start.
    expect(paused.signals.startBlockedMinutes).toBe(0);
    expect(decideAt(observe({}, {}), bootPause, at(60)).memory.retryAt).toBeUndefined();
  });

  it('while a failed start backs off, says with what it failed and when it retries', () => {
    const memory: ScalerMemory = { lastError: 'InsufficientCapacity', errorSince: at(0), retryAt: at(2) };
    const decision = decideAt(observe({ waiting: 11 }, {}), memory, at(1));
    expect(decision.reason).toBe(
      'GPU wanted (11 jobs waiting > start backlog 10); last start failed with InsufficientCapacity, retrying at 2026-11-24T01:02:00Z',
    );
    expect(decision.signals.startBlockedMinutes).toBe(1);
  });

  it('a time an error began, left without the error, is not a blocked start', () => {
    const decision = decideAt(observe({ waiting: 11 }, {}), { errorSince: at(0) }, at(30));
    expect(decision.action).toBe('start');
    expect(decision.signals.startBlockedMinutes).toBe(0);
  });

  it('a start counts as taken when the launch is at most 30 s before it (clocks and tags to the second)', () => {
    const memory: ScalerMemory = { lastAction: 'start', lastActionAt: at(10) };
    const waiting = { waiting: 11 };
    expect(decideAt(observe(waiting, { launchTime: at(9, 30) }), memory, at(12)).memory.lastError).toBe(
      undefined,
    );
    expect(decideAt(observe(waiting, { launchTime: at(9, 29) }), memory, at(12)).memory.lastError).toBe(
      'StartNotTaken',
    );
    expect(decideAt(observe(waiting, { launchTime: at(10, 31) }), memory, at(12)).memory.lastError).toBe(
      undefined,
    );
  });
});

describe('a worker that never became ready under a hold', () => {
  it('is unavailable since this tick, unless it already was', () => {
    const boot = config.firstBootTimeoutMinutes;
    const notReady = observe({}, { state: 'running', launchTime: at(0) });
    const hold: ScalerMemory = { holdUntil: at(boot + 60) };
    expect(
      decideAt(notReady, { ...hold, lastError: 'InsufficientCapacity', errorSince: at(-100) }, at(boot))
        .memory.errorSince,
    ).toEqual(at(boot));
    expect(
      decideAt(notReady, { ...hold, lastError: 'WorkerNeverReady', errorSince: at(boot - 5) }, at(boot))
        .memory.errorSince,
    ).toEqual(at(boot - 5));
  });
});

describe('the signals of an ordinary decision', () => {
  it('an idle stop raises no alarm signal', () => {
    const decision = decideAt(observe({}, running(1)), {}, at(1 + config.idleMinutes));
    expect(decision.signals).toEqual({
      startBlockedMinutes: 0,
      runningMinutes: 1 + config.idleMinutes,
      bootTimedOut: false,
      workerStalled: false,
      maxRunExceeded: false,
    });
  });

  it('a refused stop is remembered with the time errors began', () => {
    expect(recordStopFailure({}, 'Throttled', at(5))).toEqual({ lastError: 'Throttled', errorSince: at(5) });
    expect(recordStopFailure({ errorSince: at(1), lastReason: 'r' }, 'Throttled', at(5))).toEqual({
      lastError: 'Throttled',
      errorSince: at(1),
      lastReason: 'r',
    });
  });

  it.each([
    [5, '5m'],
    [4.98, '4m59s'],
    [1 + 5 / 60, '1m05s'],
    [-1, '0m'],
  ])('%f minutes read as %s', (minutes, text) => expect(formatMinutes(minutes)).toBe(text));
});

describe('more of what an operator reads', () => {
  it('a back-off remembered without its error still says a start failed', () => {
    const decision = decideAt(observe({ waiting: 11 }, {}), { retryAt: at(2) }, at(1));
    expect(decision.reason).toBe(
      'GPU wanted (11 jobs waiting > start backlog 10); last start failed with an error, retrying at 2026-11-24T01:02:00Z',
    );
  });

  it('a GPU stopped by a spot interruption after a start is not a start that failed to take', () => {
    const memory: ScalerMemory = { lastAction: 'start', lastActionAt: at(10) };
    const decision = decideAt(
      observe({ waiting: 11 }, { launchTime: at(-60), stateReasonCode: 'Server.SpotInstanceShutdown' }),
      memory,
      at(12),
    );
    expect(decision.memory.lastError).toBe('SpotInterrupted');
    expect(decision.memory.failedStarts).toBeUndefined();
    expect(decision.memory.retryAt).toBeUndefined();
  });

  it('a booting GPU says whether it is its first boot', () => {
    const booting = observe({}, { state: 'running', launchTime: at(0), everReadyAt: at(-1440) });
    expect(decideAt(booting, {}, at(5)).reason).toBe(
      'GPU booting for 5m; worker not ready yet (0 waiting, 0 in flight, 0 delayed)',
    );
    const first = observe({}, { state: 'running', launchTime: at(0) });
    expect(decideAt(first, {}, at(5)).reason).toBe(
      'GPU provisioning (first boot) for 5m; worker not ready yet (0 waiting, 0 in flight, 0 delayed)',
    );
  });
});
