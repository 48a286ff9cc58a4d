import { type BurstConfig, DEFAULT_CONFIG } from '../../src/config';
import { createHandler } from '../../lambda/scaler/handler';
import { FleetError } from '../../src/aws/errors';
import type {
  BurstGroupState,
  BurstPort,
  BurstWorkerInfo,
  FleetPort,
  InstanceInfo,
  QueuePort,
} from '../../src/aws/ports';
import { BURST_GAUGES, TICK_COUNTERS } from '../../src/control/metrics';
import {
  type FleetDiscovery,
  FleetLayoutError,
  PrimaryUnobservedError,
  runTick,
} from '../../src/control/tick';
import type { QueueCounts } from '../../src/core/model';
import { TAGS } from '../../src/core/tags';
import { recordingObservability, scalerEnvironment } from '../lambda/support';
import { burstWorker } from './support';

const T0 = Date.parse('2026-11-24T01:00:00Z');
const at = (minutes: number): Date => new Date(T0 + minutes * 60_000);
const BURST: BurstConfig = { ...DEFAULT_CONFIG.burst, maxWorkers: 3 };
const TARGET = { appName: 'GpuFleet', queueUrl: 'q' };
const jobs = (waiting: number, inFlight = 0): QueueCounts => ({ waiting, inFlight, delayed: 0 });
/** The tags a worker writes: ready at minute `ready` and, when given, its last job at minute `lastJob`. */
const workerTags = (ready: number, lastJob?: number): Record<string, string> => ({
  [TAGS.readyAt]: at(ready).toISOString(),
  ...(lastJob !== undefined && { [TAGS.lastJobAt]: at(lastJob).toISOString() }),
});
/** A burst worker launched at minute -30, ready at -25, its last job at -10, unless given. */
const burstMember = (instanceId: string, overrides: Partial<BurstWorkerInfo> = {}): BurstWorkerInfo =>
  burstWorker(instanceId, { launchTime: at(-30), tags: workerTags(-25, -10), ...overrides });
/** One tick at minute 0 with the default scaler and three burst workers. */
const tickNow = (deps: Parameters<typeof runTick>[0]) =>
  runTick(deps, TARGET, DEFAULT_CONFIG.scaler, at(0), BURST);

/** A primary GPU and a queue that do what they are told, recording every call. */
function world(state: InstanceInfo['state'], counts: QueueCounts, tags: Record<string, string> = {}) {
  const calls: string[] = [];
  const gpu: InstanceInfo = {
    instanceId: 'i-gpu',
    role: 'gpu',
    instanceType: 'g4dn.xlarge',
    state,
    lifecycle: 'spot',
    tags: { [TAGS.fleet]: 'GpuFleet', [TAGS.role]: 'gpu', ...tags },
  };
  const written: Array<Record<string, string>> = [];
  const fleet: FleetPort & FleetDiscovery = {
    discover: async () => [gpu],
    describe: async () => [gpu],
    start: async () => {
      calls.push('start');
    },
    stop: async () => {
      calls.push('stop');
    },
    writeTags: async (_id, t) => {
      written.push({ ...t });
    },
  };
  const queue: QueuePort = { counts: async () => counts };
  return { fleet, queue, calls, written };
}

/** A burst group that records what it is asked; `fail` makes one call refuse. */
function group(
  state: Partial<BurstGroupState> = {},
  fail: Partial<Record<keyof BurstPort, FleetError>> = {},
) {
  const calls: string[] = [];
  const refuse = (name: keyof BurstPort) => {
    const error = fail[name];
    if (error) throw error;
  };
  const port: BurstPort = {
    describe: async () => {
      calls.push('describe');
      refuse('describe');
      return { desired: 0, max: 3, onDemand: false, workers: [], ...state };
    },
    setDesired: async (n) => {
      calls.push(`setDesired ${n}`);
      refuse('setDesired');
    },
    retire: async (id, decrementDesired) => {
      calls.push(`retire ${id}${decrementDesired ? '' : ' (desired kept)'}`);
      refuse('retire');
      // As Auto Scaling: a decrement below the group's minimum of 0 is refused.
      if (decrementDesired && (state.desired ?? 0) === 0)
        throw new FleetError('Unknown', 'ValidationError: Currently, desiredSize equals minSize (0).', false);
    },
    setOnDemand: async (b) => {
      calls.push(`setOnDemand ${b}`);
      refuse('setOnDemand');
    },
    completeDrain: async (id) => {
      calls.push(`completeDrain ${id}`);
      refuse('completeDrain');
    },
  };
  return { port, calls };
}

