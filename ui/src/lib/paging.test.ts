import { describe, expect, it } from 'vitest';
import type { OrdersPage, OrdersQuery } from './bindings';
import { firstPage, lastPager, nextPager, pageQuery, prevPager, rangeLabel, settledNumber } from './paging';

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

  it('walks forward and back by the cursors each page gives, counting pages', () => {
    const p2 = nextPager(FIRST, page(null, 'n1'));
    expect(p2).toEqual({ at: { kind: 'after', cursor: 'n1' }, number: 2 });
    const p3 = nextPager(p2!, page('p2', 'n2'));
    expect(p3?.number).toBe(3);
    expect(prevPager(p3!, page('p3', 'n3'))).toEqual({ at: { kind: 'before', cursor: 'p3' }, number: 2 });
    expect(prevPager(p2!, page('p2', 'n2'))).toEqual(FIRST);
    expect(nextPager(p3!, page('p3', null))).toBeNull();
    expect(prevPager(FIRST, page(null, 'n1'))).toBeNull();
  });

  it('numbers the last page from an exact total only', () => {
    expect(lastPager(400_000, false, 50).number).toBe(8000);
    expect(lastPager(10_000, true, 50).number).toBeNull();
    const back = prevPager(lastPager(120, false, 50), page('p', null, 20));
    expect(back?.number).toBe(2);
  });

  it('a page reached backwards that has nothing before it is page 1', () => {
    expect(settledNumber({ at: { kind: 'before', cursor: 'x' }, number: null }, page(null, 'n'))).toBe(1);
    expect(settledNumber({ at: { kind: 'after', cursor: 'x' }, number: 7 }, page('p', 'n'))).toBe(7);
  });

  it('labels the range, with a lower bound shown as such', () => {
    expect(rangeLabel({ at: { kind: 'after', cursor: 'c' }, number: 2 }, 50, 400_000, false, 50, count)).toBe('51–100 of 400,000');
    expect(rangeLabel(lastPager(400_000, false, 50), 50, 400_000, false, 50, count)).toBe('399,951–400,000 of 400,000');
    expect(rangeLabel({ at: { kind: 'last' }, number: null }, 50, 10_000, true, 50, count)).toBe('50 orders of 10,000+');
    expect(rangeLabel(FIRST, 0, 0, false, 50, count)).toBe('0 orders');
  });
});
