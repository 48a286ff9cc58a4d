import type { BurstWorkerInfo, FleetPort, InstanceInfo } from '../../src/aws/ports';
import type { FleetDiscovery } from '../../src/control/tick';

/** A burst worker as the group describes it: a spot g4dn.xlarge in service, untagged unless given. */
export const burstWorker = (
  instanceId: string,
  overrides: Partial<BurstWorkerInfo> = {},
): BurstWorkerInfo => ({
  instanceId,
  instanceType: 'g4dn.xlarge',
  market: 'spot',
  availabilityZone: 'ap-northeast-1c',
  lifecycleState: 'InService',
  tags: {},
  ...overrides,
});

/**
 * A fleet of `instances` that records each call in `calls` ("start i-1", "tag i-1 {…}"); a call
 * named in `refuse` throws that error after it is recorded.
 */
export function recordingFleet(
  instances: InstanceInfo[] = [],
  refuse: { start?: Error; stop?: Error; writeTags?: Error } = {},
) {
  const calls: string[] = [];
  const fleet: FleetPort & FleetDiscovery = {
    discover: async () => instances,
    describe: async () => instances,
    start: async (ids) => {
      calls.push(`start ${ids.join(',')}`);
      if (refuse.start) throw refuse.start;
    },
    stop: async (ids) => {
      calls.push(`stop ${ids.join(',')}`);
      if (refuse.stop) throw refuse.stop;
    },
    writeTags: async (id, tags) => {
      calls.push(`tag ${id} ${JSON.stringify(tags)}`);
      if (refuse.writeTags) throw refuse.writeTags;
    },
  };
  return { fleet, calls };
}
