import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { ActivityTag, LAST_JOB_TAG } from '../../docker/worker/src/activity';
import { readConfig } from '../../docker/worker/src/config';
import { parseJob } from '../../docker/worker/src/job';
import { ResultStore } from '../../docker/worker/src/store';
import { tempSharedDir } from './harness';

describe('parseJob: what is a job, what is an invalid job, what is not a job', () => {
  const base = { version: 1, jobId: 'j-1', type: 'synthesize', voiceId: 'alice', text: 'hi', language: 'EN' };

  it('accepts both job types', () => {
    expect(parseJob(JSON.stringify(base))).toEqual({ job: base });
    const cloneJob = {
      version: 1,
      jobId: 'c-1',
      type: 'clone-voice',
      voiceId: 'a',
      referencePath: 'uploads/x/a.wav',
    };
    expect(parseJob(JSON.stringify(cloneJob))).toEqual({ job: cloneJob });
  });

  it.each([
    ['not JSON', 'not json', 'the message body is not JSON'],
    ['an array', '[1]', 'the message body is not a JSON object'],
    ['no jobId', JSON.stringify({ version: 1 }), 'jobId must be'],
    ['a jobId with a slash', JSON.stringify({ ...base, jobId: '../x' }), 'jobId must be'],
  ])('a message without a usable jobId is not a job (%s)', (_, body, error) => {
    expect(parseJob(body)).toEqual({ malformed: expect.stringContaining(error) });
  });

  it.each([
    ['text of 2001 characters', { text: 'x'.repeat(2001) }, 'text must be'],
    ['language DE', { language: 'DE' }, 'language must be one of EN, JP, ZH, ES, FR, KR'],
    ['speed NaN-like', { speed: 'fast' }, 'speed must be'],
    ['version 2', { version: 2 }, 'version 2 is not supported'],
    ['unknown type', { type: 'sing' }, 'type "sing" is not one of'],
    ['bad voiceId', { voiceId: 'Alice' }, 'voiceId must be'],
    ['NUL in referencePath', { type: 'clone-voice', referencePath: 'uploads/a\u0000.wav' }, 'referencePath'],
    ['hidden segment', { type: 'clone-voice', referencePath: 'uploads/.ssh/key' }, 'referencePath'],
    ['outside uploads', { type: 'clone-voice', referencePath: 'voices/alice/se.pth' }, 'referencePath'],
    ['empty segment', { type: 'clone-voice', referencePath: 'uploads//a.wav' }, 'referencePath'],
  ])('a valid jobId with %s is an invalid job that gets a failed status', (_, change, error) => {
    const parsed = parseJob(JSON.stringify({ ...base, ...change }));
    expect(parsed).toEqual({
      invalid: expect.stringContaining(error),
      jobId: 'j-1',
      type: expect.any(String),
    });
  });
});

describe('ResultStore', () => {
  it('never writes in place: a hard link to the old file keeps the old content', async () => {
    const shared = tempSharedDir();
    const store = new ResultStore(shared);
    fs.mkdirSync(path.join(shared, 'outputs'));
    const witness = path.join(shared, 'witness');
    fs.writeFileSync(witness, 'old');
    fs.linkSync(witness, path.join(shared, 'outputs', 'a.wav'));
    await store.writeAtomically('outputs/a.wav', 'new');
    expect(fs.readFileSync(witness, 'utf8')).toBe('old');
    expect(fs.readFileSync(path.join(shared, 'outputs', 'a.wav'), 'utf8')).toBe('new');
    expect(fs.readdirSync(path.join(shared, 'outputs'))).toEqual(['a.wav']);
  });

  it('opens a regular reference and reports its size; refuses a symlinked folder on the way', async () => {
    const shared = tempSharedDir();
    const store = new ResultStore(shared);
    fs.mkdirSync(path.join(shared, 'uploads', 'team'), { recursive: true });
    fs.writeFileSync(path.join(shared, 'uploads', 'team', 'a.wav'), 'RIFF1234');
    const opened = await store.openReference('uploads/team/a.wav', 100);
    expect({ size: opened.size, name: opened.name }).toEqual({ size: 8, name: 'a.wav' });
    await opened.handle.close();
    fs.symlinkSync(path.join(shared, 'uploads', 'team'), path.join(shared, 'uploads', 'alias'));
    await expect(store.openReference('uploads/alias/a.wav', 100)).rejects.toThrow('symbolic link');
    fs.writeFileSync(path.join(shared, 'uploads', 'empty.wav'), '');
    await expect(store.openReference('uploads/empty.wav', 100)).rejects.toThrow('is empty');
  });
});

