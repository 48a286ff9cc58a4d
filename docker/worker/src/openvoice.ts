import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { Readable } from 'node:stream';
import { InputError, type OpenedReference } from './store.js';

/** A failure of the OpenVoice service; `permanent` when the input itself was rejected (4xx). */
export class OpenVoiceError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'OpenVoiceError';
  }
}

export interface OpenVoiceClientOptions {
  readonly baseUrl: string;
  /** Sent as `Authorization: Bearer <token>` on every request. */
  readonly token: string;
  /**
   * How long one clone or synthesis may take, end to end. Explicit because Node's fetch gives up
   * after 300 s of waiting for headers, while the service keeps computing the abandoned request.
   * @default 900000
   */
  readonly requestTimeoutMs?: number;
  /** @default 4000 */
  readonly healthTimeoutMs?: number;
}

/** Bodies larger than this are not speech of at most 2000 characters. */
const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

/**
 * The OpenVoice HTTP API (docker/openvoice) as the worker uses it, over node:http so that every
 * deadline is the one set here (fetch's dispatcher has its own 300 s header timeout).
 */
export class OpenVoiceClient {
  private readonly requestTimeoutMs: number;
  private readonly healthTimeoutMs: number;

  constructor(private readonly options: OpenVoiceClientOptions) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? 900_000;
    this.healthTimeoutMs = options.healthTimeoutMs ?? 4000;
  }

  /**
   * True when OpenVoice answers 200 and does not report its storage unwritable or an inference
   * stuck on the GPU (`storage.writable`, `gpuStuck` in the body of /health).
   */
  async healthy(signal?: AbortSignal): Promise<boolean> {
    const response = await this.probe('/health', signal);
    if (response?.status !== 200) return false;
    const report = parseHealth(response.body);
    return report.storage?.writable !== false && report.gpuStuck !== true;
  }

  /** False when OpenVoice refuses our token (401/403); /health does not check it. */
  async authorized(signal?: AbortSignal): Promise<boolean> {
    // An id no profile can have: past authentication, the answer is 400, never a lookup.
    const response = await this.probe('/voices/-', signal);
    return response !== undefined && response.status !== 401 && response.status !== 403;
  }

  /** A GET within the probes' deadline; undefined when it gets no answer. */
  private probe(route: string, signal?: AbortSignal) {
    return this.send('GET', route, {}, undefined, this.healthTimeoutMs, signal).catch(() => undefined);
  }

  /**
   * Creates or replaces a voice profile. `requestedAt` (when the job was sent) lets the service
   * refuse a clone older than the profile it already holds, so a redelivered old clone cannot
   * overwrite a newer one.
   */
  async createVoice(
    voiceId: string,
    reference: OpenedReference,
    requestedAt: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const boundary = `----gpu-fleet-${randomBytes(12).toString('hex')}`;
    const field = (name: string, value: string) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
    const head = Buffer.from(
      field('voiceId', voiceId) +
        field('requestedAt', String(requestedAt)) +
        `--${boundary}\r\nContent-Disposition: form-data; name="reference"; filename="${reference.name}"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n',
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    // The recording is streamed from the open handle, never read whole into memory; at most
    // `size` bytes are read, whatever happens to the file meanwhile. A file cut shorter after it
    // was opened ends the upload at once: the declared length could never be sent.
    const file = reference.handle.createReadStream({ start: 0, end: reference.size - 1, autoClose: false });
    const body = Readable.from(
      (async function* () {
        yield head;
        let sent = 0;
        for await (const chunk of file) {
          sent += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
        if (sent !== reference.size) {
          throw new InputError(
            `reference ${reference.name} changed while it was read (${sent} of ${reference.size} bytes)`,
          );
        }
        yield tail;
      })(),
    );
    await this.call(
      'POST',
      '/voices',
      {
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': String(head.length + reference.size + tail.length),
      },
      body,
      signal,
    );
  }

  async synthesize(
    request: { text: string; language: string; voiceId: string; speed?: number },
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    const payload = Buffer.from(JSON.stringify(request));
    const response = await this.call(
      'POST',
      '/synthesize',
      { 'content-type': 'application/json', 'content-length': String(payload.length) },
      Readable.from([payload]),
      signal,
    );
    return new Uint8Array(response.body);
  }

  private async call(
    method: string,
    route: string,
    headers: Record<string, string>,
    body: Readable,
    signal?: AbortSignal,
  ): Promise<{ status: number; body: Buffer }> {
    let response: { status: number; body: Buffer };
    try {
      response = await this.send(method, route, headers, body, this.requestTimeoutMs, signal);
    } catch (error) {
      if (signal?.aborted || error instanceof InputError) throw error;
      throw new OpenVoiceError(`OpenVoice ${route}: ${(error as Error).message}`, undefined, false);
    }
    if (response.status >= 200 && response.status < 300) return response;
    const detail = response.body.toString('utf8', 0, Math.min(response.body.length, 300));
    // 4xx: the request itself is wrong and will stay wrong; 401/403 (our token), 408 and 429 may pass later.
    const permanent =
      response.status >= 400 && response.status < 500 && ![401, 403, 408, 429].includes(response.status);
    throw new OpenVoiceError(
      `OpenVoice ${route} answered ${response.status}: ${detail}`,
      response.status,
      permanent,
    );
  }

  private send(
    method: string,
    route: string,
    headers: Record<string, string>,
    body: Readable | undefined,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<{ status: number; body: Buffer }> {
    const deadline = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
    return new Promise((resolve, reject) => {
      const request = http.request(
        new URL(route, this.options.baseUrl),
        { method, headers: { ...headers, authorization: `Bearer ${this.options.token}` }, signal: combined },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) request.destroy(new Error('answer too large'));
            else chunks.push(chunk);
          });
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }),
          );
          response.on('error', reject);
          response.on('close', () => {
            if (!response.complete) reject(new Error('the answer was cut off'));
          });
        },
      );
      request.on('error', (error) => {
        if (deadline.aborted && !signal?.aborted) {
          reject(new Error(`no complete answer within ${timeoutMs} ms`));
        } else reject(error);
      });
      if (body) {
        body.on('error', (error) => request.destroy(error));
        body.pipe(request);
      } else request.end();
    });
  }
}

/** What /health reports beyond its status code; an older service sends less, which is no fault. */
interface HealthReport {
  readonly storage?: { readonly writable?: boolean };
  readonly gpuStuck?: boolean;
}

function parseHealth(body: Buffer): HealthReport {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return typeof value === 'object' && value !== null ? (value as HealthReport) : {};
  } catch {
    return {};
  }
}
