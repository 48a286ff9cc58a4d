import * as path from 'node:path';
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { SCALER_WRITABLE_TAG_KEYS, TAGS } from '../../src/core/tags.js';
import type { FleetConfig } from '../../src/config.js';
import { burstGroupName } from '../../src/names.js';
import { burstGroupArn } from './burst-group.js';
import { lambdaBundling } from './lambda-bundling.js';

/** Metric namespace and service dimension of the scaler's EMF metrics (the alarms use them). */
export const SCALER_METRICS = { namespace: 'GpuFleet', service: 'scaler' } as const;

export const SCALER_ENTRY = path.join(__dirname, '..', '..', 'lambda', 'scaler', 'handler.ts');

/**
 * Lambda's most: a scheduled host action whose failure could not even be remembered on the app
 * host (for the ticks to retry) is tried twice more (after 1 and 2 more minutes).
 */
export const SCHEDULED_ACTION_RETRIES = 2;
/** Events older than this are dropped: within the app host's shortest window (an hour), so no retry lands after it. */
export const SCHEDULED_ACTION_MAX_AGE = Duration.hours(1);

/**
 * The settings the scaler runs with (they reach it in its environment), the burst group's name
 * and, for its grants, the fleet tag.
 */
export interface ScalerFunctionProps extends Pick<
  FleetConfig,
  'appName' | 'scaler' | 'burst' | 'schedule' | 'logRetentionDays'
> {
  /** The voice job queue whose counts the scaler reads. */
  readonly jobQueue: sqs.IQueue;
}

/**
 * The scaler Lambda. It finds the app host and the GPU by their fleet and role tags, and may act
 * only on instances that carry its fleet's tag: no instance id crosses a stack boundary, so
 * replacing an instance never meets an export in use.
 *
 * No reserved concurrency (accounts with a quota of 10 cannot reserve any). Ticks do not collide
 * in practice: a tick is due every 60 s and the function times out after 30 s, late ticks are
 * dropped (no retries, events older than 60 s discarded). A manual invocation can still run
 * beside a tick; that is safe because the two write disjoint tags (a tick its own memory, an
 * operator event only hold and pause), neither ever clears the other's, and EC2's start and stop
 * are idempotent. The app host's scheduled-action tag is shared: a failed scheduled action writes
 * it, the tick and an operator's start or stop clear it. The tick stops retrying a minute before
 * the next scheduled action is due, so its clearing write never meets that action's new mark.
 */
