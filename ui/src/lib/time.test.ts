import { describe, expect, it } from 'vitest';
import { compareInstants, dateInputToInstant, formatAgo, formatWhen, gapWords, parseInstant, todaySpan } from './time';

// Local-time dates, so the tests hold in any time zone.
const local = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => new Date(y, mo - 1, d, h, mi, s);
const isoOf = (d: Date) => d.toISOString();

describe('formatWhen', () => {
  const now = local(2026, 11, 24, 15, 30);

  it('shows the clock for today', () => {
    expect(formatWhen(isoOf(local(2026, 11, 24, 14, 5)), now)).toBe('14:05');
    expect(formatWhen(isoOf(local(2026, 11, 24, 0, 0)), now)).toBe('00:00');
  });

  it('says yesterday for yesterday', () => {
    expect(formatWhen(isoOf(local(2026, 11, 23, 9, 12)), now)).toBe('yesterday 09:12');
    expect(formatWhen(isoOf(local(2026, 11, 23, 23, 59)), now)).toBe('yesterday 23:59');
  });

  it('gives the full date when older', () => {
    expect(formatWhen(isoOf(local(2026, 11, 22, 9, 12)), now)).toBe('22 Nov 2026, 09:12');
    expect(formatWhen(isoOf(local(2025, 1, 3, 18, 0)), now)).toBe('3 Jan 2025, 18:00');
  });

  it('handles yesterday across a month boundary', () => {
    expect(formatWhen(isoOf(local(2026, 11, 30, 22, 1)), local(2026, 12, 1, 8, 0))).toBe('yesterday 22:01');
  });

  it('reads the Rust side’s six fractional digits', () => {
    const d = parseInstant('2026-11-24T10:11:56.934686Z');
    expect(d?.toISOString()).toBe('2026-11-24T10:11:56.934Z');
    expect(parseInstant('2026-11-24T10:11:56.9346867Z')?.toISOString()).toBe('2026-11-24T10:11:56.934Z');
    expect(parseInstant('not a time')).toBeNull();
    expect(formatWhen('garbage', now)).toBe('garbage');
    expect(formatWhen(null, now)).toBe('—');
  });
});

describe('formatAgo', () => {
  const now = local(2026, 11, 24, 15, 30);
  const ago = (ms: number) => formatAgo(new Date(now.getTime() - ms).toISOString(), now);

  it('speaks relative time', () => {
    expect(ago(10_000)).toBe('just now');
    expect(ago(-5_000)).toBe('just now');
    expect(ago(60_000)).toBe('1 min ago');
    expect(ago(2 * 60_000)).toBe('2 min ago');
    expect(ago(59 * 60_000)).toBe('59 min ago');
    expect(ago(3 * 3_600_000)).toBe('3 h ago');
    expect(ago(26 * 3_600_000)).toBe('1 day ago');
    expect(ago(12 * 86_400_000)).toBe('12 days ago');
    expect(formatAgo(null, now)).toBe('never');
  });
});

describe('gapWords', () => {
  it('words the gateway’s retry gaps', () => {
    expect(gapWords(0)).toBe('+0 s');
    expect(gapWords(40_000)).toBe('+40 s');
    expect(gapWords(60_000)).toBe('+1 min');
    expect(gapWords(61_000)).toBe('+1 min');
    expect(gapWords(15 * 60_000)).toBe('+15 min');
    expect(gapWords(3_600_000)).toBe('+1 h');
    expect(gapWords(5 * 3_600_000)).toBe('+5 h');
    expect(gapWords(86_400_000)).toBe('+1 day');
    expect(gapWords(86_400_000 + 120_000)).toBe('+1 day');
    expect(gapWords(7 * 86_400_000)).toBe('+7 days');
    expect(gapWords(-1)).toBe('');
  });
});

describe('instants for the Rust side', () => {
  it('gives local midnight and the offset for get_today', () => {
    const now = local(2026, 11, 24, 15, 30);
    const span = todaySpan(now);
    expect(new Date(span.since).getTime()).toBe(local(2026, 11, 24).getTime());
    expect(span.utcOffsetMinutes).toBe(-local(2026, 11, 24).getTimezoneOffset());
  });

  it('turns date inputs into a from/to pair covering whole days', () => {
    expect(dateInputToInstant('2026-11-24')).toBe(local(2026, 11, 24).toISOString());
    expect(dateInputToInstant('2026-11-24', true)).toBe(local(2026, 11, 25).toISOString());
    expect(dateInputToInstant('')).toBeNull();
    expect(dateInputToInstant('24/11/2026')).toBeNull();
  });

  it('compares instants with different fractions by time', () => {
    expect(compareInstants('2026-11-24T10:11:56.934686Z', '2026-11-24T10:11:57Z')).toBeLessThan(0);
    expect(compareInstants('2026-11-24T10:11:56.934687Z', '2026-11-24T10:11:56.934686Z')).toBeGreaterThan(0);
    expect(compareInstants('2026-11-24T10:00:00Z', '2026-11-24T10:00:00Z')).toBe(0);
  });
});
