import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FileSystem } from '../../docker/worker/src/store';
import { type Setup, clone, pause, speechAfter, statusOf, synthesize, useSqsEmulator } from './fixture';
import { type FakeAnswer, WAV, eventually, interceptedFs, startScript, wavOf } from './harness';

const emulator = useSqsEmulator();
const { start } = emulator;

/** Fails every synthesis whose text says poison. */
const poisonous: Setup['synthesis'] = (_attempt, body) =>
  body.toString().includes('poison') ? { status: 500, body: 'boom' } : { status: 200, body: WAV };

/** Every state a poller would have read from a job's status file, sampled every 20 ms. */
function watchStatus(shared: string, jobId: string) {
  const seen: string[] = [];
  const timer = setInterval(() => {
    const state = statusOf(shared, jobId)?.state;
    if (typeof state === 'string' && seen.at(-1) !== state) seen.push(state);
  }, 20);
  return { seen, stop: () => clearInterval(timer) };
}

describe('uploads are opened, then proven to lie under uploads/', () => {
  it('never sends another folder’s file while another process swaps a parent folder for a link', async () => {
    const received: string[] = [];
    const t = await start({
      synthesis: (_attempt, body) => {
        received.push(body.toString('latin1'));
        return { status: 201, body: '{}' };
      },
    });
    const team = path.join(t.shared, 'uploads', 'team');
    fs.mkdirSync(team);
    fs.writeFileSync(path.join(team, 'a.wav'), 'ALICE-REFERENCE');
    const bob = path.join(t.shared, 'voices', 'bob');
    fs.mkdirSync(bob, { recursive: true });
    fs.writeFileSync(path.join(bob, 'a.wav'), 'BOB-PRIVATE-RECORDING');
    const flipping = await startScript('flip-link.mjs', team, bob);
    try {
      // The store the worker uses, as fast as it goes: thousands of opens against the flips.
      let exposed = 0;
      let opened = 0;
      const until = Date.now() + 2000;
      while (Date.now() < until) {
        const reference = await t.store.openReference('uploads/team/a.wav', 1000).catch(() => undefined);
        if (!reference) continue;
        opened += 1;
        const content = (await reference.handle.readFile()).toString('latin1');
        await reference.handle.close();
        if (content.includes('BOB')) exposed += 1;
      }
      expect(opened).toBeGreaterThan(0);
      expect(exposed).toBe(0);
      // And the worker itself, job after job.
      await t.worker.start();
      for (let n = 0; n < 30; n += 1) await t.send(clone(`race-${n}`, 'uploads/team/a.wav'));
      for (let n = 0; n < 30; n += 1) await t.status(`race-${n}`, 20_000);
      expect(received.filter((body) => body.includes('BOB'))).toEqual([]);
      for (let n = 0; n < 30; n += 1) {
        const status = statusOf(t.shared, `race-${n}`);
        if (status?.state === 'failed') expect(String(status.error)).toMatch(/link|does not exist|moved/);
      }
    } finally {
      await flipping.stop();
    }
  }, 40_000);
});

describe('speech is checked before a job is called done', () => {
  it.each([
    ['an empty 200', { status: 200, body: '' }],
    ['a 204', { status: 204 }],
    ['an HTML page', { status: 200, body: '<html><body>Bad gateway</body></html>' }],
    ['JSON', { status: 200, body: '{"detail":"ok"}' }],
    ['a body cut short', { status: 200, body: wavOf(1), truncateAt: 3000 }],
    ['a WAV header with less data than it declares', { status: 200, body: wavOf(1).subarray(0, 3000) }],
    ['an hour of audio for five characters', { status: 200, body: wavOf(3600, 100) }],
  ])(
    '%s is an OpenVoice fault: paused, retried, never a done status',
    async (_, lie) => {
      const t = await start({
        maxReceiveCount: 5,
        synthesis: (attempt) => (attempt === 1 ? lie : { status: 200, body: WAV }),
      });
      await t.run(synthesize('lied-to'));
      const status = await t.status('lied-to', 15_000);
      expect(status).toMatchObject({ state: 'done' });
      expect(fs.readFileSync(path.join(t.shared, 'outputs', 'lied-to.wav'))).toEqual(WAV);
      expect(t.calls('/synthesize')).toBe(2);
      expect(t.named('paused')).toEqual([expect.objectContaining({ reason: 'openvoice' })]);
    },
    20_000,
  );

  it('a slow answer within the deadline is speech like any other', async () => {
    const t = await start({ synthesis: speechAfter(1500) });
    await t.run(synthesize('slow'));
    expect(await t.status('slow', 10_000)).toMatchObject({ state: 'done' });
  });
});

