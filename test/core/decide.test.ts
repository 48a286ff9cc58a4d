import {
  MAX_RUN_GRACE_MINUTES,
  NO_PROGRESS_MINUTES,
  SPOT_INTERRUPTION_REASON,
  STUCK_TRANSITION_MINUTES,
  recordStartFailure,
} from '../../src/core/decide';
import type { GpuObservation, Observation, ScalerMemory } from '../../src/core/model';
import { at, config, decideAt, observe, running } from './decide-support';

describe('decide: starting', () => {
  it.each([
    [10, 'none'],
    [11, 'start'],
  ])('with %i jobs waiting and the GPU stopped: %s', (waiting, action) => {
    const decision = decideAt(observe({ waiting }, {}), {}, at(0));
    expect(decision.action).toBe(action);
  });

  it('says why it started, and remembers it', () => {
    const decision = decideAt(observe({ waiting: 11 }, {}), {}, at(0));
    expect(decision.reason).toBe('start: 11 jobs waiting > start backlog 10');
    expect(decision.memory).toMatchObject({
      lastAction: 'start',
      lastActionAt: at(0),
      lastReason: decision.reason,
    });
  });

  it.each([
    [14, 59, 'none'],
    [15, 0, 'start'],
  ])('starts a small backlog once it waited the maximum wait: %im%is → %s', (m, s, action) => {
    const memory: ScalerMemory = { pendingSince: at(0) };
    const decision = decideAt(observe({ waiting: 1 }, {}), memory, at(m, s));
    expect(decision.action).toBe(action);
    if (action === 'start') expect(decision.reason).toBe('start: jobs waiting for 15m >= maximum wait 15m');
  });

  it('starts counting the wait on the first tick that sees a job, and forgets it when the queue empties', () => {
    expect(decideAt(observe({ waiting: 2 }, {}), {}, at(3)).memory.pendingSince).toEqual(at(3));
    expect(
      decideAt(observe({ waiting: 0 }, {}), { pendingSince: at(0) }, at(3)).memory.pendingSince,
    ).toBeUndefined();
  });

  it('starts the GPU for an active hold even with no work, and not for an expired one', () => {
    expect(decideAt(observe({}, {}), { holdUntil: at(60) }, at(59, 59)).action).toBe('start');
    const expired = decideAt(observe({}, {}), { holdUntil: at(60) }, at(60));
    expect(expired.action).toBe('none');
    // Ignored, never cleared: the hold tag belongs to the operator.
    expect(expired.memory.holdUntil).toEqual(at(60));
  });

  it('ignores a hold further ahead than 7 days (hand-written; the CLI caps holds at 7 days)', () => {
    const far = decideAt(observe({}, {}), { holdUntil: at(7 * 1440 + 2) }, at(0));
    expect(far.action).toBe('none');
    expect(decideAt(observe({}, {}), { holdUntil: at(7 * 1440) }, at(0)).action).toBe('start');
    const heldFar = decideAt(observe({}, running(1)), { holdUntil: at(30 * 1440) }, at(6));
    expect(heldFar.action).toBe('stop');
  });

  it.each(['pending', 'stopping', 'shutting-down'] as const)('never acts on a %s instance', (state) => {
    const decision = decideAt(observe({ waiting: 50, inFlight: 0 }, { state }), {}, at(30));
    expect(decision.action).toBe('none');
    expect(decision.reason).toContain(`GPU is ${state}`);
    expect(decision.memory.transitionSince).toEqual(at(30));
  });

  it('does not try to start a terminated instance, and records why work cannot be served', () => {
    const decision = decideAt(observe({ waiting: 20 }, { state: 'terminated' }), {}, at(0));
    expect(decision.action).toBe('none');
    expect(decision.memory).toMatchObject({ lastError: 'NotFound', errorSince: at(0) });
  });

  it('leaves a spot-interrupted instance to EC2 and counts how long work has been blocked', () => {
    const interrupted = { stateReasonCode: 'Server.SpotInstanceShutdown' };
    const first = decideAt(observe({ waiting: 20 }, interrupted), {}, at(0));
    expect(first.action).toBe('none');
    expect(first.reason).toContain('spot interruption');
    expect(first.memory).toMatchObject({ lastError: 'SpotInterrupted', errorSince: at(0) });
    const later = decideAt(observe({ waiting: 20 }, interrupted), first.memory, at(16));
    expect(later.signals.startBlockedMinutes).toBe(16);
    expect(later.memory.errorSince).toEqual(at(0));
  });

  it.each(['InsufficientCapacity', 'IncorrectSpotRequestState', 'Throttled'] as const)(
    'backs off after a start failed with %s: 1, 2, 4 minutes',
    (code) => {
      let memory = recordStartFailure({}, code, at(0));
      expect(memory).toMatchObject({ lastError: code, errorSince: at(0), failedStarts: 1, retryAt: at(1) });
      expect(decideAt(observe({ waiting: 20 }, {}), memory, at(0, 59)).action).toBe('none');
      expect(decideAt(observe({ waiting: 20 }, {}), memory, at(1)).action).toBe('start');
      memory = recordStartFailure(memory, code, at(1));
      expect(memory.retryAt).toEqual(at(3));
      memory = recordStartFailure(memory, code, at(3));
      expect(memory.retryAt).toEqual(at(7));
      expect(decideAt(observe({ waiting: 20 }, {}), memory, at(7)).signals.startBlockedMinutes).toBe(7);
    },
  );

  it('caps the back-off at 15 minutes', () => {
    let memory: ScalerMemory = {};
    for (let i = 0; i < 10; i += 1) memory = recordStartFailure(memory, 'InsufficientCapacity', at(0));
    expect(memory.retryAt).toEqual(at(15));
  });

  it('forgets start errors once the GPU runs, or once nothing asks for it', () => {
    const failed = recordStartFailure({}, 'InsufficientCapacity', at(0));
    expect(decideAt(observe({}, running(2)), failed, at(3)).memory.lastError).toBeUndefined();
    expect(decideAt(observe({}, {}), failed, at(3)).memory).toMatchObject({
      lastError: undefined,
      retryAt: undefined,
    });
  });
});

