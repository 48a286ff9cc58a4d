import { ResourceImpact } from '@aws-cdk/cloudformation-diff';
import type { Template } from 'aws-cdk-lib/assertions';
import { DEFAULT_CONFIG, type FleetConfig, burstSubnetCidrs } from '../../src/config';
import { BURST_DRAIN_HOOK, burstGroupName } from '../../src/names';
import { BURST_ALARM_COUNT, SCALER_ALARM_COUNT } from '../../src/control/metrics';
import { buildTestFleet, templateOf } from '../support/fleet';
import {
  BURST_ON,
  type Json,
  type Resource,
  changes,
  computeChange,
  hostSettings,
  launchTemplateOf,
  nagFindings,
  resourcesOf,
  statementsOf,
  templatesOf,
} from './support';

type Templates = Record<string, Json>;

/** The resources of one stack (GpuFleet-<stack>), of one type or all. */
function resourcesIn(templates: Templates, stack: string, type?: string): Record<string, Resource> {
  const template = templates[`GpuFleet-${stack}`];
  if (!template) throw new Error(`no stack ${stack}`);
  return resourcesOf(template, type);
}

describe('burst workers off (maxWorkers 0, the default)', () => {
  let templates: Templates;
  beforeAll(() => {
    templates = templatesOf(buildTestFleet().fleet);
  });

  it('deploys no burst resource at all', () => {
    const json = JSON.stringify(templates);
    expect(json).not.toContain('AWS::AutoScaling::');
    expect(json).not.toContain('BurstSubnet');
    expect(json).not.toContain('BURST_GROUP_NAME');
    expect(json).not.toContain('BurstOnDemandWorkers');
    expect(json).not.toContain('autoscaling:');
    expect(json).not.toContain('"burst"');
    expect(Object.keys(resourcesIn(templates, 'Data', 'AWS::EFS::MountTarget'))).toHaveLength(1);
    expect(Object.keys(resourcesIn(templates, 'Network', 'AWS::EC2::Subnet'))).toHaveLength(1);
  });
});

