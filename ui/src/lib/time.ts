// Times arrive as ISO-8601 UTC strings and are shown in local time. Every function takes
// "now" so that tests can fix it.

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * Parses an ISO instant. The Rust side writes six fractional digits (the gateway up to
 * seven); they are cut to milliseconds first, since not every engine parses more.
 */
export function parseInstant(iso: string | null | undefined): Date | null {
  if (!iso) return null;
  const ms = Date.parse(iso.replace(/(\.\d{3})\d+/, '$1'));
  return Number.isNaN(ms) ? null : new Date(ms);
}

function sameLocalDay(a: Date, b: Date): boolean {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** Local midnight at the start of the day holding `d`. */
export function localMidnight(d: Date): Date {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate());
}

export function clock(d: Date): string {
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

export function fullDate(d: Date): string {
  return `${d.getDate()} ${MONTHS[d.getMonth()]} ${d.getFullYear()}`;
}

/**
 * "14:05" today, "yesterday 09:12", otherwise the full date "3 Nov 2026, 09:12".
 * Text that is not a time is shown as it came.
 */
export function formatWhen(iso: string | null | undefined, now: Date): string {
  if (!iso) return '—';
  const d = parseInstant(iso);
  if (!d) return iso;
  if (sameLocalDay(d, now)) return clock(d);
  const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
  if (sameLocalDay(d, yesterday)) return `yesterday ${clock(d)}`;
  return `${fullDate(d)}, ${clock(d)}`;
}

/** For tooltips: "Tue 24 Nov 2026, 14:05:09". */
export function formatExact(iso: string | null | undefined): string {
  const d = parseInstant(iso);
  if (!d) return iso ?? '';
  return `${WEEKDAYS[d.getDay()]} ${fullDate(d)}, ${clock(d)}:${pad2(d.getSeconds())}`;
}

/** "just now", "2 min ago", "3 h ago", "1 day ago", "12 days ago". */
export function formatAgo(iso: string | null | undefined, now: Date): string {
  if (!iso) return 'never';
  const d = parseInstant(iso);
  if (!d) return iso;
  const ms = now.getTime() - d.getTime();
  if (ms < 45_000) return 'just now';
  if (ms < HOUR - 30_000) return `${Math.max(1, Math.round(ms / MINUTE))} min ago`;
  if (ms < DAY - 30 * MINUTE) return `${Math.max(1, Math.round(ms / HOUR))} h ago`;
  const days = Math.max(1, Math.round(ms / DAY));
  return days === 1 ? '1 day ago' : `${days} days ago`;
}

/** The time between two deliveries as "+40 s", "+1 min", "+3 h", "+1 day", "+7 days". */
export function gapWords(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '';
  const s = Math.round(ms / 1000);
  if (s < 60) return `+${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `+${m} min`;
  const h = Math.round(m / 60);
  if (h < 24) return `+${h} h`;
  const days = Math.round(h / 24);
  return days === 1 ? '+1 day' : `+${days} days`;
}

/** The arguments of `get_today` for the local day holding `now`. */
export function todaySpan(now: Date): { since: string; utcOffsetMinutes: number } {
  const midnight = localMidnight(now);
  return { since: midnight.toISOString(), utcOffsetMinutes: -midnight.getTimezoneOffset() };
}

/**
 * A date input's "2026-11-24" as the instant of local midnight starting that day, or with
 * `nextDay` the midnight ending it (so a "to" date includes the whole day).
 */
export function dateInputToInstant(value: string, nextDay = false): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + (nextDay ? 1 : 0));
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** Compares two ISO instants by time (their texts may carry different fractions). */
export function compareInstants(a: string, b: string): number {
  const ta = parseInstant(a);
  const tb = parseInstant(b);
  if (!ta || !tb || ta.getTime() === tb.getTime()) return a < b ? -1 : a > b ? 1 : 0;
  return ta.getTime() - tb.getTime();
}
