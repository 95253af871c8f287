// Recorded answers of the Rust side, for a plain browser (vite dev or preview) so the window
// can be looked at without Tauri. Never loaded inside the app, and no copy of its rules:
// lists come back as recorded (no search, filters or paging), and whatever would change
// something is refused with words that say so.

import type { Backend, Unlisten } from './backend';
import type { Health, IpcError, OrderDetail, OrdersPage, SettingsView, ShipCheck, Today } from './bindings';
import { summaryOf } from './detail';
import { exampleDetail } from './example';

const MIN = 60_000;
const LOCAL_WEBHOOK = 'http://127.0.0.1:8787/webhooks/cashflows';

function iso(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000Z');
}

const UNPAID = (status: string): ShipCheck => ({ allowed: false, reason: `Order is ${status}: only paid orders can be shipped.`, code: 'not_paid', overridable: false });

/** One recorded order, `minutesAgo` before the page opened. */
function recorded(now: number, n: number, minutesAgo: number, over: Partial<OrderDetail>): OrderDetail {
  const at = iso(now - minutesAgo * MIN);
  const ref = `2611240000000${String(n).padStart(5, '0')}`;
  const status = over.status ?? 'Paid';
  return exampleDetail(
    {
      paymentJobReference: ref,
      orderNumber: `SO-${10400 + n}`,
      lastConfirmedAt: at,
      payments: [
        { paymentReference: `2611249900000${String(n).padStart(5, '0')}`, attempt: 1, status, amount: over.amount ?? '24.50', failureCode: null, failureReason: null, createdAt: at, updatedAt: at },
      ],
      deliveries: [{ id: n, receivedAt: at, paymentReference: null, responseStatus: 200, state: 'confirmed', outcome: `confirmed: ${status}` }],
      statusEvents: [{ paymentReference: null, from: 'Pending', to: status, source: 'notification', at }],
      rawLastAnswer: { reference: ref, status },
      ...over,
    },
    at,
  );
}

function recordedOrders(now: number): OrderDetail[] {
  return [
    recorded(now, 1, 2, { email: 'oliver@example.co.uk', amount: '42.00' }),
    recorded(now, 2, 9, { status: 'Pending', ship: UNPAID('Pending'), final: false, createdHere: true, cancellable: true, orderNumber: '1001', paymentLink: 'http://127.0.0.1:8788/hpp/261124000000000002' }),
    recorded(now, 3, 26, { status: 'Declined', ship: UNPAID('Declined'), email: 'isla@example.co.uk', amount: '17.99', attempts: 3 }),
    recorded(now, 4, 48, { currency: 'JPY', amount: '1500', email: 'george@example.co.uk' }),
    recorded(now, 5, 95, {
      createdHere: true,
      orderNumber: '1002',
      amount: '21.00',
      mismatch: 'the gateway says 12.00 GBP was paid, but this job asked for 21.00 GBP',
      ship: {
        allowed: false,
        reason: "The gateway's answer does not match this order (the gateway says 12.00 GBP was paid, but this job asked for 21.00 GBP): check it in the Cashflows portal; shipping it anyway needs an override with a reason.",
        code: 'mismatch',
        overridable: true,
      },
    }),
    recorded(now, 6, 300, { status: 'Verified', shipped: true, shippedAt: iso(now - 200 * MIN), shippingNote: 'RM100000006GB', ship: { allowed: false, reason: 'Order was already marked as shipped.', code: 'already_shipped', overridable: false } }),
    recorded(now, 7, 1500, { status: 'Expired', ship: UNPAID('Expired'), email: 'leo@example.co.uk' }),
  ];
}

function health(now: number): Health {
  return {
    demo: true,
    environment: 'demo',
    listenerUp: true,
    listenerError: null,
    sharedDatabase: null,
    notificationsBy: null,
    webhookUrl: LOCAL_WEBHOOK,
    publicUrl: LOCAL_WEBHOOK,
    tunnel: `local only: the gateway cannot reach this computer (listening at ${LOCAL_WEBHOOK})`,
    tunnelStatus: 'localOnly',
    gatewayUrl: 'http://127.0.0.1:8788',
    circuitOpen: false,
    circuitReason: null,
    inboxBacklog: 0,
    deadDeliveries: 0,
    lastNotificationAt: iso(now - 2 * MIN),
    lastReconcileAt: iso(now - 4 * MIN),
    lastReconcileCaughtUp: 1,
    unseenPayments: 0,
  };
}

const SETTINGS: SettingsView = {
  settings: {
    environment: 'demo',
    customUrl: null,
    listenPort: 8787,
    webhookSecret: null,
    shipOnReserved: false,
    alerts: true,
    startAtLogin: false,
    returnUrls: { success: null, failed: null, cancelled: null },
    tunnel: { provider: 'none', publicUrl: null, boreRelay: null, ngrokDomain: null },
    maxLinkAmount: '100000',
    deliveryRetentionDays: 90,
    allowFrom: [],
    trustedProxies: [],
    databaseUrl: null,
  },
  configurationId: null,
  hasApiKey: false,
  keyringAvailable: true,
  keyringMessage: null,
  credentialsFromEnv: false,
  hasNgrokAuthtoken: false,
  hasBoreSecret: false,
  hasDatabasePassword: false,
  databaseUrlFromEnv: false,
  databasePasswordFromEnv: false,
};

const READ_ONLY: IpcError = { code: 'preview', message: 'the browser preview only shows recorded answers: run Tillwatch to change anything' };

/** The answers, recorded once when the page opens. */
export function recordedAnswers(now: number): (command: string, args: Record<string, unknown>) => unknown {
  const details = recordedOrders(now);
  const page: OrdersPage = { orders: details.map(summaryOf), total: details.length, totalCapped: false, prev: null, next: null };
  const today: Today = {
    takings: [
      { currency: 'GBP', amount: '66.50', count: 2 },
      { currency: 'JPY', amount: '1500', count: 1 },
    ],
    byHour: Array.from({ length: 24 }, (_, hour) => ({ hour, count: [1, 0, 2, 0][hour % 4] })),
  };
  return (command, args) => {
    switch (command) {
      case 'list_orders':
        return page;
      case 'get_order': {
        const d = details.find((o) => o.paymentJobReference === args.jobRef);
        if (!d) throw { code: 'notFound', message: `No order has the reference ${String(args.jobRef)}.` } satisfies IpcError;
        return structuredClone(d);
      }
      case 'search_orders':
      case 'list_stuck_deliveries':
        return [];
      case 'get_today':
        return today;
      case 'get_health':
      case 'mark_seen':
        return health(now);
      case 'get_settings':
        return structuredClone(SETTINGS);
      case 'get_url_change':
      case 'open_log':
      case 'open_mail':
        return null;
      case 'suggest_order_number':
        return '1003';
      default:
        throw READ_ONLY;
    }
  };
}

/** The preview's backend: recorded answers after a short delay, and no events. */
export function createFakeBackend(): Backend {
  const answer = recordedAnswers(Date.now());
  return {
    invoke<T>(command: string, args: Record<string, unknown> = {}): Promise<T> {
      return new Promise((resolve, reject) => {
        setTimeout(() => {
          try {
            resolve(answer(command, args) as T);
          } catch (e) {
            reject(e);
          }
        }, 60);
      });
    },
    listen(): Promise<Unlisten> {
      return Promise.resolve(() => {});
    },
  };
}
