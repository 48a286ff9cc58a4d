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
import { DEFAULT_CONFIG } from '../../lib/config';
import { readEnvironment } from '../../lambda/scaler/config';
import { type ScalerDependencies, createHandler } from '../../lambda/scaler/handler';
import { createEc2Fleet } from '../../src/aws/ec2';
import { createSqsQueue } from '../../src/aws/sqs';

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
      schedule: { timeZone: 'Asia/Tokyo', holidays: ['2026-11-24'] },
    }),
    JOB_QUEUE_URL: QUEUE_URL,
    GPU_INSTANCE_ID: 'i-gpu',
    APP_INSTANCE_ID: 'i-app',
    ...overrides,
  });
}

function harness() {
  const gpu: FakeGpu = { state: 'stopped', tags: { 'gpu-fleet:role': 'gpu' } };
  let queue = { waiting: 0, inFlight: 0, delayed: 0 };
  let now = minute(0);
  const logs: Array<{ level: string; message: string; extra?: unknown }> = [];
  const metrics: Record<string, number> = {};

  ec2Mock.on(DescribeInstancesCommand).callsFake(() => ({
    Reservations: [
      {
        Instances: [
          {
            InstanceId: 'i-gpu',
            InstanceType: 'g4dn.xlarge',
            State: { Name: gpu.state },
            LaunchTime: gpu.launchTime,
            StateReason: gpu.stateReasonCode ? { Code: gpu.stateReasonCode } : undefined,
            InstanceLifecycle: 'spot',
            Tags: Object.entries(gpu.tags).map(([Key, Value]) => ({ Key, Value })),
          },
        ],
      },
    ],
  }));
  ec2Mock.on(CreateTagsCommand).callsFake((input: { Tags: Array<{ Key: string; Value: string }> }) => {
    for (const { Key, Value } of input.Tags) gpu.tags[Key] = Value;
    return {};
  });
  sqsMock.on(GetQueueAttributesCommand).callsFake(() => ({
    Attributes: {
      ApproximateNumberOfMessages: String(queue.waiting),
      ApproximateNumberOfMessagesNotVisible: String(queue.inFlight),
      ApproximateNumberOfMessagesDelayed: String(queue.delayed),
    },
  }));

  const deps: ScalerDependencies = {
    fleet: createEc2Fleet(new EC2Client({ region: 'ap-northeast-1' })),
    queue: createSqsQueue(new SQSClient({ region: 'ap-northeast-1' })),
    environment: environment(),
    clock: () => now,
    logger: {
      info: (message: string, extra?: unknown) => logs.push({ level: 'info', message, extra }),
      warn: (message: string, extra?: unknown) => logs.push({ level: 'warn', message, extra }),
      error: (message: string, extra?: unknown) => logs.push({ level: 'error', message, extra }),
      appendKeys: () => undefined,
    } as unknown as ScalerDependencies['logger'],
    metrics: {
      addMetric: (name: string, _unit: unknown, value: number) => {
        metrics[name] = value;
      },
      addDimension: () => undefined,
      publishStoredMetrics: () => undefined,
    } as unknown as ScalerDependencies['metrics'],
  };
  const handler = createHandler(deps);
  return {
    gpu,
    logs,
    metrics,
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
  };
}

