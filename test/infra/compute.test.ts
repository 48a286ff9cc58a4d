import { Match, type Template } from 'aws-cdk-lib/assertions';
import { DLAMI_SSM_PARAMETER } from '../../lib/constructs/gpu-worker';
import { buildTestFleet, templateOf } from '../support/fleet';

describe('compute stack', () => {
  let compute: Template;
  beforeAll(() => {
    const { fleet } = buildTestFleet();
    compute = templateOf(fleet.compute);
  });

  const instanceWithRole = (role: 'app' | 'gpu'): Record<string, unknown> => {
    const found = Object.values(
      compute.findResources('AWS::EC2::Instance', {
        Properties: { Tags: Match.arrayWith([{ Key: 'gpu-fleet:role', Value: role }]) },
      }),
    );
    expect(found).toHaveLength(1);
    return found[0]?.Properties as Record<string, unknown>;
  };

  it('runs the app host on t3.large at 10.0.1.10 with IMDSv2, an encrypted gp3 root and an Elastic IP', () => {
    const app = instanceWithRole('app');
    expect(app).toMatchObject({
      InstanceType: 't3.large',
      PrivateIpAddress: '10.0.1.10',
      MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 2 },
      BlockDeviceMappings: [
        { DeviceName: '/dev/xvda', Ebs: { Encrypted: true, VolumeType: 'gp3', VolumeSize: 30 } },
      ],
    });
    expect(JSON.stringify(app.ImageId)).toContain('al2023');
    compute.hasResourceProperties('AWS::EC2::EIP', {
      Domain: 'vpc',
      InstanceId: { Ref: Match.stringLikeRegexp('^AppHostInstance') },
    });
  });

  it('runs the GPU worker on g4dn.xlarge at 10.0.1.20 from the DLAMI parameter, IMDSv2, encrypted gp3', () => {
    const gpu = instanceWithRole('gpu');
    expect(gpu).toMatchObject({
      InstanceType: 'g4dn.xlarge',
      PrivateIpAddress: '10.0.1.20',
      MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 2 },
      BlockDeviceMappings: [
        { DeviceName: '/dev/sda1', Ebs: { Encrypted: true, VolumeType: 'gp3', VolumeSize: 100 } },
      ],
      LaunchTemplate: {
        LaunchTemplateId: { Ref: expect.stringMatching(/^GpuWorkerSpotLaunchTemplate/) },
        Version: {
          'Fn::GetAtt': [expect.stringMatching(/^GpuWorkerSpotLaunchTemplate/), 'LatestVersionNumber'],
        },
      },
    });
    const parameters = compute.findParameters('*', { Default: DLAMI_SSM_PARAMETER });
    expect(Object.keys(parameters)).toHaveLength(1);
    expect(Object.values(parameters)[0]?.Type).toBe('AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>');
    expect(gpu.ImageId).toEqual({ Ref: Object.keys(parameters)[0] });
  });

  it('requests persistent spot capacity that stops on interruption, with max price and an explicit ValidUntil', () => {
    compute.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        InstanceMarketOptions: {
          MarketType: 'spot',
          SpotOptions: {
            SpotInstanceType: 'persistent',
            InstanceInterruptionBehavior: 'stop',
            MaxPrice: '0.3',
            ValidUntil: '2027-12-31T00:00:00Z',
          },
        },
        MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 2 },
      }),
    });
  });

  it('gives each host SSM core and only what it needs', () => {
    const policies = Object.entries(compute.findResources('AWS::IAM::Policy'));
    const statementsOf = (prefix: string): Array<Record<string, unknown>> =>
      policies
        .filter(([id]) => id.startsWith(prefix))
        .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>);
    const actionsOf = (prefix: string): string[] =>
      statementsOf(prefix).flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]) as string[]);

    const app = actionsOf('AppHostInstanceRole');
    expect(app).toEqual(
      expect.arrayContaining([
        'sqs:SendMessage',
        'elasticfilesystem:ClientMount',
        'elasticfilesystem:ClientWrite',
        'elasticfilesystem:ClientRootAccess',
      ]),
    );
    expect(app.some((a) => a.startsWith('ec2:') || a.startsWith('ecr:') || a === 'sqs:ReceiveMessage')).toBe(
      false,
    );

    const gpu = actionsOf('GpuWorkerInstanceRole');
    expect(gpu).toEqual(
      expect.arrayContaining([
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
        'sqs:ChangeMessageVisibility',
        'ecr:BatchGetImage',
        'ec2:CreateTags',
        'elasticfilesystem:ClientMount',
      ]),
    );
    expect(gpu).not.toContain('sqs:SendMessage');
    expect(gpu.some((a) => ['ec2:StartInstances', 'ec2:StopInstances', 'ec2:*'].includes(a))).toBe(false);
    const tagging = statementsOf('GpuWorkerInstanceRole').find((s) => s.Sid === 'ReportWorkerReady');
    expect(tagging?.Condition).toEqual({
      StringEquals: { 'aws:ResourceTag/gpu-fleet:role': 'gpu' },
      'ForAllValues:StringEquals': { 'aws:TagKeys': ['gpu-fleet:ready-at'] },
    });

    const roles = Object.values(compute.findResources('AWS::IAM::Role'));
    expect(roles).toHaveLength(2);
    for (const role of roles) {
      expect(JSON.stringify(role.Properties.ManagedPolicyArns)).toContain('AmazonSSMManagedInstanceCore');
    }
  });

  it('mounts EFS with tls,iam and installs the systemd unit from user data', () => {
    const userData = (role: 'app' | 'gpu'): string => JSON.stringify(instanceWithRole(role).UserData);
    for (const role of ['app', 'gpu'] as const) {
      const script = userData(role);
      expect(script).toContain('_netdev,noresvport,tls,iam');
      expect(script).toContain('enable_unit');
      expect(script).toContain('FILE_SYSTEM_ID=');
    }
    expect(userData('app')).toContain('enable_unit gpu-fleet-app.service');
    expect(userData('gpu')).toContain('enable_unit gpu-fleet.service');
    expect(userData('gpu')).toContain('build-deb.sh');
    expect(userData('gpu')).toContain('OPENVOICE_IMAGE=');
  });

  it('tags every instance with the fleet and the project, and outputs ids and the public address', () => {
    for (const role of ['app', 'gpu'] as const) {
      expect(instanceWithRole(role).Tags).toEqual(
        expect.arrayContaining([
          { Key: 'gpu-fleet:fleet', Value: 'GpuFleet' },
          { Key: 'Project', Value: 'gpu-fleet' },
        ]),
      );
    }
    for (const key of ['AppInstanceId', 'GpuInstanceId', 'AppPublicIp']) compute.hasOutput(key, {});
  });
});