describe('decide: stopping', () => {
  it.each([
    [4, 59, 'none'],
    [5, 0, 'stop'],
  ])('stops after 5 idle minutes counted from ready: idle %im%is → %s', (m, s, action) => {
    const decision = decideAt(observe({}, running(3)), {}, at(3 + m, s));
    expect(decision.action).toBe(action);
  });

  it.each([
    [4, 59, 'none'],
    [5, 0, 'stop'],
  ])(
    'counts idleness from the last job the worker reported, not from ticks: %im%is after → %s',
    (m, s, action) => {
      // Ready at 3, a job ended at 20m30s between two ticks that both saw an empty queue.
      const gpu = { ...running(3), lastJobAt: at(20, 30) };
      const decision = decideAt(observe({}, gpu), {}, at(20 + m, 30 + s));
      expect(decision.action).toBe(action);
    },
  );

  it('counts idleness from ready, never from boot, and ignores a last job of an earlier launch', () => {
    // Booted at 0, ready at 9: at minute 10 the worker has idled 1 minute, not 10.
    expect(decideAt(observe({}, running(9)), {}, at(10)).reason).toBe(
      'GPU idle for 1m of 5m since the last job (or ready)',
    );
    const stale = { ...running(1), lastJobAt: at(-30) };
    expect(decideAt(observe({}, stale), {}, at(6)).action).toBe('stop');
  });

  it('never stops while a job is in flight, delayed or waiting', () => {
    for (const queue of [{ inFlight: 1 }, { delayed: 1 }, { waiting: 1 }]) {
      const decision = decideAt(observe(queue, running(1)), {}, at(30));
      expect(decision.action).toBe('none');
      expect(decision.reason).toMatch(/^GPU busy/);
    }
  });

  it('keeps the GPU up while a hold is active, and applies the rules once it expired', () => {
    const memory: ScalerMemory = { holdUntil: at(120) };
    const held = decideAt(observe({}, running(1)), memory, at(119));
    expect(held.action).toBe('none');
    expect(held.reason).toContain('held until 2026-11-24T03:00:00Z');
    expect(decideAt(observe({}, running(1)), memory, at(120)).action).toBe('stop');
  });

  it('waits for the worker while booting, and stops a worker never ready after the boot timeout', () => {
    expect(decideAt(observe({ waiting: 30 }, running()), {}, at(19, 59)).action).toBe('none');
    const timeout = decideAt(observe({ waiting: 30 }, running()), {}, at(20));
    expect(timeout.action).toBe('stop');
    expect(timeout.signals.bootTimedOut).toBe(true);
    expect(timeout.reason).toBe(
      'stop: worker not ready 20m after start (boot timeout 20m); no new start before 2026-11-24T02:20:00Z',
    );
    // A broken worker must not burn money: no new start for an hour, though 30 jobs wait.
    expect(timeout.memory).toMatchObject({ lastError: 'WorkerNeverReady', retryAt: at(80) });
    const stopped = { state: 'stopped' as const };
    expect(decideAt(observe({ waiting: 30 }, stopped), timeout.memory, at(79)).action).toBe('none');
    expect(decideAt(observe({ waiting: 30 }, stopped), timeout.memory, at(80)).action).toBe('start');
  });

  it('gives a host that was never provisioned its first-boot timeout, not the boot timeout', () => {
    const firstBoot: Partial<GpuObservation> = { ...running(), everReadyAt: undefined };
    const early = decideAt(observe({ waiting: 30 }, firstBoot), {}, at(45));
    expect(early.action).toBe('none');
    expect(early.reason).toMatch(/^GPU provisioning \(first boot\) for 45m/);
    const late = decideAt(observe({ waiting: 30 }, firstBoot), {}, at(config.firstBootTimeoutMinutes));
    expect(late.action).toBe('stop');
    expect(late.reason).toContain(`(first-boot timeout ${config.firstBootTimeoutMinutes}m)`);
    expect(late.signals.bootTimedOut).toBe(true);
  });

  it('treats a ready tag from an earlier boot as not ready', () => {
    const gpu = { state: 'running' as const, launchTime: at(10), readyAt: at(2) };
    const decision = decideAt(observe({}, gpu), {}, at(12));
    expect(decision.reason).toContain('worker not ready yet');
  });

  it('does not stop a never-ready worker while a hold is active; jobs in flight are not its own', () => {
    expect(decideAt(observe({ inFlight: 1 }, running()), {}, at(40)).action).toBe('stop');
    expect(decideAt(observe({}, running()), { holdUntil: at(60) }, at(40)).action).toBe('none');
  });

  it('reacts to a GPU EC2 started by itself: idles it out like any other', () => {
    const decision = decideAt(observe({}, running(1)), { lastAction: 'stop', lastActionAt: at(-60) }, at(2));
    expect(decision.action).toBe('none');
    expect(decideAt(observe({}, running(1)), decision.memory, at(6)).action).toBe('stop');
  });

  it('reports minutes running and remembers the stop', () => {
    const decision = decideAt(observe({}, running(1)), {}, at(6));
    expect(decision).toMatchObject({ action: 'stop', signals: { runningMinutes: 6 } });
    expect(decision.memory).toMatchObject({ lastAction: 'stop', lastActionAt: at(6) });
  });
});

