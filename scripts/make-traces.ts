// Writes the example traces in traces/ (deterministic: the same files on every run).
//   npx tsx scripts/make-traces.ts
import * as fs from 'node:fs';
import { type TraceJob, formatTrace, seededRandom } from '../src/sim/trace.js';

const random = seededRandom(2026);
const between = (min: number, max: number): number => min + Math.floor(random() * (max - min + 1));
const HOUR = 3600;

// The plan's use: 2–3 hours of work on each weekday of a 30-day month (starting on a Monday),
// a morning and an afternoon session, a voice job every 1–3 minutes, 30–90 s of GPU each.
const month: TraceJob[] = [];
for (let day = 0; day < 30; day += 1) {
  if (day % 7 >= 5) continue;
  for (const [from, length] of [
    [10 * HOUR, between(50, 80) * 60],
    [14 * HOUR, between(60, 100) * 60],
  ] as const) {
    for (let t = from; t < from + length; t += between(60, 180)) {
      month.push({ arrivalS: day * 86_400 + t, serviceS: between(30, 90) });
    }
  }
}

// A bursty day: three campaigns of 30 jobs each, sent within two minutes.
const bursty: TraceJob[] = [];
for (const at of [9.5 * HOUR, 13 * HOUR, 16.5 * HOUR]) {
  for (let i = 0; i < 30; i += 1) bursty.push({ arrivalS: at + between(0, 120), serviceS: between(30, 60) });
}

// A trickle: one job every 40 minutes from 09:00 to 18:00 — never a backlog of more than one.
const trickle: TraceJob[] = [];
for (let t = 9 * HOUR; t <= 18 * HOUR; t += 40 * 60) trickle.push({ arrivalS: t, serviceS: between(30, 60) });

// A bursty business day: five campaigns of 20–50 voice jobs of about a
// minute each (sent within three minutes), plus single jobs every 15–45 minutes from 09:00 to 18:00.
// Drawn after the traces above, so they stay the same.
const burstsAndSingles: TraceJob[] = [];
for (const at of [9.25 * HOUR, 10.75 * HOUR, 13.25 * HOUR, 15 * HOUR, 16.75 * HOUR]) {
  const size = between(20, 50);
  for (let i = 0; i < size; i += 1) {
    burstsAndSingles.push({ arrivalS: at + between(0, 180), serviceS: between(40, 80) });
  }
}
for (let t = 9 * HOUR + between(0, 900); t < 18 * HOUR; t += between(15, 45) * 60) {
  burstsAndSingles.push({ arrivalS: t, serviceS: between(40, 80) });
}

fs.mkdirSync('traces', { recursive: true });
fs.writeFileSync('traces/weekday-month.csv', formatTrace(month.sort((a, b) => a.arrivalS - b.arrivalS)));
fs.writeFileSync('traces/bursty-day.csv', formatTrace(bursty.sort((a, b) => a.arrivalS - b.arrivalS)));
fs.writeFileSync('traces/trickle-day.csv', formatTrace(trickle));
fs.writeFileSync(
  'traces/bursts-and-singles-day.csv',
  formatTrace(burstsAndSingles.sort((a, b) => a.arrivalS - b.arrivalS)),
);
console.log(
  `traces: weekday-month ${month.length} jobs, bursty-day ${bursty.length}, trickle-day ${trickle.length}, bursts-and-singles-day ${burstsAndSingles.length}`,
);
