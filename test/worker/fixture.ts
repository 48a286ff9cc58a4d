import * as fs from 'node:fs';
import * as path from 'node:path';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CreateTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { ReceiveMessageCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import type * as http from 'node:http';
import { InstanceMetadata } from '../../docker/worker/src/imds';
import { OpenVoiceClient } from '../../docker/worker/src/openvoice';
import { type FileSystem, ResultStore } from '../../docker/worker/src/store';
import { QueueWorker, WORKER_EVENTS } from '../../docker/worker/src/worker';
import {
  type FakeAnswer,
  WAV,
  counts,
  createQueues,
  eventually,
  fakeServer,
  latencyProxy,
  sqsClient,
  startSqsServer,
  tempSharedDir,
} from './harness';

export const TOKEN = 'test-token-0123456789abcdef0123456789';

export const ec2Mock = mockClient(EC2Client);
/** Any Auto Scaling call a worker made would land here: it has none to make (the scaler completes drains). */
export const autoScalingMock = mockClient(AutoScalingClient);

type OpenVoiceRoute = (
  route: string,
  attempt: number,
  request: http.IncomingMessage,
  body: Buffer,
) => Promise<FakeAnswer>;

export interface Setup {
  openVoice?: OpenVoiceRoute;
  /** OpenVoice's answer to every call but /health, which stays healthy (when `openVoice` is not set). */
  synthesis?: (
    attempt: number,
    body: Buffer,
    request: http.IncomingMessage,
  ) => Promise<FakeAnswer> | FakeAnswer;
  spotNotice?: () => string | undefined;
  /** What IMDS answers at autoscaling/target-lifecycle-state; 404 (not in a group) when undefined. */
  targetLifecycleState?: () => string | undefined;
  /** The burst group the worker drains for when it terminates the instance. */
  scaleIn?: { groupName: string; graceMs?: number };
  visibilityTimeoutS?: number;
  heartbeatS?: number;
  retryDelayS?: number;
  waitTimeS?: number;
  maxReceiveCount?: number;
  /** @default maxReceiveCount */
  maxAttempts?: number;
  slots?: number;
  /** Milliseconds every SQS request of the worker waits before it reaches the emulator. */
  sqsLatencyMs?: number;
  fileSystem?: FileSystem;
  storageTimeoutMs?: number;
  maxReferenceBytes?: number;
  /** The token the fake OpenVoice accepts at the moment. @default TOKEN */
  acceptedToken?: () => string;
  /** SQS actions the worker's requests fail with (through a proxy), e.g. ChangeMessageVisibility. */
  sqsRefuse?: (action: string) => boolean;
  /** Another worker's queue pair and shared directory, to run several workers on one queue. */
  sameQueueAs?: { queueUrl: string; dlqUrl: string; shared: string };
  /** Deadline of one OpenVoice call. @default 20000 */
  requestTimeoutMs?: number;
  /** The worker's clock. @default a fixed 2026-11-24T03:00:00.250Z */
  clock?: () => Date;
  /** At most one last-job-at write per this many ms of the worker's clock. @default 30000 */
  activityIntervalMs?: number;
}

let queueNumber = 0;

/**
 * One worker against a fresh queue pair on the emulator, a fake OpenVoice (which checks the
 * token) and a fake IMDS; `cleanup` drains it and closes everything.
 */
export async function setup(sqs: SQSClient, sqsAddress: string, options: Setup = {}) {
  const { queueUrl, dlqUrl } =
    options.sameQueueAs ??
    (await createQueues(sqs, `jobs-${process.pid}-${(queueNumber += 1)}`, options.maxReceiveCount ?? 2));
  const proxy =
    options.sqsLatencyMs || options.sqsRefuse
      ? await latencyProxy(sqsAddress, options.sqsLatencyMs ?? 0, options.sqsRefuse)
      : undefined;
  const workerSqs = proxy ? sqsClient(proxy.address) : sqs;
  const attempts = new Map<string, number>();
  const unauthorised: string[] = [];
  const openVoice = await fakeServer(async (request, body) => {
    const route = (request.url ?? '').split('?')[0] ?? '';
    const accepted = options.acceptedToken?.() ?? TOKEN;
    if (route !== '/health' && request.headers.authorization !== `Bearer ${accepted}`) {
      unauthorised.push(route);
      return { status: 401, body: '{"detail":"missing or wrong bearer token"}' };
    }
    const attempt = (attempts.get(route) ?? 0) + 1;
    attempts.set(route, attempt);
    if (options.openVoice) return options.openVoice(route, attempt, request, body);
    if (route === '/health') return { status: 200, body: '{"status":"ok"}' };
    if (options.synthesis) return options.synthesis(attempt, body, request);
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
    if (request.url === '/latest/meta-data/autoscaling/target-lifecycle-state') {
      const state = options.targetLifecycleState?.();
      return state ? { status: 200, body: state } : { status: 404 };
    }
    return { status: 404 };
  });
  ec2Mock.reset();
  autoScalingMock.reset();
  ec2Mock.on(CreateTagsCommand).resolves({});
  const shared = options.sameQueueAs?.shared ?? tempSharedDir();
  fs.mkdirSync(path.join(shared, 'uploads'), { recursive: true });
  const events: Array<[string, unknown]> = [];
  const errors: unknown[] = [];
  const store = new ResultStore(shared, {
    fs: options.fileSystem,
    timeoutMs: options.storageTimeoutMs ?? 5000,
  });
  const worker = new QueueWorker({
    queueUrl,
    sqs: workerSqs,
    ec2: new EC2Client({ region: 'ap-northeast-1' }),
    openVoice: new OpenVoiceClient({
      baseUrl: openVoice.url,
      token: TOKEN,
      requestTimeoutMs: options.requestTimeoutMs ?? 20_000,
    }),
    store,
    metadata: new InstanceMetadata(imds.url),
    slots: options.slots ?? 1,
    maxReceiveCount: options.maxReceiveCount ?? 2,
    maxAttempts: options.maxAttempts,
    visibilityTimeoutS: options.visibilityTimeoutS ?? 5,
    heartbeatS: options.heartbeatS ?? 2,
    waitTimeS: options.waitTimeS ?? 1,
    retryDelayS: options.retryDelayS ?? 1,
    maxReferenceBytes: options.maxReferenceBytes,
    pollMs: 50,
    clock: options.clock ?? (() => new Date('2026-11-24T03:00:00.250Z')),
    activityIntervalMs: options.activityIntervalMs,
    scaleIn: options.scaleIn,
  });
  for (const name of WORKER_EVENTS) worker.on(name, (detail: unknown) => events.push([name, detail]));
  worker.on('error', (error: unknown) => errors.push(error));
  const send = (body: unknown) => {
    const MessageBody = typeof body === 'string' ? body : JSON.stringify(body);
    return sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody }));
  };
  let closed: Promise<void> | undefined;
  /** Drains the worker and closes its servers; once, however often it is called. */
  const cleanup = () =>
    (closed ??= (async () => {
      await worker.drain('test over', 0);
      await openVoice.close();
      await imds.close();
      if (proxy) {
        workerSqs.destroy();
        await proxy.close();
      }
    })());
  const named = (name: string) => events.filter(([event]) => event === name).map(([, detail]) => detail);
  return {
    worker,
    queueUrl,
    dlqUrl,
    shared,
    store,
    events,
    errors,
    named,
    send,
    openVoice,
    attempts,
    unauthorised,
    cleanup,
    /** How many calls of `route` OpenVoice answered. */
    calls: (route: string) => attempts.get(route) ?? 0,
    /** Starts the worker, then sends `messages` in order. */
    run: async (...messages: unknown[]) => {
      await worker.start();
      for (const message of messages) await send(message);
    },
    /** The job's status once it is written. */
    status: (jobId: string, timeoutMs?: number) => eventually(() => statusOf(shared, jobId), timeoutMs),
    /** Waits until the worker emitted `name`. */
    until: (name: string, timeoutMs?: number) => eventually(() => named(name).length > 0, timeoutMs),
  };
}