describe('one run per jobId, one status forever', () => {
  it('two messages with one jobId on two slots call OpenVoice once', async () => {
    const t = await start({ slots: 2, maxReceiveCount: 5, synthesis: speechAfter(800) });
    await t.run(synthesize('twice'), synthesize('twice'));
    await t.status('twice');
    await emulator.emptied(t.queueUrl, 10_000);
    expect(t.calls('/synthesize')).toBe(1);
    // The second message was deleted as a duplicate of the running job, not kept waiting.
    expect(t.named('job_duplicate')).toContainEqual(
      expect.objectContaining({ jobId: 'twice', state: 'running' }),
    );
    expect(t.named('job_deferred')).toEqual([]);
  }, 20_000);

  it('two workers on one queue and one shared folder call OpenVoice once per jobId', async () => {
    const slow = speechAfter(600);
    const a = await start({ synthesis: slow, maxReceiveCount: 5 });
    const b = await start({ synthesis: slow, maxReceiveCount: 5, sameQueueAs: a });
    await Promise.all([a.worker.start(), b.worker.start()]);
    for (let n = 0; n < 3; n += 1) {
      await a.send(synthesize(`shared-${n}`));
      await a.send(synthesize(`shared-${n}`));
    }
    for (let n = 0; n < 3; n += 1) await a.status(`shared-${n}`, 15_000);
    await emulator.emptied(a.queueUrl, 15_000);
    expect(a.calls('/synthesize') + b.calls('/synthesize')).toBe(3);
  }, 30_000);

  it('a valid and an invalid message with one id: a poller reads one state, never a flip', async () => {
    const t = await start({ slots: 2, synthesis: speechAfter(800) });
    const watch = watchStatus(t.shared, 'same-id');
    try {
      await t.run(synthesize('same-id'));
      await eventually(() => t.calls('/synthesize') > 0);
      await t.send(synthesize('same-id', { language: 'DE' }));
      await t.status('same-id');
      await pause(1500);
      expect(watch.seen).toHaveLength(1);
    } finally {
      watch.stop();
    }
  }, 15_000);

  it('a claim left by a worker that died is taken over once it is stale', async () => {
    const t = await start({ visibilityTimeoutS: 5 });
    const claims = path.join(t.shared, 'jobs', '.claims');
    fs.mkdirSync(claims, { recursive: true });
    const claim = path.join(claims, 'orphan.json');
    fs.writeFileSync(claim, JSON.stringify({ messageId: 'a-message-of-a-dead-worker', token: 'x' }));
    const longAgo = new Date(Date.now() - 60_000);
    fs.utimesSync(claim, longAgo, longAgo);
    await t.run(synthesize('orphan'));
    expect(await t.status('orphan')).toMatchObject({ state: 'done' });
    expect(fs.readdirSync(claims)).toEqual([]);
  });

  it('a written status is never replaced by a later write', async () => {
    const t = await start();
    const first = {
      jobId: 'once',
      type: 'synthesize',
      state: 'failed' as const,
      error: 'x',
      finishedAt: 'a',
    };
    await t.store.writeStatus(first);
    await t.store.writeStatus({ ...first, state: 'done', error: undefined });
    expect(statusOf(t.shared, 'once')).toMatchObject({ state: 'failed' });
  });
});

