import { Duration, TimeZone } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';
import type { ScheduleConfig } from '../../src/config.js';

export interface ScalerSchedulesProps {
  readonly schedule: ScheduleConfig;
  /** What the minute tick invokes: no retry, a late tick is dropped. */
  readonly scaler: lambda.IFunction;
  /**
   * What the app host's start and stop invoke. A failed action is remembered on the app host and
   * retried by the minute tick for the rest of its window; this function's async retries are what
   * retries one that could not be remembered (the schedule's own retries cover only the delivery
   * of the event). @default the scaler
   */
  readonly hostActions?: lambda.IFunction;
}

/**
 * EventBridge Scheduler (time-zone aware, unlike legacy rules): the minute tick of the control
 * loop and the weekday start/stop of the app host.
 */
export class ScalerSchedules extends Construct {
  readonly tick: scheduler.Schedule;
  readonly appStart: scheduler.Schedule;
  readonly appStop: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: ScalerSchedulesProps) {
    super(scope, id);
    const { schedule, scaler } = props;

    // A late tick is worthless (the next one is a minute away): no retries, 60 s at most.
    this.tick = new scheduler.Schedule(this, 'Tick', {
      description: 'gpu-fleet scaler tick: observe the queue and the GPU, decide, act',
      schedule: scheduler.ScheduleExpression.rate(Duration.minutes(1)),
      target: new targets.LambdaInvoke(scaler, {
        input: scheduler.ScheduleTargetInput.fromObject({ action: 'tick' }),
        retryAttempts: 0,
        maxEventAge: Duration.seconds(60),
      }),
    });

    const appAction = (action: 'start' | 'stop', hour: number): scheduler.Schedule =>
      new scheduler.Schedule(this, action === 'start' ? 'AppStart' : 'AppStop', {
        description: `gpu-fleet: ${action} the app host at ${hour}:00 ${schedule.timeZone} on ${schedule.weekDays}`,
        schedule: scheduler.ScheduleExpression.cron({
          minute: '0',
          hour: String(hour),
          weekDay: schedule.weekDays,
          timeZone: TimeZone.of(schedule.timeZone),
        }),
        target: new targets.LambdaInvoke(props.hostActions ?? scaler, {
          input: scheduler.ScheduleTargetInput.fromObject({ action, target: 'app', source: 'schedule' }),
          retryAttempts: 3,
          maxEventAge: Duration.hours(1),
        }),
      });
    this.appStart = appAction('start', schedule.startHour);
    this.appStop = appAction('stop', schedule.stopHour);
  }
}
