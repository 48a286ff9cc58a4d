import * as path from 'node:path';
import { Aws, type CfnElement, CustomResource, Fn, Stack, Tags } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as efs from 'aws-cdk-lib/aws-efs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import type { FleetConfig } from '../../src/config.js';
import { acknowledgeHostRole } from '../nag.js';
import { TAGS, type Role } from '../../src/core/tags.js';
import { HOST_INSTANCE_RESOURCE_TYPE } from '../../src/names.js';
import { grantHostLogWrite } from './fleet-logs.js';
import { HostLifecycleProvider } from './host-lifecycle-provider.js';
import { hostUserData } from './host-user-data.js';

/**
 * What each host of the fleet is placed in and works with. `appName` names its settings and tags
 * it into its fleet; `tags` go on everything its slot launches.
 */
export interface FleetHostProps extends Pick<FleetConfig, 'appName' | 'tags'> {
  readonly vpc: ec2.IVpc;
  readonly subnet: ec2.ISubnet;
  readonly securityGroup: ec2.ISecurityGroup;
  /** Mounted at /mnt/shared through `accessPoint`. */
  readonly fileSystem: efs.IFileSystem;
  readonly accessPoint: efs.IAccessPoint;
  /** The voice job queue: the app host's backend sends to it, the GPU worker consumes it. */
  readonly jobQueue: sqs.IQueue;
  /** The shared secret that OpenVoice requires on port 8001 (both hosts read it at boot). */
  readonly apiToken: secretsmanager.ISecret;
  /** The log group of the host's role: its containers and provisioning unit write there, and only there. */
  readonly logGroup: logs.ILogGroup;
}

/** Amazon Linux 2023, resolved by EC2 when an instance launches: a new AMI changes no template. */
export const APP_AMI_PARAMETER = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';
/** Deep Learning Base OSS Nvidia Driver GPU AMI (Amazon Linux 2023): G4dn/G5/G6, driver, Docker, NVIDIA toolkit. */
export const GPU_AMI_PARAMETER =
  '/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id';

/** The host slots' logical ids, as the first release of the stack named them; pinned by a test. */
export const HOST_SLOT_LOGICAL_IDS: Readonly<Record<Role, string>> = {
  app: 'AppHostInstanceF5939EEC',
  gpu: 'GpuWorkerHostInstance4ADBD1B3',
};

export interface HostDefinition {
  readonly role: Role;
  /** For the role's description. */
  readonly purpose: string;
  readonly instanceType: string;
  readonly amiParameter: string;
  readonly privateIp: string;
  readonly rootVolumeGb: number;
  /** Raising it replaces the host's instance (hostRevision of the fleet config). */
  readonly revision: number;
  /** The folder under docker/ with the host's files (compose.yaml, its unit, scripts). */
  readonly hostFilesDir: string;
  /** The systemd unit among those files that runs the containers, and the env file it reads. */
  readonly composeUnit: string;
  readonly composeEnvFile: string;
  /** Settings the host reads on every boot (SSM Parameter Store), beyond the shared ones. */
  readonly settings: Readonly<Record<string, string>>;
  /** Persistent spot that stops on interruption; absent for on-demand. */
  readonly spot?: ec2.LaunchTemplateSpotOptions;
  /**
   * The slot creates the interface that holds `privateIp` once and attaches it to every instance
   * it launches, so the address (and an Elastic IP associated with it) never moves. Without it
   * each launch gets an interface of its own with an auto-assigned public IPv4.
   * @default false
   */
  readonly ownInterface?: boolean;
}

/**
 * A host of the fleet, built the same way for both: a launch template (AMI resolved at launch,
 * fixed private IP, IMDSv2 only with hop limit 2 for the one container that may use the role (the
 * host drops the others' packets to it: provision.sh), encrypted gp3 root, first-boot
 * user data that only installs the per-boot provisioning unit), its settings in SSM Parameter
 * Store, and the instance itself owned by the host lifecycle custom resource, which rotates it
 * safely on a definition change and cancels its spot request before terminating it.
 */
