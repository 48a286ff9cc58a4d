import fc from 'fast-check';
import { type BurstConfig, DEFAULT_CONFIG } from '../../src/config';
import {
  type BurstDecision,
  type BurstObservation,
  type BurstRules,
  type BurstWorkerObservation,
  LAUNCH_FAILURE_FRESH_MINUTES,
  SPOT_RETRY_MINUTES,
  decideBurst,
  retirements,
} from '../../src/core/burst';
import { BOOT_TIMEOUT_PAUSE_MINUTES, NO_PROGRESS_MINUTES, workerIdleSince } from '../../src/core/decide';
import type { BurstMemory, QueueCounts } from '../../src/core/model';
import { TAG_CLOCK_SKEW_MS } from '../../src/core/tags';

fc.configureGlobal({ seed: 20261124 });
const T0 = Date.parse('2026-11-24T01:00:00Z');
const at = (minutes: number): Date => new Date(T0 + minutes * 60_000);
const NOW = at(100);

const burst: BurstConfig = { ...DEFAULT_CONFIG.burst, maxWorkers: 3 };
const rules: BurstRules = { burst };
const queue = (waiting: number, inFlight = 0, delayed = 0): QueueCounts => ({ waiting, inFlight, delayed });
/** decideBurst at NOW with the default rules and no memory, unless given. */
const decide = (o: BurstObservation, memory: BurstMemory = {}, r = rules, now = NOW): BurstDecision =>
  decideBurst(o, memory, r, now);
const retiredIds = (d: BurstDecision): string[] => d.retire.map((r) => r.instanceId);

/** A worker launched at minute `launchMinute` that never reported ready. */
const neverReady = (id: string, launchMinute: number, overrides: Partial<BurstWorkerObservation> = {}) =>
  worker(id, undefined, { launchTime: at(launchMinute), readyAt: undefined, ...overrides });

/** A worker launched at minute 80, ready at 86, with its last job (start or end) at `lastJob` minutes. */
function worker(
  id: string,
  lastJob?: number,
  overrides: Partial<BurstWorkerObservation> = {},
): BurstWorkerObservation {
  return {
    instanceId: id,
    lifecycleState: 'InService',
    market: 'spot',
    launchTime: at(80),
    readyAt: at(86),
    lastJobAt: lastJob === undefined ? undefined : at(lastJob),
    ...overrides,
  };
}

function observe(
  q: QueueCounts,
  workers: BurstWorkerObservation[] = [],
  group: Partial<BurstObservation['group']> = {},
  primary: BurstObservation['primary'] = 'serving',
): BurstObservation {
  return {
    queue: q,
    primary,
    group: { desired: workers.length, max: 3, onDemand: false, workers, ...group },
  };
}

describe('decideBurst: scale-out', () => {
  it('sizes the group from the backlog: 30 jobs ÷ 7.5 a worker in 10 minutes = 4 workers, the primary is one', () => {
    const d = decide(observe(queue(28, 2)));
    expect(d.desired).toBe(3);
    expect(d.retire).toEqual([]);
    expect(d.reason).toContain('scale out to 3 burst');
    expect(d.memory.burstLastReason).toBe(d.reason);
  });

  it('never beyond maxWorkers, and not for a backlog the primary clears alone', () => {
    expect(decide(observe(queue(200))).desired).toBe(3);
    expect(decide(observe(queue(6, 1))).desired).toBeUndefined();
  });

  it('counts workers booting and launches owed: no second scale-out for the same backlog', () => {
    const booting = neverReady('i-b1', 97, { lifecycleState: 'Pending' });
    expect(decide(observe(queue(20), [booting], { desired: 2 })).desired).toBeUndefined();
    expect(decide(observe(queue(30), [booting], { desired: 2 })).desired).toBe(3);
  });

  it('starts burst workers only when the primary serves or cannot be started', () => {
    const idle = decide(observe(queue(40), [], {}, 'idle'));
    expect(idle.desired).toBeUndefined();
    expect(idle.reason).toContain('primary stopped and not wanted');
    // Blocked: the primary is not one of the workers, so the whole backlog is the group's.
    expect(decide(observe(queue(12), [], {}, 'blocked')).desired).toBe(2);
    expect(decide(observe(queue(12), [], {}, 'serving')).desired).toBe(1);
  });

  it('counts Pending:Wait workers as active and reports a launch failure only within the last minute', () => {
    const waiting = neverReady('i-b1', 97, { lifecycleState: 'Pending:Wait' });
    const fresh = decide(observe(queue(9), [waiting], { lastLaunchFailure: { at: at(99.5), message: 'x' } }));
    expect(fresh.signals).toEqual({
      workers: 1,
      onDemandWorkers: 0,
      launchFailures: 1,
      bootTimeouts: 0,
      overRunTime: 0,
    });
    expect(fresh.desired).toBeUndefined();
    const old = decide(observe(queue(9), [waiting], { lastLaunchFailure: { at: at(99), message: 'x' } }));
    expect(old.signals.launchFailures).toBe(0);
  });

  it('cancels launches owed that the queue no longer needs, never below the workers there', () => {
    const d = decide(observe(queue(0), [worker('i-b1', 99)], { desired: 3 }));
    expect(d.desired).toBe(1);
  });
});

