import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TOKEN, clone, pause, statusOf, synthesize, useSqsEmulator } from './fixture';
import { WAV, counts, eventually, interceptedFs } from './harness';

const emulator = useSqsEmulator();
const { start } = emulator;

/** A fake OpenVoice that counts how many syntheses run at once. */
function concurrencyProbe(failFirst: number, workMs: number) {
  const probe = { running: 0, mostAtOnce: 0, calls: 0 };
  const synthesis = async () => {
    probe.calls += 1;
    const failure = probe.calls <= failFirst; // CUDA out of memory while /health stays green
    probe.running += 1;
    probe.mostAtOnce = Math.max(probe.mostAtOnce, probe.running);
    await pause(workMs);
    probe.running -= 1;
    return failure ? { status: 500, body: 'CUDA out of memory' } : { status: 200, body: WAV };
  };
  return { probe, synthesis };
}

describe('one job per GPU slot, under faults and SQS latency', () => {
  it('runs at most one job at a time through three OpenVoice failures, with 30 ms of SQS latency', async () => {
    const { probe, synthesis } = concurrencyProbe(3, 150);
    const t = await start({ sqsLatencyMs: 30, maxReceiveCount: 10, synthesis });
    await t.worker.start();
    for (let n = 0; n < 6; n += 1) await t.send(synthesize(`slot-${n}`));
    await eventually(() => probe.calls >= 9, 25_000);
    expect(probe.mostAtOnce).toBe(1);
    expect(t.named('paused').length).toBeGreaterThanOrEqual(3);
  }, 40_000);

  it('runs up to the configured number of slots at once, never more', async () => {
    const { probe, synthesis } = concurrencyProbe(2, 300);
    const t = await start({ sqsLatencyMs: 30, maxReceiveCount: 10, slots: 2, synthesis });
    await t.worker.start();
    for (let n = 0; n < 6; n += 1) await t.send(synthesize(`two-${n}`));
    for (let n = 0; n < 6; n += 1) await t.status(`two-${n}`, 25_000);
    expect(probe.mostAtOnce).toBe(2);
  }, 40_000);
});

describe('every message with a valid jobId ends with a status; only non-jobs reach the DLQ', () => {
  it('fails bad input with a status saying why, never a retry or the DLQ', async () => {
    const t = await start({
      maxReferenceBytes: 1000,
      synthesis: () => ({
        status: 422,
        body: '{"detail":"the reference is not audio the service can read"}',
      }),
    });
    const uploads = path.join(t.shared, 'uploads');
    fs.writeFileSync(path.join(uploads, 'big.wav'), Buffer.alloc(1001));
    fs.mkdirSync(path.join(uploads, 'folder.wav'));
    fs.writeFileSync(path.join(uploads, 'noise.wav'), 'not audio at all');
    const cases: Array<[string, unknown, string]> = [
      ['missing', clone('missing', 'uploads/nope.wav'), 'does not exist'],
      ['oversized', clone('oversized', 'uploads/big.wav'), 'more than the limit of 1000'],
      ['directory', clone('directory', 'uploads/folder.wav'), 'is not a regular file'],
      ['nul-byte', clone('nul-byte', 'uploads/a\u0000b.wav'), 'referencePath must be'],
      ['dot-dot', clone('dot-dot', 'uploads/../jobs/x.json'), 'referencePath must be'],
      ['non-audio', clone('non-audio', 'uploads/noise.wav'), 'not audio the service can read'],
      ['long-text', synthesize('long-text', { text: 'あ'.repeat(2001) }), 'text must be'],
      ['german', synthesize('german', { language: 'DE' }), 'language must be one of'],
      ['version-7', { version: 7, jobId: 'version-7' }, 'version 7 is not supported'],
    ];
    await t.run(...cases.map(([, body]) => body));
    for (const [jobId, , error] of cases) {
      const status = await t.status(jobId);
      expect(status).toMatchObject({ jobId, state: 'failed', error: expect.stringContaining(error) });
    }
    expect(t.named('job_retry')).toEqual([]);
    await eventually(async () => (await counts(emulator.client(), t.queueUrl)).inFlight === 0);
    expect(await emulator.deadLetters(t.dlqUrl)).toBe(0);
  }, 20_000);

  it('never replaces the status of a finished job with that of a broken message reusing its id', async () => {
    const t = await start();
    fs.mkdirSync(path.join(t.shared, 'jobs'));
    const done = { jobId: 'finished', type: 'synthesize', state: 'done', output: 'outputs/finished.wav' };
    fs.writeFileSync(path.join(t.shared, 'jobs', 'finished.json'), JSON.stringify(done));
    await t.run(synthesize('finished', { language: 'DE' }));
    await t.until('job_duplicate');
    expect(statusOf(t.shared, 'finished')).toEqual(done);
  });

  it('gives a job that fails on every attempt a failed status on its last receive, not the DLQ', async () => {
    const t = await start({
      maxReceiveCount: 2,
      synthesis: () => ({ status: 500, body: 'Internal Server Error' }),
    });
    await t.run(synthesize('always-500'));
    const status = await t.status('always-500', 15_000);
    expect(status).toMatchObject({
      state: 'failed',
      error: expect.stringMatching(/^gave up after 2 attempts: OpenVoice \/synthesize answered 500/),
    });
    await pause(1500);
    expect(await emulator.deadLetters(t.dlqUrl)).toBe(0);
    const { waiting, inFlight } = await counts(emulator.client(), t.queueUrl);
    expect(waiting + inFlight).toBe(0);
  }, 20_000);
});

