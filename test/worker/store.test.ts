import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  type FileSystem,
  type LateOperation,
  MAX_ERROR_CHARS,
  ResultStore,
  type ResultStoreOptions,
  StorageFault,
} from '../../docker/worker/src/store';
import { eventually, interceptedFs, tempSharedDir } from './harness';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const status = { jobId: 'j-1', type: 'synthesize', state: 'done' as const, finishedAt: 't' };
const read = (shared: string, relative: string) => fs.readFileSync(path.join(shared, relative), 'utf8');
const hostError = (code: string, message: string) =>
  Object.assign(new Error(`${code}: ${message}`), { code });
/** node:fs/promises whose named operations fail with the given errors. */
const failing = (errors: Partial<Record<keyof FileSystem, Error>>) =>
  interceptedFs(Object.keys(errors) as Array<keyof FileSystem>, (operation) => {
    throw errors[operation];
  });
/** A store on a fresh shared directory. */
const fresh = (options?: ResultStoreOptions) => {
  const shared = tempSharedDir();
  return { shared, store: new ResultStore(shared, options) };
};
/** The claim `store.claim` makes, which the test needs to hold. */
const claimed = async (store: ResultStore, jobId: string, messageId: string, staleAfterMs: number) => {
  const result = await store.claim(jobId, messageId, staleAfterMs);
  if (!('claim' in result)) throw new Error('expected a claim');
  return result.claim;
};
const writeError = (store: ResultStore) => store.writeStatus(status).catch((error: unknown) => error);

