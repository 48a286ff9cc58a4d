import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { FleetConfig, ScalerConfig, ScheduleConfig } from '../../src/config.js';
import { SCALER_METRICS } from './scaler-function.js';

/** The fleet's name and the limits the alarms name, the prices the burst alarm quotes, where they go. */
export interface ScalerAlarmsProps
  extends
    Pick<FleetConfig, 'appName' | 'alarmEmail' | 'burst' | 'prices'>,
    Pick<ScalerConfig, 'startFailureAlarmMinutes' | 'maxRunHours' | 'bootTimeoutMinutes'> {
  /** The app host's hours, which the alarm on its failed scheduled actions names. */
  readonly schedule: Pick<ScheduleConfig, 'timeZone' | 'startHour' | 'stopHour'>;
  /** The scaler Lambda, whose errors alarm. */
  readonly scaler: lambda.IFunction;
  /** What the app host's schedules invoke: an action it could not even remember for retries alarms. */
  readonly hostActions: lambda.IFunction;
  /** The job queue's dead-letter queue: a job in it alarms. */
  readonly deadLetterQueue: sqs.IQueue;
}

/** The alarms that tell a person something needs them, and the topic that carries them. */
export class ScalerAlarms extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: Record<
    | 'scalerErrors'
    | 'deadLetters'
    | 'startBlocked'
    | 'runningTooLong'
    | 'bootTimeout'
    | 'heartbeat'
    | 'stopFailures'
    | 'tickFailures'
    | 'workerStalled'
    | 'scheduledActionFailed'
    | 'scheduledActionDropped',
    cloudwatch.Alarm
  >;
  /** The fleet runs burst workers on on-demand (the fallback); absent with burst.maxWorkers 0. */
  readonly burstOnDemand?: cloudwatch.Alarm;
  /** A burst worker never became ready and was retired; absent with burst.maxWorkers 0. */
  readonly burstBootTimeout?: cloudwatch.Alarm;
  /** A burst worker ran maxRunHours without a hold and was retired; absent with burst.maxWorkers 0. */
  readonly burstRunTooLong?: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ScalerAlarmsProps) {
    super(scope, id);
    const { appName, alarmEmail, burst, prices } = props;
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: `${appName} alarms`,
      enforceSSL: true,
    });
    if (alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(alarmEmail));

    const hour = (h: number): string => `${String(h).padStart(2, '0')}:00`;
    const scalerMetric = (metricName: string, statistic: string, minutes = 1): cloudwatch.Metric =>
      new cloudwatch.Metric({
        namespace: SCALER_METRICS.namespace,
        metricName,
        dimensionsMap: { service: SCALER_METRICS.service, fleet: appName },
        statistic,
        period: Duration.minutes(minutes),
      });
    // Missing data is not breaching for these: the heartbeat alarm below is the one that notices
    // when ticks (and so every other metric) stop arriving.
    const alarm = (
      id: string,
      description: string,
      metric: cloudwatch.IMetric,
      threshold: number,
      below = false,
    ): cloudwatch.Alarm => {
      const created = new cloudwatch.Alarm(this, id, {
        alarmDescription: description,
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: below
          ? cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
          : cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: below
          ? cloudwatch.TreatMissingData.BREACHING
          : cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      created.addAlarmAction(new actions.SnsAction(this.topic));
      return created;
    };

    this.alarms = {
      scalerErrors: alarm(
        'ScalerErrors',
        'The scaler Lambda failed (access denied, instance gone, a failed operator start/stop): the GPU may be left running or never start.',
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
        `Work waits but the GPU could not be started for ${props.startFailureAlarmMinutes} minutes (spot capacity, interruption or a failing start).`,
        scalerMetric('StartBlockedMinutes', 'Maximum'),
        props.startFailureAlarmMinutes,
      ),
      runningTooLong: alarm(
        'GpuRunningTooLong',
        `The GPU has been running for ${props.maxRunHours} hours in a row: without a hold the scaler stops it now (once nothing is in flight, at the latest 30 minutes later); check for a stuck job, a stream that never ends or a hold.`,
        scalerMetric('GpuRunningMinutes', 'Maximum'),
        props.maxRunHours * 60,
      ),
      heartbeat: alarm(
        'ScalerHeartbeatMissing',
        'No scaler tick in 5 minutes (schedule disabled, function broken or throttled): nothing starts or stops the GPU.',
        scalerMetric('Heartbeat', 'Sum', 5),
        1,
        true,
      ),
      stopFailures: alarm(
        'GpuStopFailing',
        'StopInstances failed 3 times in 5 minutes: the GPU may keep running (and billing) with no work.',
        scalerMetric('StopFailures', 'Sum', 5),
        3,
      ),
      tickFailures: alarm(
        'ScalerTicksFailing',
        'At least 3 ticks in 5 minutes could not observe the fleet or write its memory (throttling, 5xx, access): the loop is half blind.',
        scalerMetric('TickFailures', 'Sum', 5),
        3,
      ),
      workerStalled: alarm(
        'GpuWorkerStalled',
        'Jobs waited while the ready GPU worker took none for 30 minutes (OpenVoice down, a job hung); the scaler restarted the GPU.',
        scalerMetric('WorkerStalls', 'Sum'),
        1,
      ),
      bootTimeout: alarm(
        'GpuWorkerNeverReady',
        `The GPU worker did not report ready within ${props.bootTimeoutMinutes} minutes of a start and was stopped: the worker or its image is broken.`,
        scalerMetric('BootTimeouts', 'Sum'),
        1,
      ),
      scheduledActionFailed: alarm(
        'ScheduledHostActionFailed',
        `A scheduled start or stop of the app host failed 3 times in 5 minutes (its first try and the scaler's retries): the app host may be down in app hours or up after them. The scaler retries a failed start every minute until the scheduled stop (${hour(props.schedule.stopHour)}), and a failed stop every minute until the next scheduled start (${hour(props.schedule.startHour)} on the next working day), ${props.schedule.timeZone} time. Its log names the action and EC2's error (gpu-manage logs scaler); to act now, run npx gpu-manage start-app or stop-app, which also ends the retries.`,
        scalerMetric('ScheduledHostActionFailures', 'Sum', 5),
        3,
      ),
      scheduledActionDropped: alarm(
        'ScheduledHostActionDropped',
        `A scheduled start or stop of the app host failed and could not even be remembered for the scaler's retries (writing its tag on the app host failed), and Lambda's own retries of it failed too: nothing retries it. The scaler's log names the action and the errors; run npx gpu-manage start-app or stop-app.`,
        props.hostActions.metric('AsyncEventsDropped', { period: Duration.minutes(5), statistic: 'Sum' }),
        1,
      ),
    };
    if (burst.maxWorkers > 0) {
      this.burstOnDemand = alarm(
        'BurstOnDemand',
        `Burst workers run on on-demand: spot could not be had for ${burst.onDemandFallback.afterMinutes} minutes while work waited. They cost about ${(prices.gpuOnDemandUsdPerHour / prices.gpuSpotUsdPerHour).toFixed(1)} times spot until spot returns.`,
        scalerMetric('BurstOnDemandWorkers', 'Maximum', 5),
        1,
      );
      this.burstBootTimeout = alarm(
        'BurstWorkerNeverReady',
        `A burst worker did not report ready within ${burst.bootTimeoutMinutes} minutes of its launch and was retired; the group launches no more for an hour. The burst image, launch template or the EFS mount in the burst zones is broken.`,
        scalerMetric('BurstBootTimeouts', 'Sum'),
        1,
      );
      this.burstRunTooLong = alarm(
        'BurstWorkerRunTooLong',
        `A burst worker ran ${props.maxRunHours} hours in a row without a hold and was retired (its job went back to the queue); check for a stuck job, a stream of work that never ends, or a worker tag that does not move.`,
        scalerMetric('BurstRunTooLong', 'Sum'),
        1,
      );
    }
  }
}
