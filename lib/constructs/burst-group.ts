import { ArnFormat, CfnCondition, Duration, Fn, Stack, Tags, Validations } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { BURST_ROLE, TAGS } from '../../src/core/tags.js';
import { type BurstConfig, type FleetConfig, burstSubnetCidrs } from '../../src/config.js';
import { BURST_DRAIN_HOOK, BURST_DRAIN_TIMEOUT_SECONDS, burstGroupName } from '../../src/names.js';
import type { PublicSubnetBase } from '../network-stack.js';
import { BurstGroupTeardown } from './burst-group-teardown.js';
import type { FleetHost } from './fleet-host.js';
import { grantHostLogWrite } from './fleet-logs.js';

/**
 * How long a terminating worker may take to drain before Auto Scaling continues anyway: a voice
 * job of about a minute finishes; one still running after the worker's scale-in grace (150 s,
 * docker/worker) is handed back to the queue, within this limit. A worker that has drained tags
 * itself so, and the scaler completes the hook on its next tick; this timeout is the backstop.
 */
export const BURST_DRAIN_TIMEOUT = Duration.seconds(BURST_DRAIN_TIMEOUT_SECONDS);

/**
 * The group's size and instance types, and where its subnets go: beside the hosts' `subnetCidr`,
 * in zones other than the hosts' `availabilityZone`.
 */
export interface BurstGroupProps
  extends
    Pick<FleetConfig, 'appName' | 'subnetCidr' | 'availabilityZone'>,
    Pick<BurstConfig, 'maxWorkers' | 'instanceTypes'> {
  readonly vpc: ec2.IVpc;
  /** The VPC and internet gateway the group's own subnets are added to. */
  readonly publicSubnetBase: PublicSubnetBase;
  /** The shared file system: the group adds a mount target in each of its subnets. */
  readonly fileSystem: efs.IFileSystem;
  /** The file system's security group (NFS from the GPU security group), for those mount targets. */
  readonly fileSystemSecurityGroup: ec2.ISecurityGroup;
  readonly securityGroup: ec2.ISecurityGroup;
  /** The primary GPU host: its definition, settings and grants are the burst workers' too. */
  readonly primary: FleetHost;
  /** The burst workers' own log group: they write there, and only there. */
  readonly logGroup: logs.ILogGroup;
}

/**
 * Extra GPU workers on an EC2 Auto Scaling group, built from the primary GPU host's
 * definition: the same AMI, user data, settings parameter (images, queue, file system), root
 * volume and grants. What differs is placement and market: no fixed IP (any subnet of the group),
 * and one-time spot from the group's mixed instances policy instead of a persistent request.
 *
 * The scaler owns the desired capacity (CloudFormation never sets it) and is the only one to scale
 * in, by terminating an idle worker by id; every worker is protected from the group's own scale-in.
 *
 * The group owns its whole footprint in this one stack: its two subnets and an EFS mount target in
 * each. Turning burst off then deletes group → mount targets → subnets in dependency order. Subnets
 * in the Network stack, which deploys first, would be deleted before the mount targets' and
 * workers' interfaces leave them: EC2 refuses, and CloudFormation leaves them outside any stack.
 */
export class BurstGroup extends Construct {
  readonly group: autoscaling.AutoScalingGroup;
  readonly role: iam.Role;
  readonly launchTemplate: ec2.LaunchTemplate;
  readonly groupName: string;
  /** The group's subnets: one per zone, never the hosts' zone. */
  readonly subnets: readonly ec2.PublicSubnet[];
  readonly mountTargets: readonly efs.CfnMountTarget[];

