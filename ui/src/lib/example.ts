// An example order, for the UI's tests and the browser preview's recorded answers: every
// field filled in plainly, to be overridden where it matters.

import type { OrderDetail, OrderSummary } from './bindings';
import { summaryOf } from './detail';

/** A paid order of 24.50 GBP seen at `at`, with one attempt and nothing else. */
export function exampleDetail(over: Partial<OrderDetail> = {}, at = '2026-11-24T10:00:00.000000Z'): OrderDetail {
  return {
    paymentJobReference: '261124000000000001',
    orderNumber: 'SO-10401',
    email: 'amelia@example.co.uk',
    status: 'Paid',
    amount: '24.50',
    currency: 'GBP',
    attempts: 1,
    shipped: false,
    shippedAt: null,
    createdHere: false,
    mismatch: null,
    firstSeenAt: at,
    updatedAt: at,
    paidAmount: '24.50',
    refundedAmount: '0',
    refundPendingAmount: '0',
    captureBy: null,
    cancellable: false,
    final: true,
    netAmount: '24.50',
    moneyState: 'none',
    ship: { allowed: true, reason: null, code: null, overridable: false },
    refunds: [],
    captures: [],
    shippingNote: null,
    paymentLink: null,
    lastConfirmedAt: null,
    payments: [],
    deliveries: [],
    statusEvents: [],
    audit: [],
    rawLastAnswer: null,
    ...over,
  };
}

export function exampleSummary(over: Partial<OrderSummary> = {}): OrderSummary {
  return { ...summaryOf(exampleDetail()), ...over };
}
