import fc from 'fast-check';
import { DEFAULT_CONFIG } from '../../src/config';
import { TAGS, isoSeconds } from '../../src/core/tags';
import { FleetModel, LAST_JOB_TAG_INTERVAL_S, type SimEvent, simTime } from '../../src/sim/fleet-model';
import { simulate } from '../../src/sim/simulate';
import { TraceError, type TraceJob, parseTrace } from '../../src/sim/trace';
import { stopsBusyOrTooSoon } from './invariants';
import { randomJobs } from './support';

const scaler = DEFAULT_CONFIG.scaler;
const run = (jobs: TraceJob[], concurrency = 1) =>
  simulate(jobs, { scaler, gpuUsdPerHour: 0.21, fleet: { readyDelayS: 180, stopDelayS: 60, concurrency } });
const lifecycle = (events: readonly SimEvent[]) =>
  events.filter((e) => !e.type.startsWith('job')).map((e) => [e.t, e.type]);

describe('simulate: traces worked out by hand', () => {
  it('a burst of 11 jobs: start on the next tick, ready 180 s later, serve one by one, idle 5 minutes, stop', async () => {
    // 11 jobs at 30–40 s, 60 s each. Tick 60 sees 11 > 10 waiting → start; ready at 240;
    // the jobs run back to back until 900; idle seen at tick 900 → stop at 1200, stopped at 1260.
    const jobs = Array.from({ length: 11 }, (_, i) => ({ arrivalS: 30 + i, serviceS: 60 }));
    const report = await run(jobs);
    expect(lifecycle(report.events)).toEqual([
      [60, 'start'],
      [240, 'ready'],
      [1200, 'stop'],
      [1260, 'stopped'],
    ]);
    const jobStarts = report.events.filter((e) => e.type === 'job-start').map((e) => e.t);
    expect(jobStarts).toEqual([240, 300, 360, 420, 480, 540, 600, 660, 720, 780, 840]);
    expect(report).toMatchObject({
      gpuHours: 0.325, // running at 90 s (after 30 s pending) → stopped at 1260 s
      costUsd: 0.0683,
      starts: 1,
      stops: 1,
      jobs: { count: 11, waitP50S: 505, waitP95S: 800, waitMaxS: 800 },
      busyHours: 0.1833,
      alwaysOn: { gpuHours: 0.25, costUsd: 0.0525 },
    });
  });

  it('3 jobs that must wait for the maximum-wait rule (15 minutes)', async () => {
    // First seen waiting at tick 60; 15 minutes later (tick 960) the maximum wait starts the GPU.
    const jobs = [
      { arrivalS: 10, serviceS: 30 },
      { arrivalS: 20, serviceS: 30 },
      { arrivalS: 300, serviceS: 30 },
    ];
    const report = await run(jobs);
    expect(lifecycle(report.events)).toEqual([
      [960, 'start'],
      [1140, 'ready'],
      [1560, 'stop'], // jobs run 1140–1230; the first idle tick is 1260 → stop at 1560
      [1620, 'stopped'],
    ]);
    // Waits 1130, 1150 and 900 s (the third arrived at 300 and started at 1200).
    expect(report.jobs).toEqual({ count: 3, waitP50S: 1130, waitP95S: 1150, waitMaxS: 1150 });
  });

  it('a job longer than the idle time keeps the GPU up while it runs', async () => {
    const jobs = Array.from({ length: 11 }, (_, i) => ({ arrivalS: i, serviceS: i === 10 ? 1200 : 5 }));
    const report = await run(jobs);
    const longJob = report.events.find((e) => e.type === 'job-end' && e.job === 10);
    const stop = report.events.find((e) => e.type === 'stop');
    expect(longJob?.t).toBe(240 + 50 + 1200);
    // Never stopped mid-job: the stop comes 5 idle minutes after the first tick that saw it done.
    expect(stop?.t).toBe(1500 + 300);
  });
});

