import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../cli/support';

const simulateTrace = (name: string, ...args: string[]) =>
  run('simulate', '--trace', `traces/${name}.csv`, ...args);
const simulateJson = async (name: string, ...args: string[]) =>
  JSON.parse((await simulateTrace(name, '--json', ...args)).out);

describe('gpu-manage simulate and cost', () => {
  it('simulate --json reports every figure of a run, and --svg writes a timeline', async () => {
    const svg = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sim-')), 'timeline.svg');
    const result = await simulateTrace('bursty-day', '--json', '--svg', svg);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.out) as Record<string, unknown>;
    expect(Object.keys(report).sort()).toEqual([
      'alwaysOn',
      'alwaysOnSchedule',
      'burst',
      'busyHours',
      'capacityFailures',
      'costUsd',
      'events',
      'gpuHours',
      'interruptions',
      'jobs',
      'primaryGpuHours',
      'starts',
      'stops',
    ]);
    // gpuHours is the total of every GPU; burst hours are itemised beside it.
    expect(report.gpuHours).toBe(report.primaryGpuHours);
    expect(report.burst).toMatchObject({ maxWorkers: 0, launches: 0, spotHours: 0, onDemandHours: 0 });
    expect(report.starts).toBe(3);
    expect(fs.readFileSync(svg, 'utf8')).toMatch(/^<svg [\s\S]*<polyline [\s\S]*<\/svg>$/);
  });

  it('simulate takes the scaler options by their config names', async () => {
    const eager = await simulateJson('trickle-day', '--max-wait-minutes', '1');
    const patient = await simulateJson('trickle-day');
    expect(eager.jobs.waitMaxS).toBeLessThan(patient.jobs.waitMaxS);
  });

  it('simulate states the start and stop rules it ran, and refuses the removed start policy flags', async () => {
    const plan = await simulateTrace('bursty-day');
    expect(plan.code).toBe(0);
    expect(plan.out).toContain(
      'Rules           start when > 10 jobs wait, or one waited 15m; stop after 5m idle',
    );
    expect((await simulateTrace('bursty-day', '--start-policy', 'arrival-rate')).code).toBe(2);
    expect((await simulateTrace('bursty-day', '--start-lookahead-minutes', '5')).code).toBe(2);
  });

  it('simulate injects faults on request and prints both baselines', async () => {
    const faults = ['--interruptions-per-hour', '2', '--capacity-failures', '0.3', '--seed', '5'];
    const result = await simulateTrace('bursty-day', ...faults);
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^EC2 refused {5}\d+ starts \(capacity\) · [1-9]\d* spot interruptions$/m);
    expect(result.out).toMatch(/^Always on 24\/7 {2}[\d.]+ h/m);
    expect(result.out).toMatch(/^On in app hours [\d.]+ h · [\d.]+ USD {2}→ the scaler saves \d+%$/m);
    const json = await simulateJson('bursty-day', '--seed', '5', '--interruptions-per-hour', '2');
    expect(json.interruptions).toBeGreaterThan(0);
    expect((await simulateTrace('bursty-day', '--capacity-failures', '2')).code).toBe(2);
  });

  it('simulate runs as harshly as EC2 on request: a broken primary or burst workers, starts not taken, tag lag', async () => {
    const simulate = async (...flags: string[]) => {
      const result = await simulateTrace('bursty-day', '--json', ...flags);
      expect(result.code).toBe(0);
      return JSON.parse(result.out) as { events: Array<{ type: string }>; burst: { launches: number } };
    };
    const types = (report: { events: Array<{ type: string }> }) => new Set(report.events.map((e) => e.type));
    const healthy = await simulate('--burst-workers', '3');
    const broken = await simulate('--burst-workers', '3', '--primary-never-ready');
    expect(types(healthy).has('ready')).toBe(true);
    expect(types(broken).has('ready')).toBe(false);
    // Nobody serves a broken primary's queue without burst workers: one line, not a crash.
    const unserved = await simulateTrace('bursty-day', '--primary-never-ready');
    expect(unserved.code).toBe(1);
    expect(unserved.err).toMatch(
      /^the simulation did not finish every job within \d+s: with these faults no worker serves the queue/,
    );
    expect(unserved.err).not.toMatch(/Unexpected error/);
    const notTaken = await simulate('--start-not-taken', '0.5', '--seed', '3');
    expect(types(notTaken).has('start-not-taken')).toBe(true);
    const brokenBurst = await simulate('--burst-workers', '3', '--burst-never-ready', '1', '--tag-lag', '20');
    expect(brokenBurst.events.some((e) => e.type === 'burst-ready')).toBe(false);
    expect(brokenBurst.burst.launches).toBeGreaterThan(0);
    for (const flags of [
      ['--burst-never-ready', '1.5'],
      ['--start-not-taken', '-1'],
      ['--tag-lag', 'soon'],
    ]) {
      expect((await simulateTrace('bursty-day', ...flags)).code).toBe(2);
    }
  });

  it('simulate --burst-workers and --burst-ready-delay run burst workers; --sweep prints the table', async () => {
    const burst = await simulateJson('bursty-day', '--burst-workers', '2', '--burst-ready-delay', '300');
    expect(burst.burst).toMatchObject({ maxWorkers: 2, readyDelayS: 300, peakWorkers: 2, retiredBusy: 0 });
    expect(burst.gpuHours).toBeCloseTo(burst.primaryGpuHours + burst.burst.spotHours, 3);
    expect(burst.events.every((e: { worker?: string }) => typeof e.worker === 'string')).toBe(true);
    const text = (await simulateTrace('bursty-day', '--burst-workers', '2')).out;
    expect(text).toMatch(/^Burst workers {3}up to 2 \(ready 360 s after launch\)/m);
    const sweep = await simulateTrace('trickle-day', '--sweep');
    expect(sweep.code).toBe(0);
    expect(sweep.out.split('\n')).toHaveLength(2 + 5 * 4);
    expect((await simulateTrace('bursty-day', '--burst-workers', '1.5')).err).toContain(
      '--burst-workers must be a whole number from 0 to 20',
    );
  });

  it('a bad trace row is one line naming the file and line, exit 1', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sim-'));
    fs.writeFileSync(path.join(dir, 'bad.csv'), 'arrival_s,service_s\n1,2\n3,-4\n');
    const result = await run('simulate', '--trace', path.join(dir, 'bad.csv'));
    expect(result.code).toBe(1);
    expect(result.err).toBe(
      `${path.join(dir, 'bad.csv')}:3: service_s must be a number of seconds > 0, got "-4"`,
    );
  });

  it('bad options are usage errors (exit 2)', async () => {
    expect((await run('simulate')).code).toBe(2);
    expect((await run('simulate', '--trace', 'x.csv', '--idle-minutes', '0')).err).toContain(
      '--idle-minutes must be a whole number ≥ 1',
    );
    expect((await run('cost', '--market', 'reserved')).code).toBe(2);
    // No more burst workers than a fleet may deploy (burst.maxWorkers ≤ 20).
    for (const command of ['simulate', 'cost'])
      expect((await run(command, '--trace', 'traces/bursty-day.csv', '--burst-workers', '21')).err).toContain(
        '--burst-workers must be a whole number from 0 to 20, got "21"',
      );
    const svgSweep = await simulateTrace('bursty-day', '--sweep', '--svg', 'x.svg');
    expect(svgSweep.code).toBe(2);
    expect(svgSweep.err).toContain('--svg draws one run; it cannot be used with --sweep');
  });

  it('cost prints every item with its arithmetic and assumptions; --json for scripts', async () => {
    const text = await run('cost', '--app-hours', '176');
    expect(text.code).toBe(0);
    expect(text.out).toContain('App host t3.large');
    expect(text.out).toContain('176 h × 0.1');
    expect(text.out).toContain('For comparison: GPU worker g4dn.xlarge (on-demand): 44 h × 0.71 = 31.24 USD');
    const json = JSON.parse(
      (await run('cost', '--json', '--trace', 'traces/weekday-month.csv', '--spot-price', '0.25')).out,
    );
    expect(json.prices.gpuSpotUsdPerHour).toBe(0.25);
    expect(json.assumptions[1]).toMatch(/^GPU: [\d.]+ h a month, simulated from traces\/weekday-month.csv/);
  });

  it('cost --trace with burst workers prices the primary and the burst hours by market, each once', async () => {
    const sim = await simulateJson('bursty-day', '--burst-workers', '3');
    const cost = await run('cost', '--json', '--trace', 'traces/bursty-day.csv', '--burst-workers', '3');
    expect(cost.code).toBe(0);
    const json = JSON.parse(cost.out);
    const item = (name: string) => json.items.find((i: { item: string }) => i.item.startsWith(name));
    // One simulated Monday, repeated on a month's 21.73 weekdays: the primary's hours on the GPU
    // line, the group's on theirs.
    const month = (hours: number): number => Math.round(((hours * 5 * 52.143) / 12) * 100) / 100;
    expect(sim.burst.spotHours).toBeGreaterThan(0);
    expect(item('GPU worker').arithmetic).toBe(`${month(sim.primaryGpuHours)} h × 0.21`);
    expect(item('Burst workers').arithmetic).toBe(`${month(sim.burst.spotHours)} h × 0.21`);
    expect(json.assumptions).toContainEqual(
      expect.stringMatching(
        /^burst workers: [\d.]+ h spot \+ 0 h on-demand a month, simulated from traces\/bursty-day.csv with 3 burst workers \(2.23 h over 1 scheduled day, × 21.73 scheduled days a month\)$/,
      ),
    );
  });
});

describe('the simulator commands and the CLI program', () => {
  it('the simulator imports nothing from the program that registers it, so the two form no circle', () => {
    const simDir = path.join(__dirname, '../../src/sim');
    const importers = fs
      .readdirSync(simDir)
      .filter((file) => file.endsWith('.ts'))
      .filter((file) =>
        /from '\.\.\/cli\/program(\.js)?'/.test(fs.readFileSync(path.join(simDir, file), 'utf8')),
      );
    expect(importers).toEqual([]);
  });
});
