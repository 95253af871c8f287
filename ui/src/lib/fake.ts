// A small in-memory stand-in for the Rust side, used only in a plain browser (vite dev or
// preview) so the window can be looked at without Tauri. Never loaded inside the app.

import type { Backend, Unlisten } from './api';
import type {
  Attempt,
  AuditView,
  ChangeSource,
  CoreEvent,
  DatabaseTest,
  DeliveryView,
  Health,
  IpcError,
  MatchHow,
  NewPaymentLink,
  OrderDetail,
  OrdersPage,
  OrdersQuery,
  OrderSummary,
  RefKind,
  SearchHit,
  SettingsInput,
  SettingsView,
  ShipCheck,
  StatusEventView,
  Today,
  TunnelSettings,
  UrlChange,
} from './bindings';
import { EVENT_HEALTH_CHANGED, EVENT_ORDERS_CHANGED, EVENT_TUNNEL_URL_CHANGED } from './bindings';
import { amountProblem, currencyProblem, emailProblem, isFinal, normaliseAmount, orderNumberProblem } from './links';
import { summaryOf } from './detail';
import { compareInstants, parseInstant } from './time';
import { databaseUrlProblem, urlHasPassword } from './shared';
import { publicUrlProblem } from './tunnel';

const MIN = 60_000;

/** The URL with its password taken out (as the Rust side keeps it). */
function withoutPassword(url: string): string {
  const m = /^(postgres(?:ql)?:\/\/)([^@/?]*@)?([^?]*)(\?.*)?$/.exec(url);
  if (!m) return url;
  const user = m[2] ? `${m[2].slice(0, -1).split(':')[0]}@` : '';
  const query = (m[4] ?? '').slice(1).split('&').filter((p) => p && p !== 'password' && !p.startsWith('password='));
  return `${m[1]}${user}${m[3]}${query.length ? `?${query.join('&')}` : ''}`;
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000Z');
}

function fail(code: string, message: string): IpcError {
  return { code, message };
}

const UNCHECKED: ShipCheck = { allowed: false, reason: null, code: null };

/**
 * The browser-only demo's stand-in for the Rust shipping rule, so previews look right. The
 * real window never runs this: in Tauri, `ship` comes from `domain::may_ship`.
 */
function demoShipCheck(d: OrderDetail, shipOnReserved: boolean): ShipCheck {
  const no = (code: string, reason: string): ShipCheck => ({ allowed: false, reason, code });
  if (d.shipped) return no('already_shipped', 'Order was already marked as shipped.');
  const paid = d.status === 'Paid' || d.status === 'Verified' || (d.status === 'Reserved' && shipOnReserved);
  if (!paid) return no('not_paid', `Order is ${d.status}: only paid orders can be shipped.`);
  if (d.mismatch) return no('mismatch', `The gateway's answer does not match this order (${d.mismatch}): check it in the Cashflows portal; shipping it anyway needs an override with a reason.`);
  return { allowed: true, reason: null, code: null };
}

const LOCAL_WEBHOOK = 'http://127.0.0.1:8787/webhooks/cashflows';
const WEBHOOK_PATH = '/webhooks/cashflows';

/** The Rust side's messages start in lower case: the window adds the context. */
function lower(message: string): string {
  return message.charAt(0).toLowerCase() + message.slice(1).replace(/\.$/, '');
}

const NAMES = ['amelia', 'oliver', 'isla', 'george', 'ava', 'noah', 'freya', 'arthur', 'lily', 'leo', 'mia', 'harry'];
const FAILURES: [string, string][] = [
  ['05', 'Do not honour'],
  ['51', 'Insufficient funds'],
  ['54', 'Expired card'],
  ['N7', 'CVV2 mismatch'],
];

interface Stored {
  detail: OrderDetail;
}

