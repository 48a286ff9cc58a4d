import * as path from 'node:path';
import { Aws, type CfnElement, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { TAGS } from '../../src/core/tags.js';
import { lambdaBundling } from './lambda-bundling.js';

const ENTRY = path.join(__dirname, '..', '..', 'lambda', 'host-lifecycle', 'handler.ts');

export interface HostLifecycleProviderProps {
  /** The fleet's appName: the provider may only terminate and cancel what carries this fleet tag. */
  readonly fleet: string;
  /** SSM parameters of the AMIs that the launch templates resolve at launch (RunInstances reads them as the caller). */
  readonly amiParameters: readonly string[];
}

/**
 * The custom resource provider that owns the fleet's hosts (src/aws/host-lifecycle.ts): one per
 * stack, shared by every FleetHost in it. `onEvent` launches, rotates or retires a host;
 * `isComplete` waits (up to 30 minutes) for it to run or to be gone.
 */
export class HostLifecycleProvider extends Construct {
  readonly serviceToken: string;
  private readonly onEventFunction: nodejs.NodejsFunction;
  private readonly isCompleteFunction: nodejs.NodejsFunction;

  constructor(scope: Construct, id: string, props: HostLifecycleProviderProps) {
    super(scope, id);
    const common: nodejs.NodejsFunctionProps = {
      entry: ENTRY,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      bundling: lambdaBundling(),
    };
    this.onEventFunction = new nodejs.NodejsFunction(this, 'OnEvent', {
      ...common,
      handler: 'onEvent',
      // A rotation waits for the old instance to terminate (10 minutes at most) before launching.
      timeout: Duration.minutes(14),
      description: 'gpu-fleet hosts: launch, rotate (cancel spot request, terminate, relaunch) and retire',
      logGroup: new logs.LogGroup(this, 'OnEventLogs', { retention: logs.RetentionDays.ONE_MONTH }),
    });
    const isCompleteFunction = new nodejs.NodejsFunction(this, 'IsComplete', {
      ...common,
      handler: 'isComplete',
      timeout: Duration.minutes(1),
      description: 'gpu-fleet hosts: is the launched host running, the retired one terminated?',
      logGroup: new logs.LogGroup(this, 'IsCompleteLogs', { retention: logs.RetentionDays.ONE_MONTH }),
    });
    this.isCompleteFunction = isCompleteFunction;

    const stack = Stack.of(this);
    const ec2Arn = (resource: string, account: string = Aws.ACCOUNT_ID) =>
      `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${account}:${resource}`;
    const fleetTagged = { StringEquals: { [`aws:ResourceTag/${TAGS.fleet}`]: props.fleet } };
    const statements = [
      new iam.PolicyStatement({
        sid: 'LaunchFromTheFleetLaunchTemplates',
        actions: ['ec2:RunInstances'],
        resources: [
          ec2Arn('launch-template/*'),
          ec2Arn('instance/*'),
          ec2Arn('volume/*'),
          ec2Arn('network-interface/*'),
          ec2Arn('subnet/*'),
          ec2Arn('security-group/*'),
          ec2Arn('spot-instances-request/*'),
          ec2Arn('image/*', ''),
        ],
      }),
      new iam.PolicyStatement({
        sid: 'TagOnLaunchOnly',
        actions: ['ec2:CreateTags'],
        resources: [
          ec2Arn('instance/*'),
          ec2Arn('volume/*'),
          ec2Arn('network-interface/*'),
          ec2Arn('spot-instances-request/*'),
        ],
        conditions: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
      }),
      new iam.PolicyStatement({
        sid: 'RetagFleetHostsOnly',
        actions: ['ec2:CreateTags'],
        resources: [ec2Arn('instance/*')],
        conditions: fleetTagged,
      }),
      new iam.PolicyStatement({
        sid: 'RetireFleetHostsOnly',
        actions: ['ec2:TerminateInstances', 'ec2:CancelSpotInstanceRequests'],
        resources: [ec2Arn('instance/*'), ec2Arn('spot-instances-request/*')],
        conditions: fleetTagged,
      }),
      new iam.PolicyStatement({
        sid: 'Describe',
        actions: ['ec2:DescribeInstances', 'ec2:DescribeSpotInstanceRequests'],
        resources: ['*'],
      }),
      new iam.PolicyStatement({
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
      }),
    ];
    for (const statement of statements) this.onEventFunction.addToRolePolicy(statement);
    isCompleteFunction.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['ec2:DescribeInstances'], resources: ['*'] }),
    );

    const provider = new cr.Provider(this, 'Provider', {
      onEventHandler: this.onEventFunction,
      isCompleteHandler: isCompleteFunction,
      queryInterval: Duration.seconds(15),
      totalTimeout: Duration.minutes(30),
      logGroup: new logs.LogGroup(this, 'ProviderLogs', { retention: logs.RetentionDays.ONE_MONTH }),
      disableWaiterStateMachineLogging: false,
      waiterStateMachineLogOptions: {
        destination: new logs.LogGroup(this, 'WaiterLogs', { retention: logs.RetentionDays.ONE_MONTH }),
        level: sfn.LogLevel.ALL,
      },
    });
    this.serviceToken = provider.serviceToken;
    acknowledgeProvider(this, [this.onEventFunction, isCompleteFunction]);
  }

  /**
   * Attaches the permissions of a resource type the provider serves besides the hosts (the burst
   * group's teardown) to its handlers. Policies of their own, not the handlers' default policy: the
   * resource depends on it, so when the resource leaves the template CloudFormation deletes the
   * resource (with these permissions) before the policy. In the default policy they would be
   * removed in the update phase, before the cleanup phase runs the resource's Delete.
   */
  attachHandlerPolicies(policies: { readonly onEvent: iam.Policy; readonly isComplete?: iam.Policy }): void {
    policies.onEvent.attachToRole(this.onEventRole);
    policies.isComplete?.attachToRole(this.isCompleteRole);
  }

  private get onEventRole(): iam.IRole {
    return roleOf(this.onEventFunction);
  }

  private get isCompleteRole(): iam.IRole {
    return roleOf(this.isCompleteFunction);
  }

  /** Lets the provider hand a host's instance profile role to EC2 at launch. */
  grantPassRole(role: iam.IRole): void {
    role.grantPassRole(this.onEventFunction.grantPrincipal);
  }
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
    const v = Validations.of(fn.role ?? fn);
    v.acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'The AWS-maintained basic execution policy only lets the function write its own logs.',
    });
  }
  const v = Validations.of(provider);
  v.acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'The read-only Describe actions granted here support no resource-level permissions: ec2:DescribeInstances, ec2:DescribeSpotInstanceRequests and, with burst workers, autoscaling:DescribeAutoScalingGroups.',
  });
  for (const resource of [
    'launch-template',
    'instance',
    'volume',
    'network-interface',
    'subnet',
    'security-group',
    'spot-instances-request',
  ]) {
    v.acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:${resource}/*]`,
      reason:
        'RunInstances names the resources it creates (ids unknown before launch) and the fleet launch template, subnet and groups; CreateTags only at launch (ec2:CreateAction = RunInstances); Terminate/CancelSpotInstanceRequests only on resources tagged with this fleet.',
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
