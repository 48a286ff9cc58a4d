import { randomBytes } from 'node:crypto';
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

/** The file operations the store uses; tests inject faults (EROFS, ENOSPC, a hung mount) here. */
export type FileSystem = Pick<
  typeof fsPromises,
  'open' | 'mkdir' | 'rename' | 'unlink' | 'readFile' | 'realpath'
>;

/**
 * The host's storage failed (read-only, full, I/O error, no permission, hung): no job can
 * succeed until it is repaired, so the worker pauses instead of failing every job in turn.
 */
export class StorageFault extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'StorageFault';
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

/** A reference recording opened for upload: a regular file, checked and held open. */
export interface OpenedReference {
  readonly handle: FileHandle;
  readonly size: number;
  readonly name: string;
}

export interface ResultStoreOptions {
  /** @default node:fs/promises */
  readonly fs?: FileSystem;
  /** How long one file operation may take before the mount counts as hung. @default 60000 */
  readonly timeoutMs?: number;
}

/**
 * Results on the shared file system, written atomically: a temporary file in the same
 * directory, flushed to disk, then renamed, so a reader sees the whole file or none.
 * Every operation has a deadline: a hung EFS mount becomes a StorageFault, not a job stuck forever.
 */
export class ResultStore {
  private readonly fs: FileSystem;
  private readonly timeoutMs: number;

  constructor(
    readonly sharedDir: string,
    options: ResultStoreOptions = {},
  ) {
    this.fs = options.fs ?? fsPromises;
    this.timeoutMs = options.timeoutMs ?? 60_000;
  }

  resolve(relative: string): string {
    const full = path.resolve(this.sharedDir, relative);
    if (!full.startsWith(path.resolve(this.sharedDir) + path.sep)) {
      throw new InputError(`${relative} is outside the shared directory`);
    }
    return full;
  }

  /** Runs one file operation with a deadline; host-level errors become StorageFault. */
  private async guard<T>(what: string, operation: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new StorageFault(
              `${what}: no answer from the file system within ${this.timeoutMs} ms`,
              'ETIMEDOUT',
            ),
          ),
        this.timeoutMs,
      );
    });
    try {
      return await Promise.race([operation(), deadline]);
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

  async writeAtomically(relative: string, data: Uint8Array | string): Promise<string> {
    const final = this.resolve(relative);
    const temporary = path.join(
      path.dirname(final),
      `.${path.basename(final)}.${randomBytes(6).toString('hex')}.tmp`,
    );
    await this.guard(`writing ${relative}`, async () => {
      await this.fs.mkdir(path.dirname(final), { recursive: true });
      const handle = await this.fs.open(temporary, 'wx', 0o644);
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      try {
        await this.fs.rename(temporary, final);
      } catch (error) {
        await this.fs.unlink(temporary).catch(() => undefined);
        throw error;
      }
    });
    return relative;
  }

  async readStatus(jobId: string): Promise<JobStatus | undefined> {
    return this.guard(`reading the status of ${jobId}`, async () => {
      try {
        return JSON.parse(await this.fs.readFile(this.resolve(`jobs/${jobId}.json`), 'utf8')) as JobStatus;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    });
  }

  async writeStatus(status: JobStatus): Promise<void> {
    await this.writeAtomically(`jobs/${status.jobId}.json`, `${JSON.stringify(status, null, 2)}\n`);
  }

  /** Writes and removes a small file: succeeds only when results can be written again. */
  async probe(): Promise<void> {
    const name = `jobs/.probe-${randomBytes(6).toString('hex')}`;
    await this.writeAtomically(name, 'probe\n');
    await this.guard('removing the probe file', () => this.fs.unlink(this.resolve(name)));
  }

  /**
   * Opens a reference recording under uploads/ for reading, refusing anything but a regular
   * file reached without symbolic links (a link could point outside the shared directory, at a
   * FIFO that never ends, or at /dev/zero), empty, or larger than `maxBytes`.
   */
  async openReference(relative: string, maxBytes: number): Promise<OpenedReference> {
    const full = this.resolve(relative);
    const uploads = this.resolve('uploads');
    if (!full.startsWith(uploads + path.sep)) throw new InputError(`${relative} is not under uploads/`);
    return this.guard(`opening ${relative}`, async () => {
      let realParent: string;
      let realShared: string;
      try {
        realShared = await this.fs.realpath(this.sharedDir);
        realParent = await this.fs.realpath(path.dirname(full));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          throw new InputError(`reference ${relative} does not exist`);
        }
        throw error;
      }
      if (realParent !== path.join(realShared, path.dirname(path.relative(this.sharedDir, full)))) {
        throw new InputError(`reference ${relative} lies behind a symbolic link; links are refused`);
      }
      let handle: FileHandle;
      try {
        // O_NOFOLLOW refuses a link as the last component; O_NONBLOCK keeps a FIFO from blocking open.
        handle = await this.fs.open(full, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') throw new InputError(`reference ${relative} does not exist`);
        if (code === 'ELOOP')
          throw new InputError(`reference ${relative} is a symbolic link; links are refused`);
        if (code === 'ENXIO' || code === 'EISDIR')
          throw new InputError(`reference ${relative} is not a regular file`);
        throw error;
      }
      try {
        const stat = await handle.stat();
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
    });
  }
}
