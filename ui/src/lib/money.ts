// Money and counts as text, never through floating point: amounts arrive as decimal
// strings ("1234.5") and are formatted by string manipulation only.

import { CURRENCY_DIGITS, DEFAULT_CURRENCY_DIGITS } from './bindings';

const SYMBOLS: ReadonlyMap<string, string> = new Map([
  ['GBP', '£'],
  ['EUR', '€'],
  ['USD', '$'],
]);

const DECIMAL = /^(-?)(\d*)(?:\.(\d*))?$/;

/** Minor-unit digits, from the Rust side's table (`KNOWN_CURRENCIES`). */
export function currencyDigits(currency: string | null | undefined): number {
  if (!currency) return DEFAULT_CURRENCY_DIGITS;
  return CURRENCY_DIGITS[currency.toUpperCase()] ?? DEFAULT_CURRENCY_DIGITS;
}

/** Adds one to a string of digits ("0999" → "1000"). */
function incrementDigits(digits: string): string {
  const out = digits.split('');
  let i = out.length - 1;
  while (i >= 0) {
    if (out[i] === '9') {
      out[i] = '0';
      i -= 1;
    } else {
      out[i] = String.fromCharCode(out[i].charCodeAt(0) + 1);
      return out.join('');
    }
  }
  return '1' + out.join('');
}

/** "1234567" → "1,234,567". */
export function groupThousands(intDigits: string): string {
  return intDigits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/**
 * A decimal string with the given number of decimals and thousands separators, rounding
 * half away from zero when the text has more decimals. Returns null when the text is not
 * a plain decimal.
 */
export function formatDecimal(text: string, digits: number): string | null {
  const m = DECIMAL.exec(text.trim());
  if (!m) return null;
  const [, sign, rawInt, rawFrac = ''] = m;
  if (rawInt === '' && rawFrac === '') return null;
  let intPart = rawInt === '' ? '0' : rawInt;
  let frac = rawFrac;
  if (frac.length > digits) {
    const roundUp = frac.charCodeAt(digits) >= '5'.charCodeAt(0);
    const kept = intPart + frac.slice(0, digits);
    const rounded = roundUp ? incrementDigits(kept) : kept;
    intPart = rounded.slice(0, rounded.length - digits) || '0';
    frac = digits > 0 ? rounded.slice(rounded.length - digits) : '';
  } else {
    frac = frac.padEnd(digits, '0');
  }
  intPart = intPart.replace(/^0+(?=\d)/, '');
  const isZero = /^0*$/.test(intPart) && /^0*$/.test(frac);
  const body = groupThousands(intPart) + (digits > 0 ? '.' + frac : '');
  return (sign === '-' && !isZero ? '-' : '') + body;
}

/**
 * "1234567.5" GBP → "£1,234,567.50"; "500" JPY → "500 JPY"; "12.5" CHF → "12.50 CHF".
 * A missing amount shows as a dash; text that is not a decimal is shown as it came.
 */
export function formatMoney(amount: string | null | undefined, currency: string | null | undefined): string {
  if (amount == null || amount.trim() === '') return '—';
  const code = currency ? currency.trim().toUpperCase() : '';
  const number = formatDecimal(amount, currencyDigits(code));
  if (number === null) return code ? `${amount} ${code}` : amount;
  const symbol = SYMBOLS.get(code);
  if (symbol) {
    return number.startsWith('-') ? `-${symbol}${number.slice(1)}` : `${symbol}${number}`;
  }
  return code ? `${number} ${code}` : number;
}

/** Whole counts with separators: 1234 → "1,234". */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const whole = Math.trunc(n);
  const digits = String(Math.abs(whole));
  return (whole < 0 ? '-' : '') + groupThousands(digits);
}
