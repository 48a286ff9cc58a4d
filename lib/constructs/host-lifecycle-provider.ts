import * as path from 'node:path';
import { Aws, type CfnElement, Duration, Stack, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { SCALER_WRITABLE_TAG_KEYS, TAGS, TAG_PREFIX } from '../../src/core/tags.js';
import { lambdaBundling } from './lambda-bundling.js';

const ENTRY = path.join(__dirname, '..', '..', 'lambda', 'host-lifecycle', 'handler.ts');

export interface HostLifecycleProviderProps {
  /** The fleet's appName: the provider may only retag, terminate and cancel what carries this fleet tag. */
  readonly fleet: string;
  /** SSM parameters of the AMIs that the launch templates resolve at launch (RunInstances reads them as the caller). */
  readonly amiParameters: readonly string[];
  /**
   * The keys of the fleet's own tags (the `tags` of the fleet config) that the provider writes on
   * what its hosts own, besides Name and its gpu-fleet keys: the only other keys it may write.
   * @default - none
   */
  readonly tagKeys?: readonly string[];
}

/** What one host slot launches from and into: all RunInstances may use. */
export interface HostLaunchScope {
  readonly role: string;
  readonly launchTemplate: ec2.LaunchTemplate;
  readonly subnet: ec2.ISubnet;
  readonly securityGroup: ec2.ISecurityGroup;
  /** The role its instances run with (handed to EC2 at launch). */
  readonly instanceRole: iam.IRole;
  /** True when the slot creates and owns the interface its instances attach (the app host). */
  readonly ownInterface: boolean;
}

/**
 * The logical ids CloudFormation knows the provider by. The hosts' ServiceToken is the framework
 * function's ARN: a new logical id (a moved or renamed construct, a CDK release that renames the
 * framework's children) would be a new ServiceToken, which replaces both hosts, and a replacement
 * cannot work on fixed private IPs. Pinned here, and by a test.
 */
export const PROVIDER_LOGICAL_IDS = {
  frameworkOnEvent: 'HostLifecycleProviderframeworkonEvent976799DF',
} as const;

/**
 * The custom resource provider that owns the fleet's hosts (src/aws/host-lifecycle.ts): one per
 * stack, shared by every FleetHost in it. `onEvent` launches, or starts a rotation or a teardown
 * (cancel the spot requests, terminate); `isComplete` carries it on every 15 s (up to 30 minutes):
 * waits for the old instance to be gone, launches, waits for the new one to run.
 */
export class HostLifecycleProvider extends Construct {
  readonly serviceToken: string;
  private readonly onEventFunction: nodejs.NodejsFunction;
  /** The fleet whose tag every instance the provider launches must carry. */
  private readonly fleet: string;
  private readonly isCompleteFunction: nodejs.NodejsFunction;

  constructor(scope: Construct, id: string, props: HostLifecycleProviderProps) {
    super(scope, id);
    const monthOfLogs = (logsId: string): logs.LogGroup =>
      new logs.LogGroup(this, logsId, { retention: logs.RetentionDays.ONE_MONTH });
    // Neither handler waits for EC2 in a loop: every wait is a repeated isComplete. The margin is
    // for the back-off of throttled calls and of a first launch that IAM does not see yet.
    const handlerFunction = (functionId: string, handler: string, description: string) =>
      new nodejs.NodejsFunction(this, functionId, {
        entry: ENTRY,
        runtime: lambda.Runtime.NODEJS_24_X,
        architecture: lambda.Architecture.ARM_64,
        memorySize: 256,
        bundling: lambdaBundling(),
        handler,
        timeout: Duration.minutes(5),
        description,
        logGroup: monthOfLogs(`${functionId}Logs`),
      });
    this.onEventFunction = handlerFunction(
      'OnEvent',
      'onEvent',
      'gpu-fleet hosts: launch, or begin a rotation or teardown (cancel spot request, terminate)',
    );
    this.isCompleteFunction = handlerFunction(
      'IsComplete',
      'isComplete',
      'gpu-fleet hosts: one step towards the new host running, or nothing of the old one left',
    );

    const stack = Stack.of(this);
    this.fleet = props.fleet;
    // What a slot writes on what it owns: the stack's tags, Name, and the fleet, role, owner and
    // launch keys, and at a launch the operator's and the scaler's tags carried over from the
    // previous instance. Never a worker's own reports (ready, last job), nor any other key.
    const writableTagKeys = [
      ...new Set([
        ...(props.tagKeys ?? []),
        'Name',
        TAGS.fleet,
        TAGS.role,
        TAGS.owner,
        TAGS.launch,
        ...SCALER_WRITABLE_TAG_KEYS,
      ]),
    ];
    const fleetTagged = { StringEquals: { [`aws:ResourceTag/${TAGS.fleet}`]: props.fleet } };
    const launched = ['instance/*', 'volume/*', 'network-interface/*', 'spot-instances-request/*'].map((r) =>
      ec2Arn(r),
    );
    const statements: iam.PolicyStatementProps[] = [
      {
        sid: 'CreateWhatALaunchCreates',
        actions: ['ec2:RunInstances'],
        resources: [
          ec2Arn('volume/*'),
          ec2Arn('network-interface/*'),
          ec2Arn('spot-instances-request/*'),
          ec2Arn('image/*', ''),
        ],
      },
      {
        sid: 'TagAtCreationOnly',
        actions: ['ec2:CreateTags'],
        resources: launched,
        conditions: {
          StringEquals: {
            'ec2:CreateAction': ['RunInstances', 'CreateNetworkInterface'],
            [`aws:RequestTag/${TAGS.fleet}`]: props.fleet,
          },
        },
      },
      {
        sid: 'RetagFleetHostsOnly',
        actions: ['ec2:CreateTags'],
        resources: launched,
        conditions: fleetTagged,
      },
      // One Deny for every CreateTags this provider is allowed, at creation or later: a request
      // with any other key fails, whatever allows it.
      {
        sid: 'WriteOnlyTheFleetTagKeys',
        effect: iam.Effect.DENY,
        actions: ['ec2:CreateTags'],
        resources: ['*'],
        conditions: { 'ForAnyValue:StringNotEquals': { 'aws:TagKeys': writableTagKeys } },
      },
      // A tags-only update removes the stack tags the config no longer sets: keys unknown here,
      // but never Name nor a gpu-fleet key (the fleet tag is how the stacks find and retire hosts).
      {
        sid: 'UntagFleetHostsOfStackTagsOnly',
        actions: ['ec2:DeleteTags'],
        resources: launched,
        conditions: {
          ...fleetTagged,
          'ForAllValues:StringNotLike': { 'aws:TagKeys': ['Name', `${TAG_PREFIX}*`] },
        },
      },
      {
        sid: 'RetireFleetHostsOnly',
        actions: ['ec2:TerminateInstances', 'ec2:CancelSpotInstanceRequests', 'ec2:DeleteNetworkInterface'],
        resources: [ec2Arn('instance/*'), ec2Arn('spot-instances-request/*'), ec2Arn('network-interface/*')],
        conditions: fleetTagged,
      },
      {
        sid: 'Describe',
        actions: [
          'ec2:DescribeInstances',
          'ec2:DescribeSpotInstanceRequests',
          'ec2:DescribeNetworkInterfaces',
        ],
        resources: ['*'],
      },
      {
        sid: 'ResolveAmiAtLaunch',
        actions: ['ssm:GetParameters'],
        resources: props.amiParameters.map((name) =>
          stack.formatArn({
            service: 'ssm',
            account: '',
            resource: 'parameter',
            resourceName: name.replace(/^\//, ''),
          }),
        ),
      },
    ];
    for (const statement of statements) this.addToHandlerPolicies(statement);

    const provider = new cr.Provider(this, 'Provider', {
      onEventHandler: this.onEventFunction,
      isCompleteHandler: this.isCompleteFunction,
      queryInterval: Duration.seconds(15),
      totalTimeout: Duration.minutes(30),
      logGroup: monthOfLogs('ProviderLogs'),
      disableWaiterStateMachineLogging: false,
      waiterStateMachineLogOptions: { destination: monthOfLogs('WaiterLogs'), level: sfn.LogLevel.ALL },
    });
    const frameworkOnEvent = provider.node.findChild('framework-onEvent').node.defaultChild as CfnElement;
    frameworkOnEvent.overrideLogicalId(PROVIDER_LOGICAL_IDS.frameworkOnEvent);
    this.serviceToken = provider.serviceToken;
    acknowledgeProvider(this, [this.onEventFunction, this.isCompleteFunction]);
  }

  /**
   * Lets the handlers launch one host slot: RunInstances only from its launch template, into its
   * subnet with its security group, handing EC2 its role; instances of its instance profile (a
   * persistent request's relaunch carries no tags, but it carries the profile) may be tagged and
   * terminated. The app host's slot also creates its own interface in that subnet.
   */
  allowHost(scope: HostLaunchScope): void {
    const id = scope.role.charAt(0).toUpperCase() + scope.role.slice(1);
    const templateArn = ec2Arn(`launch-template/${scope.launchTemplate.launchTemplateId}`);
    const subnetArn = ec2Arn(`subnet/${scope.subnet.subnetId}`);
    const groupArn = ec2Arn(`security-group/${scope.securityGroup.securityGroupId}`);
    this.addToHandlerPolicies({
      sid: `Launch${id}HostFromItsTemplate`,
      actions: ['ec2:RunInstances'],
      resources: [templateArn, subnetArn, groupArn],
    });
    this.addToHandlerPolicies({
      sid: `Launch${id}HostInstancesOnlyFromItsTemplate`,
      actions: ['ec2:RunInstances'],
      resources: [ec2Arn('instance/*')],
      conditions: {
        ArnLike: { 'ec2:LaunchTemplate': templateArn },
        StringEquals: { [`aws:RequestTag/${TAGS.fleet}`]: this.fleet },
      },
    });
    const profile = scope.launchTemplate.node.tryFindChild('Profile') as iam.CfnInstanceProfile | undefined;
    if (profile) {
      this.addToHandlerPolicies({
        sid: `Retire${id}HostRelaunches`,
        actions: ['ec2:TerminateInstances', 'ec2:CreateTags'],
        resources: [ec2Arn('instance/*')],
        conditions: { ArnEquals: { 'ec2:InstanceProfile': profile.attrArn } },
      });
    }
    if (scope.ownInterface) {
      this.addToHandlerPolicies({
        sid: `Create${id}HostInterface`,
        actions: ['ec2:CreateNetworkInterface'],
        resources: [subnetArn, groupArn, ec2Arn('network-interface/*')],
      });
    }
    // To EC2 only (the instance profile), not to any service that takes a role.
    this.addToHandlerPolicies({
      sid: `Pass${id}HostRoleToEc2`,
      actions: ['iam:PassRole'],
      resources: [scope.instanceRole.roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
    });
  }

  private addToHandlerPolicies(props: iam.PolicyStatementProps): void {
    const statement = new iam.PolicyStatement(props);
    this.onEventFunction.addToRolePolicy(statement);
    this.isCompleteFunction.addToRolePolicy(statement);
  }

  /**
   * Attaches the permissions of a resource type the provider serves besides the hosts (the burst
   * group's teardown) to its handlers. Policies of their own, not the handlers' default policy: the
   * resource depends on it, so when the resource leaves the template CloudFormation deletes the
   * resource (with these permissions) before the policy. In the default policy they would be
   * removed in the update phase, before the cleanup phase runs the resource's Delete.
   */
  attachHandlerPolicies(policies: { readonly onEvent: iam.Policy; readonly isComplete?: iam.Policy }): void {
    policies.onEvent.attachToRole(roleOf(this.onEventFunction));
    policies.isComplete?.attachToRole(roleOf(this.isCompleteFunction));
  }
}

function ec2Arn(resource: string, account: string = Aws.ACCOUNT_ID): string {
  return `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${account}:${resource}`;
}

function roleOf(fn: lambda.IFunction): iam.IRole {
  if (fn.role === undefined) throw new Error(`${fn.node.path} has no execution role`);
  return fn.role;
}

/** The Provider framework's own functions (onEvent, isComplete, onTimeout wrappers). */
function frameworkFunctions(provider: Construct): lambda.Function[] {
  return provider.node
    .findAll()
    .filter((c): c is lambda.Function => c instanceof lambda.Function && c.node.path.includes('/framework-'));
}

function acknowledgeProvider(provider: Construct, functions: nodejs.NodejsFunction[]): void {
  for (const fn of functions) {
    Validations.of(fn.role ?? fn).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'The AWS-maintained basic execution policy only lets the function write its own logs.',
    });
  }
  const v = Validations.of(provider);
  v.acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'The read-only Describe actions granted here support no resource-level permissions: ec2:DescribeInstances, ec2:DescribeSpotInstanceRequests, ec2:DescribeNetworkInterfaces and, with burst workers, autoscaling:DescribeAutoScalingGroups.',
  });
  for (const resource of ['instance', 'volume', 'network-interface', 'spot-instances-request']) {
    v.acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:${resource}/*]`,
      reason:
        "Ids unknown before launch. RunInstances only from each host's own launch template, subnet and group (named exactly), the instance from that template (ec2:LaunchTemplate) with the fleet tag (aws:RequestTag). CreateTags at creation or on fleet-tagged resources or relaunches of a host's instance profile, only the fleet's keys (aws:TagKeys); DeleteTags of no gpu-fleet key; Terminate, CancelSpotInstanceRequests and DeleteNetworkInterface only on resources tagged with this fleet.",
    });
  }
  v.acknowledge({
    id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>::image/*]',
    reason:
      'The AMI is resolved by EC2 at launch from the public AWS SSM parameter; its id is unknown at synth.',
  });
  v.acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    reason:
      'The CDK Provider framework functions use the AWS-maintained basic execution policy: writing their own logs.',
  });
  const stack = Stack.of(provider);
  for (const target of [...functions, ...frameworkFunctions(provider)]) {
    v.acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(target.node.defaultChild as CfnElement)}.Arn>:*]`,
      reason:
        'Generated by the CDK Provider framework: lambda:InvokeFunction on its own handler functions and their version qualifiers only.',
    });
  }
  v.acknowledge({
    id: 'AwsSolutions-SF2',
    reason:
      'The Provider framework waiter state machine only polls isComplete every 15 s; its ALL-level logs are enough to trace it, X-Ray would add cost and nothing to read.',
  });
}
