import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  EC2Client,
  EC2ServiceException,
  StartInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { DEFAULT_CONFIG } from '../../src/config';
import { readEnvironment } from '../../lambda/scaler/config';
import { buildTestFleet, templateOf } from '../support/fleet';
import {
  type ScalerDependencies,
  TICK_COUNTERS,
  createAwsFleet,
  createHandler,
} from '../../lambda/scaler/handler';
import { createSqsQueue } from '../../src/aws/sqs';
import { recordingObservability } from './support';

const ec2Mock = mockClient(EC2Client);
const sqsMock = mockClient(SQSClient);
const QUEUE_URL = 'https://sqs.ap-northeast-1.amazonaws.com/123456789012/jobs';
const T0 = Date.parse('2026-11-24T01:00:00Z');
const minute = (m: number): Date => new Date(T0 + m * 60_000);

/** The GPU instance as EC2 would hold it, changed by the mocked commands and by the test. */
interface FakeGpu {
  state: string;
  launchTime?: Date;
  stateReasonCode?: string;
  tags: Record<string, string>;
}

function environment(overrides: Record<string, string> = {}) {
  return readEnvironment({
    FLEET_CONFIG: JSON.stringify({
      appName: 'GpuFleet',
      scaler: DEFAULT_CONFIG.scaler,
      schedule: { timeZone: 'Asia/Tokyo', holidays: ['2026-11-24'], startHour: 9, weekDays: 'MON-FRI' },
    }),
    JOB_QUEUE_URL: QUEUE_URL,
    ...overrides,
  });
}

function harness() {
  const gpu: FakeGpu = { state: 'stopped', tags: { 'gpu-fleet:fleet': 'GpuFleet', 'gpu-fleet:role': 'gpu' } };
  const app: FakeGpu = { state: 'stopped', tags: { 'gpu-fleet:fleet': 'GpuFleet', 'gpu-fleet:role': 'app' } };
  let queue = { waiting: 0, inFlight: 0, delayed: 0 };
  let now = minute(0);
  const observability = recordingObservability();
  const { logs, published } = observability;
  /** Instances besides the two, e.g. a second GPU left by a failed replacement. */
  const extra: Array<{ id: string; role: string }> = [];

  const describe = (id: string, fake: FakeGpu, type: string) => ({
    InstanceId: id,
    InstanceType: type,
    State: { Name: fake.state },
    LaunchTime: fake.launchTime,
    StateReason: fake.stateReasonCode ? { Code: fake.stateReasonCode } : undefined,
    InstanceLifecycle: id === 'i-gpu' ? 'spot' : undefined,
    Tags: Object.entries(fake.tags).map(([Key, Value]) => ({ Key, Value })),
  });
  ec2Mock.on(DescribeInstancesCommand).callsFake(() => ({
    Reservations: [
      {
        Instances: [
          describe('i-app', app, 't3.large'),
          describe('i-gpu', gpu, 'g4dn.xlarge'),
          ...extra.map((e) =>
            describe(
              e.id,
              { state: 'stopped', tags: { 'gpu-fleet:fleet': 'GpuFleet', 'gpu-fleet:role': e.role } },
              'x',
            ),
          ),
        ],
      },
    ],
  }));
  ec2Mock.on(CreateTagsCommand).callsFake((input: { Tags: Array<{ Key: string; Value: string }> }) => {
    for (const { Key, Value } of input.Tags) gpu.tags[Key] = Value;
    return {};
  });
  ec2Mock.on(StartInstancesCommand).resolves({});
  ec2Mock.on(StopInstancesCommand).resolves({});
  sqsMock.on(GetQueueAttributesCommand).callsFake(() => ({
    Attributes: {
      ApproximateNumberOfMessages: String(queue.waiting),
      ApproximateNumberOfMessagesNotVisible: String(queue.inFlight),
      ApproximateNumberOfMessagesDelayed: String(queue.delayed),
    },
  }));

  const deps: ScalerDependencies = {
    fleet: createAwsFleet(new EC2Client({ region: 'ap-northeast-1' })),
    queue: createSqsQueue(new SQSClient({ region: 'ap-northeast-1' })),
    environment: environment(),
    clock: () => now,
    logger: observability.logger,
    metrics: observability.metrics,
  };
  const handler = createHandler(deps);
  return {
    gpu,
    app,
    logs,
    extra,
    published,
    /** The metrics the last invocation published. */
    get metrics() {
      return published.at(-1) ?? {};
    },
    setQueue: (q: Partial<typeof queue>) => (queue = { waiting: 0, inFlight: 0, delayed: 0, ...q }),
    /** Runs one tick at minute m and returns the EC2 calls it made, by command name. */
    tick: async (m: number) => {
      now = minute(m);
      ec2Mock.resetHistory();
      await handler({ action: 'tick' });
      return ec2Mock.calls().map((c) => c.args[0].constructor.name);
    },
    handler,
    at: (m: number) => (now = minute(m)),
    /** The GPU running since minute m, its worker ready at `readyAt` when given. */
    runningSince: (m: number, readyAt?: string) => {
      Object.assign(gpu, { state: 'running', launchTime: minute(m) });
      if (readyAt) gpu.tags['gpu-fleet:ready-at'] = readyAt;
    },
  };
}

