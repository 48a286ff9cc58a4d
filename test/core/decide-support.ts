import { DEFAULT_CONFIG } from '../../src/config';
import { decide } from '../../src/core/decide';
import type { Decision, GpuObservation, Observation, QueueCounts, ScalerMemory } from '../../src/core/model';

/** What the decide suites share: the default scaler settings, a clock and an observation builder. */
export const config = DEFAULT_CONFIG.scaler;
export const T0 = new Date('2026-11-24T01:00:00Z');
export const at = (minutes: number, seconds = 0): Date =>
  new Date(T0.getTime() + (minutes * 60 + seconds) * 1000);

/** An observation of the queue and the GPU; what is not given is empty and stopped. */
export function observe(queue: Partial<QueueCounts>, gpu: Partial<GpuObservation>): Observation {
  return {
    queue: { waiting: 0, inFlight: 0, delayed: 0, ...queue },
    gpu: { instanceId: 'i-gpu', state: 'stopped', ...gpu },
  };
}

/** Running since minute 0, set up once before, ready (and with a last job) at the minutes given. */
export const running = (readyMinute?: number, lastJobMinute?: number): Partial<GpuObservation> => ({
  state: 'running',
  launchTime: at(0),
  everReadyAt: at(-1440),
  readyAt: readyMinute === undefined ? undefined : at(readyMinute),
  lastJobAt: lastJobMinute === undefined ? undefined : at(lastJobMinute),
});

/** decide with the default scaler settings. */
export const decideAt = (observation: Observation, memory: ScalerMemory, now: Date): Decision =>
  decide(observation, memory, config, now);
