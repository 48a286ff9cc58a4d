import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { FleetConfig } from '../../src/config.js';
import { JOB_METRICS, dashboardName, jobMetricsNamespace } from '../../src/names.js';
import { SCALER_METRICS } from './scaler-function.js';

/** What the dashboard shows: the fleet's queues, its alarms, and whether burst workers exist. */
export interface FleetDashboardProps extends Pick<FleetConfig, 'appName'> {
  readonly jobQueue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  /** Shown in an alarm status widget. */
  readonly alarms: readonly cloudwatch.IAlarm[];
  /** Adds the burst workers by market. @default false */
  readonly burst?: boolean;
}

/** The widgets of the dashboard, by title (checked against the template in the tests). */
export const DASHBOARD_WIDGETS = [
  'Jobs waiting and in flight',
  'Age of the oldest job',
  'Dead letters',
  'GPU running (1) or stopped (0)',
  'GPU starts and stops',
  'Burst workers by market',
  'Job wait (queue to start)',
  'Job duration',
  'Jobs done and failed',
  'Alarms',
] as const;

/**
 * One CloudWatch dashboard for the operator: the queue from SQS's own metrics, the GPU's state
 * and actions from the scaler's metrics, the burst workers by market, the job waits and
 * durations from the worker's log lines (metric filters, see FleetLogs), and the alarms.
 */
export class FleetDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: FleetDashboardProps) {
    super(scope, id);
    const period = Duration.minutes(1);
    const scaler = (metricName: string, statistic: string, label: string): cloudwatch.Metric =>
      new cloudwatch.Metric({
        namespace: SCALER_METRICS.namespace,
        metricName,
        dimensionsMap: { service: SCALER_METRICS.service, fleet: props.appName },
        statistic,
        period,
        label,
      });
    const job = (metricName: string, statistic: string, label: string): cloudwatch.Metric =>
      new cloudwatch.Metric({
        namespace: jobMetricsNamespace(props.appName),
        metricName,
        statistic,
        period: Duration.minutes(5),
        label,
      });
    const graph = (
      title: string,
      left: cloudwatch.IMetric[],
      extra: Partial<cloudwatch.GraphWidgetProps> = {},
    ): cloudwatch.GraphWidget => new cloudwatch.GraphWidget({ title, left, width: 8, height: 6, ...extra });
    const [queued, age, dead, gpu, actions, burst, wait, duration, outcomes, alarms] = DASHBOARD_WIDGETS;
    const spotWorkers = new cloudwatch.MathExpression({
      expression: 'workers - onDemand',
      usingMetrics: {
        workers: scaler('BurstWorkers', 'Maximum', 'all'),
        onDemand: scaler('BurstOnDemandWorkers', 'Maximum', 'on-demand'),
      },
      label: 'spot',
      period,
    });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: dashboardName(props.appName),
      defaultInterval: Duration.days(1),
      widgets: [
        [
          graph(queued, [
            props.jobQueue.metricApproximateNumberOfMessagesVisible({ period, label: 'waiting' }),
            props.jobQueue.metricApproximateNumberOfMessagesNotVisible({ period, label: 'in flight' }),
          ]),
          graph(age, [
            props.jobQueue.metricApproximateAgeOfOldestMessage({ period, label: 'oldest job (s)' }),
          ]),
          graph(dead, [
            props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, label: 'dead letters' }),
          ]),
        ],
        [
          graph(gpu, [scaler('GpuRunning', 'Maximum', 'GPU running')], {
            leftYAxis: { min: 0, max: 1 },
          }),
          graph(actions, [scaler('Starts', 'Sum', 'starts'), scaler('Stops', 'Sum', 'stops')]),
          graph(
            burst,
            props.burst
              ? [spotWorkers, scaler('BurstOnDemandWorkers', 'Maximum', 'on-demand')]
              : [scaler('BurstWorkers', 'Maximum', 'burst workers (none deployed)')],
            { stacked: true },
          ),
        ],
        [
          graph(wait, [
            job(JOB_METRICS.waitMs, 'p50', 'p50 (ms)'),
            job(JOB_METRICS.waitMs, 'p95', 'p95 (ms)'),
          ]),
          graph(duration, [
            job(JOB_METRICS.durationMs, 'p50', 'p50 (ms)'),
            job(JOB_METRICS.durationMs, 'p95', 'p95 (ms)'),
          ]),
          graph(outcomes, [job(JOB_METRICS.done, 'Sum', 'done'), job(JOB_METRICS.failures, 'Sum', 'failed')]),
        ],
        [
          new cloudwatch.AlarmStatusWidget({
            title: alarms,
            alarms: [...props.alarms],
            width: 24,
            height: 4,
          }),
        ],
      ],
    });
  }
}