class FakeGateway {
  private orders = new Map<string, Stored>();
  private listeners = new Map<string, Set<(payload: unknown) => void>>();
  private random = rng(20261124);
  private seq = 0;
  private health: Health;
  private settings: SettingsView = {
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
  private urlChange: UrlChange | null = null;
  /** The public webhook address the tunnel last had, for the next change's "old address". */
  private lastPublic: string | null = null;
  private tunnelTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private now: () => number,
    trouble = false,
    tunnel: string | null = null,
    shared = false,
  ) {
    const t = now();
    this.health = {
      demo: true,
      environment: 'demo',
      listenerUp: true,
      listenerError: null,
      sharedDatabase: null,
      notificationsBy: null,
      webhookUrl: LOCAL_WEBHOOK,
      // As the Rust side reports it without a tunnel: the local address.
      publicUrl: LOCAL_WEBHOOK,
      tunnel: `local only: the gateway cannot reach this computer (listening at ${LOCAL_WEBHOOK})`,
      tunnelStatus: 'localOnly',
      gatewayUrl: 'http://127.0.0.1:8788',
      circuitOpen: false,
      circuitReason: null,
      inboxBacklog: 0,
      deadDeliveries: 0,
      lastNotificationAt: iso(t - 2 * MIN),
      lastReconcileAt: iso(t - 4 * MIN),
      lastReconcileCaughtUp: 1,
      unseenPayments: 2,
    };
    if (trouble) {
      // `?trouble` in the URL: what the bar and settings show when things go wrong.
      this.health = {
        ...this.health,
        demo: false,
        environment: 'production',
        listenerUp: false,
        listenerError: 'port 8787 is already in use by another program',
        sharedDatabase: null,
        publicUrl: null,
        tunnel: 'DOWN (bore): the relay till-relay.example.net refused the connection. Retrying in 32 s.',
        tunnelStatus: 'down',
        circuitOpen: true,
        circuitReason: 'the gateway refused our credentials (401): check the API key in Settings',
        inboxBacklog: 3,
      };
      this.settings = { ...this.settings, keyringAvailable: false, keyringMessage: 'No keyring service is running: install gnome-keyring, or set TILLWATCH_API_KEY.' };
      this.settings.settings.tunnel = { provider: 'bore', publicUrl: null, boreRelay: 'till-relay.example.net', ngrokDomain: null };
    }
    // `?shared`: a window on a shared database that the shop's server serves.
    if (shared) {
      this.settings.settings.databaseUrl = 'postgres://shop@db.example:5432/shop?sslmode=require';
      this.settings.hasDatabasePassword = true;
      this.useShared(this.settings.settings.databaseUrl);
    }
    // `?tunnel=up|connecting|down|changed`: an ngrok tunnel in that state ("changed": up, at a
    // new address the Cashflows portal does not know yet).
    if (tunnel) {
      const domain = 'corner-shop.ngrok-free.app';
      this.settings.settings.tunnel = { provider: 'ngrok', publicUrl: null, boreRelay: null, ngrokDomain: domain };
      this.settings.hasNgrokAuthtoken = true;
      if (tunnel === 'connecting') {
        this.setTunnel('connecting', null, 'connecting (ngrok, attempt 2)');
      } else if (tunnel === 'down') {
        this.setTunnel('down', null, 'DOWN (ngrok): ngrok refused the authtoken (ERR_NGROK_105): copy it again from the ngrok dashboard. Retrying in 1 min.');
      } else {
        const url = `https://${domain}${WEBHOOK_PATH}`;
        this.setTunnel('up', url, `up (ngrok): ${url}`);
        this.lastPublic = url;
        if (tunnel === 'changed') {
          const old = `https://7f3a-81-2-69-160.ngrok-free.app${WEBHOOK_PATH}`;
          this.urlChange = this.change(old, url, `https://${domain}`, t - 3 * MIN);
        }
      }
    }
    this.seed(t);
  }

  /** A window on the shared database at `url` (null: its own file again), as the Rust side reports it. */
  private useShared(url: string | null): void {
    if (!url) {
      this.health = { ...this.health, sharedDatabase: null, notificationsBy: null, demo: this.settings.settings.environment === 'demo', listenerUp: true };
      this.applyTunnel(this.settings.settings.tunnel);
      return;
    }
    const t = this.now();
    this.health = {
      ...this.health,
      demo: false,
      environment: this.settings.configurationId ? this.health.environment : 'not set',
      listenerUp: false,
      listenerError: null,
      sharedDatabase: url,
      notificationsBy: { machine: 'shop-server', online: true, lastSeenAt: iso(t - 12_000), lastConfirmedAt: iso(t - 2 * MIN), otherServes: 0 },
      webhookUrl: null,
      publicUrl: null,
      tunnel: null,
      tunnelStatus: null,
      lastReconcileAt: null,
      lastReconcileCaughtUp: null,
    };
  }

