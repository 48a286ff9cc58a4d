/** The worker's settings from its environment (set by docker/gpu-host/compose.yaml). */
export interface WorkerConfig {
  readonly queueUrl: string;
  readonly region: string | undefined;
  readonly sharedDir: string;
  readonly openVoiceUrl: string;
  readonly imdsEndpoint: string;
  /** How long a job may take to finish after SIGTERM before it is handed back to the queue. */
  readonly stopGraceMs: number;
}

export function readConfig(env: Readonly<Record<string, string | undefined>>): WorkerConfig {
  const queueUrl = env.JOB_QUEUE_URL;
  if (!queueUrl || !/^https?:\/\//.test(queueUrl)) {
    throw new Error(`JOB_QUEUE_URL must be the job queue's URL, got ${JSON.stringify(queueUrl)}`);
  }
  const grace = Number(env.STOP_GRACE_SECONDS ?? '90');
  if (!Number.isFinite(grace) || grace < 0) {
    throw new Error(
      `STOP_GRACE_SECONDS must be a number of seconds, got ${JSON.stringify(env.STOP_GRACE_SECONDS)}`,
    );
  }
  return {
    queueUrl,
    region: env.AWS_REGION || undefined,
    sharedDir: env.SHARED_DIR ?? '/mnt/shared',
    openVoiceUrl: env.OPENVOICE_URL ?? 'http://openvoice:8001',
    imdsEndpoint: env.IMDS_ENDPOINT ?? 'http://169.254.169.254',
    stopGraceMs: grace * 1000,
  };
}