describe('decideBurst: scale-in of idle workers only', () => {
  it('retires a worker idle burst.idleMinutes since its last job, keeps one that worked since', () => {
    const d = decide(observe(queue(0), [worker('i-idle', 97), worker('i-recent', 99)]));
    expect(retiredIds(d)).toEqual(['i-idle']);
    expect(d.reason).toMatch(/retire i-idle: idle 3m ≥ 2m/);
  });

  it('idle counts from ready when there was no job, never from boot', () => {
    const readyLate = worker('i-b', undefined, { launchTime: at(90), readyAt: at(99) });
    expect(decide(observe(queue(0), [readyLate])).retire).toEqual([]);
    const booting = neverReady('i-b', 90);
    expect(decide(observe(queue(20), [booting])).retire).toEqual([]);
    // Tags of an earlier launch (before launchTime) do not count: the worker is still booting.
    const stale = worker('i-b', 10, { launchTime: at(95), readyAt: at(20) });
    expect(decide(observe(queue(20), [stale])).retire).toEqual([]);
  });

  it('while jobs wait, an idle worker goes only beyond the workers the backlog needs', () => {
    // 20 jobs need two burst workers beside the primary: the idle one stays (it takes them).
    expect(decide(observe(queue(20), [worker('i-b', 90)])).retire).toEqual([]);
    // One waiting or delayed job the primary clears alone: the idle worker is surplus.
    expect(retiredIds(decide(observe(queue(1), [worker('i-b', 90)])))).toEqual(['i-b']);
    expect(retiredIds(decide(observe(queue(0, 0, 1), [worker('i-b', 90)])))).toEqual(['i-b']);
  });

  it('idleness is per worker: with jobs in flight elsewhere, a worker quiet idleMinutes goes; one that refreshed its last-job tag stays', () => {
    // A worker running a job refreshes its tag at least every WORKER_ACTIVITY_REFRESH_SECONDS.
    expect(decide(observe(queue(0, 1), [worker('i-b', 99.5)])).retire).toEqual([]);
    expect(retiredIds(decide(observe(queue(0, 1), [worker('i-b', 100 - burst.idleMinutes)])))).toEqual([
      'i-b',
    ]);
    // An idleMinutes shorter than two refreshes: two refreshes it is, while anything is in flight.
    const oneMinute = { burst: { ...burst, idleMinutes: 1 } };
    expect(decide(observe(queue(0, 1), [worker('i-b', 98.5)]), {}, oneMinute).retire).toEqual([]);
    // Quiet longer than any job runs: it holds none.
    const long = worker('i-b', 100 - NO_PROGRESS_MINUTES, { launchTime: at(50), readyAt: at(56) });
    expect(retiredIds(decide(observe(queue(0, 1), [long])))).toEqual(['i-b']);
  });

  it('idle ones first, the longest idle first; then workers booting for a backlog that cleared; terminating ones never', () => {
    const d = decide(
      observe(queue(0), [
        worker('i-a', 97),
        worker('i-b', 90),
        worker('i-c', 80, { lifecycleState: 'Terminating' }),
        neverReady('i-d', 97, { lifecycleState: 'Pending' }),
      ]),
    );
    expect(retiredIds(d)).toEqual(['i-b', 'i-a', 'i-d']);
    expect(d.reason).toContain('retire i-d: booting 3m for a backlog that cleared');
  });

  it('a worker never ready within the boot timeout (not the first-boot one) is broken and goes, queue or not', () => {
    const timeout = DEFAULT_CONFIG.burst.bootTimeoutMinutes;
    expect(timeout).toBeLessThan(DEFAULT_CONFIG.scaler.firstBootTimeoutMinutes);
    // Its own key: a primary restarting warm may have a shorter one, a cold burst launch must not.
    const shortWarm = { burst: { ...burst, bootTimeoutMinutes: 15 } };
    const at12 = neverReady('i-b', 100 - 12);
    expect(decide(observe(queue(5), [at12]), {}, shortWarm).retire).toEqual([]);
    const booting = (minutes: number) => neverReady('i-b', 100 - minutes);
    const retired = (minutes: number, waiting: number) =>
      retiredIds(decide(observe(queue(waiting), [booting(minutes)])));
    expect(retired(timeout - 1, 5)).toEqual([]);
    expect(retired(timeout, 5)).toEqual(['i-b']);
    expect(retired(timeout, 0)).toEqual(['i-b']);
    expect(decide(observe(queue(0), [booting(timeout)])).reason).toContain(
      `retire i-b: never ready ${timeout}m after launch (timeout ${timeout}m)`,
    );
  });

  it('a worker never ready long after launch is broken and goes', () => {
    const broken = neverReady('i-b', 100 - 61);
    expect(retiredIds(decide(observe(queue(5), [broken])))).toEqual(['i-b']);
  });
});