const throttled = new FleetError('Throttled', 'Rate exceeded', true);

describe('runTick with a burst group', () => {
  it('an operator desired of 0 below an idle worker (start-gpu --workers 0): the worker retires, not refused every tick', async () => {
    const w = world('stopped', jobs(0));
    const g = group({ desired: 0, workers: [burstMember('i-b1')] });
    const report = await tickNow({ ...w, burst: g.port });
    expect(g.calls).toEqual(['describe', 'retire i-b1 (desired kept)']);
    expect(report.burst?.errors).toEqual([]);
  });

  it('retires a burst worker that ran scaler.maxRunHours without a hold, busy as it is, and counts it', async () => {
    const w = world('running', jobs(0, 1));
    const busy = burstMember('i-b1', {
      launchTime: at(-DEFAULT_CONFIG.scaler.maxRunHours * 60),
      tags: workerTags(-700, 0),
    });
    const g = group({ desired: 1, workers: [busy] });
    const report = await tickNow({ ...w, burst: g.port });
    expect(g.calls).toEqual(['describe', 'retire i-b1']);
    expect(report.burst?.decision?.signals.overRunTime).toBe(1);
  });

  it('maxWorkers 0, or no group: the group is never touched and the tick is the one-GPU tick', async () => {
    const plain = world('stopped', jobs(30));
    const without = await runTick(plain, TARGET, DEFAULT_CONFIG.scaler, at(0));
    const g = group();
    const zero = world('stopped', jobs(30));
    const withZero = await runTick(
      { ...zero, burst: g.port },
      TARGET,
      DEFAULT_CONFIG.scaler,
      at(0),
      DEFAULT_CONFIG.burst,
    );
    expect(g.calls).toEqual([]);
    expect(withZero).toEqual(without);
    expect(zero.written).toEqual(plain.written);
  });

  it('starts the primary and scales the group out on the same tick; one tag write holds both memories', async () => {
    const w = world('stopped', jobs(30));
    const g = group();
    const report = await tickNow({ ...w, burst: g.port });
    expect(w.calls).toEqual(['start']);
    expect(g.calls).toEqual(['describe', 'setDesired 3']);
    expect(report.burst?.observation?.primary).toBe('serving');
    expect(w.written).toHaveLength(1);
    expect(w.written[0]?.[TAGS.burstLastReason]).toMatch(/^burst: 30 waiting.*scale out to 3 burst/);
    expect(w.written[0]?.[TAGS.lastAction]).toBe('start');
  });

  it('an operator pause keeps burst workers from starting too (the primary is idle, not blocked)', async () => {
    const w = world('stopped', jobs(40), { [TAGS.pausedUntil]: at(60).toISOString() });
    const g = group();
    const report = await tickNow({ ...w, burst: g.port });
    expect(report.burst?.observation?.primary).toBe('idle');
    expect(g.calls).toEqual(['describe']);
  });

  it.each(['pending', 'running'] as const)(
    'an operator pause with the primary still %s (stop-gpu just now): no burst worker starts',
    async (state) => {
      const w = world(state, jobs(30), { [TAGS.pausedUntil]: at(600).toISOString() });
      const g = group();
      const report = await tickNow({ ...w, burst: g.port });
      expect(report.burst?.observation?.primary).toBe('idle');
      expect(g.calls).toEqual(['describe']);
    },
  );

  it("an operator's hold with burst workers keeps them launched with an empty queue; an expired one does not", async () => {
    const tags = (until: number) => ({
      [TAGS.holdUntil]: at(until).toISOString(),
      [TAGS.burstHoldWorkers]: '2',
    });
    const w = world('running', jobs(0), tags(60));
    const g = group();
    const report = await tickNow({ ...w, burst: g.port });
    expect(g.calls).toEqual(['describe', 'setDesired 2']);
    expect(report.burst?.observation?.heldWorkers).toBe(2);
    const expired = world('running', jobs(0), tags(-1));
    const g2 = group();
    await tickNow({ ...expired, burst: g2.port });
    expect(g2.calls).toEqual(['describe']);
  });

  it('a worker launched against a stop that raced the tick is retired by the next tick, busy or not', async () => {
    const w = world('stopped', jobs(20, 1), { [TAGS.pausedUntil]: at(600).toISOString() });
    const g = group({
      desired: 1,
      workers: [burstMember('i-b1', { launchTime: at(-10), tags: workerTags(-4, -0.2) })],
    });
    await tickNow({ ...w, burst: g.port });
    expect(g.calls).toEqual(['describe', 'setDesired 0', 'retire i-b1 (desired kept)']);
  });

  it('under a pause with desired 0 refused, each retire lowers desired instead: nothing is replaced', async () => {
    const w = world('stopped', jobs(5), { [TAGS.pausedUntil]: at(600).toISOString() });
    const inService = (instanceId: string) =>
      burstMember(instanceId, { launchTime: at(-10), tags: workerTags(-4) });
    const g = group(
      { desired: 2, workers: [inService('i-b1'), inService('i-b2')] },
      { setDesired: throttled },
    );
    const report = await tickNow({ ...w, burst: g.port });
    expect(g.calls).toEqual(['describe', 'setDesired 0', 'retire i-b1', 'retire i-b2']);
    expect(report.burst?.errors.map((e) => e.action)).toEqual(['desired 0']);
  });

  it('a primary that cannot start (spot-interrupted) lets the group take the whole backlog', async () => {
    const w = world('stopped', jobs(12));
    const interrupted = {
      ...w,
      fleet: {
        ...w.fleet,
        discover: async () => [
          {
            ...(await w.fleet.describe([]))[0],
            stateReasonCode: 'Server.SpotInstanceShutdown',
          } as InstanceInfo,
        ],
      },
    };
    const g = group();
    const report = await tickNow({ ...interrupted, burst: g.port });
    expect(report.burst?.observation?.primary).toBe('blocked');
    expect(g.calls).toEqual(['describe', 'setDesired 2']);
  });

  it('a primary stopped on this tick (stalled worker) does not serve: the group takes over', async () => {
    const w = world('running', jobs(5), {
      [TAGS.readyAt]: at(-40).toISOString(),
      [TAGS.pendingSince]: at(-35).toISOString(),
    });
    const g = group();
    const report = await tickNow({ ...w, burst: g.port });
    expect(w.calls).toEqual(['stop']);
    expect(report.burst?.observation?.primary).toBe('blocked');
    expect(g.calls).toEqual(['describe', 'setDesired 1']);
  });

  it('a group that cannot be described skips the burst turn; the primary acts and its memory is written', async () => {
    const w = world('stopped', jobs(30));
    const g = group({}, { describe: throttled });
    const report = await tickNow({ ...w, burst: g.port });
    expect(w.calls).toEqual(['start']);
    expect(report.burst?.errors.map((e) => e.action)).toEqual(['describe']);
    expect(w.written[0]?.[TAGS.lastAction]).toBe('start');
  });

  it('each group call is isolated; a refused market switch keeps the old market memory', async () => {
    const w = world('running', jobs(30, 1), {
      [TAGS.burstSpotFailingSince]: at(-20).toISOString().replace('.000', ''),
    });
    const g = group(
      { desired: 3, lastLaunchFailure: { at: at(0), message: 'InsufficientInstanceCapacity' } },
      { setOnDemand: throttled },
    );
    const report = await tickNow({ ...w, burst: g.port });
    expect(g.calls).toEqual(['describe', 'setOnDemand true']);
    expect(report.burst?.decision?.onDemand).toBe(true);
    expect(report.memory.burstSpotFailingSince).toEqual(at(-20));
    expect(report.memory.burstOnDemandSince).toBeUndefined();
  });
});

