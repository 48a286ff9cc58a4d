import * as path from 'node:path';
import { Annotations, Expiration, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { BURST_ROLE, TAGS, isoSeconds } from '../../src/core/tags.js';
import type { FleetConfig } from '../../src/config.js';
import { burstGroupName } from '../../src/names.js';
import { BurstGroup } from './burst-group.js';
import { FleetHost, type FleetHostProps, GPU_AMI_PARAMETER } from './fleet-host.js';
import type { PublicSubnetBase } from '../network-stack.js';
import { unpinnedModelsInRepository } from '../model-pins.js';

const DOCKER_DIR = path.join(__dirname, '..', '..', 'docker');

/**
 * The GPU host's own settings: its instance and spot request, and the burst workers built from it
 * (`burst`, placed beside the hosts' `subnetCidr` and `availabilityZone`).
 */
export interface GpuWorkerProps
  extends
    FleetHostProps,
    Pick<
      FleetConfig,
      | 'gpuInstanceType'
      | 'gpuPrivateIp'
      | 'gpuRootVolumeGb'
      | 'hostRevision'
      | 'spotMaxPriceUsd'
      | 'spotValidUntil'
      | 'burst'
      | 'subnetCidr'
      | 'availabilityZone'
      | 'modelTrust'
      | 'jobTimeoutMinutes'
    > {
  /** Where the burst workers add their subnets; used only when burst.maxWorkers > 0. */
  readonly publicSubnetBase: PublicSubnetBase;
  /** The file system's security group, for the burst workers' mount targets. */
  readonly fileSystemSecurityGroup: ec2.ISecurityGroup;
  /** The burst workers' log group; required when burst.maxWorkers > 0. @default none */
  readonly burstLogGroup?: logs.ILogGroup;
}

/** The tags the GPU host's queue worker writes on its own instance: readiness and job activity. */
export const GPU_SELF_TAGS = [TAGS.readyAt, TAGS.lastJobAt] as const;

/**
 * A burst worker's self tags: the GPU host's, and the drained tag it writes once it has drained
 * for its termination (the scaler then completes the group's drain hook). The primary is in no
 * group and may not write it.
 */
export const BURST_SELF_TAGS = [...GPU_SELF_TAGS, TAGS.drainedAt] as const;

/**
 * The GPU worker: from a persistent spot request that EC2 stops (not terminates) on
 * interruption, so the scaler can stop and start it like an on-demand instance. Its images are
 * built from docker/openvoice and docker/worker; their URIs reach the host through its settings
 * parameter, so a new image is pulled on the next boot without touching the instance.
 */
export class GpuWorker extends Construct {
  readonly host: FleetHost;
  /** The burst workers' group; absent with burst.maxWorkers 0. */
  readonly burst?: BurstGroup;

  constructor(scope: Construct, id: string, props: GpuWorkerProps) {
    super(scope, id);
    const { appName, burst, jobQueue } = props;
    const burstOn = burst.maxWorkers > 0;
    if (props.modelTrust === 'strict') {
      const unpinned = unpinnedModelsInRepository();
      if (unpinned.length > 0)
        Annotations.of(this).addError(
          `modelTrust "strict" needs every model pinned in docker/openvoice/app/model_pins.json; null: ${unpinned.join(', ')} (print the lock with python -m app.models lock, see docs/models.md)`,
        );
    }
    const image = (id: string, dir: string): ecrAssets.DockerImageAsset =>
      new ecrAssets.DockerImageAsset(this, id, {
        directory: path.join(DOCKER_DIR, dir),
        platform: ecrAssets.Platform.LINUX_AMD64,
      });
    const openVoiceImage = image('OpenVoiceImage', 'openvoice');
    const workerImage = image('WorkerImage', 'worker');

    this.host = new FleetHost(this, 'Host', {
      ...props,
      host: {
        role: 'gpu',
        purpose: 'GPU worker',
        instanceType: props.gpuInstanceType,
        amiParameter: GPU_AMI_PARAMETER,
        privateIp: props.gpuPrivateIp,
        rootVolumeGb: props.gpuRootVolumeGb,
        revision: props.hostRevision.gpu,
        hostFilesDir: 'gpu-host',
        composeUnit: 'gpu-fleet.service',
        composeEnvFile: 'gpu-host.env',
        settings: {
          OPENVOICE_IMAGE: openVoiceImage.imageUri,
          WORKER_IMAGE: workerImage.imageUri,
          MODEL_TRUST: props.modelTrust,
          OPENVOICE_TIMEOUT_SECONDS: String(props.jobTimeoutMinutes * 60),
          // The queue worker drains when the group it runs in terminates it (burst workers only).
          ...(burstOn ? { BURST_GROUP_NAME: burstGroupName(appName) } : {}),
        },
        spot: {
          requestType: ec2.SpotRequestType.PERSISTENT,
          interruptionBehavior: ec2.SpotInstanceInterruption.STOP,
          maxPrice: props.spotMaxPriceUsd ?? undefined,
          // A persistent request expires after 7 days unless told otherwise; after that the
          // instance can no longer be stopped, only terminated.
          validUntil: Expiration.atDate(new Date(props.spotValidUntil)),
        },
      },
    });
    // CloudFormation documents ValidUntil as YYYY-MM-DDTHH:MM:SSZ; Expiration renders an RFC 1123 date.
    (this.host.launchTemplate.node.defaultChild as ec2.CfnLaunchTemplate).addPropertyOverride(
      'LaunchTemplateData.InstanceMarketOptions.SpotOptions.ValidUntil',
      isoSeconds(new Date(props.spotValidUntil)),
    );

    const images = [openVoiceImage, workerImage];
    grantGpuWork(this.host.role, { selfRole: 'gpu', selfTags: GPU_SELF_TAGS, appName, images, jobQueue });

    if (burstOn) {
      if (!props.burstLogGroup) throw new Error('burst workers need their log group (burstLogGroup)');
      this.burst = new BurstGroup(this, 'Burst', {
        logGroup: props.burstLogGroup,
        appName,
        availabilityZone: props.availabilityZone,
        subnetCidr: props.subnetCidr,
        maxWorkers: burst.maxWorkers,
        instanceTypes: burst.instanceTypes,
        vpc: props.vpc,
        publicSubnetBase: props.publicSubnetBase,
        fileSystem: props.fileSystem,
        fileSystemSecurityGroup: props.fileSystemSecurityGroup,
        securityGroup: props.securityGroup,
        primary: this.host,
      });
      grantGpuWork(this.burst.role, {
        selfRole: BURST_ROLE,
        selfTags: BURST_SELF_TAGS,
        appName,
        images,
        jobQueue,
      });
    }
  }
}

/**
 * What a GPU worker does beyond its host's access, granted the same way to the primary and to the
 * burst workers: pull the two images, consume the job queue, and tag itself (readiness, job
 * activity, setup done).
 */
function grantGpuWork(
  role: iam.Role,
  work: {
    /** The role tag of the instances this role runs on: the only ones it may tag. */
    readonly selfRole: string;
    /** The tag keys it may write on its own instance. */
    readonly selfTags: readonly string[];
    readonly appName: string;
    readonly images: readonly ecrAssets.DockerImageAsset[];
    readonly jobQueue: FleetHostProps['jobQueue'];
  },
): void {
  const { selfRole, selfTags } = work;
  for (const image of work.images) image.repository.grantPull(role);
  work.jobQueue.grantConsumeMessages(role);
  // The host tags itself and no other instance. ec2:SourceInstanceARN is the ARN of the instance
  // the role's credentials were issued to (IAM sets it for instance-profile credentials); the
  // condition compares it with the ARN of the instance being tagged, built from its id (the
  // ec2:InstanceId key of the target, as a policy variable, spelled as AWS's own managed policy
  // AWSEC2VssSnapshotPolicy spells it for the same check: "ec2:SourceInstanceARN":
  // "arn:aws:ec2:*:*:instance/${ec2:InstanceId}"). A request from anywhere else, or about another
  // instance, matches nothing. The tag conditions and keys narrow it further.
  const anyInstance = Stack.of(role).formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' });
  const targetInstance = Stack.of(role).formatArn({
    service: 'ec2',
    resource: 'instance',
    resourceName: '${ec2:InstanceId}',
  });
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'ReportOnItself',
      actions: ['ec2:CreateTags'],
      resources: [anyInstance],
      conditions: {
        ArnEquals: { 'ec2:SourceInstanceARN': targetInstance },
        StringEquals: {
          [`aws:ResourceTag/${TAGS.role}`]: selfRole,
          [`aws:ResourceTag/${TAGS.fleet}`]: work.appName,
        },
        'ForAllValues:StringEquals': { 'aws:TagKeys': [...selfTags] },
      },
    }),
  );
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]',
    reason: `CreateTags only on the instance the request comes from (ec2:SourceInstanceARN equals the tagged instance's ARN), tagged ${TAGS.role}=${selfRole} of this fleet, and only the keys ${selfTags.join(', ')}; the instance id is unknown until launch.`,
  });
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'ecr:GetAuthorizationToken has no resource-level permissions. Pulls are granted on the CDK bootstrap container-assets repository, which holds every image asset of this account and region, not only these two.',
  });
}
