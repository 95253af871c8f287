// The detail view's shipping card shows the answer of the Rust shipping rule as it came
// (`OrderDetail.ship`): no copy of the rule lives in the window.

import { render } from 'svelte/server';
import { describe, expect, it } from 'vitest';
import ShipPanel from '../components/ShipPanel.svelte';
import type { OrderDetail, ShipCheck } from './bindings';
import { exampleDetail } from './example';

function detail(ship: ShipCheck, over: Partial<OrderDetail> = {}): OrderDetail {
  return exampleDetail({
    paymentJobReference: '123456789012345678',
    orderNumber: '4040',
    email: 'customer@example.com',
    amount: '40.00',
    createdHere: true,
    updatedAt: '2026-11-24T10:05:00.000000Z',
    ship,
    ...over,
  });
}

function html(d: OrderDetail): string {
  return render(ShipPanel, { props: { detail: d } }).body;
}

/** The element with this data-testid, as rendered. */
function part(markup: string, testid: string): string | null {
  const m = markup.match(new RegExp(`<[^>]*data-testid="${testid}"[^>]*>([\\s\\S]*?)</`));
  return m ? m[0] : null;
}

describe('the shipping card', () => {
  it('shows the reason Rust gave, word for word, and disables shipping', () => {
    // Words the TypeScript side could not have made up: only Rust's answer says them.
    const reason = 'order is Paid but the moon is full: nothing ships tonight';
    const out = html(detail({ allowed: false, reason, code: 'not_paid', overridable: false }, { status: 'Paid' }));
    expect(part(out, 'ship-disabled-reason')).toContain(reason);
    expect(part(out, 'ship-button')).toMatch(/disabled/);
    expect(out).not.toContain('ship-anyway');
  });

  it('offers "Ship anyway…" for a mismatch only', () => {
    const reason =
      "The gateway's answer does not match this order (amount 0.01 where 40.00 was asked): check it in the Cashflows portal; shipping it anyway needs an override with a reason.";
    const out = html(detail({ allowed: false, reason, code: 'mismatch', overridable: true }, { mismatch: 'amount 0.01 where 40.00 was asked' }));
    expect(part(out, 'ship-disabled-reason')).toContain('amount 0.01 where 40.00 was asked');
    expect(part(out, 'ship-anyway')).toContain('Ship anyway…');
    expect(part(out, 'ship-button')).toMatch(/disabled/);
  });

  it('lets an order ship when Rust allows it, whatever its status word says', () => {
    const out = html(detail({ allowed: true, reason: null, code: null, overridable: false }, { status: 'Reserved' }));
    expect(part(out, 'ship-button')).not.toMatch(/disabled/);
    expect(out).not.toContain('ship-disabled-reason');
  });

  it('shows a shipped order with its undo', () => {
    const out = html(
      detail({ allowed: false, reason: 'Order was already marked as shipped.', code: 'already_shipped', overridable: false }, { shipped: true, shippingNote: 'RM1' }),
    );
    expect(part(out, 'shipped-note')).toContain('RM1');
    expect(out).toContain('unship-button');
  });
});