describe('runTick: the scaler completes the drain of burst workers that tagged themselves drained', () => {
  const member = (instanceId: string, lifecycleState: string, tags: Record<string, string> = {}) =>
    burstMember(instanceId, {
      lifecycleState,
      launchTime: at(-60),
      tags: { ...workerTags(-55, -30), ...tags },
    });
  const drained = (minutes: number) => ({ [TAGS.drainedAt]: at(minutes).toISOString() });

  it('completes each drained worker held by the hook, leaves one still draining, and retires an idle one', async () => {
    const w = world('running', jobs(0));
    const g = group({
      desired: 1,
      workers: [
        member('i-done', 'Terminating:Wait', drained(-0.5)),
        member('i-draining', 'Terminating:Wait'),
        member('i-idle', 'InService'),
      ],
    });
    const report = await tickNow({ ...w, burst: g.port });
    expect(g.calls).toEqual(['describe', 'retire i-idle', 'completeDrain i-done']);
    expect(report.burst?.observation?.group.workers[0]?.drainedAt).toEqual(at(-0.5));
    expect(report.burst?.decision?.complete).toEqual(['i-done']);
    expect(report.burst?.errors).toEqual([]);
  });

  it('a refused completion is reported under its worker; the other completions and the rest of the turn still run', async () => {
    const w = world('running', jobs(0));
    const g = group(
      {
        desired: 1,
        workers: [
          member('i-d1', 'Terminating:Wait', drained(-1)),
          member('i-d2', 'Terminating:Wait', drained(-1)),
          member('i-idle', 'InService'),
        ],
      },
      { completeDrain: throttled },
    );
    const report = await tickNow({ ...w, burst: g.port });
    expect(g.calls).toEqual(['describe', 'retire i-idle', 'completeDrain i-d1', 'completeDrain i-d2']);
    expect(report.burst?.errors).toEqual([
      { action: 'complete drain i-d1', error: throttled },
      { action: 'complete drain i-d2', error: throttled },
    ]);
    // The tick itself stands: the primary's memory is kept, and the next tick asks again.
    expect(report.outcome).not.toBe('failed');
  });

  it('a drained tag from the future is read as absent: that worker waits out its hook', async () => {
    const w = world('running', jobs(0));
    const g = group({ desired: 0, workers: [member('i-b1', 'Terminating:Wait', drained(5))] });
    const report = await tickNow({ ...w, burst: g.port });
    expect(g.calls).toEqual(['describe']);
    expect(report.burst?.decision?.complete).toEqual([]);
  });
});

