import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as iam from 'aws-cdk-lib/aws-iam';
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
      // The policy below is the file system's whole policy. `allowAnonymousAccess: false` would add
      // CDK's own statement, an Allow of root access and writes to every principal. Anonymous
      // (non-IAM) clients are refused all the same: the policy allows them nothing.
      allowAnonymousAccess: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.accessPoint = this.fileSystem.addAccessPoint('SharedAccessPoint', {
      path: '/gpu-fleet',
      createAcl: { ownerUid: '1000', ownerGid: '1000', permissions: '2775' },
      posixUser: { uid: '1000', gid: '1000' },
    });
    this.denyAllButTheAccessPoint();

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

    const outputs: Array<[string, string, string]> = [
      ['JobQueueUrl', this.jobQueue.queueUrl, 'URL of the voice job queue'],
      ['JobQueueArn', this.jobQueue.queueArn, 'ARN of the voice job queue'],
      [
        'DeadLetterQueueUrl',
        this.deadLetterQueue.queueUrl,
        'URL of the dead-letter queue (jobs that failed 5 times)',
      ],
      ['FileSystemId', this.fileSystem.fileSystemId, 'EFS file system mounted at /mnt/shared on both hosts'],
      [
        'AccessPointId',
        this.accessPoint.accessPointId,
        'EFS access point the hosts mount (files owned by uid/gid 1000)',
      ],
    ];
    for (const [id, value, description] of outputs) new CfnOutput(this, id, { value, description });
  }

  /**
   * The file system's policy: nobody has root access, every mount and write goes through an access
   * point (so as uid/gid 1000 under /gpu-fleet), over TLS. Only Deny statements: the host roles' own
   * grants (FleetHost.grantHostAccess) allow the mount through the fleet's access point by its ARN,
   * and a client without IAM authorisation is allowed nothing.
   *
   * The policy is a property of the file system, which the access point needs first, so it cannot
   * name that access point's ARN (a circular dependency): it names any access point of this
   * account and region. A mount can only use an access point of the file system mounted, and this
   * file system has one; making another takes elasticfilesystem:CreateAccessPoint, which no role of
   * the fleet has.
   */
  private denyAllButTheAccessPoint(): void {
    const everyone = [new iam.AnyPrincipal()];
    const mountAndWrite = ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'];
    const deny = (sid: string, actions: string[], conditions?: Record<string, unknown>): void => {
      this.fileSystem.addToResourcePolicy(
        new iam.PolicyStatement({ sid, effect: iam.Effect.DENY, principals: everyone, actions, conditions }),
      );
    };
    deny('NoRootAccess', ['elasticfilesystem:ClientRootAccess']);
    deny('OnlyThroughTheAccessPoint', mountAndWrite, {
      ArnNotLike: {
        'elasticfilesystem:AccessPointArn': this.formatArn({
          service: 'elasticfilesystem',
          resource: 'access-point',
          resourceName: '*',
        }),
      },
    });
    // The line above already refuses a request without the key; this one says so on its own.
    deny('NoMountWithoutAnAccessPoint', mountAndWrite, {
      Null: { 'elasticfilesystem:AccessPointArn': 'true' },
    });
    deny('OnlyOverTls', [...mountAndWrite, 'elasticfilesystem:ClientRootAccess'], {
      Bool: { 'aws:SecureTransport': 'false' },
    });
  }
}
