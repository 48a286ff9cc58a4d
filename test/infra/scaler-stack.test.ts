import { Match, type Template } from 'aws-cdk-lib/assertions';
import { DEFAULT_CONFIG } from '../../lib/config';
import { buildTestFleet, templateOf } from '../support/fleet';

describe('scaler stack', () => {
  let scaler: Template;
  beforeAll(() => {
    const { fleet } = buildTestFleet({ alarmEmail: 'ops@example.com' });
    scaler = templateOf(fleet.scaler);
  });

  const schedules = (): Array<Record<string, any>> =>
    Object.values(scaler.findResources('AWS::Scheduler::Schedule')).map((s) => s.Properties);

  it('runs the scaler on nodejs24.x arm64, small, one at a time, dropping late ticks', () => {
    scaler.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: 256,
      Timeout: 30,
      ReservedConcurrentExecutions: 1,
      Environment: {
        Variables: Match.objectLike({
          JOB_QUEUE_URL: Match.anyValue(),
          GPU_INSTANCE_ID: Match.anyValue(),
          APP_INSTANCE_ID: Match.anyValue(),
          POWERTOOLS_SERVICE_NAME: 'scaler',
          POWERTOOLS_METRICS_NAMESPACE: 'GpuFleet',
          FLEET_CONFIG: JSON.stringify({
            appName: 'GpuFleet',
            scaler: DEFAULT_CONFIG.scaler,
            schedule: { timeZone: 'Asia/Tokyo', holidays: [] },
          }),
        }),
      },
    });
    scaler.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 60,
      Qualifier: '$LATEST',
    });
  });

  it('ticks every minute with no retries, and starts/stops the app host on weekdays in Tokyo time', () => {
    const all = schedules();
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
    for (const schedule of all) {
      expect(schedule.Target.Arn).toEqual({
        'Fn::GetAtt': [expect.stringMatching(/^ScalerFunction/), 'Arn'],
      });
    }
  });

  it('may start, stop and tag only the two fleet instances, describe, and read the job queue counts', () => {
    const policy = Object.entries(scaler.findResources('AWS::IAM::Policy')).find(([id]) =>
      id.startsWith('ScalerFunctionServiceRole'),
    );
    const statements = policy?.[1].Properties.PolicyDocument.Statement as Array<Record<string, any>>;
    expect(statements).toHaveLength(3);
    const bySid = Object.fromEntries(statements.map((s) => [s.Sid, s]));
    expect([...bySid.StartStopTagFleetInstances.Action].sort()).toEqual([
      'ec2:CreateTags',
      'ec2:StartInstances',
      'ec2:StopInstances',
    ]);
    const arns = JSON.stringify(bySid.StartStopTagFleetInstances.Resource);
    expect(arns).toContain(':instance/');
    expect(arns).toContain('OutputRefGpuWorkerHostInstance');
    expect(arns).toContain('OutputRefAppHostInstance');
    expect(bySid.StartStopTagFleetInstances.Resource).toHaveLength(2);
    expect(bySid.DescribeInstances).toMatchObject({ Action: 'ec2:DescribeInstances', Resource: '*' });
    expect(bySid.ReadJobQueueCounts.Action).toBe('sqs:GetQueueAttributes');
    expect(JSON.stringify(bySid.ReadJobQueueCounts.Resource)).toContain('JobQueue');
  });

  it('alarms on scaler errors, dead letters, a GPU that cannot start, runs too long or never gets ready', () => {
    const alarms = Object.values(scaler.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
    expect(alarms).toHaveLength(5);
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
    for (const name of ['StartBlockedMinutes', 'GpuRunningMinutes', 'BootTimeouts']) {
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

  it('subscribes no e-mail when none is configured', () => {
    const { fleet } = buildTestFleet();
    templateOf(fleet.scaler).resourceCountIs('AWS::SNS::Subscription', 0);
  });
});