  /** "Test connection" of a shared database: passes for any well-formed URL with a password, except the cases it plays. */
  private testDatabase(url: string, password: string | null): DatabaseTest {
    const problem = databaseUrlProblem(url);
    if (problem || url.trim() === '') throw fail('invalid', problem ?? "Enter the shared database's URL (postgres://user@host/database).");
    const hostport = url.trim().replace(/^postgres(ql)?:\/\//, '').split(/[/?]/)[0].split('@').pop() ?? '';
    const at = hostport.includes(':') ? hostport : `${hostport}:5432`;
    const stage = (name: string, passed: boolean, detail: string) => ({ stage: name, passed, detail });
    if (hostport.startsWith('offline')) {
      return { ok: false, schemaVersion: null, stages: [stage('reached', false, `nothing answered at ${at} (Connection refused (os error 111))`)] };
    }
    const plain = /sslmode=disable/.test(url);
    const tls = plain
      ? stage('tls', true, 'off (sslmode=disable): the password and the orders cross the network unencrypted')
      : stage('tls', true, `on (TLSv1.3), certificate verified against the public roots for ${at.split(':')[0]}`);
    const pw = password ?? (urlHasPassword(url) || this.settings.hasDatabasePassword ? 'stored' : null);
    if (!pw || pw === 'wrong') {
      const words = pw
        ? 'authentication failed: the server refused the user name or password'
        : 'the server asks for a password: enter it in Settings (kept in the OS keyring) or set TILLWATCH_DATABASE_PASSWORD';
      return { ok: false, schemaVersion: null, stages: [stage('reached', true, `${at} answered`), tls, stage('authenticated', false, words)] };
    }
    const user = url.trim().replace(/^postgres(ql)?:\/\//, '').split('@')[0].split(':')[0];
    return {
      ok: true,
      schemaVersion: 2,
      stages: [stage('reached', true, `${at} answered`), tls, stage('authenticated', true, `as ${user}`), stage('schema', true, 'version 2, up to date')],
    };
  }

  private setTunnel(status: 'localOnly' | 'connecting' | 'up' | 'down', publicUrl: string | null, words: string): void {
    this.health = {
      ...this.health,
      publicUrl: status === 'localOnly' ? this.health.webhookUrl : publicUrl,
      tunnel: words,
      tunnelStatus: status,
    };
  }

  /** The Rust side's UrlChange, words and all. */
  private change(previous: string | null, webhookUrl: string, publicUrl: string, at: number): UrlChange {
    const message = previous
      ? `The public webhook address changed from ${previous} to ${webhookUrl}. Cashflows will keep sending notifications to the old address for up to a month. In the Cashflows portal, set the webhook URL to ${webhookUrl}. Tillwatch is checking now for payments it may have missed.`
      : `Tillwatch can now be reached at ${webhookUrl}. In the Cashflows portal, set the webhook URL to ${webhookUrl}.`;
    return { previousWebhookUrl: previous, webhookUrl, publicUrl, message, at: iso(at) };
  }

  /** Saved tunnel settings: the demo "opens" the tunnel and tells of a new address. */
  private applyTunnel(t: TunnelSettings): void {
    clearTimeout(this.tunnelTimer);
    const up = (base: string, provider: string): void => {
      const url = `${base.replace(/\/+$/, '')}${WEBHOOK_PATH}`;
      this.setTunnel('up', url, `up (${provider}): ${url}`);
      if (url !== this.lastPublic) {
        this.urlChange = this.change(this.lastPublic, url, base, this.now());
        this.lastPublic = url;
        this.emit(EVENT_TUNNEL_URL_CHANGED, this.urlChange);
      }
      this.emit(EVENT_HEALTH_CHANGED, { ...this.health });
    };
    const later = (f: () => void): void => {
      this.tunnelTimer = setTimeout(f, 1500);
    };
    switch (t.provider) {
      case 'none':
        this.setTunnel('localOnly', null, `local only: the gateway cannot reach this computer (listening at ${LOCAL_WEBHOOK})`);
        break;
      case 'static':
        this.setTunnel('connecting', t.publicUrl, `checking that ${t.publicUrl} reaches this computer (static)`);
        later(() => up(t.publicUrl ?? '', 'static'));
        break;
      case 'ngrok': {
        const domain = (t.ngrokDomain ?? '').replace(/^https?:\/\//, '').replace(/\/+$/, '');
        this.setTunnel('connecting', null, 'connecting (ngrok, attempt 1)');
        later(() => up(`https://${domain || `${Math.floor(this.random() * 0xffff).toString(16)}-81-2-69-160.ngrok-free.app`}`, 'ngrok'));
        break;
      }
      case 'bore': {
        const relay = (t.boreRelay ?? '').replace(/^bore:\/\//, '').replace(/:7835$/, '');
        this.setTunnel('connecting', null, 'connecting (bore, attempt 1)');
        later(() => up(`http://${relay}:${20000 + Math.floor(this.random() * 40000)}`, 'bore'));
        break;
      }
    }
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.random() * xs.length)];
  }

  private nextRef(prefix: string): string {
    this.seq += 1;
    const tail = String(this.seq * 7919 + Math.floor(this.random() * 1000)).padStart(10, '0');
    return `${prefix}${tail}`.slice(0, 18).padEnd(18, '7');
  }

  private makeOrder(firstSeen: number, status: string, attempts: number, currency = 'GBP'): OrderDetail {
    const jobRef = this.nextRef('26112400');
    const pounds = currency === 'JPY' ? String(500 + Math.floor(this.random() * 20) * 250) : `${5 + Math.floor(this.random() * 180)}.${this.pick(['00', '50', '99', '25', '30'])}`;
    const who = this.pick(NAMES);
    const payments: Attempt[] = [];
    const statusEvents: StatusEventView[] = [];
    const deliveries: DeliveryView[] = [];
    let at = firstSeen;
    let previous: string | null = null;
    for (let n = 1; n <= attempts; n++) {
      const last = n === attempts;
      const paymentStatus = last ? status : 'Failed';
      const paymentReference = this.nextRef('26112499');
      const failure = paymentStatus === 'Failed' || paymentStatus === 'Declined' ? this.pick(FAILURES) : null;
      payments.push({
        paymentReference,
        attempt: n,
        status: paymentStatus,
        amount: pounds,
        failureCode: failure ? failure[0] : null,
        failureReason: failure ? failure[1] : null,
        createdAt: iso(at),
        updatedAt: iso(at + MIN),
      });
      const source: ChangeSource = this.random() < 0.85 ? 'notification' : 'poll';
      const to = last ? status : 'Pending';
      if (to !== previous) {
        statusEvents.push({ paymentReference, from: previous, to, source, at: iso(at + MIN) });
        previous = to;
      }
      if (source === 'notification') {
        // The gateway retries until it hears 200: every minute, then daily.
        const tries = this.random() < 0.2 ? 3 : 1;
        let when = at + 40_000;
        for (let k = 0; k < tries; k++) {
          const answered = k < tries - 1 ? 503 : 200;
          deliveries.push({
            id: this.seq * 10 + k,
            receivedAt: iso(when),
            paymentReference,
            responseStatus: answered,
            state: answered === 200 ? 'confirmed' : 'pending',
            outcome: answered === 200 ? `confirmed: ${paymentStatus}` : 'database busy; asked the gateway to retry',
          });
          // Older orders show the gateway's daily retries; recent ones stay in the past.
          when += k === 0 ? MIN : this.now() - firstSeen > 3 * 24 * 60 * MIN ? 24 * 60 * MIN : 4 * MIN;
        }
      }
      at += (2 + Math.floor(this.random() * 5)) * MIN;
    }
    const updated = at;
    const orderNumber = `SO-${10400 + this.seq}`;
    return {
      paymentJobReference: jobRef,
      orderNumber,
      email: `${who}@example.co.uk`,
      status,
      amount: pounds,
      currency,
      attempts,
      shipped: false,
      shippedAt: null,
      createdHere: false,
      mismatch: null,
      firstSeenAt: iso(firstSeen),
      updatedAt: iso(updated),
      ship: UNCHECKED,
      shippingNote: null,
      paymentLink: null,
      lastConfirmedAt: iso(updated),
      payments,
      deliveries,
      statusEvents,
      audit: [],
      rawLastAnswer: {
        reference: jobRef,
        orderNumber,
        status,
        amountToCollect: pounds,
        currency,
        payments: payments.map((p) => ({
          reference: p.paymentReference,
          status: p.status,
          attemptNumber: p.attempt,
          ...(p.failureCode ? { lastProcessingResult: { code: p.failureCode, description: p.failureReason } } : {}),
        })),
      },
    };
  }

  private seed(t: number): void {
    const midnight = new Date(t);
    midnight.setHours(0, 0, 0, 0);
    const minutesToday = Math.max(30, Math.floor((t - midnight.getTime()) / MIN));
    const statuses = ['Paid', 'Paid', 'Paid', 'Paid', 'Verified', 'Pending', 'Reserved', 'Failed', 'Declined', 'Cancelled', 'Expired'];
    for (let i = 0; i < 130; i++) {
      const today = i < 30;
      const minutesAgo = today ? Math.floor(this.random() * minutesToday) : minutesToday + Math.floor(this.random() * 20 * 24 * 60);
      const status = this.pick(statuses);
      const attempts = status === 'Paid' && this.random() < 0.3 ? 2 : status === 'Declined' ? 3 : 1;
      const currency = i % 13 === 5 ? 'EUR' : i % 17 === 9 ? 'JPY' : 'GBP';
      const order = this.makeOrder(t - minutesAgo * MIN - 10 * MIN, status, attempts, currency);
      if (!today && (status === 'Paid' || status === 'Verified') && this.random() < 0.7) {
        order.shipped = true;
        order.shippedAt = iso(parseInstant(order.updatedAt)!.getTime() + 90 * MIN);
        order.shippingNote = this.random() < 0.5 ? `RM${100000000 + this.seq}GB` : null;
        order.audit.push({ action: 'shipped', detail: order.shippingNote, at: order.shippedAt, by: null });
      }
      if (this.random() < 0.3) this.madeHere(order);
      this.orders.set(order.paymentJobReference, { detail: order });
    }
    // Links the owner sent that nobody has paid yet.
    for (const minutesAgo of [25, 160]) {
      const link = this.madeHere(this.makeOrder(t - minutesAgo * MIN, 'Pending', 0));
      this.orders.set(link.paymentJobReference, { detail: link });
    }
    // One order the gateway disagrees about, and an unknown status word.
    const odd = this.madeHere(this.makeOrder(t - 95 * MIN, 'Paid', 1));
    odd.amount = '21.00';
    odd.mismatch = 'the gateway says 12.00 GBP was paid, but this job asked for 21.00 GBP';
    this.orders.set(odd.paymentJobReference, { detail: odd });
    const unknown = this.makeOrder(t - 70 * MIN, 'Chargeback', 1);
    this.orders.set(unknown.paymentJobReference, { detail: unknown });
  }

  private linkFor(jobRef: string): string {
    return `${this.health.gatewayUrl ?? 'http://127.0.0.1:8788'}/hpp/${jobRef}`;
  }

  /** Marks an order as a payment link the owner created here. */
  private madeHere(d: OrderDetail): OrderDetail {
    d.createdHere = true;
    d.paymentLink = this.linkFor(d.paymentJobReference);
    d.orderNumber = String(1001 + this.seq);
    d.statusEvents.unshift({ paymentReference: null, from: null, to: 'Pending', source: 'owner', at: d.firstSeenAt });
    if (d.statusEvents[1]?.from === null) d.statusEvents[1].from = 'Pending';
    d.audit.unshift({ action: 'link created', detail: d.paymentLink, at: d.firstSeenAt, by: null });
    if (d.payments.length === 0) d.updatedAt = d.firstSeenAt;
    return d;
  }

  private suggestOrderNumber(): string {
    let max = 1000;
    for (const { detail } of this.orders.values()) {
      const n = detail.orderNumber ?? '';
      if (/^\d{1,15}$/.test(n)) max = Math.max(max, Number(n));
    }
    return String(max + 1);
  }

  /** The Rust side's checks and messages, then a Pending order with its link. */
  private createLink(input: NewPaymentLink): OrderDetail {
    const invalid = (message: string | null): void => {
      if (message) throw fail('invalid', lower(message));
    };
    const currency = String(input.currency ?? '').trim().toUpperCase();
    invalid(currencyProblem(currency) && `unknown currency ${currency}`);
    invalid(amountProblem(String(input.amount ?? ''), currency));
    const orderNumber = String(input.orderNumber ?? '').trim();
    if (orderNumberProblem(orderNumber)) throw fail('invalid', "the order number must be 1 to 50 letters, digits, '-', '_' or '.'");
    const email = String(input.email ?? '').trim();
    if (emailProblem(email)) throw fail('invalid', `'${email}' does not look like an e-mail address`);
    if ([...this.orders.values()].some((o) => o.detail.orderNumber === orderNumber)) {
      throw fail('invalid', `order number ${orderNumber} is already used here`);
    }
    const t = iso(this.now());
    const jobRef = this.nextRef('26112400');
    const paymentReference = this.nextRef('26112499');
    const amount = normaliseAmount(String(input.amount));
    const paymentLink = this.linkFor(jobRef);
    const d: OrderDetail = {
      paymentJobReference: jobRef,
      orderNumber,
      email,
      status: 'Pending',
      amount,
      currency,
      attempts: 1,
      shipped: false,
      shippedAt: null,
      createdHere: true,
      mismatch: null,
      firstSeenAt: t,
      updatedAt: t,
      ship: UNCHECKED,
      shippingNote: null,
      paymentLink,
      lastConfirmedAt: null,
      payments: [
        { paymentReference, attempt: 1, status: 'Pending', amount, failureCode: null, failureReason: null, createdAt: null, updatedAt: t },
      ],
      deliveries: [],
      statusEvents: [{ paymentReference: null, from: null, to: 'Pending', source: 'owner', at: t }],
      audit: [{ action: 'link created', detail: paymentLink, at: t, by: null }],
      rawLastAnswer: { reference: jobRef, orderNumber, status: 'Pending', amountToCollect: amount, currency, payments: [{ reference: paymentReference, status: 'Pending' }] },
    };
    this.orders.set(jobRef, { detail: d });
    this.emit(EVENT_ORDERS_CHANGED, [{ kind: 'orderChanged', order: summaryOf(d), previousStatus: null, statusChanged: true, source: 'owner' } satisfies CoreEvent]);
    return d;
  }

  private cancelLink(jobRef: unknown): OrderDetail {
    const d = this.get(jobRef);
    if (isFinal(d.status)) throw fail('invalid', `this order is ${d.status} and can no longer be cancelled`);
    const t = iso(this.now());
    const previous = d.status;
    d.audit.push({ action: 'link cancelled', detail: null, at: t, by: null });
    d.statusEvents.push({ paymentReference: null, from: previous, to: 'Cancelled', source: 'owner', at: t });
    d.status = 'Cancelled';
    d.updatedAt = t;
    d.lastConfirmedAt = t;
    for (const p of d.payments) if (!isFinal(p.status)) p.status = 'Cancelled';
    d.rawLastAnswer = { ...(d.rawLastAnswer as object), status: 'Cancelled' };
    this.emit(EVENT_ORDERS_CHANGED, [{ kind: 'orderChanged', order: summaryOf(d), previousStatus: previous, statusChanged: true, source: 'owner' } satisfies CoreEvent]);
    return d;
  }

  private get(jobRef: unknown): OrderDetail {
    const o = typeof jobRef === 'string' ? this.orders.get(jobRef) : undefined;
    if (!o) throw fail('notFound', `No order has the reference ${String(jobRef)}.`);
    o.detail.ship = demoShipCheck(o.detail, this.settings.settings.shipOnReserved);
    return o.detail;
  }

  private emit(event: string, payload: unknown): void {
    for (const h of this.listeners.get(event) ?? []) h(payload);
  }

  listen(event: string, handler: (payload: unknown) => void): Unlisten {
    const set = this.listeners.get(event) ?? new Set();
    set.add(handler);
    this.listeners.set(event, set);
    return () => set.delete(handler);
  }

  /** A shopper pays (or a pending payment settles): what the live view shows arriving. */
  tick(): void {
    const t = this.now();
    const pending = [...this.orders.values()].find((o) => o.detail.status === 'Pending');
    let order: OrderDetail;
    let previousStatus: string | null = null;
    if (pending && this.random() < 0.5) {
      order = pending.detail;
      previousStatus = order.status;
      order.status = 'Paid';
      order.updatedAt = iso(t);
      order.statusEvents.push({ paymentReference: order.payments.at(-1)?.paymentReference ?? null, from: 'Pending', to: 'Paid', source: 'notification', at: iso(t) });
      const last = order.payments.at(-1);
      if (last) last.status = 'Paid';
      if (order.attempts === 0) {
        const paymentReference = this.nextRef('26112499');
        order.payments.push({ paymentReference, attempt: 1, status: 'Paid', amount: order.amount, failureCode: null, failureReason: null, createdAt: iso(t - MIN), updatedAt: iso(t) });
        order.attempts = 1;
      }
    } else {
      order = this.makeOrder(t - 3 * MIN, this.random() < 0.8 ? 'Paid' : 'Pending', 1);
      order.updatedAt = iso(t);
      this.orders.set(order.paymentJobReference, { detail: order });
    }
    const e: CoreEvent = { kind: 'orderChanged', order: summaryOf(order), previousStatus, statusChanged: true, source: 'notification' };
    this.emit(EVENT_ORDERS_CHANGED, [e]);
    this.health = { ...this.health, lastNotificationAt: iso(t), unseenPayments: this.health.unseenPayments + 1 };
    this.emit(EVENT_HEALTH_CHANGED, this.health);
  }

  handle(command: string, args: Record<string, unknown>): unknown {
    switch (command) {
      case 'list_orders':
        return this.list(args.query as OrdersQuery);
      case 'get_order':
        return structuredClone(this.get(args.jobRef));
      case 'search_orders':
        return this.search(String(args.query ?? ''));
      case 'ship_order': {
        const d = this.get(args.jobRef);
        const reason = typeof args.overrideReason === 'string' ? args.overrideReason.trim() : null;
        const overridden = d.ship.code === 'mismatch' && !!reason;
        if (!d.ship.allowed && !overridden) throw fail(d.ship.code ?? 'invalid', d.ship.reason ?? 'This order cannot ship.');
        const t = iso(this.now());
        const note = typeof args.note === 'string' && args.note.trim() ? args.note.trim() : null;
        Object.assign(d, { shipped: true, shippedAt: t, shippingNote: note, updatedAt: t });
        d.audit.push({ action: 'shipped', detail: note, at: t, by: null } satisfies AuditView);
        if (overridden) d.audit.push({ action: 'mismatch overridden', detail: `${reason} (the gateway's answer: ${d.mismatch})`, at: t, by: null });
        d.ship = demoShipCheck(d, this.settings.settings.shipOnReserved);
        this.emit(EVENT_ORDERS_CHANGED, [{ kind: 'orderChanged', order: summaryOf(d), previousStatus: d.status, statusChanged: false, source: 'owner' } satisfies CoreEvent]);
        return structuredClone(d);
      }
      case 'unship_order': {
        const d = this.get(args.jobRef);
        if (!d.shipped) throw fail('notShipped', 'This order is not marked as shipped.');
        const t = iso(this.now());
        Object.assign(d, { shipped: false, shippedAt: null, shippingNote: null, updatedAt: t });
        d.audit.push({ action: 'unshipped', detail: null, at: t, by: null });
        d.ship = demoShipCheck(d, this.settings.settings.shipOnReserved);
        this.emit(EVENT_ORDERS_CHANGED, [{ kind: 'orderChanged', order: summaryOf(d), previousStatus: d.status, statusChanged: false, source: 'owner' } satisfies CoreEvent]);
        return structuredClone(d);
      }
      case 'get_today':
        return this.today(String(args.since), Number(args.utcOffsetMinutes));
      case 'get_health':
        return { ...this.health };
      case 'mark_seen':
        this.health = { ...this.health, unseenPayments: 0 };
        return { ...this.health };
      case 'get_settings':
        return structuredClone(this.settings);
      case 'save_settings': {
        const input = args.input as SettingsInput;
        const s = input.settings;
        if (s.webhookSecret && !/^[A-Za-z0-9_-]{16,128}$/.test(s.webhookSecret)) {
          throw fail('invalidSettings', 'the secret webhook path must be 16 to 128 letters, digits, - or _');
        }
        if (s.tunnel.provider === 'static' && publicUrlProblem(s.tunnel.publicUrl ?? '')) {
          throw fail('invalid', `'${s.tunnel.publicUrl ?? ''}' is not a usable public address`);
        }
        if (s.tunnel.provider === 'bore' && !(s.tunnel.boreRelay ?? '').trim()) {
          throw fail('invalid', "the bore tunnel needs the relay's host");
        }
        const dbProblem = databaseUrlProblem(s.databaseUrl ?? '');
        if (dbProblem) throw fail('invalid', dbProblem);
        // As the Rust side: a password in the URL goes to the keyring, never to the file.
        const typedDbPassword = input.databasePassword || (urlHasPassword(s.databaseUrl ?? '') ? 'from-url' : null);
        s.databaseUrl = s.databaseUrl?.trim() ? withoutPassword(s.databaseUrl.trim()) : null;
        const sharedChanged = s.databaseUrl !== this.settings.settings.databaseUrl;
        const tunnelChanged = JSON.stringify(s.tunnel) !== JSON.stringify(this.settings.settings.tunnel);
        this.settings = {
          ...this.settings,
          settings: structuredClone(s),
          // null keeps the stored ID, "" removes it (as the keyring side does).
          configurationId: input.configurationId === null ? this.settings.configurationId : input.configurationId.trim() || null,
          hasApiKey: this.settings.hasApiKey || !!input.apiKey,
          hasNgrokAuthtoken: this.settings.hasNgrokAuthtoken || !!input.ngrokAuthtoken,
          hasBoreSecret: this.settings.hasBoreSecret || !!input.boreSecret,
          hasDatabasePassword: this.settings.hasDatabasePassword || !!typedDbPassword,
        };
        if (sharedChanged) {
          this.useShared(s.databaseUrl);
          this.emit(EVENT_HEALTH_CHANGED, { ...this.health });
        }
        if (tunnelChanged || this.health.tunnelStatus === 'down') {
          this.applyTunnel(s.tunnel);
          this.emit(EVENT_HEALTH_CHANGED, { ...this.health });
        }
        return structuredClone(this.settings);
      }
      case 'test_database':
        return this.testDatabase(String(args.url ?? ''), (args.password as string | null) ?? null);
      case 'test_connection':
        return this.health.circuitOpen
          ? { ok: false, message: 'The gateway refused the credentials (401). Check the configuration ID and API key.' }
          : { ok: true, message: 'The demo gateway answered and accepted the credentials.' };
      case 'open_mail':
      case 'open_log':
        return null;
      case 'suggest_order_number':
        return this.suggestOrderNumber();
      case 'create_payment_link':
        return structuredClone(this.createLink(args.input as NewPaymentLink));
      case 'cancel_payment_link':
        return structuredClone(this.cancelLink(args.jobRef));
      case 'list_stuck_deliveries':
        return [];
      case 'retry_deliveries':
        throw fail('not_found', 'no dead or unknown delivery');
      case 'get_url_change':
        return this.urlChange ? { ...this.urlChange } : null;
      default:
        throw fail('unknownCommand', `The demo does not know "${command}".`);
    }
  }

  private list(q: OrdersQuery): OrdersPage {
    let rows = [...this.orders.values()].map((o) => summaryOf(o.detail));
    rows = rows.filter(
      (o) =>
        (q.status === null || o.status === q.status) &&
        (q.shipped === null || o.shipped === q.shipped) &&
        (q.from === null || compareInstants(o.firstSeenAt, q.from) >= 0) &&
        (q.to === null || compareInstants(o.firstSeenAt, q.to) < 0),
    );
    const key = (o: OrderSummary): string | number => {
      switch (q.sort) {
        case 'firstSeen':
          return parseInstant(o.firstSeenAt)?.getTime() ?? 0;
        case 'updated':
          return parseInstant(o.updatedAt)?.getTime() ?? 0;
        case 'status':
          return o.status;
        case 'orderNumber':
          return o.orderNumber ?? '';
        case 'amount':
          // The fake may use floats for sorting only; nothing shown comes from this.
          return Number(o.amount ?? 0);
      }
    };
    rows.sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      const c = ka < kb ? -1 : ka > kb ? 1 : a.paymentJobReference < b.paymentJobReference ? -1 : 1;
      return q.ascending ? c : -c;
    });
    // Cursors as the real store words them in spirit: the place of one row (here its job reference).
    const limit = q.limit || rows.length;
    const at = (cursor: string) => rows.findIndex((o) => o.paymentJobReference === JSON.parse(cursor));
    let start = 0;
    if (q.after) start = at(q.after) + 1;
    else if (q.before) start = Math.max(0, at(q.before) - limit);
    else if (q.last) start = Math.max(0, rows.length - limit);
    const end = q.before ? Math.max(0, at(q.before)) : start + limit;
    const orders = rows.slice(start, end);
    const cursor = (o: OrderSummary | undefined) => (o ? JSON.stringify(o.paymentJobReference) : null);
    return {
      orders,
      total: rows.length,
      totalCapped: false,
      prev: start > 0 ? cursor(orders[0]) : null,
      next: start + orders.length < rows.length ? cursor(orders[orders.length - 1]) : null,
    };
  }

