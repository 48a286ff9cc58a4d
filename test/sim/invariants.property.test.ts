import fc from 'fast-check';
import { DEFAULT_CONFIG } from '../../src/config';
import { BOOT_TIMEOUT_PAUSE_MINUTES } from '../../src/core/decide';
import { SIM_GPU_ID } from '../../src/sim/fleet-model';
import { simulate } from '../../src/sim/simulate';
import {
  billedWithoutAJob,
  launchesDuringBootPause,
  neverReadyRuns,
  retiresTooSoonAfterAJob,
  startsSoonAfterAStop,
} from './invariants';

const burst = { ...DEFAULT_CONFIG.burst, maxWorkers: 3 };
const scaler = DEFAULT_CONFIG.scaler;

/** Bursts and singles over four hours: what a day of the product looks like, shrunk. */
const traceArb = fc
  .array(
    fc.record({
      at: fc.integer({ min: 0, max: 4 * 3600 }),
      size: fc.oneof(fc.constant(1), fc.integer({ min: 5, max: 40 })),
      serviceS: fc.integer({ min: 5, max: 400 }),
    }),
    { minLength: 1, maxLength: 6 },
  )
  .map((groups) =>
    groups
      .flatMap((g) =>
        Array.from({ length: g.size }, (_, i) => ({ arrivalS: g.at + i * 3, serviceS: g.serviceS })),
      )
      .sort((a, b) => a.arrivalS - b.arrivalS),
  );

/** EC2 and SQS as unkind as they may be: lagging tags and counts, refused and ignored starts, broken workers. */
const harshArb = fc.record({
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  tagLagS: fc.constantFrom(0, 15, 45),
  countLagS: fc.constantFrom(0, 30),
  interruptionsPerHour: fc.constantFrom(0, 0.5),
  capacityFailureRate: fc.constantFrom(0, 0.3),
  startNotTakenRate: fc.constantFrom(0, 0.3),
  burstNeverReadyShare: fc.constantFrom(0, 0.3, 1),
  primaryNeverReady: fc.boolean(),
});

describe('the loop on random traces and a harsh fleet (property test, fixed seed)', () => {
  it('no retire within burst.idleMinutes of a job, no busy retire, broken workers bounded, no idle worker billed long, boot pauses kept', async () => {
    await fc.assert(
      fc.asyncProperty(traceArb, harshArb, async (jobs, harsh) => {
        // Some worker must be able to serve, or the jobs never finish.
        fc.pre(!(harsh.primaryNeverReady && harsh.burstNeverReadyShare === 1));
        const report = await simulate(jobs, {
          scaler,
          gpuUsdPerHour: 0.21,
          fleet: { readyDelayS: 180, stopDelayS: 60, concurrency: 1, burstReadyDelayS: 360, ...harsh },
          burst: { config: burst, spotUsdPerHour: 0.21, onDemandUsdPerHour: 0.71 },
        });
        const { events } = report;
        expect(retiresTooSoonAfterAJob(events, burst.idleMinutes)).toEqual([]);
        expect(report.burst.retiredBusy).toBe(0);
        // A retired burst worker bills until the tick after its drained tag lands completes its hook.
        const drainCompletionMinutes = 1 + Math.ceil(harsh.tagLagS / 60);
        // A ready burst worker with nothing to do goes within idleMinutes, a tick, its stop, the
        // completion of its drain hook and the lags.
        const slackMinutes = 3 + drainCompletionMinutes + (harsh.tagLagS + harsh.countLagS) / 60;
        expect(billedWithoutAJob(events, burst.idleMinutes + slackMinutes, (w) => w !== SIM_GPU_ID)).toEqual(
          [],
        );
        for (const run of neverReadyRuns(events)) {
          const limit =
            run.worker === SIM_GPU_ID
              ? scaler.firstBootTimeoutMinutes
              : burst.bootTimeoutMinutes + drainCompletionMinutes;
          expect(run.seconds).toBeLessThanOrEqual((limit + 2) * 60);
        }
        // The group replaces an interrupted worker by itself; the scaler's own launches are bounded.
        if (harsh.interruptionsPerHour === 0)
          expect(
            launchesDuringBootPause(events, burst.bootTimeoutMinutes, BOOT_TIMEOUT_PAUSE_MINUTES),
          ).toEqual([]);
        if (harsh.primaryNeverReady)
          expect(startsSoonAfterAStop(events, BOOT_TIMEOUT_PAUSE_MINUTES)).toEqual([]);
      }),
      { numRuns: 100, seed: 20261206 },
    );
  }, 120_000);
});