describe('ownership of a message is never lost silently', () => {
  /**
   * Two slots whose visibility extensions SQS refuses, so a running message reappears after a
   * second; `mostAtOnce()` is the most syntheses that ran at the same time.
   */
  async function unextendable(synthesis: (attempt: number) => Promise<FakeAnswer>) {
    let running = 0;
    let most = 0;
    const t = await start({
      slots: 2,
      maxReceiveCount: 10,
      visibilityTimeoutS: 1,
      heartbeatS: 0.5,
      sqsRefuse: (action) => action === 'ChangeMessageVisibility',
      synthesis: async (attempt) => {
        running += 1;
        most = Math.max(most, running);
        const answer = await synthesis(attempt);
        running -= 1;
        return answer;
      },
    });
    return Object.assign(t, { mostAtOnce: () => most });
  }

  it('failed visibility extensions: counted, and the message that reappears is not run a second time', async () => {
    const t = await unextendable(async () => {
      await pause(3000);
      return { status: 200, body: WAV };
    });
    await t.run(synthesize('unextended'));
    await t.status('unextended', 15_000);
    await pause(1000);
    expect(t.mostAtOnce()).toBe(1);
    expect(t.calls('/synthesize')).toBe(1);
    expect(t.named('visibility_lost').length).toBeGreaterThan(0);
    expect(t.named('job_deferred')).toContainEqual(expect.objectContaining({ jobId: 'unextended' }));
  }, 25_000);

  it('a redelivery of a running message waits: the run that fails afterwards can still give it back', async () => {
    const t = await unextendable(async (attempt) => {
      await pause(attempt === 1 ? 2500 : 0);
      return attempt === 1 ? { status: 500, body: 'CUDA out of memory' } : { status: 200, body: WAV };
    });
    await t.run(synthesize('lapsed-then-failed'));
    expect(await t.status('lapsed-then-failed', 15_000)).toMatchObject({ state: 'done' });
    expect(t.mostAtOnce()).toBe(1);
    expect(t.named('job_deferred').length).toBeGreaterThan(0);
  }, 25_000);

  it('a drain hands back at once a run stuck on the storage, and nothing extends it afterwards', async () => {
    let hung = true;
    const fileSystem = interceptedFs(['link'], async (_, [, to]) => {
      while (hung && String(to).endsWith(`${path.sep}jobs${path.sep}stuck.json`)) await pause(50);
    });
    const t = await start({ fileSystem, storageTimeoutMs: 30_000, retryDelayS: 30, heartbeatS: 1 });
    try {
      await t.run(synthesize('stuck'));
      await eventually(() => fs.existsSync(path.join(t.shared, 'outputs', 'stuck.wav')));
      await t.worker.drain('SIGTERM', 0);
      expect(t.named('drained')).toEqual([{ reason: 'SIGTERM', released: 1 }]);
      await pause(2500); // two heartbeats' time: a beat still running would hide the message again
      expect(await emulator.nextBody(t.queueUrl)).toMatchObject({ jobId: 'stuck' });
    } finally {
      hung = false;
    }
  }, 25_000);

  it('a drain waits for every run, also an invalid message whose status is being written', async () => {
    const fileSystem = interceptedFs(['link', 'rename'], async (operation, [, to]) => {
      if (operation === 'link' || String(to).endsWith('.json')) await pause(800);
    });
    const t = await start({ fileSystem });
    await t.run(synthesize('broken', { language: 'DE' }));
    const jobs = path.join(t.shared, 'jobs');
    // The failed status is being written: its temporary file is there, the publishing step is slow.
    await eventually(
      () => fs.existsSync(jobs) && fs.readdirSync(jobs).some((name) => name.startsWith('.broken.json')),
    );
    await t.worker.drain('SIGTERM', 5000);
    expect(statusOf(t.shared, 'broken')).toMatchObject({ state: 'failed' });
  }, 15_000);
});

