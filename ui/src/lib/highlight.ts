// The search box's results: which part of the matched reference the owner typed.

import type { MatchHow, RefKind } from './bindings';

export interface Piece {
  text: string;
  hit: boolean;
}

/**
 * `reference` cut into pieces, the part that matched `query` marked: all of it (exact), its
 * start (prefix) or its end (the last digits). Letters compare without case (e-mail).
 */
export function highlight(reference: string, query: string, how: MatchHow): Piece[] {
  const q = query.trim();
  const n = Math.min(q.length, reference.length);
  let start: number;
  if (how === 'exact' || n === reference.length) start = 0;
  else if (how === 'prefix') start = 0;
  else start = reference.length - n;
  const end = how === 'exact' ? reference.length : start + n;
  if (how !== 'exact' && reference.slice(start, end).toLowerCase() !== q.toLowerCase()) {
    // Not where the server said: show it plain rather than mark the wrong characters.
    return [{ text: reference, hit: false }];
  }
  return [
    { text: reference.slice(0, start), hit: false },
    { text: reference.slice(start, end), hit: true },
    { text: reference.slice(end), hit: false },
  ].filter((p) => p.text !== '');
}

export function kindWords(kind: RefKind): string {
  switch (kind) {
    case 'job':
      return 'Payment job';
    case 'payment':
      return 'Payment';
    case 'orderNumber':
      return 'Order';
    case 'email':
      return 'E-mail';
  }
}

/** Prefixes and last digits are looked up from this many characters; exact references at any length. */
export const MIN_PARTIAL = 3;
