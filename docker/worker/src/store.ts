import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import * as path from 'node:path';

/** The status file of a job, what the backend polls for: jobs/<jobId>.json on EFS. */
export interface JobStatus {
  readonly jobId: string;
  readonly type: string;
  readonly state: 'done' | 'failed';
  /** Path of the result relative to the shared directory (synthesize). */
  readonly output?: string;
  readonly voiceId?: string;
  /** Why a job failed for good (the input was rejected). */
  readonly error?: string;
  readonly finishedAt: string;
}

/**
 * Results on the shared file system, written atomically: a temporary file in the same
 * directory, flushed to disk, then renamed, so a reader sees the whole file or none.
 */
export class ResultStore {
  constructor(readonly sharedDir: string) {}

  resolve(relative: string): string {
    const full = path.resolve(this.sharedDir, relative);
    if (!full.startsWith(path.resolve(this.sharedDir) + path.sep)) {
      throw new Error(`${relative} is outside the shared directory`);
    }
    return full;
  }

  async writeAtomically(relative: string, data: Uint8Array | string): Promise<string> {
    const final = this.resolve(relative);
    await mkdir(path.dirname(final), { recursive: true });
    const temporary = path.join(
      path.dirname(final),
      `.${path.basename(final)}.${randomBytes(6).toString('hex')}.tmp`,
    );
    const handle = await open(temporary, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(temporary, final);
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw error;
    }
    return relative;
  }

  async readStatus(jobId: string): Promise<JobStatus | undefined> {
    try {
      return JSON.parse(await readFile(this.resolve(`jobs/${jobId}.json`), 'utf8')) as JobStatus;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async writeStatus(status: JobStatus): Promise<void> {
    await this.writeAtomically(`jobs/${status.jobId}.json`, `${JSON.stringify(status, null, 2)}\n`);
  }
}
