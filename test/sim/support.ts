import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { type BurstConfig, DEFAULT_CONFIG } from '../../src/config';
import { DEFAULT_FLEET_MODEL, type FleetModelOptions } from '../../src/sim/fleet-model';
import type { SimulationOptions } from '../../src/sim/simulate';
import { type TraceJob, parseTrace } from '../../src/sim/trace';

/** A shipped trace, traces/<name>.csv. */
export function trace(name: string): TraceJob[] {
  const file = path.join(__dirname, '..', '..', 'traces', `${name}.csv`);
  return parseTrace(fs.readFileSync(file, 'utf8'), file);
}

/** The defaults' run with up to `maxWorkers` burst workers, at the plan's prices. */
export function simOptions(
  maxWorkers: number,
  fleet: Partial<FleetModelOptions> = {},
  burst: Partial<BurstConfig> = {},
) {
  return {
    scaler: DEFAULT_CONFIG.scaler,
    gpuUsdPerHour: 0.21,
    schedule: DEFAULT_CONFIG.schedule,
    fleet: { ...DEFAULT_FLEET_MODEL, ...fleet },
    burst: {
      config: { ...DEFAULT_CONFIG.burst, ...burst, maxWorkers },
      spotUsdPerHour: 0.21,
      onDemandUsdPerHour: 0.71,
    },
  } satisfies SimulationOptions;
}

/** Up to `maxLength` jobs arriving within `hours`, each running up to `maxServiceS`, sorted by arrival. */
export function randomJobs(hours: number, maxServiceS: number, maxLength: number): fc.Arbitrary<TraceJob[]> {
  return fc
    .array(
      fc.record({
        arrivalS: fc.integer({ min: 0, max: hours * 3600 }),
        serviceS: fc.integer({ min: 1, max: maxServiceS }),
      }),
      { minLength: 1, maxLength },
    )
    .map((jobs) => jobs.sort((a, b) => a.arrivalS - b.arrivalS));
}
