import { describe, expect, it } from 'vitest';
import type { OrdersPage, OrdersQuery } from './bindings';
import { firstPage, lastPager, nextPager, pageQuery, prevPager, rangeLabel, settledStart } from './paging';

const FIRST = firstPage();

const base: OrdersQuery = {
  status: 'Paid',
  shipped: false,
  from: null,
  to: null,
  sort: 'firstSeen',
  ascending: false,
  limit: 50,
  after: null,
  before: null,
  last: false,
};

function page(prev: string | null, next: string | null, rows = 50): OrdersPage {
  return { orders: new Array(rows).fill(null), total: 400_000, totalCapped: false, prev, next } as OrdersPage;
}

const count = (n: number) => n.toLocaleString('en-GB');

describe('cursor pages', () => {
  it('asks for the rows after, before, or at the end, keeping the filters', () => {
    expect(pageQuery(base, { kind: 'first' })).toMatchObject({ status: 'Paid', after: null, before: null, last: false });
    expect(pageQuery(base, { kind: 'after', cursor: 'c1' })).toMatchObject({ after: 'c1', before: null, last: false });
    expect(pageQuery(base, { kind: 'before', cursor: 'c0' })).toMatchObject({ after: null, before: 'c0', last: false });
    expect(pageQuery(base, { kind: 'last' })).toMatchObject({ after: null, before: null, last: true });
  });

  it('walks forward and back by the cursors each page gives, placing each page', () => {
    const p2 = nextPager(FIRST, page(null, 'n1'));
    expect(p2).toEqual({ at: { kind: 'after', cursor: 'n1' }, start: 51 });
    const p3 = nextPager(p2!, page('p2', 'n2'));
    expect(p3?.start).toBe(101);
    expect(prevPager(p3!, page('p3', 'n3'), 50)).toEqual({ at: { kind: 'before', cursor: 'p3' }, start: 51 });
    expect(prevPager(p2!, page('p2', 'n2'), 50)).toEqual(FIRST);
    expect(nextPager(p3!, page('p3', null))).toBeNull();
    expect(prevPager(FIRST, page(null, 'n1'), 50)).toBeNull();
  });

  it('places the last page from the end, with an exact total only', () => {
    const last = lastPager();
    const of120 = { ...page('p', null, 50), total: 120 };
    // 120 orders in pages of 50: the last page is the last 50, 71–120.
    expect(settledStart(last, of120)).toBe(71);
    const back = prevPager({ ...last, start: 71 }, of120, 50);
    expect(back?.start).toBe(21);
    expect(prevPager({ ...last, start: 21 }, of120, 50)).toEqual(FIRST);
    expect(settledStart(last, { ...of120, totalCapped: true })).toBeNull();
  });

  it('a page reached backwards that has nothing before it starts at 1', () => {
    expect(settledStart({ at: { kind: 'before', cursor: 'x' }, start: null }, page(null, 'n'))).toBe(1);
    expect(settledStart({ at: { kind: 'after', cursor: 'x' }, start: 301 }, page('p', 'n'))).toBe(301);
  });

  it('labels the range, with a lower bound shown as such', () => {
    expect(rangeLabel({ at: { kind: 'after', cursor: 'c' }, start: 51 }, 50, 400_000, false, count)).toBe('51–100 of 400,000');
    expect(rangeLabel({ at: { kind: 'last' }, start: 71 }, 50, 120, false, count)).toBe('71–120 of 120');
    expect(rangeLabel({ at: { kind: 'last' }, start: null }, 50, 10_000, true, count)).toBe('50 orders of 10,000+');
    expect(rangeLabel(FIRST, 0, 0, false, count)).toBe('0 orders');
  });
});