  private search(query: string): SearchHit[] {
    const q = query.trim().toLowerCase();
    if (!q) return [];
    const hits: SearchHit[] = [];
    for (const { detail: d } of this.orders.values()) {
      const refs: [RefKind, string][] = [
        ['job', d.paymentJobReference],
        ...d.payments.map((p): [RefKind, string] => ['payment', p.paymentReference]),
        ['orderNumber', d.orderNumber ?? ''],
        ['email', (d.email ?? '').toLowerCase()],
      ];
      const match = (test: (r: string) => boolean) => refs.find(([, r]) => r !== '' && test(r.toLowerCase()));
      const exact = match((r) => r === q);
      const prefix = q.length >= 3 ? match((r) => r.startsWith(q)) : undefined;
      const suffix = q.length >= 3 ? refs.find(([k, r]) => k !== 'email' && r !== '' && r.toLowerCase().endsWith(q)) : undefined;
      const [kind, reference, how]: [RefKind, string, MatchHow] | [undefined, undefined, undefined] = exact
        ? [exact[0], exact[1], 'exact']
        : prefix
          ? [prefix[0], prefix[1], 'prefix']
          : suffix
            ? [suffix[0], suffix[1], 'suffix']
            : [undefined, undefined, undefined];
      if (kind) hits.push({ order: summaryOf(d), kind, how, reference });
    }
    const rank = { exact: 0, prefix: 1, suffix: 2 };
    return hits.sort((a, b) => rank[a.how] - rank[b.how]).slice(0, 20);
  }

