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
import { type ScalerDependencies, createAwsFleet, createHandler } from '../../lambda/scaler/handler';
import { createSqsQueue } from '../../src/aws/sqs';
import { recordingObservability, scalerEnvironment } from './support';
import { SCHEDULED_ACTION_COUNTERS } from '../../src/control/metrics';

/**
 * The app host's scheduled start and stop, driven through the real handler with a virtual clock:
 * a failed scheduled action is remembered on the app host and retried by the minute tick until it
 * succeeds or its window ends, an operator's own start or stop ends the retries, and what failed
 * is logged and counted for the alarm.
 */

const ec2Mock = mockClient(EC2Client);
const sqsMock = mockClient(SQSClient);
const QUEUE_URL = 'https://sqs.ap-northeast-1.amazonaws.com/123456789012/jobs';
/** The tag's name is a contract: the IAM grants and the docs name it. */
const MARK = 'gpu-fleet:scheduled-action';
/** Wednesday 25 November 2026, 09:00 in Tokyo. */
const NINE = Date.parse('2026-11-25T00:00:00Z');
const tokyo = (minutesAfterNine: number): Date => new Date(NINE + minutesAfterNine * 60_000);

interface FakeInstance {
  state: string;
  tags: Record<string, string>;
}

const refused = (name: string) =>
  new EC2ServiceException({ name, message: name, $fault: 'server', $metadata: { httpStatusCode: 500 } });

function harness(options: { holidays?: string[] } = {}) {
  const fleetTags = (role: string) => ({ 'gpu-fleet:fleet': 'GpuFleet', 'gpu-fleet:role': role });
  const instances: Record<string, FakeInstance> = {
    'i-app': { state: 'stopped', tags: fleetTags('app') },
    'i-gpu': { state: 'stopped', tags: fleetTags('gpu') },
  };
  const app = instances['i-app'] as FakeInstance;
  let now = tokyo(0);
  /** Whether EC2 accepts a start or stop of the app host; a refusal names its error. */
  let appRefusal: string | undefined;
  let describeRefusal: string | undefined;
  let tagRefusal: string | undefined;
  const observability = recordingObservability();
  const { logs, published } = observability;

  ec2Mock.on(DescribeInstancesCommand).callsFake(() => {
    if (describeRefusal) throw refused(describeRefusal);
    return {
      Reservations: [
        {
          Instances: Object.entries(instances).map(([id, fake]) => ({
            InstanceId: id,
            InstanceType: id === 'i-app' ? 't3.large' : 'g4dn.xlarge',
            State: { Name: fake.state },
            InstanceLifecycle: id === 'i-gpu' ? 'spot' : undefined,
            Tags: Object.entries(fake.tags).map(([Key, Value]) => ({ Key, Value })),
          })),
        },
      ],
    };
  });
  ec2Mock
    .on(CreateTagsCommand)
    .callsFake((input: { Resources: string[]; Tags: Array<{ Key: string; Value: string }> }) => {
      if (tagRefusal) throw refused(tagRefusal);
      for (const id of input.Resources)
        for (const { Key, Value } of input.Tags) (instances[id] as FakeInstance).tags[Key] = Value;
      return {};
    });
  const act =
    (state: string) =>
    (input: { InstanceIds: string[] }): object => {
      for (const id of input.InstanceIds) {
        if (id === 'i-app' && appRefusal) throw refused(appRefusal);
        (instances[id] as FakeInstance).state = state;
      }
      return {};
    };
  ec2Mock.on(StartInstancesCommand).callsFake(act('running'));
  ec2Mock.on(StopInstancesCommand).callsFake(act('stopped'));
  sqsMock.on(GetQueueAttributesCommand).resolves({
    Attributes: {
      ApproximateNumberOfMessages: '0',
      ApproximateNumberOfMessagesNotVisible: '0',
      ApproximateNumberOfMessagesDelayed: '0',
    },
  });

  const deps: ScalerDependencies = {
    fleet: createAwsFleet(new EC2Client({ region: 'ap-northeast-1' })),
    queue: createSqsQueue(new SQSClient({ region: 'ap-northeast-1' })),
    environment: scalerEnvironment(
      {
        schedule: {
          timeZone: 'Asia/Tokyo',
          holidays: options.holidays ?? [],
          startHour: 9,
          stopHour: 19,
          weekDays: 'MON-FRI',
        },
      },
      QUEUE_URL,
    ),
    clock: () => now,
    logger: observability.logger,
    metrics: observability.metrics,
  };
  const handler = createHandler(deps);
  /** Invokes the handler at `minutes` after 09:00 Tokyo; a thrown invocation is returned as its error. */
  const invoke = async (minutes: number, event: object): Promise<unknown> => {
    now = tokyo(minutes);
    try {
      return await handler(event);
    } catch (error) {
      return error;
    }
  };
  return {
    app,
    gpu: instances['i-gpu'] as FakeInstance,
    logs,
    published,
    /** The last log line of the app host's turn on a tick. */
    scheduledLog: () =>
      logs.filter((l) => (l.extra as { scheduledAction?: unknown })?.scheduledAction).at(-1),
    /** The metrics the last invocation published. */
    get metrics() {
      return published.at(-1) ?? {};
    },
    addInstance: (id: string, fake: FakeInstance) => (instances[id] = fake),
    refuseApp: (name: string | undefined) => (appRefusal = name),
    refuseDescribe: (name: string | undefined) => (describeRefusal = name),
    refuseTags: (name: string | undefined) => (tagRefusal = name),
    invoke,
    /** A minute tick, with the EC2 call history of the ticks before cleared. */
    tick: (minutes: number): Promise<unknown> => {
      ec2Mock.resetHistory();
      return invoke(minutes, { action: 'tick' });
    },
  };
}

