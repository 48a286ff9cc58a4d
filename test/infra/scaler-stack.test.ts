import { Match, type Template } from 'aws-cdk-lib/assertions';
import { DEFAULT_CONFIG } from '../../src/config';
import { SCALER_ALARM_COUNT } from '../../src/control/metrics';
import { buildTestFleet, templateOf } from '../support/fleet';
import { statementsOf } from './support';

describe('scaler stack', () => {
  let scaler: Template;
  beforeAll(() => {
    const { fleet } = buildTestFleet({ alarmEmail: 'ops@example.com' });
    scaler = templateOf(fleet.scaler);
  });

  const propertiesOf = (type: string): Array<Record<string, any>> =>
    Object.values(scaler.findResources(type)).map((r) => r.Properties);

  it('runs the scaler on nodejs24.x arm64, small, timing out well inside the minute, dropping late ticks', () => {
    scaler.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: 256,
      Timeout: 30,
      Environment: {
        Variables: {
          JOB_QUEUE_URL: Match.anyValue(),
          POWERTOOLS_SERVICE_NAME: 'scaler',
          POWERTOOLS_METRICS_NAMESPACE: 'GpuFleet',
          NODE_OPTIONS: '--enable-source-maps',
          FLEET_CONFIG: JSON.stringify({
            appName: 'GpuFleet',
            scaler: DEFAULT_CONFIG.scaler,
            schedule: DEFAULT_CONFIG.schedule,
          }),
        },
      },
    });
    scaler.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 60,
      Qualifier: '$LATEST',
    });
  });

  it('ticks every minute with no retries, and starts/stops the app host on weekdays in Tokyo time', () => {
    const all = propertiesOf('AWS::Scheduler::Schedule');
    expect(all).toHaveLength(3);
    const byExpression = Object.fromEntries(all.map((s) => [s.ScheduleExpression, s]));
    expect(byExpression['rate(1 minute)']).toMatchObject({
      Target: {
        Input: '{"action":"tick"}',
        RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 },
      },
    });
    expect(byExpression['cron(0 9 ? * MON-FRI *)']).toMatchObject({
      ScheduleExpressionTimezone: 'Asia/Tokyo',
      Target: {
        Input: '{"action":"start","target":"app","source":"schedule"}',
        RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
      },
    });
    expect(byExpression['cron(0 19 ? * MON-FRI *)']).toMatchObject({
      ScheduleExpressionTimezone: 'Asia/Tokyo',
      Target: { Input: '{"action":"stop","target":"app","source":"schedule"}' },
    });
    expect(byExpression['rate(1 minute)']?.Target.Arn).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^ScalerFunction/), 'Arn'],
    });
    // The host actions go to an alias of the same code whose async retries retry a failed action.
    for (const hour of [9, 19]) {
      expect(byExpression[`cron(0 ${hour} ? * MON-FRI *)`]?.Target.Arn).toEqual({
        Ref: expect.stringMatching(/^ScalerHostActions/),
      });
    }
  });

  it('retries a failed scheduled host action (twice, within the hour) and alarms when it is dropped; ticks are never retried', () => {
    scaler.hasResourceProperties('AWS::Lambda::Alias', { Name: 'host-actions' });
    scaler.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 3600,
      // The alias's name, selected from its ARN.
      Qualifier: { 'Fn::Select': Match.anyValue() },
    });
    scaler.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'AsyncEventsDropped',
      Namespace: 'AWS/Lambda',
      Threshold: 1,
      Dimensions: Match.arrayWith([Match.objectLike({ Name: 'Resource' })]),
      AlarmDescription: Match.stringLikeRegexp('scheduled start or stop of the app host failed'),
    });
  });

  it('can be created in any account: no reserved concurrency, no instance id imported from another stack', () => {
    const json = JSON.stringify(scaler.toJSON());
    expect(json).not.toContain('ReservedConcurrentExecutions');
    expect(json).not.toContain('Fn::ImportValue');
    // The queue comes from the data stack by a weak reference; nothing from the compute stack.
    const outputsRead = [
      ...json.matchAll(
        /"Fn::GetStackOutput":\{"StackName":"([^"]+)","Region":\{[^}]*\},"OutputName":"([^"]+)"/g,
      ),
    ];
    expect(outputsRead.length).toBeGreaterThan(0);
    for (const [, stack, output] of outputsRead) {
      expect(stack).not.toBe('GpuFleet-Compute');
      expect(output).not.toMatch(/Instance|AppHost|GpuWorker/);
    }
  });

  it('may start and stop only instances tagged with its fleet, tag only its GPU with its own keys, describe, and read the job queue counts', () => {
    const statements = statementsOf(scaler, 'ScalerFunctionServiceRole');
    expect(statements).toHaveLength(5);
    const bySid = Object.fromEntries(statements.map((s) => [s.Sid, s]));
    const anyInstance = {
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':ec2:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          ':instance/*',
        ],
      ],
    };
    expect(bySid.StartStopFleetInstances).toEqual({
      Sid: 'StartStopFleetInstances',
      Effect: 'Allow',
      Action: ['ec2:StartInstances', 'ec2:StopInstances'],
      Resource: anyInstance,
      Condition: { StringEquals: { 'aws:ResourceTag/gpu-fleet:fleet': 'GpuFleet' } },
    });
    expect(bySid.TagFleetGpuMemory).toMatchObject({
      Action: 'ec2:CreateTags',
      Resource: anyInstance,
      Condition: {
        StringEquals: {
          'aws:ResourceTag/gpu-fleet:fleet': 'GpuFleet',
          'aws:ResourceTag/gpu-fleet:role': 'gpu',
        },
      },
    });
    const keys = bySid.TagFleetGpuMemory.Condition['ForAllValues:StringEquals']['aws:TagKeys'] as string[];
    expect(keys).toEqual(
      expect.arrayContaining(['gpu-fleet:last-action', 'gpu-fleet:hold-until', 'gpu-fleet:paused-until']),
    );
    // Never the tags that identify the fleet, nor the worker's own.
    for (const key of ['gpu-fleet:fleet', 'gpu-fleet:role', 'gpu-fleet:ready-at', 'gpu-fleet:last-job-at'])
      expect(keys).not.toContain(key);
    expect(bySid.DescribeInstances).toMatchObject({
      Action: ['ec2:DescribeInstances', 'ec2:DescribeSpotInstanceRequests'],
      Resource: '*',
    });
    expect(bySid.ReadJobQueueCounts.Action).toBe('sqs:GetQueueAttributes');
    expect(JSON.stringify(bySid.ReadJobQueueCounts.Resource)).toContain('JobQueue');
  });

  it('alarms when ticks stop arriving (missing data breaching), when stops or ticks keep failing, and on a stalled worker', () => {
    const byMetric = Object.fromEntries(propertiesOf('AWS::CloudWatch::Alarm').map((a) => [a.MetricName, a]));
    expect(byMetric.Heartbeat).toMatchObject({
      Namespace: 'GpuFleet',
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
    expect(byMetric.StopFailures).toMatchObject({ Statistic: 'Sum', Period: 300, Threshold: 3 });
    expect(byMetric.TickFailures).toMatchObject({ Statistic: 'Sum', Period: 300, Threshold: 3 });
    expect(byMetric.WorkerStalls).toMatchObject({ Statistic: 'Sum', Threshold: 1 });
  });

  it('alarms on scaler errors, dead letters, a GPU that cannot start, runs too long or never gets ready', () => {
    const alarms = propertiesOf('AWS::CloudWatch::Alarm').filter((a) => a.MetricName !== 'Heartbeat');
    expect(alarms).toHaveLength(SCALER_ALARM_COUNT - 1);
    const byMetric = Object.fromEntries(alarms.map((a) => [a.MetricName, a]));
    expect(byMetric.Errors).toMatchObject({ Namespace: 'AWS/Lambda', Threshold: 1 });
    expect(byMetric.ApproximateNumberOfMessagesVisible).toMatchObject({ Namespace: 'AWS/SQS', Threshold: 1 });
    const dims = [
      { Name: 'fleet', Value: 'GpuFleet' },
      { Name: 'service', Value: 'scaler' },
    ];
    expect(byMetric.StartBlockedMinutes).toMatchObject({
      Namespace: 'GpuFleet',
      Threshold: 15,
      Statistic: 'Maximum',
    });
    expect(byMetric.GpuRunningMinutes).toMatchObject({ Namespace: 'GpuFleet', Threshold: 720 });
    expect(byMetric.BootTimeouts).toMatchObject({ Namespace: 'GpuFleet', Threshold: 1, Statistic: 'Sum' });
    for (const name of [
      'StartBlockedMinutes',
      'GpuRunningMinutes',
      'BootTimeouts',
      'StopFailures',
      'TickFailures',
    ]) {
      expect(byMetric[name].Dimensions).toEqual(expect.arrayContaining(dims));
    }
    for (const alarm of alarms) {
      expect(alarm).toMatchObject({
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [{ Ref: expect.stringMatching(/^AlarmsTopic/) }],
      });
    }
    scaler.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
    scaler.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('names the alarm topic in an output, where gpu-manage doctor looks for its subscriptions', () => {
    scaler.hasOutput('AlarmTopicArn', { Value: { Ref: Match.stringLikeRegexp('^AlarmsTopic') } });
  });

  it('subscribes no e-mail when none is configured', () => {
    const { fleet } = buildTestFleet();
    templateOf(fleet.scaler).resourceCountIs('AWS::SNS::Subscription', 0);
  });
});
