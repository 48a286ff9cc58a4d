import * as fs from 'node:fs';
import * as path from 'node:path';
import { CreateTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { ReceiveMessageCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { InstanceMetadata } from '../../docker/worker/src/imds';
import { OpenVoiceClient } from '../../docker/worker/src/openvoice';
import { ResultStore } from '../../docker/worker/src/store';
import { QueueWorker, READY_TAG, WORKER_EVENTS } from '../../docker/worker/src/worker';
import { TAGS } from '../../src/core/tags';
import {
  WAV,
  counts,
  createQueues,
  eventually,
  fakeServer,
  sqsClient,
  startSqsServer,
  tempSharedDir,
} from './harness';

const ec2Mock = mockClient(EC2Client);
let sqsServer: Awaited<ReturnType<typeof startSqsServer>>;
let sqs: SQSClient;
let queueNumber = 0;

beforeAll(async () => {
  sqsServer = await startSqsServer();
  sqs = sqsClient(sqsServer.address);
});
afterAll(async () => {
  sqs.destroy();
  await sqsServer.stop();
});

interface Setup {
  openVoice?: (route: string, attempt: number) => Promise<{ status: number; body?: string | Buffer }>;
  spotNotice?: () => string | undefined;
  visibilityTimeoutS?: number;
  heartbeatS?: number;
  maxReceiveCount?: number;
}

/** One worker against a fresh queue pair, a fake OpenVoice and a fake IMDS; cleaned up after. */
async function setup(options: Setup = {}) {
  const { queueUrl, dlqUrl } = await createQueues(
    sqs,
    `jobs-${(queueNumber += 1)}`,
    options.maxReceiveCount ?? 2,
  );
  const attempts = new Map<string, number>();
  const openVoice = await fakeServer(async (request) => {
    const route = (request.url ?? '').split('?')[0] ?? '';
    const attempt = (attempts.get(route) ?? 0) + 1;
    attempts.set(route, attempt);
    if (options.openVoice) return options.openVoice(route, attempt);
    if (route === '/health') return { status: 200, body: '{"status":"ok"}' };
    if (route === '/synthesize') return { status: 200, body: WAV };
    return { status: 201, body: '{}' };
  });
  const imds = await fakeServer(async (request) => {
    if (request.method === 'PUT' && request.url === '/latest/api/token')
      return { status: 200, body: 'token-1' };
    if (request.headers['x-aws-ec2-metadata-token'] !== 'token-1') return { status: 401 };
    if (request.url === '/latest/meta-data/instance-id') return { status: 200, body: 'i-0gpu' };
    if (request.url === '/latest/meta-data/spot/instance-action') {
      const notice = options.spotNotice?.();
      return notice ? { status: 200, body: notice } : { status: 404 };
    }
    return { status: 404 };
  });
  ec2Mock.reset();
  ec2Mock.on(CreateTagsCommand).resolves({});
  const shared = tempSharedDir();
  const events: Array<[string, unknown]> = [];
  const worker = new QueueWorker({
    queueUrl,
    sqs,
    ec2: new EC2Client({ region: 'ap-northeast-1' }),
    openVoice: new OpenVoiceClient(openVoice.url),
    store: new ResultStore(shared),
    metadata: new InstanceMetadata(imds.url),
    visibilityTimeoutS: options.visibilityTimeoutS ?? 5,
    heartbeatS: options.heartbeatS ?? 2,
    waitTimeS: 1,
    retryDelayS: 1,
    pollMs: 50,
    clock: () => new Date('2026-11-24T03:00:00.250Z'),
  });
  for (const name of WORKER_EVENTS) worker.on(name, (detail: unknown) => events.push([name, detail]));
  worker.on('error', () => undefined);
  const send = (body: unknown) =>
    sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    );
  const cleanup = async () => {
    await worker.drain('test over', 0);
    await openVoice.close();
    await imds.close();
  };
  return { worker, queueUrl, dlqUrl, shared, events, send, openVoice, attempts, cleanup };
}

const synthesize = (jobId: string) => ({
  version: 1,
  jobId,
  type: 'synthesize',
  voiceId: 'alice',
  text: 'こんにちは',
  language: 'JP',
});
const statusOf = (shared: string, jobId: string) => {
  const file = path.join(shared, 'jobs', `${jobId}.json`);
  return fs.existsSync(file)
    ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>)
    : undefined;
};