describe('OpenVoice refusing the token is a host fault', () => {
  it('pauses, turns unhealthy and keeps the job until the token is accepted', async () => {
    let accepted = 'the-token-of-an-older-deployment-0000000';
    const t = await start({ acceptedToken: () => accepted, maxReceiveCount: 2 });
    await t.run(synthesize('auth-job'));
    await t.until('paused');
    expect(t.named('paused')[0]).toMatchObject({ reason: 'auth', detail: expect.stringContaining('401') });
    expect(t.worker.health()).toMatchObject({ healthy: false });
    await pause(1000);
    expect(statusOf(t.shared, 'auth-job')).toBeUndefined();
    accepted = TOKEN;
    expect(await t.status('auth-job', 10_000)).toMatchObject({ state: 'done' });
    expect(t.worker.health()).toEqual({ healthy: true });
  }, 20_000);
});

describe('the clone path and its reference file', () => {
  it('streams the reference to OpenVoice with the voice and the time the job was sent', async () => {
    let upload = '';
    const t = await start({
      synthesis: (_attempt, body, request) => {
        upload = `${String(request.headers['content-type'])}\n${body.toString('latin1')}`;
        return { status: 201, body: '{}' };
      },
    });
    fs.writeFileSync(path.join(t.shared, 'uploads', 'alice.wav'), 'RIFF-reference-bytes');
    await t.worker.start();
    const sentAt = Date.now();
    await t.send(clone('clone-1', 'uploads/alice.wav'));
    expect(await t.status('clone-1')).toMatchObject({ state: 'done', voiceId: 'alice' });
    expect(upload).toMatch(/^multipart\/form-data; boundary=/);
    expect(upload).toContain('name="voiceId"\r\n\r\nalice\r\n');
    expect(upload).toContain('filename="alice.wav"');
    expect(upload).toContain('RIFF-reference-bytes');
    const requestedAt = Number(/name="requestedAt"\r\n\r\n(\d+)\r\n/.exec(upload)?.[1]);
    expect(Math.abs(requestedAt - sentAt)).toBeLessThan(5000);
  });

  it('refuses links out of uploads/ and files that are not regular, without reading them', async () => {
    const t = await start();
    const uploads = path.join(t.shared, 'uploads');
    fs.writeFileSync(path.join(t.shared, 'secret.txt'), 'outside uploads');
    fs.symlinkSync(path.join(t.shared, 'secret.txt'), path.join(uploads, 'link.wav'));
    fs.symlinkSync('/', path.join(uploads, 'root'));
    fs.symlinkSync('/dev/zero', path.join(uploads, 'zero.wav'));
    execFileSync('mkfifo', [path.join(uploads, 'fifo.wav')]);
    const cases: Array<[string, string, string]> = [
      ['link', 'uploads/link.wav', 'symbolic link'],
      ['via-root', 'uploads/root/etc/hostname', 'symbolic link'],
      ['zero', 'uploads/zero.wav', 'symbolic link'],
      ['fifo', 'uploads/fifo.wav', 'not a regular file'],
    ];
    await t.run(...cases.map(([jobId, reference]) => clone(jobId, reference)));
    for (const [jobId, , error] of cases) {
      expect(await t.status(jobId)).toMatchObject({ state: 'failed', error: expect.stringContaining(error) });
    }
    expect(t.attempts.get('/voices')).toBeUndefined();
  });
});

