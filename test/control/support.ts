import type { BurstWorkerInfo } from '../../src/aws/ports';

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
