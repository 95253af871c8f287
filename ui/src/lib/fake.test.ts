// The browser preview's recorded answers: every order the list shows opens, and nothing
// that would change something is pretended.

import { describe, expect, it } from 'vitest';
import type { OrderDetail, OrdersPage } from './bindings';
import { recordedAnswers } from './fake';

describe('the browser preview', () => {
  const answer = recordedAnswers(Date.parse('2026-11-24T12:00:00Z'));

  it('opens every order its list shows, as listed', () => {
    const page = answer('list_orders', {}) as OrdersPage;
    expect(page.orders.length).toBeGreaterThan(0);
    for (const o of page.orders) {
      const d = answer('get_order', { jobRef: o.paymentJobReference }) as OrderDetail;
      expect(d).toMatchObject(o);
    }
    expect(() => answer('get_order', { jobRef: 'nope' })).toThrow();
  });

  it('refuses what would change something, in words', () => {
    for (const command of ['ship_order', 'create_payment_link', 'cancel_payment_link', 'save_settings']) {
      expect(() => answer(command, {}), command).toThrow(expect.objectContaining({ code: 'preview' }));
    }
  });
});