describe('decide: hard limits', () => {
  const maxRun = config.maxRunHours * 60;

  it('stops a GPU past maxRunHours without a hold, once nothing is in flight', () => {
    const busyJob = decideAt(observe({ inFlight: 1 }, running(1, maxRun)), {}, at(maxRun));
    expect(busyJob.action).toBe('none');
    expect(busyJob.reason).toContain('stopping once nothing is in flight');
    const decision = decideAt(observe({ waiting: 3 }, running(1, maxRun)), {}, at(maxRun));
    expect(decision.action).toBe('stop');
    expect(decision.signals.maxRunExceeded).toBe(true);
    expect(decision.reason).toBe('stop: running for 720m >= maximum run 12h without a hold');
  });

  it('stops it even with a job in flight once the grace has passed, and never while a hold binds', () => {
    const late = maxRun + MAX_RUN_GRACE_MINUTES;
    expect(decideAt(observe({ inFlight: 1 }, running(1, late)), {}, at(late)).action).toBe('stop');
    const held = decideAt(observe({}, running(1, late)), { holdUntil: at(late + 60) }, at(late));
    expect(held.action).toBe('none');
  });

  it.each([
    [NO_PROGRESS_MINUTES - 1, 'none'],
    [NO_PROGRESS_MINUTES, 'stop'],
  ])('jobs waiting and no job taken for %i minutes on a ready worker: %s', (minutes, action) => {
    // Ready at 1, last job at 10; jobs wait from then on but the worker takes none.
    const decision = decideAt(
      observe({ waiting: 4 }, running(1, 10)),
      { pendingSince: at(10) },
      at(10 + minutes),
    );
    expect(decision.action).toBe(action);
    if (action === 'stop') {
      expect(decision.signals.workerStalled).toBe(true);
      expect(decision.memory.lastError).toBe('WorkerStalled');
    }
  });

  it('restarts a stalled worker: once stopped, the ordinary start rules apply at once', () => {
    const stalled = decideAt(observe({ waiting: 12 }, running(1, 10)), { pendingSince: at(10) }, at(40));
    const stopped = { state: 'stopped' as const, launchTime: at(0) };
    expect(decideAt(observe({ waiting: 12 }, stopped), stalled.memory, at(42)).action).toBe('start');
  });
});

