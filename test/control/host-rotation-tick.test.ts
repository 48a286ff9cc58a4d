import {
  DescribeInstancesCommand,
  DescribeSpotInstanceRequestsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { type BurstConfig, DEFAULT_CONFIG } from '../../src/config';
import { discoverFleetInstances } from '../../src/aws/ec2';
import type { BurstPort, FleetPort, InstanceInfo, QueuePort } from '../../src/aws/ports';
import {
  type FleetDiscovery,
  FleetLayoutError,
  PrimaryUnobservedError,
  runTick,
} from '../../src/control/tick';
import { TAGS } from '../../src/core/tags';

/**
 * What the scaler does while a host slot is between instances (a rotation) and when a persistent
 * request relaunched the GPU without its tags (a termination by hand).
 */
const NOW = new Date('2026-12-01T01:00:00Z');
const BURST: BurstConfig = { ...DEFAULT_CONFIG.burst, maxWorkers: 3 };
const TARGET = { appName: 'GpuFleet', queueUrl: 'q' };

function fleetOf(instances: InstanceInfo[]) {
  const calls: string[] = [];
  const fleet: FleetPort & FleetDiscovery = {
    discover: async () => instances,
    describe: async () => instances,
    start: async (ids) => {
      calls.push(`start ${ids.join(',')}`);
    },
    stop: async (ids) => {
      calls.push(`stop ${ids.join(',')}`);
    },
    writeTags: async (id) => {
      calls.push(`tag ${id}`);
    },
  };
  return { fleet, calls };
}

const queue = (waiting: number): QueuePort => ({
  counts: async () => ({ waiting, inFlight: 0, delayed: 0 }),
});

function idleBurstGroup() {
  const calls: string[] = [];
  const port: BurstPort = {
    describe: async () => ({
      desired: 1,
      max: 3,
      onDemand: false,
      workers: [
        {
          instanceId: 'i-burst',
          instanceType: 'g4dn.xlarge',
          market: 'spot',
          availabilityZone: 'ap-northeast-1c',
          lifecycleState: 'InService',
          launchTime: new Date(NOW.getTime() - 3_600_000),
          tags: {
            [TAGS.readyAt]: new Date(NOW.getTime() - 3_000_000).toISOString(),
            [TAGS.lastJobAt]: new Date(NOW.getTime() - 1_800_000).toISOString(),
          },
        },
      ],
    }),
    setDesired: async (n) => {
      calls.push(`setDesired ${n}`);
    },
    retire: async (id) => {
      calls.push(`retire ${id}`);
    },
    setOnDemand: async () => undefined,
    completeDrain: async (id) => {
      calls.push(`completeDrain ${id}`);
    },
  };
  return { port, calls };
}

describe('a tick while the GPU slot rotates (no GPU instance for a few minutes)', () => {
  it('still retires idle burst workers, then reports the missing GPU', async () => {
    const { fleet } = fleetOf([]);
    const burst = idleBurstGroup();
    await expect(
      runTick({ fleet, queue: queue(0), burst: burst.port }, TARGET, DEFAULT_CONFIG.scaler, NOW, BURST),
    ).rejects.toThrow(PrimaryUnobservedError);
    const error = await runTick(
      { fleet, queue: queue(0), burst: idleBurstGroup().port },
      TARGET,
      DEFAULT_CONFIG.scaler,
      NOW,
      BURST,
    ).catch((e: unknown) => e);
    expect((error as PrimaryUnobservedError).cause).toBeInstanceOf(FleetLayoutError);
    expect(burst.calls).toEqual(['retire i-burst']);
  });
});

describe('a GPU relaunched by its persistent request without the fleet tags', () => {
  const relaunched: InstanceInfo = {
    instanceId: 'i-relaunch',
    role: 'gpu',
    instanceType: 'g4dn.xlarge',
    state: 'running',
    lifecycle: 'spot',
    spotInstanceRequestId: 'sir-gpu',
    relaunchedBy: 'sir-gpu',
    tags: {},
  };

  it('is reported in the tick’s reason, and nothing is done to it (the scaler may not touch it)', async () => {
    const { fleet, calls } = fleetOf([relaunched]);
    const report = await runTick({ fleet, queue: queue(0) }, TARGET, DEFAULT_CONFIG.scaler, NOW);
    expect(report.decision.action).toBe('none');
    expect(report.decision.reason).toMatch(/i-relaunch.*sir-gpu/);
    expect(report.outcome).toBe('none');
    expect(calls).toEqual([]);
  });

  it('is not tagged even when the burst turn has memory to keep', async () => {
    const { fleet, calls } = fleetOf([relaunched]);
    const burst = idleBurstGroup();
    const report = await runTick(
      { fleet, queue: queue(0), burst: burst.port },
      TARGET,
      DEFAULT_CONFIG.scaler,
      NOW,
      BURST,
    );
    expect(burst.calls).toEqual(['retire i-burst']);
    expect(report.tagsWritten).toEqual({});
    expect(calls).toEqual([]);
  });

  it('is found through the request, which keeps its tags', async () => {
    const ec2Mock = mockClient(EC2Client);
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    ec2Mock.on(DescribeInstancesCommand, { InstanceIds: ['i-relaunch'] }).resolves({
      Reservations: [
        {
          Instances: [
            {
              InstanceId: 'i-relaunch',
              State: { Name: 'running' },
              InstanceType: 'g4dn.xlarge',
              InstanceLifecycle: 'spot',
              SpotInstanceRequestId: 'sir-gpu',
              Tags: [],
            },
          ],
        },
      ],
    });
    ec2Mock.on(DescribeSpotInstanceRequestsCommand).resolves({
      SpotInstanceRequests: [
        {
          SpotInstanceRequestId: 'sir-gpu',
          State: 'active',
          InstanceId: 'i-relaunch',
          Tags: [
            { Key: TAGS.fleet, Value: 'GpuFleet' },
            { Key: TAGS.role, Value: 'gpu' },
          ],
        },
      ],
    });
    const found = await discoverFleetInstances(new EC2Client({ region: 'ap-northeast-1' }), 'GpuFleet');
    expect(found).toEqual([
      expect.objectContaining({ instanceId: 'i-relaunch', role: 'gpu', relaunchedBy: 'sir-gpu' }),
    ]);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeSpotInstanceRequestsCommand, {
      Filters: expect.arrayContaining([{ Name: `tag:${TAGS.fleet}`, Values: ['GpuFleet'] }]),
    });
    ec2Mock.restore();
  });
});
