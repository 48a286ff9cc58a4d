import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { eventually, fakeServer, tempSharedDir } from './harness';

const ROOT = path.join(__dirname, '..', '..');
const MAIN = path.join(ROOT, 'docker', 'worker', 'src', 'main.ts');

/**
 * The worker's process as the container runs it: after a drain (scale-in, spot notice) it must
 * stay up, idle, until the instance goes. Exiting would let the container's restart policy start
 * a fresh worker that consumes again on an instance about to terminate.
 */
describe('the worker process (docker/worker/src/main.ts)', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
    child = undefined;
  });

  it('a burst worker retired while booting tags itself drained, then stays up until SIGTERM', async () => {
    const imds = await fakeServer(async (request) => {
      if (request.method === 'PUT') return { status: 200, body: 'token-1' };
      if (request.url === '/latest/meta-data/instance-id') return { status: 200, body: 'i-0b1' };
      if (request.url === '/latest/meta-data/autoscaling/target-lifecycle-state')
        return { status: 200, body: 'Terminated' };
      return { status: 404 };
    });
    const openVoice = await fakeServer(async () => ({ status: 503 }));
    const tagRequests: string[] = [];
    const ec2 = await fakeServer(async (_request, body) => {
      tagRequests.push(body.toString());
      return {
        status: 200,
        body: '<CreateTagsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-1</requestId><return>true</return></CreateTagsResponse>',
      };
    });
    // The worker has no Auto Scaling call to make: any request here is a defect.
    const autoScaling = await fakeServer(async () => ({ status: 500 }));
    const lines: string[] = [];
    let exitCode: number | null | undefined;
    try {
      // Node itself with tsx's loader, not the tsx command: that command relays SIGTERM through a
      // parent process that gives the child 30 ms to answer and exits 143 on a loaded machine.
      child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH,
          JOB_QUEUE_URL: 'http://127.0.0.1:9/000000000000/jobs',
          OPENVOICE_API_TOKEN: 'x'.repeat(40),
          OPENVOICE_URL: openVoice.url,
          IMDS_ENDPOINT: imds.url,
          AWS_REGION: 'ap-northeast-1',
          AWS_ACCESS_KEY_ID: 'test',
          AWS_SECRET_ACCESS_KEY: 'test',
          AWS_ENDPOINT_URL_AUTO_SCALING: autoScaling.url,
          AWS_ENDPOINT_URL_EC2: ec2.url,
          SHARED_DIR: tempSharedDir(),
          BURST_GROUP_NAME: 'GpuFleet-burst-workers',
          STOP_GRACE_SECONDS: '0',
        },
      });
      child.stdout?.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n')));
      child.stderr?.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n')));
      child.on('exit', (code) => {
        exitCode = code;
      });
      await eventually(() => lines.some((l) => l.includes('"drained_tagged"')), 20_000);
      // Still running well after the drain (the watch polls every 5 s; one more poll and more).
      await new Promise((resolve) => setTimeout(resolve, 7000));
      expect(exitCode).toBeUndefined();
      expect(tagRequests).toHaveLength(1);
      const tagged = new URLSearchParams(tagRequests[0]);
      expect(tagged.get('Action')).toBe('CreateTags');
      expect(tagged.get('ResourceId.1')).toBe('i-0b1');
      expect(tagged.get('Tag.1.Key')).toBe('gpu-fleet:drained-at');
      expect(autoScaling.calls).toEqual([]);
      child.kill('SIGTERM');
      await eventually(() => exitCode !== undefined, 10_000);
      expect(exitCode).toBe(0);
    } finally {
      await Promise.all([imds.close(), openVoice.close(), ec2.close(), autoScaling.close()]);
    }
  }, 45_000);
});
