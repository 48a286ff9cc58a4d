import { Annotations, CfnOutput, Fn, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct, IDependable } from 'constructs';
import type { FleetConfig } from '../src/config.js';

/** Ports of the product, named once. */
export const PORTS = {
  frontend: 55433,
  backend: 55434,
  openvoice: 8001,
  nfs: 2049,
  ssh: 22,
  https: 443,
} as const;

/**
 * The VPC and its internet gateway as another stack reads them: through this stack's outputs
 * (Fn::GetStackOutput), with the gateway's attachment to depend on.
 */
export interface PublicSubnetBase {
  readonly vpcId: string;
  readonly internetGatewayId: string;
  /** A default route waits for it (from another stack: that stack deploys after this one). */
  readonly internetGatewayAttachment: IDependable;
}

/** The address ranges and zone of the fleet, and who may reach the hosts from outside. */
export interface NetworkStackProps
  extends
    StackProps,
    Pick<
      FleetConfig,
      'vpcCidr' | 'subnetCidr' | 'availabilityZone' | 'appIngressCidrs' | 'sshIngressCidrs'
    > {}

/**
 * The VPC with its one public subnet (no NAT gateway: it would cost more than the GPU saves)
 * and the three security groups. Nothing here holds data, so it can be redeployed freely.
 */
