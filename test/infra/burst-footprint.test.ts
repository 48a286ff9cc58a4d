import type { Fleet } from '../../lib/fleet';
import { buildTestFleet, templateOf } from '../support/fleet';
import { BURST_ON, type Json, type Resource, resourcesOf } from './support';

const json = (stack: Fleet[keyof Fleet]): Json => templateOf(stack).toJSON() as Json;

/**
 * Evaluates the few intrinsic functions a zone is written with, as CloudFormation would in a
 * region whose Fn::GetAZs answers `zones`.
 */
function evaluate(value: unknown, template: Json, zones: readonly string[]): unknown {
  if (typeof value === 'string' || typeof value === 'number') return value;
  const [[fn, args]] = Object.entries(value as Json) as [[string, any]];
  const condition = (name: string): boolean =>
    evaluate(template.Conditions?.[name], template, zones) as boolean;
  switch (fn) {
    case 'Fn::GetAZs':
      return zones;
    case 'Fn::Select':
      return (evaluate(args[1], template, zones) as unknown[])[Number(args[0])];
    case 'Fn::Equals':
      return evaluate(args[0], template, zones) === evaluate(args[1], template, zones);
    case 'Fn::If':
      return evaluate(condition(args[0]) ? args[1] : args[2], template, zones);
    case 'Condition':
      return condition(args);
    default:
      throw new Error(`the evaluator does not know ${fn}`);
  }
}

describe('burst footprint: one stack owns it', () => {
  let off: Fleet;
  let on: Fleet;
  beforeAll(() => {
    off = buildTestFleet().fleet;
    on = buildTestFleet(BURST_ON).fleet;
  });

  // Turning burst off must never make the Network or Data stack delete something the Compute
  // stack's workers still use: those stacks deploy first.
  it('the Network and Data templates are identical with burst.maxWorkers 0 and 3', () => {
    expect(json(on.network)).toEqual(json(off.network));
    expect(json(on.data)).toEqual(json(off.data));
  });

  it('keeps the hosts mount target in the Data stack, alone and under its logical id', () => {
    expect(Object.keys(resourcesOf(json(on.data), 'AWS::EFS::MountTarget'))).toEqual([
      'SharedFileSystemEfsMountTargetPublicSubnet579D1F0D',
    ]);
  });

  describe('the Compute stack with burst on', () => {
    let compute: Json;
    let subnets: Record<string, Resource>;
    let group: Resource;
    beforeAll(() => {
      compute = json(on.compute);
      subnets = resourcesOf(compute, 'AWS::EC2::Subnet');
      group = Object.values(resourcesOf(compute, 'AWS::AutoScaling::AutoScalingGroup'))[0] as Resource;
    });

    it('has two public subnets, in the region’s second and third zones, routed to the network’s gateway', () => {
      expect(
        Object.values(subnets).map((s) => [s.Properties.CidrBlock, s.Properties.AvailabilityZone]),
      ).toEqual([
        ['10.0.2.0/24', { 'Fn::Select': [1, { 'Fn::GetAZs': '' }] }],
        ['10.0.3.0/24', { 'Fn::Select': [2, { 'Fn::GetAZs': '' }] }],
      ]);
      for (const subnet of Object.values(subnets)) {
        expect(subnet.Properties.MapPublicIpOnLaunch).toBe(true);
        expect(subnet.Properties.VpcId).toEqual({
          'Fn::GetStackOutput': { StackName: 'GpuFleet-Network', OutputName: 'VpcId' },
        });
      }
      const routes = Object.values(resourcesOf(compute, 'AWS::EC2::Route'));
      expect(routes.map((r) => r.Properties)).toEqual(
        Object.keys(subnets).map(() => ({
          RouteTableId: expect.anything(),
          DestinationCidrBlock: '0.0.0.0/0',
          GatewayId: {
            'Fn::GetStackOutput': { StackName: 'GpuFleet-Network', OutputName: 'InternetGatewayId' },
          },
        })),
      );
      // The routes wait for the gateway's attachment: the Network stack deploys first.
      expect(on.compute.dependencies).toContain(on.network);
    });

    it('mounts the Data stack’s file system in each burst subnet, behind its file-system security group', () => {
      const mountTargets = Object.values(resourcesOf(compute, 'AWS::EFS::MountTarget'));
      expect(mountTargets).toHaveLength(2);
      expect(mountTargets.map((m) => m.Properties.SubnetId)).toEqual(
        Object.keys(subnets).map((id) => ({ Ref: id })),
      );
      const hostsMount = Object.values(resourcesOf(json(on.data), 'AWS::EFS::MountTarget'))[0] as Resource;
      const dataOutputs = json(on.data).Outputs as Record<string, { Value: unknown }>;
      for (const mountTarget of mountTargets) {
        const { StackName, OutputName } = mountTarget.Properties.FileSystemId['Fn::GetStackOutput'];
        expect(StackName).toBe('GpuFleet-Data');
        expect(dataOutputs[OutputName]?.Value).toEqual(hostsMount.Properties.FileSystemId);
        expect(mountTarget.Properties.SecurityGroups).toEqual([
          {
            'Fn::GetStackOutput': expect.objectContaining({
              StackName: 'GpuFleet-Network',
              OutputName: expect.stringMatching(/^PublishOutputFnGetAttFileSystemSecurityGroup/),
            }),
          },
        ]);
      }
    });

    it('puts the group in those subnets only, created after and deleted before the mount targets', () => {
      expect(group.Properties.VPCZoneIdentifier).toEqual(Object.keys(subnets).map((id) => ({ Ref: id })));
      // Never the hosts' subnet: a worker could take a fixed address while a host rotates.
      expect(JSON.stringify(group.Properties.VPCZoneIdentifier)).not.toContain('GetStackOutput');
      expect(group.DependsOn).toEqual(
        expect.arrayContaining(Object.keys(resourcesOf(compute, 'AWS::EFS::MountTarget'))),
      );
    });
  });
});

