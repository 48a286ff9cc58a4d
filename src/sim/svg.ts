import { renderCalendarSvg } from './calendar-svg.js';
import { type Lane, type WorkerState, workerLanes } from './lanes.js';
import type { SimulationReport } from './simulate.js';
import type { TraceJob } from './trace.js';
import { escapeXml } from './xml.js';

/** A trace longer than this is drawn as a calendar: a timeline of weeks would be a smear. */
export const CALENDAR_AFTER_S = 2 * 86_400;

/** The picture of a run: a timeline of the workers and the queue, or a calendar for a long trace. */
export function renderSimulationSvg(
  report: SimulationReport,
  jobs: readonly TraceJob[],
  title: string,
): string {
  return report.horizonS > CALENDAR_AFTER_S
    ? renderCalendarSvg(report, jobs, title)
    : renderTimelineSvg(report, title);
}

const WIDTH = 1000;
const LEFT = 76;
const RIGHT = 16;
const LANE_H = 18;
const LANE_GAP = 5;
const DEPTH_H = 150;
/** The width of a stretch of hours without any activity, drawn as a break. */
const GAP_W = 18;

export const STATE_COLOURS: Readonly<Record<WorkerState | 'busy', string>> = {
  booting: '#f5a623',
  ready: '#a5d6a7',
  busy: '#2e7d32',
  stopping: '#9e9e9e',
};

/** Whole hours [from, to) in which something happened: a worker up or a job waiting. */
export function activeHours(
  report: SimulationReport,
  lanes: readonly Lane[],
): Array<readonly [number, number]> {
  const hours = Math.max(1, Math.ceil(report.horizonS / 3600));
  const active = new Array<boolean>(hours).fill(false);
  const mark = (from: number, to: number): void => {
    for (let h = Math.floor(from / 3600); h < Math.min(hours, Math.ceil(to / 3600)); h += 1) active[h] = true;
  };
  for (const lane of lanes) for (const span of lane.spans) mark(span.from, span.to);
  for (const [t, depth] of report.depth) if (depth > 0) mark(t, t + 1);
  const segments: Array<readonly [number, number]> = [];
  active.forEach((on, h) => {
    if (!on) return;
    const last = segments.at(-1);
    if (last && last[1] === h * 3600) segments[segments.length - 1] = [last[0], (h + 1) * 3600];
    else segments.push([h * 3600, (h + 1) * 3600]);
  });
  return segments.length > 0 ? segments : [[0, hours * 3600]];
}

/** Maps trace seconds to x over the active hours only; idle stretches become narrow breaks. */
function timeAxis(segments: ReadonlyArray<readonly [number, number]>, left: number, width: number) {
  const activeS = segments.reduce((sum, [from, to]) => sum + (to - from), 0);
  const breaks = Math.max(0, segments.length - 1) + (segments[0]?.[0] ? 1 : 0);
  const scale = (width - breaks * GAP_W) / activeS;
  const starts: number[] = [];
  let x = left + (segments[0]?.[0] ? GAP_W : 0);
  for (const [from, to] of segments) {
    starts.push(x);
    x += (to - from) * scale + GAP_W;
  }
  return {
    scale,
    starts,
    /** x of a time; undefined inside a break. */
    x(t: number): number | undefined {
      const i = segments.findIndex(([from, to]) => t >= from && t <= to);
      const segment = segments[i];
      return segment ? (starts[i] ?? left) + (t - segment[0]) * scale : undefined;
    },
  };
}

/**
 * A day (or two) of a run: one lane per worker — the primary and each burst worker slot, coloured
 * booting, ready, busy and stopping — above the queue depth, on an axis of the active hours only.
 */
