import { CfnOutput, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as efs from 'aws-cdk-lib/aws-efs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { FleetConfig } from '../src/config.js';
import { AppHost } from './constructs/app-host.js';
import { FleetLogs } from './constructs/fleet-logs.js';
import { GpuWorker } from './constructs/gpu-worker.js';
import type { PublicSubnetBase } from './network-stack.js';
import { LOG_GROUP_OUTPUTS } from '../src/names.js';

export interface ComputeStackProps extends StackProps {
  /** The validated fleet config: each host takes the settings its props name. */
  readonly config: FleetConfig;
  readonly vpc: ec2.IVpc;
  readonly subnet: ec2.ISubnet;
  /** Where the burst workers add their subnets (used only with burst.maxWorkers > 0). */
  readonly publicSubnetBase: PublicSubnetBase;
  readonly appSecurityGroup: ec2.ISecurityGroup;
  readonly gpuSecurityGroup: ec2.ISecurityGroup;
  /** The file system's security group, for the burst workers' mount targets. */
  readonly fileSystemSecurityGroup: ec2.ISecurityGroup;
  readonly fileSystem: efs.IFileSystem;
  readonly accessPoint: efs.IAccessPoint;
  readonly jobQueue: sqs.IQueue;
}

/**
 * The two hosts. Holds no data of its own: destroying and redeploying it loses neither the
 * files on EFS nor the queued jobs. Deleting it retires both hosts through their custom
 * resource, which cancels the GPU's persistent spot request before terminating it.
 */
export class ComputeStack extends Stack {
  readonly appHost: AppHost;
  readonly gpuWorker: GpuWorker;
  /** The hosts' log groups (one per role) and the job metric filters. */
  readonly logs: FleetLogs;
  /** The shared secret OpenVoice requires on port 8001; read by both hosts at every boot. */
  readonly apiToken: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: ComputeStackProps) {
    super(scope, id, props);
    this.apiToken = new secretsmanager.Secret(this, 'OpenVoiceApiToken', {
      description: 'gpu-fleet: bearer token the backend and the queue worker send to OpenVoice on port 8001',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
    });
    Validations.of(this.apiToken).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'A shared token between the hosts, read by their provisioning at boot. Rotating it is manual and without an outage (docs/operations.md): a new value, then provisioning re-run on the GPU hosts, which accept the previous token for 24 hours, then on the app host. A rotation Lambda cannot re-run provisioning on the hosts.',
    });
    this.logs = new FleetLogs(this, 'Logs', {
      appName: props.config.appName,
      logRetentionDays: props.config.logRetentionDays,
      burst: props.config.burst.maxWorkers > 0,
    });
    // Each host reads the settings its props name, out of the whole config.
    const shared = {
      ...props.config,
      vpc: props.vpc,
      subnet: props.subnet,
      fileSystem: props.fileSystem,
      accessPoint: props.accessPoint,
      jobQueue: props.jobQueue,
      apiToken: this.apiToken,
    };
    this.appHost = new AppHost(this, 'AppHost', {
      ...shared,
      securityGroup: props.appSecurityGroup,
      logGroup: this.logs.group('app'),
    });
    this.gpuWorker = new GpuWorker(this, 'GpuWorker', {
      ...shared,
      logGroup: this.logs.group('gpu'),
      burstLogGroup: this.logs.groups.burst,
      securityGroup: props.gpuSecurityGroup,
      publicSubnetBase: props.publicSubnetBase,
      fileSystemSecurityGroup: props.fileSystemSecurityGroup,
    });

    new CfnOutput(this, 'AppInstanceId', {
      value: this.appHost.host.instanceId,
      description: 'App host instance (changes when the host rotates)',
    });
    new CfnOutput(this, 'GpuInstanceId', {
      value: this.gpuWorker.host.instanceId,
      description: 'GPU worker instance, persistent spot (changes when the host rotates)',
    });
    // The CLI (gpu-manage logs, smoke-test) finds the groups by these outputs.
    for (const [role, group] of Object.entries(this.logs.groups)) {
      const source = role as keyof typeof LOG_GROUP_OUTPUTS;
      new CfnOutput(this, LOG_GROUP_OUTPUTS[source].key, {
        value: group.logGroupName,
        description: `CloudWatch Logs group of the ${role} hosts (streams <container or provision>/<instance id>)`,
      });
    }
    new CfnOutput(this, 'AppPublicIp', {
      value: this.appHost.elasticIp.attrPublicIp,
      description: 'Elastic IP of the app host (frontend :55433, backend :55434)',
    });
  }
}
