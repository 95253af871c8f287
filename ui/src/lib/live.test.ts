import { describe, expect, it } from 'vitest';
import type { OrderSummary } from './bindings';
import { exampleSummary } from './example';
import { mergeLoaded } from './live';

function order(ref: string, status: string): OrderSummary {
  return exampleSummary({ paymentJobReference: ref, orderNumber: ref, email: null, status, amount: '1.00', final: status !== 'Pending' });
}

describe('the live list', () => {
  it('keeps changes that arrived while the first page loaded, on top and newest', () => {
    const arrived = [order('200000000000000002', 'Paid')];
    const page = [order('200000000000000002', 'Pending'), order('200000000000000001', 'Paid')];
    const merged = mergeLoaded(arrived, page, 50);
    expect(merged.map((o) => [o.paymentJobReference, o.status])).toEqual([
      ['200000000000000002', 'Paid'],
      ['200000000000000001', 'Paid'],
    ]);
  });

  it('keeps at most the asked number', () => {
    const page = Array.from({ length: 60 }, (_, i) => order(String(200000000000000000n + BigInt(i)), 'Paid'));
    expect(mergeLoaded([], page, 50)).toHaveLength(50);
  });
});
