import * as fs from 'node:fs';
import * as path from 'node:path';
import { CreateTagsCommand } from '@aws-sdk/client-ec2';
import { READY_TAG } from '../../docker/worker/src/worker';
import { LAST_JOB_TAG } from '../../docker/worker/src/activity';
import { TAGS } from '../../src/core/tags';
import { ec2Mock, pause, speechAfter, statusOf, synthesize, useSqsEmulator } from './fixture';
import { WAV, counts, eventually } from './harness';

const emulator = useSqsEmulator();
const { start } = emulator;

const lastJobWrites = () =>
  ec2Mock.commandCalls(CreateTagsCommand).filter((c) => c.args[0].input.Tags?.[0]?.Key === LAST_JOB_TAG);

describe('queue worker against a real SQS protocol server', () => {
  it('the ready tag key is the one the scaler reads', () => {
    expect(READY_TAG).toBe(TAGS.readyAt);
  });

  it('waits for OpenVoice to be healthy, then tags its instance ready, then consumes', async () => {
    let healthy = false;
    const t = await start({
      openVoice: async (route) =>
        route === '/health' ? { status: healthy ? 200 : 503 } : { status: 200, body: WAV },
    });
    const started = t.worker.start();
    await pause(300);
    expect(ec2Mock).toHaveReceivedCommandTimes(CreateTagsCommand, 0);
    healthy = true;
    await started;
    expect(ec2Mock).toHaveReceivedCommandWith(CreateTagsCommand, {
      Resources: ['i-0gpu'],
      Tags: [{ Key: 'gpu-fleet:ready-at', Value: '2026-11-24T03:00:00Z' }],
    });
    expect(t.events[0]).toEqual(['ready', { instanceId: 'i-0gpu', readyAt: '2026-11-24T03:00:00Z' }]);
  });

  it('writes the result and status, then deletes the message; sends the bearer token', async () => {
    const t = await start();
    await t.run(synthesize('job-1'));
    expect(await t.status('job-1')).toEqual({
      jobId: 'job-1',
      type: 'synthesize',
      state: 'done',
      output: 'outputs/job-1.wav',
      finishedAt: '2026-11-24T03:00:00.250Z',
    });
    expect(fs.readFileSync(path.join(t.shared, 'outputs', 'job-1.wav'))).toEqual(WAV);
    expect(fs.readdirSync(path.join(t.shared, 'outputs')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(t.unauthorised).toEqual([]);
    await emulator.emptied(t.queueUrl);
  });

  it('writes the output before the status: a reader that sees "done" finds the whole output', async () => {
    const renamed: string[] = [];
    // Outputs are renamed into place, statuses linked (never replacing one); claims are not results.
    const published =
      (operation: typeof fs.promises.rename) => async (from: fs.PathLike, to: fs.PathLike) => {
        await operation(from, to);
        const relative = path.relative(t.shared, String(to));
        if (!relative.startsWith('jobs/.claims/')) renamed.push(relative);
      };
    const fileSystem = {
      ...fs.promises,
      rename: published(fs.promises.rename),
      link: published(fs.promises.link),
    };
    const t = await start({ fileSystem });
    await t.run(synthesize('job-order'));
    await t.status('job-order');
    expect(renamed).toEqual(['outputs/job-order.wav', 'jobs/job-order.json']);
  });

  it('reports job activity on the last-job-at tag, ending with the end of the last job', async () => {
    const t = await start();
    await t.run(synthesize('job-tag'));
    await t.status('job-tag');
    const tag = await eventually(() => lastJobWrites()[0]?.args[0].input);
    expect(tag).toEqual({
      Resources: ['i-0gpu'],
      Tags: [{ Key: LAST_JOB_TAG, Value: '2026-11-24T03:00:00Z' }],
    });
  });

  it('says how long a job waited in the queue and how long it ran, for the job metrics', async () => {
    const t = await start();
    await t.run(synthesize('job-timed'));
    await t.status('job-timed');
    expect(t.named('job_started')[0]).toMatchObject({
      jobId: 'job-timed',
      type: 'synthesize',
      waitMs: expect.any(Number),
    });
    expect(t.named('job_done')[0]).toEqual({
      jobId: 'job-timed',
      type: 'synthesize',
      durationMs: 0,
      output: 'outputs/job-timed.wav',
    });
  });

  it('refreshes last-job-at with its heartbeat while a long job runs, so the scaler sees it busy', async () => {
    // A minute of the worker's clock passes every real second: a 4 s answer is a 4-minute job.
    const began = Date.now();
    const clock = () => new Date(Date.parse('2026-11-24T03:00:00Z') + (Date.now() - began) * 60);
    let answered = Number.POSITIVE_INFINITY;
    const t = await start({
      heartbeatS: 1,
      clock,
      synthesis: async () => {
        const answer = await speechAfter(4000)();
        answered = Date.now();
        return answer;
      },
    });
    await t.run(synthesize('job-long'));
    await t.status('job-long', 15_000);
    const values = lastJobWrites().map((c) => c.args[0].input.Tags?.[0]?.Value ?? '');
    // Written before the answer: the start and at least two refreshes while OpenVoice worked.
    const answeredAt = Date.parse('2026-11-24T03:00:00Z') + (answered - began) * 60;
    expect(values.filter((value) => Date.parse(value) < answeredAt).length).toBeGreaterThanOrEqual(3);
    expect([...values].sort()).toEqual(values);
  }, 30_000);

  it('keeps a job whose OpenVoice call failed, pauses until OpenVoice is healthy, then retries it', async () => {
    let healthy = true;
    const t = await start({
      maxReceiveCount: 5,
      openVoice: async (route, attempt) => {
        if (route === '/health') return { status: healthy ? 200 : 503 };
        if (attempt === 1) {
          healthy = false; // the service fell over: the job stays, the worker waits
          return { status: 500, body: 'CUDA out of memory' };
        }
        return { status: 200, body: WAV };
      },
    });
    await t.run(synthesize('job-2'));
    await t.until('paused');
    await pause(1500);
    expect(t.calls('/synthesize')).toBe(1);
    expect(statusOf(t.shared, 'job-2')).toBeUndefined();
    healthy = true;
    await t.status('job-2');
    expect(t.calls('/synthesize')).toBe(2);
    expect(t.events.map(([name]) => name)).toEqual(
      expect.arrayContaining(['job_retry', 'paused', 'resumed', 'job_done']),
    );
  });

  it('records a job OpenVoice rejects as failed for good and deletes it', async () => {
    const t = await start({
      synthesis: () => ({ status: 404, body: '{"detail":"voice profile alice does not exist"}' }),
    });
    await t.run(synthesize('job-3'));
    expect(await t.status('job-3')).toMatchObject({
      state: 'failed',
      error: expect.stringContaining('voice profile alice does not exist'),
    });
  });

  it('sends a message that is not a job to the dead-letter queue, with its receive count, and goes on', async () => {
    const t = await start({ maxReceiveCount: 2 });
    await t.run('{"version": 1, "type": "synthesize"}', synthesize('job-4'));
    await t.status('job-4');
    const dead = await eventually(async () => {
      const messages = await emulator.visibleNow(t.dlqUrl);
      return messages.length > 0 ? messages : undefined;
    });
    expect(dead[0]?.Body).toBe('{"version": 1, "type": "synthesize"}');
    expect(t.named('malformed')).toEqual([
      expect.objectContaining({ error: expect.stringContaining('jobId must be'), receiveCount: 1 }),
      expect.objectContaining({ receiveCount: 2 }),
    ]);
  });

  it('extends the visibility of a long job so it is not delivered twice', async () => {
    const t = await start({ visibilityTimeoutS: 2, heartbeatS: 1, synthesis: speechAfter(4500) });
    await t.run(synthesize('job-5'));
    await eventually(() => t.calls('/synthesize') > 0);
    // Past the 2 s visibility, another receiver must still find nothing: the heartbeat hides it.
    for (const wait of [2500, 1000]) {
      await pause(wait);
      expect(await emulator.visibleNow(t.queueUrl)).toEqual([]);
    }
    await t.status('job-5', 15_000);
    await pause(1500); // a second delivery would be taken now that the slot is free
    expect(t.named('job_started')).toEqual([expect.objectContaining({ jobId: 'job-5', receiveCount: 1 })]);
    expect(t.named('job_duplicate')).toEqual([]);
    expect(t.calls('/synthesize')).toBe(1);
  }, 20_000);

  it('recognises a redelivered finished job by its status file and does not run it again', async () => {
    const t = await start();
    fs.mkdirSync(path.join(t.shared, 'jobs'), { recursive: true });
    fs.writeFileSync(
      path.join(t.shared, 'jobs', 'job-6.json'),
      JSON.stringify({ jobId: 'job-6', state: 'done' }),
    );
    await t.run(synthesize('job-6'));
    await t.until('job_duplicate');
    expect(t.calls('/synthesize')).toBe(0);
    await eventually(async () => (await counts(emulator.client(), t.queueUrl)).waiting === 0);
  });

  it('on SIGTERM hands a running job back to the queue at once: nothing is lost', async () => {
    // retryDelayS: only the drain's own reset can make the job visible within the test
    const t = await start({ retryDelayS: 30, synthesis: speechAfter(8000) });
    await t.run(synthesize('job-7'));
    await eventually(() => t.calls('/synthesize') > 0);
    await t.worker.drain('SIGTERM', 200);
    expect(t.named('drained')).toEqual([{ reason: 'SIGTERM', released: 1 }]);
    expect(await emulator.nextBody(t.queueUrl)).toMatchObject({ jobId: 'job-7' });
    expect(statusOf(t.shared, 'job-7')).toBeUndefined();
  }, 15_000);

  it('drains on a spot interruption notice polled from IMDSv2, and takes no new job', async () => {
    let notice: string | undefined = undefined;
    const t = await start({ spotNotice: () => notice, synthesis: speechAfter(8000) });
    await t.run(synthesize('job-8'));
    await eventually(() => t.calls('/synthesize') > 0);
    // Two minutes' notice as EC2 gives it; the clock says 03:00:00, so the grace is 100 s − 20 s,
    // capped at 90 s. The job would take 8 s: it finishes within the notice.
    notice = JSON.stringify({ action: 'stop', time: '2026-11-24T03:01:40Z' });
    await t.until('drained', 15_000);
    expect(t.named('draining')[0]).toMatchObject({ reason: 'spot interruption', inFlight: 1 });
    expect(statusOf(t.shared, 'job-8')).toMatchObject({ state: 'done' });
    await t.send(synthesize('job-9'));
    await pause(1500);
    expect(statusOf(t.shared, 'job-9')).toBeUndefined();
    expect((await counts(emulator.client(), t.queueUrl)).waiting).toBe(1);
  }, 25_000);
});