export class NetworkStack extends Stack {
  readonly vpc: ec2.Vpc;
  readonly subnet: ec2.PublicSubnet;
  /** What another stack needs to add a public subnet to this VPC. */
  readonly publicSubnetBase: PublicSubnetBase;
  readonly appSecurityGroup: ec2.SecurityGroup;
  readonly gpuSecurityGroup: ec2.SecurityGroup;
  readonly fileSystemSecurityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: NetworkStackProps) {
    super(scope, id, props);

    // An empty subnetConfiguration lets us place the one subnet at the configured CIDR exactly;
    // ec2.Vpc would otherwise carve its own ranges.
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(props.vpcCidr),
      subnetConfiguration: [],
      natGateways: 0,
      enableDnsHostnames: true,
      enableDnsSupport: true,
    });
    const internetGateway = new ec2.CfnInternetGateway(this, 'InternetGateway');
    const attachment = new ec2.CfnVPCGatewayAttachment(this, 'InternetGatewayAttachment', {
      vpcId: this.vpc.vpcId,
      internetGatewayId: internetGateway.ref,
    });
    this.subnet = new ec2.PublicSubnet(this, 'PublicSubnet', {
      vpcId: this.vpc.vpcId,
      cidrBlock: props.subnetCidr,
      availabilityZone: props.availabilityZone ?? Fn.select(0, Fn.getAzs()),
      // No NAT gateway: both hosts reach ECR, SQS and package mirrors through a public address
      // of their own (the GPU's is released, and not billed, while it is stopped).
      mapPublicIpOnLaunch: true,
    });
    this.subnet.addDefaultInternetRoute(internetGateway.ref, attachment);

    // Published whether burst workers are on or not, so turning them on or off never changes this
    // stack (which deploys first); the burst group builds its own subnets on them.
    const published = (name: string, value: string, description: string): string => {
      new CfnOutput(this, name, { value, description });
      return Fn.getStackOutput(this.stackName, name);
    };
    this.publicSubnetBase = {
      vpcId: published('VpcId', this.vpc.vpcId, 'The VPC (the burst workers add their subnets to it)'),
      internetGatewayId: published(
        'InternetGatewayId',
        internetGateway.ref,
        "The VPC's internet gateway (the burst workers' subnets route to it)",
      ),
      internetGatewayAttachment: attachment,
    };

    // Accepted traffic too: a record of what left the hosts is what an investigation needs first
    // (its price is in `gpu-manage cost`).
    new ec2.FlowLog(this, 'FlowLog', {
      resourceType: ec2.FlowLogResourceType.fromVpc(this.vpc),
      destination: ec2.FlowLogDestination.toCloudWatchLogs(
        new logs.LogGroup(this, 'FlowLogGroup', { retention: logs.RetentionDays.ONE_MONTH }),
      ),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });

    this.appSecurityGroup = new ec2.SecurityGroup(this, 'AppSecurityGroup', {
      vpc: this.vpc,
      // A new description would replace the group (and the Compute stack imports its id): VOICEVOX
      // is no longer open to those CIDRs (the backend reaches it inside compose).
      description: 'gpu-fleet app host: frontend, backend and VOICEVOX from the configured CIDRs only',
      allowAllOutbound: false,
    });
    for (const cidr of props.appIngressCidrs) {
      const peer = ec2.Peer.ipv4(cidr);
      this.appSecurityGroup.addIngressRule(
        peer,
        ec2.Port.tcpRange(PORTS.frontend, PORTS.backend),
        `frontend and backend from ${cidr}`,
      );
    }
    if ([...props.appIngressCidrs, ...props.sshIngressCidrs].some((cidr) => cidr.endsWith('/0'))) {
      Validations.of(this).acknowledge({
        id: 'AwsSolutions-EC23',
        reason: 'The user configured an open CIDR in gpuFleet.appIngressCidrs or sshIngressCidrs on purpose.',
      });
    }
    if (props.appIngressCidrs.length === 0) {
      Annotations.of(this).addWarningV2(
        'gpu-fleet:app-ports-closed',
        'appIngressCidrs is empty: the app ports 55433-55434 are closed to everyone until you set gpuFleet.appIngressCidrs',
      );
    }

    this.gpuSecurityGroup = new ec2.SecurityGroup(this, 'GpuSecurityGroup', {
      vpc: this.vpc,
      description: 'gpu-fleet GPU worker: OpenVoice 8001 from the app host only',
      allowAllOutbound: false,
    });
    this.gpuSecurityGroup.addIngressRule(
      this.appSecurityGroup,
      ec2.Port.tcp(PORTS.openvoice),
      'OpenVoice from the app host',
    );

    for (const cidr of props.sshIngressCidrs) {
      for (const group of [this.appSecurityGroup, this.gpuSecurityGroup]) {
        group.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(PORTS.ssh), `SSH from ${cidr}`);
      }
    }

    this.fileSystemSecurityGroup = new ec2.SecurityGroup(this, 'FileSystemSecurityGroup', {
      vpc: this.vpc,
      description: 'gpu-fleet EFS: NFS from the app host and the GPU worker only',
      allowAllOutbound: false,
    });
    for (const [group, name] of [
      [this.appSecurityGroup, 'app host'],
      [this.gpuSecurityGroup, 'GPU worker'],
    ] as const) {
      this.fileSystemSecurityGroup.addIngressRule(group, ec2.Port.tcp(PORTS.nfs), `NFS from the ${name}`);
    }
    this.limitEgress();
  }

  /**
   * What the hosts send out, and nothing else: HTTPS (AWS APIs, ECR and Docker Hub, package
   * repositories, GitHub and Hugging Face: all HTTPS), NFS to the file system's group, and the app
   * host's calls to OpenVoice. DNS (the VPC resolver), NTP (Amazon Time Sync, 169.254.169.123) and
   * the instance metadata service are not filtered by security groups, so they need no rule.
   */
  private limitEgress(): void {
    for (const [group, name] of [
      [this.appSecurityGroup, 'app host'],
      [this.gpuSecurityGroup, 'GPU worker'],
    ] as const) {
      group.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(PORTS.https), `HTTPS from the ${name}`);
      group.addEgressRule(this.fileSystemSecurityGroup, ec2.Port.tcp(PORTS.nfs), `NFS from the ${name}`);
    }
    this.appSecurityGroup.addEgressRule(
      this.gpuSecurityGroup,
      ec2.Port.tcp(PORTS.openvoice),
      'OpenVoice from the app host',
    );
  }
}
