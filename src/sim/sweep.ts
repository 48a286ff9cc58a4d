import type { BurstConfig } from '../config.js';
import { type SimulationOptions, simulate } from './simulate.js';
import type { TraceJob } from './trace.js';

/** The sweep's grid: burst workers beside the primary, and the maximum waits a user might choose. */
export const SWEEP_BURST_WORKERS = [0, 1, 2, 3, 4] as const;
export const SWEEP_MAX_WAIT_MINUTES = [5, 10, 15, 30] as const;

export interface SweepRow {
  readonly burstWorkers: number;
  readonly maxWaitMinutes: number;
  readonly gpuHours: number;
  readonly burstSpotHours: number;
  readonly burstOnDemandHours: number;
  readonly costUsd: number;
  readonly waitP50S: number;
  readonly waitP95S: number;
  readonly waitMaxS: number;
  /** gpuHours ÷ the hours of one GPU kept up through the app host's schedule on the same trace. */
  readonly shareOfScheduleGpu: number;
}

/**
 * Replays one trace over the grid: every other setting as in `base`. Runs one after another (the
 * machine is shared, and each run is fast), so the table is the same on every run.
 */
export async function sweep(
  jobs: readonly TraceJob[],
  base: SimulationOptions & { readonly burst: NonNullable<SimulationOptions['burst']> },
  workers: readonly number[] = SWEEP_BURST_WORKERS,
  maxWaits: readonly number[] = SWEEP_MAX_WAIT_MINUTES,
): Promise<SweepRow[]> {
  const rows: SweepRow[] = [];
  for (const maxWaitMinutes of maxWaits) {
    for (const burstWorkers of workers) {
      const config: BurstConfig = { ...base.burst.config, maxWorkers: burstWorkers };
      const report = await simulate(jobs, {
        ...base,
        scaler: { ...base.scaler, maxWaitMinutes },
        burst: { ...base.burst, config },
      });
      rows.push({
        burstWorkers,
        maxWaitMinutes,
        gpuHours: report.gpuHours,
        burstSpotHours: report.burst.spotHours,
        burstOnDemandHours: report.burst.onDemandHours,
        costUsd: report.costUsd,
        waitP50S: report.jobs.waitP50S,
        waitP95S: report.jobs.waitP95S,
        waitMaxS: report.jobs.waitMaxS,
        shareOfScheduleGpu:
          report.alwaysOnSchedule.gpuHours > 0 ? report.gpuHours / report.alwaysOnSchedule.gpuHours : 0,
      });
    }
  }
  return rows;
}

/** The table a user chooses from: one line per setting, waits in seconds. */
export function renderSweep(rows: readonly SweepRow[], title: string): string {
  const header =
    'burst  max wait   GPU h (burst spot/od)     cost USD   wait p50   p95    max   GPU h vs one GPU in app hours';
  const lines = rows.map((r) =>
    [
      String(r.burstWorkers).padStart(5),
      `${r.maxWaitMinutes}m`.padStart(9),
      `${r.gpuHours.toFixed(2)} (${r.burstSpotHours.toFixed(2)}/${r.burstOnDemandHours.toFixed(2)})`.padStart(
        23,
      ),
      r.costUsd.toFixed(2).padStart(11),
      String(Math.round(r.waitP50S)).padStart(10),
      String(Math.round(r.waitP95S)).padStart(6),
      String(Math.round(r.waitMaxS)).padStart(6),
      `${Math.round(r.shareOfScheduleGpu * 100)}%`.padStart(8),
    ].join(' '),
  );
  return [title, header, ...lines].join('\n');
}
