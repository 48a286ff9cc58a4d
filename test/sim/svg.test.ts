import { SIM_GPU_ID, type SimEvent } from '../../src/sim/fleet-model';
import { workerLanes } from '../../src/sim/lanes';
import { type SimulationReport, simulate } from '../../src/sim/simulate';
import { renderSimulationSvg } from '../../src/sim/svg';
import type { TraceJob } from '../../src/sim/trace';
import { simOptions, trace } from './support';

const run = (jobs: readonly TraceJob[], burstWorkers: number): Promise<SimulationReport> =>
  simulate(jobs, simOptions(burstWorkers, { burstReadyDelayS: 360 }));

const attr = (svg: string, pattern: RegExp): string[] => [...svg.matchAll(pattern)].map((m) => m[1] ?? '');

describe('the worker lanes of a run', () => {
  const e = (t: number, type: SimEvent['type'], worker: string, job?: number): SimEvent => ({
    t,
    type,
    worker,
    job,
  });

  it('packs burst workers into as few lanes as ran at once, and joins back-to-back jobs into one busy stretch', () => {
    const lanes = workerLanes(
      [
        e(0, 'start', SIM_GPU_ID),
        e(180, 'ready', SIM_GPU_ID),
        e(200, 'job-start', SIM_GPU_ID, 0),
        e(260, 'job-end', SIM_GPU_ID, 0),
        e(260, 'job-start', SIM_GPU_ID, 1),
        e(300, 'job-end', SIM_GPU_ID, 1),
        e(100, 'burst-launch', 'i-b1'),
        e(120, 'burst-launch', 'i-b2'),
        e(400, 'burst-ready', 'i-b1'),
        e(500, 'burst-retire', 'i-b1'),
        e(560, 'burst-terminated', 'i-b1'),
        e(600, 'burst-interrupted', 'i-b2'),
        e(700, 'burst-launch', 'i-b3'),
        e(900, 'stop', SIM_GPU_ID),
        e(960, 'stopped', SIM_GPU_ID),
      ].sort((a, b) => a.t - b.t),
      1000,
    );
    expect(lanes.map((l) => [l.label, l.workers])).toEqual([
      ['primary', [SIM_GPU_ID]],
      ['burst 1', ['i-b1', 'i-b3']],
      ['burst 2', ['i-b2']],
    ]);
    expect(lanes[0]?.spans).toEqual([
      { from: 0, to: 180, state: 'booting' },
      { from: 180, to: 900, state: 'ready' },
      { from: 900, to: 960, state: 'stopping' },
    ]);
    expect(lanes[0]?.busy).toEqual([[200, 300]]);
    // A worker still booting when the run ends is drawn to its end.
    expect(lanes[1]?.spans.at(-1)).toEqual({ from: 700, to: 1000, state: 'booting' });
    expect(lanes[2]?.spans).toEqual([{ from: 120, to: 600, state: 'booting' }]);
  });
});

describe('simulate --svg pictures', () => {
  it('a day with burst workers: one lane per worker above the queue depth, on the active hours only', async () => {
    const report = await run(trace('bursty-day'), 3);
    const svg = renderSimulationSvg(report, trace('bursty-day'), 'bursty-day.csv');
    const lanes = attr(svg, /data-lane="([^"]+)"/g);
    expect(lanes[0]).toBe('primary');
    expect(lanes.slice(1)).toEqual(['burst 1', 'burst 2', 'burst 3']);
    for (const state of ['booting', 'ready', 'busy', 'stopping'])
      expect(svg).toMatch(new RegExp(`<title>burst 1 ${state} `));
    // The queue depth is drawn below the last lane.
    const laneYs = attr(
      svg,
      /<rect x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="18" fill="#f5f5f5"\/>/g,
    ).map(Number);
    const depthYs = attr(svg, /<polyline class="depth" points="([^"]+)"/g)
      .flatMap((points) => points.split(' '))
      .map((point) => Number(point.split(',')[1]));
    expect(Math.min(...depthYs)).toBeGreaterThan(Math.max(...laneYs) + 18);
    // The jobs arrive in the 09, 13 and 16 o'clock hours: those hours are drawn, the night is not.
    const ticks = attr(svg, /<text class="tick"[^>]*>([^<]+)</g);
    expect(ticks).toEqual(expect.arrayContaining(['09:00', '13:00', '16:00']));
    expect(ticks.filter((t) => /^0[0-7]:/.test(t))).toEqual([]);
    expect(svg).toContain('class="break"');
  });

  it('a trace over two days: a calendar, one row a day, hours across, the figures beside each', async () => {
    const jobs = trace('weekday-month');
    const report = await run(jobs, 0);
    const svg = renderSimulationSvg(report, jobs, 'weekday-month.csv');
    const days = Math.ceil(report.horizonS / 86_400);
    expect(attr(svg, /data-day="(\d+)"/g)).toEqual(Array.from({ length: days }, (_, d) => String(d)));
    expect((svg.match(/<g class="hour">/g) ?? []).length).toBe(days * 24);
    // Figures beside the weekdays (work), none beside Saturday and Sunday (day 5 and 6).
    const rows = svg.split('<g class="day"').slice(1);
    expect(rows[0]).toContain('class="figures"');
    expect(rows[5]).not.toContain('class="figures"');
    expect(rows[6]).not.toContain('class="figures"');
    // The hours with GPU workers up are the hours with work: none at night.
    expect(rows[0]?.match(/<title>day 1 03:00 · 0\.00 GPU workers up/)).not.toBeNull();
    expect(rows[0]).toMatch(/<title>day 1 1\d:00 · 0\.[1-9]\d GPU workers up/);
    expect(svg).toContain(`GPU ${report.gpuHours.toFixed(2)} h · ${report.costUsd.toFixed(2)} USD`);
    expect(svg).toContain(`p95 ${Math.round(report.jobs.waitP95S)} s`);
  });

  it('switches to the calendar only past two days', async () => {
    const day = (d: number): TraceJob[] =>
      Array.from({ length: 12 }, (_, i) => ({ arrivalS: d * 86_400 + 36_000 + i * 10, serviceS: 60 }));
    const two = [...day(0), ...day(1)];
    const three = [...two, ...day(2)];
    expect(renderSimulationSvg(await run(two, 0), two, 'two')).toContain('data-lane="primary"');
    expect(renderSimulationSvg(await run(three, 0), three, 'three')).toContain('data-day="2"');
  });
});