/** The scaler handler at minute 0 over world('running', counts), recording what it logs and publishes. */
function handler(
  burstPort: BurstPort | undefined,
  burst: BurstConfig | undefined,
  counts: QueueCounts,
  fleetOf: (w: ReturnType<typeof world>) => FleetPort & FleetDiscovery = (w) => w.fleet,
) {
  const w = world('running', counts);
  const { logger, metrics, logs, published } = recordingObservability();
  const run = createHandler({
    fleet: fleetOf(w),
    queue: w.queue,
    burst: burstPort,
    environment: scalerEnvironment(burst && { burst }),
    clock: () => at(0),
    logger,
    metrics,
  });
  return {
    run,
    logs,
    get metrics(): Record<string, number> {
      return Object.assign({}, ...published);
    },
  };
}

describe('the scaler handler with a burst group', () => {
  it('publishes BurstWorkers, BurstOnDemandWorkers and BurstLaunchFailures when the group is on', async () => {
    const g = group({
      desired: 2,
      onDemand: true,
      lastLaunchFailure: { at: at(-0.5), message: 'no spot' },
      workers: [
        burstWorker('i-1', { instanceType: 'g5.xlarge', market: 'on-demand' }),
        burstWorker('i-2', { lifecycleState: 'Pending' }),
      ],
    });
    const h = handler(g.port, BURST, jobs(5, 1));
    const result = await h.run({ action: 'tick' });
    expect(result.ok).toBe(true);
    expect(result.message).toContain('| burst: 5 waiting');
    expect(h.metrics).toMatchObject({ BurstWorkers: 2, BurstOnDemandWorkers: 1, BurstLaunchFailures: 1 });
  });

  const twoWorkers = (): Partial<BurstGroupState> => ({
    desired: 2,
    workers: ['i-b1', 'i-b2'].map((id) =>
      burstWorker(id, { instanceType: 'g5.xlarge', launchTime: at(-20) }),
    ),
  });

  it.each(['gpu'] as const)(
    'a manual stop of the %s retires the burst workers as stop-gpu does: desired 0 first, then each by id',
    async (target) => {
      const g = group(twoWorkers());
      const h = handler(g.port, BURST, jobs(25, 3));
      const result = await h.run({ action: 'stop', target });
      expect(result.ok).toBe(true);
      expect(g.calls).toEqual([
        'describe',
        'setDesired 0',
        'retire i-b1 (desired kept)',
        'retire i-b2 (desired kept)',
      ]);
      expect(result.message).toContain('burst workers retiring: i-b1, i-b2');
    },
  );

  it('a manual stop whose desired 0 is refused still lowers desired with each retire: nothing is replaced', async () => {
    const g = group(twoWorkers(), { setDesired: throttled });
    await expect(handler(g.port, BURST, jobs(0)).run({ action: 'stop', target: 'gpu' })).rejects.toThrow(
      /burst group: Rate exceeded/,
    );
    expect(g.calls).toEqual(['describe', 'setDesired 0', 'retire i-b1', 'retire i-b2']);
  });

  it('a retire refused in a manual stop fails the invocation (the errors alarm), after the others went', async () => {
    const refusing = group(twoWorkers(), { retire: throttled });
    await expect(
      handler(refusing.port, BURST, jobs(0)).run({
        action: 'stop',
        target: 'gpu',
      }),
    ).rejects.toThrow(/burst i-b1: Rate exceeded/);
    expect(refusing.calls).toContain('retire i-b2 (desired kept)');
  });

  it('publishes no burst metric without a group or with maxWorkers 0 (the one-GPU metric set)', async () => {
    for (const [port, config] of [
      [undefined, BURST],
      [group().port, DEFAULT_CONFIG.burst],
    ] as const) {
      const h = handler(port, config, jobs(0));
      await h.run({ action: 'tick' });
      for (const name of BURST_GAUGES) expect(h.metrics).not.toHaveProperty(name);
      for (const name of TICK_COUNTERS) expect(h.metrics).toHaveProperty(name);
    }
  });

  it('a group call refused for good (access denied) fails the invocation; a throttled one does not', async () => {
    const denied = new FleetError('AccessDenied', 'not authorized to autoscaling:SetDesiredCapacity', false);
    const h = handler(group({}, { setDesired: denied }).port, BURST, jobs(30));
    await expect(h.run({ action: 'tick' })).rejects.toThrow('autoscaling:SetDesiredCapacity');
    const t = handler(group({}, { setDesired: throttled }).port, BURST, jobs(30));
    expect((await t.run({ action: 'tick' })).ok).toBe(false);
  });

  it('reads the burst rules from FLEET_CONFIG and names a bad key', () => {
    const env = (burst: unknown) => scalerEnvironment({ burst });
    expect(env(BURST).burst).toEqual(BURST);
    expect(() => env({ ...BURST, bootTimeoutMinutes: 'soon' })).toThrow(
      'FLEET_CONFIG.burst.bootTimeoutMinutes = "soon"',
    );
    expect(() => env({ ...BURST, onDemandFallback: { enabled: 'yes', afterMinutes: 10 } })).toThrow(
      'FLEET_CONFIG.burst.onDemandFallback.enabled = "yes"',
    );
  });
});