beforeEach(() => {
  ec2Mock.reset();
  sqsMock.reset();
});

/** The EC2 calls of a tick that started the GPU, and of one that stopped it. */
const STARTED = ['DescribeInstancesCommand', 'StartInstancesCommand', 'CreateTagsCommand'];
const STOPPED = ['DescribeInstancesCommand', 'StopInstancesCommand', 'CreateTagsCommand'];

const startRefused = (name: string) =>
  new EC2ServiceException({ name, message: name, $fault: 'server', $metadata: { httpStatusCode: 500 } });

describe('scaler handler over a virtual day', () => {
  it('starts on a backlog, retries a capacity failure, waits for ready, serves, idles 5 minutes and stops', async () => {
    const h = harness();

    expect(await h.tick(0)).toEqual(['DescribeInstancesCommand']);
    expect(h.logs.at(-1)?.message).toBe('tick: none: GPU stopped; 0 waiting, 0 in flight, 0 delayed');

    // 11 jobs arrive; EC2 has no spot capacity on the first try.
    h.setQueue({ waiting: 11 });
    ec2Mock.on(StartInstancesCommand).rejectsOnce(startRefused('InsufficientInstanceCapacity'));
    expect(await h.tick(1)).toEqual(STARTED);
    expect(ec2Mock).toHaveReceivedCommandWith(StartInstancesCommand, { InstanceIds: ['i-gpu'] });
    expect(h.gpu.tags).toMatchObject({
      'gpu-fleet:pending-since': '2026-11-24T01:01:00Z',
      'gpu-fleet:last-action': 'start',
      'gpu-fleet:last-error': 'InsufficientCapacity',
      'gpu-fleet:error-since': '2026-11-24T01:01:00Z',
      'gpu-fleet:failed-starts': '1',
      'gpu-fleet:retry-at': '2026-11-24T01:02:00Z',
    });
    expect(h.metrics.StartFailures).toBe(1);
    expect(h.logs.at(-1)?.level).toBe('warn');

    // Back-off elapsed: the start goes through.
    ec2Mock.on(StartInstancesCommand).resolves({});
    expect(await h.tick(2)).toEqual(STARTED);
    expect(h.metrics.Starts).toBe(1);
    h.runningSince(2);

    // Booting: no action, no tag churn.
    expect(await h.tick(3)).toEqual(['DescribeInstancesCommand', 'CreateTagsCommand']);
    expect(h.gpu.tags['gpu-fleet:last-error']).toBe('');
    expect(await h.tick(4)).toEqual(['DescribeInstancesCommand']);
    expect(h.logs.at(-1)?.message).toContain('worker not ready yet');

    // The worker reports ready and drains the queue; its last job ends at 01:07:40, between ticks.
    h.gpu.tags['gpu-fleet:ready-at'] = '2026-11-24T01:05:30Z';
    h.setQueue({ waiting: 3, inFlight: 1 });
    await h.tick(6);
    expect(h.logs.at(-1)?.message).toBe('tick: none: GPU busy: 3 waiting, 1 in flight, 0 delayed');
    h.setQueue({});
    h.gpu.tags['gpu-fleet:last-job-at'] = '2026-11-24T01:07:40Z';
    expect(await h.tick(7)).toEqual(['DescribeInstancesCommand', 'CreateTagsCommand']);
    expect(h.gpu.tags['gpu-fleet:pending-since']).toBe('');
    for (const m of [8, 9, 10, 11, 12]) expect(await h.tick(m)).toEqual(['DescribeInstancesCommand']);
    expect(h.logs.at(-1)?.message).toBe('tick: none: GPU idle for 4m20s of 5m since the last job (or ready)');

    expect(await h.tick(13)).toEqual(STOPPED);
    expect(ec2Mock).toHaveReceivedCommandWith(StopInstancesCommand, { InstanceIds: ['i-gpu'] });
    expect(h.gpu.tags).toMatchObject({
      'gpu-fleet:last-action': 'stop',
      'gpu-fleet:last-action-at': '2026-11-24T01:13:00Z',
      'gpu-fleet:last-reason': 'stop: idle for 5m20s >= 5m since the last job (or ready)',
    });
    expect(h.metrics).toMatchObject({ Stops: 1, GpuRunning: 1, GpuRunningMinutes: 11, Heartbeat: 1 });
    expect(h.logs.at(-1)?.extra).toMatchObject({ decided: 'stop', acted: 'stopped' });
  });

  it('never overwrites a hold the CLI wrote, and keeps the GPU up until it expires', async () => {
    const h = harness();
    h.runningSince(0, '2026-11-24T01:01:00Z');
    h.gpu.tags['gpu-fleet:hold-until'] = '2026-11-24T01:30:00Z';
    await h.tick(2);
    const written = ec2Mock.commandCalls(CreateTagsCommand).flatMap((c) => c.args[0].input.Tags ?? []);
    expect(written.map((t) => t.Key)).toEqual([]);
    for (let m = 3; m < 30; m += 1) expect(await h.tick(m)).not.toContain('StopInstancesCommand');
    expect(await h.tick(30)).toContain('StopInstancesCommand');
    // The expired hold is ignored, never cleared: clearing it could wipe a new one written meanwhile.
    expect(h.gpu.tags['gpu-fleet:hold-until']).toBe('2026-11-24T01:30:00Z');
    const keys = ec2Mock
      .commandCalls(CreateTagsCommand)
      .flatMap((c) => (c.args[0].input.Tags ?? []).map((t) => t.Key));
    expect(keys).not.toContain('gpu-fleet:hold-until');
  });

  it('skips a tick it cannot observe because of throttling, and fails loudly on access denied; both publish metrics', async () => {
    const h = harness();
    ec2Mock.on(DescribeInstancesCommand).rejects(startRefused('RequestLimitExceeded'));
    await expect(h.handler({ action: 'tick' })).resolves.toMatchObject({ ok: false });
    expect(h.logs.at(-1)).toMatchObject({ level: 'warn', message: 'tick skipped: could not observe' });
    expect(h.metrics).toMatchObject({ Heartbeat: 1, TickFailures: 1, Starts: 0, Stops: 0 });
    expect(Object.keys(h.metrics).sort()).toEqual([...TICK_COUNTERS].sort());
    ec2Mock.on(DescribeInstancesCommand).rejects(startRefused('UnauthorizedOperation'));
    await expect(h.handler({ action: 'tick' })).rejects.toMatchObject({ code: 'AccessDenied' });
    expect(h.logs.at(-1)?.level).toBe('error');
    expect(h.metrics).toMatchObject({ Heartbeat: 1, TickFailures: 1 });
  });

  it('keeps a start whose tag write failed: counted, logged, and not repeated on the next tick', async () => {
    const h = harness();
    h.setQueue({ waiting: 11 });
    ec2Mock.on(CreateTagsCommand).rejects(startRefused('RequestLimitExceeded'));
    await expect(h.handler({ action: 'tick' })).resolves.toMatchObject({ ok: false });
    expect(ec2Mock).toHaveReceivedCommandTimes(StartInstancesCommand, 1);
    expect(h.metrics).toMatchObject({ Starts: 1, TagWriteFailures: 1, TickFailures: 1, Heartbeat: 1 });
    expect(h.logs.at(-1)).toMatchObject({
      level: 'warn',
      extra: { acted: 'started', tagError: { code: 'Throttled' } },
    });
    // EC2 shows the start: the next tick waits for it instead of starting again.
    h.gpu.state = 'pending';
    h.gpu.launchTime = minute(0);
    await h.tick(1);
    expect(ec2Mock).toHaveReceivedCommandTimes(StartInstancesCommand, 0);
    expect(h.logs.at(-1)?.message).toContain('GPU is pending');
  });

  it('with every tag write throttled, still stops an idle GPU on time: idleness is observed, not remembered', async () => {
    const h = harness();
    ec2Mock.on(CreateTagsCommand).rejects(startRefused('RequestLimitExceeded'));
    h.runningSince(0, '2026-11-24T01:03:00Z');
    for (let m = 4; m < 8; m += 1) expect(await h.tick(m)).not.toContain('StopInstancesCommand');
    expect(await h.tick(8)).toContain('StopInstancesCommand');
  });

  it('counts a failed stop, retries it on the next tick, and fails the invocation when retrying cannot help', async () => {
    const h = harness();
    h.runningSince(0, '2026-11-24T01:01:00Z');
    ec2Mock.on(StopInstancesCommand).rejectsOnce(startRefused('RequestLimitExceeded'));
    await h.tick(6);
    expect(h.metrics).toMatchObject({ StopFailures: 1, Stops: 0 });
    expect(h.gpu.tags['gpu-fleet:last-error']).toBe('Throttled');
    // Not a full idle period later: the very next tick stops it.
    ec2Mock.on(StopInstancesCommand).resolves({});
    expect(await h.tick(7)).toContain('StopInstancesCommand');
    expect(h.metrics).toMatchObject({ StopFailures: 0, Stops: 1 });

    ec2Mock.on(StopInstancesCommand).rejects(startRefused('UnauthorizedOperation'));
    h.at(8);
    await expect(h.handler({ action: 'tick' })).rejects.toMatchObject({ code: 'AccessDenied' });
    expect(h.metrics).toMatchObject({ StopFailures: 1, Heartbeat: 1 });
  });

  it('reports no GPU or two GPUs as an error and a metric, never picking one', async () => {
    const h = harness();
    h.extra.push({ id: 'i-gpu-copy', role: 'gpu' });
    await expect(h.handler({ action: 'tick' })).rejects.toThrow(
      '2 gpu instances tagged gpu-fleet:fleet=GpuFleet: i-gpu (stopped), i-gpu-copy (stopped); exactly one is expected',
    );
    expect(h.metrics).toMatchObject({ FleetLayoutErrors: 1, TickFailures: 1 });
    expect(ec2Mock).toHaveReceivedCommandTimes(StartInstancesCommand, 0);
  });
});

