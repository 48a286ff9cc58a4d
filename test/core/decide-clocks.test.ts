import { BOOT_TIMEOUT_PAUSE_MINUTES, NO_PROGRESS_MINUTES, decide } from '../../src/core/decide';
import type { GpuObservation, ScalerMemory } from '../../src/core/model';
import { at, config, observe } from './decide-support';

const readyAt = (minute: number, lastJobMinute?: number): Partial<GpuObservation> => ({
  state: 'running',
  launchTime: at(0),
  everReadyAt: at(-1440),
  readyAt: at(minute),
  lastJobAt: lastJobMinute === undefined ? undefined : at(lastJobMinute),
});

describe('decide: each limit judged from the right clock', () => {
  it('a held GPU idle for an hour is not stalled by a job that just started waiting', () => {
    const memory: ScalerMemory = { holdUntil: at(240) };
    const first = decide(observe({ waiting: 1 }, readyAt(1, 5)), memory, config, at(65));
    expect(first.action).toBe('none');
    expect(first.memory.pendingSince).toEqual(at(65));
  });

  it('a stall counts from when the jobs started waiting: stopped once they waited the limit with no job taken', () => {
    const memory: ScalerMemory = { pendingSince: at(20) };
    expect(
      decide(observe({ waiting: 3 }, readyAt(1, 5)), memory, config, at(20 + NO_PROGRESS_MINUTES - 1)).action,
    ).toBe('none');
    const stalled = decide(
      observe({ waiting: 3 }, readyAt(1, 5)),
      memory,
      config,
      at(20 + NO_PROGRESS_MINUTES),
    );
    expect(stalled.action).toBe('stop');
    expect(stalled.signals.workerStalled).toBe(true);
  });

  it('the maximum run counts from the later of the launch and the end of a hold: no stop mid-job when a long hold ends', () => {
    const hours = config.maxRunHours;
    const memory: ScalerMemory = { holdUntil: at(hours * 60 + 60) };
    const justAfter = decide(
      observe({ inFlight: 1 }, readyAt(1, hours * 60 + 60)),
      memory,
      config,
      at(hours * 60 + 61),
    );
    expect(justAfter.action).toBe('none');
    expect(justAfter.signals.maxRunExceeded).toBe(false);
    const later = decide(observe({}, readyAt(1, hours * 60 + 60)), memory, config, at(hours * 120 + 60));
    expect(later.action).toBe('stop');
    expect(later.reason).toContain('without a hold');
  });
});

describe('decide: a primary that never becomes ready', () => {
  const booting: Partial<GpuObservation> = { state: 'running', launchTime: at(0), everReadyAt: at(-1440) };

  it('is stopped at its boot timeout even while jobs are in flight: they are other workers’, it has reported none', () => {
    const decision = decide(
      observe({ waiting: 20, inFlight: 3 }, booting),
      {},
      config,
      at(config.bootTimeoutMinutes),
    );
    expect(decision.action).toBe('stop');
    expect(decision.signals.bootTimedOut).toBe(true);
  });

  it('a job of this launch proves it ready even before its ready tag is seen', () => {
    const withJob = { ...booting, lastJobAt: at(3) };
    expect(
      decide(observe({ inFlight: 1 }, withJob), {}, config, at(config.bootTimeoutMinutes + 1)).action,
    ).toBe('none');
  });

  it('held past its boot timeout: kept, but reported unavailable (never ready) so the alarm and the burst sizing see it', () => {
    const memory: ScalerMemory = { holdUntil: at(180) };
    const decision = decide(
      observe({ waiting: 4 }, booting),
      memory,
      config,
      at(config.bootTimeoutMinutes + 2),
    );
    expect(decision.action).toBe('none');
    expect(decision.memory.lastError).toBe('WorkerNeverReady');
    const next = decide(
      observe({ waiting: 4 }, booting),
      decision.memory,
      config,
      at(config.bootTimeoutMinutes + 5),
    );
    expect(next.memory.errorSince).toEqual(at(config.bootTimeoutMinutes + 2));
  });

  it('the pause after a boot timeout holds until it ends, even on ticks that find the queue empty', () => {
    const stopped = decide(observe({ waiting: 20 }, booting), {}, config, at(config.bootTimeoutMinutes));
    const pauseEnds = stopped.memory.retryAt;
    expect(pauseEnds).toEqual(at(config.bootTimeoutMinutes + BOOT_TIMEOUT_PAUSE_MINUTES));
    const gpu: Partial<GpuObservation> = { state: 'stopped', launchTime: at(0) };
    const empty = decide(observe({}, gpu), stopped.memory, config, at(config.bootTimeoutMinutes + 5));
    expect(empty.memory.retryAt).toEqual(pauseEnds);
    const wanted = decide(
      observe({ waiting: 30 }, gpu),
      empty.memory,
      config,
      at(config.bootTimeoutMinutes + 10),
    );
    expect(wanted.action).toBe('none');
    const after = decide(
      observe({ waiting: 30 }, gpu),
      wanted.memory,
      config,
      at(config.bootTimeoutMinutes + BOOT_TIMEOUT_PAUSE_MINUTES),
    );
    expect(after.action).toBe('start');
  });
});
