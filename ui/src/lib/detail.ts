// Shapes an order's history for the detail view: one timeline from status changes and the
// owner's actions, and the notification deliveries with the gaps between them.

import type { AuditView, ChangeSource, DeliveryState, DeliveryView, MoneyState, MoveStatus, OrderDetail, OrderSummary, StatusEventView } from './bindings';
import { compareInstants, gapWords, parseInstant } from './time';

export type TimelineItem =
  | {
      kind: 'status';
      at: string;
      source: ChangeSource;
      from: string | null;
      to: string;
      paymentReference: string | null;
    }
  | { kind: 'owner'; at: string; source: 'owner'; action: string; detail: string | null; by: string | null };

export const SOURCE_WORDS: Record<ChangeSource, string> = {
  notification: 'notification',
  poll: 'poll',
  owner: 'owner',
};

const ACTION_WORDS: Record<string, string> = {
  shipped: 'Marked as shipped',
  unshipped: 'Shipping undone',
  'mismatch overridden': 'Shipped despite the mismatch',
  'partial refund overridden': 'Shipped despite the partial refund',
  'refund requested': 'Refund requested',
  'capture requested': 'Capture requested',
  'cancel requested': 'Cancel requested',
  'link created': 'Payment link created',
  'link cancelled': 'Payment link cancelled',
};

export function actionWords(action: string): string {
  return ACTION_WORDS[action] ?? action.charAt(0).toUpperCase() + action.slice(1);
}

/** Status changes and audit entries merged oldest first (stable for equal times). */
export function mergeTimeline(events: readonly StatusEventView[], audit: readonly AuditView[]): TimelineItem[] {
  const items: TimelineItem[] = [
    ...events.map(
      (e): TimelineItem => ({
        kind: 'status',
        at: e.at,
        source: e.source,
        from: e.from,
        to: e.to,
        paymentReference: e.paymentReference,
      }),
    ),
    ...audit.map(
      (a): TimelineItem => ({ kind: 'owner', at: a.at, source: 'owner', action: a.action, detail: a.detail, by: a.by }),
    ),
  ];
  return items
    .map((item, i) => ({ item, i }))
    .sort((x, y) => compareInstants(x.item.at, y.item.at) || x.i - y.i)
    .map(({ item }) => item);
}

export const DELIVERY_STATE_WORDS: Record<DeliveryState, string> = {
  pending: 'not confirmed yet',
  confirmed: 'confirmed',
  unknown: 'unknown to the gateway',
  dead: 'gave up: needs you',
  malformed: 'unreadable',
};

export type DeliveryRow = DeliveryView & { gap: string };

/** Deliveries oldest first, each with the time since the one before ("first" for the first). */
export function deliveryRows(deliveries: readonly DeliveryView[]): DeliveryRow[] {
  const sorted = [...deliveries].sort((a, b) => compareInstants(a.receivedAt, b.receivedAt) || a.id - b.id);
  return sorted.map((d, i) => {
    if (i === 0) return { ...d, gap: 'first' };
    const prev = parseInstant(sorted[i - 1].receivedAt);
    const cur = parseInstant(d.receivedAt);
    const gap = prev && cur ? gapWords(cur.getTime() - prev.getTime()) : '';
    return { ...d, gap };
  });
}

/** What the listener answered, in words: "200 OK" stops the gateway's retries. */
export function responseWords(status: number): string {
  const words: Record<number, string> = {
    200: 'OK',
    400: 'Bad request',
    404: 'Not found',
    413: 'Too large',
    422: 'Unreadable',
    503: 'Unavailable',
  };
  return words[status] ? `${status} ${words[status]}` : String(status);
}

/** The gateway's raw answer, pretty-printed. */
export function prettyJson(value: unknown): string {
  if (value === null || value === undefined) return 'No answer from the gateway yet.';
  if (typeof value === 'string') {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

/** The summary part of an order's detail. */
export function summaryOf(d: OrderDetail): OrderSummary {
  return {
    paymentJobReference: d.paymentJobReference,
    orderNumber: d.orderNumber,
    email: d.email,
    status: d.status,
    amount: d.amount,
    currency: d.currency,
    attempts: d.attempts,
    shipped: d.shipped,
    shippedAt: d.shippedAt,
    createdHere: d.createdHere,
    mismatch: d.mismatch,
    firstSeenAt: d.firstSeenAt,
    updatedAt: d.updatedAt,
    paidAmount: d.paidAmount,
    refundedAmount: d.refundedAmount,
    refundPendingAmount: d.refundPendingAmount,
    captureBy: d.captureBy,
    cancellable: d.cancellable,
    final: d.final,
    netAmount: d.netAmount,
    moneyState: d.moneyState,
  };
}

/** The tag lists show for an order's money state (none: no tag). */
export const MONEY_STATE_WORDS: Record<MoneyState, string | null> = {
  none: null,
  partlyRefunded: 'Partly refunded',
  refunded: 'Refunded',
};

/** A capture's or refund's status: Pending and Failed never read as done. */
export const MOVE_STATUS_WORDS: Record<MoveStatus, string> = {
  Pending: 'Pending (not done yet)',
  Completed: 'Completed',
  Failed: 'Failed',
};