describe('scaler handler: start/stop events', () => {
  it.each([
    [{ action: 'start', target: 'gpu' }, StartInstancesCommand, [['i-gpu']]],
    [{ action: 'stop', target: 'app' }, StopInstancesCommand, [['i-app']]],
    [{ action: 'stop', target: 'all' }, StopInstancesCommand, [['i-app'], ['i-gpu']]],
    [{ action: 'start', target: 'app', source: 'manual' }, StartInstancesCommand, [['i-app']]],
  ] as const)('%j sends exactly that command, one per target', async (event, command, calls) => {
    const h = harness();
    if (event.action === 'stop') h.gpu.state = h.app.state = 'running';
    await expect(h.handler(event)).resolves.toMatchObject({ ok: true });
    for (const ids of calls) expect(ec2Mock).toHaveReceivedCommandWith(command, { InstanceIds: [...ids] });
    expect(ec2Mock).toHaveReceivedCommandTimes(command, calls.length);
  });

  it('a manual stop of the GPU means what gpu-manage stop-gpu means: hold ended, starts paused', async () => {
    const h = harness();
    h.gpu.state = 'running';
    h.gpu.tags['gpu-fleet:hold-until'] = '2026-11-24T05:00:00Z';
    // Tuesday 10:00 in Tokyo: paused until Wednesday 09:00 Tokyo, the next scheduled start.
    await h.handler({ action: 'stop', target: 'gpu' });
    expect(h.gpu.tags).toMatchObject({
      'gpu-fleet:hold-until': '',
      'gpu-fleet:paused-until': '2026-11-25T00:00:00Z',
    });
    // Many jobs wait: the scaler starts nothing while paused.
    h.gpu.state = 'stopped';
    h.setQueue({ waiting: 50 });
    expect(await h.tick(20)).not.toContain('StartInstancesCommand');
    expect(h.logs.at(-1)?.message).toContain(
      'GPU stopped by the operator; no automatic start before 2026-11-25T00:00:00Z',
    );
    // A manual start ends the pause, with a hold when asked for.
    await h.handler({ action: 'start', target: 'gpu', until: '2026-11-24T03:00:00Z' });
    expect(h.gpu.tags).toMatchObject({
      'gpu-fleet:paused-until': '',
      'gpu-fleet:hold-until': '2026-11-24T03:00:00Z',
    });
  });

  it('a manual stop of a pending GPU leaves it to the scaler, which stops it once it runs', async () => {
    const h = harness();
    h.gpu.state = 'pending';
    await expect(
      h.handler({ action: 'stop', target: 'gpu', until: '2026-11-24T02:00:00Z' }),
    ).resolves.toMatchObject({
      ok: true,
    });
    expect(ec2Mock).toHaveReceivedCommandTimes(StopInstancesCommand, 0);
    h.runningSince(1);
    expect(await h.tick(2)).toContain('StopInstancesCommand');
  });

  it('skips the scheduled morning start on a configured holiday (in Tokyo time), not a manual one', async () => {
    const h = harness();
    ec2Mock.on(StartInstancesCommand).resolves({});
    h.at(-60 * 1); // 2026-11-24 09:00 in Tokyo is 00:00 UTC
    await expect(h.handler({ action: 'start', target: 'app', source: 'schedule' })).resolves.toMatchObject({
      ok: true,
      message: 'scheduled start of the app host skipped: today is a configured holiday',
    });
    expect(ec2Mock).toHaveReceivedCommandTimes(StartInstancesCommand, 0);
    await h.handler({ action: 'start', target: 'app' });
    expect(ec2Mock).toHaveReceivedCommandTimes(StartInstancesCommand, 1);
  });

  it('fails a scheduled start EC2 refused only when it cannot be remembered for the ticks to retry', async () => {
    const h = harness();
    h.at(60 * 24 * 2);
    ec2Mock.on(StartInstancesCommand).rejects(startRefused('InsufficientInstanceCapacity'));
    await expect(h.handler({ action: 'start', target: 'app', source: 'schedule' })).resolves.toMatchObject({
      ok: false,
      message: expect.stringMatching(
        /Starting app i-app \(was stopped\)\. Failed: InsufficientInstanceCapacity.* The scaler retries it every minute until/,
      ),
    });
    ec2Mock.on(CreateTagsCommand).rejects(startRefused('UnauthorizedOperation'));
    await expect(h.handler({ action: 'start', target: 'app', source: 'schedule' })).rejects.toThrow(
      /Failed: InsufficientInstanceCapacity.* Not remembered for the scaler's retries/,
    );
  });

  it('starts the app host even when the GPU cannot start, and fails the invocation for the GPU', async () => {
    const h = harness();
    h.gpu.state = 'stopping';
    await expect(h.handler({ action: 'start', target: 'all' })).rejects.toThrow(/gpu i-gpu is stopping/);
    expect(ec2Mock).toHaveReceivedCommandWith(StartInstancesCommand, { InstanceIds: ['i-app'] });
  });

  it.each([
    [null, 'must be a JSON object'],
    [{ action: 'reboot', target: 'gpu' }, 'action "reboot" is not one of'],
    [{ action: 'start', target: 'everything' }, 'target "everything" is not one of'],
    [{ action: 'start', target: 'gpu', source: 'cron' }, 'source "cron" is not one of'],
  ])('rejects %j with a clear message and no AWS call', async (event, message) => {
    const h = harness();
    const result = await h.handler(event);
    expect(result.ok).toBe(false);
    expect(result.message).toContain(message);
    expect(ec2Mock.calls()).toHaveLength(0);
  });
});