describe('a storage fault pauses the worker instead of failing every job', () => {
  /** node:fs/promises, except that creating files fails with `state.fault`, or hangs while `state.hung`. */
  function faultyFileSystem() {
    const state: { fault: string | undefined; hung: boolean } = { fault: undefined, hung: false };
    const fileSystem = interceptedFs(['open'], async (_, [file, flags]) => {
      // A hard-mounted NFS: the call blocks until the server answers again, then completes.
      while (flags === 'wx' && state.hung) await pause(50);
      if (flags === 'wx' && state.fault) {
        throw Object.assign(new Error(`${state.fault}: fault injected, open '${String(file)}'`), {
          code: state.fault,
        });
      }
    });
    return { state, fileSystem };
  }

  it.each(['EROFS', 'ENOSPC', 'EIO', 'EACCES'])(
    '%s: pauses, turns unhealthy, keeps the job, and finishes it once writes work again',
    async (code) => {
      const { state, fileSystem } = faultyFileSystem();
      state.fault = code;
      const t = await start({ fileSystem, maxReceiveCount: 2 });
      await t.run(synthesize('healthy-job'));
      await t.until('paused');
      expect(t.named('paused')[0]).toMatchObject({
        reason: 'storage',
        detail: expect.stringContaining(code),
      });
      expect(t.worker.health()).toEqual({ healthy: false, reason: expect.stringContaining(code) });
      await pause(1500); // paused: the job is not taken again while the storage is broken
      // The job's claim is its first write, before OpenVoice is called: no GPU work is lost.
      expect(t.attempts.get('/synthesize')).toBeUndefined();
      expect(statusOf(t.shared, 'healthy-job')).toBeUndefined();
      state.fault = undefined;
      expect(await t.status('healthy-job', 10_000)).toMatchObject({ state: 'done' });
      expect(t.named('resumed')).toEqual([{ reason: 'storage' }]);
      expect(t.worker.health()).toEqual({ healthy: true });
      expect(await emulator.deadLetters(t.dlqUrl)).toBe(0);
    },
    20_000,
  );

  it('a hung mount: the write gets a deadline, the worker pauses and says so in its health', async () => {
    const { state, fileSystem } = faultyFileSystem();
    state.hung = true;
    const t = await start({ fileSystem, storageTimeoutMs: 300 });
    await t.run(synthesize('hung-job'));
    await t.until('paused');
    expect(t.named('paused')[0]).toMatchObject({
      reason: 'storage',
      detail: expect.stringContaining('300 ms'),
    });
    expect(t.worker.health().healthy).toBe(false);
    state.hung = false;
    expect(await t.status('hung-job', 10_000)).toMatchObject({ state: 'done' });
  }, 20_000);
});

describe('draining', () => {
  it('hands back at once a job that a long poll already in flight delivers after the drain', async () => {
    const t = await start({ waitTimeS: 5, retryDelayS: 30, visibilityTimeoutS: 30 });
    await t.worker.start();
    await pause(300); // the worker's long poll is now waiting at the emulator
    await t.worker.drain('spot interruption', 0);
    await t.send(synthesize('late-job'));
    await t.until('job_handed_back', 10_000);
    expect(t.named('job_started')).toEqual([]);
    expect(await emulator.nextBody(t.queueUrl)).toMatchObject({ jobId: 'late-job' });
    expect(statusOf(t.shared, 'late-job')).toBeUndefined();
  }, 20_000);
});
