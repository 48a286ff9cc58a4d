/**
 * The events the scaler accepts: the minute tick, and start/stop from the schedules or by hand.
 * A manual start or stop means exactly what `gpu-manage start-…`/`stop-…` mean (src/core/operator.ts);
 * `until` is the hold's end for a start and the pause's end for a stop (ISO 8601).
 */
export type ScalerEvent =
  | { readonly action: 'tick' }
  | {
      readonly action: 'start' | 'stop';
      readonly target: 'all' | 'app' | 'gpu';
      readonly source?: 'schedule' | 'manual';
      readonly until?: Date;
    };

const TARGETS = ['all', 'app', 'gpu'] as const;

/** Parses an incoming event, or returns the reason it is not one. */
export function parseEvent(event: unknown): ScalerEvent | { readonly invalid: string } {
  if (typeof event !== 'object' || event === null) {
    return { invalid: 'the event must be a JSON object such as {"action":"start","target":"gpu"}' };
  }
  const { action, target, source, until } = event as Record<string, unknown>;
  if (action === 'tick') return { action };
  if (action !== 'start' && action !== 'stop') {
    return { invalid: `action ${JSON.stringify(action)} is not one of "tick", "start", "stop"` };
  }
  if (!TARGETS.includes(target as (typeof TARGETS)[number])) {
    return { invalid: `target ${JSON.stringify(target)} is not one of "all", "app", "gpu"` };
  }
  if (source !== undefined && source !== 'schedule' && source !== 'manual') {
    return { invalid: `source ${JSON.stringify(source)} is not one of "schedule", "manual"` };
  }
  let untilDate: Date | undefined;
  if (until !== undefined) {
    untilDate = typeof until === 'string' ? new Date(until) : undefined;
    if (untilDate === undefined || Number.isNaN(untilDate.getTime())) {
      return {
        invalid: `until ${JSON.stringify(until)} is not an ISO 8601 time such as 2026-11-25T00:00:00Z`,
      };
    }
    if (target === 'app')
      return { invalid: 'until applies to the GPU (target "gpu" or "all"), not to "app"' };
  }
  return {
    action,
    target: target as (typeof TARGETS)[number],
    source: source as 'schedule' | 'manual' | undefined,
    ...(untilDate !== undefined && { until: untilDate }),
  };
}
