import { SIM_GPU_ID, type SimEvent } from './fleet-model.js';

/** What a worker is doing over a span of trace seconds. */
export type WorkerState = 'booting' | 'ready' | 'stopping';

export interface Span {
  readonly from: number;
  readonly to: number;
  readonly state: WorkerState;
}

/** One row of the picture: the primary, or a slot that burst workers take one after another. */
export interface Lane {
  readonly label: string;
  /** The instances drawn in it, in order. */
  readonly workers: string[];
  readonly spans: Span[];
  /** When at least one job ran on it. */
  readonly busy: Array<readonly [number, number]>;
}

interface WorkerTrack extends Pick<Lane, 'spans' | 'busy'> {
  readonly id: string;
  readonly firstS: number;
  lastS: number;
}

const OPENS: Partial<Record<SimEvent['type'], WorkerState>> = {
  start: 'booting',
  ready: 'ready',
  stop: 'stopping',
  interrupted: 'stopping',
  'burst-launch': 'booting',
  'burst-ready': 'ready',
  'burst-retire': 'stopping',
};
const CLOSES = new Set<SimEvent['type']>(['stopped', 'burst-terminated', 'burst-interrupted']);

/**
 * The workers' lanes from a run's events: the primary first, then the burst workers packed into as
 * few slots as ever ran at once (a slot takes the next worker once its last one is gone).
 */
export function workerLanes(events: readonly SimEvent[], endS: number): Lane[] {
  const tracks = new Map<string, WorkerTrack>();
  const open = new Map<string, { state: WorkerState; from: number }>();
  const running = new Map<string, { count: number; since: number }>();
  const track = (id: string, t: number): WorkerTrack => {
    let found = tracks.get(id);
    if (!found) {
      found = { id, spans: [], busy: [], firstS: t, lastS: t };
      tracks.set(id, found);
    }
    return found;
  };
  const close = (id: string, t: number): void => {
    const current = open.get(id);
    if (current && t > current.from)
      track(id, t).spans.push({ from: current.from, to: t, state: current.state });
    open.delete(id);
    track(id, t).lastS = t;
  };
  for (const event of events) {
    const id = event.worker;
    if (event.type === 'job-start' || event.type === 'job-end') {
      const r = running.get(id) ?? { count: 0, since: event.t };
      if (event.type === 'job-start') {
        if (r.count === 0) {
          // The next job on the same tick continues the busy stretch instead of starting a new one.
          const busy = track(id, event.t).busy;
          const last = busy.at(-1);
          if (last && last[1] >= event.t) {
            busy.pop();
            r.since = last[0];
          } else r.since = event.t;
        }
        r.count += 1;
      } else if (r.count > 0) {
        r.count -= 1;
        if (r.count === 0 && event.t > r.since) track(id, event.t).busy.push([r.since, event.t]);
      }
      running.set(id, r);
      continue;
    }
    const state = OPENS[event.type];
    if (state) {
      close(id, event.t);
      open.set(id, { state, from: event.t });
    } else if (CLOSES.has(event.type)) {
      close(id, event.t);
    }
  }
  for (const id of open.keys()) close(id, endS);
  for (const [id, r] of running)
    if (r.count > 0 && endS > r.since) track(id, endS).busy.push([r.since, endS]);

  const primary = tracks.get(SIM_GPU_ID);
  const lanes: Lane[] = [
    { label: 'primary', workers: [SIM_GPU_ID], spans: primary?.spans ?? [], busy: primary?.busy ?? [] },
  ];
  const burst = [...tracks.values()].filter((t) => t.id !== SIM_GPU_ID && t.spans.length > 0);
  const slotEnds: number[] = [];
  for (const worker of burst.sort((a, b) => a.firstS - b.firstS)) {
    let slot = slotEnds.findIndex((end) => end <= worker.firstS);
    if (slot < 0) {
      slot = slotEnds.length;
      lanes.push({ label: `burst ${slot + 1}`, workers: [], spans: [], busy: [] });
    }
    slotEnds[slot] = worker.lastS;
    const lane = lanes[slot + 1];
    lane?.workers.push(worker.id);
    lane?.spans.push(...worker.spans);
    lane?.busy.push(...worker.busy);
  }
  return lanes;
}

/** Seconds each lane's workers were up (booting, ready or stopping) within [from, to). */
export function upSeconds(lanes: readonly Lane[], from: number, to: number): number {
  let total = 0;
  for (const lane of lanes)
    for (const span of lane.spans) total += Math.max(0, Math.min(to, span.to) - Math.max(from, span.from));
  return total;
}
