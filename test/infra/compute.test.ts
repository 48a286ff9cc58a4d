import { Match, type Template } from 'aws-cdk-lib/assertions';
import { APP_AMI_PARAMETER, GPU_AMI_PARAMETER } from '../../lib/constructs/fleet-host';
import { buildTestFleet, templateOf } from '../support/fleet';
import { type Resource, hostSettings, launchTemplateOf, statementsOf } from './support';

describe('compute stack', () => {
  let compute: Template;
  let resources: Record<string, Resource>;
  beforeAll(() => {
    const { fleet } = buildTestFleet();
    compute = templateOf(fleet.compute);
    resources = compute.toJSON().Resources as Record<string, Resource>;
  });

  const hostResource = (role: 'app' | 'gpu'): Resource => {
    const found = Object.values(resources).filter(
      (r) => r.Type === 'Custom::FleetHostInstance' && r.Properties.Role === role,
    );
    expect(found).toHaveLength(1);
    return found[0] as Resource;
  };
  const launchDataOf = (role: 'app' | 'gpu'): Record<string, any> =>
    launchTemplateOf(compute.toJSON(), role).Properties.LaunchTemplateData;

  it('has no AWS::EC2::Instance: a custom resource owns each host, so CloudFormation never replaces one', () => {
    compute.resourceCountIs('AWS::EC2::Instance', 0);
    expect(hostResource('app').Properties).toMatchObject({ Fleet: 'GpuFleet', Spot: 'false', Revision: '1' });
    expect(hostResource('gpu').Properties).toMatchObject({ Fleet: 'GpuFleet', Spot: 'true', Revision: '1' });
  });

  it('launches the app host on t3.large, AL2023 resolved at launch, IMDSv2, encrypted gp3', () => {
    expect(launchDataOf('app')).toMatchObject({
      InstanceType: 't3.large',
      ImageId: `resolve:ssm:${APP_AMI_PARAMETER}`,
      MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 2 },
      BlockDeviceMappings: [
        {
          DeviceName: '/dev/xvda',
          Ebs: { Encrypted: true, VolumeType: 'gp3', VolumeSize: 30, DeleteOnTermination: true },
        },
      ],
    });
    // The app host's address is its slot's own interface, which each launch attaches.
    expect(launchDataOf('app').NetworkInterfaces).toBeUndefined();
    expect(JSON.stringify(hostResource('app').Properties.NetworkInterface)).toMatch(
      /PrivateIpAddress.*10\.0\.1\.10.*SecurityGroupIds/,
    );
  });

  it('associates the Elastic IP with the app slot’s interface, never with an instance', () => {
    compute.hasResourceProperties(
      'AWS::EC2::EIP',
      Match.objectEquals({ Domain: 'vpc', Tags: Match.anyValue() }),
    );
    compute.hasResourceProperties(
      'AWS::EC2::EIPAssociation',
      Match.objectEquals({
        AllocationId: Match.anyValue(),
        NetworkInterfaceId: { 'Fn::GetAtt': ['AppHostInstanceF5939EEC', 'NetworkInterfaceId'] },
      }),
    );
  });

  it('pins the logical ids that a refactor must not change: the host slots and the ServiceToken', () => {
    expect(hostResource('app')).toBe(resources.AppHostInstanceF5939EEC);
    expect(hostResource('gpu')).toBe(resources.GpuWorkerHostInstance4ADBD1B3);
    for (const role of ['app', 'gpu'] as const) {
      expect(hostResource(role).Properties.ServiceToken).toEqual({
        'Fn::GetAtt': ['HostLifecycleProviderframeworkonEvent976799DF', 'Arn'],
      });
    }
    expect(resources.HostLifecycleProviderframeworkonEvent976799DF?.Type).toBe('AWS::Lambda::Function');
  });

  it('launches the GPU worker on g4dn.xlarge at 10.0.1.20 from the AL2023 DLAMI resolved at launch', () => {
    expect(launchDataOf('gpu')).toMatchObject({
      InstanceType: 'g4dn.xlarge',
      ImageId: `resolve:ssm:${GPU_AMI_PARAMETER}`,
      MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 2 },
      BlockDeviceMappings: [
        { DeviceName: '/dev/xvda', Ebs: { Encrypted: true, VolumeType: 'gp3', VolumeSize: 100 } },
      ],
      NetworkInterfaces: [{ DeviceIndex: 0, PrivateIpAddress: '10.0.1.20', AssociatePublicIpAddress: true }],
    });
    expect(GPU_AMI_PARAMETER).toContain('base-oss-nvidia-driver-gpu-amazon-linux-2023');
  });

  it('requests persistent spot capacity that stops on interruption, with the plan’s cap and an explicit ValidUntil', () => {
    expect(launchDataOf('gpu').InstanceMarketOptions).toEqual({
      MarketType: 'spot',
      SpotOptions: {
        SpotInstanceType: 'persistent',
        InstanceInterruptionBehavior: 'stop',
        MaxPrice: '0.3',
        ValidUntil: '2027-12-31T00:00:00Z',
      },
    });
    expect(launchDataOf('app').InstanceMarketOptions).toBeUndefined();
  });

  it('can drop the spot price cap (spotMaxPriceUsd: null)', () => {
    const { fleet } = buildTestFleet({ spotMaxPriceUsd: null });
    const uncapped = launchTemplateOf(templateOf(fleet.compute).toJSON(), 'gpu').Properties
      .LaunchTemplateData;
    expect(uncapped.InstanceMarketOptions.SpotOptions).not.toHaveProperty('MaxPrice');
  });

  it('keeps tags out of the launch template data, so a tag change never makes a new version', () => {
    for (const role of ['app', 'gpu'] as const) expect(launchDataOf(role).TagSpecifications).toBeUndefined();
    expect(JSON.parse(hostResource('gpu').Properties.Tags as string)).toEqual({ Project: 'gpu-fleet' });
  });

  it('puts nothing a routine deploy changes into user data: only the per-boot provisioning unit', () => {
    const routine = ['OPENVOICE_IMAGE=', 'FRONTEND_IMAGE=', 'JOB_QUEUE_URL=', 'HostFiles', 'amazonaws.com'];
    for (const role of ['app', 'gpu'] as const) {
      const userData = JSON.stringify(launchDataOf(role).UserData);
      expect(userData).toContain('gpu-fleet-provision.service');
      expect(userData).toContain(`RUNTIME_PARAMETER='/gpu-fleet/GpuFleet/${role}/settings'`);
      for (const setting of routine) expect(userData).not.toContain(setting);
      expect(userData).not.toContain('build-deb.sh');
    }
  });

  it('delivers the settings each host reads on every boot through SSM Parameter Store', () => {
    const settings = (role: 'app' | 'gpu'): string => hostSettings(compute, role);
    const shared = [
      'HOST_FILES_URL',
      'FILE_SYSTEM_ID',
      'ACCESS_POINT_ID',
      'JOB_QUEUE_URL',
      'API_TOKEN_SECRET',
    ];
    for (const role of ['app', 'gpu'] as const) {
      for (const key of shared) expect(settings(role)).toContain(key);
    }
    expect(settings('gpu')).toContain('OPENVOICE_IMAGE');
    expect(settings('gpu')).toContain('WORKER_IMAGE');
    expect(settings('app')).toContain('FRONTEND_IMAGE');
    expect(settings('app')).toContain('GPU_PRIVATE_IP');
  });

  it('gives each host SSM core and only what it needs: its own host files, no EFS root access', () => {
    const actionsOf = (prefix: string): string[] =>
      statementsOf(compute, prefix).flatMap((s) => [s.Action].flat() as string[]);

    for (const prefix of ['AppHostRole', 'GpuWorkerHostRole']) {
      const actions = actionsOf(prefix);
      expect(actions).toEqual(
        expect.arrayContaining([
          'elasticfilesystem:ClientMount',
          'elasticfilesystem:ClientWrite',
          'secretsmanager:GetSecretValue',
          'ssm:GetParameter',
        ]),
      );
      expect(actions).not.toContain('elasticfilesystem:ClientRootAccess');
      const hostFiles = statementsOf(compute, prefix).find((s) => s.Sid === 'ReadOwnHostFiles');
      expect(hostFiles?.Action).toBe('s3:GetObject');
      // One object, named by its content hash: not the whole assets bucket.
      expect(JSON.stringify(hostFiles?.Resource)).toMatch(/\/[0-9a-f]{64}\.zip"/);
      expect(actions.some((a) => a.startsWith('s3:List') || a.startsWith('s3:GetBucket'))).toBe(false);
    }

    const app = actionsOf('AppHostRole');
    expect(app).toContain('sqs:SendMessage');
    expect(app.some((a) => a.startsWith('ec2:') || a.startsWith('ecr:') || a === 'sqs:ReceiveMessage')).toBe(
      false,
    );

    const gpu = actionsOf('GpuWorkerHostRole');
    expect(gpu).toEqual(
      expect.arrayContaining([
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
        'sqs:ChangeMessageVisibility',
        'ecr:BatchGetImage',
        'ec2:CreateTags',
      ]),
    );
    expect(gpu).not.toContain('sqs:SendMessage');
    expect(gpu.some((a) => ['ec2:StartInstances', 'ec2:StopInstances', 'ec2:*'].includes(a))).toBe(false);
    const tagging = statementsOf(compute, 'GpuWorkerHostRole').find((s) => s.Sid === 'ReportOnItself');
    expect(tagging?.Condition).toEqual({
      ArnEquals: { 'ec2:SourceInstanceARN': expect.anything() },
      StringEquals: {
        'aws:ResourceTag/gpu-fleet:role': 'gpu',
        'aws:ResourceTag/gpu-fleet:fleet': 'GpuFleet',
      },
      'ForAllValues:StringEquals': {
        'aws:TagKeys': ['gpu-fleet:ready-at', 'gpu-fleet:last-job-at'],
      },
    });
  });

  describe('the host lifecycle provider’s permissions (both handlers act)', () => {
    const handlers = ['HostLifecycleOnEvent', 'HostLifecycleIsComplete'];
    const templateIdOf = (role: 'app' | 'gpu') =>
      hostResource(role).Properties.LaunchTemplateId as { Ref: string };

    it.each(handlers)('%s terminates, cancels and deletes only what carries the fleet tag', (prefix) => {
      const statements = statementsOf(compute, prefix);
      const retire = statements.find((s) => s.Sid === 'RetireFleetHostsOnly');
      expect([...(retire?.Action as string[])].sort()).toEqual([
        'ec2:CancelSpotInstanceRequests',
        'ec2:DeleteNetworkInterface',
        'ec2:TerminateInstances',
      ]);
      expect(retire?.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/gpu-fleet:fleet': 'GpuFleet' } });
      const tagAtCreation = statements.find((s) => s.Sid === 'TagAtCreationOnly');
      expect(tagAtCreation?.Condition.StringEquals).toEqual({
        'ec2:CreateAction': ['RunInstances', 'CreateNetworkInterface'],
        'aws:RequestTag/gpu-fleet:fleet': 'GpuFleet',
      });
      expect(statements.some((s) => s.Sid === 'ResolveAmiAtLaunch')).toBe(true);
    });

    it.each(handlers)(
      '%s launches only from the two launch templates, into their subnet and groups',
      (prefix) => {
        const statements = statementsOf(compute, prefix);
        const launching = statements.filter((s) => [s.Action].flat().includes('ec2:RunInstances'));
        const text = JSON.stringify(launching);
        expect(text).not.toContain('launch-template/*');
        expect(text).not.toContain('subnet/*');
        expect(text).not.toContain('security-group/*');
        for (const role of ['app', 'gpu'] as const) {
          expect(text).toContain(JSON.stringify(templateIdOf(role)));
          const instances = launching.find(
            (s) => s.Sid === `Launch${role === 'app' ? 'App' : 'Gpu'}HostInstancesOnlyFromItsTemplate`,
          );
          expect(JSON.stringify(instances?.Condition)).toContain(JSON.stringify(templateIdOf(role)));
        }
        // Instances are created only under a template condition.
        for (const s of launching) {
          if (JSON.stringify(s.Resource).includes(':instance/*')) expect(s.Condition).toBeDefined();
        }
      },
    );

    it.each(handlers)(
      '%s may retire an untagged relaunch of a host, recognised by its instance profile',
      (prefix) => {
        const statements = statementsOf(compute, prefix);
        const relaunch = statements.find((s) => s.Sid === 'RetireGpuHostRelaunches');
        expect(relaunch?.Action).toEqual(['ec2:CreateTags', 'ec2:TerminateInstances']);
        expect(Object.keys(relaunch?.Condition.ArnEquals ?? {})).toEqual(['ec2:InstanceProfile']);
      },
    );
  });

  it('generates the OpenVoice API token in Secrets Manager, readable by both hosts', () => {
    compute.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: { PasswordLength: 48, ExcludePunctuation: true },
    });
  });

  it('outputs the instance ids and the public address', () => {
    for (const key of ['AppInstanceId', 'GpuInstanceId', 'AppPublicIp']) compute.hasOutput(key, {});
  });
});

describe('data stack access point', () => {
  it('makes every file on EFS uid/gid 1000 under /gpu-fleet, so no host needs root access', () => {
    const { fleet } = buildTestFleet();
    templateOf(fleet.data).hasResourceProperties('AWS::EFS::AccessPoint', {
      PosixUser: { Uid: '1000', Gid: '1000' },
      RootDirectory: {
        Path: '/gpu-fleet',
        CreationInfo: { OwnerUid: '1000', OwnerGid: '1000', Permissions: '2775' },
      },
    });
  });
});
