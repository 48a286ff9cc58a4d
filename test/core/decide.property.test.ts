import fc from 'fast-check';
import { DEFAULT_CONFIG, type ScalerConfig } from '../../src/config';
import { decide, recordStartFailure } from '../../src/core/decide';
import type { Decision, GpuObservation, Observation, QueueCounts, ScalerMemory } from '../../src/core/model';
import { memoryFromTags, memoryTagChanges } from '../../src/core/tags';

const config = DEFAULT_CONFIG.scaler;
// Fixed seed: a failure names the same counterexample on every machine.
fc.configureGlobal({ seed: 20261124 });
const MINUTE = 60_000;
const T0 = Date.parse('2026-11-24T00:00:00Z');

/** One minute of the outside world: the queue, and what EC2 and the worker do on their own. */
interface WorldStep {
  readonly queue: QueueCounts;
  readonly bootMinutes: number;
  readonly startFails: boolean;
  readonly interrupted: boolean;
  readonly hold: boolean;
}

const queueArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ waiting: 0, inFlight: 0, delayed: 0 }) },
  {
    weight: 2,
    arbitrary: fc.record({
      waiting: fc.integer({ min: 0, max: 25 }),
      inFlight: fc.integer({ min: 0, max: 2 }),
      delayed: fc.integer({ min: 0, max: 1 }),
    }),
  },
);
const stepArb: fc.Arbitrary<WorldStep> = fc.record({
  queue: queueArb,
  bootMinutes: fc.integer({ min: 1, max: 25 }),
  startFails: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
  interrupted: fc.integer({ min: 0, max: 40 }).map((n) => n === 0),
  hold: fc.integer({ min: 0, max: 60 }).map((n) => n === 0),
});

interface TickRecord {
  readonly now: number;
  readonly observation: Observation;
  readonly memory: ScalerMemory;
  readonly decision: Decision;
}

/**
 * Runs decide over a sequence of world steps with a small model of the GPU: a start makes it
 * pending, then running; the worker gets ready after bootMinutes (or never, past the timeout);
 * a stop makes it stopping, then stopped; EC2 may interrupt it.
 */
function simulate(steps: readonly WorldStep[], scaler: ScalerConfig = config): TickRecord[] {
  const records: TickRecord[] = [];
  let gpu: GpuObservation = { instanceId: 'i-gpu', state: 'stopped' };
  let memory: ScalerMemory = {};
  let readyAfter = 0;
  for (const [i, step] of steps.entries()) {
    const now = T0 + i * MINUTE;
    if (step.hold) memory = { ...memory, holdUntil: new Date(now + 30 * MINUTE) };
    if (gpu.state === 'running' && gpu.readyAt === undefined && gpu.launchTime) {
      if (now - gpu.launchTime.getTime() >= readyAfter * MINUTE) gpu = { ...gpu, readyAt: new Date(now) };
    }
    if (gpu.state === 'running' && step.interrupted) {
      gpu = {
        instanceId: gpu.instanceId,
        state: 'stopped',
        launchTime: gpu.launchTime,
        stateReasonCode: 'Server.SpotInstanceShutdown',
      };
    }
    // The queue cannot have work in flight without a ready worker to hold it.
    const serving = gpu.state === 'running' && gpu.readyAt !== undefined;
    const queue = serving ? step.queue : { ...step.queue, inFlight: 0 };
    // A ready worker with work takes a job now, and reports it (its last-job tag).
    if (serving && (queue.waiting > 0 || queue.inFlight > 0)) gpu = { ...gpu, lastJobAt: new Date(now) };
    const observation: Observation = { queue, gpu };
    const decision = decide(observation, memory, scaler, new Date(now));
    records.push({ now, observation, memory, decision });
    memory = decision.memory;

    if (gpu.state === 'pending') gpu = { ...gpu, state: 'running' };
    else if (gpu.state === 'stopping') gpu = { instanceId: gpu.instanceId, state: 'stopped' };
    if (decision.action === 'start') {
      if (step.startFails) memory = recordStartFailure(memory, 'InsufficientCapacity', new Date(now));
      else {
        gpu = { instanceId: gpu.instanceId, state: 'pending', launchTime: new Date(now) };
        readyAfter = step.bootMinutes;
      }
    } else if (decision.action === 'stop') {
      gpu = { ...gpu, state: 'stopping' };
    }
  }
  return records;
}