describe('burst workers on (maxWorkers 3)', () => {
  let templates: Templates;
  let compute: Template;
  let group: Resource;
  beforeAll(() => {
    const { fleet } = buildTestFleet(BURST_ON);
    templates = templatesOf(fleet);
    compute = templateOf(fleet.compute);
    const groups = Object.values(resourcesIn(templates, 'Compute', 'AWS::AutoScaling::AutoScalingGroup'));
    expect(groups).toHaveLength(1);
    group = groups[0] as Resource;
  });

  const launchDataOf = (role: 'gpu' | 'burst'): Record<string, any> =>
    launchTemplateOf(templates['GpuFleet-Compute'] as Json, role).Properties.LaunchTemplateData;

  it('sizes the group 0..maxWorkers and leaves the desired capacity to the scaler', () => {
    expect(group.Properties).toMatchObject({
      AutoScalingGroupName: burstGroupName('GpuFleet'),
      MinSize: '0',
      MaxSize: '3',
      CapacityRebalance: true,
      NewInstancesProtectedFromScaleIn: true,
    });
    // With DesiredCapacity in the template every deploy would reset the scaler's number.
    expect(group.Properties).not.toHaveProperty('DesiredCapacity');
  });

  it('launches spot over every configured type with a capacity-aware strategy, on-demand only when the scaler says', () => {
    const policy = group.Properties.MixedInstancesPolicy;
    expect(policy.InstancesDistribution).toEqual({
      OnDemandBaseCapacity: 0,
      OnDemandPercentageAboveBaseCapacity: 0,
      SpotAllocationStrategy: 'price-capacity-optimized',
    });
    expect(policy.LaunchTemplate.Overrides).toEqual(
      DEFAULT_CONFIG.burst.instanceTypes.map((InstanceType) => ({ InstanceType })),
    );
    // The group follows its launch template's latest version: a new definition is an instance refresh.
    expect(policy.LaunchTemplate.LaunchTemplateSpecification.Version).toEqual({
      'Fn::GetAtt': [expect.any(String), 'LatestVersionNumber'],
    });
  });

  it('never replaces a running worker when the launch template changes: new launches take the new version', () => {
    // Every worker is protected from scale-in, and a refresh that ignores protected instances
    // replaces none: a busy worker finishes on the version it launched with and the scaler retires
    // it when idle. (Refresh replaced them all at once, busy ones included.)
    expect(group.Properties.NewInstancesProtectedFromScaleIn).toBe(true);
    expect(group.UpdatePolicy?.AutoScalingInstanceRefresh).toEqual({
      Strategy: 'Rolling',
      Preferences: {
        ScaleInProtectedInstances: 'Ignore',
        SkipMatching: true,
        // Bind only a worker that lost its protection: replaced new-before-old, capacity never dips.
        MinHealthyPercentage: 100,
        MaxHealthyPercentage: 200,
      },
    });
  });

  it('places workers in two subnets of two further zones, each with an EFS mount target, all in the Compute stack', () => {
    // Where each piece lives and in what order it goes: test/infra/burst-footprint.test.ts.
    const subnets = Object.entries(resourcesIn(templates, 'Compute', 'AWS::EC2::Subnet'));
    expect(subnets.map(([, s]) => [s.Properties.CidrBlock, s.Properties.AvailabilityZone])).toEqual([
      ['10.0.2.0/24', { 'Fn::Select': [1, { 'Fn::GetAZs': '' }] }],
      ['10.0.3.0/24', { 'Fn::Select': [2, { 'Fn::GetAZs': '' }] }],
    ]);
    expect(group.Properties.VPCZoneIdentifier).toEqual(subnets.map(([id]) => ({ Ref: id })));
    expect(JSON.stringify(group.Properties.VPCZoneIdentifier)).toMatch(/BurstSubnet1.*BurstSubnet2/);
    expect(Object.keys(resourcesIn(templates, 'Compute', 'AWS::EFS::MountTarget'))).toHaveLength(2);
    expect(Object.keys(resourcesIn(templates, 'Data', 'AWS::EFS::MountTarget'))).toHaveLength(1);
    expect(Object.keys(resourcesIn(templates, 'Network', 'AWS::EC2::Subnet'))).toHaveLength(1);
  });

  it('builds workers from the primary GPU definition: same AMI, user data, settings, root volume, IMDS', () => {
    const primary = launchDataOf('gpu');
    const burst = launchDataOf('burst');
    for (const key of ['ImageId', 'InstanceType', 'BlockDeviceMappings', 'MetadataOptions']) {
      expect([key, burst[key]]).toEqual([key, primary[key]]);
    }
    // The user data differs in the log group alone: each role writes to its own.
    const logGroupOf = (data: Record<string, any>): string =>
      /LOG_GROUP='",\{"Ref":"(\w+)"\}/.exec(JSON.stringify(data.UserData))?.[1] ?? 'none';
    expect(logGroupOf(burst)).toMatch(/^LogsBurst/);
    expect(logGroupOf(primary)).toMatch(/^LogsGpu/);
    expect(JSON.stringify(burst.UserData).replace(logGroupOf(burst), 'LOG')).toBe(
      JSON.stringify(primary.UserData).replace(logGroupOf(primary), 'LOG'),
    );
    // No fixed address and no persistent spot request: placement and market are the group's.
    expect(burst).not.toHaveProperty('NetworkInterfaces');
    expect(burst).not.toHaveProperty('InstanceMarketOptions');
    expect(burst).not.toHaveProperty('TagSpecifications');
    expect(burst.SecurityGroupIds).toEqual(primary.NetworkInterfaces[0].Groups);
  });

  it('tags the workers role=burst at launch, with the fleet tag', () => {
    expect(group.Properties.Tags).toEqual(
      expect.arrayContaining([
        { Key: 'gpu-fleet:role', Value: 'burst', PropagateAtLaunch: true },
        { Key: 'gpu-fleet:fleet', Value: 'GpuFleet', PropagateAtLaunch: true },
      ]),
    );
  });

  it('drains a terminating worker through a 3-minute lifecycle hook that continues by default', () => {
    compute.hasResourceProperties('AWS::AutoScaling::LifecycleHook', {
      LifecycleHookName: BURST_DRAIN_HOOK,
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      HeartbeatTimeout: 180,
      DefaultResult: 'CONTINUE',
    });
  });

  it('gives the workers the primary grants, self-tagging as burst with the drained key, and no lifecycle completion', () => {
    const statements = statementsOf(compute, 'GpuWorkerBurstRole');
    const primaryStatements = statementsOf(compute, 'GpuWorkerHostRole');
    const actions = (list: Array<Record<string, any>>) => list.flatMap((s) => [s.Action].flat()).sort();
    // A worker that could complete lifecycle actions could end any other worker's drain: the
    // scaler completes them, for workers that tagged themselves drained.
    expect(actions(statements)).toEqual(actions(primaryStatements));
    expect(actions(statements)).not.toContain('autoscaling:CompleteLifecycleAction');
    expect(statements.find((s) => s.Sid === 'CompleteDrainsOfTheGroup')).toBeUndefined();
    const selfTag = statements.find((s) => s.Sid === 'ReportOnItself');
    expect(selfTag?.Condition.ArnEquals).toBeDefined();
    expect(selfTag?.Condition.StringEquals).toEqual({
      'aws:ResourceTag/gpu-fleet:role': 'burst',
      'aws:ResourceTag/gpu-fleet:fleet': 'GpuFleet',
    });
    expect(selfTag?.Condition['ForAllValues:StringEquals']).toEqual({
      'aws:TagKeys': ['gpu-fleet:ready-at', 'gpu-fleet:last-job-at', 'gpu-fleet:drained-at'],
    });
    // The primary is in no group: it never drains for one, so it may not write the drained key.
    const primarySelfTag = primaryStatements.find((s) => s.Sid === 'ReportOnItself');
    expect(primarySelfTag?.Condition['ForAllValues:StringEquals']).toEqual({
      'aws:TagKeys': ['gpu-fleet:ready-at', 'gpu-fleet:last-job-at'],
    });
  });

  it("tells the worker its group through the GPU settings parameter (the hook is the scaler's to complete)", () => {
    const value = hostSettings(compute, 'gpu');
    expect(value).toContain('BURST_GROUP_NAME');
    expect(value).toContain('GpuFleet-burst-workers');
    expect(value).not.toContain('BURST_DRAIN_HOOK');
  });

  it('gives the scaler the group name and the group controls, conditioned on that group', () => {
    const fn = Object.values(resourcesIn(templates, 'Scaler', 'AWS::Lambda::Function')).find(
      (f) => f.Properties.Environment?.Variables?.JOB_QUEUE_URL,
    );
    expect(fn?.Properties.Environment.Variables.BURST_GROUP_NAME).toBe('GpuFleet-burst-workers');
    expect(JSON.parse(fn?.Properties.Environment.Variables.FLEET_CONFIG).burst).toEqual(BURST_ON.burst);
    const statements = Object.values(resourcesIn(templates, 'Scaler', 'AWS::IAM::Policy')).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as Array<Record<string, any>>,
    );
    const control = statements.find((s) => s.Sid === 'ControlBurstGroup');
    expect(control?.Action).toEqual([
      'autoscaling:CompleteLifecycleAction',
      'autoscaling:SetDesiredCapacity',
      'autoscaling:TerminateInstanceInAutoScalingGroup',
      'autoscaling:UpdateAutoScalingGroup',
    ]);
    expect(JSON.stringify(control?.Resource)).toContain(
      ':autoScalingGroup:*:autoScalingGroupName/GpuFleet-burst-workers',
    );
    // The scaler completes the drain hook of workers that tagged themselves drained: on its group only.
    const completing = statements.filter((s) =>
      [s.Action].flat().includes('autoscaling:CompleteLifecycleAction'),
    );
    expect(completing).toHaveLength(1);
    expect(completing[0]?.Effect).toBe('Allow');
    expect([completing[0]?.Resource].flat()).toHaveLength(1);
    expect(JSON.stringify(completing[0]?.Resource)).toMatch(
      /:autoScalingGroup:\*:autoScalingGroupName\/GpuFleet-burst-workers"/,
    );
    expect(statements.find((s) => s.Sid === 'ReadBurstGroup')).toMatchObject({
      Action: ['autoscaling:DescribeAutoScalingGroups', 'autoscaling:DescribeScalingActivities'],
      Resource: '*',
    });
  });

  it('alarms when a burst worker never became ready (a broken image, template or mount)', () => {
    const alarms = Object.values(resourcesIn(templates, 'Scaler', 'AWS::CloudWatch::Alarm'));
    const alarm = alarms.find((a) => a.Properties.MetricName === 'BurstBootTimeouts');
    expect(alarm?.Properties).toMatchObject({ Namespace: 'GpuFleet', Statistic: 'Sum', Threshold: 1 });
  });

  it('alarms when the fleet runs burst workers on on-demand', () => {
    const alarms = Object.values(resourcesIn(templates, 'Scaler', 'AWS::CloudWatch::Alarm'));
    // The cost estimate bills exactly these.
    expect(alarms).toHaveLength(SCALER_ALARM_COUNT + BURST_ALARM_COUNT);
    const alarm = alarms.find((a) => a.Properties.MetricName === 'BurstOnDemandWorkers');
    expect(alarm?.Properties).toMatchObject({
      Namespace: 'GpuFleet',
      Statistic: 'Maximum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Dimensions: expect.arrayContaining([
        { Name: 'fleet', Value: 'GpuFleet' },
        { Name: 'service', Value: 'scaler' },
      ]),
      AlarmActions: [expect.anything()],
    });
  });
});