beforeEach(() => {
  ec2Mock.reset();
  sqsMock.reset();
});

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
    expect(await h.tick(1)).toEqual([
      'DescribeInstancesCommand',
      'StartInstancesCommand',
      'CreateTagsCommand',
    ]);
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
    expect(await h.tick(2)).toEqual([
      'DescribeInstancesCommand',
      'StartInstancesCommand',
      'CreateTagsCommand',
    ]);
    expect(h.metrics.Starts).toBe(1);
    h.gpu.state = 'running';
    h.gpu.launchTime = minute(2);

    // Booting: no action, no tag churn.
    expect(await h.tick(3)).toEqual(['DescribeInstancesCommand', 'CreateTagsCommand']);
    expect(h.gpu.tags['gpu-fleet:last-error']).toBe('');
    expect(await h.tick(4)).toEqual(['DescribeInstancesCommand']);
    expect(h.logs.at(-1)?.message).toContain('worker not ready yet');

    // The worker reports ready and drains the queue.
    h.gpu.tags['gpu-fleet:ready-at'] = '2026-11-24T01:05:30Z';
    h.setQueue({ waiting: 3, inFlight: 1 });
    await h.tick(6);
    expect(h.logs.at(-1)?.message).toBe('tick: none: GPU busy: 3 waiting, 1 in flight, 0 delayed');
    h.setQueue({});
    await h.tick(7);
    expect(h.gpu.tags['gpu-fleet:idle-since']).toBe('2026-11-24T01:07:00Z');
    expect(h.gpu.tags['gpu-fleet:pending-since']).toBe('');
    for (const m of [8, 9, 10, 11]) expect(await h.tick(m)).toEqual(['DescribeInstancesCommand']);

    expect(await h.tick(12)).toEqual([
      'DescribeInstancesCommand',
      'StopInstancesCommand',
      'CreateTagsCommand',
    ]);
    expect(ec2Mock).toHaveReceivedCommandWith(StopInstancesCommand, { InstanceIds: ['i-gpu'] });
    expect(h.gpu.tags).toMatchObject({
      'gpu-fleet:last-action': 'stop',
      'gpu-fleet:last-action-at': '2026-11-24T01:12:00Z',
      'gpu-fleet:last-reason': 'stop: idle for 5m >= 5m since ready',
      'gpu-fleet:idle-since': '',
    });
    expect(h.metrics).toMatchObject({ Stops: 1, GpuRunning: 1, GpuRunningMinutes: 10 });
    expect(h.logs.at(-1)?.extra).toMatchObject({ decided: 'stop', acted: 'stopped' });
  });

  it('never overwrites a hold the CLI wrote, and keeps the GPU up until it expires', async () => {
    const h = harness();
    h.gpu.state = 'running';
    h.gpu.launchTime = minute(0);
    h.gpu.tags['gpu-fleet:ready-at'] = '2026-11-24T01:01:00Z';
    h.gpu.tags['gpu-fleet:hold-until'] = '2026-11-24T01:30:00Z';
    await h.tick(2);
    const written = ec2Mock.commandCalls(CreateTagsCommand).flatMap((c) => c.args[0].input.Tags ?? []);
    expect(written.map((t) => t.Key)).toEqual(['gpu-fleet:idle-since']);
    for (let m = 3; m < 30; m += 1) expect(await h.tick(m)).not.toContain('StopInstancesCommand');
    expect(await h.tick(30)).toContain('StopInstancesCommand');
    expect(h.gpu.tags['gpu-fleet:hold-until']).toBe('');
  });

  it('skips a tick it cannot observe because of throttling, and fails loudly on access denied', async () => {
    const h = harness();
    ec2Mock.on(DescribeInstancesCommand).rejects(startRefused('RequestLimitExceeded'));
    await expect(h.handler({ action: 'tick' })).resolves.toMatchObject({ ok: false });
    expect(h.logs.at(-1)).toMatchObject({ level: 'warn', message: 'tick skipped: could not observe' });
    ec2Mock.on(DescribeInstancesCommand).rejects(startRefused('UnauthorizedOperation'));
    await expect(h.handler({ action: 'tick' })).rejects.toMatchObject({ code: 'AccessDenied' });
    expect(h.logs.at(-1)?.level).toBe('error');
  });
});

describe('scaler handler: start/stop events', () => {
  it.each([
    [{ action: 'start', target: 'gpu' }, StartInstancesCommand, ['i-gpu']],
    [{ action: 'stop', target: 'app' }, StopInstancesCommand, ['i-app']],
    [{ action: 'stop', target: 'all' }, StopInstancesCommand, ['i-app', 'i-gpu']],
    [{ action: 'start', target: 'app', source: 'manual' }, StartInstancesCommand, ['i-app']],
  ] as const)('%j sends exactly that command', async (event, command, ids) => {
    const h = harness();
    ec2Mock.on(command).resolves({});
    await expect(h.handler(event)).resolves.toMatchObject({ ok: true });
    expect(ec2Mock).toHaveReceivedCommandWith(command, { InstanceIds: [...ids] });
    expect(ec2Mock).toHaveReceivedCommandTimes(command, 1);
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

  it('fails a scheduled start EC2 refused, so the errors alarm fires', async () => {
    const h = harness();
    h.at(60 * 24 * 2);
    ec2Mock.on(StartInstancesCommand).rejects(startRefused('InsufficientInstanceCapacity'));
    await expect(h.handler({ action: 'start', target: 'app', source: 'schedule' })).rejects.toMatchObject({
      code: 'InsufficientCapacity',
    });
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
  it('names the variable at fault', () => {
    expect(() => environment({ GPU_INSTANCE_ID: '' })).toThrow(
      'scaler environment: GPU_INSTANCE_ID is not set',
    );
    expect(() => environment({ FLEET_CONFIG: '{' })).toThrow('FLEET_CONFIG is not valid JSON');
    expect(() => environment({ FLEET_CONFIG: JSON.stringify({ scaler: { startBacklog: 0 } }) })).toThrow(
      'FLEET_CONFIG.scaler.startBacklog must be a positive number, got 0',
    );
  });
});
