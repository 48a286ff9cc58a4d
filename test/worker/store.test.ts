import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  type FileSystem,
  type LateOperation,
  MAX_ERROR_CHARS,
  ResultStore,
  StorageFault,
} from '../../docker/worker/src/store';
import { eventually, tempSharedDir } from './harness';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const status = { jobId: 'j-1', type: 'synthesize', state: 'done' as const, finishedAt: 't' };
const read = (shared: string, relative: string) => fs.readFileSync(path.join(shared, relative), 'utf8');

describe('ResultStore: statuses are published once and never replaced', () => {
  it('the first status stands; a later one is refused and says so', async () => {
    const shared = tempSharedDir();
    const store = new ResultStore(shared);
    expect(await store.writeStatus({ ...status, state: 'failed', error: 'bad' })).toBe(true);
    expect(await store.writeStatus(status)).toBe(false);
    expect(JSON.parse(read(shared, 'jobs/j-1.json'))).toEqual({ ...status, state: 'failed', error: 'bad' });
    expect(await store.readStatus('j-1')).toMatchObject({ state: 'failed' });
    expect(await store.readStatus('j-2')).toBeUndefined();
    expect(fs.readdirSync(path.join(shared, 'jobs')).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('keeps the reason of a failure to its first characters', async () => {
    const shared = tempSharedDir();
    const store = new ResultStore(shared);
    await store.writeStatus({ ...status, state: 'failed', error: 'x'.repeat(MAX_ERROR_CHARS) });
    expect((await store.readStatus('j-1'))?.error).toBe('x'.repeat(MAX_ERROR_CHARS));
    await store.writeStatus({
      ...status,
      jobId: 'j-2',
      state: 'failed',
      error: 'y'.repeat(MAX_ERROR_CHARS + 1),
    });
    expect((await store.readStatus('j-2'))?.error).toBe(`${'y'.repeat(MAX_ERROR_CHARS - 1)}…`);
  });

  it('turns host errors into a StorageFault that says broken, not slow; leaves other errors alone', async () => {
    const failing = (code: string): FileSystem => ({
      ...fs.promises,
      link: (async () => {
        throw Object.assign(new Error(`${code}: injected`), { code });
      }) as FileSystem['link'],
    });
    const broken = await new ResultStore(tempSharedDir(), { fs: failing('EROFS') })
      .writeStatus(status)
      .catch((error: unknown) => error);
    expect(broken).toBeInstanceOf(StorageFault);
    expect(broken).toMatchObject({
      code: 'EROFS',
      slow: false,
      message: expect.stringContaining('publishing jobs/j-1.json'),
    });
    const other = await new ResultStore(tempSharedDir(), { fs: failing('EXDEV') })
      .writeStatus(status)
      .catch((error: unknown) => error);
    expect(other).not.toBeInstanceOf(StorageFault);
  });
});

describe('ResultStore: claims of job ids', () => {
  it('one claim at a time; released, the id can be claimed again; a foreign release is ignored', async () => {
    const shared = tempSharedDir();
    const store = new ResultStore(shared);
    const first = await store.claim('j-1', 'm-1', 60_000);
    if (!('claim' in first)) throw new Error('expected a claim');
    expect(await store.claim('j-1', 'm-2', 60_000)).toEqual({ heldBy: 'm-1' });
    await store.releaseClaim({ ...first.claim, token: 'not-ours' });
    expect(await store.claim('j-1', 'm-2', 60_000)).toEqual({ heldBy: 'm-1' });
    await store.releaseClaim(first.claim);
    expect(fs.readdirSync(path.join(shared, 'jobs', '.claims'))).toEqual([]);
    expect(await store.claim('j-1', 'm-2', 60_000)).toMatchObject({
      claim: { jobId: 'j-1', messageId: 'm-2' },
    });
    await store.releaseClaim(first.claim); // already gone: nothing happens
  });

  it('a claim not refreshed within the stale time is taken over; a refreshed one is not', async () => {
    let now = Date.parse('2026-11-24T03:00:00Z');
    const shared = tempSharedDir();
    const store = new ResultStore(shared, { clock: () => now });
    const held = await store.claim('j-1', 'm-1', 10_000);
    if (!('claim' in held)) throw new Error('expected a claim');
    now += 9_000;
    await store.refreshClaim(held.claim);
    now += 9_999;
    expect(await store.claim('j-1', 'm-2', 10_000)).toEqual({ heldBy: 'm-1' });
    now += 1; // 10 s after the last refresh
    expect(await store.claim('j-1', 'm-2', 10_000)).toMatchObject({ claim: { messageId: 'm-2' } });
    expect(fs.readdirSync(path.join(shared, 'jobs', '.claims'))).toEqual(['j-1.json']);
  });

  it('counts attempts in the job’s own record, and forgets them', async () => {
    const store = new ResultStore(tempSharedDir());
    expect(await store.readAttempts('j-1')).toBe(0);
    await store.writeAttempts('j-1', 2);
    expect(await store.readAttempts('j-1')).toBe(2);
    await store.forget('j-1');
    expect(await store.readAttempts('j-1')).toBe(0);
    await store.forget('j-1');
  });
});

describe('ResultStore: a deadline per file operation', () => {
  /** node:fs/promises whose open (of new files) and link take `ms`. */
  function slow(ms: () => number): FileSystem {
    return {
      ...fs.promises,
      open: (async (file: fs.PathLike, flags?: string | number, mode?: fs.Mode) => {
        if (flags === 'wx') await pause(ms());
        return fs.promises.open(file, flags, mode);
      }) as FileSystem['open'],
      link: (async (from: fs.PathLike, to: fs.PathLike) => {
        await pause(ms());
        return fs.promises.link(from, to);
      }) as FileSystem['link'],
    };
  }

  it('slow operations, each within its deadline, make a write that takes longer than one deadline', async () => {
    const store = new ResultStore(tempSharedDir(), { fs: slow(() => 150), timeoutMs: 250 });
    const started = Date.now();
    expect(await store.writeStatus(status)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    await store.probe();
  });

  it('past its deadline: a slow fault; the operation is watched, reported late, and the probe fails until then', async () => {
    let delay = 600;
    const shared = tempSharedDir();
    const store = new ResultStore(shared, { fs: slow(() => delay), timeoutMs: 200 });
    const late: LateOperation[] = [];
    store.on('late', (operation: LateOperation) => late.push(operation));
    const fault = await store.writeStatus(status).catch((error: unknown) => error);
    expect(fault).toBeInstanceOf(StorageFault);
    expect(fault).toMatchObject({
      code: 'ETIMEDOUT',
      slow: true,
      message: expect.stringContaining('within 200 ms'),
    });
    delay = 0;
    await expect(store.probe()).rejects.toMatchObject({
      slow: true,
      message: expect.stringContaining('1 file operation(s) still running past their 200 ms deadline'),
    });
    await eventually(() => late[0]);
    expect(late).toEqual([
      {
        operation: expect.stringContaining('opening a temporary file for jobs/j-1.json'),
        ms: expect.any(Number),
      },
    ]);
    expect(late[0]?.ms).toBeGreaterThanOrEqual(550);
    // The file opened too late is closed and removed, not left behind.
    await eventually(() => (fs.readdirSync(path.join(shared, 'jobs')).length === 0 ? true : undefined));
    await store.probe();
  });

  it('a late operation that fails is reported with its error', async () => {
    const fileSystem: FileSystem = {
      ...fs.promises,
      mkdir: (async () => {
        await pause(300);
        throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
      }) as FileSystem['mkdir'],
    };
    const store = new ResultStore(tempSharedDir(), { fs: fileSystem, timeoutMs: 100 });
    const late: LateOperation[] = [];
    store.on('late', (operation: LateOperation) => late.push(operation));
    await expect(store.writeStatus(status)).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    await eventually(() => late[0]);
    expect(late[0]).toMatchObject({
      operation: 'creating the folder of jobs/j-1.json',
      error: 'EIO: injected',
    });
  });
});

describe('ResultStore.openReference: opened, then proven', () => {
  it('refuses a reference reached through a linked folder, a missing one, and a path through a file', async () => {
    const shared = tempSharedDir();
    const store = new ResultStore(shared);
    fs.mkdirSync(path.join(shared, 'uploads', 'team'), { recursive: true });
    fs.writeFileSync(path.join(shared, 'uploads', 'team', 'a.wav'), 'RIFF');
    fs.mkdirSync(path.join(shared, 'voices', 'bob'), { recursive: true });
    fs.writeFileSync(path.join(shared, 'voices', 'bob', 'a.wav'), 'BOB');
    fs.symlinkSync(path.join(shared, 'voices', 'bob'), path.join(shared, 'uploads', 'bob'));
    await expect(store.openReference('uploads/bob/a.wav', 100)).rejects.toThrow(
      'reference uploads/bob/a.wav lies behind a symbolic link or moved while it was opened; links are refused',
    );
    await expect(store.openReference('uploads/team/a.wav/x', 100)).rejects.toThrow('does not exist');
    await expect(store.openReference('uploads/none.wav', 100)).rejects.toThrow('does not exist');
    await expect(store.openReference('jobs/x.json', 100)).rejects.toThrow('is not under uploads/');
    await expect(store.openReference('../x', 100)).rejects.toThrow('outside the shared directory');
    const opened = await store.openReference('uploads/team/a.wav', 4);
    expect({ size: opened.size, name: opened.name }).toEqual({ size: 4, name: 'a.wav' });
    await opened.handle.close();
    await expect(store.openReference('uploads/team/a.wav', 3)).rejects.toThrow(
      'is 4 bytes, more than the limit of 3',
    );
  });
});
