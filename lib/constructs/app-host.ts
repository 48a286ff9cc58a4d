import * as path from 'node:path';
import { Tags, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { TAGS } from '../../src/core/tags.js';
import { HostRole } from './host-role.js';
import { type FleetHostProps, hostInstance } from './host-instance.js';
import { HOST_TOOL_VERSIONS } from './host-user-data.js';

export type AppHostProps = FleetHostProps;

/**
 * The app host: Amazon Linux 2023 at a fixed private IP with an Elastic IP, running VOICEVOX
 * and the team's frontend and backend from docker/app/compose.yaml.
 */
export class AppHost extends Construct {
  readonly instance: ec2.Instance;
  readonly elasticIp: ec2.CfnEIP;

  constructor(scope: Construct, id: string, props: AppHostProps) {
    super(scope, id);
    const { config } = props;
    const hostFiles = new s3assets.Asset(this, 'HostFiles', {
      path: path.join(__dirname, '..', '..', 'docker', 'app'),
    });
    const { role } = new HostRole(this, 'InstanceRole', {
      purpose: 'app host',
      fileSystem: props.fileSystem,
      hostFiles,
    });
    props.jobQueue.grantSendMessages(role);

    this.instance = hostInstance(this, 'Instance', {
      vpc: props.vpc,
      subnet: props.subnet,
      securityGroup: props.securityGroup,
      role,
      instanceType: config.appInstanceType,
      machineImage: ec2.MachineImage.latestAmazonLinux2023(),
      privateIp: config.appPrivateIp,
      rootDeviceName: '/dev/xvda',
      rootVolumeGb: config.appRootVolumeGb,
      fileSystem: props.fileSystem,
      hostFiles,
      hostScript: 'app-host.sh',
      environment: {
        COMPOSE_VERSION: HOST_TOOL_VERSIONS.compose,
        JOB_QUEUE_URL: props.jobQueue.queueUrl,
        GPU_PRIVATE_IP: config.gpuPrivateIp,
        FRONTEND_IMAGE: config.appImages.frontend ?? '',
        BACKEND_IMAGE: config.appImages.backend ?? '',
      },
    });
    Tags.of(this.instance).add(TAGS.role, 'app');
    Validations.of(this.instance).acknowledge({
      id: 'AwsSolutions-EC26',
      reason:
        'cdk-nag 3 crashes on this rule for an instance without a launch template in a stack that has one (the GPU worker’s); the root volume is encrypted (BlockDeviceVolume.ebs encrypted: true, asserted in the tests).',
    });

    this.elasticIp = new ec2.CfnEIP(this, 'ElasticIp', {
      domain: 'vpc',
      instanceId: this.instance.instanceId,
    });
  }
}
