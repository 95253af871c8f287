// Generated from the Rust types by src-tauri/src/bindings.rs. Do not edit.

export type OrderSummary = { paymentJobReference: string, orderNumber: string | null, email: string | null, status: string, amount: string | null, currency: string | null, attempts: number, shipped: boolean, shippedAt: string | null, createdHere: boolean, 
/**
 * Why the gateway's answer disagrees with the job we created, if it does.
 */
mismatch: string | null, firstSeenAt: string, updatedAt: string, 
/**
 * What the payments that count as received took (a Cancelled one took nothing);
 * `None` where the store has not counted it yet.
 */
paidAmount: string | null, 
/**
 * Completed refunds.
 */
refundedAmount: string, 
/**
 * Refunds asked for and not ended yet (never counted as refunded).
 */
refundPendingAmount: string, 
/**
 * When a Reserved payment's authorisation runs out unless captured (7 days from
 * the gateway's time of the authorisation).
 */
captureBy: string | null, } & OrderFlags;

export type OrderDetail = { 
/**
 * Whether the shop's shipping rule lets this order ship now, and why not.
 */
ship: ShipCheck, shippingNote: string | null, paymentLink: string | null, lastConfirmedAt: string | null, payments: Array<Attempt>, deliveries: Array<DeliveryView>, statusEvents: Array<StatusEventView>, audit: Array<AuditView>, 
/**
 * Its refunds, oldest first: a Failed one says why and never counts as refunded.
 */
refunds: Array<MoneyMoveView>, 
/**
 * Its captures, oldest first.
 */
captures: Array<MoneyMoveView>, 
/**
 * The gateway's last answer for the job, as it came.
 */
rawLastAnswer: unknown, paymentJobReference: string, orderNumber: string | null, email: string | null, status: string, amount: string | null, currency: string | null, attempts: number, shipped: boolean, shippedAt: string | null, createdHere: boolean, 
/**
 * Why the gateway's answer disagrees with the job we created, if it does.
 */
mismatch: string | null, firstSeenAt: string, updatedAt: string, 
/**
 * What the payments that count as received took (a Cancelled one took nothing);
 * `None` where the store has not counted it yet.
 */
paidAmount: string | null, 
/**
 * Completed refunds.
 */
refundedAmount: string, 
/**
 * Refunds asked for and not ended yet (never counted as refunded).
 */
refundPendingAmount: string, 
/**
 * When a Reserved payment's authorisation runs out unless captured (7 days from
 * the gateway's time of the authorisation).
 */
captureBy: string | null, } & OrderFlags;

export type OrderFlags = { 
/**
 * A payment link created here that nobody has paid yet: it can still be cancelled.
 */
cancellable: boolean, 
/**
 * The status can no longer change without the owner acting (`PaymentStatus::is_final`).
 */
final: boolean, 
/**
 * Paid less completed refunds (`OrderSummary::net_amount`).
 */
netAmount: string | null, moneyState: MoneyState, };

export type ShipCheck = { allowed: boolean, 
/**
 * Why not, in the owner's words.
 */
reason: string | null, 
/**
 * `ShipRefusal::code`.
 */
code: string | null, 
/**
 * An audited override with a reason lifts the refusal (`ShipRefusal::overridable`:
 * a mismatch, a partial refund).
 */
overridable: boolean, };

export type Attempt = { paymentReference: string, attempt: number, status: string, amount: string | null, failureCode: string | null, failureReason: string | null, createdAt: string | null, updatedAt: string, };

export type DeliveryView = { id: number, receivedAt: string, paymentReference: string | null, responseStatus: number, state: DeliveryState, outcome: string | null, };

export type DeliveryState = "pending" | "confirmed" | "unknown" | "dead" | "malformed";

export type StuckDelivery = { id: number, receivedAt: string, paymentJobReference: string, paymentReference: string, state: DeliveryState, 
/**
 * Confirmation attempts made.
 */
attempts: number, 
/**
 * The gateway's last answer, in words.
 */
lastError: string | null, outcome: string | null, settledAt: string | null, };

export type StatusEventView = { paymentReference: string | null, from: string | null, to: string, source: ChangeSource, at: string, };

export type AuditView = { action: string, detail: string | null, 
/**
 * Who did it (user and machine), where known.
 */
by: string | null, at: string, };

export type MoneyMoveView = { kind: MoveKind, paymentReference: string, 
/**
 * The gateway's reference of it, once it gave one.
 */
reference: string | null, refundNumber: string | null, amount: string, status: MoveStatus, 
/**
 * The gateway's time of it.
 */
createdAt: string | null, 
/**
 * Who asked (user@machine); `None` when learnt from the gateway (made elsewhere).
 */
by: string | null, 
/**
 * Why it failed, in the gateway's words.
 */
failure: string | null, source: ChangeSource, };

export type MoveKind = "capture" | "refund" | "cancel";

export type MoveStatus = "Pending" | "Completed" | "Failed";

export type MoneyState = "none" | "partlyRefunded" | "refunded";

export type ChangeSource = "notification" | "poll" | "owner";