describe("decideBurst: the operator's hold (start-gpu --workers N --hold …) is a floor", () => {
  const held = (o: BurstObservation, heldWorkers: number): BurstObservation => ({ ...o, heldWorkers });

  it('launches the held workers with an empty queue, and does not cancel them before they are listed', () => {
    const launch = decide(held(observe(queue(0)), 2));
    expect(launch.desired).toBe(2);
    expect(launch.reason).toContain("scale out to 2 burst (the operator's hold)");
    // Desired 2 set, no instance listed yet (spot failing, or not yet launched): left as it is.
    expect(decide(held(observe(queue(0), [], { desired: 2 }), 2)).desired).toBeUndefined();
    // Without the hold the same owed launches are cancelled.
    expect(decide(observe(queue(0), [], { desired: 2 })).desired).toBe(0);
  });

  it('keeps the held number of idle workers (the most recently busy), retires the rest and any broken one', () => {
    const idle = [worker('i-a', 90), worker('i-b', 91), worker('i-c', 92)];
    const d = decide(held(observe(queue(0), idle, { desired: 3 }), 2));
    expect(retiredIds(d)).toEqual(['i-a']);
    expect(d.reason).toContain("the operator's hold keeps 2 burst");
    const broken = neverReady('i-x', 60);
    const withBroken = decide(held(observe(queue(0), [...idle, broken], { desired: 4 }), 3));
    expect(retiredIds(withBroken)).toEqual(['i-x']);
  });

  it('never more than burst.maxWorkers, and a queue that needs more still gets more', () => {
    expect(decide(held(observe(queue(0)), 9)).desired).toBe(burst.maxWorkers);
    expect(decide(held(observe(queue(30)), 1)).desired).toBe(3);
  });
});

describe("decideBurst: the operator's pause (stop-gpu) is a stop of every burst worker", () => {
  it('lowers desired to 0 and retires every worker in service, busy or not, without a decrement', () => {
    const busy = worker('i-busy', 99.9);
    const idle = worker('i-idle', 90);
    const booting = worker('i-boot', undefined, { lifecycleState: 'Pending', readyAt: undefined });
    const d = decide({
      ...observe(queue(30, 2), [busy, idle, booting], { desired: 3 }, 'idle'),
      paused: true,
      heldWorkers: 2,
    });
    expect(d.desired).toBe(0);
    expect(d.retire).toEqual([
      { instanceId: 'i-busy', decrementDesired: false },
      { instanceId: 'i-idle', decrementDesired: false },
    ]);
    expect(d.reason).toContain("lower desired 3 → 0: the operator's pause");
    expect(d.reason).toContain("retire i-busy: the operator's pause");
  });

  it('with nothing left, does nothing', () => {
    const d = decide({ ...observe(queue(30), [], { desired: 0 }, 'idle'), paused: true });
    expect(d.desired).toBeUndefined();
    expect(d.retire).toEqual([]);
  });
});

describe('decideBurst: what the mutation run found unasserted', () => {
  it('counts pending and in-service workers as the group, never terminating or terminated ones', () => {
    const states = ['Pending', 'Pending:Wait', 'InService', 'Terminating', 'Terminating:Wait', 'Terminated'];
    const workers = states.map((state, i) => worker(`i-${i}`, 99, { lifecycleState: state }));
    expect(decide(observe(queue(1), workers)).signals.workers).toBe(3);
  });

  it('says the queue, not the hold, when the queue asks for as many workers as the hold', () => {
    const d = decide({ ...observe(queue(16)), heldWorkers: 1 });
    expect(d.desired).toBe(2);
    expect(d.reason).toContain('scale out to 2 burst (16 jobs');
    const asMany = decide({ ...observe(queue(16)), heldWorkers: 2 });
    expect(asMany.reason).toContain('scale out to 2 burst (16 jobs');
  });

  it('remembers the reason of its last action only: a tick that does nothing keeps the one before', () => {
    const before = { burstLastReason: 'burst: 30 waiting; scale out to 3 burst' };
    const quiet = decide(observe(queue(0), [worker('i-a', 99.5)], { desired: 1 }), before);
    expect(quiet.memory.burstLastReason).toBe(before.burstLastReason);
    const acting = decide(observe(queue(30)), before);
    expect(acting.memory.burstLastReason).toBe(acting.reason);
  });

  it('remembers each action on its own: a retire alone, a market switch alone, a drain completion alone', () => {
    const before: BurstMemory = { burstLastReason: 'burst: 30 waiting; scale out to 3 burst' };
    const retiring = decide(observe(queue(0), [worker('i-a', 60)], { desired: 1 }), before);
    expect([retiring.desired, retiring.onDemand, retiring.complete]).toEqual([undefined, undefined, []]);
    expect(retiredIds(retiring)).toEqual(['i-a']);
    expect(retiring.memory.burstLastReason).toBe(retiring.reason);
    const switching = decide(observe(queue(5), [worker('i-a', 99.5)], { desired: 1 }), {
      ...before,
      burstOnDemandSince: at(71),
    });
    expect([switching.desired, switching.retire, switching.complete]).toEqual([undefined, [], []]);
    expect(switching.onDemand).toBe(true);
    expect(switching.memory.burstLastReason).toBe(switching.reason);
    const completing = decide(
      observe(queue(0), [worker('i-a', 90, { lifecycleState: 'Terminating:Wait', drainedAt: at(99) })], {
        desired: 0,
      }),
      before,
    );
    expect([completing.desired, completing.onDemand, completing.retire]).toEqual([undefined, undefined, []]);
    expect(completing.memory.burstLastReason).toBe(completing.reason);
  });

  it('re-asserts on-demand only within the spot retry time, and says until when', () => {
    const since = (minutesAgo: number): BurstMemory => ({ burstOnDemandSince: at(100 - minutesAgo) });
    const reset = decide(observe(queue(5), [], { desired: 1 }), since(29));
    expect(reset.onDemand).toBe(true);
    expect(reset.reason).toContain(
      `on-demand again until ${at(100 - 29 + SPOT_RETRY_MINUTES)
        .toISOString()
        .replace('.000Z', 'Z')}`,
    );
    expect(decide(observe(queue(5), [], { desired: 1 }), since(SPOT_RETRY_MINUTES)).onDemand).toBeUndefined();
  });
});

