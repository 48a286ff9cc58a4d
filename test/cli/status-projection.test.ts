import { FleetError } from '../../src/aws/errors';
import type { BurstWorkerInfo, InstanceInfo } from '../../src/aws/ports';
import { type StatusSources, projectStatus, renderStatus } from '../../src/cli/status';
import { DEFAULT_CONFIG } from '../../src/config';

const now = new Date('2026-11-24T03:00:00Z');

function instance(role: 'app' | 'gpu', overrides: Partial<InstanceInfo> = {}): InstanceInfo {
  return {
    instanceId: `i-${role}`,
    role,
    instanceType: role === 'gpu' ? 'g4dn.xlarge' : 't3.large',
    state: 'running',
    launchTime: new Date('2026-11-24T02:00:00Z'),
    lifecycle: role === 'gpu' ? 'spot' : 'on-demand',
    tags: {},
    ...overrides,
  };
}

const burstWorker: BurstWorkerInfo = {
  instanceId: 'i-burst-1',
  instanceType: 'g5.xlarge',
  market: 'spot',
  availabilityZone: 'ap-northeast-1c',
  lifecycleState: 'InService',
  launchTime: new Date('2026-11-24T02:50:00Z'),
  tags: { 'gpu-fleet:ready-at': '2026-11-24T02:56:00Z', 'gpu-fleet:last-job-at': '2026-11-24T02:58:30Z' },
};

function sources(overrides: Partial<StatusSources> = {}): StatusSources {
  return {
    region: 'ap-northeast-1',
    instances: {
      app: instance('app'),
      gpu: instance('gpu', {
        spotInstanceRequestId: 'sir-1',
        tags: {
          'gpu-fleet:ready-at': '2026-11-24T02:03:00Z',
          'gpu-fleet:last-job-at': '2026-11-24T02:40:00Z',
        },
      }),
    },
    queue: { waiting: 3, inFlight: 1, delayed: 0 },
    deadLetterQueue: { waiting: 0, inFlight: 0, delayed: 0 },
    fileSystem: { fileSystemId: 'fs-1', state: 'available', sizeBytes: 1024 },
    spot: { requestId: 'sir-1', state: 'active', validUntil: new Date('2027-11-24T00:00:00Z') },
    burst: {
      desired: 1,
      max: 3,
      onDemand: false,
      lastLaunchFailure: undefined,
      workers: [burstWorker],
    },
    ...overrides,
  };
}

const fleet = { prefix: 'GpuFleet', config: DEFAULT_CONFIG };

describe('the status report projected from what was read', () => {
  it('reads the primary and a burst worker from their tags the same way', () => {
    const report = projectStatus(sources(), fleet, now);
    expect(report.workers).toEqual([
      expect.objectContaining({
        role: 'gpu',
        readyAt: '2026-11-24T02:03:00Z',
        launchToReadySeconds: 180,
        lastJobAt: '2026-11-24T02:40:00Z',
      }),
      expect.objectContaining({
        role: 'burst',
        readyAt: '2026-11-24T02:56:00Z',
        launchToReadySeconds: 360,
        lastJobAt: '2026-11-24T02:58:30Z',
        since: '2026-11-24T02:50:00Z',
      }),
    ]);
    expect(report.scaler).toMatchObject({
      idleSince: '2026-11-24T02:40:00Z',
      lastJobAt: '2026-11-24T02:40:00Z',
    });
  });

  it('prices what runs now and attaches the spot request to the GPU only', () => {
    const report = projectStatus(sources(), fleet, now);
    expect(report.costUsdPerHour).toEqual({
      total: 0.52,
      items: { app: 0.1, 'gpu (spot)': 0.21, 'burst (spot)': 0.21 },
    });
    expect(report.instances.map((i) => i.spotRequest?.id)).toEqual([undefined, 'sir-1']);
    expect(report.warnings).toEqual([]);
  });

  it('warns of a spot request near its end, dead letters and an unreadable burst group', () => {
    const report = projectStatus(
      sources({
        spot: { requestId: 'sir-1', state: 'active', validUntil: new Date('2026-12-04T03:00:00Z') },
        deadLetterQueue: { waiting: 2, inFlight: 0, delayed: 0 },
        burst: new FleetError('AccessDenied', 'not allowed', false),
      }),
      fleet,
      now,
    );
    expect(report.warnings).toEqual([
      expect.stringContaining("The GPU's spot request ends in 10 days"),
      '2 jobs are in the dead-letter queue: gpu-manage dlq list shows them, dlq redrive moves them back.',
      'The burst workers could not be read: not allowed',
    ]);
    expect(report.burst).toBeUndefined();
    expect(report.workers).toHaveLength(1);
  });
});

describe('status and a pending scheduled action of the app host', () => {
  const at = new Date('2026-11-25T03:00:00Z');
  const withAppTags = (tags: Record<string, string>): StatusSources => {
    const { gpu } = sources().instances;
    return sources({ instances: { app: instance('app', { state: 'stopped', tags }), gpu } });
  };

  it('says which action failed, until when the scaler retries it, and how to do it now', () => {
    const report = projectStatus(
      withAppTags({ 'gpu-fleet:scheduled-action': 'start until 2026-11-25T10:00:00Z' }),
      fleet,
      at,
    );
    expect(report.warnings).toEqual([
      'The scheduled start of the app host failed; the scaler retries it every minute until 2026-11-25T10:00:00Z. npx gpu-manage start-app does it now.',
    ]);
    expect(renderStatus(report, at, false)).toContain(
      'WARNING: The scheduled start of the app host failed; the scaler retries it every minute until 2026-11-25T10:00:00Z.',
    );
  });

  it('says nothing when none is pending, the tag was cleared, or its window has ended', () => {
    for (const tags of <Array<Record<string, string>>>[
      {},
      { 'gpu-fleet:scheduled-action': '' },
      { 'gpu-fleet:scheduled-action': 'stop until 2026-11-25T03:00:00Z' },
    ])
      expect(projectStatus(withAppTags(tags), fleet, at).warnings).toEqual([]);
  });
});
