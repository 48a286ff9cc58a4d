import type { Template } from 'aws-cdk-lib/assertions';
import type { FleetConfig } from '../../src/config';
import { buildTestFleet, templateOf } from '../support/fleet';
import { BURST_ON as BURST_GROUP, type Resource, statementsOf } from './support';

/**
 * Each grant read as an attacker would: a compromised container, a burst worker, a leaked key.
 * Every test names a path that must stay closed in the synthesized templates.
 */

type Statement = Record<string, any>;

const BURST_ON: Partial<FleetConfig> = { ...BURST_GROUP, appIngressCidrs: ['203.0.113.0/24'] };

function resources(template: Template, type: string): Array<[string, Resource]> {
  return Object.entries(template.findResources(type)) as Array<[string, Resource]>;
}

const actionsOf = (s: Statement): string[] => [s.Action].flat() as string[];

describe('least privilege', () => {
  let network: Template;
  let data: Template;
  let compute: Template;
  let scaler: Template;
  beforeAll(() => {
    const { fleet } = buildTestFleet(BURST_ON);
    network = templateOf(fleet.network);
    data = templateOf(fleet.data);
    compute = templateOf(fleet.compute);
    scaler = templateOf(fleet.scaler);
  });

  describe('network', () => {
    const securityGroup = (prefix: string): Resource | undefined =>
      resources(network, 'AWS::EC2::SecurityGroup').find(([id]) => id.startsWith(prefix))?.[1];
    const groupIdOf = (prefix: string) => ({
      'Fn::GetAtt': [expect.stringMatching(new RegExp(`^${prefix}`)), 'GroupId'],
    });

    it('opens no VOICEVOX port to the ingress CIDRs: the backend reaches it inside compose', () => {
      const rules = (securityGroup('AppSecurityGroup')?.Properties.SecurityGroupIngress ?? []) as Statement[];
      expect(rules.length).toBeGreaterThan(0);
      expect(rules.some((r) => r.FromPort <= 50021 && r.ToPort >= 50021)).toBe(false);
    });

    it('limits host egress to HTTPS, NFS to the file system group and (app) OpenVoice on the GPU group', () => {
      const separateRules = resources(network, 'AWS::EC2::SecurityGroupEgress').map(([, r]) => r.Properties);
      for (const prefix of ['AppSecurityGroup', 'GpuSecurityGroup']) {
        const inline = (securityGroup(prefix)?.Properties.SecurityGroupEgress ?? []) as Statement[];
        const separate = separateRules.filter((r) => JSON.stringify(r.GroupId).includes(prefix));
        const egress = [...inline, ...separate];
        // No rule for all protocols or all ports, to anywhere.
        expect(egress.some((r) => r.IpProtocol === '-1')).toBe(false);
        expect(egress.filter((r) => r.CidrIp === '0.0.0.0/0')).toEqual([
          expect.objectContaining({ IpProtocol: 'tcp', FromPort: 443, ToPort: 443 }),
        ]);
        expect(egress).toEqual(
          expect.arrayContaining([
            expect.objectContaining({
              IpProtocol: 'tcp',
              FromPort: 2049,
              ToPort: 2049,
              DestinationSecurityGroupId: groupIdOf('FileSystemSecurityGroup'),
            }),
          ]),
        );
      }
      expect(separateRules.filter((r) => r.FromPort === 8001)).toEqual([
        expect.objectContaining({
          GroupId: groupIdOf('AppSecurityGroup'),
          DestinationSecurityGroupId: groupIdOf('GpuSecurityGroup'),
        }),
      ]);
    });

    it('records accepted traffic too in the flow logs, so data sent out is logged', () => {
      network.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL' });
    });
  });

  describe('EFS only through its access point', () => {
    const fileSystemPolicy = (): Statement[] =>
      resources(data, 'AWS::EFS::FileSystem')[0]?.[1].Properties.FileSystemPolicy.Statement as Statement[];

    it('allows nothing to everyone: no Allow for the * principal', () => {
      for (const s of fileSystemPolicy()) {
        if (JSON.stringify(s.Principal).includes('"*"')) expect(s.Effect).toBe('Deny');
      }
    });

    it('denies root access to everyone', () => {
      expect(fileSystemPolicy()).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 'elasticfilesystem:ClientRootAccess',
          }),
        ]),
      );
      expect(
        fileSystemPolicy().find((s) => s.Action === 'elasticfilesystem:ClientRootAccess')?.Condition,
      ).toBeUndefined();
    });

    it('denies mounts and writes that do not name the access point, and any mount without TLS', () => {
      const notThroughAccessPoint = fileSystemPolicy().find(
        (s) => s.Effect === 'Deny' && s.Condition?.ArnNotLike?.['elasticfilesystem:AccessPointArn'],
      );
      expect(notThroughAccessPoint).toBeDefined();
      expect([...actionsOf(notThroughAccessPoint as Statement)].sort()).toEqual([
        'elasticfilesystem:ClientMount',
        'elasticfilesystem:ClientWrite',
      ]);
      expect(JSON.stringify(notThroughAccessPoint?.Condition)).toMatch(/:access-point\/\*"/);
      expect(fileSystemPolicy()).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      );
    });

    it('grants each host role mount and write only through the access point, never root', () => {
      for (const prefix of ['AppHostRole', 'GpuWorkerHostRole', 'GpuWorkerBurstRole']) {
        const efs = statementsOf(compute, prefix).filter((s) =>
          actionsOf(s).some((a) => a.startsWith('elasticfilesystem:Client')),
        );
        expect(efs).toHaveLength(1);
        expect([...actionsOf(efs[0] as Statement)].sort()).toEqual([
          'elasticfilesystem:ClientMount',
          'elasticfilesystem:ClientWrite',
        ]);
        // The exact access point (the Data stack's export), not a pattern.
        expect(JSON.stringify(efs[0]?.Condition?.StringEquals?.['elasticfilesystem:AccessPointArn'])).toMatch(
          /SharedAccessPoint/,
        );
      }
    });
  });

  describe('each role only its own', () => {
    it('denies every host SSM parameter reads other than its own settings (the managed policy allows *)', () => {
      for (const [prefix, settings] of [
        ['AppHostRole', 'AppHostSettings'],
        ['GpuWorkerHostRole', 'GpuWorkerHostSettings'],
        ['GpuWorkerBurstRole', 'GpuWorkerHostSettings'],
      ] as const) {
        const deny = statementsOf(compute, prefix).find(
          (s) => s.Effect === 'Deny' && actionsOf(s).includes('ssm:GetParameter'),
        );
        expect(deny).toBeDefined();
        expect(actionsOf(deny as Statement)).toEqual(
          expect.arrayContaining(['ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParametersByPath']),
        );
        expect(deny?.Resource).toBeUndefined();
        expect(JSON.stringify(deny?.NotResource)).toContain(settings);
      }
    });

    it('lets a GPU worker tag only its own instance (the ARN it calls from), only its report keys', () => {
      for (const [prefix, keys] of [
        ['GpuWorkerHostRole', ['gpu-fleet:ready-at', 'gpu-fleet:last-job-at']],
        ['GpuWorkerBurstRole', ['gpu-fleet:ready-at', 'gpu-fleet:last-job-at', 'gpu-fleet:drained-at']],
      ] as const) {
        const tagging = statementsOf(compute, prefix).find((s) => s.Sid === 'ReportOnItself');
        // The calling instance's ARN must be the tagged instance's: ARN built from the target's id,
        // spelled as AWS's own managed policy AWSEC2VssSnapshotPolicy spells the variable.
        expect(JSON.stringify(tagging?.Condition.ArnEquals['ec2:SourceInstanceARN'])).toMatch(
          /:instance\/\$\{ec2:InstanceId\}"/,
        );
        expect(tagging?.Condition['ForAllValues:StringEquals']).toEqual({ 'aws:TagKeys': keys });
      }
    });

    it('lets no burst worker complete a lifecycle action: the scaler completes drains of its group', () => {
      const completes = (prefix: string) =>
        statementsOf(compute, prefix).some((s) =>
          actionsOf(s).includes('autoscaling:CompleteLifecycleAction'),
        );
      expect(completes('GpuWorkerBurstRole')).toBe(false);
      expect(completes('GpuWorkerHostRole')).toBe(false);
    });

    it.each(['HostLifecycleOnEvent', 'HostLifecycleIsComplete'])(
      '%s launches only from the two host launch templates, into their subnet and groups, with the fleet tag',
      (handler) => {
        const statements = statementsOf(compute, handler).filter((s) =>
          actionsOf(s).includes('ec2:RunInstances'),
        );
        const resourcesText = JSON.stringify(statements.map((s) => s.Resource));
        expect(resourcesText).not.toMatch(/launch-template\/\*|subnet\/\*|security-group\/\*/);
        const templates = statements
          .flatMap((s) => [s.Resource].flat())
          .filter((r) => JSON.stringify(r).includes('launch-template/'));
        expect(templates).toHaveLength(2);
        // Every instance comes from one of those templates and carries the fleet tag.
        const instances = statements.filter((s) => JSON.stringify(s.Resource).includes(':instance/*'));
        expect(instances).toHaveLength(2);
        for (const s of instances) {
          expect(JSON.stringify(s.Condition.ArnLike['ec2:LaunchTemplate'])).toContain('launch-template/');
          expect(s.Condition.StringEquals).toEqual({ 'aws:RequestTag/gpu-fleet:fleet': 'GpuFleet' });
        }
      },
    );

    it.each([{}, { tags: { 'team:cost-center': 'video' } }])(
      'lets the provider write only its tag keys, never delete a gpu-fleet key, and pass the host roles only to EC2 (%j)',
      (overrides) => {
        const statements = statementsOf(
          templateOf(buildTestFleet({ ...BURST_ON, ...overrides }).fleet.compute),
          'HostLifecycleOnEvent',
        );
        // One Deny covers every CreateTags the handlers are allowed: any other key fails.
        const keysDeny = statements.filter(
          (s) => s.Effect === 'Deny' && actionsOf(s).includes('ec2:CreateTags'),
        );
        expect(keysDeny).toHaveLength(1);
        expect(keysDeny[0]?.Resource).toBe('*');
        const keys = keysDeny[0]?.Condition['ForAnyValue:StringNotEquals']['aws:TagKeys'] as string[];
        expect(keys).toEqual(
          expect.arrayContaining([
            'Name',
            'gpu-fleet:fleet',
            'gpu-fleet:role',
            'gpu-fleet:owner',
            'gpu-fleet:launch',
          ]),
        );
        for (const key of Object.keys((overrides as { tags?: object }).tags ?? {}))
          expect(keys).toContain(key);
        // Never the worker's own reports: only the worker writes its ready and last-job times.
        expect(keys).not.toContain('gpu-fleet:ready-at');
        expect(keys).not.toContain('gpu-fleet:last-job-at');
        const tagAtCreation = statements.find((s) => s.Sid === 'TagAtCreationOnly');
        expect(tagAtCreation?.Condition.StringEquals['aws:RequestTag/gpu-fleet:fleet']).toBe('GpuFleet');
        const untagging = statements.filter((s) => actionsOf(s).includes('ec2:DeleteTags'));
        expect(untagging).toHaveLength(1);
        expect(untagging[0]?.Condition['ForAllValues:StringNotLike']).toEqual({
          'aws:TagKeys': ['Name', 'gpu-fleet:*'],
        });
        const passRole = statements.filter((s) => actionsOf(s).includes('iam:PassRole'));
        expect(passRole).toHaveLength(2);
        for (const s of passRole) {
          expect(s.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } });
        }
      },
    );

    it('keeps every provider grant in its handlers’ inline policies, none overflowing into a managed policy', () => {
      // CDK moves statements past the inline size limit into a managed policy the hosts do not wait for.
      expect(resources(compute, 'AWS::IAM::ManagedPolicy')).toEqual([]);
      const tags = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`team:cost-center-${i}`, 'x']));
      const tagged = templateOf(buildTestFleet({ ...BURST_ON, tags }).fleet.compute);
      expect(resources(tagged, 'AWS::IAM::ManagedPolicy')).toEqual([]);
    });

    it('keeps the scaler from raising the burst group’s maximum or minimum', () => {
      const statements = statementsOf(scaler, 'Scaler');
      const deny = statements.find(
        (s) => s.Effect === 'Deny' && actionsOf(s).includes('autoscaling:UpdateAutoScalingGroup'),
      );
      expect(deny?.Condition?.NumericGreaterThan).toEqual({ 'autoscaling:MaxSize': 3 });
      const denyMin = statements.find(
        (s) => s.Effect === 'Deny' && s.Condition?.NumericGreaterThan?.['autoscaling:MinSize'] !== undefined,
      );
      expect(denyMin?.Condition.NumericGreaterThan).toEqual({ 'autoscaling:MinSize': 0 });
    });
  });
});