describe('burst workers and cdk-nag', () => {
  it('has zero unacknowledged findings with burst on', () => {
    expect(nagFindings(BURST_ON)).toEqual(['Annotation::gpu-fleet:app-ports-closed']);
  });
});

describe('burst update safety', () => {
  const baseline = templatesOf(buildTestFleet(BURST_ON).fleet);
  const changed = (overrides: Partial<FleetConfig>) =>
    changes(baseline, templatesOf(buildTestFleet({ ...BURST_ON, ...overrides }).fleet));
  const WORKER_TOUCHING = new Set([
    'AWS::AutoScaling::AutoScalingGroup',
    'AWS::AutoScaling::LifecycleHook',
    'AWS::EC2::LaunchTemplate',
    'AWS::EC2::Subnet',
    'AWS::EFS::MountTarget',
  ]);

  it.each<[string, Partial<FleetConfig>]>([
    ['scaler minutes', { scaler: { ...DEFAULT_CONFIG.scaler, idleMinutes: 7 } }],
    ['the alarm e-mail', { alarmEmail: 'ops@example.com' }],
    ['app images', { appImages: { ...DEFAULT_CONFIG.appImages, frontend: 'example/frontend:2' } }],
    ['ingress CIDRs', { appIngressCidrs: ['203.0.113.0/24'] }],
    ['burst idle minutes', { burst: { ...DEFAULT_CONFIG.burst, maxWorkers: 3, idleMinutes: 4 } }],
  ])('%s: no group, hook, launch template, subnet or mount target changes', (_, overrides) => {
    const found = changed(overrides);
    expect(found.length).toBeGreaterThan(0);
    expect(found.filter((c) => WORKER_TOUCHING.has(c.type))).toEqual([]);
  });

  it('a synth with nothing changed is identical', () => {
    expect(changed({})).toEqual([]);
  });

  it.each<[string, Partial<FleetConfig>]>([
    [
      'other instance types update the group in place (new workers launch as them), never replace it',
      { burst: { ...DEFAULT_CONFIG.burst, maxWorkers: 3, instanceTypes: ['g5.xlarge', 'g6.xlarge'] } },
    ],
    [
      'more burst workers only raise the group maximum, in place',
      { burst: { ...DEFAULT_CONFIG.burst, maxWorkers: 4 } },
    ],
  ])('%s', (_, overrides) => {
    expect(changed(overrides).filter((c) => WORKER_TOUCHING.has(c.type))).toEqual([
      computeChange('GpuWorkerBurstGroupASG', 'AWS::AutoScaling::AutoScalingGroup'),
    ]);
  });

  it('a new GPU definition makes a new burst launch template version (an instance refresh), replacing nothing', () => {
    const found = changed({ gpuInstanceType: 'g5.xlarge' }).filter((c) => WORKER_TOUCHING.has(c.type));
    expect(found.map((c) => c.logicalId).sort()).toEqual([
      expect.stringMatching(/^GpuWorkerBurstLaunchTemplate/),
      expect.stringMatching(/^GpuWorkerHostLaunchTemplate/),
    ]);
    expect(found.every((c) => c.impact === ResourceImpact.WILL_UPDATE)).toBe(true);
  });
});

describe('burstSubnetCidrs', () => {
  it.each([
    ['10.0.1.0/24', ['10.0.2.0/24', '10.0.3.0/24']],
    ['10.0.255.0/24', ['10.1.0.0/24', '10.1.1.0/24']],
    ['172.16.4.0/23', ['172.16.6.0/23', '172.16.8.0/23']],
  ])('%s → the two blocks of its size that follow it', (cidr, expected) => {
    expect(burstSubnetCidrs(cidr)).toEqual(expected);
  });
});
