import { TAGS } from '../../src/core/tags';
import { type SimEvent, SimWorker, type SimWorkerOptions } from '../../src/sim/sim-worker';

/** A worker with one queue of jobs of `serviceS` seconds, its events logged. */
function harness(
  options: Partial<SimWorkerOptions> & Pick<SimWorkerOptions, 'kind'>,
  jobs = 0,
  serviceS = 100,
) {
  const events: SimEvent[] = [];
  const waiting = Array.from({ length: jobs }, (_, i) => i);
  const worker = new SimWorker(
    {
      id: 'i-w',
      readyDelayS: 120,
      interruptionsPerHour: 0,
      random: () => 0.5,
      tags: {},
      ...options,
    },
    {
      concurrency: 1,
      stopDelayS: 60,
      record: (event) => events.push(event),
      takeJob: (now) => {
        const job = waiting.shift();
        return job === undefined ? undefined : { job, endS: now + serviceS };
      },
      giveBack: (job) => waiting.unshift(job),
      jobFinished: () => undefined,
    },
  );
  /** Plays every event up to `t`, starting jobs as the fleet model does. */
  const runTo = (t: number): void => {
    for (let now = 0; ;) {
      worker.startJobs(now);
      const next = worker.nextEventTime(now);
      if (next > t) return;
      now = next;
      worker.playEventsAt(now);
    }
  };
  return { worker, events, waiting, runTo };
}

describe('one simulated worker for the primary and the burst workers', () => {
  it('boots, reports ready and its last job through its tags, and bills from running', () => {
    const { worker, events, runTo } = harness({ kind: 'burst', market: 'spot' }, 1);
    worker.launch(0);
    runTo(1000);
    expect(events.map((e) => [e.t, e.type])).toEqual([
      [0, 'burst-launch'],
      [120, 'burst-ready'],
      [120, 'job-start'],
      [220, 'job-end'],
    ]);
    expect(events[0]).toMatchObject({ market: 'spot' });
    expect(worker.tags[TAGS.readyAt]).toBe('2026-01-05T00:02:00Z');
    // 100 s after the last write (the job's start), so the job's end is written at once.
    expect(worker.tags[TAGS.lastJobAt]).toBe('2026-01-05T00:03:40Z');
    expect(worker.billedSeconds(1000)).toBe(970);
  });

  it('comes back after an interruption only when told how long EC2 keeps it down (the primary)', () => {
    const primary = harness(
      { kind: 'primary', interruptionsPerHour: 1, restartAfterInterruptionS: 600 },
      1,
      10_000,
    );
    primary.worker.launch(0);
    primary.runTo(5000);
    const types = primary.events.map((e) => e.type);
    expect(types.slice(0, 5)).toEqual(['start', 'ready', 'job-start', 'interrupted', 'stopped']);
    expect(types[5]).toBe('start');
    expect(primary.worker.stateReasonCode).toBeUndefined();

    let interruptedAt: number | undefined;
    const burst = harness(
      { kind: 'burst', interruptionsPerHour: 1, onInterrupted: (t) => (interruptedAt = t) },
      1,
      10_000,
    );
    burst.worker.launch(0);
    burst.runTo(50_000);
    expect(burst.events.map((e) => e.type)).toEqual([
      'burst-launch',
      'burst-ready',
      'job-start',
      'burst-interrupted',
      'burst-terminated',
    ]);
    expect(interruptedAt).toBe(burst.events[3]?.t);
    // The job it ran went back to the queue, first in line.
    expect(burst.waiting).toEqual([0]);
    expect(burst.worker.state).toBe('stopped');
  });

  it('bills nothing for a worker taken down while still pending, primary or burst alike', () => {
    for (const kind of ['primary', 'burst'] as const) {
      const { worker, runTo } = harness({ kind });
      worker.launch(0);
      runTo(10);
      worker.goDown(10);
      runTo(500);
      expect(worker.state).toBe('stopped');
      expect(worker.billedSeconds(500)).toBe(0);
    }
  });

  it('a retired burst worker tags itself drained and stays billed, held by the drain hook, until the scaler completes it', () => {
    const { worker, events, runTo } = harness({ kind: 'burst', market: 'spot' });
    worker.launch(0);
    runTo(1000);
    worker.retire(1000, 180);
    expect(worker.heldByDrainHook).toBe(true);
    expect(worker.tags[TAGS.drainedAt]).toBe('2026-01-05T00:16:40Z');
    runTo(1059);
    expect(events.map((e) => e.type)).not.toContain('burst-terminated');
    // The next tick completes the hook: the worker terminates after its stop delay.
    worker.completeDrainHook(1060);
    expect(worker.heldByDrainHook).toBe(false);
    worker.completeDrainHook(1100);
    runTo(2000);
    expect(events.filter((e) => e.type === 'burst-terminated').map((e) => e.t)).toEqual([1120]);
    expect(worker.billedSeconds(2000)).toBe(1120 - 30);
  });

  it("without a completion the hook's timeout lets the worker go", () => {
    const { worker, events, runTo } = harness({ kind: 'burst', market: 'spot' });
    worker.launch(0);
    runTo(1000);
    worker.retire(1000, 180);
    runTo(3000);
    expect(events.filter((e) => e.type === 'burst-terminated').map((e) => e.t)).toEqual([1000 + 180 + 60]);
    // A completion that comes after the worker is gone changes nothing.
    worker.completeDrainHook(3000);
    expect(worker.billedSeconds(3000)).toBe(1240 - 30);
  });
});