  constructor(scope: Construct, id: string, props: BurstGroupProps) {
    super(scope, id);
    this.groupName = burstGroupName(props.appName);
    this.subnets = this.addSubnets(props);
    this.mountTargets = this.addMountTargets(props);
    this.role = this.workerRole(props.primary);
    grantHostLogWrite(props.logGroup, this.role);
    this.launchTemplate = this.workerLaunchTemplate(props);
    this.group = this.autoScalingGroup(props);
    const drainHook = this.group.addLifecycleHook('Drain', {
      lifecycleHookName: BURST_DRAIN_HOOK,
      lifecycleTransition: autoscaling.LifecycleTransition.INSTANCE_TERMINATING,
      heartbeatTimeout: BURST_DRAIN_TIMEOUT,
      defaultResult: autoscaling.DefaultResult.CONTINUE,
    });
    // CloudFormation alone would wait forever on the protected workers: force-delete on stack deletion.
    new BurstGroupTeardown(this, 'Teardown', {
      group: this.group,
      groupName: this.groupName,
      groupArn: burstGroupArn(this, this.groupName),
      drainHook,
      provider: props.primary.lifecycleProvider,
    });
    Tags.of(this).add(TAGS.role, BURST_ROLE);
    this.acknowledgeGroupFindings();
  }

  /**
   * Two more zones for the workers (more spot capacity pools), never the hosts' subnet: a worker
   * there could take a fixed host address while that host rotates.
   */
  private addSubnets(props: BurstGroupProps): ec2.PublicSubnet[] {
    const zones = burstZones(this, props.availabilityZone);
    const base = props.publicSubnetBase;
    return burstSubnetCidrs(props.subnetCidr).map((cidrBlock, index) => {
      const subnet = new ec2.PublicSubnet(this, `Subnet${index + 1}`, {
        vpcId: base.vpcId,
        cidrBlock,
        availabilityZone: zones[index] as string,
        mapPublicIpOnLaunch: true,
      });
      subnet.addDefaultInternetRoute(base.internetGatewayId, base.internetGatewayAttachment);
      return subnet;
    });
  }

  /** Workers mount EFS in their own zone, and a file system takes one mount target per zone. */
  private addMountTargets(props: BurstGroupProps): efs.CfnMountTarget[] {
    return this.subnets.map(
      (subnet, index) =>
        new efs.CfnMountTarget(this, `MountTarget${index + 1}`, {
          fileSystemId: props.fileSystem.fileSystemId,
          subnetId: subnet.subnetId,
          securityGroups: [props.fileSystemSecurityGroup.securityGroupId],
        }),
    );
  }

  /** A role of the workers' own, with exactly the primary's host access. */
  private workerRole(primary: FleetHost): iam.Role {
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: `gpu-fleet burst GPU worker`,
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    primary.grantHostAccess(role);
    return role;
  }

