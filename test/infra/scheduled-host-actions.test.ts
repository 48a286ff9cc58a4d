import type { Template } from 'aws-cdk-lib/assertions';
import { DEFAULT_CONFIG } from '../../src/config';
import { TAGS } from '../../src/core/tags';
import { buildTestFleet, templateOf } from '../support/fleet';
import { statementsOf } from './support';

/**
 * The infrastructure of the app host's retried scheduled actions: the scaler may write its one
 * tag on the app host and nothing else there, and the alarms say what failed, what the scaler
 * does about it and how to act.
 */
describe('scheduled host actions in the scaler stack', () => {
  let scaler: Template;
  beforeAll(() => {
    const { fleet } = buildTestFleet({
      schedule: { ...DEFAULT_CONFIG.schedule, startHour: 8, stopHour: 20 },
    });
    scaler = templateOf(fleet.scaler);
  });

  const statements = () => statementsOf(scaler, 'ScalerFunctionServiceRole');

  it('may tag the fleet’s app host with the scheduled-action key alone', () => {
    const appTagging = statements().filter(
      (s) =>
        [s.Action].flat().includes('ec2:CreateTags') &&
        s.Condition?.StringEquals?.[`aws:ResourceTag/${TAGS.role}`] === 'app',
    );
    expect(appTagging).toHaveLength(1);
    expect(appTagging[0]).toMatchObject({
      Sid: 'TagFleetAppHostScheduledAction',
      Effect: 'Allow',
      Action: 'ec2:CreateTags',
      Condition: {
        StringEquals: {
          [`aws:ResourceTag/${TAGS.fleet}`]: 'GpuFleet',
          [`aws:ResourceTag/${TAGS.role}`]: 'app',
        },
        'ForAllValues:StringEquals': { 'aws:TagKeys': ['gpu-fleet:scheduled-action'] },
      },
    });
    // The GPU's memory grant does not reach the app host, nor carry the app host's key.
    const gpu = statements().find((s) => s.Sid === 'TagFleetGpuMemory');
    expect(gpu?.Condition.StringEquals[`aws:ResourceTag/${TAGS.role}`]).toBe('gpu');
    expect(gpu?.Condition['ForAllValues:StringEquals']['aws:TagKeys']).not.toContain(TAGS.scheduledAction);
  });

  const alarmNamed = (prefix: string): Record<string, any> => {
    const found = Object.entries(scaler.findResources('AWS::CloudWatch::Alarm')).filter(([id]) =>
      id.startsWith(`Alarms${prefix}`),
    );
    expect(found).toHaveLength(1);
    return found[0]?.[1].Properties as Record<string, any>;
  };

  it('alarms on failed tries of a scheduled action, saying what the scaler does until when and how to act', () => {
    const alarm = alarmNamed('ScheduledHostActionFailed');
    expect(alarm).toMatchObject({
      Namespace: 'GpuFleet',
      MetricName: 'ScheduledHostActionFailures',
      Dimensions: expect.arrayContaining([
        { Name: 'fleet', Value: 'GpuFleet' },
        { Name: 'service', Value: 'scaler' },
      ]),
      Statistic: 'Sum',
      Period: 300,
      Threshold: 3,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(alarm.AlarmDescription).toContain('A scheduled start or stop of the app host failed 3 times');
    expect(alarm.AlarmDescription).toContain('every minute until the scheduled stop (20:00)');
    expect(alarm.AlarmDescription).toContain(
      'until the next scheduled start (08:00 on the next working day)',
    );
    expect(alarm.AlarmDescription).toContain('Asia/Tokyo time');
    expect(alarm.AlarmDescription).toContain('npx gpu-manage start-app or stop-app');
  });

  it('keeps the dropped-event alarm for an action that could not even be remembered', () => {
    const alarm = alarmNamed('ScheduledHostActionDropped');
    expect(alarm).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'AsyncEventsDropped',
      Statistic: 'Sum',
      Threshold: 1,
    });
    expect(alarm.Dimensions).toEqual(expect.arrayContaining([expect.objectContaining({ Name: 'Resource' })]));
    expect(alarm.AlarmDescription).toContain('could not even be remembered');
  });
});