describe('a fault is judged by what fails', () => {
  it('an outage that /health does not show fails no job; they all finish once it ends', async () => {
    let broken = true;
    const t = await start({
      maxReceiveCount: 2,
      synthesis: () =>
        broken
          ? { status: 500, body: 'OSError: [Errno 30] Read-only file system' }
          : { status: 200, body: WAV },
    });
    await t.run(...[0, 1, 2].map((n) => synthesize(`outage-${n}`)));
    await eventually(() => t.calls('/synthesize') >= 6, 20_000);
    for (let n = 0; n < 3; n += 1) expect(statusOf(t.shared, `outage-${n}`)).toBeUndefined();
    broken = false;
    for (let n = 0; n < 3; n += 1)
      expect(await t.status(`outage-${n}`, 20_000)).toMatchObject({ state: 'done' });
    expect(await emulator.deadLetters(t.dlqUrl)).toBe(0);
  }, 60_000);

  it('a job that fails alone while the service works is failed after its attempts', async () => {
    const t = await start({ maxReceiveCount: 2, synthesis: poisonous });
    await t.run(synthesize('poison', { text: 'poison' }));
    expect(await t.status('poison', 15_000)).toMatchObject({
      state: 'failed',
      error: expect.stringMatching(/^gave up after 2 attempts/),
    });
  }, 20_000);

  it('a success clears the suspicion: the next job’s fault is its own again', async () => {
    const t = await start({
      maxReceiveCount: 5,
      retryDelayS: 30, // the failed jobs stay away for the whole test
      synthesis: poisonous,
    });
    await t.run(synthesize('poison-a', { text: 'poison a' }));
    await eventually(() => t.named('job_retry').length === 1);
    await t.send(synthesize('good'));
    await t.status('good', 10_000);
    await t.send(synthesize('poison-b', { text: 'poison b' }));
    await eventually(() => t.named('job_retry').length === 2, 10_000);
    expect(t.named('job_retry')).toEqual([
      expect.objectContaining({ jobId: 'poison-a', charged: true, attempt: 1 }),
      expect.objectContaining({ jobId: 'poison-b', charged: true, attempt: 1 }),
    ]);
  }, 20_000);

  it('stays paused while OpenVoice’s /health reports its storage unwritable or a stuck GPU thread', async () => {
    let health = { storage: { writable: true }, gpuStuck: false };
    let failNext = true;
    const t = await start({
      maxReceiveCount: 5,
      openVoice: async (route) => {
        if (route === '/health') return { status: 200, body: JSON.stringify({ status: 'ok', ...health }) };
        if (failNext) {
          failNext = false;
          health = { storage: { writable: false }, gpuStuck: true };
          return { status: 500, body: 'Read-only file system' };
        }
        return { status: 200, body: WAV };
      },
    });
    await t.run(synthesize('probe-job'));
    await t.until('paused');
    await pause(1500);
    expect(t.calls('/synthesize')).toBe(1);
    health = { storage: { writable: true }, gpuStuck: false };
    expect(await t.status('probe-job', 10_000)).toMatchObject({ state: 'done' });
  }, 20_000);

  it('with two slots a pause stops the other slot too', async () => {
    let healthy = true;
    const t = await start({
      slots: 2,
      maxReceiveCount: 5,
      sqsLatencyMs: 30,
      openVoice: async (route) => {
        if (route === '/health') return { status: healthy ? 200 : 503 };
        if (t.calls('/synthesize') === 1) {
          healthy = false;
          return { status: 500, body: 'CUDA out of memory' };
        }
        return { status: 200, body: WAV };
      },
    });
    await t.run(synthesize('first'));
    await t.until('paused');
    await t.send(synthesize('second'));
    await pause(2000);
    expect(t.calls('/synthesize')).toBe(1);
    healthy = true;
    await t.status('second', 10_000);
    expect(await t.status('first', 10_000)).toMatchObject({ state: 'done' });
  }, 20_000);
});