  private today(since: string, offset: number): Today {
    const sums = new Map<string, { cents: bigint; count: number }>();
    const hours = Array.from({ length: 24 }, (_, hour) => ({ hour, count: 0 }));
    for (const { detail: d } of this.orders.values()) {
      if (!(d.status === 'Paid' || d.status === 'Verified') || !d.amount || !d.currency) continue;
      if (compareInstants(d.updatedAt, since) < 0) continue;
      const digits = d.currency === 'JPY' ? 0 : 2;
      const [i, f = ''] = d.amount.split('.');
      const minor = BigInt(i + f.padEnd(digits, '0').slice(0, digits));
      const s = sums.get(d.currency) ?? { cents: 0n, count: 0 };
      s.cents += minor;
      s.count += 1;
      sums.set(d.currency, s);
      const local = Math.floor((parseInstant(d.updatedAt)?.getTime() ?? 0) / MIN) + offset;
      hours[Math.floor((((local % 1440) + 1440) % 1440) / 60)].count += 1;
    }
    const takings = [...sums.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([currency, s]) => {
        const digits = currency === 'JPY' ? 0 : 2;
        const text = s.cents.toString().padStart(digits + 1, '0');
        const amount = digits ? `${text.slice(0, -digits)}.${text.slice(-digits)}` : text;
        return { currency, amount, count: s.count };
      });
    return { takings, byHour: hours };
  }
}

/** The demo backend: answers after a short delay, and a shopper pays every 20 s. */
export function createFakeBackend(): Backend {
  const params = new URLSearchParams(location.search);
  const gw = new FakeGateway(() => Date.now(), params.has('trouble'), params.get('tunnel'), params.has('shared'));
  setInterval(() => gw.tick(), 20_000);
  return {
    invoke<T>(command: string, args: Record<string, unknown> = {}): Promise<T> {
      return new Promise((resolve, reject) => {
        setTimeout(() => {
          try {
            resolve(gw.handle(command, args) as T);
          } catch (e) {
            reject(e);
          }
        }, 60);
      });
    },
    listen<T>(event: string, handler: (payload: T) => void): Promise<Unlisten> {
      return Promise.resolve(gw.listen(event, (p) => handler(p as T)));
    },
  };
}