const scheduledStart = { action: 'start', target: 'app', source: 'schedule' } as const;
const scheduledStop = { action: 'stop', target: 'app', source: 'schedule' } as const;

beforeEach(() => {
  ec2Mock.reset();
  sqsMock.reset();
});

describe('a failed scheduled start of the app host', () => {
  it('is retried by the minute tick until EC2 takes it: capacity back at 09:20, the app host runs at 09:21', async () => {
    const h = harness();
    h.refuseApp('InsufficientInstanceCapacity');
    // The scheduled start and the two retries Lambda makes of a failed asynchronous invocation.
    for (const minute of [0, 1, 3]) await h.invoke(minute, scheduledStart);
    for (let minute = 1; minute < 20; minute += 1) await h.tick(minute);
    expect(h.app.state).toBe('stopped');
    h.refuseApp(undefined);
    await h.tick(20);
    await h.tick(21);
    expect(h.app.state).toBe('running');
  });

  it('is remembered on the app host with its window (until 19:00 Tokyo), counted and logged with what failed', async () => {
    const h = harness();
    h.refuseApp('InsufficientInstanceCapacity');
    await expect(h.invoke(0, scheduledStart)).resolves.toMatchObject({ ok: false });
    expect(h.app.tags[MARK]).toBe('start until 2026-11-25T10:00:00Z');
    expect(h.metrics).toEqual({ ScheduledHostActionFailures: 1 });
    expect(h.logs.at(-1)).toMatchObject({
      level: 'error',
      message:
        'start app: Starting app i-app (was stopped). Failed: InsufficientInstanceCapacity: InsufficientInstanceCapacity The scaler retries it every minute until 2026-11-25T10:00:00Z; npx gpu-manage start-app does it by hand.',
    });
  });

  it('each failed retry is counted and names the error; the one that succeeds clears the mark and says so', async () => {
    const h = harness();
    h.refuseApp('InsufficientInstanceCapacity');
    await h.invoke(0, scheduledStart);
    await h.tick(1);
    expect(ec2Mock).toHaveReceivedCommandWith(StartInstancesCommand, { InstanceIds: ['i-app'] });
    expect(h.metrics).toMatchObject({ ScheduledHostActionFailures: 1, ScheduledHostActionsMissed: 0 });
    // The names the handler publishes are those src/control/metrics.ts declares.
    expect(Object.keys(h.metrics).filter((name) => name.startsWith('Scheduled'))).toEqual([
      ...SCHEDULED_ACTION_COUNTERS,
    ]);
    expect(h.scheduledLog()).toMatchObject({
      level: 'error',
      message:
        'scheduled start of the app host failed again (InsufficientInstanceCapacity: InsufficientInstanceCapacity); retried every minute until 2026-11-25T10:00:00Z; npx gpu-manage start-app does it by hand',
      extra: {
        scheduledAction: { action: 'start', decided: 'act', error: { code: 'InsufficientCapacity' } },
      },
    });
    expect(h.app.tags[MARK]).toBe('start until 2026-11-25T10:00:00Z');
    h.refuseApp(undefined);
    await h.tick(2);
    expect(h.app.state).toBe('running');
    expect(h.app.tags[MARK]).toBe('');
    expect(h.metrics).toMatchObject({ ScheduledHostActionFailures: 0, ScheduledHostActionsMissed: 0 });
    expect(h.scheduledLog()).toMatchObject({
      level: 'info',
      message: expect.stringContaining('scheduled start of the app host failed earlier: retrying it'),
    });
    // Nothing pending: the next tick makes no call for the app host and publishes no such metric.
    expect(await h.tick(3)).toBeDefined();
    expect(ec2Mock).toHaveReceivedCommandTimes(StartInstancesCommand, 0);
    expect(ec2Mock).toHaveReceivedCommandTimes(CreateTagsCommand, 0);
    expect(h.metrics).not.toHaveProperty('ScheduledHostActionFailures');
  });

  it('is given up when its window ends: the mark is cleared, the miss counted and logged, nothing retried after', async () => {
    const h = harness();
    h.app.tags[MARK] = 'start until 2026-11-25T10:00:00Z';
    h.refuseApp('InsufficientInstanceCapacity');
    await h.tick(9 * 60 + 58); // 18:58
    expect(ec2Mock).toHaveReceivedCommandTimes(StartInstancesCommand, 1);
    await h.tick(9 * 60 + 59); // 18:59: a minute before the scheduled stop, which may write its own mark
    expect(ec2Mock).toHaveReceivedCommandTimes(StartInstancesCommand, 0);
    expect(h.app.tags[MARK]).toBe('');
    expect(h.metrics).toMatchObject({ ScheduledHostActionsMissed: 1, ScheduledHostActionFailures: 0 });
    expect(h.scheduledLog()).toMatchObject({
      level: 'error',
      message:
        'scheduled start of the app host given up: its window ends at 2026-11-25T10:00:00Z and the app host is still stopped; npx gpu-manage start-app does it by hand',
    });
    await h.tick(10 * 60 + 1);
    expect(ec2Mock).toHaveReceivedCommandTimes(StartInstancesCommand, 0);
  });

  it('waits while the host is stopping, and starts nothing while two app hosts are tagged', async () => {
    const h = harness();
    h.app.tags[MARK] = 'start until 2026-11-25T10:00:00Z';
    h.app.state = 'stopping';
    await h.tick(5);
    expect(ec2Mock).toHaveReceivedCommandTimes(StartInstancesCommand, 0);
    expect(h.scheduledLog()?.message).toBe(
      'scheduled start of the app host waits: the app host is stopping; retried once it settles',
    );
    h.app.state = 'stopped';
    h.gpu.tags['gpu-fleet:role'] = 'app';
    await h.tick(6);
    // Two app hosts now: which one to start cannot be told, so neither is.
    expect(ec2Mock).toHaveReceivedCommandTimes(StartInstancesCommand, 0);
    h.gpu.tags['gpu-fleet:role'] = 'gpu';
    const result = await h.tick(7);
    expect(result).toMatchObject({ ok: true });
    expect(h.app.state).toBe('running');
  });

  it('is retried beside a GPU turn that failed: a second GPU is reported, the app host still starts', async () => {
    const h = harness();
    h.app.tags[MARK] = 'start until 2026-11-25T10:00:00Z';
    // A copy of the GPU makes the GPU's turn a layout error.
    const copy = { state: 'stopped', tags: { 'gpu-fleet:fleet': 'GpuFleet', 'gpu-fleet:role': 'gpu' } };
    h.addInstance('i-gpu-copy', copy);
    await expect(h.tick(5)).resolves.toMatchObject({ message: expect.stringContaining('2 gpu instances') });
    expect(h.app.state).toBe('running');
    expect(h.app.tags[MARK]).toBe('');
  });

  it('is not retried on a tick that could not observe the fleet; the next one does it', async () => {
    const h = harness();
    h.app.tags[MARK] = 'start until 2026-11-25T10:00:00Z';
    h.refuseDescribe('RequestLimitExceeded');
    await h.tick(5);
    expect(ec2Mock).toHaveReceivedCommandTimes(StartInstancesCommand, 0);
    h.refuseDescribe(undefined);
    await h.tick(6);
    expect(h.app.state).toBe('running');
  });

  it('fails the invocation when it cannot be remembered, so Lambda retries the event and its drop alarms', async () => {
    const h = harness();
    h.refuseApp('InsufficientInstanceCapacity');
    h.refuseTags('UnauthorizedOperation');
    const error = await h.invoke(0, scheduledStart);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe(
      "start app: Starting app i-app (was stopped). Failed: InsufficientInstanceCapacity: InsufficientInstanceCapacity Not remembered for the scaler's retries: UnauthorizedOperation: UnauthorizedOperation.",
    );
    expect(h.metrics).toEqual({ ScheduledHostActionFailures: 1 });
  });

  it('is still skipped on a configured holiday: nothing is started, nothing remembered', async () => {
    const h = harness({ holidays: ['2026-11-25'] });
    await expect(h.invoke(0, scheduledStart)).resolves.toMatchObject({ ok: true });
    expect(ec2Mock).toHaveReceivedCommandTimes(StartInstancesCommand, 0);
    expect(h.app.tags[MARK]).toBeUndefined();
  });
});

