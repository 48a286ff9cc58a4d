import type { SimEvent } from '../../src/sim/fleet-model';

/**
 * The promises the loop keeps, checked on a run's events. Each returns the breaches it found
 * (empty when the run keeps the promise), worded so a failing test says what went wrong.
 */

const BURST_JOB_EVENTS = new Set(['job-start', 'job-end']);

/** Every burst retire comes at least `idleMinutes` after that worker's last job start or end. */
export function retiresTooSoonAfterAJob(events: readonly SimEvent[], idleMinutes: number): string[] {
  const lastJob = new Map<string, number>();
  const running = new Map<string, number>();
  const breaches: string[] = [];
  for (const e of events) {
    if (BURST_JOB_EVENTS.has(e.type)) {
      lastJob.set(e.worker, e.t);
      running.set(e.worker, (running.get(e.worker) ?? 0) + (e.type === 'job-start' ? 1 : -1));
    }
    if (e.type !== 'burst-retire') continue;
    const last = lastJob.get(e.worker);
    if ((running.get(e.worker) ?? 0) > 0) breaches.push(`${e.worker} retired at ${e.t}s with a job running`);
    else if (last !== undefined && e.t - last < idleMinutes * 60)
      breaches.push(`${e.worker} retired at ${e.t}s, ${e.t - last}s after its last job`);
  }
  return breaches;
}

/** The most burst launches in any window of `minutes` (sliding, from each launch). */
export function mostBurstLaunchesWithin(events: readonly SimEvent[], minutes: number): number {
  const launches = events.filter((e) => e.type === 'burst-launch').map((e) => e.t);
  let most = 0;
  for (let i = 0, j = 0; i < launches.length; i += 1) {
    while ((launches[i] ?? 0) - (launches[j] ?? 0) >= minutes * 60) j += 1;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

/**
 * Stretches a worker was billed with no job on it after it became ready: from its ready (or its
 * last job's end) to its next job or its end. Only stretches longer than `minutes` are returned.
 */
export function billedWithoutAJob(
  events: readonly SimEvent[],
  minutes: number,
  workers: (worker: string) => boolean = () => true,
): Array<{ worker: string; from: number; to: number }> {
  const idleFrom = new Map<string, number>();
  const running = new Map<string, number>();
  const long: Array<{ worker: string; from: number; to: number }> = [];
  const close = (worker: string, t: number): void => {
    const from = idleFrom.get(worker);
    if (from !== undefined && t - from > minutes * 60 && workers(worker)) long.push({ worker, from, to: t });
    idleFrom.delete(worker);
  };
  for (const e of events) {
    switch (e.type) {
      case 'ready':
      case 'burst-ready':
        idleFrom.set(e.worker, e.t);
        break;
      case 'job-start':
        running.set(e.worker, (running.get(e.worker) ?? 0) + 1);
        close(e.worker, e.t);
        break;
      case 'job-end': {
        const left = (running.get(e.worker) ?? 1) - 1;
        running.set(e.worker, left);
        if (left === 0) idleFrom.set(e.worker, e.t);
        break;
      }
      case 'stopped':
      case 'burst-terminated':
        close(e.worker, e.t);
        running.set(e.worker, 0);
        break;
      case 'interrupted':
      case 'burst-interrupted':
        idleFrom.delete(e.worker);
        running.set(e.worker, 0);
        break;
      default:
        break;
    }
  }
  return long;
}

/** Seconds each launch of a worker that never became ready was billed (launch to its end). */
export function neverReadyRuns(events: readonly SimEvent[]): Array<{ worker: string; seconds: number }> {
  const launched = new Map<string, number>();
  const runs: Array<{ worker: string; seconds: number }> = [];
  for (const e of events) {
    if (e.type === 'start' || e.type === 'burst-launch') launched.set(e.worker, e.t);
    if (e.type === 'ready' || e.type === 'burst-ready') launched.delete(e.worker);
    if (e.type === 'stopped' || e.type === 'burst-terminated' || e.type.endsWith('interrupted')) {
      const at = launched.get(e.worker);
      if (at !== undefined) runs.push({ worker: e.worker, seconds: e.t - at });
      launched.delete(e.worker);
    }
  }
  return runs;
}

/** Starts of the primary that came sooner than `minutes` after its previous stop. */
export function startsSoonAfterAStop(events: readonly SimEvent[], minutes: number): number[] {
  let lastStop = Number.NEGATIVE_INFINITY;
  const soon: number[] = [];
  for (const e of events) {
    if (e.type === 'stop') lastStop = e.t;
    if (e.type === 'start' && e.t - lastStop < minutes * 60) soon.push(e.t);
  }
  return soon;
}

/**
 * Burst launches that came within `pauseMinutes` after a worker was retired for never becoming
 * ready within `bootTimeoutMinutes` (a boot failure): the scaler must launch none then.
 */
export function launchesDuringBootPause(
  events: readonly SimEvent[],
  bootTimeoutMinutes: number,
  pauseMinutes: number,
): number[] {
  const launched = new Map<string, number>();
  let pausedUntil = Number.NEGATIVE_INFINITY;
  const breaches: number[] = [];
  for (const e of events) {
    if (e.type === 'burst-launch') {
      if (e.t < pausedUntil) breaches.push(e.t);
      launched.set(e.worker, e.t);
    }
    if (e.type === 'burst-ready') launched.delete(e.worker);
    if (e.type === 'burst-retire') {
      const at = launched.get(e.worker);
      if (at !== undefined && e.t - at >= bootTimeoutMinutes * 60) pausedUntil = e.t + pauseMinutes * 60;
    }
  }
  return breaches;
}

/**
 * Stops of the primary with a job in flight, or sooner than `idleMinutes` after its last job ended
 * (with `fromReady`, also after it became ready). An interruption ends the jobs in flight.
 */
export function stopsBusyOrTooSoon(
  events: readonly SimEvent[],
  idleMinutes: number,
  fromReady: boolean,
): string[] {
  let inFlight = 0;
  let lastEnd = Number.NEGATIVE_INFINITY;
  let readyAt = Number.NEGATIVE_INFINITY;
  const breaches: string[] = [];
  for (const e of events) {
    if (e.type === 'job-start') inFlight += 1;
    if (e.type === 'job-end') {
      inFlight -= 1;
      lastEnd = e.t;
    }
    if (e.type === 'ready' && fromReady) readyAt = e.t;
    if (e.type === 'interrupted') inFlight = 0;
    if (e.type !== 'stop') continue;
    const idle = e.t - Math.max(lastEnd, readyAt);
    if (inFlight !== 0) breaches.push(`stop at ${e.t}s with ${inFlight} jobs in flight`);
    if (idle < idleMinutes * 60) breaches.push(`stop at ${e.t}s, ${idle}s after the last job`);
  }
  return breaches;
}
