import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as efs from 'aws-cdk-lib/aws-efs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { FleetConfig } from './config.js';
import { AppHost } from './constructs/app-host.js';
import { GpuWorker } from './constructs/gpu-worker.js';

export interface ComputeStackProps extends StackProps {
  readonly config: FleetConfig;
  readonly vpc: ec2.IVpc;
  readonly subnet: ec2.ISubnet;
  readonly appSecurityGroup: ec2.ISecurityGroup;
  readonly gpuSecurityGroup: ec2.ISecurityGroup;
  readonly fileSystem: efs.IFileSystem;
  readonly jobQueue: sqs.IQueue;
}

/**
 * The two hosts. Holds no data of its own: destroying and redeploying it loses neither the
 * files on EFS nor the queued jobs.
 */
export class ComputeStack extends Stack {
  readonly appHost: AppHost;
  readonly gpuWorker: GpuWorker;

  constructor(scope: Construct, id: string, props: ComputeStackProps) {
    super(scope, id, props);
    const shared = {
      config: props.config,
      vpc: props.vpc,
      subnet: props.subnet,
      fileSystem: props.fileSystem,
    };
    this.appHost = new AppHost(this, 'AppHost', {
      ...shared,
      securityGroup: props.appSecurityGroup,
      jobQueue: props.jobQueue,
    });
    this.gpuWorker = new GpuWorker(this, 'GpuWorker', {
      ...shared,
      securityGroup: props.gpuSecurityGroup,
      jobQueue: props.jobQueue,
    });

    new CfnOutput(this, 'AppInstanceId', {
      value: this.appHost.instance.instanceId,
      description: 'App host instance',
    });
    new CfnOutput(this, 'GpuInstanceId', {
      value: this.gpuWorker.instance.instanceId,
      description: 'GPU worker instance (persistent spot)',
    });
    new CfnOutput(this, 'AppPublicIp', {
      value: this.appHost.elasticIp.attrPublicIp,
      description: 'Elastic IP of the app host (frontend :55433, backend :55434, VOICEVOX :50021)',
    });
  }
}