describe('a failed scheduled stop of the app host', () => {
  it('is retried until it succeeds, up to the next scheduled start (Friday 19:00 → Monday 09:00)', async () => {
    const h = harness();
    h.app.state = 'running';
    h.refuseApp('RequestLimitExceeded');
    // Friday 27 November, 19:00 Tokyo.
    const fridayStop = 2 * 24 * 60 + 10 * 60;
    await expect(h.invoke(fridayStop, scheduledStop)).resolves.toMatchObject({ ok: false });
    expect(h.app.tags[MARK]).toBe('stop until 2026-11-30T00:00:00Z');
    await h.tick(fridayStop + 1);
    expect(ec2Mock).toHaveReceivedCommandWith(StopInstancesCommand, { InstanceIds: ['i-app'] });
    expect(h.app.state).toBe('running');
    h.refuseApp(undefined);
    await h.tick(fridayStop + 24 * 60); // Saturday
    expect(h.app.state).toBe('stopped');
    expect(h.app.tags[MARK]).toBe('');
  });

  it('waits while the host is still pending, and counts as done when it is found stopped', async () => {
    const h = harness();
    h.app.tags[MARK] = 'stop until 2026-11-26T00:00:00Z';
    h.app.state = 'pending';
    await h.tick(10 * 60 + 1);
    expect(ec2Mock).toHaveReceivedCommandTimes(StopInstancesCommand, 0);
    expect(h.app.tags[MARK]).toBe('stop until 2026-11-26T00:00:00Z');
    h.app.state = 'stopped';
    await h.tick(10 * 60 + 2);
    expect(ec2Mock).toHaveReceivedCommandTimes(StopInstancesCommand, 0);
    expect(h.app.tags[MARK]).toBe('');
    expect(h.scheduledLog()?.message).toBe(
      'scheduled stop of the app host: the app host is stopped; no retry needed',
    );
  });
});

