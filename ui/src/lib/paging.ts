// The orders table's pager: cursor pages (a place in the sort, never an offset), so the
// window holds one page whatever the size of the history and a deep page costs what the
// first does.

import type { OrdersPage, OrdersQuery } from './bindings';

/** Where the shown page starts. */
export type PageAt = { kind: 'first' } | { kind: 'after'; cursor: string } | { kind: 'before'; cursor: string } | { kind: 'last' };

export interface Pager {
  at: PageAt;
  /** The shown page's number from the top (1-based), when known. */
  number: number | null;
}

/** The top of the list (a fresh object: state may change it in place). */
export function firstPage(): Pager {
  return { at: { kind: 'first' }, number: 1 };
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
  return { at: { kind: 'after', cursor: page.next }, number: p.number === null ? null : p.number + 1 };
}

export function prevPager(p: Pager, page: OrdersPage): Pager | null {
  if (!page.prev) return null;
  if (p.number === 2) return firstPage();
  return { at: { kind: 'before', cursor: page.prev }, number: p.number === null ? null : p.number - 1 };
}

/** The last page; its number follows from the total when the total is exact. */
export function lastPager(total: number, capped: boolean, size: number): Pager {
  return { at: { kind: 'last' }, number: capped || total === 0 ? null : Math.ceil(total / size) };
}

/** The shown page's number after a load: a page with nothing before it is page 1. */
export function settledNumber(p: Pager, page: OrdersPage): number | null {
  return page.prev === null ? 1 : p.number;
}

/** "51–100 of 400,000", "of 10,000+" when only a lower bound is known. */
export function rangeLabel(p: Pager, rows: number, total: number, capped: boolean, size: number, count: (n: number) => string): string {
  if (rows === 0) return total === 0 && !capped ? '0 orders' : 'No orders here';
  const of = `of ${count(total)}${capped ? '+' : ''}`;
  if (p.number === null) return `${count(rows)} orders ${of}`;
  const first = (p.number - 1) * size + 1;
  return `${count(first)}–${count(first + rows - 1)} ${of}`;
}
