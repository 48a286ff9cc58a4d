import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { OpenVoiceClient, OpenVoiceError } from '../../docker/worker/src/openvoice';
import { InputError, ResultStore } from '../../docker/worker/src/store';
import { type FakeAnswer, fakeServer, tempSharedDir } from './harness';

const TOKEN = 'x'.repeat(32);

const servers: Array<{ close: () => Promise<void> }> = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

/** A fake server that records each request and answers with `answer`; closed after the test. */
async function server(answer: () => FakeAnswer | Promise<FakeAnswer>) {
  const requests: Array<{ method?: string; url?: string; headers: http.IncomingHttpHeaders; body: Buffer }> =
    [];
  const s = await fakeServer(async (request, body) => {
    requests.push({ method: request.method, url: request.url, headers: request.headers, body });
    return answer();
  });
  servers.push(s);
  return { url: s.url, requests };
}

const reply =
  (status: number, body = '') =>
  () => ({ status, body });
/** An answer that never comes. */
const silence = () => new Promise<FakeAnswer>(() => undefined);

const client = (url: string, options: { requestTimeoutMs?: number } = {}) =>
  new OpenVoiceClient({ baseUrl: url, token: TOKEN, ...options });
const HI = { text: 'hi', language: 'EN', voiceId: 'a' };
/** The error a short synthesis throws (or its bytes). */
const synthesis = (openVoice: OpenVoiceClient, signal?: AbortSignal) =>
  openVoice.synthesize(HI, signal).catch((e: unknown) => e);

describe('OpenVoiceClient: what it sends and how it reads answers', () => {
  it('posts a synthesis as JSON with its length and the bearer token, and returns the bytes', async () => {
    const s = await server(reply(200, 'RIFF-bytes'));
    const wav = await client(s.url).synthesize({ ...HI, speed: 1.5 });
    expect(Buffer.from(wav).toString()).toBe('RIFF-bytes');
    const [request] = s.requests;
    expect(request).toMatchObject({ method: 'POST', url: '/synthesize' });
    expect(request?.headers).toMatchObject({
      'content-type': 'application/json',
      'content-length': String(request?.body.length),
      authorization: `Bearer ${TOKEN}`,
    });
    expect(JSON.parse(String(request?.body))).toEqual({
      text: 'hi',
      language: 'EN',
      voiceId: 'a',
      speed: 1.5,
    });
  });

  it.each([
    [300, false],
    [400, true],
    [404, true],
    [499, true],
    [401, false],
    [403, false],
    [408, false],
    [429, false],
    [500, false],
    [503, false],
  ])('an answer %i is an OpenVoiceError, permanent: %s', async (status, permanent) => {
    const s = await server(reply(status, 'd'.repeat(1000)));
    const error = await synthesis(client(s.url));
    expect(error).toBeInstanceOf(OpenVoiceError);
    expect(error).toMatchObject({
      name: 'OpenVoiceError',
      status,
      permanent,
      message: `OpenVoice /synthesize answered ${status}: ${'d'.repeat(300)}`,
    });
  });

  it('an answer cut off before its declared length is a passing fault', async () => {
    const s = await server(() => ({ status: 200, body: 'RIFF'.padEnd(1000), truncateAt: 4 }));
    const error = await synthesis(client(s.url));
    expect(error).toMatchObject({ name: 'OpenVoiceError', permanent: false, status: undefined });
  });

  it('a call aborted by the worker (a drain) ends with the abort, not an OpenVoice fault', async () => {
    const s = await server(silence);
    const abort = new AbortController();
    const call = synthesis(client(s.url), abort.signal);
    setTimeout(() => abort.abort(), 100);
    const error = await call;
    expect(error).not.toBeInstanceOf(OpenVoiceError);
    expect((error as Error).name).toBe('AbortError');
  });

  it('a reference cut shorter after it was opened ends the upload with an InputError at once', async () => {
    const s = await server(reply(201, '{}'));
    const shared = tempSharedDir();
    fs.mkdirSync(path.join(shared, 'uploads'));
    const file = path.join(shared, 'uploads', 'a.wav');
    fs.writeFileSync(file, Buffer.alloc(4000, 1));
    const reference = await new ResultStore(shared).openReference('uploads/a.wav', 10_000);
    fs.truncateSync(file, 100);
    const started = Date.now();
    const error = await client(s.url, { requestTimeoutMs: 10_000 })
      .createVoice('alice', reference, 1, undefined)
      .catch((e: unknown) => e);
    await reference.handle.close();
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toBe('reference a.wav changed while it was read (100 of 4000 bytes)');
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('OpenVoiceClient.healthy and authorized: the probes', () => {
  it.each([
    ['200 with the full report', 200, '{"status":"ok","storage":{"writable":true},"gpuStuck":false}', true],
    ['200 from an older service (no report)', 200, '{"status":"ok"}', true],
    ['200 with a body that is not JSON', 200, 'ok', true],
    ['200 with a JSON that is not an object', 200, 'null', true],
    ['200 but its storage is not writable', 200, '{"status":"ok","storage":{"writable":false}}', false],
    ['200 but an inference is stuck', 200, '{"status":"ok","gpuStuck":true}', false],
    ['503', 503, '{"status":"unavailable"}', false],
  ])('%s: healthy is %s', async (_, status, body, healthy) => {
    const s = await server(reply(status, body));
    expect(await client(s.url).healthy()).toBe(healthy);
    expect(s.requests[0]).toMatchObject({ method: 'GET', url: '/health' });
  });

  it('an unreachable service is neither healthy nor authorized', async () => {
    const unreachable = client('http://127.0.0.1:9');
    expect(await unreachable.healthy()).toBe(false);
    expect(await unreachable.authorized()).toBe(false);
  });

  it('authorized asks past authentication: 401 and 403 are no, anything else yes', async () => {
    let status = 401;
    const s = await server(() => ({ status }));
    const openVoice = client(s.url);
    expect(await openVoice.authorized()).toBe(false);
    status = 403;
    expect(await openVoice.authorized()).toBe(false);
    status = 400;
    expect(await openVoice.authorized()).toBe(true);
    expect(s.requests[0]).toMatchObject({ method: 'GET', url: '/voices/-' });
    expect(s.requests[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });
});

describe('OpenVoiceClient deadlines and errors', () => {
  it('gives up at its own deadline, not fetch’s 300 s, and says so', async () => {
    const s = await server(silence);
    const error = await synthesis(client(s.url, { requestTimeoutMs: 300 }));
    expect(error).toBeInstanceOf(OpenVoiceError);
    expect((error as OpenVoiceError).permanent).toBe(false);
    expect((error as Error).message).toContain('no complete answer within 300 ms');
  });

  it('waits as long as its deadline allows for a slow first synthesis', async () => {
    const s = await server(async () => {
      await new Promise((resolve) => setTimeout(resolve, 1200));
      return { status: 200, body: 'RIFF' };
    });
    const wav = await client(s.url, { requestTimeoutMs: 5000 }).synthesize(HI);
    expect(Buffer.from(wav).toString()).toBe('RIFF');
  });

  it('treats 4xx as permanent except an authentication failure, which is the host’s fault', async () => {
    let status = 422;
    const s = await server(() => ({ status, body: '{"detail":"x"}' }));
    const openVoice = client(s.url);
    expect(((await synthesis(openVoice)) as OpenVoiceError).permanent).toBe(true);
    status = 401;
    expect(((await synthesis(openVoice)) as OpenVoiceError).permanent).toBe(false);
  });
});