const sequences = fc.array(stepArb, { minLength: 1, maxLength: 240 });
const busy = (q: QueueCounts): number => q.waiting + q.inFlight + q.delayed;

describe('decide: properties over random days', () => {
  it('never stops while a job is in flight', () => {
    fc.assert(
      fc.property(sequences, (steps) => {
        for (const r of simulate(steps)) {
          if (r.decision.action === 'stop') expect(r.observation.queue.inFlight).toBe(0);
        }
      }),
    );
  });

  it('never starts on a backlog ≤ startBacklog unless the maximum wait passed or a hold is set', () => {
    fc.assert(
      fc.property(sequences, (steps) => {
        for (const r of simulate(steps)) {
          if (r.decision.action !== 'start' || r.observation.queue.waiting > config.startBacklog) continue;
          const held = r.memory.holdUntil !== undefined && r.now < r.memory.holdUntil.getTime();
          const waited =
            r.memory.pendingSince !== undefined &&
            r.now - r.memory.pendingSince.getTime() >= config.maxWaitMinutes * MINUTE;
          expect(held || waited).toBe(true);
        }
      }),
    );
  });

  it('stops only after idleMinutes since the last job (or ready), or at the boot timeout', () => {
    fc.assert(
      fc.property(sequences, (steps) => {
        const records = simulate(steps);
        for (const [i, r] of records.entries()) {
          if (r.decision.action !== 'stop') continue;
          const { gpu } = r.observation;
          if (r.decision.signals.bootTimedOut) {
            expect(gpu.readyAt).toBeUndefined();
            expect(r.now - (gpu.launchTime?.getTime() ?? r.now)).toBeGreaterThanOrEqual(
              config.bootTimeoutMinutes * MINUTE,
            );
            continue;
          }
          expect(gpu.readyAt).toBeDefined();
          const from = r.now - config.idleMinutes * MINUTE;
          expect(gpu.readyAt?.getTime()).toBeLessThanOrEqual(from);
          expect(gpu.lastJobAt?.getTime() ?? 0).toBeLessThanOrEqual(from);
          const window = records.slice(0, i + 1).filter((w) => w.now >= from);
          expect(window.length).toBeGreaterThan(config.idleMinutes);
          for (const w of window) expect(busy(w.observation.queue)).toBe(0);
          const held = r.memory.holdUntil !== undefined && r.now < r.memory.holdUntil.getTime();
          expect(held).toBe(false);
        }
      }),
    );
  });

  it('does not flap: between a start and the next stop the worker was ready and idle, or timed out', () => {
    fc.assert(
      fc.property(sequences, (steps) => {
        const actions = simulate(steps).filter((r) => r.decision.action !== 'none');
        for (let i = 1; i < actions.length; i += 1) {
          const [prev, next] = [actions[i - 1], actions[i]];
          if (prev?.decision.action === 'start' && next?.decision.action === 'stop') {
            const gap = next.now - prev.now;
            const minimum = next.decision.signals.bootTimedOut
              ? config.bootTimeoutMinutes
              : config.idleMinutes + 1;
            expect(gap).toBeGreaterThanOrEqual(minimum * MINUTE);
          }
        }
      }),
    );
  });

  it('round-trips every memory through the instance tags (to the second)', () => {
    fc.assert(
      fc.property(sequences, (steps) => {
        for (const r of simulate(steps)) {
          const written = memoryTagChanges({}, r.decision.memory);
          const read = memoryFromTags(written);
          const { holdUntil: _hold, ...expected } = r.decision.memory;
          const { holdUntil: _readHold, ...actual } = read;
          expect(JSON.parse(JSON.stringify(actual))).toEqual(
            JSON.parse(JSON.stringify(stripUndefined(expected))),
          );
        }
      }),
      { numRuns: 50 },
    );
  });
});

function stripUndefined(memory: ScalerMemory): ScalerMemory {
  return Object.fromEntries(Object.entries(memory).filter(([, v]) => v !== undefined)) as ScalerMemory;
}
