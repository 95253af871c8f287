// The detail view's money card shows the Rust read model's figures and each refund's
// status as it came: a failed refund reads as failed with its reason, a pending one as not
// done, and the state tag is the one the read model chose.

import { render } from 'svelte/server';
import { describe, expect, it } from 'vitest';
import MoneyPanel from '../components/MoneyPanel.svelte';
import type { MoneyMoveView, OrderDetail } from './bindings';
import { exampleDetail } from './example';

function move(over: Partial<MoneyMoveView>): MoneyMoveView {
  return {
    kind: 'refund',
    paymentReference: '900',
    reference: null,
    refundNumber: 'R-1',
    amount: '2.50',
    status: 'Completed',
    createdAt: '2026-11-25T10:00:00.000000Z',
    by: null,
    failure: null,
    source: 'poll',
    ...over,
  };
}

function html(d: OrderDetail): string {
  return render(MoneyPanel, { props: { detail: d } }).body;
}

describe('the money card', () => {
  it('shows paid, refunded, pending apart and net, and a failed refund as failed', () => {
    const out = html(
      exampleDetail({
        paidAmount: '24.50',
        refundedAmount: '2.50',
        refundPendingAmount: '1.00',
        netAmount: '22.00',
        moneyState: 'partlyRefunded',
        refunds: [
          move({}),
          move({ refundNumber: 'R-2', amount: '1.00', status: 'Pending', by: 'owner@till', source: 'owner' }),
          move({ refundNumber: 'R-3', amount: '5.00', status: 'Failed', failure: 'InsufficientMerchantBalance' }),
        ],
      }),
    );
    expect(out).toContain('Partly refunded');
    expect(out).toMatch(/data-testid="money-refunded"[^>]*>£2\.50/);
    expect(out).toMatch(/data-testid="money-pending"[^>]*>£1\.00/);
    expect(out).toMatch(/data-testid="money-net"[^>]*><strong>£22\.00/);
    expect(out).toContain('Failed: InsufficientMerchantBalance');
    expect(out).toContain('Pending (not done yet)');
    expect(out).toContain('made elsewhere (portal)');
    expect(out).toContain('owner@till');
  });

  it('shows a Reserved order’s capture deadline and no tag when nothing was refunded', () => {
    const out = html(exampleDetail({ status: 'Reserved', captureBy: '2026-12-01T10:00:00.000000Z' }));
    expect(out).toContain('data-testid="capture-by"');
    expect(out).not.toContain('data-testid="money-state"');
    expect(out).not.toContain('data-testid="money-pending"');
  });
});