export function renderTimelineSvg(report: SimulationReport, title: string): string {
  const lanes = workerLanes(report.events, report.horizonS);
  const segments = activeHours(report, lanes);
  const plotW = WIDTH - LEFT - RIGHT;
  const axis = timeAxis(segments, LEFT, plotW);
  const top = 44;
  const lanesH = lanes.length * (LANE_H + LANE_GAP);
  const depthTop = top + lanesH + 14;
  const height = depthTop + DEPTH_H + 64;
  const f = (n: number): string => n.toFixed(1);
  const parts: string[] = [];

  const rect = (from: number, to: number, y: number, h: number, colour: string, label: string): void => {
    // A span may cross a break: draw its part in each active segment.
    for (const [i, [sFrom, sTo]] of segments.entries()) {
      const a = Math.max(from, sFrom);
      const b = Math.min(to, sTo);
      if (b <= a) continue;
      const x0 = (axis.starts[i] ?? LEFT) + (a - sFrom) * axis.scale;
      parts.push(
        `<rect x="${f(x0)}" y="${f(y)}" width="${f(Math.max(1, (b - a) * axis.scale))}" height="${h}" fill="${colour}"><title>${label}</title></rect>`,
      );
    }
  };
  lanes.forEach((lane, i) => {
    const y = top + i * (LANE_H + LANE_GAP);
    parts.push(`<g class="lane" data-lane="${lane.label}">`);
    parts.push(
      `<text x="${LEFT - 6}" y="${f(y + LANE_H - 5)}" font-size="11" text-anchor="end">${lane.label}</text>`,
      `<rect x="${LEFT}" y="${y}" width="${plotW}" height="${LANE_H}" fill="#f5f5f5"/>`,
    );
    for (const span of lane.spans)
      rect(
        span.from,
        span.to,
        y,
        LANE_H,
        STATE_COLOURS[span.state],
        `${lane.label} ${span.state} ${clock(span.from)}–${clock(span.to)}`,
      );
    for (const [from, to] of lane.busy)
      rect(from, to, y + 4, LANE_H - 8, STATE_COLOURS.busy, `${lane.label} busy ${clock(from)}–${clock(to)}`);
    parts.push('</g>');
  });

  // Queue depth: one line per active segment.
  const maxDepth = Math.max(1, ...report.depth.map(([, d]) => d));
  const y = (d: number): number => depthTop + DEPTH_H - (d / maxDepth) * DEPTH_H;
  parts.push(
    `<rect x="${LEFT}" y="${depthTop}" width="${plotW}" height="${DEPTH_H}" fill="none" stroke="#bbb"/>`,
  );
  for (const d of [0, Math.round(maxDepth / 2), maxDepth]) {
    parts.push(
      `<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${f(y(d))}" y2="${f(y(d))}" stroke="#e0e0e0"/>`,
      `<text x="${LEFT - 6}" y="${f(y(d) + 4)}" font-size="11" text-anchor="end">${d}</text>`,
    );
  }
  for (const [from, to] of segments) {
    const points = report.depth
      .filter(([t]) => t >= from && t <= to)
      .map(([t, d]) => `${f(axis.x(t) ?? LEFT)},${f(y(d))}`);
    if (points.length > 1)
      parts.push(
        `<polyline class="depth" points="${points.join(' ')}" fill="none" stroke="#1565c0" stroke-width="1.5"/>`,
      );
  }

  // Hour ticks inside the active segments, and a break mark between them.
  const bottom = depthTop + DEPTH_H;
  const multiDay = report.horizonS > 86_400;
  for (const [i, [from, to]] of segments.entries()) {
    // Labels about every 70 px: every 2 h on a wide stretch, every 15 min on a lone hour.
    const stepS = [900, 1800, 3600, 7200, 14_400].find((step) => step * axis.scale >= 70) ?? 14_400;
    // A segment's end is the next one's start after a break: its label would collide.
    const last = i === segments.length - 1 ? to : to - 1;
    for (let t = from; t <= last; t += stepS) {
      const tx = f(axis.x(t) ?? LEFT);
      parts.push(
        `<line x1="${tx}" x2="${tx}" y1="${top}" y2="${bottom + 4}" stroke="#000" stroke-opacity="0.08"/>`,
        `<text class="tick" x="${tx}" y="${bottom + 16}" font-size="10" text-anchor="middle">${multiDay ? `d${Math.floor(t / 86_400)} ` : ''}${clock(t)}</text>`,
      );
    }
    const gapX = (axis.starts[i] ?? LEFT) - GAP_W;
    if (gapX >= LEFT - 1) {
      const idle = (from - (segments[i - 1]?.[1] ?? 0)) / 3600;
      parts.push(
        `<g class="break"><rect x="${f(gapX + 3)}" y="${top}" width="${GAP_W - 6}" height="${bottom - top}" fill="white"/>` +
          `<text x="${f(gapX + GAP_W / 2)}" y="${f(depthTop - 4)}" font-size="9" text-anchor="middle" fill="#757575">${idle}h</text></g>`,
      );
    }
  }

  const b = report.burst;
  const summary = `GPU ${report.gpuHours.toFixed(2)} h · ${report.costUsd.toFixed(2)} USD · ${report.starts} starts${b.maxWorkers > 0 ? ` · ${b.launches} burst launches` : ''} · wait p50 ${Math.round(report.jobs.waitP50S)} s, p95 ${Math.round(report.jobs.waitP95S)} s · ${report.jobs.count} jobs`;
  const legend = (['booting', 'ready', 'busy', 'stopping'] as const)
    .map((state, i) => {
      const lx = LEFT + i * 110;
      return `<rect x="${lx}" y="${height - 20}" width="12" height="12" fill="${STATE_COLOURS[state]}"/><text x="${lx + 16}" y="${height - 10}" font-size="11">${state}</text>`;
    })
    .join('');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<rect width="${WIDTH}" height="${height}" fill="white"/>`,
    `<text x="${LEFT}" y="18" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${LEFT}" y="34" font-size="11" fill="#424242">${escapeXml(summary)}</text>`,
    ...parts,
    `<text x="14" y="${depthTop + DEPTH_H / 2}" font-size="11" transform="rotate(-90 14 ${depthTop + DEPTH_H / 2})" text-anchor="middle">jobs waiting</text>`,
    legend,
    `<text x="${LEFT + 450}" y="${height - 10}" font-size="11"><tspan fill="#1565c0">━</tspan> jobs waiting · time: active hours only (breaks: idle hours left out)</text>`,
    '</svg>',
  ].join('\n');
}

/** Trace seconds as the time of day. */
export function clock(t: number): string {
  const s = Math.round(t) % 86_400;
  return `${String(Math.floor(s / 3600)).padStart(2, '0')}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}`;
}