describe('burst zones never include the hosts’ zone (EFS takes one mount target per zone)', () => {
  const THREE = ['ap-northeast-1a', 'ap-northeast-1c', 'ap-northeast-1d'];
  const FOUR = ['us-east-1a', 'us-east-1b', 'us-east-1c', 'us-east-1d'];

  function zonesOf(fleet: Fleet, zones: readonly string[]): string[] {
    const network = json(fleet.network);
    const compute = json(fleet.compute);
    const host = Object.values(resourcesOf(network, 'AWS::EC2::Subnet'))[0] as Resource;
    return [
      evaluate(host.Properties.AvailabilityZone, network, zones) as string,
      ...Object.values(resourcesOf(compute, 'AWS::EC2::Subnet')).map(
        (s) => evaluate(s.Properties.AvailabilityZone, compute, zones) as string,
      ),
    ];
  }

  it('keeps today’s expressions without availabilityZone: the first zone for the hosts, the next two for burst', () => {
    const { fleet } = buildTestFleet(BURST_ON);
    for (const zones of [THREE, FOUR]) {
      expect(zonesOf(fleet, zones)).toEqual(zones.slice(0, 3));
    }
    expect(json(fleet.compute).Conditions).toBeUndefined();
  });

  it.each([
    [THREE, 'ap-northeast-1a'],
    [THREE, 'ap-northeast-1c'],
    [THREE, 'ap-northeast-1d'],
    [FOUR, 'us-east-1a'],
    [FOUR, 'us-east-1b'],
    [FOUR, 'us-east-1c'],
    [FOUR, 'us-east-1d'],
  ])('in %j with the hosts in %s: three different zones', (zones, availabilityZone) => {
    const { fleet } = buildTestFleet({ ...BURST_ON, availabilityZone });
    const found = zonesOf(fleet, zones);
    expect(found[0]).toBe(availabilityZone);
    expect(found).toHaveLength(3);
    expect(new Set(found).size).toBe(3);
    expect(found.every((zone) => zones.includes(zone))).toBe(true);
  });
});
