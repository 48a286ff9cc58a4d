import { DEFAULT_CONFIG, resolveConfig } from '../../src/config';
import { JOB_METRICS, dashboardName, jobMetricsNamespace } from '../../src/names';
import { DASHBOARD_WIDGETS } from '../../lib/constructs/fleet-dashboard';
import { buildTestFleet, templateOf } from '../support/fleet';
import { BURST_ALARM_COUNT, SCALER_ALARM_COUNT } from '../../src/control/metrics';
import { read } from './repo-files';
import { type Resource, launchTemplateOf, resourcesOf } from './support';

type Template = { Resources: Record<string, Resource>; Outputs: Record<string, any> };

const BURST_ON = { burst: { ...DEFAULT_CONFIG.burst, maxWorkers: 2 } };

function templates(overrides = {}): { compute: Template; scaler: Template } {
  const { fleet } = buildTestFleet(overrides);
  return {
    compute: templateOf(fleet.compute).toJSON() as Template,
    scaler: templateOf(fleet.scaler).toJSON() as Template,
  };
}

/** The logical id of the log group a Compute output names. */
function groupIdOf(template: Template, output: string): string {
  const ref = template.Outputs[output]?.Value?.Ref as string | undefined;
  if (!ref) throw new Error(`no output ${output}`);
  return ref;
}

/** The logical id of the role of the instance profile a launch template uses. */
function roleOfLaunchTemplate(template: Template, launchTemplate: Resource): string {
  const profileId = launchTemplate.Properties.LaunchTemplateData.IamInstanceProfile.Arn['Fn::GetAtt'][0];
  return template.Resources[profileId]?.Properties.Roles[0].Ref as string;
}

/** Every log group each role may act on, with the actions. */
function logGrants(template: Template): Record<string, Array<{ actions: string[]; resource: unknown }>> {
  const grants: Record<string, Array<{ actions: string[]; resource: unknown }>> = {};
  for (const policy of Object.values(resourcesOf(template, 'AWS::IAM::Policy'))) {
    for (const statement of policy.Properties.PolicyDocument.Statement as Array<Record<string, any>>) {
      const actions = ([] as string[]).concat(statement.Action);
      if (!actions.some((a) => a.startsWith('logs:'))) continue;
      for (const role of policy.Properties.Roles as Array<{ Ref: string }>) {
        (grants[role.Ref] ??= []).push({ actions, resource: statement.Resource });
      }
    }
  }
  return grants;
}

describe('log groups of the hosts', () => {
  const { compute } = templates(BURST_ON);
  const userDataOf = (lt: Resource): string => JSON.stringify(lt.Properties.LaunchTemplateData.UserData);

  it('creates one group per host role, kept 30 days by default and retained with the stack', () => {
    const groups = resourcesOf(compute, 'AWS::Logs::LogGroup');
    expect(Object.keys(groups).filter((id) => id.startsWith('Logs'))).toHaveLength(3);
    for (const output of ['AppLogGroup', 'GpuLogGroup', 'BurstLogGroup']) {
      const id = groupIdOf(compute, output);
      expect(groups[id]?.Properties.RetentionInDays).toBe(30);
      expect((compute.Resources[id] as unknown as { DeletionPolicy: string }).DeletionPolicy).toBe('Retain');
    }
    const plain = templates().compute;
    expect(
      Object.keys(resourcesOf(plain, 'AWS::Logs::LogGroup')).filter((id) => id.startsWith('Logs')),
    ).toHaveLength(2);
    expect(plain.Outputs.BurstLogGroup).toBeUndefined();
  });

  it('takes its retention from logRetentionDays and refuses a period CloudWatch does not offer', () => {
    const { compute: kept, scaler } = templates({ logRetentionDays: 90 });
    for (const output of ['AppLogGroup', 'GpuLogGroup'])
      expect(kept.Resources[groupIdOf(kept, output)]?.Properties.RetentionInDays).toBe(90);
    expect(scaler.Resources[groupIdOf(scaler, 'ScalerLogGroup')]?.Properties.RetentionInDays).toBe(90);
    expect(() => resolveConfig('{"logRetentionDays":31}', new Date('2026-12-01T00:00:00Z'))).toThrow(
      /logRetentionDays = 31; allowed: one of CloudWatch Logs' retention periods/,
    );
  });

  it("hands each role's group to its hosts (user data LOG_GROUP) and lets each write only there", () => {
    const grants = logGrants(compute);
    for (const [role, output] of [
      ['app', 'AppLogGroup'],
      ['gpu', 'GpuLogGroup'],
      ['burst', 'BurstLogGroup'],
    ] as const) {
      const groupId = groupIdOf(compute, output);
      const launchTemplate = launchTemplateOf(compute, role);
      expect(userDataOf(launchTemplate)).toContain(`LOG_GROUP='",{"Ref":"${groupId}"}`);
      const roleId = roleOfLaunchTemplate(compute, launchTemplate);
      const mine = grants[roleId] ?? [];
      expect(mine).toHaveLength(1);
      expect([...(mine[0]?.actions ?? [])].sort()).toEqual([
        'logs:CreateLogStream',
        'logs:DescribeLogStreams',
        'logs:PutLogEvents',
      ]);
      // The group's ARN with and without the stream wildcard: that group, no other.
      const resources = ([] as unknown[]).concat(mine[0]?.resource);
      expect(resources).toEqual([
        { 'Fn::GetAtt': [groupId, 'Arn'] },
        { 'Fn::Join': ['', expect.arrayContaining([':log-group:', { Ref: groupId }])] },
      ]);
    }
  });

  it('turns the worker’s job lines into metrics on the GPU and burst groups', () => {
    const filters = Object.values(resourcesOf(compute, 'AWS::Logs::MetricFilter'));
    expect(filters).toHaveLength(8);
    for (const output of ['GpuLogGroup', 'BurstLogGroup']) {
      const group = groupIdOf(compute, output);
      const mine = filters
        .filter((f) => f.Properties.LogGroupName.Ref === group)
        .map((f) => ({ pattern: f.Properties.FilterPattern, ...f.Properties.MetricTransformations[0] }));
      const namespace = jobMetricsNamespace('GpuFleet');
      expect(mine).toEqual(
        expect.arrayContaining([
          {
            pattern: '{ $.state = "started" && $.waitMs >= 0 }',
            MetricNamespace: namespace,
            MetricName: JOB_METRICS.waitMs,
            MetricValue: '$.waitMs',
            Unit: 'Milliseconds',
          },
          {
            pattern: '{ $.state = "done" && $.durationMs >= 0 }',
            MetricNamespace: namespace,
            MetricName: JOB_METRICS.durationMs,
            MetricValue: '$.durationMs',
            Unit: 'Milliseconds',
          },
          expect.objectContaining({ pattern: '{ $.state = "failed" && $.jobId = * }', MetricValue: '1' }),
          expect.objectContaining({ pattern: '{ $.state = "done" && $.jobId = * }', MetricValue: '1' }),
        ]),
      );
    }
  });
});

