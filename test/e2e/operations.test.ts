import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { AwsServer, type FakeMessage, LOG_GROUPS, awsError } from './aws-server';
import { CLI, ensureBuiltCli, expectOneLineFailure, removeScratch, withServer } from './support';

/**
 * `logs`, `smoke-test` and `dlq`, built and run as processes against the local AWS server, with
 * a fake worker and scaler that react to the jobs the CLI sends and write the lines a real worker
 * writes (docs/jobs.md, "Log lines"). Throttling and 5xx are injected on each new call.
 */
ensureBuiltCli();
afterAll(removeScratch);

/**
 * A concurrent test against its own local AWS server, the scaler stack deployed (its alarm topic
 * has no subscription yet), so that its outputs name the scaler's log group.
 */
function withOperations(...[name, body]: Parameters<typeof withServer>): void {
  withServer(name, body, (server) => (server.account.subscriptions = []));
}

const MINUTE = 60_000;

/** A time as the fleet's tags hold it: ISO 8601 to the second. */
const tagTime = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/** Writes a worker's job line, as docs/jobs.md defines it, to a stream of the GPU log group. */
function writeJobLine(
  server: AwsServer,
  stream: string,
  fields: Record<string, unknown>,
  at = Date.now(),
): void {
  const line = JSON.stringify({ level: fields.state === 'failed' ? 'error' : 'info', msg: 'job', ...fields });
  server.writeLog(LOG_GROUPS.gpu, stream, line, at);
}

/** Lines printed by `logs`: "<ISO time> <source> <stream>  <message>". */
function printed(stdout: string): Array<{ source: string; stream: string; message: string }> {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const match = /^\S+Z (\w+)\s+(\S+) {2}(.*)$/.exec(line);
      if (!match) throw new Error(`not a log line: ${line}`);
      return { source: match[1] ?? '', stream: match[2] ?? '', message: match[3] ?? '' };
    });
}

