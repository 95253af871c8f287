import { describe, expect, it } from 'vitest';
import type { DeliveryView } from './bindings';
import { actionWords, deliveryRows, mergeTimeline, prettyJson, responseWords } from './detail';

const delivery = (id: number, receivedAt: string, responseStatus = 200): DeliveryView => ({
  id,
  receivedAt,
  paymentReference: '123456789012345678',
  responseStatus,
  state: responseStatus === 200 ? 'confirmed' : 'pending',
  outcome: null,
});

describe('deliveryRows', () => {
  it('orders deliveries and words the gaps between them', () => {
    const rows = deliveryRows([
      delivery(3, '2026-11-25T10:01:00.000000Z'),
      delivery(1, '2026-11-24T10:00:00.000000Z', 503),
      delivery(2, '2026-11-24T10:01:00.000000Z', 503),
      delivery(4, '2026-12-02T10:01:00.000000Z'),
    ]);
    expect(rows.map((r) => r.id)).toEqual([1, 2, 3, 4]);
    expect(rows.map((r) => r.gap)).toEqual(['first', '+1 min', '+1 day', '+7 days']);
  });

  it('handles none', () => {
    expect(deliveryRows([])).toEqual([]);
  });
});

describe('mergeTimeline', () => {
  it('merges status changes and owner actions by time', () => {
    const t = mergeTimeline(
      [
        { paymentReference: '1', from: null, to: 'Pending', source: 'notification', at: '2026-11-24T10:00:00.000000Z' },
        { paymentReference: '1', from: 'Pending', to: 'Paid', source: 'poll', at: '2026-11-24T10:05:00.000000Z' },
      ],
      [
        { action: 'shipped', detail: 'RM1', at: '2026-11-24T11:00:00.000000Z', by: 'ana@till-2' },
        { action: 'unshipped', detail: null, at: '2026-11-24T10:02:00.000000Z', by: null },
      ],
    );
    expect(t.map((i) => i.source)).toEqual(['notification', 'owner', 'poll', 'owner']);
    expect(t[3]).toMatchObject({ kind: 'owner', action: 'shipped', detail: 'RM1', by: 'ana@till-2' });
  });
});

describe('words for the detail', () => {
  it('words answers and raw JSON', () => {
    expect(responseWords(200)).toBe('200 OK');
    expect(responseWords(503)).toMatch(/^503/);
    expect(responseWords(418)).toBe('418');
    expect(prettyJson({ a: '123456789012345678' })).toBe('{\n  "a": "123456789012345678"\n}');
    expect(prettyJson('{"a":1}')).toBe('{\n  "a": 1\n}');
    expect(prettyJson(null)).toMatch(/No answer/);
  });
});

describe('owner actions', () => {
  it('words the payment link actions', () => {
    expect(actionWords('link created')).toBe('Payment link created');
    expect(actionWords('link cancelled')).toBe('Payment link cancelled');
    expect(actionWords('shipped')).toBe('Marked as shipped');
    expect(actionWords('something new')).toBe('Something new');
  });

  it('puts the owner cancelling a link in the timeline', () => {
    const items = mergeTimeline(
      [
        { paymentReference: null, from: null, to: 'Pending', source: 'owner', at: '2026-11-24T10:00:00.000000Z' },
        { paymentReference: null, from: 'Pending', to: 'Cancelled', source: 'owner', at: '2026-11-24T11:00:00.000000Z' },
      ],
      [{ action: 'link cancelled', detail: null, at: '2026-11-24T11:00:00.000000Z', by: null }],
    );
    expect(items.map((i) => (i.kind === 'status' ? `${i.to} via ${i.source}` : actionWords(i.action)))).toEqual([
      'Pending via owner',
      'Cancelled via owner',
      'Payment link cancelled',
    ]);
  });
});