describe('decide: starts that do not happen count as blocked', () => {
  it.each([
    ['price-too-low', 'SpotPriceTooLow'],
    ['capacity-not-available', 'InsufficientCapacity'],
    ['pending-fulfillment', 'StartNotTaken'],
    [undefined, 'StartNotTaken'],
  ])('names the reason the spot request gives (%s → %s)', (status, code) => {
    const stopped = { launchTime: at(-60), spotRequestStatus: status };
    const started = decideAt(observe({ waiting: 20 }, stopped), {}, at(0));
    const next = decideAt(observe({ waiting: 20 }, stopped), started.memory, at(1));
    expect(next.memory).toMatchObject({ lastError: code, failedStarts: 1 });
  });

  it('a start EC2 accepted while the instance stays stopped is a failure with back-off', () => {
    const started = decideAt(observe({ waiting: 20 }, { launchTime: at(-60) }), {}, at(0));
    expect(started.action).toBe('start');
    const next = decideAt(observe({ waiting: 20 }, { launchTime: at(-60) }), started.memory, at(1));
    expect(next.action).toBe('none');
    expect(next.memory).toMatchObject({ lastError: 'StartNotTaken', failedStarts: 1, retryAt: at(2) });
    expect(next.signals.startBlockedMinutes).toBe(0);
    // Judged once: the tick after does not count it again, and the back-off doubles on the retry.
    const again = decideAt(observe({ waiting: 20 }, { launchTime: at(-60) }), next.memory, at(1, 30));
    expect(again.memory.failedStarts).toBe(1);
    const retried = decideAt(observe({ waiting: 20 }, { launchTime: at(-60) }), again.memory, at(2));
    expect(retried.action).toBe('start');
    const failedTwice = decideAt(observe({ waiting: 20 }, { launchTime: at(-60) }), retried.memory, at(3));
    expect(failedTwice.memory).toMatchObject({ failedStarts: 2, retryAt: at(5) });
    expect(failedTwice.signals.startBlockedMinutes).toBe(2);
  });

  it('a start that took (launched since) is not a failure', () => {
    const started = decideAt(observe({ waiting: 20 }, {}), {}, at(0));
    const later = decideAt(observe({}, { launchTime: at(0, 5) }), started.memory, at(30));
    expect(later.memory.lastError).toBeUndefined();
  });

  it.each(['pending', 'stopping'] as const)(
    'an instance stuck %s for 10 minutes blocks waiting work',
    (state) => {
      let memory: ScalerMemory = {};
      for (let m = 0; m < STUCK_TRANSITION_MINUTES; m += 1) {
        const d = decideAt(observe({ waiting: 5 }, { state, launchTime: at(0) }), memory, at(m));
        expect(d.memory.lastError).toBeUndefined();
        memory = d.memory;
      }
      const stuck = decideAt(observe({ waiting: 5 }, { state, launchTime: at(0) }), memory, at(12));
      expect(stuck.action).toBe('none');
      expect(stuck.reason).toContain(`GPU stuck ${state} for 12m`);
      expect(stuck.memory).toMatchObject({ lastError: 'StuckInTransition', errorSince: at(0) });
      expect(stuck.signals.startBlockedMinutes).toBe(12);
    },
  );
});

describe('decide: the operator pause', () => {
  it('starts nothing while paused, whatever waits, and resumes after', () => {
    const paused: ScalerMemory = { pausedUntil: at(60), pendingSince: at(-30) };
    const decision = decideAt(observe({ waiting: 40 }, {}), paused, at(0));
    expect(decision.action).toBe('none');
    expect(decision.reason).toBe(
      'GPU stopped by the operator; no automatic start before 2026-11-24T02:00:00Z (40 waiting, 0 in flight, 0 delayed)',
    );
    expect(decision.signals.startBlockedMinutes).toBe(0);
    expect(decideAt(observe({ waiting: 40 }, {}), paused, at(60)).action).toBe('start');
  });

  it('stops a GPU it finds running while paused (EC2 restarted it, or it was pending at the stop)', () => {
    const decision = decideAt(observe({}, running(1)), { pausedUntil: at(60) }, at(2));
    expect(decision.action).toBe('stop');
    expect(decision.reason).toBe(
      'stop: the operator stopped the GPU; no automatic start before 2026-11-24T02:00:00Z',
    );
  });
});