describe('gpu-manage logs', () => {
  withOperations('reads one group over the window, newest last, across pages', async (server, run) => {
    const now = Date.now();
    const openvoice = 'gpu-fleet-gpu-openvoice-1/i-0gpu';
    server.writeLog(LOG_GROUPS.gpu, 'gpu-fleet-gpu-worker-1/i-0gpu', 'too old', now - 2 * 60 * MINUTE);
    for (let i = 0; i < 7; i += 1)
      server.writeLog(LOG_GROUPS.gpu, openvoice, `line ${i}`, now - (10 - i) * MINUTE);
    server.writeLog(LOG_GROUPS.app, 'gpu-fleet-app-voicevox-1/i-0app', 'app line', now - MINUTE);
    const result = await run('logs', 'gpu', '--since', '1h');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(printed(result.stdout).map((l) => l.message)).toEqual(
      [0, 1, 2, 3, 4, 5, 6].map((i) => `line ${i}`),
    );
    expect(printed(result.stdout)[0]).toEqual({ source: 'gpu', stream: openvoice, message: 'line 0' });
    // Seven lines in pages of three: the CLI followed nextToken.
    expect(server.callsOf('logs:FilterLogEvents').length).toBe(3);
    const [first] = server.callsOf('logs:FilterLogEvents');
    expect(first?.params.logGroupName).toBe(LOG_GROUPS.gpu);
    expect(Number(first?.params.startTime)).toBeGreaterThan(now - 61 * MINUTE);
  });

  withOperations('without a source merges every group into one timeline', async (server, run) => {
    const now = Date.now();
    server.writeLog(LOG_GROUPS.scaler, '2026/12/06/[$LATEST]abc', 'tick 1', now - 3 * MINUTE);
    server.writeLog(LOG_GROUPS.gpu, 'gpu-fleet-gpu-worker-1/i-0gpu', 'worker ready', now - 2 * MINUTE);
    server.writeLog(LOG_GROUPS.app, 'gpu-fleet-app-backend-1/i-0app', 'sent job', now - 4 * MINUTE);
    const result = await run('logs');
    expect(result.code).toBe(0);
    expect(printed(result.stdout).map((l) => [l.source, l.message])).toEqual([
      ['app', 'sent job'],
      ['scaler', 'tick 1'],
      ['gpu', 'worker ready'],
    ]);
  });

  withOperations(
    'provision reads the provisioning streams of every host group, no container',
    async (server, run) => {
      const now = Date.now();
      for (const [role, ago] of [
        ['gpu', 5000],
        ['app', 6000],
      ] as const) {
        const message = `gpu-fleet-provision: provisioned (${role} host)`;
        server.writeLog(LOG_GROUPS[role], `provision/i-0${role}`, message, now - ago);
      }
      server.writeLog(LOG_GROUPS.gpu, 'gpu-fleet-gpu-worker-1/i-0gpu', 'a container line', now - 4000);
      const result = await run('logs', 'provision', '--since', '30m');
      expect(result.code).toBe(0);
      expect(printed(result.stdout).map((l) => l.stream)).toEqual(['provision/i-0app', 'provision/i-0gpu']);
      expect(server.callsOf('logs:FilterLogEvents').map((c) => c.params.logStreamNamePrefix)).toEqual([
        'provision/',
        'provision/',
      ]);
    },
  );

  withOperations("--job follows one job across the worker's and the scaler's lines", async (server, run) => {
    // Each line some minutes after the job was sent, ten minutes ago.
    const sent = Date.now() - 10 * MINUTE;
    const at = (minutes: number): number => sent + minutes * MINUTE;
    const tick = (minutes: number, message: string): void =>
      server.writeLog(LOG_GROUPS.scaler, 'tick', message, at(minutes));
    const job = (minutes: number, jobId: string, fields: Record<string, unknown>): void =>
      writeJobLine(server, 'worker/i-0gpu', { jobId, type: 'synthesize', ...fields }, at(minutes));
    tick(-1, 'before the job was sent');
    tick(1, 'start GPU: 11 jobs wait');
    job(3, 'other', { state: 'started' });
    job(4, 'msg-1', { state: 'started', waitMs: 4 * MINUTE });
    tick(5, 'GPU busy');
    job(6, 'msg-1', { state: 'done', durationMs: 120_000, output: 'outputs/msg-1.wav' });
    tick(8, 'after the job');
    const result = await run('logs', '--job', 'msg-1');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = printed(result.stdout);
    expect(lines.map((l) => l.source)).toEqual(['scaler', 'gpu', 'scaler', 'gpu']);
    expect(lines[0]?.message).toBe('start GPU: 11 jobs wait');
    expect(lines[3]?.message).toContain('"output":"outputs/msg-1.wav"');
  });

  withOperations('--job of a job without lines: one line, exit 1', async (_server, run) => {
    expect(expectOneLineFailure(await run('logs', '--job', 'never-sent'))).toMatch(
      /^No worker line of job never-sent since /,
    );
  });

  withOperations('burst logs on a fleet without burst workers: one line, exit 1', async (_server, run) => {
    expect(expectOneLineFailure(await run('logs', 'burst'))).toBe(
      'No burst workers are deployed (gpuFleet.burst.maxWorkers is 0), so there are no burst logs.',
    );
  });

  withOperations('bad usage exits 2', async (_server, run) => {
    expect((await run('logs', '--since', 'yesterday')).code).toBe(2);
    expect((await run('logs', 'everything')).code).toBe(2);
    expect((await run('logs', 'gpu', '--job', 'x')).code).toBe(2);
  });

  withOperations('throttling that lasts: one line, exit 1; one 503: retried away', async (server, run) => {
    server.writeLog(LOG_GROUPS.gpu, 'worker/i-0gpu', 'hello', Date.now() - 1000);
    server.fail('logs:FilterLogEvents', awsError('ServiceUnavailableException', 503), 1);
    const retried = await run('logs', 'gpu');
    expect(retried.code).toBe(0);
    expect(printed(retried.stdout).map((l) => l.message)).toEqual(['hello']);
    server.fail('logs:FilterLogEvents', awsError('ThrottlingException', 400));
    expect(expectOneLineFailure(await run('logs', 'gpu'))).toBe(
      'AWS is throttling requests right now: try again in a few seconds.',
    );
  });

  withOperations('an HTML 502 from CloudWatch Logs names the action', async (server, run) => {
    server.fail('logs:FilterLogEvents', { kind: 'html', status: 502 });
    expect(expectOneLineFailure(await run('logs', 'scaler'))).toMatch(
      /^AWS answered logs:FilterLogEvents with a server error \(HTTP 502\)/,
    );
  });

  withOperations('--follow prints new lines as they arrive, until interrupted', async (server, _run, env) => {
    server.writeLog(LOG_GROUPS.gpu, 'worker/i-0gpu', 'old line', Date.now() - 1000);
    const child = spawn(process.execPath, [CLI, 'logs', 'gpu', '--follow', '--interval', '0.2'], {
      cwd: path.dirname(env.AWS_CONFIG_FILE ?? ''),
      env,
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const until = async (text: string): Promise<void> => {
      const end = Date.now() + 15_000;
      while (!stdout.includes(text)) {
        if (Date.now() > end) throw new Error(`no "${text}" in: ${stdout}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    try {
      await until('old line');
      server.writeLog(LOG_GROUPS.gpu, 'worker/i-0gpu', 'new line', Date.now());
      await until('new line');
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(stdout.match(/old line/g)).toHaveLength(1);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('gpu-manage dlq', () => {
  withOperations(
    'list shows each message once: id, first receive, receive count, short body',
    async (server, run) => {
      server.addMessage(server.deadLetterQueueUrl, 'not json at all', 5 * MINUTE);
      const long = JSON.stringify({ version: 1, text: 'x'.repeat(200) });
      server.addMessage(server.deadLetterQueueUrl, long, MINUTE);
      const result = await run('dlq', 'list');
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const [header, first, second, summary] = result.stdout.split('\n');
      expect(header).toMatch(/^MESSAGE ID\s+FIRST RECEIVED\s+RECEIVES\s+BODY$/);
      expect(first).toMatch(/^m-0001\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+1\s+not json at all$/);
      expect(second).toMatch(/^m-0002 .*\{"version":1,"text":"x+…$/);
      expect(second?.length).toBeLessThan(120);
      expect(summary).toMatch(/^2 messages\. Move them back with gpu-manage dlq redrive/);
      // Receives with visibility 0: the messages stay in the queue.
      expect(server.callsOf('sqs:ReceiveMessage').every((c) => c.params.VisibilityTimeout === 0)).toBe(true);
      expect(server.deadLetterQueue.messages).toHaveLength(2);
    },
  );

  withOperations('list of an empty queue says so', async (_server, run) => {
    const result = await run('dlq', 'list');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('The dead-letter queue is empty.');
  });

  withOperations(
    'redrive moves them back with StartMessageMoveTask and reports progress',
    async (server, run) => {
      for (let i = 0; i < 5; i += 1) server.addMessage(server.deadLetterQueueUrl, `job ${i}`);
      const result = await run('dlq', 'redrive', '--max', '10', '--interval', '0.1');
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout.split('\n')).toEqual([
        'Redrive started: about 5 messages back to the job queue, at most 10 a second.',
        expect.stringMatching(/^ {2}RUNNING: 2 of 5 moved \(started /),
        expect.stringMatching(/^ {2}RUNNING: 4 of 5 moved/),
        expect.stringMatching(/^ {2}COMPLETED: 5 of 5 moved/),
      ]);
      expect(server.callsOf('sqs:StartMessageMoveTask').map((c) => c.params)).toEqual([
        {
          SourceArn: `arn:aws:sqs:ap-northeast-1:123456789012:GpuFleet-Data-DeadLetterQueue`,
          MaxNumberOfMessagesPerSecond: 10,
        },
      ]);
      expect(server.jobQueue.messages.map((m) => m.body)).toEqual([0, 1, 2, 3, 4].map((i) => `job ${i}`));
    },
  );

  withOperations('redrive while a task runs follows that task', async (server, run) => {
    for (let i = 0; i < 3; i += 1) server.addMessage(server.deadLetterQueueUrl, `job ${i}`);
    server.moveTasks.push({ status: 'RUNNING', moved: 0, toMove: 3, startedAt: Date.now() });
    const result = await run('dlq', 'redrive', '--interval', '0.1');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('A redrive of the dead-letter queue is already running; following it.');
    expect(result.stdout).toMatch(/COMPLETED: 3 of 3 moved/);
  });

  withOperations('StartMessageMoveTask answering 500: one line, exit 1', async (server, run) => {
    server.addMessage(server.deadLetterQueueUrl, 'job');
    server.fail('sqs:StartMessageMoveTask', awsError('InternalError', 500));
    expect(expectOneLineFailure(await run('dlq', 'redrive'))).toMatch(
      /^AWS answered sqs:StartMessageMoveTask with a server error \(HTTP 500/,
    );
  });

  withOperations('redrive of an empty queue does nothing', async (server, run) => {
    const result = await run('dlq', 'redrive');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('The dead-letter queue is empty; nothing to redrive.');
    expect(server.callsOf('sqs:StartMessageMoveTask')).toEqual([]);
  });

  withOperations('purge needs --yes (exit 2), then empties the queue', async (server, run) => {
    server.addMessage(server.deadLetterQueueUrl, 'junk');
    const refused = await run('dlq', 'purge');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('add --yes to confirm');
    expect(server.callsOf('sqs:PurgeQueue')).toEqual([]);
    const purged = await run('dlq', 'purge', '--yes');
    expect(purged.code).toBe(0);
    expect(purged.stdout).toMatch(/^Purged the dead-letter queue \(about 1 message\)/);
    expect(server.deadLetterQueue.messages).toEqual([]);
    expect(server.callsOf('sqs:PurgeQueue').map((c) => c.params.QueueUrl)).toEqual([
      server.deadLetterQueueUrl,
    ]);
  });

  withOperations('a second purge within a minute: one line, exit 1', async (server, run) => {
    server.fail('sqs:PurgeQueue', awsError('AWS.SimpleQueueService.PurgeQueueInProgress', 403));
    expect(expectOneLineFailure(await run('dlq', 'purge', '--yes'))).toBe(
      'SQS allows one purge of a queue every 60 seconds, and one ran less than a minute ago: try again in a minute.',
    );
  });

  withOperations('SQS throttling on list: one line, exit 1', async (server, run) => {
    server.addMessage(server.deadLetterQueueUrl, 'junk');
    server.fail('sqs:ReceiveMessage', awsError('RequestThrottled', 400));
    expect(expectOneLineFailure(await run('dlq', 'list'))).toBe(
      'AWS is throttling requests right now: try again in a few seconds.',
    );
  });
});

/**
 * A scaler and a worker in miniature: the hold makes the scaler start the GPU, the worker reports
 * ready and runs each job it is sent, writing its job lines.
 */
function fakeFleet(
  server: AwsServer,
  behaviour: { ready?: boolean; outcome?: (job: Record<string, unknown>) => Record<string, unknown> } = {},
): void {
  server.onSend = (url: string, message: FakeMessage) => {
    if (url !== server.jobQueueUrl) return;
    const job = JSON.parse(message.body) as Record<string, unknown>;
    const gpu = server.gpu;
    if (gpu.state === 'stopped' && gpu.tags['gpu-fleet:hold-until']) {
      gpu.state = 'pending';
      gpu.launchTime = new Date();
    }
    server.writeLog(LOG_GROUPS.gpu, 'provision/i-0gpu', 'gpu-fleet-provision: installing host files');
    setTimeout(() => {
      if (behaviour.ready === false) {
        server.writeLog(LOG_GROUPS.gpu, 'gpu-fleet-gpu-models-1/i-0gpu', 'model pin missing: wavmark');
        return;
      }
      gpu.tags['gpu-fleet:ready-at'] = tagTime(Date.now());
      const base = { jobId: job.jobId, type: job.type };
      writeJobLine(server, 'gpu-fleet-gpu-worker-1/i-0gpu', { ...base, state: 'started', waitMs: 900 });
      setTimeout(() => {
        const outcome = behaviour.outcome?.(job) ?? {
          state: 'done',
          durationMs: 1500,
          ...(job.type === 'synthesize' && { output: `outputs/${String(job.jobId)}.wav` }),
        };
        writeJobLine(server, 'gpu-fleet-gpu-worker-1/i-0gpu', { ...base, ...outcome });
      }, 200);
    }, 1200);
  };
}

describe('gpu-manage smoke-test', () => {
  withOperations(
    'follows a synthesize job from queued to its output, then removes its hold',
    async (server, run) => {
      fakeFleet(server);
      const result = await run('smoke-test', '--interval', '0.2', '--timeout', '15');
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      // "  <time>Z  <seconds>s  <stage>[: detail]" → the stage.
      const stages = result.stdout
        .split('\n')
        .flatMap((l) => /^ {2}\d\d:\d\d:\d\dZ +\d+s {2}([^:]*)/.exec(l)?.[1] ?? []);
      expect(stages).toEqual([
        'queued',
        'GPU start requested',
        'instance running',
        'worker ready',
        'job started',
        'job done',
      ]);
      const sent = server.jobQueue.messages.map((m) => JSON.parse(m.body) as Record<string, unknown>);
      expect(sent).toEqual([
        expect.objectContaining({ version: 1, type: 'synthesize', voiceId: 'smoke-test', language: 'EN' }),
      ]);
      expect(String(sent[0]?.jobId)).toMatch(/^smoke-\d{14}-\w{4}$/);
      expect(result.stdout).toContain(`job done: outputs/${String(sent[0]?.jobId)}.wav in 1500 ms`);
      expect(result.stdout).toMatch(/Smoke test passed in \d+s\./);
      // The hold was written for the test and is gone after it.
      const holds = server
        .callsOf('ec2:CreateTags')
        .map((c) => c.params['Tag.1.Value'])
        .filter((v) => v !== undefined);
      expect(holds).toEqual([expect.stringMatching(/^\d{4}-.*Z$/), '']);
      expect(server.gpu.tags['gpu-fleet:hold-until']).toBe('');
    },
  );

  withOperations(
    'with --clone, clones first and synthesizes with that voice once the clone is done',
    async (server, run) => {
      fakeFleet(server);
      const result = await run(
        ...'smoke-test --clone uploads/smoke.wav --voice smoke-alice --interval 0.2 --timeout 15'.split(' '),
      );
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const sent = server.jobQueue.messages.map((m) => JSON.parse(m.body) as Record<string, unknown>);
      expect(sent).toEqual([
        expect.objectContaining({
          type: 'clone-voice',
          voiceId: 'smoke-alice',
          referencePath: 'uploads/smoke.wav',
        }),
        expect.objectContaining({ type: 'synthesize', voiceId: 'smoke-alice' }),
      ]);
      expect(result.stdout.indexOf('clone done')).toBeLessThan(result.stdout.indexOf('job started'));
    },
  );

  withOperations(
    'a GPU that never becomes ready: names the stage, shows the last lines, exit 1, hold removed',
    async (server, run) => {
      fakeFleet(server, { ready: false });
      const result = await run('smoke-test', '--interval', '0.2', '--timeout', '4');
      expect(result.code).toBe(1);
      const [first, ...rest] = result.stderr.split('\n');
      expect(first).toMatch(/^Smoke test failed: worker ready did not happen within 4s \(after \ds\)\.$/);
      expect(rest.join('\n')).toContain('provision/i-0gpu  gpu-fleet-provision: installing host files');
      expect(rest.join('\n')).toContain('gpu-fleet-gpu-models-1/i-0gpu  model pin missing: wavmark');
      expect(result.stdout).toContain('instance running');
      expect(result.stdout).not.toContain('worker ready');
      expect(result.stdout).toContain('Smoke test hold removed.');
      expect(server.gpu.tags['gpu-fleet:hold-until']).toBe('');
    },
  );

  withOperations(
    'a job that fails: the stage, the reason and the job’s lines, exit 1',
    async (server, run) => {
      fakeFleet(server, {
        outcome: () => ({ state: 'failed', durationMs: 20, error: 'voice smoke-test does not exist' }),
      });
      const result = await run('smoke-test', '--interval', '0.2', '--timeout', '15');
      expect(result.code).toBe(1);
      expect(result.stderr.split('\n')[0]).toMatch(
        /^Smoke test failed: job done did not happen: the job failed: voice smoke-test does not exist/,
      );
      expect(result.stderr).toContain('Lines of the job:');
    },
  );

  withOperations('keeps an operator’s longer hold on a running GPU: writes no tag', async (server, run) => {
    fakeFleet(server);
    const operatorHold = tagTime(Date.now() + 3 * 60 * MINUTE);
    server.gpu.tags['gpu-fleet:hold-until'] = operatorHold;
    server.gpu.state = 'running';
    server.gpu.tags['gpu-fleet:ready-at'] = new Date(Date.now() + 1000).toISOString();
    const result = await run('smoke-test', '--interval', '0.2', '--timeout', '15');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('GPU start requested: it was already running');
    expect(server.gpu.tags['gpu-fleet:hold-until']).toBe(operatorHold);
    expect(server.callsOf('ec2:CreateTags')).toEqual([]);
  });

  withOperations(
    'a worker that turns ready and runs the job between two looks: ready is still printed first',
    async (server, run) => {
      server.gpu.state = 'running';
      let jobId = '';
      server.onSend = (_url, message) => {
        jobId = String((JSON.parse(message.body) as { jobId: string }).jobId);
      };
      // The worker reports ready and runs the job just before the test reads the logs.
      server.onAction = (action) => {
        if (action !== 'logs:FilterLogEvents' || !jobId || server.gpu.tags['gpu-fleet:ready-at']) return;
        server.gpu.tags['gpu-fleet:ready-at'] = tagTime(Date.now() + 1000);
        const base = { jobId, type: 'synthesize' };
        writeJobLine(server, 'worker/i-0gpu', { ...base, state: 'started', waitMs: 10 });
        writeJobLine(server, 'worker/i-0gpu', { ...base, state: 'done', durationMs: 5, output: 'o.wav' });
      };
      const result = await run('smoke-test', '--interval', '0.2', '--timeout', '15');
      expect(result.code).toBe(0);
      const at = (stage: string): number => result.stdout.indexOf(`  ${stage}`);
      expect(at('worker ready')).toBeGreaterThan(0);
      expect(at('worker ready')).toBeLessThan(at('job started'));
    },
  );

  withOperations('lifts an operator pause for the test and puts it back after', async (server, run) => {
    fakeFleet(server);
    const pause = tagTime(Date.now() + 5 * 60 * MINUTE);
    server.gpu.tags['gpu-fleet:paused-until'] = pause;
    const result = await run('smoke-test', '--interval', '0.2', '--timeout', '15');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('The operator pause of automatic GPU starts is lifted for the test');
    const written = server.callsOf('ec2:CreateTags').map((c) => {
      const tags: Record<string, unknown> = {};
      for (let n = 1; c.params[`Tag.${n}.Key`] !== undefined; n += 1)
        tags[String(c.params[`Tag.${n}.Key`])] = c.params[`Tag.${n}.Value`] ?? '';
      return tags;
    });
    expect(written[0]).toEqual({
      'gpu-fleet:hold-until': expect.stringMatching(/Z$/),
      'gpu-fleet:paused-until': '',
    });
    expect(server.gpu.tags['gpu-fleet:paused-until']).toBe(pause);
    expect(server.gpu.tags['gpu-fleet:hold-until']).toBe('');
  });

  withOperations(
    'SendMessage failing with a 5xx: one line, exit 1, the hold removed',
    async (server, run) => {
      server.fail('sqs:SendMessage', { kind: 'html', status: 503 });
      expect(expectOneLineFailure(await run('smoke-test', '--interval', '0.2', '--timeout', '5'))).toMatch(
        /^AWS answered sqs:SendMessage with a server error \(HTTP 503\)/,
      );
      expect(server.gpu.tags['gpu-fleet:hold-until']).toBe('');
    },
  );

  withOperations('bad usage exits 2 before any AWS call', async (server, run) => {
    expect((await run('smoke-test', '--clone', '/etc/passwd')).code).toBe(2);
    expect((await run('smoke-test', '--voice', 'Bad Voice')).code).toBe(2);
    expect(server.calls).toEqual([]);
  });
});

describe('the dashboard', () => {
  withOperations('status prints its URL (and --json has it)', async (_server, run) => {
    const url =
      'https://ap-northeast-1.console.aws.amazon.com/cloudwatch/home?region=ap-northeast-1#dashboards/dashboard/GpuFleet-operations';
    const text = await run('status');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`DASHBOARD  ${url}`);
    const json = await run('status', '--json');
    expect((JSON.parse(json.stdout) as { dashboard: string }).dashboard).toBe(url);
  });
});

describe('the cost of operating it', () => {
  withOperations('gpu-manage cost prices the dashboard and the logs (--logs-gb)', async (server, run) => {
    const result = await run('cost', '--logs-gb', '5');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/CloudWatch dashboard\s+1 dashboards × 3\s+3\.00/);
    expect(result.stdout).toMatch(/CloudWatch Logs ingestion\s+5 GB × 0\.76\s+3\.80/);
    expect(result.stdout).toContain('logs: 5 GB a month written to CloudWatch Logs, kept 30 days');
    expect(server.calls).toEqual([]);
  });
});