describe('simulate: invariants on random traces', () => {
  it('processes every job exactly once, never stops in flight, bills at least the busy time, and costs add up', async () => {
    await fc.assert(
      fc.asyncProperty(randomJobs(6, 900, 60), fc.integer({ min: 1, max: 3 }), async (jobs, concurrency) => {
        const report = await run(jobs, concurrency);
        const starts = report.events.filter((e) => e.type === 'job-start').map((e) => e.job);
        const ends = report.events.filter((e) => e.type === 'job-end').map((e) => e.job);
        const all = jobs.map((_, i) => i);
        expect([...starts].sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(all);
        expect([...ends].sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(all);
        // Idle means no job ran: never sooner than idleMinutes after a job ended or the worker got ready.
        expect(stopsBusyOrTooSoon(report.events, scaler.idleMinutes, true)).toEqual([]);
        expect(report.gpuHours).toBeGreaterThanOrEqual(report.busyHours - 1e-4);
        expect(report.costUsd).toBeCloseTo(report.gpuHours * 0.21, 3);
        expect(report.starts).toBe(report.stops);
      }),
      { numRuns: 40, seed: 20261124 },
    );
  });
});

describe('fleet model: the worker reports job activity like the real one', () => {
  it('writes its last-job tag at most every 30 s, with a trailing write of the latest job end', async () => {
    // Jobs of 5 s every 10 s from 200 s on (ready at 180 s), the last ending at 395 s.
    const jobs = Array.from({ length: 20 }, (_, i) => ({ arrivalS: 200 + 10 * i, serviceS: 5 }));
    const model = new FleetModel(jobs, { readyDelayS: 180, stopDelayS: 60, concurrency: 1 });
    await model.start();
    const writes: Array<[number, string]> = [];
    for (let t = 0; t <= 600; t += 1) {
      model.advanceTo(t);
      const [gpu] = await model.describe();
      const value = gpu?.tags[TAGS.lastJobAt];
      if (value && value !== writes.at(-1)?.[1]) writes.push([t, value]);
    }
    for (let i = 1; i < writes.length; i += 1) {
      expect((writes[i]?.[0] ?? 0) - (writes[i - 1]?.[0] ?? 0)).toBeGreaterThanOrEqual(
        LAST_JOB_TAG_INTERVAL_S,
      );
    }
    expect(writes.length).toBeLessThanOrEqual(Math.ceil(200 / LAST_JOB_TAG_INTERVAL_S) + 1);
    const [lastAt, lastValue] = writes.at(-1) ?? [0, ''];
    expect(lastValue).toBe(isoSeconds(simTime(395)));
    expect(lastAt).toBeLessThanOrEqual(395 + LAST_JOB_TAG_INTERVAL_S);
  });
});

describe('parseTrace', () => {
  it('reads the header, skips blank lines and comments, and sorts by arrival', () => {
    expect(parseTrace('arrival_s,service_s\n# a comment\n20,5\n\n10,3\n')).toEqual([
      { arrivalS: 10, serviceS: 3 },
      { arrivalS: 20, serviceS: 5 },
    ]);
  });

  it.each([
    ['start,duration\n1,2\n', 'jobs.csv:1: the first line must be the header "arrival_s,service_s"'],
    ['arrival_s,service_s\n1,2\n3\n', 'jobs.csv:3: expected 2 fields (arrival_s,service_s), got 1: "3"'],
    ['arrival_s,service_s\n-1,2\n', 'jobs.csv:2: arrival_s must be a number of seconds ≥ 0, got "-1"'],
    [
      'arrival_s,service_s\n1,2\n\n5,zero\n',
      'jobs.csv:4: service_s must be a number of seconds > 0, got "zero"',
    ],
  ])('rejects %j with the line number', (text, message) => {
    expect(() => parseTrace(text, 'jobs.csv')).toThrow(new TraceError(message));
  });
});
