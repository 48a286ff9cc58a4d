import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { constants } from 'node:fs';
import * as fsPromises from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';

/** The status file of a job, what the backend polls for: jobs/<jobId>.json on EFS. */
export interface JobStatus {
  readonly jobId: string;
  readonly type: string;
  readonly state: 'done' | 'failed';
  /** Path of the result relative to the shared directory (synthesize). */
  readonly output?: string;
  readonly voiceId?: string;
  /** Why a job failed (its input was refused, or it kept failing until its attempts ran out). */
  readonly error?: string;
  readonly finishedAt: string;
}

/** The longest `error` a status carries: the reason, not a copy of whatever field caused it. */
export const MAX_ERROR_CHARS = 1000;

/** The file operations the store uses; tests inject faults (EROFS, ENOSPC, a hung mount) here. */
export type FileSystem = Pick<
  typeof fsPromises,
  'open' | 'mkdir' | 'rename' | 'link' | 'unlink' | 'readFile' | 'readlink' | 'realpath' | 'utimes' | 'stat'
>;

/**
 * The host's storage failed (read-only, full, I/O error, no permission, hung): no job can
 * succeed until it is repaired, so the worker pauses instead of failing every job in turn.
 * `code` ETIMEDOUT means slow or hung (an operation passed its deadline); any other code, broken.
 */
export class StorageFault extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'StorageFault';
  }

  get slow(): boolean {
    return this.code === 'ETIMEDOUT';
  }
}

/** The job's own input cannot be used (missing, too large, not a regular file, a link): it fails for good. */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** Error codes that say the file system, not one job's input, is broken. */
const HOST_FAULT_CODES = new Set([
  'EROFS',
  'ENOSPC',
  'EDQUOT',
  'EIO',
  'EACCES',
  'EPERM',
  'ESTALE',
  'ENOTCONN',
  'ETIMEDOUT',
  'EMFILE',
  'ENFILE',
]);

/** For a `.catch`: undefined when the file is not there; any other error stands. */
function unlessMissing(error: unknown): undefined {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw error;
}

/** A reference recording opened for upload: a regular file under uploads/, held open. */
export interface OpenedReference {
  readonly handle: FileHandle;
  readonly size: number;
  readonly name: string;
}

/** A job id held by one run: no other run (here or on another worker) calls OpenVoice for it. */
export interface Claim {
  readonly jobId: string;
  /** The message whose run holds the id. */
  readonly messageId: string;
  readonly token: string;
}

/** What `claim` found: the id is now ours, or another run holds it (with that run's message id). */
export type ClaimResult = { readonly claim: Claim } | { readonly heldBy: string };

/** An operation that passed its deadline and has now ended (or failed): reported as 'late'. */
export interface LateOperation {
  readonly operation: string;
  readonly ms: number;
  readonly error?: string;
}

export interface ResultStoreOptions {
  /** @default node:fs/promises */
  readonly fs?: FileSystem;
  /** How long one file operation (mkdir, open, write, fsync, close, rename…) may take. @default 60000 */
  readonly timeoutMs?: number;
  /** The time claims are stamped with and judged stale by. @default Date.now */
  readonly clock?: () => number;
}

/**
 * Results on the shared file system, written atomically: a temporary file in the same
 * directory, flushed to disk, then renamed (outputs) or linked (statuses and claims, which must
 * never replace an existing file), so a reader sees the whole file or none.
 *
 * Every single file operation has its own deadline: a hung EFS mount becomes a StorageFault,
 * while a slow one that answers each operation in time is not a fault. An operation past its
 * deadline is still watched: its end is reported as 'late', and the probe fails until it ended.
 *
 * Events: 'late' (LateOperation).
 */
export class ResultStore extends EventEmitter {
  private readonly fs: FileSystem;
  private readonly timeoutMs: number;
  private readonly clock: () => number;
  private readonly late = new Set<Promise<void>>();

  constructor(
    readonly sharedDir: string,
    options: ResultStoreOptions = {},
  ) {
    super();
    this.fs = options.fs ?? fsPromises;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.clock = options.clock ?? Date.now;
  }

  resolve(relative: string): string {
    const full = path.resolve(this.sharedDir, relative);
    if (!full.startsWith(path.resolve(this.sharedDir) + path.sep)) {
      throw new InputError(`${relative} is outside the shared directory`);
    }
    return full;
  }

