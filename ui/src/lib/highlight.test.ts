import { describe, expect, it } from 'vitest';
import { highlight, kindWords } from './highlight';
import { placeShift } from './place';

const marked = (pieces: { text: string; hit: boolean }[]) => pieces.map((p) => (p.hit ? `[${p.text}]` : p.text)).join('');

describe('search highlight', () => {
  it('marks the start of a prefix match', () => {
    expect(marked(highlight('200421017498767380', '2004', 'prefix'))).toBe('[2004]21017498767380');
  });

  it('marks the last digits of a suffix match', () => {
    expect(marked(highlight('300421017498654321', '654321', 'suffix'))).toBe('300421017498[654321]');
  });

  it('marks all of an exact match, an e-mail in any case', () => {
    expect(marked(highlight('ann@example.com', ' ANN@example.com ', 'exact'))).toBe('[ann@example.com]');
    expect(marked(highlight('ann@example.com', 'ANN@', 'prefix'))).toBe('[ann@]example.com');
  });

  it('marks nothing rather than the wrong characters', () => {
    expect(marked(highlight('ORD-4242', 'XYZ', 'prefix'))).toBe('ORD-4242');
  });

  it('names each kind of reference', () => {
    expect(kindWords('payment')).toBe('Payment');
    expect(kindWords('orderNumber')).toBe('Order');
  });
});

describe('keeping the place', () => {
  it('scrolls by as much as the row in view moved', () => {
    expect(placeShift({ key: 'a', top: 120 }, 168)).toBe(48);
    expect(placeShift({ key: 'a', top: 120 }, null)).toBe(0);
    expect(placeShift(null, 10)).toBe(0);
  });
});