describe('a tick that cannot observe the primary still retires idle burst workers', () => {
  const idleWorker = burstMember('i-b1');

  it.each<[string, (w: ReturnType<typeof world>) => FleetPort & FleetDiscovery]>([
    ['no GPU tagged', (w) => ({ ...w.fleet, discover: async () => [] })],
    [
      'two GPUs tagged',
      (w) => ({
        ...w.fleet,
        discover: async () => {
          const [gpu] = await w.fleet.discover('GpuFleet');
          return gpu ? [gpu, { ...gpu, instanceId: 'i-gpu-copy' }] : [];
        },
      }),
    ],
    [
      'the description refused',
      (w) => ({
        ...w.fleet,
        discover: async () => {
          throw throttled;
        },
      }),
    ],
  ])(
    '%s: the idle worker goes, no worker is launched, and the error says what the burst turn did',
    async (_case, broken) => {
      const w = world('running', jobs(40));
      const g = group({ desired: 1, workers: [idleWorker] });
      const failure = tickNow({ fleet: broken(w), queue: w.queue, burst: g.port });
      await expect(failure).rejects.toBeInstanceOf(PrimaryUnobservedError);
      const error = (await failure.catch((e: unknown) => e)) as PrimaryUnobservedError;
      expect(g.calls).toEqual(['describe', 'retire i-b1']);
      expect(error.burst.decision?.reason).toContain('primary not observed');
      expect(w.written).toEqual([]);
    },
  );

  it('the handler publishes the burst figures and still reports the primary’s fault as such', async () => {
    const g = group({ desired: 1, workers: [idleWorker] });
    const h = handler(g.port, BURST, jobs(0), (w) => ({ ...w.fleet, discover: async () => [] }));
    await expect(h.run({ action: 'tick' })).rejects.toBeInstanceOf(FleetLayoutError);
    expect(h.metrics).toMatchObject({
      FleetLayoutErrors: 1,
      TickFailures: 1,
      BurstWorkers: 1,
      BurstBootTimeouts: 0,
    });
    const warnings = h.logs.filter((l) => l.level === 'warn').map((l) => l.message);
    expect(warnings.join('\n')).toContain('burst without the primary');
    expect(g.calls).toContain('retire i-b1');
  });
});