describe('decide: says what it is doing, in words an operator reads in status and logs', () => {
  const gpu = (o: Partial<GpuObservation>): Partial<GpuObservation> => o;
  it.each<[string, Observation, ScalerMemory, Date, string, string]>([
    [
      'an idle GPU under a hold',
      observe({}, running(3, 10)),
      { holdUntil: at(60) },
      at(30),
      'none',
      'GPU idle for 20m; held until 2026-11-24T02:00:00Z',
    ],
    [
      'a terminated GPU',
      observe({ waiting: 12 }, gpu({ state: 'terminated' })),
      {},
      at(0),
      'none',
      'GPU instance i-gpu is terminated; it cannot be started (redeploy the compute stack)',
    ],
    [
      'a GPU in transition',
      observe({ waiting: 2 }, gpu({ state: 'pending', launchTime: at(0) })),
      { transitionSince: at(0) },
      at(1),
      'none',
      'GPU is pending; no action until it settles (2 waiting, 0 in flight, 0 delayed)',
    ],
    [
      'a GPU stopped by a spot interruption',
      observe({ waiting: 11 }, gpu({ stateReasonCode: SPOT_INTERRUPTION_REASON })),
      {},
      at(0),
      'none',
      'GPU wanted (11 jobs waiting > start backlog 10) but it was stopped by a spot interruption; EC2 starts it again when capacity returns',
    ],
    [
      'a start in back-off',
      observe({ waiting: 11 }, {}),
      { lastError: 'InsufficientCapacity', errorSince: at(0), failedStarts: 2, retryAt: at(5) },
      at(3),
      'none',
      'GPU wanted (11 jobs waiting > start backlog 10); last start failed with InsufficientCapacity, retrying at 2026-11-24T01:05:00Z',
    ],
    [
      'a stalled worker',
      observe({ waiting: 3 }, running(3, 5)),
      { pendingSince: at(5) },
      at(35),
      'stop',
      'stop: 3 jobs waiting for 30m but the ready worker took none (limit 30m); restarting it',
    ],
    [
      'a worker not ready, with a job in flight (another worker’s)',
      observe({ inFlight: 1 }, running()),
      {},
      at(25),
      'stop',
      'stop: worker not ready 25m after start (boot timeout 20m); no new start before 2026-11-24T02:25:00Z',
    ],
    [
      'a worker not ready, under a hold',
      observe({}, running()),
      { holdUntil: at(60) },
      at(25),
      'none',
      'worker not ready after 25m; held until 2026-11-24T02:00:00Z, not stopping (0 waiting, 0 in flight, 0 delayed)',
    ],
  ])('%s', (_situation, observation, memory, now, action, reason) => {
    const decision = decideAt(observation, memory, now);
    expect(decision.action).toBe(action);
    expect(decision.reason).toBe(reason);
  });

  it('counts a terminated GPU with work waiting as blocked, from the first tick that saw it', () => {
    const first = decideAt(observe({ waiting: 12 }, { state: 'terminated' }), {}, at(0));
    expect(first.memory).toMatchObject({ lastError: 'NotFound', errorSince: at(0) });
    const later = decideAt(observe({ waiting: 12 }, { state: 'terminated' }), first.memory, at(20));
    expect(later.signals.startBlockedMinutes).toBe(20);
    expect(decideAt(observe({}, { state: 'terminated' }), {}, at(0)).memory.lastError).toBeUndefined();
  });

  it('reports a stall and the run time in its signals', () => {
    const stalled = decideAt(observe({ waiting: 3 }, running(3, 5)), { pendingSince: at(5) }, at(35));
    expect(stalled.signals).toEqual({
      startBlockedMinutes: 0,
      runningMinutes: 35,
      bootTimedOut: false,
      workerStalled: true,
      maxRunExceeded: false,
    });
  });
});

describe('decide: worker times from the future', () => {
  // A worker's own tags are its word: one written far ahead (a bad clock, or a compromised worker
  // that wants to stay up) must not keep a GPU running with an empty queue.
  it('stops an idle GPU whose last-job tag says 2099: the time reads as absent, idleness counts from ready', () => {
    const gpu = { ...running(3), lastJobAt: new Date('2099-01-01T00:00:00Z') };
    const decision = decideAt(observe({}, gpu), {}, at(10));
    expect(decision.action).toBe('stop');
  });

  it('treats a ready time from the future as not ready, so the boot timeout stops the GPU', () => {
    const gpu = { ...running(), readyAt: new Date('2099-01-01T00:00:00Z') };
    const decision = decideAt(observe({}, gpu), {}, at(config.bootTimeoutMinutes + 1));
    expect(decision.action).toBe('stop');
    expect(decision.reason).toContain('not ready');
  });

  it('still reads a time a few seconds ahead of the scaler clock (clock skew) as the worker reported it', () => {
    // Ready at 3, last job 30 s ahead of the tick at minute 6: 0 idle minutes, not 3.
    const gpu = { ...running(3), lastJobAt: at(6, 30) };
    expect(decideAt(observe({}, gpu), {}, at(6)).action).toBe('none');
  });
});
