// The orders table's pager: cursor pages (a place in the sort, never an offset), so the
// window holds one page whatever the size of the history and a deep page costs what the
// first does.

import type { OrdersPage, OrdersQuery } from './bindings';

/** Where the shown page starts. */
export type PageAt = { kind: 'first' } | { kind: 'after'; cursor: string } | { kind: 'before'; cursor: string } | { kind: 'last' };

export interface Pager {
  at: PageAt;
  /**
   * The shown page's first row, counted from the top (1-based), when known. Pages reached
   * from the end are placed from the end: the last page of 120 in pages of 50 is 71–120.
   */
  start: number | null;
}

/** The top of the list (a fresh object: state may change it in place). */
export function firstPage(): Pager {
  return { at: { kind: 'first' }, start: 1 };
}

/** The query for a page of `base` (filters and sort) at `at`. */
export function pageQuery(base: OrdersQuery, at: PageAt): OrdersQuery {
  return {
    ...base,
    after: at.kind === 'after' ? at.cursor : null,
    before: at.kind === 'before' ? at.cursor : null,
    last: at.kind === 'last',
  };
}

export function nextPager(p: Pager, page: OrdersPage): Pager | null {
  if (!page.next) return null;
  return { at: { kind: 'after', cursor: page.next }, start: p.start === null ? null : p.start + page.orders.length };
}

/** The `size` rows before the shown page; the top of the list when that reaches it. */
export function prevPager(p: Pager, page: OrdersPage, size: number): Pager | null {
  if (!page.prev) return null;
  if (p.start !== null && p.start - size <= 1) return firstPage();
  return { at: { kind: 'before', cursor: page.prev }, start: p.start === null ? null : p.start - size };
}

/** The last page: where it starts is known once it is loaded (`settledStart`). */
export function lastPager(): Pager {
  return { at: { kind: 'last' }, start: null };
}

/**
 * Where the loaded page starts: a page with nothing before it starts at 1; the last page
 * ends at the total when the total is exact.
 */
export function settledStart(p: Pager, page: OrdersPage): number | null {
  if (page.prev === null) return 1;
  if (p.at.kind === 'last') return page.totalCapped ? null : Math.max(1, page.total - page.orders.length + 1);
  return p.start;
}

/** "51–100 of 400,000", "of 10,000+" when only a lower bound is known. */
export function rangeLabel(p: Pager, rows: number, total: number, capped: boolean, count: (n: number) => string): string {
  if (rows === 0) return total === 0 && !capped ? '0 orders' : 'No orders here';
  const of = `of ${count(total)}${capped ? '+' : ''}`;
  if (p.start === null) return `${count(rows)} orders ${of}`;
  return `${count(p.start)}–${count(p.start + rows - 1)} ${of}`;
}
