import type { OrderSummary } from './bindings';

/**
 * The live list after its first page arrives: changes that arrived while the page was on
 * its way are newer than it, so they stay on top and the page fills in below.
 */
export function mergeLoaded(arrived: OrderSummary[], page: OrderSummary[], keep: number): OrderSummary[] {
  const known = new Set(arrived.map((o) => o.paymentJobReference));
  return [...arrived, ...page.filter((o) => !known.has(o.paymentJobReference))].slice(0, keep);
}
