import { Aws } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as efs from 'aws-cdk-lib/aws-efs';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { FleetConfig } from '../config.js';
import { acknowledgeHostInstance } from '../nag.js';
import { hostUserData } from './host-user-data.js';

/** What each host of the fleet is placed in and works with. */
export interface FleetHostProps {
  readonly config: FleetConfig;
  readonly vpc: ec2.IVpc;
  readonly subnet: ec2.ISubnet;
  readonly securityGroup: ec2.ISecurityGroup;
  /** Mounted at /mnt/shared. */
  readonly fileSystem: efs.IFileSystem;
  /** The voice job queue: the app host's backend sends to it, the GPU worker consumes it. */
  readonly jobQueue: sqs.IQueue;
}

/** Where the host's files (the CDK asset) are unpacked. */
export const INSTALL_DIR = '/opt/gpu-fleet';

export interface HostInstanceProps {
  readonly vpc: ec2.IVpc;
  readonly subnet: ec2.ISubnet;
  readonly securityGroup: ec2.ISecurityGroup;
  readonly role: iam.IRole;
  readonly instanceType: string;
  readonly machineImage: ec2.IMachineImage;
  readonly privateIp: string;
  /** Root device of the image: /dev/xvda on Amazon Linux, /dev/sda1 on Ubuntu. */
  readonly rootDeviceName: string;
  readonly rootVolumeGb: number;
  readonly fileSystem: efs.IFileSystem;
  /** The host's files (compose.yaml, unit, scripts) that the first boot unpacks. */
  readonly hostFiles: s3assets.Asset;
  /** The host's first-boot script in lib/host-scripts. */
  readonly hostScript: string;
  /** Values the host script needs beyond the shared ones. */
  readonly environment: Readonly<Record<string, string>>;
}

/**
 * An instance built the way every host of the fleet is: fixed private IP, IMDSv2 only (hop
 * limit 2 so containers reach it for credentials and spot notices), encrypted gp3 root,
 * tags on its volume, and first-boot user data from the shared and the host's own script.
 */
export function hostInstance(scope: Construct, id: string, props: HostInstanceProps): ec2.Instance {
  const instance = new ec2.Instance(scope, id, {
    vpc: props.vpc,
    vpcSubnets: { subnets: [props.subnet] },
    instanceType: new ec2.InstanceType(props.instanceType),
    machineImage: props.machineImage,
    privateIpAddress: props.privateIp,
    securityGroup: props.securityGroup,
    role: props.role,
    httpTokens: ec2.HttpTokens.REQUIRED,
    httpPutResponseHopLimit: 2,
    blockDevices: [
      {
        deviceName: props.rootDeviceName,
        volume: ec2.BlockDeviceVolume.ebs(props.rootVolumeGb, {
          encrypted: true,
          volumeType: ec2.EbsDeviceVolumeType.GP3,
        }),
      },
    ],
    propagateTagsToVolumeOnCreation: true,
    userData: hostUserData(
      {
        FILE_SYSTEM_ID: props.fileSystem.fileSystemId,
        ASSET_S3_URL: props.hostFiles.s3ObjectUrl,
        AWS_REGION: Aws.REGION,
        INSTALL_DIR,
        ...props.environment,
      },
      props.hostScript,
    ),
  });
  acknowledgeHostInstance(instance);
  return instance;
}