describe('retiring: the desired capacity drops with a worker only while it counts that worker', () => {
  const flags = (desired: number, active: number, ids = ['i-a', 'i-b', 'i-c'].slice(0, active)) =>
    retirements(ids, desired, active).map((r) => r.decrementDesired);

  it('desired covering every worker: each retire lowers it, so nothing is replaced', () => {
    expect(flags(3, 3)).toEqual([true, true, true]);
  });

  it('desired set below the protected workers (start-gpu --workers 0): no decrement, which Auto Scaling would refuse at 0', () => {
    expect(flags(0, 2)).toEqual([false, false]);
    expect(flags(1, 3)).toEqual([false, false, true]);
  });

  it('the decision passes the desired it sets on the same tick: launches owed and cancelled are not counted twice', () => {
    // Desired 5 with 2 workers and an empty queue: lowered to 2, then both idle workers retire with it.
    const idle = [worker('i-a', 90), worker('i-b', 91)];
    const d = decide(observe(queue(0), idle, { desired: 5 }));
    expect(d.desired).toBe(2);
    expect(d.retire).toEqual([
      { instanceId: 'i-a', decrementDesired: true },
      { instanceId: 'i-b', decrementDesired: true },
    ]);
  });

  it('an operator desired of 0 under two idle workers: both retire without a decrement', () => {
    const d = decide(observe(queue(0), [worker('i-a', 90), worker('i-b', 91)], { desired: 0 }));
    expect(d.desired).toBeUndefined();
    expect(d.retire).toEqual([
      { instanceId: 'i-a', decrementDesired: false },
      { instanceId: 'i-b', decrementDesired: false },
    ]);
  });
});

