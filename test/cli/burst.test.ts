import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  type Instance as GroupInstance,
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DescribeScalingActivitiesCommand,
  SetDesiredCapacityCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { CreateTagsCommand, DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import {
  appInstance,
  ec2Mock,
  givenDeployedStacks,
  givenInstances,
  gpuInstance,
  resetMocks,
  run,
  statusJson,
  runIn,
} from './support';

const asgMock = mockClient(AutoScalingClient);
const GROUP = 'GpuFleet-burst-workers';

/** An Auto Scaling refusal as the SDK throws it. */
const asgError = (name: string, message: string, status = 400) =>
  Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

/** A project directory whose cdk.json deploys three burst workers. */
function burstProject(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-fleet-cli-burst-'));
  fs.writeFileSync(
    path.join(dir, 'cdk.json'),
    JSON.stringify({ app: 'npx tsx bin/app.ts', context: { gpuFleet: { burst: { maxWorkers: 3 } } } }),
  );
  return dir;
}

const burstWorkers: GroupInstance[] = [
  {
    InstanceId: 'i-0b1',
    InstanceType: 'g5.xlarge',
    AvailabilityZone: 'ap-northeast-1c',
    LifecycleState: 'InService' as const,
    HealthStatus: 'Healthy',
    ProtectedFromScaleIn: true,
  },
  {
    InstanceId: 'i-0b2',
    InstanceType: 'g4dn.xlarge',
    AvailabilityZone: 'ap-northeast-1d',
    LifecycleState: 'Pending' as const,
    HealthStatus: 'Healthy',
    ProtectedFromScaleIn: true,
  },
];

function givenBurstGroup(
  onDemandPercentage = 0,
  workers = burstWorkers,
  gpuTags: Record<string, string> = {},
): void {
  asgMock.on(DescribeAutoScalingGroupsCommand).resolves({
    AutoScalingGroups: [
      {
        AutoScalingGroupName: GROUP,
        MinSize: 0,
        MaxSize: 3,
        DesiredCapacity: workers.length,
        DefaultCooldown: 300,
        AvailabilityZones: ['ap-northeast-1c', 'ap-northeast-1d'],
        HealthCheckType: 'EC2',
        CreatedTime: new Date('2026-11-01T00:00:00Z'),
        MixedInstancesPolicy: {
          InstancesDistribution: { OnDemandPercentageAboveBaseCapacity: onDemandPercentage },
        },
        Instances: workers,
      },
    ],
  });
  asgMock.on(DescribeScalingActivitiesCommand).resolves({ Activities: [] });
  asgMock.on(SetDesiredCapacityCommand).resolves({});
  asgMock.on(TerminateInstanceInAutoScalingGroupCommand).resolves({});
  // The fleet by tag (CLI discovery), and the burst workers by id filter (the adapter).
  ec2Mock.on(DescribeInstancesCommand).callsFake((input: { Filters?: Array<{ Name?: string }> }) => {
    if (input.Filters?.some((f) => f.Name === 'instance-id')) {
      return {
        Reservations: [
          {
            Instances: [
              {
                InstanceId: 'i-0b1',
                InstanceType: 'g5.xlarge',
                InstanceLifecycle: onDemandPercentage > 0 ? undefined : 'spot',
                LaunchTime: new Date('2026-11-24T02:40:00Z'),
                Tags: [
                  { Key: 'gpu-fleet:ready-at', Value: '2026-11-24T02:49:00Z' },
                  { Key: 'gpu-fleet:last-job-at', Value: '2026-11-24T02:58:30Z' },
                ],
              },
              {
                InstanceId: 'i-0b2',
                InstanceType: 'g4dn.xlarge',
                InstanceLifecycle: 'spot',
                LaunchTime: new Date('2026-11-24T02:57:00Z'),
              },
            ],
          },
        ],
      };
    }
    return {
      Reservations: [
        {
          Instances: [
            appInstance(),
            gpuInstance(
              { State: { Name: 'running' }, Placement: { AvailabilityZone: 'ap-northeast-1a' } },
              gpuTags,
            ),
          ],
        },
      ],
    };
  });
}

beforeEach(() => {
  resetMocks();
  asgMock.reset();
});

describe('status with burst workers', () => {
  let project: string;
  beforeEach(() => {
    project = burstProject();
    givenDeployedStacks();
  });

  it('says how many burst workers an active hold keeps', async () => {
    givenBurstGroup(0, burstWorkers, {
      'gpu-fleet:hold-until': '2026-11-24T04:00:00Z',
      'gpu-fleet:burst-hold-workers': '2',
    });
    const text = await runIn(project, 'status');
    expect(text.out).toMatch(/hold until {5}2026-11-24T04:00:00Z.* \(and 2 burst workers\)/);
    expect((await statusJson(project)).scaler.holdBurstWorkers).toBe(2);
  });

  it('lists every GPU worker, primary and burst, with type, market, zone, state, last job and since', async () => {
    givenBurstGroup();
    const result = await runIn(project, 'status');
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    const section = result.out.split('GPU WORKERS')[1]?.split('\n\n')[0] ?? '';
    expect(section.split('\n').map((line) => line.trim().split(/\s{2,}/))).toEqual([
      [''],
      ['ROLE', 'ID', 'TYPE', 'MARKET', 'ZONE', 'STATE', 'READY', 'BOOT', 'LAST JOB', 'SINCE'],
      'gpu i-0gpu g4dn.xlarge spot ap-northeast-1a running — — — 2026-11-24T01:02:00Z'.split(' '),
      [
        ...'burst i-0b1 g5.xlarge spot ap-northeast-1c InService 2026-11-24T02:49:00Z 9m'.split(' '),
        '2026-11-24T02:58:30Z',
        '2026-11-24T02:40:00Z',
      ],
      'burst i-0b2 g4dn.xlarge spot ap-northeast-1d Pending — — — 2026-11-24T02:57:00Z'.split(' '),
      ['burst group: 2 desired of at most 3, new workers on spot'],
    ]);
    // The primary and two burst workers on spot, the app host.
    expect(result.out).toContain('COST NOW  0.73 USD/h (app 0.10 + gpu (spot) 0.21 + burst (spot) 0.42)');
  });

  it('says in JSON when the fleet runs on on-demand, with null for what is absent', async () => {
    givenBurstGroup(100);
    const result = await runIn(project, 'status', '--json');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.out) as {
      workers: Array<Record<string, unknown>>;
      burst: Record<string, unknown>;
      warnings: string[];
    };
    expect(report.burst).toEqual({ desired: 2, max: 3, market: 'on-demand', lastLaunchFailure: null });
    expect(
      report.workers.map((w) => [w.role, w.instanceId, w.market, w.readyAt, w.launchToReadySeconds]),
    ).toEqual([
      ['gpu', 'i-0gpu', 'spot', null, null],
      // Its launch-to-ready, to feed `simulate --burst-ready-delay` with a measured cold start.
      ['burst', 'i-0b1', 'on-demand', '2026-11-24T02:49:00Z', 540],
      ['burst', 'i-0b2', 'spot', null, null],
    ]);
    expect(report.warnings).toEqual(
      expect.arrayContaining([expect.stringMatching(/burst workers launch on on-demand/)]),
    );
  });

  it('shows the rest of the fleet, with a warning, when the operator may not read the burst group', async () => {
    givenBurstGroup();
    asgMock
      .on(DescribeAutoScalingGroupsCommand)
      .rejects(
        asgError(
          'AccessDenied',
          'User is not authorized to perform: autoscaling:DescribeAutoScalingGroups',
          403,
        ),
      );
    const result = await runIn(project, 'status', '--json');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.out) as { burst: unknown; workers: unknown[]; warnings: string[] };
    expect(report.burst).toBeNull();
    expect(report.workers).toHaveLength(1);
    expect(report.warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^The burst workers could not be read: .*not authorized/),
      ]),
    );
  });

  it('fails with one line when the burst group cannot be read for another reason (throttled)', async () => {
    givenBurstGroup();
    asgMock.on(DescribeAutoScalingGroupsCommand).rejects(asgError('Throttling', 'Rate exceeded'));
    const result = await runIn(project, 'status');
    expect(result.code).toBe(1);
    expect(result.err.split('\n')).toHaveLength(1);
  });

  it('without burst workers deployed, says so and calls no Auto Scaling API', async () => {
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolves({ Reservations: [{ Instances: [appInstance(), gpuInstance()] }] });
    const result = await run('status', '--json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out)).toMatchObject({ burst: null, workers: [{ role: 'gpu' }] });
    expect(asgMock.calls()).toHaveLength(0);
  });
});