describe('compose files ship every container to the role’s group', () => {
  for (const host of ['app', 'gpu-host']) {
    it(`docker/${host}/compose.yaml: awslogs to LOG_GROUP, stream <container>/<instance>`, () => {
      const compose = read(`docker/${host}/compose.yaml`);
      const anchor = /logging: &logging\n\s+driver: (\S+)\n\s+options:\n((?:\s{8}\S.*\n)+)/.exec(compose);
      expect(anchor?.[1]).toBe('awslogs');
      const options = Object.fromEntries(
        (anchor?.[2] ?? '')
          .trim()
          .split('\n')
          .map((line) => line.trim().split(/: (.*)/) as [string, string]),
      );
      expect(options).toEqual({
        'awslogs-region': '${AWS_REGION:?AWS_REGION is not set}',
        'awslogs-group': '${LOG_GROUP:?LOG_GROUP is not set}',
        tag: "'{{.Name}}/${INSTANCE_ID:?INSTANCE_ID is not set}'",
        mode: 'non-blocking',
        'max-buffer-size': '4m',
      });
      const services = compose.split('\nservices:\n')[1]?.match(/^ {2}\w[\w-]*:$/gm) ?? [];
      const logging = compose.match(/^ {4}logging: (?:&logging|\*logging)$/gm) ?? [];
      expect(services.length).toBeGreaterThan(0);
      expect(logging).toHaveLength(services.length);
    });
  }
});

describe('the scaler stack', () => {
  const { scaler } = templates(BURST_ON);

  it('names the scaler’s log group in an output', () => {
    expect(scaler.Resources[groupIdOf(scaler, 'ScalerLogGroup')]?.Type).toBe('AWS::Logs::LogGroup');
  });

  it('has the operator’s dashboard: queue, dead letters, GPU state, burst by market, job waits, alarms', () => {
    const dashboards = Object.values(resourcesOf(scaler, 'AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    const dashboard = dashboards[0] as Resource;
    expect(dashboard.Properties.DashboardName).toBe(dashboardName('GpuFleet'));
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const title of DASHBOARD_WIDGETS) expect(body).toContain(`\\"title\\":\\"${title}\\"`);
    for (const metric of [
      'ApproximateNumberOfMessagesVisible',
      'ApproximateNumberOfMessagesNotVisible',
      'ApproximateAgeOfOldestMessage',
      'GpuRunning',
      'Starts',
      'Stops',
      'BurstOnDemandWorkers',
      JOB_METRICS.waitMs,
      JOB_METRICS.durationMs,
      JOB_METRICS.failures,
    ])
      expect(body).toContain(`\\"${metric}\\"`);
    expect(body).toMatch(/\\"stat\\":\\"p95\\"/);
    expect(body).toContain('workers - onDemand');
    // Every alarm of the stack is on the alarm widget.
    const alarms = Object.keys(resourcesOf(scaler, 'AWS::CloudWatch::Alarm'));
    expect(alarms.length).toBe(SCALER_ALARM_COUNT + BURST_ALARM_COUNT);
    for (const alarm of alarms) expect(body).toContain(`{"Fn::GetAtt":["${alarm}","Arn"]}`);
  });
});