describe('decideBurst: on-demand fallback and return to spot', () => {
  const failing = (minutesAgo: number) => ({
    at: at(100 - minutesAgo),
    message: 'InsufficientInstanceCapacity',
  });

  it('spot failing while work waits is remembered from the first failure, then on-demand after afterMinutes', () => {
    const first = decide(observe(queue(20), [], { desired: 3, lastLaunchFailure: failing(0) }));
    expect(first.onDemand).toBeUndefined();
    expect(first.memory.burstSpotFailingSince).toEqual(NOW);
    const memory: BurstMemory = { burstSpotFailingSince: at(90) };
    const later = decide(observe(queue(20), [], { desired: 3, lastLaunchFailure: failing(1) }), memory);
    expect(later.onDemand).toBe(true);
    expect(later.memory).toMatchObject({ burstSpotFailingSince: undefined, burstOnDemandSince: NOW });
    expect(later.reason).toMatch(/spot launches failing for 10m ≥ 10m while 20 jobs wait.*: on-demand/);
  });

  it('a deploy that writes the all-spot distribution of the template back mid-fallback: on-demand again at once, until the retry time', () => {
    const memory: BurstMemory = { burstOnDemandSince: at(90) };
    const reset = decide(observe(queue(20), [], { desired: 3, onDemand: false }), memory);
    expect(reset.onDemand).toBe(true);
    expect(reset.memory.burstOnDemandSince).toEqual(at(90));
    expect(reset.reason).toContain('the group is on spot, not by the scaler (a deploy?): on-demand again');
    // Past the retry time, or with the fallback switched off, spot it is.
    expect(
      decide(observe(queue(20), [], { desired: 3 }), { burstOnDemandSince: at(60) }).onDemand,
    ).toBeUndefined();
    const off = { ...rules, burst: { ...burst, onDemandFallback: { enabled: false, afterMinutes: 10 } } };
    expect(decide(observe(queue(20), [], { desired: 3 }), memory, off).onDemand).toBeUndefined();
  });

  it('not while nothing waits, nor when every launch was made, nor on an old failure', () => {
    const memory: BurstMemory = { burstSpotFailingSince: at(80) };
    const none = (o: BurstObservation) => decide(o, memory);
    expect(
      none(observe(queue(0), [], { desired: 3, lastLaunchFailure: failing(0) })).onDemand,
    ).toBeUndefined();
    expect(
      none(observe(queue(9), [worker('i-1', 99)], { desired: 1, lastLaunchFailure: failing(0) })).onDemand,
    ).toBeUndefined();
    const old = none(
      observe(queue(9), [], { desired: 3, lastLaunchFailure: failing(LAUNCH_FAILURE_FRESH_MINUTES + 1) }),
    );
    expect(old.onDemand).toBeUndefined();
    expect(old.memory.burstSpotFailingSince).toBeUndefined();
  });

  it('disabled by configuration: spot failures are reported, on-demand never used', () => {
    const off: BurstRules = {
      ...rules,
      burst: { ...burst, onDemandFallback: { enabled: false, afterMinutes: 10 } },
    };
    const d = decide(
      observe(queue(20), [], { desired: 3, lastLaunchFailure: failing(0) }),
      { burstSpotFailingSince: at(0) },
      off,
    );
    expect(d.onDemand).toBeUndefined();
    expect(d.reason).toContain('on-demand fallback disabled');
    expect(decide(observe(queue(20), [], { onDemand: true }), {}, off).onDemand).toBe(false);
  });

  it(`returns to spot after ${SPOT_RETRY_MINUTES} minutes on on-demand; running workers keep their market`, () => {
    const onDemand = [worker('i-od', 99, { market: 'on-demand' })];
    const still = decide(observe(queue(20), onDemand, { onDemand: true }), {
      burstOnDemandSince: at(100 - SPOT_RETRY_MINUTES + 1),
    });
    expect(still.onDemand).toBeUndefined();
    expect(still.signals).toEqual({
      workers: 1,
      onDemandWorkers: 1,
      launchFailures: 0,
      bootTimeouts: 0,
      overRunTime: 0,
    });
    const back = decide(observe(queue(20), onDemand, { onDemand: true }), {
      burstOnDemandSince: at(100 - SPOT_RETRY_MINUTES),
    });
    expect(back.onDemand).toBe(false);
    expect(back.retire).toEqual([]);
    expect(back.memory.burstOnDemandSince).toBeUndefined();
  });
});

describe('decideBurst: workers that cost and serve nothing', () => {
  const broken = neverReady('i-x', 100 - burst.bootTimeoutMinutes);

  it('a worker never ready within the boot timeout pauses scale-out for the boot-timeout pause, and says so', () => {
    const d = decide(observe(queue(40), [broken], { desired: 3 }));
    expect(retiredIds(d)).toEqual(['i-x']);
    expect(d.signals.bootTimeouts).toBe(1);
    expect(d.memory.burstBootPausedUntil).toEqual(at(100 + BOOT_TIMEOUT_PAUSE_MINUTES));
    // The launches owed are cancelled with it, not made: a broken image costs no second round.
    expect(d.desired).toBe(1);
    expect(d.reason).toContain('no scale-out before 2026-11-24T03:40:00Z');
  });

  it('the pause holds until it ends, whatever the queue; then the group grows again', () => {
    const memory: BurstMemory = { burstBootPausedUntil: at(130) };
    const during = decide(observe(queue(60)), memory);
    expect(during.desired).toBeUndefined();
    expect(during.memory.burstBootPausedUntil).toEqual(at(130));
    const after = decide(observe(queue(60)), memory, rules, at(130));
    expect(after.desired).toBe(3);
    expect(after.memory.burstBootPausedUntil).toBeUndefined();
  });

  it('a ready worker that took no job while jobs waited NO_PROGRESS_MINUTES is stalled and goes, counted from when they started waiting', () => {
    const quiet = worker('i-s', 60, { launchTime: at(20), readyAt: at(25) });
    const base = { ...observe(queue(30), [quiet]), waitingSince: at(100 - NO_PROGRESS_MINUTES) };
    expect(retiredIds(decide(base))).toEqual(['i-s']);
    expect(decide(base).reason).toContain('took no job for 30m while jobs waited');
    // Jobs that started waiting a minute ago: not a stall, however long the worker was idle before.
    expect(decide({ ...base, waitingSince: at(99) }).retire).toEqual([]);
  });

  it('a booting worker is cancelled only while nothing runs anywhere: one whose ready tag has not landed may hold the job in flight', () => {
    const booting = neverReady('i-b', 94);
    expect(decide(observe(queue(0, 1), [booting])).retire).toEqual([]);
    expect(retiredIds(decide(observe(queue(0), [booting])))).toEqual(['i-b']);
  });

  it('a primary that could not be observed: no scale-out, but idle and broken workers still go', () => {
    const d = decide({
      ...observe(queue(40), [worker('i-idle', 90), broken], {}, 'blocked'),
      primaryUnknown: true,
    });
    expect(d.desired).toBeUndefined();
    expect(retiredIds(d).sort()).toEqual(['i-idle', 'i-x']);
    expect(d.reason).toContain('primary not observed');
  });
});