describe('start-gpu --workers', () => {
  it('sets the burst group desired capacity', async () => {
    givenBurstGroup();
    const result = await runIn(burstProject(), 'start-gpu', '--workers', '3');
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(asgMock).toHaveReceivedCommandWith(SetDesiredCapacityCommand, {
      AutoScalingGroupName: GROUP,
      DesiredCapacity: 3,
    });
    expect(result.out).toContain('Burst workers: desired capacity set to 3');
  });

  it('with --hold, the scaler keeps them until the hold ends (the number is written beside the hold)', async () => {
    givenBurstGroup();
    const held = await runIn(burstProject(), 'start-gpu', '--workers', '2', '--hold', '1h');
    expect(held.code).toBe(0);
    expect(ec2Mock).toHaveReceivedCommandWith(CreateTagsCommand, {
      Tags: expect.arrayContaining([{ Key: 'gpu-fleet:burst-hold-workers', Value: '2' }]),
    });
    expect(held.out).toMatch(/the scaler keeps 2 until \S+Z, then retires idle ones/);
    // Without --hold the number is not kept, and the output says how to keep it.
    const plain = await runIn(burstProject(), 'start-gpu', '--workers', '2');
    expect(plain.out).toContain('add --hold 1h to keep them');
  });

  it('an expired hold does not come back: a new hold holds no burst worker, and hold --release clears the number', async () => {
    const expired = { 'gpu-fleet:hold-until': '2026-11-24T01:00:00Z', 'gpu-fleet:burst-hold-workers': '3' };
    givenBurstGroup();
    givenInstances(appInstance(), gpuInstance({}, expired));
    await runIn(burstProject(), 'hold', '2h');
    expect(ec2Mock).toHaveReceivedCommandWith(CreateTagsCommand, {
      Tags: expect.arrayContaining([{ Key: 'gpu-fleet:burst-hold-workers', Value: '' }]),
    });
    ec2Mock.resetHistory();
    const released = await runIn(burstProject(), 'hold', '--release');
    expect(released.out).toBe('No hold was set; the burst workers an expired hold had kept are forgotten.');
    expect(ec2Mock).toHaveReceivedCommandWith(CreateTagsCommand, {
      Tags: [{ Key: 'gpu-fleet:burst-hold-workers', Value: '' }],
    });
  });

  it('extending an active hold keeps the burst workers it holds', async () => {
    givenBurstGroup();
    givenInstances(
      appInstance(),
      gpuInstance(
        {},
        { 'gpu-fleet:hold-until': '2026-11-24T04:00:00Z', 'gpu-fleet:burst-hold-workers': '2' },
      ),
    );
    await runIn(burstProject(), 'hold', '2h');
    const written = ec2Mock.commandCalls(CreateTagsCommand).flatMap((c) => c.args[0].input.Tags ?? []);
    expect(written.map((t) => t.Key)).not.toContain('gpu-fleet:burst-hold-workers');
  });

  it.each([
    ['4', /--workers must be between 0 and 3/],
    ['-1', /unknown option|--workers must be a whole number/],
    ['two', /--workers must be a whole number of workers, got "two"/],
    ['1.5', /--workers must be a whole number/],
  ])('refuses %s with a usage error (exit 2) before any AWS call', async (value, message) => {
    const result = await runIn(burstProject(), 'start-gpu', '--workers', value);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(message);
    expect(asgMock.calls()).toHaveLength(0);
    expect(ec2Mock.calls()).toHaveLength(0);
  });

  it('refuses --workers when no burst workers are deployed', async () => {
    const result = await run('start-gpu', '--workers', '1');
    expect(result.code).toBe(2);
    expect(result.err).toContain('none are deployed (gpuFleet.burst.maxWorkers is 0)');
    expect(ec2Mock.calls()).toHaveLength(0);
  });

  it('reports a failed capacity change as one line and exits 1', async () => {
    givenBurstGroup();
    asgMock.on(SetDesiredCapacityCommand).rejects(asgError('AccessDenied', 'User is not authorized', 403));
    const result = await runIn(burstProject(), 'start-gpu', '--workers', '2');
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/^burst group: .*autoscaling:SetDesiredCapacity/m);
    expect(result.err).not.toMatch(/\n\s+at /);
  });
});

