import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { FleetConfig } from '../../src/config.js';
import { JOB_METRICS, jobMetricsNamespace } from '../../src/names.js';

/** The host roles that ship logs, each to a group of its own. */
export type HostLogRole = 'app' | 'gpu' | 'burst';

/** The fleet's name (for the job metrics), how long logs are kept, and whether burst workers exist. */
export interface FleetLogsProps extends Pick<FleetConfig, 'appName' | 'logRetentionDays'> {
  /** Creates the burst workers' group. @default false */
  readonly burst?: boolean;
}

/**
 * The log groups the hosts ship to (Docker's awslogs driver for the containers, the CloudWatch
 * agent for the provisioning unit), one per host role, so a stopped or replaced instance's logs
 * stay readable. The groups keep generated names and are retained with their stack: a stack
 * destroyed and deployed again creates new groups instead of colliding with its old ones. The
 * worker's job lines feed metric filters: job waits, durations, completions and failures.
 */
export class FleetLogs extends Construct {
  readonly groups: Readonly<Partial<Record<HostLogRole, logs.LogGroup>>>;

  constructor(scope: Construct, id: string, props: FleetLogsProps) {
    super(scope, id);
    const roles: HostLogRole[] = props.burst ? ['app', 'gpu', 'burst'] : ['app', 'gpu'];
    const groups: Partial<Record<HostLogRole, logs.LogGroup>> = {};
    for (const role of roles) {
      groups[role] = new logs.LogGroup(this, `${role.charAt(0).toUpperCase()}${role.slice(1)}`, {
        retention: props.logRetentionDays as logs.RetentionDays,
      });
    }
    this.groups = groups;
    for (const role of ['gpu', 'burst'] as const) {
      const group = groups[role];
      if (group) addJobMetricFilters(group, jobMetricsNamespace(props.appName));
    }
  }

  /** The group of a role; throws when the role has none (burst workers not deployed). */
  group(role: HostLogRole): logs.LogGroup {
    const group = this.groups[role];
    if (!group) throw new Error(`no log group for ${role} hosts`);
    return group;
  }
}

/**
 * Lets a host role create its streams in its own group and write to them, and nothing else: the
 * awslogs driver needs CreateLogStream and PutLogEvents, the CloudWatch agent also
 * DescribeLogStreams.
 */
export function grantHostLogWrite(group: logs.ILogGroup, role: iam.IRole): void {
  group.grant(role, 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams');
}

/**
 * The worker writes one JSON line per job state change: `started` with `waitMs` (from the
 * message's SentTimestamp), `done` with `durationMs`, `failed` with `error`.
 */
function addJobMetricFilters(group: logs.LogGroup, namespace: string): void {
  const filter = (id: string, pattern: string, metricName: string, metricValue: string): void => {
    group.addMetricFilter(id, {
      filterPattern: logs.FilterPattern.literal(pattern),
      metricNamespace: namespace,
      metricName,
      metricValue,
      unit: metricValue === '1' ? cloudwatch.Unit.COUNT : cloudwatch.Unit.MILLISECONDS,
    });
  };
  filter('JobWait', '{ $.state = "started" && $.waitMs >= 0 }', JOB_METRICS.waitMs, '$.waitMs');
  filter('JobDuration', '{ $.state = "done" && $.durationMs >= 0 }', JOB_METRICS.durationMs, '$.durationMs');
  filter('JobDone', '{ $.state = "done" && $.jobId = * }', JOB_METRICS.done, '1');
  filter('JobFailed', '{ $.state = "failed" && $.jobId = * }', JOB_METRICS.failures, '1');
}
