import { describe, expect, it } from 'vitest';
import type { OrderSummary } from './bindings';
import { mergeLoaded } from './live';

function order(ref: string, status: string): OrderSummary {
  return {
    paymentJobReference: ref,
    orderNumber: ref,
    email: null,
    status,
    amount: '1.00',
    currency: 'GBP',
    attempts: 1,
    shipped: false,
    shippedAt: null,
    createdHere: false,
    mismatch: null,
    firstSeenAt: '2026-11-24T10:00:00.000000Z',
    updatedAt: '2026-11-24T10:00:00.000000Z',
    cancellable: false,
    final: status !== 'Pending',
  };
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
