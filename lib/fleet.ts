import { type App, Tags } from 'aws-cdk-lib';
import type { FleetConfig } from '../src/config.js';
import { ComputeStack } from './compute-stack.js';
import { DataStack } from './data-stack.js';
import { NetworkStack } from './network-stack.js';
import { ScalerStack } from './scaler-stack.js';
import { TAGS } from '../src/core/tags.js';

export interface Fleet {
  readonly network: NetworkStack;
  readonly data: DataStack;
  readonly compute: ComputeStack;
  readonly scaler: ScalerStack;
}

/**
 * Creates every stack of the fleet in `app`. Environment-agnostic: account and region come
 * from the usual CDK environment (CDK_DEFAULT_ACCOUNT/REGION, the profile) at deploy time.
 */
export function buildFleet(app: App, config: FleetConfig): Fleet {
  const prefix = config.appName;
  const network = new NetworkStack(app, `${prefix}-Network`, {
    vpcCidr: config.vpcCidr,
    subnetCidr: config.subnetCidr,
    availabilityZone: config.availabilityZone,
    appIngressCidrs: config.appIngressCidrs,
    sshIngressCidrs: config.sshIngressCidrs,
    description: 'gpu-fleet network: VPC, one public subnet, security groups',
  });
  const data = new DataStack(app, `${prefix}-Data`, {
    vpc: network.vpc,
    subnet: network.subnet,
    fileSystemSecurityGroup: network.fileSystemSecurityGroup,
    description: 'gpu-fleet data (retained): EFS and the voice job queues',
  });
  const compute = new ComputeStack(app, `${prefix}-Compute`, {
    config,
    vpc: network.vpc,
    subnet: network.subnet,
    publicSubnetBase: network.publicSubnetBase,
    appSecurityGroup: network.appSecurityGroup,
    gpuSecurityGroup: network.gpuSecurityGroup,
    fileSystemSecurityGroup: network.fileSystemSecurityGroup,
    fileSystem: data.fileSystem,
    accessPoint: data.accessPoint,
    jobQueue: data.jobQueue,
    description: 'gpu-fleet compute: app host and spot GPU worker',
  });

  const scaler = new ScalerStack(app, `${prefix}-Scaler`, {
    config,
    jobQueue: data.jobQueue,
    deadLetterQueue: data.deadLetterQueue,
    description: 'gpu-fleet scaler: Lambda control loop, weekday schedule, alarms',
  });
  // No reference ties them (the scaler finds the instances by tag): the order is explicit, so
  // deploy creates the instances first and destroying the compute stack takes the scaler along.
  scaler.addStackDependency(compute, 'the scaler starts and stops the instances of the compute stack');

  Tags.of(app).add(TAGS.fleet, config.appName);
  for (const [key, value] of Object.entries(config.tags)) Tags.of(app).add(key, value);
  return { network, data, compute, scaler };
}
