import { UsageError } from './io.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** Parses a hold duration such as `30m`, `2h`, `1h30m` or `1d`; anything else is a usage error. */
export function parseDuration(text: string): number {
  const parts = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$/.exec(text.trim());
  if (!parts || text.trim() === '') {
    throw new UsageError(`invalid duration "${text}": use minutes, hours or days such as 30m, 2h, 1h30m, 1d`);
  }
  const [, days, hours, minutes] = parts;
  const ms = Number(days ?? 0) * DAY_MS + Number(hours ?? 0) * HOUR_MS + Number(minutes ?? 0) * MINUTE_MS;
  if (ms <= 0) throw new UsageError(`invalid duration "${text}": it must be longer than zero`);
  if (ms > 7 * DAY_MS) throw new UsageError(`invalid duration "${text}": a hold lasts at most 7 days (7d)`);
  return ms;
}

/** 5400000 → "1h30m": how durations are shown back to the operator. */
export function formatDuration(ms: number): string {
  const totalMinutes = Math.max(0, Math.round(ms / 60_000));
  const days = Math.floor(totalMinutes / 1440);
  const hours = Math.floor((totalMinutes % 1440) / 60);
  const minutes = totalMinutes % 60;
  const text = `${days ? `${days}d` : ''}${hours ? `${hours}h` : ''}${minutes ? `${minutes}m` : ''}`;
  return text || '0m';
}
