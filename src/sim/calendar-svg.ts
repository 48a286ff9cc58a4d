import { workerLanes, upSeconds } from './lanes.js';
import { percentile, type SimulationReport } from './simulate.js';
import { escapeXml } from './xml.js';
import type { TraceJob } from './trace.js';

const DAY_S = 86_400;
const LEFT = 70;
const CELL_W = 24;
const ROW_H = 18;
const TOP = 64;
const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** One day's figures, printed beside its row. */
export interface DayFigures {
  readonly gpuHours: number;
  readonly costUsd: number;
  readonly jobs: number;
  readonly waitP95S: number;
}

/**
 * A long run as a calendar: one row a day (day 0 a Monday), the 24 hours across. Each hour's cell
 * is green by the GPU workers up in it (the top part) and orange by the jobs waiting (the bottom
 * part); beside each row the day's GPU hours, cost, jobs and p95 wait, and the run's totals below.
 */
export function renderCalendarSvg(
  report: SimulationReport,
  jobs: readonly TraceJob[],
  title: string,
): string {
  const lanes = workerLanes(report.events, report.horizonS);
  const days = Math.max(1, Math.ceil(report.horizonS / DAY_S));
  const cells: Array<{ up: number; waiting: number }> = [];
  const samples = new Map<number, number[]>();
  for (const [t, depth] of report.depth) {
    const cell = Math.floor(t / 3600);
    const list = samples.get(cell) ?? [];
    list.push(depth);
    samples.set(cell, list);
  }
  for (let cell = 0; cell < days * 24; cell += 1) {
    const waiting = samples.get(cell) ?? [];
    cells.push({
      up: upSeconds(lanes, cell * 3600, (cell + 1) * 3600) / 3600,
      waiting: waiting.length > 0 ? waiting.reduce((a, b) => a + b, 0) / waiting.length : 0,
    });
  }
  const maxUp = Math.max(1, ...cells.map((c) => c.up));
  const maxWaiting = Math.max(1, ...cells.map((c) => c.waiting));
  const figures = dayFigures(report, jobs, lanes, days);

  const gridW = 24 * CELL_W;
  const textX = LEFT + gridW + 14;
  const width = textX + 300;
  const height = TOP + days * ROW_H + 70;
  const parts: string[] = [];
  for (let h = 0; h < 24; h += 3)
    parts.push(
      `<text x="${LEFT + h * CELL_W}" y="${TOP - 6}" font-size="10">${String(h).padStart(2, '0')}:00</text>`,
    );
  // Right-aligned columns beside each row: GPU hours, cost, jobs, p95 wait.
  const columns = [
    ['GPU h', 46],
    ['cost USD', 116],
    ['jobs', 166],
    ['wait p95', 236],
  ] as const;
  for (const [label, x] of columns)
    parts.push(
      `<text x="${textX + x}" y="${TOP - 6}" font-size="10" font-weight="bold" text-anchor="end">${label}</text>`,
    );
  for (let day = 0; day < days; day += 1) {
    const y = TOP + day * ROW_H;
    parts.push(`<g class="day" data-day="${day}">`);
    parts.push(
      `<text x="${LEFT - 6}" y="${y + ROW_H - 5}" font-size="11" text-anchor="end">${WEEKDAYS[day % 7]} ${day + 1}</text>`,
    );
    for (let h = 0; h < 24; h += 1) {
      const cell = cells[day * 24 + h] ?? { up: 0, waiting: 0 };
      const x = LEFT + h * CELL_W;
      const upShare = cell.up / maxUp;
      const waitShare = cell.waiting / maxWaiting;
      parts.push(
        `<g class="hour"><title>day ${day + 1} ${String(h).padStart(2, '0')}:00 · ${cell.up.toFixed(2)} GPU workers up · ${cell.waiting.toFixed(1)} jobs waiting</title>` +
          `<rect x="${x}" y="${y}" width="${CELL_W - 1}" height="${ROW_H - 1}" fill="#f5f5f5"/>` +
          (upShare > 0
            ? `<rect class="up" x="${x}" y="${y}" width="${CELL_W - 1}" height="${ROW_H - 7}" fill="#2e7d32" fill-opacity="${(0.2 + 0.8 * upShare).toFixed(2)}"/>`
            : '') +
          (waitShare > 0
            ? `<rect class="waiting" x="${x}" y="${y + ROW_H - 7}" width="${Math.max(2, (CELL_W - 1) * waitShare).toFixed(1)}" height="6" fill="#ef6c00"/>`
            : '') +
          '</g>',
      );
    }
    const d = figures[day];
    if (d && (d.jobs > 0 || d.gpuHours > 0)) {
      const values = [
        d.gpuHours.toFixed(2),
        d.costUsd.toFixed(2),
        String(d.jobs),
        `${Math.round(d.waitP95S)} s`,
      ];
      parts.push(
        `<g class="figures">${columns
          .map(
            ([, x], c) =>
              `<text x="${textX + x}" y="${y + ROW_H - 5}" font-size="11" text-anchor="end">${values[c] ?? ''}</text>`,
          )
          .join('')}</g>`,
      );
    }
    parts.push('</g>');
  }
  const bottom = TOP + days * ROW_H;
  const totals = `${days} days · ${report.jobs.count} jobs · GPU ${report.gpuHours.toFixed(2)} h · ${report.costUsd.toFixed(2)} USD · wait p50 ${Math.round(report.jobs.waitP50S)} s, p95 ${Math.round(report.jobs.waitP95S)} s, max ${Math.round(report.jobs.waitMaxS)} s · always on ${report.alwaysOn.costUsd.toFixed(2)} USD`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${LEFT}" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${LEFT}" y="38" font-size="11" fill="#424242">${escapeXml(totals)}</text>`,
    ...parts,
    `<rect x="${LEFT}" y="${bottom + 16}" width="14" height="10" fill="#2e7d32"/><text x="${LEFT + 18}" y="${bottom + 25}" font-size="11">GPU workers up in the hour (darker: more)</text>`,
    `<rect x="${LEFT + 280}" y="${bottom + 19}" width="14" height="6" fill="#ef6c00"/><text x="${LEFT + 298}" y="${bottom + 25}" font-size="11">jobs waiting (longer bar: more; at most ${maxWaiting.toFixed(1)} on average in an hour)</text>`,
    `<text x="${LEFT}" y="${bottom + 44}" font-size="10" fill="#616161">cost per day: the run's cost shared by the day's GPU hours; wait p95 of the jobs that arrived that day</text>`,
    '</svg>',
  ].join('\n');
}

/** Each day's GPU hours, its share of the cost, its jobs and their p95 wait. */
export function dayFigures(
  report: SimulationReport,
  jobs: readonly TraceJob[],
  lanes: ReturnType<typeof workerLanes>,
  days: number,
): DayFigures[] {
  const firstStart = new Map<number, number>();
  for (const e of report.events)
    if (e.type === 'job-start' && e.job !== undefined && !firstStart.has(e.job)) firstStart.set(e.job, e.t);
  const totalUp = upSeconds(lanes, 0, report.horizonS);
  return Array.from({ length: days }, (_, day) => {
    const up = upSeconds(lanes, day * DAY_S, (day + 1) * DAY_S);
    const waits = jobs
      .map((job, i) => ({ job, start: firstStart.get(i) }))
      .filter(({ job }) => Math.floor(job.arrivalS / DAY_S) === day)
      .map(({ job, start }) => (start ?? job.arrivalS) - job.arrivalS)
      .sort((a, b) => a - b);
    return {
      gpuHours: up / 3600,
      costUsd: totalUp > 0 ? (report.costUsd * up) / totalUp : 0,
      jobs: waits.length,
      waitP95S: percentile(waits, 0.95),
    };
  });
}
