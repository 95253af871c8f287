// The window's shared state: which tab, which order is open, health, settings, toasts,
// and a clock for "2 min ago".

import type { Health, OrderSort, SettingsView } from './bindings';
import { firstPage, type Pager } from './paging';

export type Tab = 'live' | 'orders' | 'settings';

export interface Toast {
  id: number;
  kind: 'error' | 'info' | 'success';
  message: string;
}

export const app = $state({
  tab: 'live' as Tab,
  /** The job reference of the order shown in the detail panel. */
  openOrder: null as string | null,
  /** The "new payment link" dialog is open. */
  linkForm: false,
  health: null as Health | null,
  settings: null as SettingsView | null,
  now: new Date(),
  toasts: [] as Toast[],
});

let nextToast = 1;

export function toast(kind: Toast['kind'], message: string): void {
  const id = nextToast++;
  app.toasts.push({ id, kind, message });
  if (app.toasts.length > 4) app.toasts.shift();
  setTimeout(() => dismissToast(id), kind === 'error' ? 10_000 : 5_000);
}

export function dismissToast(id: number): void {
  const i = app.toasts.findIndex((t) => t.id === id);
  if (i >= 0) app.toasts.splice(i, 1);
}

export function openOrder(jobRef: string): void {
  app.openOrder = jobRef;
}

export function closeOrder(): void {
  app.openOrder = null;
}

/** The tab and open order live in the URL's hash (#orders, #live&order=REF). */
export function readHash(hash: string): { tab: Tab; order: string | null } {
  const parts = hash.replace(/^#\/?/, '').split('&');
  const tab: Tab = parts[0] === 'orders' || parts[0] === 'settings' ? parts[0] : 'live';
  const order = parts.find((p) => p.startsWith('order='))?.slice('order='.length) ?? null;
  return { tab, order: order && /^[0-9A-Za-z-]{1,64}$/.test(order) ? order : null };
}

/** `#live&new-link`: the "new payment link" dialog is open. */
export function linkFormInHash(hash: string): boolean {
  return hash.replace(/^#\/?/, '').split('&').includes('new-link');
}

export function writeHash(tab: Tab, order: string | null, linkForm = false): string {
  return `#${tab}${order ? `&order=${order}` : ''}${linkForm ? '&new-link' : ''}`;
}

/** The orders tab's filters, sort and page (a cursor, never an offset): kept while other tabs are shown. */
export const ordersView = $state({
  status: '' as string,
  shipped: '' as '' | 'yes' | 'no',
  from: '' as string,
  to: '' as string,
  sort: 'firstSeen' as OrderSort,
  ascending: false,
  pager: firstPage() as Pager,
});
