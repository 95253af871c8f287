import { describe, expect, it } from 'vitest';
import { api, defaultQuery, errorMessage, onOrderChanged, onOrdersMissed, onUrlChanged, setBackend, type Backend } from './api';

describe('api', () => {
  it('calls the commands with camelCase arguments and passes references as strings', async () => {
    const calls: [string, unknown][] = [];
    const backend: Backend = {
      invoke: async <T>(command: string, args?: Record<string, unknown>) => {
        calls.push([command, args]);
        return null as T;
      },
      listen: async () => () => {},
    };
    setBackend(backend);
    await api.getOrder('123456789012345678');
    await api.shipOrder('123456789012345678', null);
    await api.shipOrder('123456789012345678', 'RM1', 'paid the rest by phone');
    await api.getToday('2026-11-24T00:00:00.000Z', 60);
    await api.listOrders(defaultQuery());
    await api.markSeen();
    expect(calls).toEqual([
      ['get_order', { jobRef: '123456789012345678' }],
      ['ship_order', { jobRef: '123456789012345678', note: null, overrideReason: null }],
      ['ship_order', { jobRef: '123456789012345678', note: 'RM1', overrideReason: 'paid the rest by phone' }],
      ['get_today', { since: '2026-11-24T00:00:00.000Z', utcOffsetMinutes: 60 }],
      [
        'list_orders',
        { query: { status: null, shipped: null, from: null, to: null, sort: 'updated', ascending: false, limit: 50, after: null, before: null, last: false } },
      ],
      ['mark_seen', undefined],
    ]);
  });

  it('turns rejections into words', async () => {
    setBackend({
      invoke: async () => {
        throw { code: 'notFound', message: 'No order has that reference.' };
      },
      listen: async () => () => {},
    });
    await expect(api.getOrder('1')).rejects.toEqual({ code: 'notFound', message: 'No order has that reference.' });
    expect(errorMessage('plain text')).toBe('plain text');
    expect(errorMessage(undefined)).toMatch(/Something went wrong/);
    expect(errorMessage(new Error('boom'))).toBe('boom');
  });

  it('passes on every orderChanged event of a batch, in order, and nothing else', async () => {
    let handler: ((p: unknown) => void) | null = null;
    setBackend({
      invoke: async <T>() => null as T,
      listen: async <T>(event: string, h: (p: T) => void) => {
        expect(event).toBe('orders-changed');
        handler = h as (p: unknown) => void;
        return () => {};
      },
    });
    const seen: string[] = [];
    await onOrderChanged((e) => seen.push(e.order.paymentJobReference));
    const change = (ref: string) => ({ kind: 'orderChanged', order: { paymentJobReference: ref }, previousStatus: null, statusChanged: true, source: 'poll' });
    handler!([{ kind: 'reconcileFinished', at: 'x', checked: 1, caughtUp: 0, failed: 0 }]);
    handler!([change('42')]);
    handler!([change('43'), { kind: 'deliveryReceived', receivedAt: 'x' }, change('44')]);
    handler!(null);
    expect(seen).toEqual(['42', '43', '44']);
  });

  it('tells a window that fell behind to read what it shows again', async () => {
    const heard: string[] = [];
    let handler: ((p: unknown) => void) | null = null;
    setBackend({
      invoke: async <T>() => null as T,
      listen: async <T>(event: string, h: (p: T) => void) => {
        heard.push(event);
        handler = h as (p: unknown) => void;
        return () => {};
      },
    });
    let reloads = 0;
    await onOrdersMissed(() => reloads++);
    expect(heard).toEqual(['orders-missed']);
    handler!(7);
    expect(reloads).toBe(1);
  });

  it('calls the payment link and tunnel commands with camelCase arguments', async () => {
    const calls: [string, unknown][] = [];
    setBackend({
      invoke: async <T>(command: string, args?: Record<string, unknown>) => {
        calls.push([command, args]);
        return null as T;
      },
      listen: async () => () => {},
    });
    const input = { amount: '12.50', currency: 'GBP', orderNumber: '1042', email: 'a@example.com', note: null };
    await api.suggestOrderNumber();
    await api.createPaymentLink(input);
    await api.cancelPaymentLink('123456789012345678');
    await api.getUrlChange();
    expect(calls).toEqual([
      ['suggest_order_number', undefined],
      ['create_payment_link', { input }],
      ['cancel_payment_link', { jobRef: '123456789012345678' }],
      ['get_url_change', undefined],
    ]);
  });

  it('listens for a changed public URL', async () => {
    const events: string[] = [];
    let handler: ((p: unknown) => void) | null = null;
    setBackend({
      invoke: async <T>() => null as T,
      listen: async <T>(event: string, h: (p: T) => void) => {
        events.push(event);
        handler = h as (p: unknown) => void;
        return () => {};
      },
    });
    const seen: string[] = [];
    await onUrlChanged((c) => seen.push(c.webhookUrl));
    handler!({ previousWebhookUrl: null, webhookUrl: 'https://a.example/webhooks/cashflows', publicUrl: 'https://a.example', message: 'm', at: 'x' });
    expect(events).toEqual(['tunnel-url-changed']);
    expect(seen).toEqual(['https://a.example/webhooks/cashflows']);
  });
});
