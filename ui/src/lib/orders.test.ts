// The window's one store of orders: what the owner's commands answer shows at once in
// every list, the open order is read again when it changes, and only what is shown is kept.

import { describe, expect, it } from 'vitest';
import { setBackend, type Backend } from './api';
import { EVENT_ORDERS_CHANGED, EVENT_ORDERS_MISSED, type CoreEvent, type OrderDetail, type OrderSummary } from './bindings';
import { summaryOf } from './detail';
import { exampleDetail } from './example';
import { orderStore } from './orders.svelte';

/** A payment link made here, not paid yet. */
function detail(ref: string, over: Partial<OrderDetail> = {}): OrderDetail {
  return exampleDetail({
    paymentJobReference: ref,
    status: 'Pending',
    createdHere: true,
    cancellable: true,
    final: false,
    ship: { allowed: false, reason: 'Order is Pending: only paid orders can be shipped.', code: 'not_paid', overridable: false },
    ...over,
  });
}

/** A backend whose `get_order` answers from `orders`, and whose events the test sends. */
function backend(orders: Map<string, OrderDetail>) {
  const handlers = new Map<string, (payload: unknown) => void>();
  const reads: string[] = [];
  const b: Backend = {
    invoke: async <T>(command: string, args?: Record<string, unknown>) => {
      if (command !== 'get_order') throw new Error(command);
      const ref = String(args?.jobRef);
      reads.push(ref);
      const d = orders.get(ref);
      if (!d) throw { code: 'notFound', message: `No order has the reference ${ref}.` };
      return d as T;
    },
    listen: async <T>(event: string, handler: (payload: T) => void) => {
      handlers.set(event, handler as (payload: unknown) => void);
      return () => handlers.delete(event);
    },
  };
  const send = (event: string, payload: unknown) => handlers.get(event)?.(payload);
  return { b, reads, send };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('the order store', () => {
  it('shows the answer of the owner’s command in the lists at once', () => {
    const row = summaryOf(detail('A'));
    orderStore.show('test-list', [row]);
    expect(orderStore.row(row)).toBe(row);
    const cancelled = detail('A', { status: 'Cancelled', cancellable: false, final: true });
    orderStore.answered(cancelled);
    expect(orderStore.row(row)).toMatchObject({ status: 'Cancelled', cancellable: false, final: true });
    orderStore.hide('test-list');
    // Shown by no list any more: forgotten, so a list's own copy is what it shows.
    expect(orderStore.row(row)).toBe(row);
  });

  it('tells each list of a link created here', () => {
    const seen: OrderSummary[] = [];
    const stop = orderStore.onCreated((o) => seen.push(o));
    orderStore.answered(detail('B'), true);
    orderStore.answered(detail('B', { status: 'Cancelled' }));
    stop();
    orderStore.answered(detail('C'), true);
    expect(seen.map((o) => o.paymentJobReference)).toEqual(['B']);
  });

  it('reads the open order, and again when it changes or changes were missed', async () => {
    const orders = new Map([['D', detail('D')]]);
    const { b, reads, send } = backend(orders);
    setBackend(b);
    const stopFollowing = orderStore.follow();
    await settle();
    const close = orderStore.open('D');
    await settle();
    expect(orderStore.detail('D')?.status).toBe('Pending');

    orders.set('D', detail('D', { status: 'Paid', final: true, cancellable: false }));
    const changed: CoreEvent = { kind: 'orderChanged', order: summaryOf(orders.get('D')!), previousStatus: 'Pending', statusChanged: true, source: 'notification' };
    send(EVENT_ORDERS_CHANGED, [changed]);
    await settle();
    expect(orderStore.detail('D')?.status).toBe('Paid');
    expect(orderStore.row(summaryOf(detail('D')))).toMatchObject({ status: 'Paid' });

    // Another order's change reads nothing.
    send(EVENT_ORDERS_CHANGED, [{ ...changed, order: summaryOf(detail('E')) }]);
    send(EVENT_ORDERS_MISSED, 3);
    await settle();
    expect(reads).toEqual(['D', 'D', 'D']);

    close();
    expect(orderStore.detail('D')).toBeUndefined();
    stopFollowing();
  });

  it('says why the open order could not be read', async () => {
    const { b } = backend(new Map());
    setBackend(b);
    const close = orderStore.open('F');
    await settle();
    expect(orderStore.detail('F')).toBeUndefined();
    expect(orderStore.failure('F')).toBe('No order has the reference F.');
    close();
    expect(orderStore.failure('F')).toBeNull();
  });
});
