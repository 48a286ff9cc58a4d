import { readFileSync } from 'node:fs';

/** The worker's settings from its environment (set by docker/gpu-host/compose.yaml). */
export interface WorkerConfig {
  readonly queueUrl: string;
  readonly region: string | undefined;
  readonly sharedDir: string;
  readonly openVoiceUrl: string;
  /** The shared secret OpenVoice requires on port 8001 (Authorization: Bearer). */
  readonly openVoiceToken: string;
  readonly imdsEndpoint: string;
  /** How long a job may take to finish after SIGTERM before it is handed back to the queue. */
  readonly stopGraceMs: number;
  /** Jobs that run on the GPU at once. */
  readonly slots: number;
  /** The job queue's maxReceiveCount: the last receive before the DLQ. */
  readonly maxReceiveCount: number;
  /** Deadline of one OpenVoice clone or synthesis. */
  readonly requestTimeoutMs: number;
  /** Deadline of one file operation on EFS before the mount counts as hung. */
  readonly storageTimeoutMs: number;
  /**
   * The burst group: a worker in it drains when the group terminates its instance, then tags
   * itself drained for the scaler to complete the group's hook. Set on every GPU host when burst
   * workers are deployed; the primary is in no group and never sees a scale-in. Undefined
   * without burst workers.
   */
  readonly scaleIn?: { readonly groupName: string };
}

/** The shortest OpenVoice token accepted: the service refuses shorter ones too. */
export const MIN_TOKEN_CHARS = 32;

function readTokenFile(file: string, problems: string[]): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (error) {
    problems.push(`OPENVOICE_API_TOKEN_FILE ${file} cannot be read: ${(error as Error).message}`);
    return '';
  }
}

export function readConfig(env: Readonly<Record<string, string | undefined>>): WorkerConfig {
  const problems: string[] = [];
  const queueUrl = env.JOB_QUEUE_URL ?? '';
  if (!/^https?:\/\//.test(queueUrl)) {
    problems.push(`JOB_QUEUE_URL must be the job queue's URL, got ${JSON.stringify(env.JOB_QUEUE_URL)}`);
  }
  const number = (name: string, fallback: number, min: number, whole = false): number => {
    const raw = env[name];
    const value = Number(raw ?? fallback);
    if (!Number.isFinite(value) || value < min || (whole && !Number.isInteger(value))) {
      problems.push(
        `${name} must be a ${whole ? 'whole ' : ''}number of at least ${min}, got ${JSON.stringify(raw)}`,
      );
    }
    return value;
  };
  // A compose secret (a file) on the hosts; the variable itself only where no file is given.
  const token = env.OPENVOICE_API_TOKEN_FILE
    ? readTokenFile(env.OPENVOICE_API_TOKEN_FILE, problems)
    : (env.OPENVOICE_API_TOKEN ?? '');
  if (token.length < MIN_TOKEN_CHARS) {
    problems.push(
      `OPENVOICE_API_TOKEN must be set to the shared secret of port 8001 (at least ${MIN_TOKEN_CHARS} characters)`,
    );
  }
  const config: WorkerConfig = {
    queueUrl,
    region: env.AWS_REGION || undefined,
    sharedDir: env.SHARED_DIR ?? '/mnt/shared',
    openVoiceUrl: env.OPENVOICE_URL ?? 'http://openvoice:8001',
    openVoiceToken: token,
    imdsEndpoint: env.IMDS_ENDPOINT ?? 'http://169.254.169.254',
    stopGraceMs: number('STOP_GRACE_SECONDS', 90, 0) * 1000,
    slots: number('GPU_SLOTS', 1, 1, true),
    maxReceiveCount: number('MAX_RECEIVE_COUNT', 5, 1, true),
    requestTimeoutMs: number('OPENVOICE_TIMEOUT_SECONDS', 900, 1) * 1000,
    storageTimeoutMs: number('STORAGE_TIMEOUT_SECONDS', 60, 1) * 1000,
    scaleIn: env.BURST_GROUP_NAME ? { groupName: env.BURST_GROUP_NAME } : undefined,
  };
  if (problems.length > 0) throw new Error(problems.join('; '));
  return config;
}