describe('storage deadlines are per operation', () => {
  it('slow but working storage: each operation within its deadline, the job finishes, no pause', async () => {
    // Each operation is slowed well past a healthy disk's, and the deadline leaves room for a loaded
    // machine: the test is about a slow store not being taken for a broken one, not about the margin.
    // Every directory, open, link and rename.
    const fileSystem = interceptedFs(['mkdir', 'open', 'rename', 'link'], () => pause(150));
    const t = await start({ fileSystem, storageTimeoutMs: 2000 });
    await t.run(synthesize('slow-efs'));
    expect(await t.status('slow-efs', 15_000)).toMatchObject({ state: 'done' });
    expect(t.named('paused')).toEqual([]);
  }, 20_000);

  it('an operation past its deadline is still watched: reported when it ends, and no probe passes before', async () => {
    let hangNextOutput = true;
    const fileSystem = interceptedFs(['open'], async (_, [file]) => {
      if (hangNextOutput && String(file).includes('outputs')) {
        hangNextOutput = false;
        await pause(1500);
      }
    });
    const t = await start({ fileSystem, storageTimeoutMs: 300, maxReceiveCount: 5 });
    await t.run(synthesize('late-op'));
    await t.until('paused');
    expect(await t.status('late-op', 10_000)).toMatchObject({ state: 'done' });
    expect(t.named('storage_late')).toEqual([
      expect.objectContaining({ operation: expect.stringContaining('outputs/late-op.wav') }),
    ]);
    const resumedAt = t.events.findIndex(([name]) => name === 'resumed');
    const lateAt = t.events.findIndex(([name]) => name === 'storage_late');
    expect(lateAt).toBeGreaterThan(-1);
    expect(resumedAt).toBeGreaterThan(lateAt);
  }, 20_000);
});

describe('a reference rewritten after it was opened', () => {
  it('ends the upload at once instead of hanging until OpenVoice’s deadline', async () => {
    const fileSystem: FileSystem = {
      ...fs.promises,
      open: (async (file: fs.PathLike, flags?: string | number, mode?: fs.Mode) => {
        const handle = await fs.promises.open(file, flags, mode);
        if (String(file).endsWith('shrinking.wav')) {
          // Rewritten shorter by the backend right after the worker measured it.
          const measure = handle.stat.bind(handle);
          handle.stat = (async () => {
            const measured = await measure();
            await fs.promises.truncate(String(file), 10);
            return measured;
          }) as typeof handle.stat;
        }
        return handle;
      }) as FileSystem['open'],
    };
    const t = await start({ fileSystem, requestTimeoutMs: 15_000 });
    fs.writeFileSync(path.join(t.shared, 'uploads', 'shrinking.wav'), Buffer.alloc(5000, 1));
    await t.run(clone('shrinking', 'uploads/shrinking.wav'));
    expect(await t.status('shrinking', 4000)).toMatchObject({
      state: 'failed',
      error: expect.stringContaining('changed while it was read'),
    });
    expect(t.named('paused')).toEqual([]);
  }, 20_000);
});

