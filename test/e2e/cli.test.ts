import * as net from 'node:net';
import { type AwsAction, type Fault, awsError } from './aws-server';
import { ensureBuiltCli, expectOneLineFailure, gpuManage, removeScratch, withServer } from './support';

/**
 * The built gpu-manage, unmodified, against a local server that speaks the AWS wire protocols:
 * what an operator sees for each command and for each kind of AWS failure. The CLI is built
 * before any test starts (concurrent tests do not wait for beforeAll).
 */
ensureBuiltCli();
afterAll(removeScratch);

describe('commands against the wire protocols', () => {
  withServer(
    'status reads EC2, CloudFormation outputs, both queues (at the queue URLs’ host) and EFS',
    async (server, run) => {
      server.jobQueue.waiting = 4;
      server.jobQueue.inFlight = 1;
      const result = await run('status', '--json');
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const report = JSON.parse(result.stdout) as Record<string, any>;
      expect(report.instances).toEqual([
        expect.objectContaining({
          role: 'app',
          instanceId: 'i-0app',
          state: 'running',
          publicIp: '203.0.113.10',
        }),
        expect.objectContaining({
          role: 'gpu',
          instanceId: 'i-0gpu',
          state: 'stopped',
          market: 'spot',
          spotRequest: expect.objectContaining({ id: 'sir-0gpu', validUntil: '2027-12-31T00:00:00Z' }),
        }),
      ]);
      expect(report.queue).toEqual({ waiting: 4, inFlight: 1, delayed: 0 });
      expect(report.fileSystem).toEqual({ id: 'fs-0e2e', state: 'available', sizeBytes: 3 * 1024 ** 3 });
      const queueCalls = server.callsOf('sqs:GetQueueAttributes');
      expect(queueCalls.map((c) => c.params.QueueUrl).sort()).toEqual(
        [server.deadLetterQueueUrl, server.jobQueueUrl].sort(),
      );
      expect(new Set(queueCalls.map((c) => c.host))).toEqual(new Set([new URL(server.endpoint).host]));
    },
  );

  withServer('status as text names both hosts and the queue', async (_server, run) => {
    const result = await run('status');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('i-0app');
    expect(result.stdout).toContain('i-0gpu');
    expect(result.stdout).toMatch(/stopped/);
  });

  withServer('start-gpu starts the stopped GPU and only it', async (server, run) => {
    const result = await run('start-gpu');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Starting gpu i-0gpu (was stopped).');
    expect(server.callsOf('ec2:StartInstances').map((c) => c.params)).toEqual([
      expect.objectContaining({ 'InstanceId.1': 'i-0gpu' }),
    ]);
    expect(server.callsOf('ec2:StartInstances')[0]?.params['InstanceId.2']).toBeUndefined();
    expect(server.gpu.state).toBe('pending');
  });

  withServer('start-gpu --hold 2h starts it and writes the hold tag', async (server, run) => {
    const before = Date.now();
    const result = await run('start-gpu', '--hold', '2h');
    expect(result.code).toBe(0);
    const holdUntil = Date.parse(server.gpu.tags['gpu-fleet:hold-until'] ?? '');
    expect(holdUntil).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 2 * 3_600_000);
    expect(holdUntil).toBeLessThan(before + 2 * 3_600_000 + 60_000);
    expect(server.gpu.state).toBe('pending');
  });

  withServer('stop-all stops both hosts and ends the GPU hold', async (server, run) => {
    server.gpu.state = 'running';
    server.gpu.tags['gpu-fleet:hold-until'] = '2099-01-01T00:00:00Z';
    const result = await run('stop-all');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Stopping app i-0app (was running).');
    expect(result.stdout).toContain('Stopping gpu i-0gpu (was running).');
    expect(server.app.state).toBe('stopping');
    expect(server.gpu.state).toBe('stopping');
    expect(server.gpu.tags['gpu-fleet:hold-until']).toBe('');
  });

  withServer('hold 30m sets a hold; hold --release ends it', async (server, run) => {
    const held = await run('hold', '30m');
    expect(held.code).toBe(0);
    expect(held.stdout).toContain('Hold set until');
    expect(server.gpu.tags['gpu-fleet:hold-until']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const released = await run('hold', '--release');
    expect(released.code).toBe(0);
    expect(server.gpu.tags['gpu-fleet:hold-until']).toBe('');
  });

  withServer(
    'a fault the SDK retries away is invisible: one 503, then the start goes through',
    async (server, run) => {
      server.fail('ec2:StartInstances', awsError('ServiceUnavailable', 503), 1);
      const result = await run('start-gpu');
      expect(result.code).toBe(0);
      expect(server.callsOf('ec2:StartInstances')).toHaveLength(2);
      expect(server.gpu.state).toBe('pending');
    },
  );
});

