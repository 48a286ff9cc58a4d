import * as path from 'node:path';
import { Aws, Expiration, Tags, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { TAGS, isoSeconds } from '../../src/core/tags.js';
import { HostRole } from './host-role.js';
import { type FleetHostProps, hostInstance } from './host-instance.js';
import { HOST_TOOL_VERSIONS } from './host-user-data.js';

/** Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04), resolved at deploy time. */
export const DLAMI_SSM_PARAMETER =
  '/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id';

const DOCKER_DIR = path.join(__dirname, '..', '..', 'docker');

export type GpuWorkerProps = FleetHostProps;

/**
 * The GPU worker: a g4dn.xlarge from a persistent spot request that EC2 stops (not terminates)
 * on interruption, so the scaler can stop and start it like an on-demand instance.
 *
 * ec2.Instance has no spot option; the spot market options come from a launch template set on
 * the underlying CfnInstance.
 */
export class GpuWorker extends Construct {
  readonly instance: ec2.Instance;
  readonly launchTemplate: ec2.LaunchTemplate;

  constructor(scope: Construct, id: string, props: GpuWorkerProps) {
    super(scope, id);
    const { config } = props;

    const openVoiceImage = new ecrAssets.DockerImageAsset(this, 'OpenVoiceImage', {
      directory: path.join(DOCKER_DIR, 'openvoice'),
      platform: ecrAssets.Platform.LINUX_AMD64,
    });
    const workerImage = new ecrAssets.DockerImageAsset(this, 'WorkerImage', {
      directory: path.join(DOCKER_DIR, 'worker'),
      platform: ecrAssets.Platform.LINUX_AMD64,
    });
    const hostFiles = new s3assets.Asset(this, 'HostFiles', { path: path.join(DOCKER_DIR, 'gpu-host') });

    const { role } = new HostRole(this, 'InstanceRole', {
      purpose: 'GPU worker',
      fileSystem: props.fileSystem,
      hostFiles,
    });
    openVoiceImage.repository.grantPull(role);
    workerImage.repository.grantPull(role);
    props.jobQueue.grantConsumeMessages(role);
    // The worker reports ready by tagging its own instance. The role cannot name that
    // instance's ARN (a cycle), so the grant is narrowed by the role tag and the one tag key.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReportWorkerReady',
        actions: ['ec2:CreateTags'],
        resources: [`arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:instance/*`],
        conditions: {
          StringEquals: { [`aws:ResourceTag/${TAGS.role}`]: 'gpu' },
          'ForAllValues:StringEquals': { 'aws:TagKeys': [TAGS.readyAt] },
        },
      }),
    );

    this.launchTemplate = new ec2.LaunchTemplate(this, 'SpotLaunchTemplate', {
      spotOptions: {
        requestType: ec2.SpotRequestType.PERSISTENT,
        interruptionBehavior: ec2.SpotInstanceInterruption.STOP,
        maxPrice: config.spotMaxPriceUsd,
        // A persistent request expires after 7 days unless told otherwise; after that the
        // instance can no longer be stopped, only terminated.
        validUntil: Expiration.atDate(new Date(config.spotValidUntil)),
      },
      requireImdsv2: true,
      httpPutResponseHopLimit: 2,
    });

    this.instance = hostInstance(this, 'Instance', {
      vpc: props.vpc,
      subnet: props.subnet,
      securityGroup: props.securityGroup,
      role,
      instanceType: config.gpuInstanceType,
      machineImage: ec2.MachineImage.fromSsmParameter(DLAMI_SSM_PARAMETER, {
        os: ec2.OperatingSystemType.LINUX,
      }),
      privateIp: config.gpuPrivateIp,
      rootDeviceName: '/dev/sda1',
      rootVolumeGb: config.gpuRootVolumeGb,
      fileSystem: props.fileSystem,
      hostFiles,
      hostScript: 'gpu-host.sh',
      environment: {
        EFS_UTILS_VERSION: HOST_TOOL_VERSIONS.efsUtils,
        OPENVOICE_IMAGE: openVoiceImage.imageUri,
        WORKER_IMAGE: workerImage.imageUri,
        JOB_QUEUE_URL: props.jobQueue.queueUrl,
      },
    });
    // CloudFormation documents ValidUntil as YYYY-MM-DDTHH:MM:SSZ; Expiration renders an
    // RFC 1123 date, so write the documented form.
    (this.launchTemplate.node.defaultChild as ec2.CfnLaunchTemplate).addPropertyOverride(
      'LaunchTemplateData.InstanceMarketOptions.SpotOptions.ValidUntil',
      isoSeconds(new Date(config.spotValidUntil)),
    );
    const cfnInstance = this.instance.node.defaultChild as ec2.CfnInstance;
    cfnInstance.launchTemplate = {
      launchTemplateId: this.launchTemplate.launchTemplateId,
      version: this.launchTemplate.latestVersionNumber,
    };
    Tags.of(this.instance).add(TAGS.role, 'gpu');
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]',
      reason:
        'CreateTags is limited by condition to instances tagged gpu-fleet:role=gpu and to the one key gpu-fleet:ready-at; naming the instance itself would be a dependency cycle.',
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken has no resource-level permissions; image pulls themselves are limited to the two image repositories.',
    });
  }
}
