import { writeFileSync } from 'node:fs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SQSClient } from '@aws-sdk/client-sqs';
import { readConfig } from './config.js';
import { InstanceMetadata } from './imds.js';
import { logLine } from './log-line.js';
import { OpenVoiceClient } from './openvoice.js';
import { ResultStore } from './store.js';
import { QueueWorker, WORKER_EVENTS } from './worker.js';

/** Touched while the worker is healthy; the image's HEALTHCHECK reads its age. */
const ALIVE_FILE = '/tmp/worker-alive';

async function main(): Promise<void> {
  const config = readConfig(process.env);
  const metadata = new InstanceMetadata(config.imdsEndpoint);
  const region = config.region ?? (await metadata.region());
  const worker = new QueueWorker({
    queueUrl: config.queueUrl,
    sqs: new SQSClient({ region }),
    ec2: new EC2Client({ region }),
    openVoice: new OpenVoiceClient({
      baseUrl: config.openVoiceUrl,
      token: config.openVoiceToken,
      requestTimeoutMs: config.requestTimeoutMs,
    }),
    store: new ResultStore(config.sharedDir, { timeoutMs: config.storageTimeoutMs }),
    metadata,
    slots: config.slots,
    maxReceiveCount: config.maxReceiveCount,
    scaleIn: config.scaleIn,
  });
  // A storage fault turns the container unhealthy (docker ps, the health log), not only the log.
  const touch = () => {
    if (worker.health().healthy) writeFileSync(ALIVE_FILE, new Date().toISOString());
  };
  const log = (event: string) => (detail: unknown) => {
    touch();
    console.log(logLine(event, detail, new Date(), { health: worker.health(), stats: worker.stats() }));
  };
  for (const event of [...WORKER_EVENTS, 'error']) worker.on(event, log(event));
  // Also what keeps the process up once a drain has stopped every consumer and watch: exiting
  // would let the container's restart policy start a worker that consumes again on an instance
  // about to stop or terminate. SIGTERM (below) and a fatal error end it.
  setInterval(touch, 30_000);

  const stopping = new AbortController();
  const stop = (signal: string) => {
    stopping.abort();
    void worker.drain(signal, config.stopGraceMs).then(() => process.exit(0));
  };
  for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => stop(signal));
  // After a spot notice or a scale-in the worker drains and stays idle (not exiting, or the restart policy
  // would start consuming again) until EC2 stops the instance.
  await worker.start(stopping.signal);
}

main().catch((error: unknown) => {
  console.error(
    JSON.stringify({ time: new Date().toISOString(), event: 'fatal', error: (error as Error).message }),
  );
  process.exit(1);
});
