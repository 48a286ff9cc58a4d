import {
  DescribeInstancesCommand,
  DescribeSpotInstanceRequestsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { type BurstConfig, DEFAULT_CONFIG } from '../../src/config';
import { discoverFleetInstances } from '../../src/aws/ec2';
import type { BurstPort, InstanceInfo, QueuePort } from '../../src/aws/ports';
import { FleetLayoutError, PrimaryUnobservedError, runTick } from '../../src/control/tick';
import { TAGS } from '../../src/core/tags';
import { burstWorker, recordingFleet } from './support';

/**
 * What the scaler does while a host slot is between instances (a rotation) and when a persistent
 * request relaunched the GPU without its tags (a termination by hand).
 */
const NOW = new Date('2026-12-01T01:00:00Z');
const BURST: BurstConfig = { ...DEFAULT_CONFIG.burst, maxWorkers: 3 };
const TARGET = { appName: 'GpuFleet', queueUrl: 'q' };

/** One tick at NOW with the default scaler, and three burst workers when a group is given. */
const tickAt = (deps: Parameters<typeof runTick>[0]) =>
  runTick(deps, TARGET, DEFAULT_CONFIG.scaler, NOW, deps.burst && BURST);

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
        burstWorker('i-burst', {
          launchTime: new Date(NOW.getTime() - 3_600_000),
          tags: {
            [TAGS.readyAt]: new Date(NOW.getTime() - 3_000_000).toISOString(),
            [TAGS.lastJobAt]: new Date(NOW.getTime() - 1_800_000).toISOString(),
          },
        }),
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
    const { fleet } = recordingFleet([]);
    const burst = idleBurstGroup();
    await expect(tickAt({ fleet, queue: queue(0), burst: burst.port })).rejects.toThrow(
      PrimaryUnobservedError,
    );
    const error = await tickAt({ fleet, queue: queue(0), burst: idleBurstGroup().port }).catch(
      (e: unknown) => e,
    );
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
    const { fleet, calls } = recordingFleet([relaunched]);
    const report = await tickAt({ fleet, queue: queue(0) });
    expect(report.decision.action).toBe('none');
    expect(report.decision.reason).toMatch(/i-relaunch.*sir-gpu/);
    expect(report.outcome).toBe('none');
    expect(calls).toEqual([]);
  });

  it('is not tagged even when the burst turn has memory to keep', async () => {
    const { fleet, calls } = recordingFleet([relaunched]);
    const burst = idleBurstGroup();
    const report = await tickAt({ fleet, queue: queue(0), burst: burst.port });
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
