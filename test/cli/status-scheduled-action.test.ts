import type { InstanceInfo } from '../../src/aws/ports';
import { type StatusSources, projectStatus, renderStatus } from '../../src/cli/status';
import { DEFAULT_CONFIG } from '../../src/config';

/** `gpu-manage status` and a failed scheduled action of the app host that the scaler retries. */

const now = new Date('2026-11-25T03:00:00Z');

function instance(role: 'app' | 'gpu', tags: Record<string, string> = {}): InstanceInfo {
  return {
    instanceId: `i-${role}`,
    role,
    instanceType: role === 'gpu' ? 'g4dn.xlarge' : 't3.large',
    state: 'stopped',
    lifecycle: role === 'gpu' ? 'spot' : 'on-demand',
    tags,
  };
}

function sources(appTags: Record<string, string>): StatusSources {
  return {
    region: 'ap-northeast-1',
    instances: { app: instance('app', appTags), gpu: instance('gpu') },
    queue: { waiting: 0, inFlight: 0, delayed: 0 },
    deadLetterQueue: { waiting: 0, inFlight: 0, delayed: 0 },
    fileSystem: { fileSystemId: 'fs-1', state: 'available', sizeBytes: 1024 },
    burst: undefined,
  };
}

const fleet = { prefix: 'GpuFleet', config: DEFAULT_CONFIG };

describe('status and a pending scheduled action of the app host', () => {
  it('says which action failed, until when the scaler retries it, and how to do it now', () => {
    const report = projectStatus(
      sources({ 'gpu-fleet:scheduled-action': 'start until 2026-11-25T10:00:00Z' }),
      fleet,
      now,
    );
    expect(report.warnings).toEqual([
      'The scheduled start of the app host failed; the scaler retries it every minute until 2026-11-25T10:00:00Z. npx gpu-manage start-app does it now.',
    ]);
    expect(renderStatus(report, now, false)).toContain(
      'WARNING: The scheduled start of the app host failed; the scaler retries it every minute until 2026-11-25T10:00:00Z.',
    );
  });

  it('says nothing when none is pending, the tag was cleared, or its window has ended', () => {
    for (const tags of <Array<Record<string, string>>>[
      {},
      { 'gpu-fleet:scheduled-action': '' },
      { 'gpu-fleet:scheduled-action': 'stop until 2026-11-25T03:00:00Z' },
    ])
      expect(projectStatus(sources(tags), fleet, now).warnings).toEqual([]);
  });
});