  /**
   * Runs one file operation with its deadline; host-level errors become StorageFault. Past the
   * deadline the operation is watched until it ends; `discard` undoes a result that came too late.
   */
  private async operation<T>(
    what: string,
    run: () => Promise<T>,
    discard?: (late: T) => unknown,
  ): Promise<T> {
    const startedAt = Date.now();
    const pending = run();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.watchLate(what, startedAt, pending, discard);
        reject(
          new StorageFault(
            `${what}: no answer from the file system within ${this.timeoutMs} ms`,
            'ETIMEDOUT',
          ),
        );
      }, this.timeoutMs);
    });
    try {
      return await Promise.race([pending, deadline]);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code && HOST_FAULT_CODES.has(code) && !(error instanceof StorageFault)) {
        throw new StorageFault(`${what}: ${(error as Error).message}`, code);
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private watchLate<T>(
    what: string,
    startedAt: number,
    pending: Promise<T>,
    discard?: (late: T) => unknown,
  ): void {
    const watched: Promise<void> = pending
      .then(
        async (result) => {
          await Promise.resolve(discard?.(result)).catch(() => undefined);
          return undefined;
        },
        (error: unknown) => (error as Error).message,
      )
      .then((error) => {
        this.late.delete(watched);
        this.emit('late', { operation: what, ms: Date.now() - startedAt, ...(error && { error }) });
      });
    this.late.add(watched);
  }

  /**
   * Writes `data` to `relative` through a temporary file. `exclusive`: publish with link(), which
   * never replaces a file that exists; then the answer is false when one did.
   */
  async writeAtomically(relative: string, data: Uint8Array | string, exclusive = false): Promise<boolean> {
    const final = this.resolve(relative);
    const temporary = path.join(
      path.dirname(final),
      `.${path.basename(final)}.${randomBytes(6).toString('hex')}.tmp`,
    );
    const removeTemporary = () => this.fs.unlink(temporary).catch(() => undefined);
    await this.operation(`creating the folder of ${relative}`, () =>
      this.fs.mkdir(path.dirname(final), { recursive: true }),
    );
    const handle = await this.operation(
      `opening a temporary file for ${relative}`,
      () => this.fs.open(temporary, 'wx', 0o644),
      (late) => late.close().then(removeTemporary),
    );
    try {
      try {
        await this.operation(`writing ${relative}`, () => handle.writeFile(data));
        await this.operation(`flushing ${relative}`, () => handle.sync());
      } finally {
        await this.operation(`closing ${relative}`, () => handle.close());
      }
      if (!exclusive) {
        await this.operation(`renaming ${relative} into place`, () => this.fs.rename(temporary, final));
        return true;
      }
      try {
        await this.operation(`publishing ${relative}`, () => this.fs.link(temporary, final));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw error;
      }
      return true;
    } finally {
      // After a rename this finds nothing; after a link it removes the second name.
      await removeTemporary();
    }
  }

  async readStatus(jobId: string): Promise<JobStatus | undefined> {
    const text = await this.readOptional(`reading the status of ${jobId}`, `jobs/${jobId}.json`);
    return text === undefined ? undefined : (JSON.parse(text) as JobStatus);
  }

  /** Publishes a job's status; false when the job already had one (a status is never replaced). */
  async writeStatus(status: JobStatus): Promise<boolean> {
    const bounded =
      status.error && status.error.length > MAX_ERROR_CHARS
        ? { ...status, error: `${status.error.slice(0, MAX_ERROR_CHARS - 1)}…` }
        : status;
    return this.writeAtomically(`jobs/${status.jobId}.json`, `${JSON.stringify(bounded, null, 2)}\n`, true);
  }

  /**
   * Claims a job id for one run, atomically (the claim file is published with link(), which fails
   * when it exists). A claim not refreshed for `staleAfterMs` belonged to a worker that died: it
   * is taken over.
   */
  async claim(jobId: string, messageId: string, staleAfterMs: number): Promise<ClaimResult> {
    const claim: Claim = { jobId, messageId, token: randomBytes(8).toString('hex') };
    const relative = `jobs/.claims/${jobId}.json`;
    const body = JSON.stringify({ messageId, token: claim.token });
    for (let attempt = 0; attempt < 2; attempt += 1) {
      if (await this.writeAtomically(relative, body, true)) {
        await this.refreshClaim(claim);
        return { claim };
      }
      const holder = await this.readOptional(`reading the claim of ${jobId}`, relative);
      if (holder === undefined) continue; // released meanwhile: try again
      const stamp = await this.operation(`reading the age of the claim of ${jobId}`, () =>
        this.fs.stat(this.resolve(relative)),
      ).catch(unlessMissing);
      if (stamp && this.clock() - stamp.mtimeMs < staleAfterMs) {
        return { heldBy: (JSON.parse(holder) as { messageId: string }).messageId };
      }
      // Stale: moved aside under a unique name (only one taker's rename finds it), then retried.
      const aside = this.resolve(`jobs/.claims/.${jobId}.${randomBytes(6).toString('hex')}.stale`);
      await this.operation(`setting aside the stale claim of ${jobId}`, () =>
        this.fs.rename(this.resolve(relative), aside),
      ).then(() => this.fs.unlink(aside).catch(() => undefined), unlessMissing);
    }
    return { heldBy: 'unknown' };
  }

  /** Stamps a claim as alive (its time is what `claim` judges staleness by). */
  async refreshClaim(claim: Claim): Promise<void> {
    const now = new Date(this.clock());
    await this.operation(`refreshing the claim of ${claim.jobId}`, () =>
      this.fs.utimes(this.resolve(`jobs/.claims/${claim.jobId}.json`), now, now),
    );
  }

  /** Gives a claim up, if it is still this run's (a stale claim may have been taken over). */
  async releaseClaim(claim: Claim): Promise<void> {
    const relative = `jobs/.claims/${claim.jobId}.json`;
    const holder = await this.readOptional(`reading the claim of ${claim.jobId}`, relative);
    if (holder === undefined || (JSON.parse(holder) as { token?: string }).token !== claim.token) return;
    await this.operation(`releasing the claim of ${claim.jobId}`, () =>
      this.fs.unlink(this.resolve(relative)),
    );
  }

  /** The attempts charged to a job so far (runs that OpenVoice failed while it served others). */
  async readAttempts(jobId: string): Promise<number> {
    const text = await this.readOptional(
      `reading the attempts of ${jobId}`,
      `jobs/.claims/${jobId}.attempts`,
    );
    return text === undefined ? 0 : Number((JSON.parse(text) as { attempts: number }).attempts) || 0;
  }

  /** Written only by the run that holds the job's claim. */
  async writeAttempts(jobId: string, attempts: number): Promise<void> {
    await this.writeAtomically(`jobs/.claims/${jobId}.attempts`, JSON.stringify({ attempts }));
  }

  /** Removes what a job kept while it ran (its attempts), once its status is written. */
  async forget(jobId: string): Promise<void> {
    await this.operation(`removing the attempts of ${jobId}`, () =>
      this.fs.unlink(this.resolve(`jobs/.claims/${jobId}.attempts`)),
    ).catch(unlessMissing);
  }

  private async readOptional(what: string, relative: string): Promise<string | undefined> {
    return this.operation(what, async () =>
      this.fs.readFile(this.resolve(relative), 'utf8').catch(unlessMissing),
    );
  }

  /**
   * Writes and removes a small file: succeeds only when results can be written again, each
   * operation within its deadline, and no earlier operation is still running past its deadline.
   * Its StorageFault tells slow (ETIMEDOUT) from broken (any other code).
   */
  async probe(): Promise<void> {
    if (this.late.size > 0) {
      throw new StorageFault(
        `${this.late.size} file operation(s) still running past their ${this.timeoutMs} ms deadline`,
        'ETIMEDOUT',
      );
    }
    const name = `jobs/.probe-${randomBytes(6).toString('hex')}`;
    await this.writeAtomically(name, 'probe\n');
    await this.operation('removing the probe file', () => this.fs.unlink(this.resolve(name)));
  }

  /**
   * Opens a reference recording under uploads/ for reading, then proves what it opened: the
   * descriptor's own path (/proc/self/fd) must be the requested path under the real shared
   * directory, so a folder swapped for a link at any moment before the open is caught, with no
   * window between a check and the open. Refuses anything but a regular file (a FIFO that never
   * ends, /dev/zero), empty, or larger than `maxBytes`.
   */
  async openReference(relative: string, maxBytes: number): Promise<OpenedReference> {
    const full = this.resolve(relative);
    const uploads = this.resolve('uploads');
    if (!full.startsWith(uploads + path.sep)) throw new InputError(`${relative} is not under uploads/`);
    const realShared = await this.operation('resolving the shared directory', () =>
      this.fs.realpath(this.sharedDir),
    );
    let handle: FileHandle;
    try {
      // O_NOFOLLOW refuses a link as the last component; O_NONBLOCK keeps a FIFO from blocking open.
      handle = await this.operation(
        `opening ${relative}`,
        () => this.fs.open(full, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK),
        (late) => late.close(),
      );
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR')
        throw new InputError(`reference ${relative} does not exist`);
      if (code === 'ELOOP')
        throw new InputError(`reference ${relative} is a symbolic link; links are refused`);
      if (code === 'ENXIO' || code === 'EISDIR')
        throw new InputError(`reference ${relative} is not a regular file`);
      throw error;
    }
    try {
      const opened = await this.operation(`proving where ${relative} was opened`, () =>
        this.fs.readlink(`/proc/self/fd/${handle.fd}`),
      );
      if (opened !== path.join(realShared, path.relative(this.sharedDir, full))) {
        throw new InputError(
          `reference ${relative} lies behind a symbolic link or moved while it was opened; links are refused`,
        );
      }
      const stat = await this.operation(`reading the size of ${relative}`, () => handle.stat());
      if (!stat.isFile()) throw new InputError(`reference ${relative} is not a regular file`);
      if (stat.size === 0) throw new InputError(`reference ${relative} is empty`);
      if (stat.size > maxBytes) {
        throw new InputError(
          `reference ${relative} is ${stat.size} bytes, more than the limit of ${maxBytes}`,
        );
      }
      return { handle, size: stat.size, name: path.basename(full) };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }
}
