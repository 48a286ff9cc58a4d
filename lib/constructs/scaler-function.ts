import * as path from 'node:path';
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { FleetConfig } from '../config.js';

/** Metric namespace and service dimension of the scaler's EMF metrics (the alarms use them). */
export const SCALER_METRICS = { namespace: 'GpuFleet', service: 'scaler' } as const;

/**
 * How the scaler is bundled, shared with `npm run bench` so the bundle it measures is the one
 * that ships. The nodejs24.x runtime provides AWS SDK v3, so it stays out of the bundle.
 */
export const SCALER_BUNDLING: nodejs.BundlingOptions = {
  minify: true,
  target: 'node24',
  format: nodejs.OutputFormat.ESM,
  externalModules: ['@aws-sdk/*'],
  // ESM bundles of CommonJS dependencies need a require() of their own.
  banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
};

export const SCALER_ENTRY = path.join(__dirname, '..', '..', 'lambda', 'scaler', 'handler.ts');

export interface ScalerFunctionProps {
  readonly config: FleetConfig;
  readonly jobQueue: sqs.IQueue;
  readonly gpuInstanceId: string;
  readonly appInstanceId: string;
}

/**
 * The scaler Lambda: one writer of the GPU's memory tags (reserved concurrency 1), and late ticks
 * dropped rather than replayed (no retries, events older than 60 s discarded).
 */
export class ScalerFunction extends Construct {
  readonly function: nodejs.NodejsFunction;

  constructor(scope: Construct, id: string, props: ScalerFunctionProps) {
    super(scope, id);
    const { config } = props;
    const logGroup = new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.ONE_MONTH });
    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: SCALER_ENTRY,
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.seconds(30),
      reservedConcurrentExecutions: 1,
      retryAttempts: 0,
      maxEventAge: Duration.seconds(60),
      logGroup,
      description: 'gpu-fleet scaler: starts the GPU when jobs wait, stops it when idle; app host schedule',
      environment: {
        FLEET_CONFIG: JSON.stringify({
          appName: config.appName,
          scaler: config.scaler,
          schedule: { timeZone: config.schedule.timeZone, holidays: config.schedule.holidays },
        }),
        JOB_QUEUE_URL: props.jobQueue.queueUrl,
        GPU_INSTANCE_ID: props.gpuInstanceId,
        APP_INSTANCE_ID: props.appInstanceId,
        POWERTOOLS_SERVICE_NAME: SCALER_METRICS.service,
        POWERTOOLS_METRICS_NAMESPACE: SCALER_METRICS.namespace,
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: { ...SCALER_BUNDLING, sourceMap: true, forceDockerBundling: false },
    });

    const stack = Stack.of(this);
    const instanceArns = [props.gpuInstanceId, props.appInstanceId].map((id) =>
      stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: id }),
    );
    this.function.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'StartStopTagFleetInstances',
        actions: ['ec2:StartInstances', 'ec2:StopInstances', 'ec2:CreateTags'],
        resources: instanceArns,
      }),
    );
    this.function.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'DescribeInstances',
        actions: ['ec2:DescribeInstances'],
        resources: ['*'],
      }),
    );
    this.function.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ReadJobQueueCounts',
        actions: ['sqs:GetQueueAttributes'],
        resources: [props.jobQueue.queueArn],
      }),
    );

    const role = this.function.role ?? this.function;
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'The AWS-maintained basic execution policy only lets the function write its own logs.',
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ec2:DescribeInstances supports no resource-level permissions; it is read-only.',
    });
  }
}
