import { describe, expect, it } from 'vitest';
import { api, defaultQuery, errorMessage, onOrderChanged, setBackend, type Backend } from './api';

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
    await api.getToday('2026-11-24T00:00:00.000Z', 60);
    await api.listOrders(defaultQuery());
    await api.markSeen();
    expect(calls).toEqual([
      ['get_order', { jobRef: '123456789012345678' }],
      ['ship_order', { jobRef: '123456789012345678', note: null }],
      ['get_today', { since: '2026-11-24T00:00:00.000Z', utcOffsetMinutes: 60 }],
      [
        'list_orders',
        { query: { status: null, shipped: null, from: null, to: null, sort: 'updated', ascending: false, limit: 50, offset: 0 } },
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

  it('passes on only orderChanged events', async () => {
    let handler: ((p: unknown) => void) | null = null;
    setBackend({
      invoke: async <T>() => null as T,
      listen: async <T>(event: string, h: (p: T) => void) => {
        expect(event).toBe('order-changed');
        handler = h as (p: unknown) => void;
        return () => {};
      },
    });
    const seen: string[] = [];
    await onOrderChanged((e) => seen.push(e.order.paymentJobReference));
    handler!({ kind: 'reconcileFinished', at: 'x', checked: 1, caughtUp: 0, failed: 0 });
    handler!({ kind: 'orderChanged', order: { paymentJobReference: '42' }, previousStatus: null, statusChanged: true, source: 'poll' });
    expect(seen).toEqual(['42']);
  });
});