  /** The primary's launch template data, in the GPU security group and without a fixed address. */
  private workerLaunchTemplate(props: BurstGroupProps): ec2.LaunchTemplate {
    const launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      ...props.primary.launchTemplateProps(this.role, props.logGroup),
      securityGroup: props.securityGroup,
    });
    // Instance tags come from the group (propagated at launch): tags in the template's data would
    // make every tag change a new template version, and so an instance refresh.
    (launchTemplate.node.defaultChild as ec2.CfnLaunchTemplate).addPropertyDeletionOverride(
      'LaunchTemplateData.TagSpecifications',
    );
    return launchTemplate;
  }

  private autoScalingGroup(props: BurstGroupProps): autoscaling.AutoScalingGroup {
    const group = new autoscaling.AutoScalingGroup(this, 'Group', {
      autoScalingGroupName: this.groupName,
      vpc: props.vpc,
      vpcSubnets: { subnets: [...this.subnets] },
      minCapacity: 0,
      maxCapacity: props.maxWorkers,
      // No desiredCapacity: CloudFormation then leaves the scaler's number alone on every deploy.
      mixedInstancesPolicy: {
        launchTemplate: this.launchTemplate,
        launchTemplateOverrides: props.instanceTypes.map((type) => ({
          instanceType: new ec2.InstanceType(type),
        })),
        instancesDistribution: {
          // All spot; the scaler raises the percentage to 100 for the on-demand fallback and back.
          onDemandBaseCapacity: 0,
          onDemandPercentageAboveBaseCapacity: 0,
          spotAllocationStrategy: autoscaling.SpotAllocationStrategy.PRICE_CAPACITY_OPTIMIZED,
          // No max price: the plan's cap fits g4dn.xlarge, not G5/G6, and AWS advises against one
          // (more interruptions); spot is then never dearer than on-demand.
        },
      },
      capacityRebalance: true,
      // Scale-in is only ever the scaler's TerminateInstanceInAutoScalingGroup of an idle worker.
      newInstancesProtectedFromScaleIn: true,
      // A new template version (instance types, AMI parameter name, user data) reaches new launches
      // only: the group takes the new version at once, and the instance refresh CloudFormation
      // starts ignores instances protected from scale-in (Auto Scaling "ignores instances that are
      // protected from scale in and continues to replace instances that are not protected",
      // RefreshPreferences) - every worker here. A busy worker so finishes on the version it
      // launched with and is retired by the scaler when idle (burst.idleMinutes): workers are
      // short-lived. The healthy percentages bind only a worker that lost its protection: it is
      // replaced new-before-old, so capacity never dips.
      updatePolicy: autoscaling.UpdatePolicy.instanceRefresh({
        strategy: autoscaling.InstanceRefreshStrategy.ROLLING,
        minHealthyPercentage: 100,
        maxHealthyPercentage: 200,
        scaleInProtectedInstances: autoscaling.ScaleInProtectedInstances.IGNORE,
        skipMatching: true,
      }),
    });
    // Created after the mount targets (a worker mounts EFS at boot) and deleted before them.
    group.node.addDependency(...this.mountTargets);
    return group;
  }

  private acknowledgeGroupFindings(): void {
    const findings = {
      'AwsSolutions-EC26':
        "The rule cannot read a group launched from a launch template (it throws on the reference); the template's only volume, the root, is encrypted gp3 (FleetHost.launchTemplateProps).",
      'AwsSolutions-AS1':
        'The group has no scaling policies: the scaler sets its desired capacity and terminates idle workers by id, so a cooldown would only delay those decisions.',
      'AwsSolutions-AS2':
        'The workers serve no load balancer; EC2 status checks are the health check, and a worker that never reports ready is retired by the scaler.',
      'AwsSolutions-AS3':
        "Every scaling action is the scaler's own and is logged and measured by it (BurstWorkers, BurstOnDemandWorkers); failed launches are read from the scaling activities on every tick.",
    };
    for (const [id, reason] of Object.entries(findings))
      Validations.of(this.group).acknowledge({ id, reason });
  }
}

/**
 * The zones of the two burst subnets: never the hosts' zone (EFS takes one mount target per zone).
 * Without a configured zone the hosts take the region's first, and burst the second and third
 * (plain expressions, no conditions in the template). With one, the zones come from conditions on
 * where it falls in the region's list: first → second and third; second → first and third;
 * anything else (third, or beyond) → first and second.
 */
function burstZones(scope: Construct, hostZone: string | undefined): [string, string] {
  const zone = (index: number): string => Fn.select(index, Fn.getAzs());
  if (hostZone === undefined) return [zone(1), zone(2)];
  const hostIn = (index: number): CfnCondition =>
    new CfnCondition(scope, `HostsInZone${index}`, {
      expression: Fn.conditionEquals(hostZone, zone(index)),
    });
  const [first, second] = [hostIn(0), hostIn(1)];
  return [
    Fn.conditionIf(first.logicalId, zone(1), zone(0)).toString(),
    Fn.conditionIf(first.logicalId, zone(2), Fn.conditionIf(second.logicalId, zone(2), zone(1))).toString(),
  ];
}

/** The ARN of the named group in this stack's account and region (its id part is unknown before creation). */
export function burstGroupArn(scope: Construct, groupName: string): string {
  return Stack.of(scope).formatArn({
    service: 'autoscaling',
    resource: 'autoScalingGroup',
    resourceName: `*:autoScalingGroupName/${groupName}`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}