describe('each injected fault: one line, exit 1', () => {
  const cases: ReadonlyArray<[string, AwsAction, Fault, string[], RegExp]> = [
    [
      'EC2 throttling',
      'ec2:DescribeInstances',
      awsError('RequestLimitExceeded', 503),
      ['start-gpu'],
      /^AWS is throttling requests right now: try again in a few seconds\.$/,
    ],
    [
      'SQS RequestThrottled',
      'sqs:GetQueueAttributes',
      awsError('RequestThrottled', 400),
      ['status'],
      /^AWS is throttling requests/,
    ],
    [
      'an EC2 5xx with an XML body',
      'ec2:StartInstances',
      awsError('InternalError', 500),
      ['start-gpu'],
      /^AWS answered ec2:StartInstances with a server error \(HTTP 500, InternalError\); this is usually brief: try again in a minute\.$/,
    ],
    [
      'a CloudFormation 502 with an HTML body',
      'cloudformation:DescribeStacks',
      { kind: 'html', status: 502 },
      ['status'],
      /^AWS answered cloudformation:DescribeStacks with a server error \(HTTP 502\)/,
    ],
    [
      'an SQS 500 with an HTML body',
      'sqs:GetQueueAttributes',
      { kind: 'html', status: 500 },
      ['status'],
      /^AWS answered sqs:GetQueueAttributes with a server error \(HTTP 500\)/,
    ],
    [
      'an EFS 503',
      'elasticfilesystem:DescribeFileSystems',
      awsError('ServiceUnavailable', 503),
      ['status'],
      /^AWS answered elasticfilesystem:DescribeFileSystems with a server error \(HTTP 503, ServiceUnavailable\)/,
    ],
    [
      'no spot capacity',
      'ec2:StartInstances',
      awsError('InsufficientInstanceCapacity', 500),
      ['start-gpu'],
      /^EC2 has no spot capacity for the GPU instance right now\./,
    ],
    [
      'access denied',
      'ec2:StopInstances',
      awsError('UnauthorizedOperation', 403),
      ['stop-app'],
      /^Access denied: your credentials lack ec2:StopInstances\./,
    ],
  ];

  for (const [name, action, fault, args, line] of cases) {
    withServer(name, async (server, run) => {
      server.fail(action, fault);
      expect(expectOneLineFailure(await run(...args))).toMatch(line);
    });
  }

  withServer('a dropped connection names the endpoint', async (server, run) => {
    server.fail('ec2:DescribeInstances', { kind: 'drop' });
    const line = expectOneLineFailure(await run('status'));
    expect(line).toBe(
      `Cannot reach ${new URL(server.endpoint).host}: connection closed. Check the network connection (and AWS_ENDPOINT_URL or a proxy, if set), then try again.`,
    );
  });

  withServer('nothing listening: connection refused, naming the endpoint', async (_server, _run, env) => {
    const port = await closedPort();
    const result = await gpuManage({ ...env, AWS_ENDPOINT_URL: `http://127.0.0.1:${port}` }, 'start-gpu');
    expect(expectOneLineFailure(result)).toMatch(
      new RegExp(`^Cannot reach 127\\.0\\.0\\.1:${port}: connection refused\\.`),
    );
  });

  withServer(
    'an access key AWS does not know: EC2 AuthFailure says the key or signature is wrong, not expired',
    async (_server, _run, env) => {
      const result = await gpuManage({ ...env, AWS_ACCESS_KEY_ID: 'AKIDNOTKNOWN00000000' }, 'start-gpu');
      const line = expectOneLineFailure(result);
      expect(line).toMatch(
        /^AWS rejected the credentials: the access key or its signature is not valid \(AuthFailure\)\./,
      );
      expect(line).not.toMatch(/expired/i);
    },
  );

  withServer('CloudFormation InvalidClientTokenId says the access key id is unknown', async (server, run) => {
    server.fail('cloudformation:DescribeStacks', awsError('InvalidClientTokenId', 403));
    expect(expectOneLineFailure(await run('status'))).toMatch(
      /^AWS rejected the credentials: AWS does not know this access key id/,
    );
  });

  withServer(
    'a queue count missing from GetQueueAttributes is an error, not an empty queue',
    async (server, run) => {
      server.jobQueue.omit = ['ApproximateNumberOfMessagesNotVisible'];
      const line = expectOneLineFailure(await run('status'));
      expect(line).toContain(`no ApproximateNumberOfMessagesNotVisible for ${server.jobQueueUrl}`);
    },
  );
});

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