describe('queue worker against a real SQS protocol server', () => {
  it('the ready tag key is the one the scaler reads', () => {
    expect(READY_TAG).toBe(TAGS.readyAt);
  });

  it('waits for OpenVoice to be healthy, then tags its instance ready, then consumes', async () => {
    let healthy = false;
    const t = await setup({
      openVoice: async (route) =>
        route === '/health' ? { status: healthy ? 200 : 503 } : { status: 200, body: WAV },
    });
    const started = t.worker.start();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(ec2Mock).toHaveReceivedCommandTimes(CreateTagsCommand, 0);
    healthy = true;
    await started;
    expect(ec2Mock).toHaveReceivedCommandWith(CreateTagsCommand, {
      Resources: ['i-0gpu'],
      Tags: [{ Key: 'gpu-fleet:ready-at', Value: '2026-11-24T03:00:00Z' }],
    });
    expect(t.events[0]).toEqual(['ready', { instanceId: 'i-0gpu', readyAt: '2026-11-24T03:00:00Z' }]);
    await t.cleanup();
  });

  it('writes the result and status atomically, then deletes the message', async () => {
    const t = await setup();
    await t.worker.start();
    await t.send(synthesize('job-1'));
    const status = await eventually(() => statusOf(t.shared, 'job-1'));
    expect(status).toEqual({
      jobId: 'job-1',
      type: 'synthesize',
      state: 'done',
      output: 'outputs/job-1.wav',
      finishedAt: '2026-11-24T03:00:00.250Z',
    });
    expect(fs.readFileSync(path.join(t.shared, 'outputs', 'job-1.wav'))).toEqual(WAV);
    expect(fs.readdirSync(path.join(t.shared, 'outputs')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    await eventually(async () => {
      const c = await counts(sqs, t.queueUrl);
      return c.waiting === 0 && c.inFlight === 0 ? c : undefined;
    });
    await t.cleanup();
  });

  it('keeps a job whose OpenVoice call failed, pauses until OpenVoice is healthy, then retries it', async () => {
    let healthy = true;
    const t = await setup({
      openVoice: async (route, attempt) => {
        if (route === '/health') return { status: healthy ? 200 : 503 };
        if (attempt === 1) {
          healthy = false; // the service fell over: the job stays, the worker waits
          return { status: 500, body: 'CUDA out of memory' };
        }
        return { status: 200, body: WAV };
      },
    });
    await t.worker.start();
    await t.send(synthesize('job-2'));
    await eventually(() => t.events.find(([name]) => name === 'paused'));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(t.attempts.get('/synthesize')).toBe(1);
    expect(statusOf(t.shared, 'job-2')).toBeUndefined();
    healthy = true;
    await eventually(() => statusOf(t.shared, 'job-2'));
    expect(t.attempts.get('/synthesize')).toBe(2);
    expect(t.events.map(([name]) => name)).toEqual(
      expect.arrayContaining(['job_retry', 'paused', 'resumed', 'job_done']),
    );
    await t.cleanup();
  });

  it('records a job OpenVoice rejects as failed for good and deletes it', async () => {
    const t = await setup({
      openVoice: async (route) =>
        route === '/health'
          ? { status: 200 }
          : { status: 404, body: '{"detail":"voice profile alice does not exist"}' },
    });
    await t.worker.start();
    await t.send(synthesize('job-3'));
    const status = await eventually(() => statusOf(t.shared, 'job-3'));
    expect(status).toMatchObject({
      state: 'failed',
      error: expect.stringContaining('voice profile alice does not exist'),
    });
    await t.cleanup();
  });

  it('sends a malformed message to the dead-letter queue and goes on with the next job', async () => {
    const t = await setup({ maxReceiveCount: 2 });
    await t.worker.start();
    await t.send('{"version": 7, "jobId": "x"}');
    await t.send(synthesize('job-4'));
    await eventually(() => statusOf(t.shared, 'job-4'));
    const dead = await eventually(async () => {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: t.dlqUrl, WaitTimeSeconds: 0 }),
      );
      return Messages.length > 0 ? Messages : undefined;
    });
    expect(dead[0]?.Body).toBe('{"version": 7, "jobId": "x"}');
    expect(t.events.find(([name]) => name === 'malformed')?.[1]).toMatchObject({
      error: 'version 7 is not supported (expected 1)',
    });
    await t.cleanup();
  });

  it('extends the visibility of a long job so it is not delivered twice', async () => {
    const t = await setup({
      visibilityTimeoutS: 2,
      heartbeatS: 1,
      openVoice: async (route) => {
        if (route === '/health') return { status: 200 };
        await new Promise((resolve) => setTimeout(resolve, 4500));
        return { status: 200, body: WAV };
      },
    });
    await t.worker.start();
    await t.send(synthesize('job-5'));
    await eventually(() => statusOf(t.shared, 'job-5'), 15_000);
    expect(t.attempts.get('/synthesize')).toBe(1);
    await t.cleanup();
  }, 20_000);

  it('recognises a redelivered finished job by its status file and does not run it again', async () => {
    const t = await setup();
    fs.mkdirSync(path.join(t.shared, 'jobs'), { recursive: true });
    fs.writeFileSync(
      path.join(t.shared, 'jobs', 'job-6.json'),
      JSON.stringify({ jobId: 'job-6', state: 'done' }),
    );
    await t.worker.start();
    await t.send(synthesize('job-6'));
    await eventually(() => t.events.find(([name]) => name === 'job_duplicate'));
    expect(t.attempts.get('/synthesize')).toBeUndefined();
    await eventually(async () => ((await counts(sqs, t.queueUrl)).waiting === 0 ? true : undefined));
    await t.cleanup();
  });

  it('on SIGTERM hands a running job back to the queue at once: nothing is lost', async () => {
    const t = await setup({
      openVoice: async (route) => {
        if (route === '/health') return { status: 200 };
        await new Promise((resolve) => setTimeout(resolve, 8000));
        return { status: 200, body: WAV };
      },
    });
    await t.worker.start();
    await t.send(synthesize('job-7'));
    await eventually(() => (t.attempts.get('/synthesize') ? true : undefined));
    await t.worker.drain('SIGTERM', 200);
    expect(t.events.find(([name]) => name === 'drained')?.[1]).toEqual({ reason: 'SIGTERM', released: 1 });
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: t.queueUrl, WaitTimeSeconds: 1 }),
    );
    expect(JSON.parse(Messages[0]?.Body ?? '{}')).toMatchObject({ jobId: 'job-7' });
    expect(statusOf(t.shared, 'job-7')).toBeUndefined();
    await t.cleanup();
  }, 15_000);

  it('drains on a spot interruption notice polled from IMDSv2, and takes no new job', async () => {
    let notice: string | undefined = undefined;
    const t = await setup({
      spotNotice: () => notice,
      openVoice: async (route) => {
        if (route === '/health') return { status: 200 };
        await new Promise((resolve) => setTimeout(resolve, 8000));
        return { status: 200, body: WAV };
      },
    });
    await t.worker.start();
    await t.send(synthesize('job-8'));
    await eventually(() => (t.attempts.get('/synthesize') ? true : undefined));
    // Two minutes' notice as EC2 gives it; the clock says 03:00:00, so the grace is 100 s − 20 s,
    // capped at 90 s. The job would take 8 s: it finishes within the notice.
    notice = JSON.stringify({ action: 'stop', time: '2026-11-24T03:01:40Z' });
    await eventually(() => t.events.find(([name]) => name === 'drained'), 15_000);
    expect(t.events.find(([name]) => name === 'draining')?.[1]).toMatchObject({
      reason: 'spot interruption',
      inFlight: 1,
    });
    expect(statusOf(t.shared, 'job-8')).toMatchObject({ state: 'done' });
    await t.send(synthesize('job-9'));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(statusOf(t.shared, 'job-9')).toBeUndefined();
    expect((await counts(sqs, t.queueUrl)).waiting).toBe(1);
    await t.cleanup();
  }, 25_000);
});
