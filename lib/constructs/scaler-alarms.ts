import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { FleetConfig } from '../config.js';
import { SCALER_METRICS } from './scaler-function.js';

export interface ScalerAlarmsProps {
  readonly config: FleetConfig;
  readonly scaler: lambda.IFunction;
  readonly deadLetterQueue: sqs.IQueue;
}

/** The alarms that tell a person something needs them, and the topic that carries them. */
export class ScalerAlarms extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: Record<
    'scalerErrors' | 'deadLetters' | 'startBlocked' | 'runningTooLong' | 'bootTimeout',
    cloudwatch.Alarm
  >;

  constructor(scope: Construct, id: string, props: ScalerAlarmsProps) {
    super(scope, id);
    const { config } = props;
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: `${config.appName} alarms`,
      enforceSSL: true,
    });
    if (config.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(config.alarmEmail));

    const scalerMetric = (metricName: string, statistic: string): cloudwatch.Metric =>
      new cloudwatch.Metric({
        namespace: SCALER_METRICS.namespace,
        metricName,
        dimensionsMap: { service: SCALER_METRICS.service, fleet: config.appName },
        statistic,
        period: Duration.minutes(1),
      });
    const alarm = (
      id: string,
      description: string,
      metric: cloudwatch.IMetric,
      threshold: number,
    ): cloudwatch.Alarm => {
      const created = new cloudwatch.Alarm(this, id, {
        alarmDescription: description,
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      created.addAlarmAction(new actions.SnsAction(this.topic));
      return created;
    };

    this.alarms = {
      scalerErrors: alarm(
        'ScalerErrors',
        'The scaler Lambda failed (access denied, instance gone, a failed scheduled start/stop): the GPU may be left running or never start.',
        props.scaler.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        1,
      ),
      deadLetters: alarm(
        'JobsInDeadLetterQueue',
        'Voice jobs failed 5 times and wait in the dead-letter queue; they need a look.',
        props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(5),
          statistic: 'Maximum',
        }),
        1,
      ),
      startBlocked: alarm(
        'GpuCannotStart',
        `Work waits but the GPU could not be started for ${config.scaler.startFailureAlarmMinutes} minutes (spot capacity, interruption or a failing start).`,
        scalerMetric('StartBlockedMinutes', 'Maximum'),
        config.scaler.startFailureAlarmMinutes,
      ),
      runningTooLong: alarm(
        'GpuRunningTooLong',
        `The GPU has been running for more than ${config.scaler.maxRunHours} hours in a row: check for a stuck job or a forgotten hold.`,
        scalerMetric('GpuRunningMinutes', 'Maximum'),
        config.scaler.maxRunHours * 60,
      ),
      bootTimeout: alarm(
        'GpuWorkerNeverReady',
        `The GPU worker did not report ready within ${config.scaler.bootTimeoutMinutes} minutes of a start and was stopped: the worker or its image is broken.`,
        scalerMetric('BootTimeouts', 'Sum'),
        1,
      ),
    };
  }
}