export type CoreEvent = { "kind": "orderChanged", order: OrderSummary, 
/**
 * The order's own status before this change; `None` when first seen.
 */
previousStatus: string | null, 
/**
 * `true` when the order's own status changed (not only an attempt's).
 */
statusChanged: boolean, source: ChangeSource, } | { "kind": "deliveryReceived", receivedAt: string, } | { "kind": "deliverySettled", paymentJobReference: string, paymentReference: string, state: DeliveryState, } | { "kind": "reconcileFinished" } & ReconcileReport | { "kind": "moneyMoved", order: OrderSummary, moveKind: MoveKind, refundNumber: string | null, amount: string, 
/**
 * `None` when first seen.
 */
from: MoveStatus | null, to: MoveStatus, failure: string | null, 
/**
 * The owner's words for it.
 */
words: string, source: ChangeSource, };

export type ReconcileReport = { at: string, checked: number, 
/**
 * Jobs whose status changed: caught up by polling.
 */
caughtUp: number, failed: number, };

export type OrderSort = "firstSeen" | "updated" | "status" | "orderNumber" | "amount";

export type OrdersQuery = { status: string | null, shipped: boolean | null, 
/**
 * ISO-8601 instant: first seen at or after.
 */
from: string | null, 
/**
 * ISO-8601 instant: first seen before.
 */
to: string | null, sort: OrderSort, ascending: boolean, limit: number, 
/**
 * `OrdersPage::next` of the page before: the rows after it.
 */
after: string | null, 
/**
 * `OrdersPage::prev` of the page after: the rows before it.
 */
before: string | null, 
/**
 * The end of the list.
 */
last: boolean, };

export type OrdersPage = { orders: Array<OrderSummary>, 
/**
 * All orders matching the filter, for the pager.
 */
total: number, 
/**
 * `total` is a lower bound: more than this many match ("10,000+").
 */
totalCapped: boolean, 
/**
 * Where the next page starts (`OrdersQuery::after`); `null` at the end.
 */
next: string | null, 
/**
 * Where the previous page ends (`OrdersQuery::before`); `null` at the start.
 */
prev: string | null, };

export type SearchHit = { order: OrderSummary, kind: RefKind, how: MatchHow, 
/**
 * The whole reference that matched (an e-mail in lower case).
 */
reference: string, };

export type RefKind = "job" | "payment" | "orderNumber" | "email";

export type MatchHow = "exact" | "prefix" | "suffix";

export type Takings = { currency: string, 
/**
 * Decimal text, e.g. "1234.50".
 */
amount: string, count: number, };

export type HourBucket = { 
/**
 * Local hour of the day, 0–23.
 */
hour: number, count: number, };

export type Today = { takings: Array<Takings>, 
/**
 * Paid orders per local hour, all 24 hours.
 */
byHour: Array<HourBucket>, };

export type Health = { demo: boolean, environment: string, listenerUp: boolean, 
/**
 * Why the listener is not up, in words.
 */
listenerError: string | null, 
/**
 * The shared database this window shows (no password): the server's Tillwatch takes
 * the notifications, this window runs no listener.
 */
sharedDatabase: string | null, 
/**
 * On a shared database: the machine whose `tillwatch serve` takes the notifications,
 * as the database last saw it; `None` when no serve was ever seen there.
 */
notificationsBy: ServeSeen | null, 
/**
 * The URL the gateway must post to (local until a tunnel gives a public one).
 */
webhookUrl: string | null, publicUrl: string | null, 
/**
 * Tunnel state in words, when a tunnel is configured.
 */
tunnel: string | null, 
/**
 * The tunnel state's tag: localOnly, connecting, up, down or stopped.
 */
tunnelStatus: string | null, gatewayUrl: string | null, 
/**
 * Calls stopped after the gateway refused our credentials.
 */
circuitOpen: boolean, circuitReason: string | null, 
/**
 * Acknowledged notifications still waiting for the gateway's confirmation.
 */
inboxBacklog: number, 
/**
 * Acknowledged notifications Tillwatch gave up on: they wait for the owner.
 */
deadDeliveries: number, lastNotificationAt: string | null, lastReconcileAt: string | null, 
/**
 * How many orders the last reconciliation caught up.
 */
lastReconcileCaughtUp: number | null, unseenPayments: number, };

export type ServeSeen = { machine: string, 
/**
 * Running now: it said it was there within the last 90 s and has not stopped.
 */
online: boolean, lastSeenAt: string, 
/**
 * When it last confirmed a notification with the gateway.
 */
lastConfirmedAt: string | null, 
/**
 * Other serves running on the same database (they share the work).
 */
otherServes: number, };

export type IpcError = { code: string, message: string, };

export type Environment = "demo" | "integration" | "production" | "custom";

