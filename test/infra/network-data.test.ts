import { Match, type Template } from 'aws-cdk-lib/assertions';
import { buildTestFleet, templateOf } from '../support/fleet';

describe('network stack', () => {
  let network: Template;
  beforeAll(() => {
    const { fleet } = buildTestFleet();
    network = templateOf(fleet.network);
  });

  it('has the VPC and exactly one public subnet at the configured CIDRs, and no NAT gateway', () => {
    network.hasResourceProperties('AWS::EC2::VPC', { CidrBlock: '10.0.0.0/16' });
    network.resourceCountIs('AWS::EC2::Subnet', 1);
    network.hasResourceProperties('AWS::EC2::Subnet', {
      CidrBlock: '10.0.1.0/24',
      MapPublicIpOnLaunch: true,
    });
    network.resourceCountIs('AWS::EC2::NatGateway', 0);
    network.hasResourceProperties('AWS::EC2::Route', {
      DestinationCidrBlock: '0.0.0.0/0',
      GatewayId: Match.anyValue(),
    });
    network.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL' });
  });

  it('opens nothing to the internet by default: no app ports, no SSH', () => {
    for (const group of Object.values(network.findResources('AWS::EC2::SecurityGroup'))) {
      expect(group.Properties.SecurityGroupIngress ?? []).toEqual([]);
    }
    const ingress = Object.values(network.findResources('AWS::EC2::SecurityGroupIngress'));
    expect(ingress.every((rule) => rule.Properties.CidrIp === undefined)).toBe(true);
    expect(ingress.some((rule) => rule.Properties.FromPort === 22)).toBe(false);
  });

  it('lets only the app sg reach OpenVoice on 8001, and only the hosts reach NFS on 2049', () => {
    const ingress = Object.values(network.findResources('AWS::EC2::SecurityGroupIngress')).map(
      (r) => r.Properties,
    );
    const ref = (logicalIdPrefix: string): unknown => ({
      'Fn::GetAtt': [expect.stringMatching(new RegExp(`^${logicalIdPrefix}`)), 'GroupId'],
    });
    /** A rule letting the group `from` reach the group `to` on `port`. */
    const rule = (port: number, from: string, to: string) =>
      expect.objectContaining({
        FromPort: port,
        ToPort: port,
        SourceSecurityGroupId: ref(from),
        GroupId: ref(to),
      });
    expect(ingress).toEqual(
      expect.arrayContaining([
        rule(8001, 'AppSecurityGroup', 'GpuSecurityGroup'),
        rule(2049, 'AppSecurityGroup', 'FileSystemSecurityGroup'),
        rule(2049, 'GpuSecurityGroup', 'FileSystemSecurityGroup'),
      ]),
    );
    expect(ingress).toHaveLength(3);
  });

  it('opens the app ports and SSH only to the CIDRs the user configured', () => {
    const { fleet } = buildTestFleet({
      appIngressCidrs: ['203.0.113.0/24'],
      sshIngressCidrs: ['198.51.100.7/32'],
    });
    const app = templateOf(fleet.network).findResources('AWS::EC2::SecurityGroup', {
      Properties: { GroupDescription: Match.stringLikeRegexp('app host') },
    });
    const rules = Object.values(app)[0]?.Properties.SecurityGroupIngress;
    expect(rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          CidrIp: '203.0.113.0/24',
          FromPort: 55433,
          ToPort: 55434,
          IpProtocol: 'tcp',
        }),
        expect.objectContaining({ CidrIp: '198.51.100.7/32', FromPort: 22, ToPort: 22 }),
      ]),
    );
    // VOICEVOX (50021) is reached by the backend inside compose, never from outside.
    expect(rules).toHaveLength(2);
  });
});

describe('data stack', () => {
  let data: Template;
  beforeAll(() => {
    const { fleet } = buildTestFleet();
    data = templateOf(fleet.data);
  });

  it('keeps an encrypted, backed-up EFS with IA lifecycle that outlives the stack', () => {
    data.hasResource('AWS::EFS::FileSystem', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({
        Encrypted: true,
        BackupPolicy: { Status: 'ENABLED' },
        LifecyclePolicies: Match.arrayWith([{ TransitionToIA: 'AFTER_30_DAYS' }]),
        // Deny statements only (test/infra/least-privilege.test.ts reads them one by one).
        FileSystemPolicy: Match.objectLike({
          Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Principal: { AWS: '*' } })]),
        }),
      }),
    });
    data.resourceCountIs('AWS::EFS::MountTarget', 1);
  });

  it('has a job queue with SSE, TLS only, a voice-job visibility timeout and a dead-letter queue', () => {
    data.hasResource('AWS::SQS::Queue', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        SqsManagedSseEnabled: true,
        VisibilityTimeout: 900,
        RedrivePolicy: {
          deadLetterTargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DeadLetterQueue'), 'Arn'] },
          maxReceiveCount: 5,
        },
      }),
    });
    data.resourceCountIs('AWS::SQS::Queue', 2);
    const policies = Object.values(data.findResources('AWS::SQS::QueuePolicy'));
    expect(policies).toHaveLength(2);
    for (const policy of policies) {
      expect(policy.Properties.PolicyDocument.Statement).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      );
    }
  });

  it('outputs the queue URLs and the file system id', () => {
    for (const key of ['JobQueueUrl', 'JobQueueArn', 'DeadLetterQueueUrl', 'FileSystemId'])
      data.hasOutput(key, {});
  });
});