describe("an operator's start or stop of the app host", () => {
  it.each([
    [{ action: 'stop', target: 'app', source: 'manual' }],
    [{ action: 'stop', target: 'all' }],
    [{ action: 'start', target: 'app' }],
  ])('%j ends the retries of a failed scheduled start: a 12:00 stop is not undone', async (event) => {
    const h = harness();
    h.refuseApp('InsufficientInstanceCapacity');
    await h.invoke(0, scheduledStart);
    h.refuseApp(undefined);
    h.app.state = 'running'; // EC2 started it on its own, or the operator did, then...
    await h.invoke(3 * 60, event);
    expect(h.app.tags[MARK]).toBe('');
    h.app.state = 'stopped';
    for (const minute of [3 * 60 + 1, 3 * 60 + 2]) await h.tick(minute);
    expect(ec2Mock).toHaveReceivedCommandTimes(StartInstancesCommand, 0);
  });

  it('says so and fails when the mark cannot be cleared, but still acts', async () => {
    const h = harness();
    h.app.tags[MARK] = 'start until 2026-11-25T10:00:00Z';
    h.app.state = 'running';
    h.refuseTags('UnauthorizedOperation');
    const error = await h.invoke(3 * 60, { action: 'stop', target: 'app' });
    expect((error as Error).message).toContain(
      "The app host's failed scheduled action not cleared: UnauthorizedOperation",
    );
    expect(h.app.state).toBe('stopped');
  });
});