describe('a primary that is up but cannot serve is not counted as serving', () => {
  it.each<[string, InstanceInfo['state'], Record<string, string>]>([
    ['stuck pending', 'pending', { [TAGS.transitionSince]: at(-15).toISOString() }],
    [
      'running, never ready, held past its boot timeout',
      'running',
      { [TAGS.holdUntil]: at(120).toISOString(), [TAGS.readyAt]: at(-2000).toISOString() },
    ],
  ])('%s: the whole backlog is the group’s', async (_case, state, tags) => {
    const w = world(state, jobs(20), tags);
    const g = group();
    const fleet: FleetPort & FleetDiscovery = {
      ...w.fleet,
      discover: async () => (await w.fleet.discover('GpuFleet')).map((i) => ({ ...i, launchTime: at(-30) })),
    };
    const report = await tickNow({ ...w, fleet, burst: g.port });
    expect(report.burst?.observation?.primary).toBe('blocked');
    expect(g.calls).toEqual(['describe', 'setDesired 3']);
  });
});

describe('the burst turn: what each group call is reported as, and what it counts', () => {
  it('a worker already terminating is not counted: the idle one retires with the decrement desired needs', async () => {
    const w = world('stopped', jobs(0));
    const g = group({
      desired: 1,
      workers: [burstMember('i-b1'), burstMember('i-b2', { lifecycleState: 'Terminating:Wait' })],
    });
    await tickNow({ ...w, burst: g.port });
    expect(g.calls).toEqual(['describe', 'retire i-b1']);
  });

  it('each refused call is reported by what was asked: the desired capacity, a worker', async () => {
    const scaleOut = world('running', jobs(40));
    const refusesDesired = group({ desired: 0 }, { setDesired: throttled });
    const grown = await tickNow({ ...scaleOut, burst: refusesDesired.port });
    expect(grown.burst?.errors).toEqual([{ action: 'desired 3', error: throttled }]);

    const idle = world('stopped', jobs(0));
    const refusesRetire = group({ desired: 1, workers: [burstMember('i-b1')] }, { retire: throttled });
    const retired = await tickNow({ ...idle, burst: refusesRetire.port });
    expect(retired.burst?.errors).toEqual([{ action: 'retire i-b1', error: throttled }]);
  });

  it('a market switch that went through is remembered; a refused one is reported as such', async () => {
    const failingSpot = () =>
      world('running', jobs(30, 1), {
        [TAGS.burstSpotFailingSince]: at(-20).toISOString().replace('.000', ''),
      });
    const launchFailure = {
      desired: 3,
      lastLaunchFailure: { at: at(0), message: 'InsufficientInstanceCapacity' },
    };
    const switched = await tickNow({ ...failingSpot(), burst: group(launchFailure).port });
    expect(switched.memory.burstOnDemandSince).toEqual(at(0));
    expect(switched.tagsWritten[TAGS.burstOnDemandSince]).toBe('2026-11-24T01:00:00Z');
    const refused = await tickNow({
      ...failingSpot(),
      burst: group(launchFailure, { setOnDemand: throttled }).port,
    });
    expect(refused.burst?.errors).toEqual([{ action: 'on-demand', error: throttled }]);
    const backToSpot = await tickNow({
      ...world('running', jobs(0, 1), {
        [TAGS.burstOnDemandSince]: at(-30).toISOString().replace('.000', ''),
      }),
      burst: group({ desired: 0, onDemand: true }, { setOnDemand: throttled }).port,
    });
    expect(backToSpot.burst?.errors).toEqual([{ action: 'spot', error: throttled }]);
  });

  it('without a burst group (none given, or maxWorkers 0) a primary that cannot be observed fails the tick as itself', async () => {
    const w = world('running', jobs(0));
    const noGpu = { ...w.fleet, discover: async () => [] };
    await expect(tickNow({ fleet: noGpu, queue: w.queue })).rejects.toBeInstanceOf(FleetLayoutError);
    const g = group({ desired: 1, workers: [burstMember('i-b1')] });
    await expect(
      runTick({ fleet: noGpu, queue: w.queue, burst: g.port }, TARGET, DEFAULT_CONFIG.scaler, at(0), {
        ...BURST,
        maxWorkers: 0,
      }),
    ).rejects.toBeInstanceOf(FleetLayoutError);
    expect(g.calls).toEqual([]);
    const withGroup = tickNow({ fleet: noGpu, queue: w.queue, burst: g.port });
    expect(String(await withGroup.catch((e: unknown) => e))).toMatch(
      /^PrimaryUnobservedError: no gpu instance tagged/,
    );
  });
});