export type Settings = { environment: Environment, 
/**
 * The gateway's base URL when `environment` is custom.
 */
customUrl: string | null, listenPort: number, 
/**
 * Optional secret path segment of the webhook URL.
 */
webhookSecret: string | null, shipOnReserved: boolean, alerts: boolean, startAtLogin: boolean, 
/**
 * Pages of the shop the shopper's browser returns to after paying a link.
 */
returnUrls: ReturnUrls, 
/**
 * How the gateway reaches this computer.
 */
tunnel: TunnelSettings, 
/**
 * The largest amount a payment link may ask for, in the link's currency (decimal
 * text): a guard against a slipped finger, not a business limit.
 */
maxLinkAmount: string, 
/**
 * Days a settled delivery is kept before it is pruned.
 */
deliveryRetentionDays: number, 
/**
 * Accept notifications only from these addresses (empty: any). `integration` and
 * `production` stand for Cashflows' published addresses.
 */
allowFrom: Array<string>, 
/**
 * Proxies whose X-Forwarded-For names the real sender.
 */
trustedProxies: Array<string>, 
/**
 * A PostgreSQL database shared with other machines (`postgres://user@host/db`), in
 * place of this machine's own file. Never with a password: that is in the keyring.
 */
databaseUrl: string | null, };

export type SettingsView = { settings: Settings, configurationId: string | null, hasApiKey: boolean, 
/**
 * False where no OS keyring exists; `keyring_message` says what to do.
 */
keyringAvailable: boolean, keyringMessage: string | null, 
/**
 * Credentials come from TILLWATCH_* environment variables and override the keyring.
 */
credentialsFromEnv: boolean, hasNgrokAuthtoken: boolean, hasBoreSecret: boolean, 
/**
 * A shared database's password is kept in the keyring.
 */
hasDatabasePassword: boolean, 
/**
 * TILLWATCH_DATABASE_URL is set: it wins over the URL saved here.
 */
databaseUrlFromEnv: boolean, 
/**
 * TILLWATCH_DATABASE_PASSWORD (or PGPASSWORD) is set: it wins over the keyring.
 */
databasePasswordFromEnv: boolean, };

export type SettingsInput = { settings: Settings, configurationId: string | null, apiKey: string | null, 
/**
 * Absent: keep the stored one.
 */
ngrokAuthtoken: string | null, boreSecret: string | null, 
/**
 * The shared database's password. Absent or empty: keep the stored one.
 */
databasePassword: string | null, };

export type ConnectionTest = { ok: boolean, message: string, };

export type DatabaseTest = { ok: boolean, stages: Array<DatabaseTestStage>, 
/**
 * The schema version found, once the server let us ask.
 */
schemaVersion: number | null, };

export type DatabaseTestStage = { stage: string, passed: boolean, detail: string, };

export type NewPaymentLink = { 
/**
 * Decimal text, e.g. "12.50".
 */
amount: string, currency: string, orderNumber: string, email: string, note: string | null, };

export type ReturnUrls = { success: string | null, failed: string | null, cancelled: string | null, };

export type TunnelSettings = { provider: ProviderKind, 
/**
 * Static: the public base URL of the owner's reverse proxy or port forward.
 */
publicUrl: string | null, 
/**
 * Bore: the relay's host.
 */
boreRelay: string | null, 
/**
 * Ngrok: the owner's free static domain.
 */
ngrokDomain: string | null, };

export type ProviderKind = "none" | "static" | "ngrok" | "bore";

export type UrlChange = { 
/**
 * The webhook address before (`None` the first time one is known).
 */
previousWebhookUrl: string | null, 
/**
 * The address to copy into the Cashflows portal.
 */
webhookUrl: string, publicUrl: string, 
/**
 * What happened and what to do, for the owner, prominently, with a copy button.
 */
message: string, at: string, };

export const EVENT_ORDERS_CHANGED = "orders-changed";
export const EVENT_HEALTH_CHANGED = "health-changed";
export const EVENT_TUNNEL_URL_CHANGED = "tunnel-url-changed";
export const EVENT_ORDERS_MISSED = "orders-missed";

/** Minor-unit digits of the currencies a payment link may ask for. */
export const CURRENCY_DIGITS: Readonly<Record<string, number>> = {"AUD":2,"CAD":2,"CHF":2,"CZK":2,"DKK":2,"EUR":2,"GBP":2,"HUF":2,"JPY":0,"NOK":2,"NZD":2,"PLN":2,"SEK":2,"USD":2};
/** Minor-unit digits of any other currency. */
export const DEFAULT_CURRENCY_DIGITS = 2;
/** The currencies a payment link may ask for, GBP first. */
export const LINK_CURRENCIES: readonly string[] = ["GBP","EUR","USD","CHF","SEK","NOK","DKK","PLN","CZK","HUF","CAD","AUD","NZD","JPY"];
export const ORDER_NUMBER_MAX_LEN = 50;
export const EMAIL_MAX_LEN = 254;
export const NOTE_MAX_LEN = 500;
/** Statuses after which a job no longer changes (`PaymentStatus::is_final`). */
export const FINAL_STATUSES: readonly string[] = ["Paid","Verified","Cancelled","Failed","Declined","Rejected","Blocked","Expired"];
export const MAX_RETENTION_DAYS = 3650;
export const SECRET_MIN_LEN = 16;
export const SECRET_MAX_LEN = 128;
export const BORE_CONTROL_PORT = 7835;
