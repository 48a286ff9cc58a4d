import { BOOT_TIMEOUT_PAUSE_MINUTES, NO_PROGRESS_MINUTES } from '../../src/core/decide';
import type { GpuObservation, ScalerMemory } from '../../src/core/model';
import { at, config, decideAt, observe, running } from './decide-support';

describe('decide: each limit judged from the right clock', () => {
  it('a held GPU idle for an hour is not stalled by a job that just started waiting', () => {
    const memory: ScalerMemory = { holdUntil: at(240) };
    const first = decideAt(observe({ waiting: 1 }, running(1, 5)), memory, at(65));
    expect(first.action).toBe('none');
    expect(first.memory.pendingSince).toEqual(at(65));
  });

  it('a stall counts from when the jobs started waiting: stopped once they waited the limit with no job taken', () => {
    const memory: ScalerMemory = { pendingSince: at(20) };
    expect(
      decideAt(observe({ waiting: 3 }, running(1, 5)), memory, at(20 + NO_PROGRESS_MINUTES - 1)).action,
    ).toBe('none');
    const stalled = decideAt(observe({ waiting: 3 }, running(1, 5)), memory, at(20 + NO_PROGRESS_MINUTES));
    expect(stalled.action).toBe('stop');
    expect(stalled.signals.workerStalled).toBe(true);
  });

  it('the maximum run counts from the later of the launch and the end of a hold: no stop mid-job when a long hold ends', () => {
    const hours = config.maxRunHours;
    const memory: ScalerMemory = { holdUntil: at(hours * 60 + 60) };
    const justAfter = decideAt(
      observe({ inFlight: 1 }, running(1, hours * 60 + 60)),
      memory,
      at(hours * 60 + 61),
    );
    expect(justAfter.action).toBe('none');
    expect(justAfter.signals.maxRunExceeded).toBe(false);
    const later = decideAt(observe({}, running(1, hours * 60 + 60)), memory, at(hours * 120 + 60));
    expect(later.action).toBe('stop');
    expect(later.reason).toContain('without a hold');
  });
});

describe('decide: a primary that never becomes ready', () => {
  const booting: Partial<GpuObservation> = { state: 'running', launchTime: at(0), everReadyAt: at(-1440) };

  it('is stopped at its boot timeout even while jobs are in flight: they are other workers’, it has reported none', () => {
    const decision = decideAt(
      observe({ waiting: 20, inFlight: 3 }, booting),
      {},
      at(config.bootTimeoutMinutes),
    );
    expect(decision.action).toBe('stop');
    expect(decision.signals.bootTimedOut).toBe(true);
  });

  it('a job of this launch proves it ready even before its ready tag is seen', () => {
    const withJob = { ...booting, lastJobAt: at(3) };
    expect(decideAt(observe({ inFlight: 1 }, withJob), {}, at(config.bootTimeoutMinutes + 1)).action).toBe(
      'none',
    );
  });

  it('held past its boot timeout: kept, but reported unavailable (never ready) so the alarm and the burst sizing see it', () => {
    const memory: ScalerMemory = { holdUntil: at(180) };
    const decision = decideAt(observe({ waiting: 4 }, booting), memory, at(config.bootTimeoutMinutes + 2));
    expect(decision.action).toBe('none');
    expect(decision.memory.lastError).toBe('WorkerNeverReady');
    const next = decideAt(
      observe({ waiting: 4 }, booting),
      decision.memory,
      at(config.bootTimeoutMinutes + 5),
    );
    expect(next.memory.errorSince).toEqual(at(config.bootTimeoutMinutes + 2));
  });

  it('the pause after a boot timeout holds until it ends, even on ticks that find the queue empty', () => {
    const stopped = decideAt(observe({ waiting: 20 }, booting), {}, at(config.bootTimeoutMinutes));
    const pauseEnds = stopped.memory.retryAt;
    expect(pauseEnds).toEqual(at(config.bootTimeoutMinutes + BOOT_TIMEOUT_PAUSE_MINUTES));
    const gpu: Partial<GpuObservation> = { state: 'stopped', launchTime: at(0) };
    const empty = decideAt(observe({}, gpu), stopped.memory, at(config.bootTimeoutMinutes + 5));
    expect(empty.memory.retryAt).toEqual(pauseEnds);
    const wanted = decideAt(observe({ waiting: 30 }, gpu), empty.memory, at(config.bootTimeoutMinutes + 10));
    expect(wanted.action).toBe('none');
    const after = decideAt(
      observe({ waiting: 30 }, gpu),
      wanted.memory,
      at(config.bootTimeoutMinutes + BOOT_TIMEOUT_PAUSE_MINUTES),
    );
    expect(after.action).toBe('start');
  });
});