describe('stop-gpu with burst workers', () => {
  it('stops the primary, sets the capacity to 0, then retires every burst worker by id', async () => {
    givenBurstGroup();
    const result = await runIn(burstProject(), 'stop-gpu');
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    for (const id of ['i-0b1', 'i-0b2']) {
      expect(asgMock).toHaveReceivedCommandWith(TerminateInstanceInAutoScalingGroupCommand, {
        InstanceId: id,
        // Desired is already 0: a decrement would be refused at the group's minimum.
        ShouldDecrementDesiredCapacity: false,
      });
    }
    expect(asgMock).toHaveReceivedCommandWith(SetDesiredCapacityCommand, { DesiredCapacity: 0 });
    const [setDesired] = asgMock.commandCalls(SetDesiredCapacityCommand);
    const [firstRetire] = asgMock.commandCalls(TerminateInstanceInAutoScalingGroupCommand);
    expect(setDesired && firstRetire && setDesired.calledBefore(firstRetire)).toBe(true);
    expect(result.out).toContain('burst i-0b1: retiring (drains its job first)');
  });

  it('a retire Auto Scaling refuses is reported; the other workers still go and the pause is said', async () => {
    givenBurstGroup();
    asgMock
      .on(TerminateInstanceInAutoScalingGroupCommand, { InstanceId: 'i-0b1' })
      .rejects(asgError('ValidationError', 'The instance i-0b1 is not in InService or Standby state.'));
    const result = await runIn(burstProject(), 'stop-gpu');
    expect(result.code).toBe(1);
    expect(result.err).not.toMatch(/Unexpected error|at .*\.ts:/);
    expect(result.err).toContain('burst i-0b1: ');
    expect(result.err).toContain('not in InService or Standby state');
    expect(asgMock).toHaveReceivedCommandWith(TerminateInstanceInAutoScalingGroupCommand, {
      InstanceId: 'i-0b2',
    });
    expect(asgMock).toHaveReceivedCommandWith(SetDesiredCapacityCommand, { DesiredCapacity: 0 });
    expect(result.out).toContain('burst i-0b2: retiring (drains its job first)');
    expect(result.out).toContain('Automatic GPU starts paused until');
  });
});
