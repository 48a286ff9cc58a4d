/** One job of a trace: when it arrives and how many GPU seconds it needs. */
export interface TraceJob {
  readonly arrivalS: number;
  readonly serviceS: number;
}

/** A trace that cannot be read; the message names the file and line. */
export class TraceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TraceError';
  }
}

const HEADER = 'arrival_s,service_s';

/**
 * Parses a job trace: CSV with the header `arrival_s,service_s`, seconds from the start of the
 * trace and GPU seconds per job. Blank lines and `#` comments are skipped; rows may come in
 * any order and are returned sorted by arrival.
 */
export function parseTrace(text: string, source = 'trace'): TraceJob[] {
  const lines = text.split(/\r?\n/);
  const headerIndex = lines.findIndex((line) => line.trim() !== '' && !line.trim().startsWith('#'));
  if (headerIndex < 0 || lines[headerIndex]?.trim().replace(/\s/g, '') !== HEADER) {
    throw new TraceError(`${source}:${headerIndex + 1}: the first line must be the header "${HEADER}"`);
  }
  const jobs: TraceJob[] = [];
  for (let i = headerIndex + 1; i < lines.length; i += 1) {
    const line = lines[i]?.trim() ?? '';
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(',').map((f) => f.trim());
    const where = `${source}:${i + 1}`;
    if (fields.length !== 2)
      throw new TraceError(`${where}: expected 2 fields (${HEADER}), got ${fields.length}: "${line}"`);
    const [arrival, service] = fields.map(Number) as [number, number];
    if (!Number.isFinite(arrival) || arrival < 0) {
      throw new TraceError(`${where}: arrival_s must be a number of seconds ≥ 0, got "${fields[0]}"`);
    }
    if (!Number.isFinite(service) || service <= 0) {
      throw new TraceError(`${where}: service_s must be a number of seconds > 0, got "${fields[1]}"`);
    }
    jobs.push({ arrivalS: arrival, serviceS: service });
  }
  return jobs.sort((a, b) => a.arrivalS - b.arrivalS);
}

/** A small deterministic generator (mulberry32), so generated traces are the same on every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `count` jobs spread over `days` days, arriving in office hours (09:00–18:00 on the first five
 * days of every week), each a short synthesis of 2–10 s of GPU: the benchmark's long trace.
 */
export function generateTrace(days: number, count: number, seed = 42): TraceJob[] {
  const random = seededRandom(seed);
  const workdays = Array.from({ length: days }, (_, d) => d).filter((d) => d % 7 < 5);
  const jobs: TraceJob[] = [];
  for (let i = 0; i < count; i += 1) {
    const day = workdays[Math.floor(random() * workdays.length)] ?? 0;
    const arrivalS = day * 86_400 + 9 * 3600 + Math.floor(random() * 9 * 3600);
    jobs.push({ arrivalS, serviceS: 2 + Math.floor(random() * 9) });
  }
  return jobs.sort((a, b) => a.arrivalS - b.arrivalS);
}

export function formatTrace(jobs: readonly TraceJob[]): string {
  return [HEADER, ...jobs.map((j) => `${j.arrivalS},${j.serviceS}`)].join('\n') + '\n';
}
