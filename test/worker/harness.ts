import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { FileSystem } from '../../docker/worker/src/store';

/**
 * Runs one of this folder's scripts in a child process until `stop` closes its stdin; resolves
 * with the first output the script writes once it is running.
 */
export async function startScript(script: string, ...args: string[]) {
  const child: ChildProcess = spawn(process.execPath, [path.join(__dirname, script), ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const output = await new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.stdout?.once('data', (data: Buffer) => resolve(String(data)));
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.stdin?.end();
    });
  return { output, stop };
}

/** A real SQS protocol server (fauxqs) in a child process on 127.0.0.1. */
export async function startSqsServer(): Promise<{ address: string; stop: () => Promise<void> }> {
  const { output, stop } = await startScript('fauxqs-server.mjs');
  return { address: (JSON.parse(output) as { address: string }).address, stop };
}

export function sqsClient(address: string): SQSClient {
  return new SQSClient({
    endpoint: address,
    region: 'ap-northeast-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
}

/** A job queue with a DLQ, as the data stack makes them (smaller numbers, for speed). */
export async function createQueues(sqs: SQSClient, name: string, maxReceiveCount = 2) {
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const dlqArn = `arn:aws:sqs:ap-northeast-1:000000000000:${name}-dlq`;
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        VisibilityTimeout: '30',
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount }),
      },
    }),
  );
  return { queueUrl: queue.QueueUrl ?? '', dlqUrl: dlq.QueueUrl ?? '' };
}

export async function counts(sqs: SQSClient, queueUrl: string) {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    waiting: Number(Attributes.ApproximateNumberOfMessages),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible),
  };
}

/**
 * An answer of a fake server; `truncateAt` declares the whole body's length but sends only that
 * many bytes, then drops the connection (a service that dies mid-answer).
 */
export interface FakeAnswer {
  status: number;
  body?: string | Buffer;
  truncateAt?: number;
}

type Route = (request: http.IncomingMessage, body: Buffer) => Promise<FakeAnswer>;

/** A small HTTP server on 127.0.0.1 whose answers each test decides. */
export async function fakeServer(
  route: Route,
): Promise<{ url: string; calls: string[]; close: () => Promise<void> }> {
  const calls: string[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      calls.push(`${request.method} ${request.url}`);
      route(request, Buffer.concat(chunks))
        .then(({ status, body, truncateAt }) => {
          if (truncateAt !== undefined && body !== undefined) {
            const whole = Buffer.from(body);
            response.writeHead(status, { 'content-length': String(whole.length) });
            response.write(whole.subarray(0, truncateAt), () => response.destroy());
            return;
          }
          response.writeHead(status);
          response.end(body);
        })
        .catch(() => {
          response.writeHead(500);
          response.end();
        });
    });
  });
  const { address: url, close } = await listen(server);
  return { url, calls, close };
}

/** Starts `server` on a free port of 127.0.0.1; `close` ends its open connections too. */
export async function listen(server: http.Server): Promise<{ address: string; close: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

type Intercepted = keyof FileSystem;

/**
 * node:fs/promises whose `operations` first await `before` with the operation and its arguments:
 * it may wait (a slow or hung mount) or throw (a failing one).
 */
export function interceptedFs(
  operations: Intercepted[],
  before: (operation: Intercepted, args: unknown[]) => unknown,
): FileSystem {
  const intercepted =
    (operation: Intercepted) =>
    async (...args: unknown[]) => {
      await before(operation, args);
      return (fs.promises[operation] as (...real: unknown[]) => Promise<unknown>)(...args);
    };
  return { ...fs.promises, ...Object.fromEntries(operations.map((name) => [name, intercepted(name)])) };
}

export function tempSharedDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-fleet-shared-'));
}

export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A PCM WAV file (16-bit mono) of `seconds` of silence, as OpenVoice writes its speech. */
export function wavOf(seconds: number, sampleRate = 22050): Buffer {
  const data = Math.round(seconds * sampleRate) * 2;
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(36 + data, 4);
  header.write('WAVEfmt ', 8, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(data, 40);
  return Buffer.concat([header, Buffer.alloc(data)]);
}

/** Half a second of speech: what the fake OpenVoice answers a synthesis with. */
export const WAV = wavOf(0.5);

/**
 * A proxy on 127.0.0.1 that holds every SQS request for `delayMs` before passing it to the
 * emulator, like the round trip to a real region. The emulator answers instantly, which hides
 * races between a poll in flight and a pause; with latency they show. Point a client's endpoint
 * at `address` (with an explicit endpoint the SDK sends there, whatever the queue URL says).
 */
export async function latencyProxy(
  target: string,
  delayMs: number,
  refuse: (action: string) => boolean = () => false,
): Promise<{ address: string; close: () => Promise<void> }> {
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      // `refuse` fails chosen actions (X-Amz-Target AmazonSQS.<Action>) with an error the SDK does not retry.
      const action = String(request.headers['x-amz-target'] ?? '').replace(/^AmazonSQS\./, '');
      if (refuse(action)) {
        const error = { __type: 'com.amazonaws.sqs#ReceiptHandleIsInvalid', message: 'refused by the test' };
        response.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
        response.end(JSON.stringify(error));
        return;
      }
      setTimeout(() => {
        const { method, headers } = request;
        const upstream = http.request(new URL(request.url ?? '/', target), { method, headers }, (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        });
        upstream.on('error', () => {
          response.writeHead(502);
          response.end();
        });
        upstream.end(Buffer.concat(chunks));
      }, delayMs);
    });
  });
  return listen(server);
}