describe('scaler environment', () => {
  const fleetConfig = (scaler: Record<string, unknown>) =>
    JSON.stringify({
      appName: 'GpuFleet',
      scaler: { ...DEFAULT_CONFIG.scaler, ...scaler },
      schedule: { timeZone: 'Asia/Tokyo', holidays: [], startHour: 9, weekDays: 'MON-FRI' },
    });

  it('names the variable at fault', () => {
    expect(() => environment({ JOB_QUEUE_URL: '' })).toThrow('scaler environment: JOB_QUEUE_URL is not set');
    expect(() => environment({ FLEET_CONFIG: '{' })).toThrow('FLEET_CONFIG is not valid JSON');
    expect(() => environment({ FLEET_CONFIG: fleetConfig({ startBacklog: 0 }) })).toThrow(
      'scaler environment: FLEET_CONFIG.scaler.startBacklog = 0; allowed: a whole number from 1 to 100000',
    );
  });

  it('checks FLEET_CONFIG with the rules of synth, not a looser copy of them', () => {
    expect(() => environment({ FLEET_CONFIG: fleetConfig({ idleMinutes: 5000 }) })).toThrow(
      'FLEET_CONFIG.scaler.idleMinutes = 5000; allowed: a whole number from 1 to 1440',
    );
    expect(() => environment({ FLEET_CONFIG: fleetConfig({ idle: 5 }) })).toThrow(
      'FLEET_CONFIG.scaler.idle = 5; allowed: one of the keys',
    );
    expect(() => environment({ FLEET_CONFIG: fleetConfig({ startPolicy: 'backlog' }) })).toThrow(
      'FLEET_CONFIG.scaler.startPolicy was removed',
    );
  });

  it('reads the FLEET_CONFIG the scaler stack writes, for a schedule late in the day too', () => {
    const { fleet } = buildTestFleet({
      schedule: { ...DEFAULT_CONFIG.schedule, startHour: 20, stopHour: 23 },
    });
    const functions = templateOf(fleet.scaler).findResources('AWS::Lambda::Function');
    const written = Object.values(functions)
      .map((fn) => fn.Properties?.Environment?.Variables?.FLEET_CONFIG as string | undefined)
      .find((value) => value !== undefined);
    expect(environment({ FLEET_CONFIG: written ?? '' }).schedule).toMatchObject({ startHour: 20 });
  });
});
