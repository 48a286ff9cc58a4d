/** The job state each job event stands for, in the worker's log lines. */
const JOB_STATES: Readonly<Record<string, 'started' | 'done' | 'failed'>> = {
  job_started: 'started',
  job_done: 'done',
  job_failed: 'failed',
};

/**
 * One JSON line per worker event, on stdout. A job's state changes read as
 * `{"level","msg":"job","jobId","type","state","waitMs"|"durationMs","output"?,"error"?}`: the
 * metric filters of the fleet's log groups and `gpu-manage logs --job` read exactly these keys.
 * Every line also carries the worker's health and counters.
 */
export function logLine(event: string, detail: unknown, time: Date, context: object): string {
  const body = (detail instanceof Error ? { error: detail.message } : (detail ?? {})) as Record<
    string,
    unknown
  >;
  const state = JOB_STATES[event];
  const level = event === 'error' || state === 'failed' ? 'error' : 'info';
  // Only a job's own state change carries `state`: the metric filters count lines by it, so the
  // state another event reports (a duplicate's recorded job, say) is named jobState.
  const { state: jobState, ...rest } = body;
  return JSON.stringify({
    time: time.toISOString(),
    level,
    ...(state
      ? { msg: 'job', event, state, ...rest }
      : { msg: event, event, ...rest, ...(jobState !== undefined && { jobState }) }),
    ...context,
  });
}
