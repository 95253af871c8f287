// The window's only door to the Rust side: Tauri commands and events, typed from the
// generated bindings. In a plain browser (vite dev or preview) it falls back to recorded
// answers (./fake.ts), loaded only then.

import { inTauri, tauriBackend, type Backend, type Unlisten } from './backend';
import {
  EVENT_HEALTH_CHANGED,
  EVENT_ORDERS_CHANGED,
  EVENT_ORDERS_MISSED,
  EVENT_TUNNEL_URL_CHANGED,
  type ConnectionTest,
  type DatabaseTest,
  type CoreEvent,
  type Health,
  type IpcError,
  type NewPaymentLink,
  type OrderDetail,
  type OrdersPage,
  type OrdersQuery,
  type SearchHit,
  type SettingsInput,
  type SettingsView,
  type StuckDelivery,
  type DeliveryState,
  type Today,
  type UrlChange,
} from './bindings';

export type { Backend, Unlisten } from './backend';
export { inTauri } from './backend';

export type OrderChanged = Extract<CoreEvent, { kind: 'orderChanged' }>;

let backend: Promise<Backend> | null = null;

function getBackend(): Promise<Backend> {
  if (!backend) {
    backend = inTauri() ? Promise.resolve(tauriBackend) : import('./fake').then((m) => m.createFakeBackend());
  }
  return backend;
}

/** For tests: use this backend instead. */
export function setBackend(b: Backend): void {
  backend = Promise.resolve(b);
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  const b = await getBackend();
  try {
    return await b.invoke<T>(command, args);
  } catch (e) {
    throw toIpcError(e);
  }
}

/** Any rejection as an IpcError whose message can be shown to the owner. */
export function toIpcError(e: unknown): IpcError {
  if (e && typeof e === 'object' && 'message' in e && typeof (e as { message: unknown }).message === 'string') {
    const code = 'code' in e && typeof (e as { code: unknown }).code === 'string' ? (e as { code: string }).code : 'error';
    return { code, message: (e as { message: string }).message };
  }
  if (typeof e === 'string' && e.trim() !== '') return { code: 'error', message: e };
  return { code: 'error', message: 'Something went wrong. Please try again.' };
}

export function errorMessage(e: unknown): string {
  return toIpcError(e).message;
}

/** The first page of the live view, and the default for the orders table. */
export function defaultQuery(overrides: Partial<OrdersQuery> = {}): OrdersQuery {
  return {
    status: null,
    shipped: null,
    from: null,
    to: null,
    sort: 'updated',
    ascending: false,
    limit: 50,
    after: null,
    before: null,
    last: false,
    ...overrides,
  };
}

export const api = {
  listOrders: (query: OrdersQuery) => call<OrdersPage>('list_orders', { query }),
  getOrder: (jobRef: string) => call<OrderDetail>('get_order', { jobRef }),
  /** Rejects with the code `superseded` when a newer search replaced this one. */
  searchOrders: (query: string) => call<SearchHit[]>('search_orders', { query }),
  /** `overrideReason`: the owner's reason for shipping despite a mismatch (audited). */
  shipOrder: (jobRef: string, note: string | null, overrideReason: string | null = null) =>
    call<OrderDetail>('ship_order', { jobRef, note, overrideReason }),
  unshipOrder: (jobRef: string) => call<OrderDetail>('unship_order', { jobRef }),
  getToday: (since: string, utcOffsetMinutes: number) => call<Today>('get_today', { since, utcOffsetMinutes }),
  getHealth: () => call<Health>('get_health'),
  markSeen: () => call<Health>('mark_seen'),
  getSettings: () => call<SettingsView>('get_settings'),
  saveSettings: (input: SettingsInput) => call<SettingsView>('save_settings', { input }),
  testConnection: () => call<ConnectionTest>('test_connection'),
  /** Tries the shared database as typed (saved or not), stage by stage; `password` null: the stored one. */
  testDatabase: (url: string, password: string | null) => call<DatabaseTest>('test_database', { url, password }),
  openLog: () => call<null>('open_log'),
  /** Hands a mailto: address to the desktop's mail program (the webview cannot). */
  openMail: (url: string) => call<null>('open_mail', { url }),
  suggestOrderNumber: () => call<string>('suggest_order_number'),
  createPaymentLink: (input: NewPaymentLink) => call<OrderDetail>('create_payment_link', { input }),
  cancelPaymentLink: (jobRef: string) => call<OrderDetail>('cancel_payment_link', { jobRef }),
  getUrlChange: () => call<UrlChange | null>('get_url_change'),
  /** Acknowledged notifications settled without a confirmation (dead or unknown), newest first. */
  listStuckDeliveries: (deliveryState: DeliveryState) => call<StuckDelivery[]>('list_stuck_deliveries', { deliveryState }),
  /** "Retry now": resolves to how many deliveries go back to the confirm worker. */
  retryDeliveries: (reference: string) => call<number>('retry_deliveries', { reference }),
};

/** Calls `handler` for every order that changed; resolves to the function that stops it. */
export async function onOrderChanged(handler: (e: OrderChanged) => void): Promise<Unlisten> {
  const b = await getBackend();
  // The app sends changes in batches (one window event per burst), oldest first.
  return b.listen<CoreEvent[]>(EVENT_ORDERS_CHANGED, (batch) => {
    for (const e of Array.isArray(batch) ? batch : []) {
      if (e && e.kind === 'orderChanged') handler(e);
    }
  });
}

/**
 * Calls `handler` when the window fell behind the app's changes: which orders changed is
 * lost, so what it shows is to be read again.
 */
export async function onOrdersMissed(handler: () => void): Promise<Unlisten> {
  const b = await getBackend();
  return b.listen<number>(EVENT_ORDERS_MISSED, () => handler());
}

export async function onHealthChanged(handler: (h: Health) => void): Promise<Unlisten> {
  const b = await getBackend();
  return b.listen<Health>(EVENT_HEALTH_CHANGED, handler);
}

/** The public webhook address changed: the Cashflows portal needs the new one. */
export async function onUrlChanged(handler: (c: UrlChange) => void): Promise<Unlisten> {
  const b = await getBackend();
  return b.listen<UrlChange>(EVENT_TUNNEL_URL_CHANGED, handler);
}

/**
 * Subscribes from a component's $effect: returns the cleanup, which also covers a
 * subscription still being set up when the component goes away.
 */
export function subscribe(start: () => Promise<Unlisten>): () => void {
  let stop: Unlisten | null = null;
  let cancelled = false;
  start().then(
    (u) => {
      if (cancelled) u();
      else stop = u;
    },
    () => {},
  );
  return () => {
    cancelled = true;
    stop?.();
  };
}