describe('ActivityTag: the last-job-at tag (coalesced, trailing write, failures retried)', () => {
  const ec2Mock = mockClient(EC2Client);
  const values = () =>
    ec2Mock.commandCalls(CreateTagsCommand).map((call) => {
      expect(call.args[0].input.Resources).toEqual(['i-0gpu']);
      expect(call.args[0].input.Tags?.[0]?.Key).toBe(LAST_JOB_TAG);
      return call.args[0].input.Tags?.[0]?.Value;
    });
  const flushPromises = async () => {
    for (let i = 0; i < 5; i += 1) await Promise.resolve();
  };

  beforeEach(() => {
    ec2Mock.reset();
    jest.useFakeTimers({ now: new Date('2026-11-24T10:00:00.000Z') });
  });
  afterEach(() => jest.useRealTimers());

  function tag(errors: unknown[] = []) {
    return new ActivityTag({
      ec2: new EC2Client({ region: 'ap-northeast-1' }),
      instanceId: 'i-0gpu',
      clock: () => new Date(),
      onError: (error) => errors.push(error),
    });
  }

  it('writes at once, then at most once per 30 s, and always ends with the last job end', async () => {
    ec2Mock.on(CreateTagsCommand).resolves({});
    const activity = tag();
    activity.record(); // job 1 starts at 10:00:00
    await jest.advanceTimersByTimeAsync(0);
    expect(values()).toEqual(['2026-11-24T10:00:00Z']);
    for (let job = 0; job < 4; job += 1) {
      await jest.advanceTimersByTimeAsync(5000);
      activity.record(); // short jobs start and end every 5 s, the last end at 10:00:20
    }
    await jest.advanceTimersByTimeAsync(9000); // 10:00:29: still inside the interval
    expect(values()).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1000); // 10:00:30: the trailing write, the last end at 10:00:20
    await flushPromises();
    expect(values()).toEqual(['2026-11-24T10:00:00Z', '2026-11-24T10:00:20Z']);
    await jest.advanceTimersByTimeAsync(120_000);
    expect(values()).toHaveLength(2); // nothing new: no more writes
  });

  it('never waits for EC2 and retries a failed write with the next one', async () => {
    const errors: unknown[] = [];
    ec2Mock
      .on(CreateTagsCommand)
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'RequestLimitExceeded' }))
      .resolves({});
    const activity = tag(errors);
    activity.record(); // returns at once: the job is not delayed
    await jest.advanceTimersByTimeAsync(0);
    expect(errors).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(29_000);
    expect(values()).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1000);
    await flushPromises();
    expect(values()).toEqual(['2026-11-24T10:00:00Z', '2026-11-24T10:00:00Z']);
  });

  it('flush writes what is pending at once (the worker is about to exit)', async () => {
    ec2Mock.on(CreateTagsCommand).resolves({});
    const activity = tag();
    activity.record();
    await jest.advanceTimersByTimeAsync(0);
    await jest.advanceTimersByTimeAsync(3000);
    activity.record();
    await activity.flush();
    expect(values()).toEqual(['2026-11-24T10:00:00Z', '2026-11-24T10:00:03Z']);
  });
});

describe('readConfig', () => {
  const env = {
    JOB_QUEUE_URL: 'https://sqs.ap-northeast-1.amazonaws.com/1/jobs',
    OPENVOICE_API_TOKEN: 't'.repeat(32),
  };

  it('reads the defaults', () => {
    expect(readConfig(env)).toMatchObject({
      slots: 1,
      maxReceiveCount: 5,
      requestTimeoutMs: 900_000,
      stopGraceMs: 90_000,
    });
  });

  it('refuses to start without the OpenVoice token, or with a short one, and names every problem', () => {
    expect(() => readConfig({ ...env, OPENVOICE_API_TOKEN: 'short', GPU_SLOTS: '0' })).toThrow(
      /OPENVOICE_API_TOKEN must be set.*; GPU_SLOTS must be a whole number of at least 1/,
    );
    expect(() => readConfig({ JOB_QUEUE_URL: env.JOB_QUEUE_URL })).toThrow('OPENVOICE_API_TOKEN');
  });

  it('reads the token from its compose secret file, and names the file it cannot read', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worker-token-'));
    const file = path.join(dir, 'openvoice_api_token');
    fs.writeFileSync(file, `${'f'.repeat(40)}\n`);
    const { OPENVOICE_API_TOKEN: _unused, ...withoutVariable } = env;
    const fromFile = (tokenFile: string) =>
      readConfig({ ...withoutVariable, OPENVOICE_API_TOKEN_FILE: tokenFile });
    expect(fromFile(file).openVoiceToken).toBe('f'.repeat(40));
    expect(() => fromFile(path.join(dir, 'none'))).toThrow(/OPENVOICE_API_TOKEN_FILE .*none cannot be read/);
  });

  it('watches for scale-in only when the burst group is named (compose passes empty values on the primary)', () => {
    expect(readConfig(env).scaleIn).toBeUndefined();
    expect(readConfig({ ...env, BURST_GROUP_NAME: '' }).scaleIn).toBeUndefined();
    // The group's name only: the scaler, not the worker, completes the group's drain hook.
    expect(readConfig({ ...env, BURST_GROUP_NAME: 'GpuFleet-burst-workers' }).scaleIn).toEqual({
      groupName: 'GpuFleet-burst-workers',
    });
  });
});
