import { DEFAULT_CONFIG } from '../../src/config';
import { handler } from '../../lambda/scaler/handler';
import { AwsServer, awsError } from './aws-server';
import { localAwsEnv, removeScratch } from './support';

/**
 * The scaler Lambda's real entry point, unmodified (its own SDK clients, logger, metrics and
 * clock), in this process against the local AWS: configured only through its environment, as
 * the scaler stack configures it, with the endpoint and fake keys added.
 */
let server: AwsServer;
const savedEnv = { ...process.env };

beforeAll(async () => {
  server = await AwsServer.start();
  const { scaler, schedule } = DEFAULT_CONFIG;
  // Only the local server's settings: no AWS_* variable of the machine (profile, region) leaks in.
  process.env = {
    ...localAwsEnv(server),
    FLEET_CONFIG: JSON.stringify({ appName: 'GpuFleet', scaler, schedule }),
    JOB_QUEUE_URL: server.jobQueueUrl,
    POWERTOOLS_SERVICE_NAME: 'gpu-fleet-scaler',
    POWERTOOLS_METRICS_NAMESPACE: 'GpuFleet',
  };
});
afterAll(async () => {
  process.env = savedEnv;
  removeScratch();
  await server.close();
});
beforeEach(() => server.reset());
afterEach(() => expect(server.foreignQueueUrls).toEqual([]));

interface Invocation {
  readonly result?: { ok: boolean; message: string };
  readonly error?: { code?: string; retryable?: boolean; message: string };
  /** The metrics of the EMF document(s) the invocation printed, by name. */
  readonly metrics: Record<string, number>;
  /** The structured log lines. */
  readonly logs: Array<Record<string, unknown>>;
}

/** Invokes the handler with one event, capturing what it writes (logs, and EMF metrics on stdout). */
async function invoke(event: unknown): Promise<Invocation> {
  const lines: string[] = [];
  // Powertools writes info and EMF to stdout, warnings and errors to stderr.
  const spies = [process.stdout, process.stderr].map((stream) =>
    jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      return true;
    }),
  );
  const outcome = await handler(event)
    .then(
      (result) => ({ result, error: undefined }),
      (error: Invocation['error']) => ({ result: undefined, error }),
    )
    .finally(() => spies.forEach((spy) => spy.mockRestore()));
  const documents = lines.flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
  const metrics: Record<string, number> = {};
  for (const emf of documents.filter((d) => '_aws' in d)) {
    const names = (
      emf._aws as { CloudWatchMetrics: Array<{ Metrics: Array<{ Name: string }> }> }
    ).CloudWatchMetrics.flatMap((m) => m.Metrics.map((metric) => metric.Name));
    for (const name of names) metrics[name] = Number(emf[name]);
  }
  return { ...outcome, metrics, logs: documents.filter((d) => !('_aws' in d)) };
}

const tick = () => invoke({ action: 'tick' });

describe('the scaler handler against the wire protocols', () => {
  it('a quiet queue: observes, decides nothing, calls nothing else', async () => {
    const { result, error, metrics } = await tick();
    expect(error).toBeUndefined();
    expect(result?.ok).toBe(true);
    expect(server.callsOf('ec2:StartInstances')).toHaveLength(0);
    expect(metrics).toMatchObject({ Waiting: 0, GpuRunning: 0, Starts: 0 });
  });

  it('more than 10 jobs waiting: starts the GPU and remembers the start in its tags', async () => {
    server.jobQueue.waiting = 11;
    const { result, error, metrics } = await tick();
    expect(error).toBeUndefined();
    expect(result?.ok).toBe(true);
    expect(server.callsOf('ec2:StartInstances').map((c) => c.params['InstanceId.1'])).toEqual(['i-0gpu']);
    expect(server.gpu.state).toBe('pending');
    expect(server.gpu.tags['gpu-fleet:last-action']).toBe('start');
    expect(metrics).toMatchObject({ Waiting: 11, Starts: 1, StartFailures: 0 });
  });

  it('no spot capacity: the refused start is remembered with its error, and the tick does not throw', async () => {
    server.jobQueue.waiting = 11;
    server.fail('ec2:StartInstances', awsError('InsufficientInstanceCapacity', 500));
    const { error, metrics } = await tick();
    expect(error).toBeUndefined();
    expect(server.gpu.state).toBe('stopped');
    expect(server.gpu.tags['gpu-fleet:last-error']).toBe('InsufficientCapacity');
    expect(metrics).toMatchObject({ Starts: 0, StartFailures: 1 });
  });

  it('a 5xx with an HTML body while observing is transient: the invocation does not fail', async () => {
    server.fail('sqs:GetQueueAttributes', { kind: 'html', status: 502 });
    const { result, error } = await tick();
    expect(error).toBeUndefined();
    expect(result?.ok).toBe(false);
    expect(result?.message).toContain('HTTP 502');
  });

  it('throttled observation is transient too', async () => {
    server.fail('ec2:DescribeInstances', awsError('RequestLimitExceeded', 503));
    const { error } = await tick();
    expect(error).toBeUndefined();
  });

  it('credentials AWS rejects are not transient: the invocation fails, saying so', async () => {
    server.fail('ec2:DescribeInstances', awsError('AuthFailure', 401));
    const { error, logs } = await tick();
    expect(error).toMatchObject({ code: 'InvalidCredentials', retryable: false });
    expect(error?.message).toContain('the access key or its signature is not valid');
    expect(logs).toContainEqual(expect.objectContaining({ level: 'ERROR', message: 'tick failed' }));
  });

  it('CreateTags fails after a successful start: the GPU is started exactly once', async () => {
    server.jobQueue.waiting = 11;
    server.fail('ec2:CreateTags', awsError('RequestLimitExceeded', 503));
    await tick();
    expect(server.callsOf('ec2:StartInstances')).toHaveLength(1);
    expect(server.gpu.state).toBe('pending');
  });

  // A CreateTags failure after a successful start/stop must not read as "could not observe", nor
  // lose the action from memory.
  it('CreateTags fails after a successful start: the start is reported and later remembered', async () => {
    server.jobQueue.waiting = 11;
    server.fail('ec2:CreateTags', awsError('RequestLimitExceeded', 503));
    const first = await tick();
    expect(first.error).toBeUndefined();
    expect(first.metrics).toMatchObject({ Starts: 1 });
    expect(JSON.stringify(first.logs)).not.toContain('could not observe');

    server.clearFaults();
    const second = await tick();
    expect(second.error).toBeUndefined();
    // The start stands: EC2 shows the GPU pending, so the next tick neither starts it again nor
    // counts a failure; idleness is read from the worker's own tags, not from this memory.
    expect(server.callsOf('ec2:StartInstances')).toHaveLength(1);
    expect(second.metrics).toMatchObject({ Starts: 0, TickFailures: 0 });
  });

  // A non-retryable error of an action fails the invocation.
  it('a start refused for good (access denied) fails the invocation', async () => {
    server.jobQueue.waiting = 11;
    server.fail('ec2:StartInstances', awsError('UnauthorizedOperation', 403));
    const { error } = await tick();
    expect(error).toMatchObject({ code: 'AccessDenied', retryable: false });
  });
});