export class ScalerFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  /** Where the scaler writes one line per tick (`gpu-manage logs scaler`). */
  readonly logGroup: logs.LogGroup;
  /**
   * What the schedules of host actions (the app host's daily start and stop) invoke: the same code,
   * with Lambda's retries of a failed invocation (twice, a minute and two apart, and for up to an
   * hour when Lambda throttles), unlike a tick, which the next tick replaces. A failed action is
   * retried by the ticks for the rest of its window; the invocation fails, and these retries run,
   * only when that could not be remembered.
   */
  readonly hostActions: lambda.Alias;

  constructor(scope: Construct, id: string, props: ScalerFunctionProps) {
    super(scope, id);
    const { appName, burst, schedule } = props;
    const burstOn = burst.maxWorkers > 0;
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetentionDays as logs.RetentionDays,
    });
    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: SCALER_ENTRY,
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.seconds(30),
      retryAttempts: 0,
      maxEventAge: Duration.seconds(60),
      logGroup: this.logGroup,
      description: 'gpu-fleet scaler: starts the GPU when jobs wait, stops it when idle; app host schedule',
      environment: {
        FLEET_CONFIG: JSON.stringify({
          appName,
          scaler: props.scaler,
          ...(burstOn ? { burst } : {}),
          // Whole, so the scaler's check of it is the synth check (stopHour follows startHour).
          schedule,
        }),
        JOB_QUEUE_URL: props.jobQueue.queueUrl,
        // The burst group is found by its name, fixed by the fleet's (no cross-stack reference).
        ...(burstOn ? { BURST_GROUP_NAME: burstGroupName(appName) } : {}),
        POWERTOOLS_SERVICE_NAME: SCALER_METRICS.service,
        POWERTOOLS_METRICS_NAMESPACE: SCALER_METRICS.namespace,
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: lambdaBundling({ sourceMap: true }),
    });

    this.hostActions = new lambda.Alias(this, 'HostActions', {
      aliasName: 'host-actions',
      version: this.function.currentVersion,
      retryAttempts: SCHEDULED_ACTION_RETRIES,
      maxEventAge: SCHEDULED_ACTION_MAX_AGE,
    });

    const anyInstance = Stack.of(this).formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' });
    const fleetTag = { [`aws:ResourceTag/${TAGS.fleet}`]: appName };
    this.addStatement({
      sid: 'StartStopFleetInstances',
      actions: ['ec2:StartInstances', 'ec2:StopInstances'],
      resources: [anyInstance],
      conditions: { StringEquals: fleetTag },
    });
    this.addStatement({
      sid: 'TagFleetGpuMemory',
      actions: ['ec2:CreateTags'],
      resources: [anyInstance],
      conditions: {
        StringEquals: { ...fleetTag, [`aws:ResourceTag/${TAGS.role}`]: 'gpu' },
        'ForAllValues:StringEquals': { 'aws:TagKeys': [...SCALER_WRITABLE_TAG_KEYS] },
      },
    });
    // The app host carries one tag of the scaler's: a failed scheduled action its ticks retry.
    this.addStatement({
      sid: 'TagFleetAppHostScheduledAction',
      actions: ['ec2:CreateTags'],
      resources: [anyInstance],
      conditions: {
        StringEquals: { ...fleetTag, [`aws:ResourceTag/${TAGS.role}`]: 'app' },
        'ForAllValues:StringEquals': { 'aws:TagKeys': [TAGS.scheduledAction] },
      },
    });
    this.addStatement({
      sid: 'DescribeInstances',
      actions: ['ec2:DescribeInstances', 'ec2:DescribeSpotInstanceRequests'],
      resources: ['*'],
    });
    this.addStatement({
      sid: 'ReadJobQueueCounts',
      actions: ['sqs:GetQueueAttributes'],
      resources: [props.jobQueue.queueArn],
    });

    if (burstOn) this.grantBurstControl(appName, burst.maxWorkers);

    const role = this.function.role ?? this.function;
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'The AWS-maintained basic execution policy only lets the function write its own logs.',
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: burstOn
        ? 'ec2:DescribeInstances, autoscaling:DescribeAutoScalingGroups and autoscaling:DescribeScalingActivities support no resource-level permissions; they are read-only.'
        : 'ec2:DescribeInstances supports no resource-level permissions; it is read-only.',
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]',
      reason: `Start/Stop and CreateTags on instances are conditioned on the resource tag ${TAGS.fleet}=${appName} (CreateTags also on ${TAGS.role}=gpu with a fixed list of tag keys, or on ${TAGS.role}=app with ${TAGS.scheduledAction} alone): the scaler finds its instances by tag, so no instance id is exported to it.`,
    });
  }

  private addStatement(props: iam.PolicyStatementProps): void {
    this.function.addToRolePolicy(new iam.PolicyStatement(props));
  }

  /**
   * The burst group's controls, on that group alone: desired capacity, the targeted retirement of
   * an idle worker, the completion of the drain hook of a worker that tagged itself drained, and
   * the market of new workers (the on-demand fallback). The workers hold no lifecycle grant: Auto
   * Scaling has no condition key for the instance a lifecycle action is about, so any worker with
   * it could end another's drain. The two reads have no resource-level permissions.
   */
  private grantBurstControl(appName: string, maxWorkers: number): void {
    const groupName = burstGroupName(appName);
    const group = burstGroupArn(this, groupName);
    this.addStatement({
      sid: 'ControlBurstGroup',
      actions: [
        'autoscaling:CompleteLifecycleAction',
        'autoscaling:SetDesiredCapacity',
        'autoscaling:TerminateInstanceInAutoScalingGroup',
        'autoscaling:UpdateAutoScalingGroup',
      ],
      resources: [group],
    });
    // UpdateAutoScalingGroup is for the market of new workers only. The group's bounds are the
    // deployment's: the scaler may neither raise the maximum (desired capacity could then follow)
    // nor set a minimum that keeps workers running. The keys are present only when a request sets
    // the size, so the scaler's own requests never meet these.
    for (const [sid, key, limit] of [
      ['NeverRaiseBurstMaximum', 'autoscaling:MaxSize', maxWorkers],
      ['NeverSetBurstMinimum', 'autoscaling:MinSize', 0],
    ] as const) {
      this.addStatement({
        sid,
        effect: iam.Effect.DENY,
        actions: ['autoscaling:UpdateAutoScalingGroup'],
        resources: [group],
        conditions: { NumericGreaterThan: { [key]: limit } },
      });
    }
    this.addStatement({
      sid: 'ReadBurstGroup',
      actions: ['autoscaling:DescribeAutoScalingGroups', 'autoscaling:DescribeScalingActivities'],
      resources: ['*'],
    });
    Validations.of(this.function.role ?? this.function).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:<AWS::AccountId>:autoScalingGroup:*:autoScalingGroupName/${groupName}]`,
      reason:
        'The group is named exactly; the wildcard is the group id that Auto Scaling assigns at creation and the ARN must contain. UpdateAutoScalingGroup may not raise MaxSize above burst.maxWorkers nor set a MinSize (Deny).',
    });
  }
}