describe('decideBurst: invariants (property test, fixed seed)', () => {
  const workerArb = fc.record({
    lifecycleState: fc.constantFrom('Pending', 'InService', 'InService', 'Terminating'),
    launchedAgo: fc.integer({ min: 0, max: 90 }),
    readyAfter: fc.option(fc.integer({ min: 0, max: 10 })),
    lastJobAgo: fc.option(fc.integer({ min: 0, max: 90 })),
  });
  it('never retires a worker that worked within idleMinutes or is terminating, a booting one only past its timeout or once nothing waits, an idle one while jobs wait only beyond the need; never exceeds maxWorkers; no scale-out with an idle primary', () => {
    fc.assert(
      fc.property(
        fc.record({
          waiting: fc.integer({ min: 0, max: 60 }),
          inFlight: fc.integer({ min: 0, max: 5 }),
          delayed: fc.integer({ min: 0, max: 2 }),
        }),
        fc.array(workerArb, { maxLength: 4 }),
        fc.constantFrom('serving', 'blocked', 'idle' as const),
        fc.integer({ min: 0, max: 3 }),
        (q, specs, primary, owed) => {
          const workers = specs.map((s, i) =>
            worker(`i-${i}`, undefined, {
              lifecycleState: s.lifecycleState,
              launchTime: at(100 - s.launchedAgo),
              readyAt: s.readyAfter === null ? undefined : at(100 - s.launchedAgo + s.readyAfter),
              lastJobAt: s.lastJobAgo === null ? undefined : at(100 - s.lastJobAgo),
            }),
          );
          const d = decide(observe(q, workers, { desired: Math.min(3, workers.length + owed) }, primary));
          if (d.desired !== undefined) expect(d.desired).toBeLessThanOrEqual(burst.maxWorkers);
          if (primary === 'idle' && d.desired !== undefined)
            expect(d.desired).toBeLessThanOrEqual(workers.length);
          for (const { instanceId: id } of d.retire) {
            const w = workers.find((x) => x.instanceId === id);
            expect(w?.lifecycleState).not.toBe('Terminating');
            const since = w && workerIdleSince(w, NOW);
            if (since === undefined) {
              // Never ready: past the boot timeout, or booting for a backlog that cleared.
              const booted = (NOW.getTime() - (w?.launchTime?.getTime() ?? 0)) / 60_000;
              if (booted < DEFAULT_CONFIG.burst.bootTimeoutMinutes) expect(q.waiting + q.delayed).toBe(0);
            } else {
              expect(w?.lifecycleState).toBe('InService');
              const quiet = (NOW.getTime() - since.getTime()) / 60_000;
              expect(quiet).toBeGreaterThanOrEqual(burst.idleMinutes);
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('decideBurst: sizes on all the work and says what it does', () => {
  it('counts waiting, in-flight and delayed jobs, and grows only while jobs wait', () => {
    // 5 + 5 + 5 = 15 jobs ÷ 7.5 → 2 workers, the primary is one.
    expect(decide(observe(queue(5, 5, 5))).desired).toBe(1);
    expect(decide(observe(queue(5))).desired).toBeUndefined();
    // Everything already being served: nothing to grow for.
    expect(decide(observe(queue(0, 20))).desired).toBeUndefined();
  });

  it.each<[string, BurstObservation, BurstMemory, BurstConfig, string]>([
    [
      'cancelled launches',
      observe(queue(0), [worker('i-b1', 99)], { desired: 3 }),
      {},
      burst,
      'burst: 0 waiting, 0 in flight; burst 1 of 3 (desired 3); lower desired 3 → 1: the queue no longer needs the launches owed',
    ],
    [
      'a worker never ready',
      observe(queue(0), [neverReady('i-b1', 30)]),
      {},
      burst,
      'burst: 0 waiting, 0 in flight; burst 1 of 3 (desired 1); retire i-b1: never ready 70m after launch (timeout 20m); a burst worker never became ready: no scale-out before 2026-11-24T03:40:00Z',
    ],
    [
      'the fallback switched off while on on-demand',
      observe(queue(5), [], { onDemand: true }),
      {},
      { ...burst, onDemandFallback: { enabled: false, afterMinutes: 10 } },
      'burst: 5 waiting, 0 in flight; burst 0 of 3 (desired 0) on-demand; on-demand fallback disabled: back to spot',
    ],
    [
      'spot tried again',
      observe(queue(5), [], { onDemand: true }),
      { burstOnDemandSince: at(60) },
      burst,
      'burst: 5 waiting, 0 in flight; burst 0 of 3 (desired 0) on-demand; on-demand for 40m ≥ 30m: trying spot again',
    ],
    [
      'on on-demand for now',
      observe(queue(5), [], { onDemand: true }),
      { burstOnDemandSince: at(90) },
      burst,
      'burst: 5 waiting, 0 in flight; burst 0 of 3 (desired 0) on-demand; on-demand since 2026-11-24T02:30:00Z (spot again after 30m)',
    ],
    [
      'spot failing, not yet long enough',
      observe(queue(20), [], { desired: 2, lastLaunchFailure: { at: at(99), message: 'no spot' } }),
      { burstSpotFailingSince: at(95) },
      burst,
      'burst: 20 waiting, 0 in flight; burst 0 of 3 (desired 2); spot launches failing for 5m (no spot); on-demand after 10m',
    ],
  ])('%s', (_situation, observation, memory, config, reason) => {
    expect(decide(observation, memory, { ...rules, burst: config }).reason).toBe(reason);
  });

  it('counts a launch failure exactly 5 minutes old as spot still failing', () => {
    const group = { desired: 2, lastLaunchFailure: { at: at(95), message: 'no spot' } };
    const d = decide(observe(queue(20), [], group));
    expect(d.memory.burstSpotFailingSince).toEqual(at(95));
    const older = decide(
      observe(queue(20), [], { ...group, lastLaunchFailure: { at: at(94.9), message: 'no spot' } }),
    );
    expect(older.memory.burstSpotFailingSince).toBeUndefined();
  });
});

describe('decideBurst: worker times from the future', () => {
  it('retires three idle on-demand workers whose last-job tags say 2099, as it retires honest ones', () => {
    const future = new Date('2099-01-01T00:00:00Z');
    const workers = ['i-a', 'i-b', 'i-c'].map((id) =>
      worker(id, undefined, { market: 'on-demand', lastJobAt: future }),
    );
    const d = decide(observe(queue(0), workers, { onDemand: true }));
    expect(retiredIds(d).sort()).toEqual(['i-a', 'i-b', 'i-c']);
  });

  it('takes a ready time from the future for never ready: past the boot timeout the worker goes', () => {
    const w = worker('i-a', undefined, { readyAt: new Date('2099-01-01T00:00:00Z'), launchTime: at(0) });
    expect(retiredIds(decide(observe(queue(0), [w])))).toEqual(['i-a']);
  });
});

describe('decideBurst: a run-time cap like the primary’s', () => {
  const capped: BurstRules = { burst, maxRunHours: 12 };
  // Launched 12 h before NOW and busy right now (its last-job tag is fresh).
  const longRunner = worker('i-long', 100, { launchTime: at(100 - 12 * 60), readyAt: at(100 - 12 * 60 + 6) });

  it('retires a worker running maxRunHours without the operator’s hold, busy or not, and counts it', () => {
    const d = decide(observe(queue(30, 2), [longRunner, worker('i-young', 100)]), {}, capped);
    expect(retiredIds(d)).toEqual(['i-long']);
    expect(d.reason).toContain('retire i-long: running 12h ≥ maximum run 12h without the operator’s hold');
    expect(d.signals.overRunTime).toBe(1);
  });

  it('keeps it under the operator’s hold, and a minute younger', () => {
    const held = decide({ ...observe(queue(30, 2), [longRunner]), heldWorkers: 1 }, {}, capped);
    expect(held.retire).toEqual([]);
    expect(held.signals.overRunTime).toBe(0);
    const younger = worker('i-long', 100, { launchTime: at(101 - 12 * 60) });
    expect(decide(observe(queue(30, 2), [younger]), {}, capped).retire).toEqual([]);
  });
});

describe('decideBurst: completing the drain of workers that say they drained', () => {
  /** A worker the group is terminating, held by the drain hook, with its drained tag at `drainedAt`. */
  const leaving = (id: string, drainedAt?: Date, lifecycleState = 'Terminating:Wait') =>
    worker(id, 90, { lifecycleState, drainedAt });

  it('completes the hook of a worker in Terminating:Wait that tagged itself drained, and says so', () => {
    const d = decide(observe(queue(0), [leaving('i-done', at(99.5))], { desired: 0 }));
    expect(d.complete).toEqual(['i-done']);
    expect(d.reason).toContain('complete the drain of i-done (drained at 2026-11-24T02:39:30Z)');
    expect(d.memory.burstLastReason).toBe(d.reason);
    expect(d.retire).toEqual([]);
    expect(d.desired).toBeUndefined();
  });

  it('leaves a worker in Terminating:Wait without the tag to drain (the hook times out to CONTINUE)', () => {
    const d = decide(observe(queue(0), [leaving('i-busy')], { desired: 0 }));
    expect(d.complete).toEqual([]);
    expect(d.reason).not.toContain('complete');
    expect(d.memory.burstLastReason).toBeUndefined();
  });

  it('never completes for a worker in service or already past the hook, tag or not', () => {
    for (const state of ['InService', 'Pending:Wait', 'Terminating', 'Terminating:Proceed', 'Terminated']) {
      const d = decide(observe(queue(5), [leaving('i-x', at(99), state)], { desired: 1 }));
      expect(d.complete).toEqual([]);
    }
  });

  it('reads a drained time beyond the clock skew as absent: only a time that has happened counts', () => {
    const within = decide(
      observe(queue(0), [leaving('i-a', new Date(NOW.getTime() + TAG_CLOCK_SKEW_MS))], { desired: 0 }),
    );
    expect(within.complete).toEqual(['i-a']);
    const future = decide(
      observe(queue(0), [leaving('i-a', new Date(NOW.getTime() + TAG_CLOCK_SKEW_MS + 1000))], { desired: 0 }),
    );
    expect(future.complete).toEqual([]);
    const forged = decide(
      observe(queue(0), [leaving('i-a', new Date('2099-01-01T00:00:00Z'))], { desired: 0 }),
    );
    expect(forged.complete).toEqual([]);
  });

  it("completes under the operator's pause and with the primary unobserved, beside the other workers' fate", () => {
    const workers = [leaving('i-a', at(98)), worker('i-idle', 60), leaving('i-b', at(97))];
    const paused = decide({ ...observe(queue(0), workers), paused: true });
    expect(paused.complete).toEqual(['i-a', 'i-b']);
    expect(retiredIds(paused)).toEqual(['i-idle']);
    const unknown = decide({ ...observe(queue(0), workers), primaryUnknown: true });
    expect(unknown.complete).toEqual(['i-a', 'i-b']);
    expect(unknown.signals.workers).toBe(1);
  });
});

describe('decideBurst: the edges of each rule', () => {
  const booting = (id: string, launchMinute: number) =>
    neverReady(id, launchMinute, { lifecycleState: 'Pending' });

  it('cancels only the launches the queue no longer needs, and says why; a boot pause cancels them all', () => {
    const d = decide(observe(queue(20), [worker('i-a', 99)], { desired: 3 }));
    expect(d.desired).toBe(2);
    expect(d.reason).toContain('lower desired 3 → 2: the queue no longer needs the launches owed');
    const paused = decide(observe(queue(20), [worker('i-a', 99)], { desired: 3 }), {
      burstBootPausedUntil: at(130),
    });
    expect(paused.desired).toBe(1);
    expect(paused.reason).toContain('lower desired 3 → 1: no launches during a boot pause');
  });

  it('an idle retire is not counted as a run-time retire, nor a boot timeout', () => {
    const d = decide(observe(queue(0), [worker('i-a', 90)]));
    expect(d.reason).toContain('retire i-a: idle 10m ≥ 2m since its last job (or ready)');
    expect(d.signals).toMatchObject({ bootTimeouts: 0, overRunTime: 0 });
  });

  it('delayed jobs are work to come: a booting worker is kept, and an idle one goes only beyond what they need', () => {
    const d = decide(observe(queue(0, 0, 3), [booting('i-new', 97), worker('i-a', 90)]));
    expect(retiredIds(d)).toEqual(['i-a']);
    expect(d.reason).toContain(
      'retire i-a: idle 10m ≥ 2m since its last job (or ready), beyond what the queue needs',
    );
  });

  it('nothing waiting is no stall, whatever the scaler remembers of an earlier wait', () => {
    const d = decide({
      ...observe(queue(0, 0, 3), [worker('i-a', undefined, { launchTime: at(0), readyAt: at(5) })]),
      waitingSince: at(0),
    });
    expect(d.reason).toContain('retire i-a: idle 95m');
    expect(d.reason).not.toContain('took no job');
  });

  it('with idleMinutes under two activity refreshes, a worker quiet less than that may still run a job', () => {
    const quick: BurstRules = { burst: { ...burst, idleMinutes: 1 } };
    const d = decide(observe(queue(0), [worker('i-a', 98.5)]), {}, quick);
    expect(d.retire).toEqual([]);
    expect(decide(observe(queue(0), [worker('i-a', 98)]), {}, quick).retire).toHaveLength(1);
  });

  it('a terminating worker does not count toward the workers the backlog needs', () => {
    // 10 jobs: one burst worker beside the primary. The idle one stays; the terminating one is no substitute.
    const d = decide(
      observe(queue(10), [worker('i-a', 90), worker('i-t', 90, { lifecycleState: 'Terminating:Wait' })]),
    );
    expect(d.retire).toEqual([]);
  });

  it('of workers booting for a backlog that cleared, the newest is cancelled first', () => {
    const d = decide({ ...observe(queue(0), [booting('i-old', 95), booting('i-new', 97)]), heldWorkers: 1 });
    expect(retiredIds(d)).toEqual(['i-new']);
  });

  it('on on-demand, remembers since when (the first tick that saw it) and forgets the spot failures', () => {
    const d = decide(observe(queue(5), [], { onDemand: true }), { burstSpotFailingSince: at(50) });
    expect(d.memory).toMatchObject({ burstOnDemandSince: NOW, burstSpotFailingSince: undefined });
  });

  it('a launch owed beside a terminating worker still counts as spot failing', () => {
    const d = decide(
      observe(queue(30), [worker('i-a', 99), worker('i-t', 90, { lifecycleState: 'Terminating' })], {
        desired: 2,
        lastLaunchFailure: { at: at(99), message: 'no spot capacity' },
      }),
    );
    expect(d.memory.burstSpotFailingSince).toEqual(at(99));
  });
});
