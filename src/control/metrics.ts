/**
 * The scaler's metrics, named once: the handler publishes them, the alarms read them, and the
 * cost estimate counts them (each custom metric is billed).
 */

/** Published on every tick, whatever happened; `Heartbeat` is always 1 (its alarm notices silence). */
export const TICK_COUNTERS = [
  'Heartbeat',
  'TickFailures',
  'FleetLayoutErrors',
  'Starts',
  'Stops',
  'StartFailures',
  'StopFailures',
  'TagWriteFailures',
  'BootTimeouts',
  'WorkerStalls',
  'MaxRunStops',
] as const;

/** Published on every tick that observed the fleet. */
export const TICK_GAUGES = [
  'Waiting',
  'InFlight',
  'Delayed',
  'GpuRunning',
  'StartBlockedMinutes',
  'GpuRunningMinutes',
] as const;

/**
 * Published on every tick that ran the burst turn (burst.maxWorkers > 0 and a group given): burst
 * workers pending or in service, those of them on on-demand (an alarm says when the fleet runs on
 * on-demand), 1 when the group reported a launch failure within the last minute, and the workers
 * retired because they never became ready (an alarm: a broken image, template or mount), and those
 * retired because they ran scaler.maxRunHours without a hold (an alarm, like the primary's).
 */
export const BURST_GAUGES = [
  'BurstWorkers',
  'BurstOnDemandWorkers',
  'BurstLaunchFailures',
  'BurstBootTimeouts',
  'BurstRunTooLong',
] as const;

/**
 * Published only by an invocation that tries a scheduled action of the app host (the schedule's
 * own, or a tick's retry of one that failed): 1 for a try EC2 refused (an alarm), 1 for an action
 * whose window ended before it succeeded. CloudWatch bills a metric by the hours it is published
 * in, so these rare ones are left out of the monthly estimate.
 */
export const SCHEDULED_ACTION_COUNTERS = [
  'ScheduledHostActionFailures',
  'ScheduledHostActionsMissed',
] as const;

export type ScheduledActionCounter = (typeof SCHEDULED_ACTION_COUNTERS)[number];

export type TickCounter = (typeof TICK_COUNTERS)[number];

/** Alarms the scaler stack creates (checked against the template in test/infra/scaler-stack.test.ts). */
export const SCALER_ALARM_COUNT = 11;

/**
 * Alarms a burst group adds (BurstOnDemand, BurstWorkerNeverReady, BurstWorkerRunTooLong; checked
 * against the template in test/infra/burst.test.ts).
 */
export const BURST_ALARM_COUNT = 3;
