import { CreateTagsCommand } from '@aws-sdk/client-ec2';
import { DRAINED_TAG } from '../../docker/worker/src/worker';
import { LAST_JOB_TAG } from '../../docker/worker/src/activity';
import { TAGS } from '../../src/core/tags';
import {
  autoScalingMock,
  ec2Mock,
  pause,
  speechAfter,
  statusOf,
  synthesize,
  useSqsEmulator,
} from './fixture';
import { eventually } from './harness';

const emulator = useSqsEmulator();
const { start } = emulator;

/** The tags the worker wrote on instances, in order: [instance, key, value]. */
const tagWrites = () =>
  ec2Mock
    .commandCalls(CreateTagsCommand)
    .flatMap(({ args: [{ input }] }) =>
      (input.Tags ?? []).map((tag): [string, string, string] => [
        input.Resources?.join(',') ?? '',
        tag.Key ?? '',
        tag.Value ?? '',
      ]),
    );

/**
 * A burst worker retired by its group drains, then says so with a tag on its own instance; the
 * scaler completes the group's drain hook for it. The worker itself has no Auto Scaling call to
 * make: a grant to complete lifecycle actions would let it end any worker's drain.
 */
describe('a burst worker scaled in by its group', () => {
  const scaleIn = { groupName: 'GpuFleet-burst-workers' };
  /** Retired by its group while OpenVoice never turned healthy. */
  const retiredWhileBooting = {
    scaleIn,
    targetLifecycleState: () => 'Terminated',
    openVoice: async () => ({ status: 503 }),
  };

  it('the drained tag key is the one the scaler reads', () => {
    expect(DRAINED_TAG).toBe(TAGS.drainedAt);
  });

  it('drains on target-lifecycle-state Terminated, lets the running job finish, then tags its own instance drained', async () => {
    let state: string | undefined = 'InService';
    const t = await start({
      targetLifecycleState: () => state,
      scaleIn,
      // Each job start and end is written at once, so the drain's flush has something to write.
      activityIntervalMs: 0,
      synthesis: speechAfter(1500),
    });
    await t.run(synthesize('job-b1'));
    await eventually(() => t.calls('/synthesize') > 0);
    await pause(200);
    // InService: nothing happens.
    expect(t.named('scale_in')).toEqual([]);
    expect(tagWrites().filter(([, key]) => key === DRAINED_TAG)).toEqual([]);
    state = 'Terminated';
    await t.until('drained_tagged', 10_000);
    expect(t.named('scale_in')).toEqual([{ instanceId: 'i-0gpu', groupName: 'GpuFleet-burst-workers' }]);
    expect(t.named('draining')[0]).toMatchObject({ reason: 'scale-in', inFlight: 1 });
    expect(statusOf(t.shared, 'job-b1')).toMatchObject({ state: 'done' });
    // The tag follows the drain: the job's result and its last-job tag were written first.
    const order = t.events.map(([name]) => name).filter((n) => ['drained', 'drained_tagged'].includes(n));
    expect(order).toEqual(['drained', 'drained_tagged']);
    expect(t.named('drained_tagged')).toEqual([{ instanceId: 'i-0gpu', drainedAt: '2026-11-24T03:00:00Z' }]);
    const writes = tagWrites();
    expect(writes.at(-1)).toEqual(['i-0gpu', 'gpu-fleet:drained-at', '2026-11-24T03:00:00Z']);
    expect(writes.filter(([, key]) => key === DRAINED_TAG)).toHaveLength(1);
    expect(writes.some(([, key]) => key === LAST_JOB_TAG)).toBe(true);
    // Its own instance only, and no lifecycle action of its own.
    expect(writes.every(([instance]) => instance === 'i-0gpu')).toBe(true);
    expect(autoScalingMock.calls()).toHaveLength(0);
    await t.send(synthesize('job-b2'));
    await pause(800);
    expect(statusOf(t.shared, 'job-b2')).toBeUndefined();
  }, 20_000);

  it('hands a job that outlasts the grace back to the queue before it tags itself drained', async () => {
    let state: string | undefined = undefined;
    const t = await start({
      targetLifecycleState: () => state,
      scaleIn: { ...scaleIn, graceMs: 300 },
      synthesis: speechAfter(5000),
    });
    await t.run(synthesize('job-b3'));
    await eventually(() => t.calls('/synthesize') > 0);
    state = 'Terminated';
    await t.until('drained_tagged', 10_000);
    expect(t.named('drained')).toEqual([{ reason: 'scale-in', released: 1 }]);
    expect(await emulator.nextBody(t.queueUrl)).toMatchObject({ jobId: 'job-b3' });
    expect(statusOf(t.shared, 'job-b3')).toBeUndefined();
    expect(autoScalingMock.calls()).toHaveLength(0);
  }, 20_000);

  it('retired while still booting (OpenVoice never healthy): tags itself drained at once, never consumes', async () => {
    const t = await start(retiredWhileBooting);
    const started = t.worker.start();
    await t.until('drained_tagged', 5_000);
    await started;
    expect(t.named('ready')).toEqual([]);
    expect(tagWrites()).toEqual([['i-0gpu', 'gpu-fleet:drained-at', '2026-11-24T03:00:00Z']]);
    expect(autoScalingMock.calls()).toHaveLength(0);
    await t.send(synthesize('job-b4'));
    await pause(400);
    expect(statusOf(t.shared, 'job-b4')).toBeUndefined();
  }, 10_000);

  it('never drains the primary, which is in no group (IMDS answers 404)', async () => {
    const t = await start({ scaleIn });
    await t.run();
    await pause(400);
    expect(t.named('scale_in')).toEqual([]);
    expect(t.named('draining')).toEqual([]);
    expect(tagWrites().filter(([, key]) => key === DRAINED_TAG)).toEqual([]);
  }, 10_000);

  it('a spot notice drains without the drained tag: that path ends with EC2, not the hook', async () => {
    const t = await start({
      scaleIn,
      spotNotice: () => JSON.stringify({ action: 'terminate', time: '2026-11-24T03:02:00Z' }),
    });
    await t.run();
    await t.until('drained', 5_000);
    await pause(300);
    expect(t.named('drained')).toEqual([{ reason: 'spot interruption', released: 0 }]);
    expect(t.named('drained_tagged')).toEqual([]);
    expect(tagWrites().filter(([, key]) => key === DRAINED_TAG)).toEqual([]);
  }, 10_000);

  it('reports a failed tag write as an error and stays drained (the hook times out to CONTINUE)', async () => {
    const t = await start(retiredWhileBooting);
    ec2Mock.on(CreateTagsCommand).rejects(new Error('UnauthorizedOperation'));
    const started = t.worker.start();
    await eventually(() => t.errors.length > 0, 5_000);
    await started;
    expect(t.named('drained')).toHaveLength(1);
    expect(t.named('drained_tagged')).toEqual([]);
    expect((t.errors[0] as Error).message).toBe('UnauthorizedOperation');
    expect(ec2Mock.commandCalls(CreateTagsCommand)).toHaveLength(1);
    expect(autoScalingMock.calls()).toHaveLength(0);
  }, 10_000);
});
