// The window's one store of orders, keyed by job reference. What it hears (orders-changed)
// and what the owner's own commands answer (ship, undo, a link created or cancelled) goes
// in here once; lists keep which orders they show, in their own order, and show each at
// its newest from here. The open order's detail lives here too, read again when it changes.
//
// Only what is on screen is kept: each list says which orders it shows, and a detail is
// kept while it is open. Search, filters and paging stay the Rust side's (lists ask it).

import { untrack } from 'svelte';
import { api, errorMessage, onOrderChanged, onOrdersMissed, subscribe } from './api';
import type { OrderDetail, OrderSummary } from './bindings';
import { summaryOf } from './detail';

class OrderStore {
  // Raw, replaced whole: rows are never edited in place (see LiveView).
  #summaries = $state.raw<ReadonlyMap<string, OrderSummary>>(new Map());
  #details = $state.raw<ReadonlyMap<string, OrderDetail>>(new Map());
  /** Why an open order could not be read, in words. */
  #failed = $state.raw<ReadonlyMap<string, string>>(new Map());
  /** Which orders each list shows (not reactive: it only decides what is kept). */
  #shown = new Map<string, ReadonlySet<string>>();
  /** Open details, and how many times each is open. */
  #open = new Map<string, number>();
  /** The newest read of each open detail; an older answer arriving late is dropped. */
  #reads = new Map<string, number>();
  #created = new Set<(o: OrderSummary) => void>();

  /** The order at its newest: as heard or answered since `o` was read, else `o`. */
  row(o: OrderSummary): OrderSummary {
    return this.#summaries.get(o.paymentJobReference) ?? o;
  }

  /** The open order's detail, once read. */
  detail(ref: string): OrderDetail | undefined {
    return this.#details.get(ref);
  }

  /** Why the open order could not be read (its last read failed), or null. */
  failure(ref: string): string | null {
    return this.#failed.get(ref) ?? null;
  }

  /** `list` (a page, the latest payments) shows these orders now. */
  show(list: string, orders: readonly OrderSummary[]): void {
    this.#shown.set(list, new Set(orders.map((o) => o.paymentJobReference)));
    untrack(() => this.#prune());
  }

  /** `list` is gone from the screen. */
  hide(list: string): void {
    this.#shown.delete(list);
    untrack(() => this.#prune());
  }

  /** The detail panel shows `ref`: read now, and again whenever it changes; returns the close. */
  open(ref: string): () => void {
    this.#open.set(ref, (this.#open.get(ref) ?? 0) + 1);
    void this.#read(ref);
    return () => {
      const n = (this.#open.get(ref) ?? 1) - 1;
      if (n > 0) this.#open.set(ref, n);
      else {
        this.#open.delete(ref);
        this.#prune();
      }
    };
  }

  /**
   * The answer of the owner's own command (ship, undo, cancel, create): lists show it at
   * once, without waiting for its event. `created`: a payment link just made here.
   */
  answered(d: OrderDetail, created = false): void {
    const o = summaryOf(d);
    this.#summaries = new Map(this.#summaries).set(o.paymentJobReference, o);
    if (this.#open.has(o.paymentJobReference)) this.#details = new Map(this.#details).set(o.paymentJobReference, d);
    if (created) for (const h of this.#created) h(o);
  }

  /** Calls `handler` with each payment link the owner creates here. */
  onCreated(handler: (o: OrderSummary) => void): () => void {
    this.#created.add(handler);
    return () => {
      this.#created.delete(handler);
    };
  }

  /** Follows the Rust side's changes (once, for the window's life); returns the stop. */
  follow(): () => void {
    const stop = subscribe(() => onOrderChanged((e) => this.#heard(e.order)));
    // Fell behind: what was heard may be stale, so lists read again and details too.
    const stopMissed = subscribe(() =>
      onOrdersMissed(() => {
        this.#summaries = new Map();
        for (const ref of this.#open.keys()) void this.#read(ref);
      }),
    );
    return () => {
      stop();
      stopMissed();
    };
  }

  #heard(o: OrderSummary): void {
    const ref = o.paymentJobReference;
    if (this.#kept(ref)) this.#summaries = new Map(this.#summaries).set(ref, o);
    if (this.#open.has(ref)) void this.#read(ref);
  }

  async #read(ref: string): Promise<void> {
    const mine = (this.#reads.get(ref) ?? 0) + 1;
    this.#reads.set(ref, mine);
    const current = () => this.#reads.get(ref) === mine && this.#open.has(ref);
    try {
      const d = await api.getOrder(ref);
      if (!current()) return;
      this.#details = new Map(this.#details).set(ref, d);
      if (this.#failed.has(ref)) this.#failed = without(this.#failed, ref);
    } catch (e) {
      if (current()) this.#failed = new Map(this.#failed).set(ref, errorMessage(e));
    }
  }

  #kept(ref: string): boolean {
    if (this.#open.has(ref)) return true;
    for (const refs of this.#shown.values()) if (refs.has(ref)) return true;
    return false;
  }

  /** Forgets what no list shows and no panel has open. */
  #prune(): void {
    const keep = <T>(m: ReadonlyMap<string, T>): ReadonlyMap<string, T> => {
      const gone = [...m.keys()].filter((ref) => !this.#kept(ref));
      if (gone.length === 0) return m;
      const next = new Map(m);
      for (const ref of gone) next.delete(ref);
      return next;
    };
    this.#summaries = keep(this.#summaries);
    this.#details = keep(this.#details);
    this.#failed = keep(this.#failed);
    for (const ref of [...this.#reads.keys()]) if (!this.#open.has(ref)) this.#reads.delete(ref);
  }
}

function without<T>(m: ReadonlyMap<string, T>, ref: string): ReadonlyMap<string, T> {
  const next = new Map(m);
  next.delete(ref);
  return next;
}

export const orderStore = new OrderStore();
