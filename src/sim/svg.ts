import type { SimulationReport } from './simulate.js';

const WIDTH = 960;
const HEIGHT = 320;
const MARGIN = { left: 56, right: 16, top: 28, bottom: 40 };

/**
 * A timeline a person can read at a glance: queue depth over time (line), when the GPU was
 * billed (bands: booting in amber, ready in green) and start/stop marks, on hour ticks.
 */
export function renderTimelineSvg(report: SimulationReport, title: string): string {
  const endS = Math.max(report.horizonS, 60);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const maxDepth = Math.max(1, ...report.depth.map(([, d]) => d));
  const x = (t: number): number => MARGIN.left + (t / endS) * plotW;
  const y = (d: number): number => MARGIN.top + plotH - (d / maxDepth) * plotH;
  const f = (n: number): string => n.toFixed(1);
  const parts: string[] = [];

  // GPU bands: start → ready (booting), ready → stop (ready), stop → stopped (stopping).
  let startT: number | undefined;
  let readyT: number | undefined;
  let stopT: number | undefined;
  const band = (from: number, to: number, color: string, label: string): void => {
    parts.push(
      `<rect x="${f(x(from))}" y="${MARGIN.top}" width="${f(Math.max(1, x(to) - x(from)))}" height="${plotH}" fill="${color}" opacity="0.35"><title>${label}</title></rect>`,
    );
  };
  for (const event of report.events) {
    if (event.type === 'start') startT = event.t;
    if (event.type === 'ready') readyT = event.t;
    if (event.type === 'stop') stopT = event.t;
    if (event.type === 'stopped') {
      if (startT !== undefined) band(startT, readyT ?? stopT ?? event.t, '#f5a623', 'GPU booting');
      if (readyT !== undefined) band(readyT, stopT ?? event.t, '#4caf50', 'GPU ready');
      if (stopT !== undefined) band(stopT, event.t, '#9e9e9e', 'GPU stopping');
      startT = readyT = stopT = undefined;
    }
  }
  for (const event of report.events) {
    if (event.type !== 'start' && event.type !== 'stop') continue;
    const color = event.type === 'start' ? '#1565c0' : '#c62828';
    parts.push(
      `<line x1="${f(x(event.t))}" x2="${f(x(event.t))}" y1="${MARGIN.top - 6}" y2="${MARGIN.top + plotH}" stroke="${color}" stroke-width="1.5"><title>${event.type} at ${event.t}s</title></line>`,
    );
  }

  const points = report.depth.map(([t, d]) => `${f(x(t))},${f(y(d))}`).join(' ');
  parts.push(`<polyline points="${points}" fill="none" stroke="#263238" stroke-width="1.5"/>`);

  // Axes: hours along the bottom, queue depth on the left.
  const hours = endS / 3600;
  const stepH = hours <= 12 ? 1 : hours <= 48 ? 4 : hours <= 24 * 14 ? 24 : 24 * 7;
  for (let h = 0; h <= hours; h += stepH) {
    const tx = f(x(h * 3600));
    parts.push(
      `<line x1="${tx}" x2="${tx}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH + 4}" stroke="#555"/>`,
      `<text x="${tx}" y="${MARGIN.top + plotH + 16}" font-size="11" text-anchor="middle">${stepH >= 24 ? `d${h / 24}` : `${h}h`}</text>`,
    );
  }
  for (const d of [0, Math.round(maxDepth / 2), maxDepth]) {
    parts.push(
      `<text x="${MARGIN.left - 6}" y="${f(y(d) + 4)}" font-size="11" text-anchor="end">${d}</text>`,
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${f(y(d))}" y2="${f(y(d))}" stroke="#ddd"/>`,
    );
  }
  const summary = `GPU ${report.gpuHours.toFixed(2)} h · ${report.costUsd.toFixed(2)} USD · ${report.starts} starts · wait p95 ${Math.round(report.jobs.waitP95S)} s · always-on ${report.alwaysOn.gpuHours.toFixed(2)} h`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${MARGIN.left}" y="18" font-size="13" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${WIDTH - MARGIN.right}" y="18" font-size="11" text-anchor="end">${escapeXml(summary)}</text>`,
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#555"/>`,
    ...parts,
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 6}" font-size="11" text-anchor="middle">time · line: jobs waiting · amber: GPU booting · green: GPU ready · grey: stopping · blue/red: start/stop</text>`,
    `<text x="14" y="${MARGIN.top + plotH / 2}" font-size="11" transform="rotate(-90 14 ${MARGIN.top + plotH / 2})" text-anchor="middle">jobs waiting</text>`,
    '</svg>',
  ].join('\n');
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