describe('ResultStore: statuses are published once and never replaced', () => {
  it('the first status stands; a later one is refused and says so', async () => {
    const { shared, store } = fresh();
    expect(await store.writeStatus({ ...status, state: 'failed', error: 'bad' })).toBe(true);
    expect(await store.writeStatus(status)).toBe(false);
    expect(JSON.parse(read(shared, 'jobs/j-1.json'))).toEqual({ ...status, state: 'failed', error: 'bad' });
    expect(await store.readStatus('j-1')).toMatchObject({ state: 'failed' });
    expect(await store.readStatus('j-2')).toBeUndefined();
    expect(fs.readdirSync(path.join(shared, 'jobs')).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('keeps the reason of a failure to its first characters', async () => {
    const { store } = fresh();
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
    const broken = await writeError(fresh({ fs: failing({ link: hostError('EROFS', 'injected') }) }).store);
    expect(broken).toBeInstanceOf(StorageFault);
    expect(broken).toMatchObject({
      code: 'EROFS',
      slow: false,
      message: expect.stringContaining('publishing jobs/j-1.json'),
    });
    const other = await writeError(fresh({ fs: failing({ link: hostError('EXDEV', 'injected') }) }).store);
    expect(other).not.toBeInstanceOf(StorageFault);
  });
});

describe('ResultStore: claims of job ids', () => {
  it('one claim at a time; released, the id can be claimed again; a foreign release is ignored', async () => {
    const { shared, store } = fresh();
    const first = await claimed(store, 'j-1', 'm-1', 60_000);
    expect(await store.claim('j-1', 'm-2', 60_000)).toEqual({ heldBy: 'm-1' });
    await store.releaseClaim({ ...first, token: 'not-ours' });
    expect(await store.claim('j-1', 'm-2', 60_000)).toEqual({ heldBy: 'm-1' });
    await store.releaseClaim(first);
    expect(fs.readdirSync(path.join(shared, 'jobs', '.claims'))).toEqual([]);
    expect(await store.claim('j-1', 'm-2', 60_000)).toMatchObject({
      claim: { jobId: 'j-1', messageId: 'm-2' },
    });
    await store.releaseClaim(first); // already gone: nothing happens
  });

  it('a claim not refreshed within the stale time is taken over; a refreshed one is not', async () => {
    let now = Date.parse('2026-11-24T03:00:00Z');
    const { shared, store } = fresh({ clock: () => now });
    const held = await claimed(store, 'j-1', 'm-1', 10_000);
    now += 9_000;
    await store.refreshClaim(held);
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
  const slow = (ms: () => number) =>
    interceptedFs(['open', 'link'], async (operation, [, flags]) => {
      if (operation === 'link' || flags === 'wx') await pause(ms());
    });

  it('slow operations, each within its deadline, make a write that takes longer than one deadline', async () => {
    const store = new ResultStore(tempSharedDir(), { fs: slow(() => 150), timeoutMs: 250 });
    const started = Date.now();
    expect(await store.writeStatus(status)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    await store.probe();
  });

  it('past its deadline: a slow fault; the operation is watched, reported late, and the probe fails until then', async () => {
    let delay = 600;
    const { shared, store } = fresh({ fs: slow(() => delay), timeoutMs: 200 });
    const late: LateOperation[] = [];
    store.on('late', (operation: LateOperation) => late.push(operation));
    const fault = await writeError(store);
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
    expect(late[0]?.ms).toBeLessThan(5000);
    // The file opened too late is closed and removed, not left behind.
    await eventually(() => fs.readdirSync(path.join(shared, 'jobs')).length === 0);
    await store.probe();
  });

  it('a late operation that fails is reported with its error', async () => {
    const fileSystem = interceptedFs(['mkdir'], async () => {
      await pause(300);
      throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
    });
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
    const { shared, store } = fresh();
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

describe('ResultStore: every step of a write has its own deadline and names itself in a fault', () => {
  const eio = (step: string) => hostError('EIO', `${step} failed`);
  /** node:fs/promises failing with EIO at one step of a write (the handle's own steps included). */
  function failingAt(step: string): FileSystem {
    return {
      ...interceptedFs(['mkdir', 'rename', 'link'], (operation) => {
        if (step === operation) throw eio(step);
      }),
      open: (async (file: fs.PathLike, flags?: string | number, mode?: fs.Mode) => {
        if (step === 'open') throw eio(step);
        const handle = await fs.promises.open(file, flags, mode);
        const failing = (name: string, real: () => Promise<void>) => async () => {
          await real();
          if (step === name) throw eio(step);
        };
        handle.sync = failing('sync', handle.sync.bind(handle));
        handle.close = failing('close', handle.close.bind(handle));
        handle.writeFile = (async () => {
          if (step === 'write') throw eio(step);
        }) as typeof handle.writeFile;
        return handle;
      }) as FileSystem['open'],
    };
  }

  it.each([
    ['mkdir', 'creating the folder of outputs/a.wav: EIO'],
    ['open', 'opening a temporary file for outputs/a.wav: EIO'],
    ['write', 'writing outputs/a.wav: EIO'],
    ['sync', 'flushing outputs/a.wav: EIO'],
    ['close', 'closing outputs/a.wav: EIO'],
    ['rename', 'renaming outputs/a.wav into place: EIO'],
  ])('an output whose %s fails', async (step, message) => {
    const { shared, store } = fresh({ fs: failingAt(step) });
    await expect(store.writeAtomically('outputs/a.wav', 'x')).rejects.toMatchObject({
      code: 'EIO',
      message: expect.stringMatching(new RegExp(`^${message}`)),
    });
    const outputs = path.join(shared, 'outputs');
    expect(fs.existsSync(outputs) ? fs.readdirSync(outputs) : []).toEqual([]); // no temporary file left
  });

  it('a status whose link fails; reads, claims and attempts that fail name what they did', async () => {
    const shared = tempSharedDir();
    await expect(new ResultStore(shared, { fs: failingAt('link') }).writeStatus(status)).rejects.toThrow(
      /^publishing jobs\/j-1\.json: EIO/,
    );
    const store = new ResultStore(shared);
    expect(await store.writeAtomically('outputs/a.wav', 'x')).toBe(true);
    const held = await claimed(store, 'j-1', 'm-1', 60_000);
    await store.writeAttempts('j-1', 1);
    const broken = new ResultStore(shared, {
      fs: failing({ readFile: eio('read'), unlink: eio('unlink'), stat: eio('stat'), utimes: eio('utimes') }),
    });
    await expect(broken.readStatus('j-1')).rejects.toThrow(/^reading the status of j-1: EIO/);
    await expect(broken.readAttempts('j-1')).rejects.toThrow(/^reading the attempts of j-1: EIO/);
    await expect(broken.forget('j-1')).rejects.toThrow(/^removing the attempts of j-1: EIO/);
    await expect(broken.refreshClaim(held)).rejects.toThrow(/^refreshing the claim of j-1: EIO/);
    await expect(broken.releaseClaim(held)).rejects.toThrow(/^reading the claim of j-1: EIO/);
    await expect(broken.claim('j-1', 'm-2', 60_000)).rejects.toThrow(/^reading the claim of j-1: EIO/);
    await expect(broken.probe()).rejects.toThrow(/^removing the probe file: EIO/);
    const noUnlink = new ResultStore(shared, { fs: failing({ unlink: eio('unlink') }) });
    await expect(noUnlink.releaseClaim(held)).rejects.toThrow(/^releasing the claim of j-1: EIO/);
    const noStat = new ResultStore(shared, { fs: failing({ stat: eio('stat') }) });
    await expect(noStat.claim('j-1', 'm-2', 60_000)).rejects.toThrow(
      /^reading the age of the claim of j-1: EIO/,
    );
    await store.releaseClaim(held);
    await store.releaseClaim(held); // gone already: nothing to do
  });

  it('the probe leaves nothing behind; an old claim that cannot be set aside is a fault', async () => {
    let now = 0;
    const { shared, store } = fresh({ clock: () => now });
    await store.probe();
    expect(fs.readdirSync(path.join(shared, 'jobs'))).toEqual([]);
    await store.claim('j-1', 'm-1', 1000);
    now = 5000;
    const stuck = new ResultStore(shared, { clock: () => now, fs: failing({ rename: eio('rename') }) });
    await expect(stuck.claim('j-1', 'm-2', 1000)).rejects.toThrow(
      /^setting aside the stale claim of j-1: EIO/,
    );
  });
});

describe('ResultStore.openReference: what is refused, and how', () => {
  it('names a link, a folder and an empty file for what they are; a host error is a storage fault', async () => {
    const { shared, store } = fresh();
    const uploads = path.join(shared, 'uploads');
    fs.mkdirSync(path.join(uploads, 'folder.wav'), { recursive: true });
    fs.writeFileSync(path.join(shared, 'secret'), 'x');
    fs.symlinkSync(path.join(shared, 'secret'), path.join(uploads, 'link.wav'));
    await expect(store.openReference('uploads/link.wav', 100)).rejects.toThrow(
      'reference uploads/link.wav is a symbolic link; links are refused',
    );
    await expect(store.openReference('uploads/folder.wav', 100)).rejects.toThrow('is not a regular file');
    fs.writeFileSync(path.join(uploads, 'empty.wav'), '');
    await expect(store.openReference('uploads/empty.wav', 100)).rejects.toThrow(
      'reference uploads/empty.wav is empty',
    );
    const denied = new ResultStore(shared, { fs: failing({ open: hostError('EACCES', 'denied') }) });
    await expect(denied.openReference('uploads/a.wav', 100)).rejects.toMatchObject({
      name: 'StorageFault',
      message: 'opening uploads/a.wav: EACCES: denied',
    });
    const unresolvable = new ResultStore(shared, {
      fs: failing({ realpath: hostError('ESTALE', 'stale handle') }),
    });
    await expect(unresolvable.openReference('uploads/a.wav', 100)).rejects.toThrow(
      'resolving the shared directory: ESTALE: stale handle',
    );
  });
});
