// Payment links the owner creates in the window: the form's checks, driven by the Rust
// side's limits and currencies (from the bindings; the Rust side checks again), and the
// e-mail to the customer. Whether a link can be cancelled is the order's `cancellable` flag.

import { EMAIL_MAX_LEN, LINK_CURRENCIES, NOTE_MAX_LEN, ORDER_NUMBER_MAX_LEN, type NewPaymentLink } from './bindings';
import { currencyDigits, formatMoney } from './money';

export { LINK_CURRENCIES };

export interface LinkForm {
  amount: string;
  currency: string;
  orderNumber: string;
  email: string;
  note: string;
}

export type LinkField = 'amount' | 'currency' | 'orderNumber' | 'email' | 'note';
export type LinkProblems = Partial<Record<LinkField, string>>;

/** Why the amount cannot be charged in the currency, or null when it can. */
export function amountProblem(text: string, currency: string): string | null {
  const t = text.trim();
  if (t === '') return 'Enter the amount to collect, e.g. 12.50.';
  if (t.startsWith('-')) return 'The amount must be more than zero.';
  if (t.includes(',')) {
    return 'Write the amount with a point and no thousands separators, e.g. 1234.50.';
  }
  if (!/^\d*\.?\d*$/.test(t) || !/\d/.test(t)) return `“${t}” is not an amount: use digits and one point, e.g. 12.50.`;
  const [whole, frac = ''] = t.split('.');
  if (/^0*$/.test(whole) && /^0*$/.test(frac)) return 'The amount must be more than zero.';
  // Trailing zeros do not count: 12.500 is 12.50 (the Rust side normalises the same way).
  const decimals = frac.replace(/0+$/, '').length;
  const digits = currencyDigits(currency);
  if (decimals > digits) {
    return digits === 0
      ? `${currency} amounts are whole numbers: no decimals.`
      : `${currency} amounts have at most ${digits} decimals, e.g. 12.50.`;
  }
  return null;
}

/** The Rust side's `validate_order_number`: the order number goes into a URL path at the gateway. */
export function orderNumberProblem(text: string): string | null {
  const t = text.trim();
  if (t === '') return 'Enter an order number.';
  if (t.length > ORDER_NUMBER_MAX_LEN) return `The order number can be at most ${ORDER_NUMBER_MAX_LEN} characters long.`;
  if (!/^[A-Za-z0-9._-]+$/.test(t)) {
    return "The order number may hold only letters, digits, '-', '_' and '.' (no spaces or slashes).";
  }
  return null;
}

/** The Rust side's `validate_email`: something@host.tld, no spaces. */
export function emailProblem(text: string): string | null {
  const t = text.trim();
  if (t === '') return 'Enter the customer’s e-mail address.';
  const at = t.indexOf('@');
  const user = at < 0 ? '' : t.slice(0, at);
  const host = at < 0 ? '' : t.slice(at + 1);
  const ok =
    t.length <= EMAIL_MAX_LEN && !/\s/.test(t) && user !== '' && host.includes('.') && !host.startsWith('.') && !host.endsWith('.');
  return ok ? null : `“${t}” does not look like an e-mail address, e.g. name@example.com.`;
}

export function currencyProblem(currency: string): string | null {
  return LINK_CURRENCIES.includes(currency) ? null : 'Choose a currency from the list.';
}

/** Every problem of the form, by field; empty when it can be sent. */
export function linkProblems(form: LinkForm): LinkProblems {
  const out: LinkProblems = {};
  const currency = currencyProblem(form.currency);
  if (currency) out.currency = currency;
  const amount = amountProblem(form.amount, form.currency);
  if (amount) out.amount = amount;
  const order = orderNumberProblem(form.orderNumber);
  if (order) out.orderNumber = order;
  const email = emailProblem(form.email);
  if (email) out.email = email;
  if (form.note.length > NOTE_MAX_LEN) out.note = `The note can be at most ${NOTE_MAX_LEN} characters long.`;
  return out;
}

/** "12." → "12", ".5" → "0.5": what was typed, in the form the gateway reads. */
export function normaliseAmount(text: string): string {
  let t = text.trim();
  if (t.endsWith('.')) t = t.slice(0, -1);
  if (t.startsWith('.')) t = `0${t}`;
  return t;
}

/** What the window sends to `create_payment_link`, from a form without problems. */
export function toNewPaymentLink(form: LinkForm): NewPaymentLink {
  const note = form.note.trim();
  return {
    amount: normaliseAmount(form.amount),
    currency: form.currency,
    orderNumber: form.orderNumber.trim(),
    email: form.email.trim(),
    note: note === '' ? null : note,
  };
}

export interface LinkMail {
  email: string;
  orderNumber: string | null;
  amount: string | null;
  currency: string | null;
  link: string;
}

/** Percent-encodes the address's parts around its @, which mail programs want as it is. */
function encodeAddress(email: string): string {
  const at = email.lastIndexOf('@');
  if (at < 0) return encodeURIComponent(email);
  return `${encodeURIComponent(email.slice(0, at))}@${encodeURIComponent(email.slice(at + 1))}`;
}

/** Subject and body of the e-mail that sends the link to the customer. */
export function linkMailText(m: LinkMail): { subject: string; body: string } {
  const order = m.orderNumber?.trim() || null;
  const subject = order ? `Payment link for order ${order}` : 'Payment link for your order';
  const amount = m.amount ? formatMoney(m.amount, m.currency) : null;
  const what = [amount ? `pay ${amount}` : 'pay', order ? `for order ${order}` : 'for your order'].join(' ');
  const body = [
    'Hello,',
    '',
    `Here is the secure link to ${what}:`,
    '',
    m.link,
    '',
    'The page is run by Cashflows, our card payment provider.',
    '',
    'Thank you!',
  ].join('\n');
  return { subject, body };
}

/**
 * A mailto: address that opens the owner's mail program with the e-mail ready. Every part
 * is percent-encoded (RFC 6068), line breaks as CRLF.
 */
export function linkMailto(m: LinkMail): string {
  const { subject, body } = linkMailText(m);
  const enc = (s: string): string => encodeURIComponent(s.replace(/\r?\n/g, '\r\n'));
  return `mailto:${encodeAddress(m.email.trim())}?subject=${enc(subject)}&body=${enc(body)}`;
}