export class FleetHost extends Construct {
  readonly role: iam.Role;
  readonly launchTemplate: ec2.LaunchTemplate;
  readonly settings: ssm.StringParameter;
  /** The current instance id (GetAtt): it changes when the host rotates (the scaler and CLI find hosts by tag). */
  readonly instanceId: string;
  /** The slot's own interface (GetAtt), with `ownInterface`; it stays across rotations. */
  readonly networkInterfaceId?: string;
  /** The stack's custom resource provider that owns this host (shared by every host in the stack). */
  readonly lifecycleProvider: HostLifecycleProvider;
  /** The SSM parameter name of `settings`, which the user data hands to the provisioning unit. */
  readonly settingsName: string;
  readonly definition: HostDefinition;
  private readonly hostFiles: s3assets.Asset;
  /** The file system, access point, token and log group that grantHostAccess and the launch template use. */
  private readonly shared: Pick<FleetHostProps, 'fileSystem' | 'accessPoint' | 'apiToken' | 'logGroup'>;

  constructor(scope: Construct, id: string, props: FleetHostProps & { readonly host: HostDefinition }) {
    super(scope, id);
    const { appName, host } = props;
    this.hostFiles = new s3assets.Asset(this, 'HostFiles', {
      path: path.join(__dirname, '..', '..', 'docker', host.hostFilesDir),
    });
    this.shared = props;
    this.definition = host;

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: `gpu-fleet ${host.purpose}`,
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });

    this.settingsName = `/gpu-fleet/${appName}/${host.role}/settings`;
    this.settings = new ssm.StringParameter(this, 'Settings', {
      parameterName: this.settingsName,
      description: `gpu-fleet ${host.purpose}: settings read on every boot (KEY=value lines)`,
      stringValue: Fn.join(
        '\n',
        Object.entries({
          HOST_FILES_URL: this.hostFiles.s3ObjectUrl,
          FILE_SYSTEM_ID: props.fileSystem.fileSystemId,
          ACCESS_POINT_ID: props.accessPoint.accessPointId,
          JOB_QUEUE_URL: props.jobQueue.queueUrl,
          API_TOKEN_SECRET: props.apiToken.secretArn,
          ...host.settings,
        }).map(([key, value]) => Fn.join('=', [key, value])),
      ),
    });
    this.grantHostAccess(this.role);
    grantHostLogWrite(props.logGroup, this.role);

    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      ...this.launchTemplateProps(this.role),
      spotOptions: host.spot,
    });
    const cfnLaunchTemplate = this.launchTemplate.node.defaultChild as ec2.CfnLaunchTemplate;
    // Instance tags come from the custom resource at launch (and are updated in place): tags in the
    // template's data would make every tag change a new version, and so a new instance.
    cfnLaunchTemplate.addPropertyDeletionOverride('LaunchTemplateData.TagSpecifications');
    if (!host.ownInterface) {
      // The fixed private IP needs an explicit network interface; with one, the security group and
      // the public address (no NAT gateway) belong to it, not to the template's top level.
      cfnLaunchTemplate.addPropertyOverride('LaunchTemplateData.NetworkInterfaces', [
        {
          DeviceIndex: 0,
          SubnetId: props.subnet.subnetId,
          PrivateIpAddress: host.privateIp,
          Groups: [props.securityGroup.securityGroupId],
          AssociatePublicIpAddress: true,
          DeleteOnTermination: true,
        },
      ]);
    }

    const stack = Stack.of(this);
    const providerId = 'HostLifecycle';
    const provider =
      (stack.node.tryFindChild(providerId) as HostLifecycleProvider | undefined) ??
      new HostLifecycleProvider(stack, providerId, {
        fleet: appName,
        amiParameters: [APP_AMI_PARAMETER, GPU_AMI_PARAMETER],
        tagKeys: Object.keys(props.tags),
      });
    provider.allowHost({
      role: host.role,
      launchTemplate: this.launchTemplate,
      subnet: props.subnet,
      securityGroup: props.securityGroup,
      instanceRole: this.role,
      ownInterface: host.ownInterface ?? false,
    });
    this.lifecycleProvider = provider;

    const instance = new CustomResource(this, 'Instance', {
      serviceToken: provider.serviceToken,
      resourceType: HOST_INSTANCE_RESOURCE_TYPE,
      properties: {
        LaunchTemplateId: this.launchTemplate.launchTemplateId,
        LaunchTemplateVersion: this.launchTemplate.latestVersionNumber,
        Revision: String(host.revision),
        Fleet: appName,
        Role: host.role,
        Spot: String(host.spot !== undefined),
        Tags: JSON.stringify(props.tags),
        ...(host.ownInterface && {
          NetworkInterface: stack.toJsonString({
            SubnetId: props.subnet.subnetId,
            PrivateIpAddress: host.privateIp,
            SecurityGroupIds: [props.securityGroup.securityGroupId],
          }),
        }),
      },
    });
    // The slot's logical id is its identity: a moved or renamed construct must not make a new one
    // (CloudFormation would create the new slot first, on the same fixed IP).
    (instance.node.defaultChild as CfnElement).overrideLogicalId(HOST_SLOT_LOGICAL_IDS[host.role]);
    this.instanceId = instance.getAttString('InstanceId');
    if (host.ownInterface) this.networkInterfaceId = instance.getAttString('NetworkInterfaceId');
    Tags.of(this).add(TAGS.role, host.role);
  }

  /**
   * What every instance built from this host's definition may read and mount: the file system
   * through the access point only (no root access: the access point owns the files, and the file
   * system's policy refuses anything else), its own host files, the API token and its settings
   * parameter, and no other parameter. Other roles built from the same definition (the burst
   * workers') get exactly this through the same call.
   */
  grantHostAccess(role: iam.Role): void {
    const statements: iam.PolicyStatementProps[] = [
      {
        sid: 'MountThroughTheAccessPoint',
        actions: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
        resources: [this.shared.fileSystem.fileSystemArn],
        conditions: {
          StringEquals: { 'elasticfilesystem:AccessPointArn': this.shared.accessPoint.accessPointArn },
          Bool: { 'elasticfilesystem:AccessedViaMountTarget': 'true' },
        },
      },
      // AmazonSSMManagedInstanceCore (Session Manager) allows ssm:GetParameter(s) on every parameter,
      // SecureStrings included: a Deny keeps the host's reads to its own settings.
      {
        sid: 'ReadNoOtherParameter',
        effect: iam.Effect.DENY,
        actions: [
          'ssm:GetParameter',
          'ssm:GetParameters',
          'ssm:GetParametersByPath',
          'ssm:GetParameterHistory',
        ],
        notResources: [this.settings.parameterArn],
      },
      {
        sid: 'ReadOwnHostFiles',
        actions: ['s3:GetObject'],
        resources: [this.hostFiles.bucket.arnForObjects(this.hostFiles.s3ObjectKey)],
      },
    ];
    for (const statement of statements) role.addToPrincipalPolicy(new iam.PolicyStatement(statement));
    this.shared.apiToken.grantRead(role);
    acknowledgeHostRole(role);
    this.settings.grantRead(role);
  }

  /**
   * The launch template data every instance of this definition shares: AMI resolved at launch,
   * the role, user data that only installs the per-boot provisioning unit, IMDSv2 only with hop
   * limit 2 for the worker or backend container, and an encrypted gp3 root. Placement (fixed IP or not) and the market
   * are the caller's, and so is the log group when the instances are not this host's role.
   */
  launchTemplateProps(
    role: iam.IRole,
    logGroup: logs.ILogGroup = this.shared.logGroup,
  ): ec2.LaunchTemplateProps {
    const host = this.definition;
    return {
      instanceType: new ec2.InstanceType(host.instanceType),
      machineImage: ec2.MachineImage.resolveSsmParameterAtLaunch(host.amiParameter, {
        os: ec2.OperatingSystemType.LINUX,
      }),
      role,
      userData: hostUserData({
        HOST_ROLE: host.role,
        RUNTIME_PARAMETER: this.settingsName,
        AWS_REGION: Aws.REGION,
        COMPOSE_UNIT: host.composeUnit,
        COMPOSE_ENV_FILE: host.composeEnvFile,
        LOG_GROUP: logGroup.logGroupName,
      }),
      requireImdsv2: true,
      httpPutResponseHopLimit: 2,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(host.rootVolumeGb, {
            encrypted: true,
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            deleteOnTermination: true,
          }),
        },
      ],
    };
  }
}