describe('hand-backs do not consume tries; only non-jobs reach the dead-letter queue', () => {
  it('a job handed back by drains more often than the queue’s maxReceiveCount still gets its status', async () => {
    const slow = speechAfter(5000);
    const first = await start({ maxReceiveCount: 2, synthesis: slow, retryDelayS: 0 });
    const queue = { queueUrl: first.queueUrl, dlqUrl: first.dlqUrl, shared: first.shared };
    await first.send(synthesize('handed-back'));
    // Two workers in turn take the job and are drained (spot notices), each handing it back.
    const second = await start({ maxReceiveCount: 2, synthesis: slow, sameQueueAs: queue });
    for (const t of [first, second]) {
      await t.worker.start();
      await eventually(() => t.calls('/synthesize') > 0, 10_000);
      await t.worker.drain('spot interruption', 0);
      expect(t.named('drained')).toEqual([{ reason: 'spot interruption', released: 1 }]);
      await t.cleanup();
    }
    const last = await start({ maxReceiveCount: 2, sameQueueAs: queue });
    await last.worker.start();
    expect(await last.status('handed-back', 10_000)).toMatchObject({ state: 'done' });
    expect(await emulator.deadLetters(queue.dlqUrl)).toBe(0);
    expect(second.named('job_requeued')).toEqual([expect.objectContaining({ receiveCount: 2 })]);
  }, 40_000);

  it('a clone sent back as a fresh copy keeps the time its job was first sent (clone order)', async () => {
    const requestedAt: number[] = [];
    const t = await start({
      maxReceiveCount: 1,
      maxAttempts: 5,
      synthesis: (attempt, body) => {
        requestedAt.push(Number(/name="requestedAt"\r\n\r\n(\d+)\r\n/.exec(body.toString('latin1'))?.[1]));
        return attempt === 1 ? { status: 500, body: 'CUDA out of memory' } : { status: 201, body: '{}' };
      },
    });
    fs.writeFileSync(path.join(t.shared, 'uploads', 'a.wav'), 'RIFF-reference');
    await t.run(clone('ordered', 'uploads/a.wav'));
    expect(await t.status('ordered', 10_000)).toMatchObject({ state: 'done' });
    expect(t.named('job_requeued')).toHaveLength(1);
    expect(requestedAt).toHaveLength(2);
    expect(requestedAt[1]).toBe(requestedAt[0]);
    expect(await emulator.deadLetters(t.dlqUrl)).toBe(0);
  });

  it('a synthesis answered 404 in a profile’s switch window is asked again before it fails', async () => {
    const t = await start({
      synthesis: (attempt) =>
        attempt === 1
          ? { status: 404, body: '{"detail":"voice profile alice does not exist"}' }
          : { status: 200, body: WAV },
    });
    await t.run(synthesize('switching'));
    expect(await t.status('switching', 10_000)).toMatchObject({ state: 'done' });
  });

  it('a status keeps the reason short, whatever the size of the field that caused it', async () => {
    const t = await start();
    await t.run(synthesize('huge', { version: 'v'.repeat(250_000) }));
    const status = await t.status('huge');
    expect(status).toMatchObject({ state: 'failed', error: expect.stringContaining('is not supported') });
    expect(String(status.error).length).toBeLessThanOrEqual(1000);
  });
});

describe('the tests bite where it matters', () => {
  it('the heartbeat extends visibility by the full timeout, not by a second', async () => {
    const t = await start({ visibilityTimeoutS: 4, heartbeatS: 2, synthesis: speechAfter(6000) });
    await t.run(synthesize('extended'));
    await eventually(() => t.calls('/synthesize') > 0);
    // The first extension lands at 2 s; a one-second extension would show the message at 3 s.
    for (const wait of [3300, 1000]) {
      await pause(wait);
      expect(await emulator.visibleNow(t.queueUrl)).toEqual([]);
    }
  }, 20_000);

  it('a permanent failure is recorded before the message is deleted, also when that write first fails', async () => {
    let readOnly = true;
    const fileSystem = interceptedFs(['link', 'rename'], (_, [, to]) => {
      if (readOnly && String(to).endsWith(`${path.sep}jobs${path.sep}rejected.json`))
        throw Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS' });
    });
    const t = await start({
      fileSystem,
      maxReceiveCount: 5,
      synthesis: () => ({ status: 422, body: '{"detail":"unreadable audio"}' }),
    });
    fs.writeFileSync(path.join(t.shared, 'uploads', 'r.wav'), 'RIFF');
    await t.run(clone('rejected', 'uploads/r.wav'));
    await t.until('paused');
    expect(t.calls('/voices')).toBe(1); // the failure is known; recording it failed
    await pause(500);
    readOnly = false;
    expect(await t.status('rejected', 10_000)).toMatchObject({
      state: 'failed',
      error: expect.stringContaining('unreadable audio'),
    });
  }, 20_000);
});