/** Every synthesis takes `ms`, then answers speech (for `Setup.synthesis`). */
export const speechAfter = (ms: number) => async () => {
  await pause(ms);
  return { status: 200, body: WAV };
};

export const synthesize = (jobId: string, extra: Record<string, unknown> = {}) => ({
  version: 1,
  jobId,
  type: 'synthesize',
  voiceId: 'alice',
  text: 'こんにちは',
  language: 'JP',
  ...extra,
});

export const clone = (jobId: string, referencePath: string, voiceId = 'alice') => ({
  version: 1,
  jobId,
  type: 'clone-voice',
  voiceId,
  referencePath,
});

export const statusOf = (shared: string, jobId: string) => {
  const file = path.join(shared, 'jobs', `${jobId}.json`);
  return fs.existsSync(file)
    ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>)
    : undefined;
};

export const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One SQS emulator for a test file, started before its tests and stopped after them: `start` sets
 * up a worker against it, `client()` is the test's own client of it.
 */
export function useSqsEmulator() {
  let server: Awaited<ReturnType<typeof startSqsServer>> | undefined;
  let sqs: SQSClient | undefined;
  beforeAll(async () => {
    server = await startSqsServer();
    sqs = sqsClient(server.address);
  });
  afterAll(async () => {
    sqs?.destroy();
    await server?.stop();
  });
  const client = (): SQSClient => {
    if (!sqs) throw new Error('the SQS emulator starts in beforeAll');
    return sqs;
  };
  const running: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of running.splice(0)) await cleanup();
  });
  return {
    client,
    /** A worker set up against the emulator; cleaned up after the test. */
    start: async (options: Setup = {}) => {
      const t = await setup(client(), server?.address ?? '', options);
      running.push(t.cleanup);
      return t;
    },
    /** The body of the next message another receiver gets from `queueUrl` (within a second). */
    nextBody: async (queueUrl: string): Promise<unknown> => {
      const { Messages = [] } = await client().send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }),
      );
      return JSON.parse(Messages[0]?.Body ?? '{}');
    },
    /** What another receiver finds in `queueUrl` right now, without hiding it. */
    visibleNow: async (queueUrl: string) => {
      const { Messages = [] } = await client().send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 0, VisibilityTimeout: 0 }),
      );
      return Messages;
    },
    /** Waits until `queueUrl` holds no message, waiting or in flight. */
    emptied: (queueUrl: string, timeoutMs?: number) =>
      eventually(async () => {
        const c = await counts(client(), queueUrl);
        return c.waiting + c.inFlight === 0;
      }, timeoutMs),
    deadLetters: async (dlqUrl: string) => (await counts(client(), dlqUrl)).waiting,
  };
}
