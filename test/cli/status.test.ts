import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import {
  DLQ,
  JOB_QUEUE,
  appInstance,
  givenDeployedStacks,
  givenInstances,
  gpuInstance,
  resetMocks,
  run,
  statusJson,
  sqsMock,
} from './support';

beforeEach(resetMocks);

const scalerTags = {
  'gpu-fleet:last-action': 'stop',
  'gpu-fleet:last-action-at': '2026-11-24T02:12:00Z',
  'gpu-fleet:last-reason': 'stop: idle for 5m >= 5m since ready',
  'gpu-fleet:pending-since': '2026-11-24T02:55:00Z',
  'gpu-fleet:hold-until': '2026-11-24T01:00:00Z',
  'gpu-fleet:last-error': 'InsufficientCapacity',
  'gpu-fleet:error-since': '2026-11-24T02:58:00Z',
  'gpu-fleet:retry-at': '2026-11-24T03:02:00Z',
  'gpu-fleet:ready-at': '2026-11-24T01:05:10Z',
};

describe('status', () => {
  beforeEach(() => {
    givenInstances(appInstance(), gpuInstance({}, scalerTags));
    givenDeployedStacks();
  });

  it('shows instances, queues, file system, the scaler memory and the cost now', async () => {
    const result = await run('status');
    expect(result.code).toBe(0);
    expect(result.err).toBe('');
    expect(result.out).toMatchSnapshot();
    expect(result.out).toContain('COST NOW  0.10 USD/h (app 0.10)');
    expect(result.out).toContain("WARNING: The GPU's spot request ends in 15 days");
    expect(result.out).toContain(
      'WARNING: 2 jobs are in the dead-letter queue: gpu-manage dlq list shows them, dlq redrive moves them back.',
    );
    expect(result.out).toContain('last reason    stop: idle for 5m >= 5m since ready');
    expect(result.out).toContain('hold until     —');
    expect(sqsMock).toHaveReceivedCommandWith(GetQueueAttributesCommand, { QueueUrl: JOB_QUEUE });
    expect(sqsMock).toHaveReceivedCommandWith(GetQueueAttributesCommand, { QueueUrl: DLQ });
  });

  it("shows no launch-to-ready while the worker's ready tag is from an earlier start", async () => {
    // Started again at 02:55 and not ready yet: the 01:05 ready tag belongs to the previous start.
    givenInstances(
      appInstance(),
      gpuInstance({ State: { Name: 'pending' }, LaunchTime: new Date('2026-11-24T02:55:00Z') }, scalerTags),
    );
    const report = await statusJson();
    expect(report.workers[0]).toMatchObject({ role: 'gpu', launchToReadySeconds: null });
  });

  it('prints the same data as JSON for scripts', async () => {
    const result = await run('status', '--json');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.out) as Record<string, unknown>;
    expect(report).toMatchSnapshot();
    expect(report).toMatchObject({
      fleet: 'GpuFleet',
      region: 'ap-northeast-1',
      queue: { waiting: 4, inFlight: 1, delayed: 0 },
      deadLetterQueue: { waiting: 2 },
      fileSystem: { id: 'fs-0shared', state: 'available', sizeBytes: 3221225472 },
      costUsdPerHour: { total: 0.1, items: { app: 0.1 } },
    });
  });

  it('prices a running spot GPU at the spot price', async () => {
    givenInstances(appInstance(), gpuInstance({ State: { Name: 'running' } }, scalerTags));
    const report = await statusJson();
    expect(report.costUsdPerHour).toEqual({ total: 0.31, items: { app: 0.1, 'gpu (spot)': 0.21 } });
  });

  it('reads a worker time from the future as absent, the same way the scaler does', async () => {
    const future = { ...scalerTags, 'gpu-fleet:last-job-at': '2099-01-01T00:00:00Z' };
    givenInstances(appInstance(), gpuInstance({ State: { Name: 'running' } }, future));
    const report = await statusJson();
    expect(report.scaler.lastJobAt ?? null).toBeNull();
    expect(report.scaler.idleSince).toBe('2026-11-24T01:05:10Z');
    expect(report.workers[0]?.lastJobAt ?? null).toBeNull();
  });
});
