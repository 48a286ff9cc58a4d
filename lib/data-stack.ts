import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

/**
 * Voice jobs run for minutes (a clone or a long synthesis on a T4); the worker extends the
 * visibility while it runs, so this only bounds how long a crashed worker's job stays hidden.
 */
export const JOB_VISIBILITY_TIMEOUT = Duration.minutes(15);

/** After this many failed receives a job goes to the dead-letter queue instead of looping forever. */
export const MAX_RECEIVE_COUNT = 5;

export interface DataStackProps extends StackProps {
  readonly vpc: ec2.IVpc;
  /**
   * The subnet that gets the file system's mount target. The burst workers' mount targets live in
   * the Compute stack with their subnets (BurstGroup), so turning burst off never touches this stack.
   */
  readonly subnet: ec2.ISubnet;
  /** Security group of the mount target (NFS from the hosts only). */
  readonly fileSystemSecurityGroup: ec2.ISecurityGroup;
}

/**
 * The stateful part: EFS (voice profiles, models, outputs) and the job queues. Every resource is
 * retained when the stack is deleted, so compute can be destroyed and recreated without loss.
 */
export class DataStack extends Stack {
  readonly fileSystem: efs.FileSystem;
  /**
   * How both hosts mount the file system: every file is owned by uid/gid 1000 (the containers'
   * user), so no host needs root access to EFS to create the shared folders.
   */
  readonly accessPoint: efs.AccessPoint;
  readonly jobQueue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, props);

    this.fileSystem = new efs.FileSystem(this, 'SharedFileSystem', {
      vpc: props.vpc,
      vpcSubnets: { subnets: [props.subnet] },
      securityGroup: props.fileSystemSecurityGroup,
      encrypted: true,
      enableAutomaticBackups: true,
      lifecyclePolicy: efs.LifecyclePolicy.AFTER_30_DAYS,
      outOfInfrequentAccessPolicy: efs.OutOfInfrequentAccessPolicy.AFTER_1_ACCESS,
      performanceMode: efs.PerformanceMode.GENERAL_PURPOSE,
      throughputMode: efs.ThroughputMode.ELASTIC,
      // With anonymous access denied, only IAM-authorised (tls,iam) mounts of the instance roles work.
      allowAnonymousAccess: false,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.accessPoint = this.fileSystem.addAccessPoint('SharedAccessPoint', {
      path: '/gpu-fleet',
      createAcl: { ownerUid: '1000', ownerGid: '1000', permissions: '2775' },
      posixUser: { uid: '1000', gid: '1000' },
    });

    const queueDefaults = {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.RETAIN,
    };
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', queueDefaults);
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is the dead-letter queue of the job queue; a DLQ of its own would only move the problem.',
    });
    this.jobQueue = new sqs.Queue(this, 'JobQueue', {
      ...queueDefaults,
      visibilityTimeout: JOB_VISIBILITY_TIMEOUT,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
    });

    new CfnOutput(this, 'JobQueueUrl', {
      value: this.jobQueue.queueUrl,
      description: 'URL of the voice job queue',
    });
    new CfnOutput(this, 'JobQueueArn', {
      value: this.jobQueue.queueArn,
      description: 'ARN of the voice job queue',
    });
    new CfnOutput(this, 'DeadLetterQueueUrl', {
      value: this.deadLetterQueue.queueUrl,
      description: 'URL of the dead-letter queue (jobs that failed 5 times)',
    });
    new CfnOutput(this, 'FileSystemId', {
      value: this.fileSystem.fileSystemId,
      description: 'EFS file system mounted at /mnt/shared on both hosts',
    });
    new CfnOutput(this, 'AccessPointId', {
      value: this.accessPoint.accessPointId,
      description: 'EFS access point the hosts mount (files owned by uid/gid 1000)',
    });
  }
}
