import { describe, expect, it } from 'vitest';
import { CURRENCY_DIGITS, LINK_CURRENCIES } from './bindings';
import { currencyDigits, formatCount, formatDecimal, formatMoney } from './money';

describe('formatMoney', () => {
  it('keeps decimal strings exact, without floating point', () => {
    expect(formatMoney('0.30', 'GBP')).toBe('£0.30');
    expect(formatMoney('0.1', 'GBP')).toBe('£0.10');
    expect(formatMoney('0.3', 'EUR')).toBe('€0.30');
    // 0.1 + 0.2 style sums arrive as text and stay as text.
    expect(formatMoney('0.30000000000000004', 'USD')).toBe('$0.30');
  });

  it('adds thousands separators and the currency decimals', () => {
    expect(formatMoney('1234567.5', 'GBP')).toBe('£1,234,567.50');
    expect(formatMoney('1000', 'USD')).toBe('$1,000.00');
    expect(formatMoney('999.99', 'EUR')).toBe('€999.99');
    expect(formatMoney('12', 'gbp')).toBe('£12.00');
  });

  it('handles amounts beyond JavaScript safe integers', () => {
    expect(formatMoney('123456789012345678901.25', 'GBP')).toBe('£123,456,789,012,345,678,901.25');
  });

  it('takes the digits of every link currency from the Rust table, and 2 for the rest', () => {
    for (const c of LINK_CURRENCIES) expect(currencyDigits(c), c).toBe(CURRENCY_DIGITS[c]);
    expect(currencyDigits('jpy')).toBe(0);
    expect(currencyDigits('XYZ')).toBe(2);
    expect(currencyDigits(null)).toBe(2);
  });

  it('shows JPY without decimals', () => {
    expect(currencyDigits('JPY')).toBe(0);
    expect(formatMoney('1500', 'JPY')).toBe('1,500 JPY');
    expect(formatMoney('1500.00', 'JPY')).toBe('1,500 JPY');
    expect(formatMoney('1499.5', 'JPY')).toBe('1,500 JPY');
  });

  it('shows an unknown currency by its code with two decimals', () => {
    expect(formatMoney('12.5', 'CHF')).toBe('12.50 CHF');
    expect(formatMoney('1234', 'XYZ')).toBe('1,234.00 XYZ');
  });

  it('rounds extra decimals half away from zero by string arithmetic', () => {
    expect(formatMoney('0.005', 'GBP')).toBe('£0.01');
    expect(formatMoney('0.004', 'GBP')).toBe('£0.00');
    expect(formatMoney('999999.995', 'GBP')).toBe('£1,000,000.00');
    expect(formatMoney('-2.345', 'EUR')).toBe('-€2.35');
  });

  it('copes with missing or odd input', () => {
    expect(formatMoney(null, 'GBP')).toBe('—');
    expect(formatMoney('', 'GBP')).toBe('—');
    expect(formatMoney('12.50', null)).toBe('12.50');
    expect(formatMoney('abc', 'GBP')).toBe('abc GBP');
    expect(formatMoney('1e5', 'GBP')).toBe('1e5 GBP');
    expect(formatMoney('.5', 'GBP')).toBe('£0.50');
    expect(formatMoney('007.10', 'GBP')).toBe('£7.10');
    expect(formatMoney('-0.00', 'GBP')).toBe('£0.00');
  });
});

describe('formatDecimal and formatCount', () => {
  it('formats plain decimals', () => {
    expect(formatDecimal('1234.5', 2)).toBe('1,234.50');
    expect(formatDecimal('1234.5', 0)).toBe('1,235');
    expect(formatDecimal('x', 2)).toBeNull();
    expect(formatDecimal('.', 2)).toBeNull();
  });

  it('groups counts', () => {
    expect(formatCount(0)).toBe('0');
    expect(formatCount(1234)).toBe('1,234');
    expect(formatCount(100000)).toBe('100,000');
    expect(formatCount(-1234567)).toBe('-1,234,567');
  });
});
