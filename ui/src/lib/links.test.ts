import { describe, expect, it } from 'vitest';
import {
  amountProblem,
  emailProblem,
  LINK_CURRENCIES,
  linkMailText,
  linkMailto,
  linkProblems,
  orderNumberProblem,
  toNewPaymentLink,
} from './links';

const form = { amount: '12.50', currency: 'GBP', orderNumber: '1042', email: 'amelia@example.co.uk', note: '' };

describe('payment link form', () => {
  it('offers GBP first and JPY among the currencies', () => {
    expect(LINK_CURRENCIES[0]).toBe('GBP');
    expect(LINK_CURRENCIES).toHaveLength(14);
    expect(LINK_CURRENCIES).toContain('JPY');
  });

  it('takes amounts above zero with at most two decimals in pound-like currencies', () => {
    for (const ok of ['12.50', '12.5', '12', '0.01', '.5', '12.', '1000000', '12.500', ' 7.25 ']) {
      expect(amountProblem(ok, 'GBP'), ok).toBeNull();
    }
    expect(amountProblem('12.505', 'EUR')).toBe('EUR amounts have at most 2 decimals, e.g. 12.50.');
    expect(amountProblem('0', 'GBP')).toMatch(/more than zero/);
    expect(amountProblem('0.00', 'USD')).toMatch(/more than zero/);
    expect(amountProblem('-5', 'GBP')).toMatch(/more than zero/);
    expect(amountProblem('', 'GBP')).toMatch(/Enter the amount/);
    expect(amountProblem('1,234.50', 'GBP')).toMatch(/no thousands separators/);
    expect(amountProblem('12,50', 'EUR')).toMatch(/with a point/);
    expect(amountProblem('£12', 'GBP')).toMatch(/not an amount/);
    expect(amountProblem('1e3', 'GBP')).toMatch(/not an amount/);
    expect(amountProblem('1.2.3', 'GBP')).toMatch(/not an amount/);
    expect(amountProblem('.', 'GBP')).toMatch(/not an amount/);
  });

  it('takes only whole yen', () => {
    expect(amountProblem('1500', 'JPY')).toBeNull();
    expect(amountProblem('1500.0', 'JPY')).toBeNull();
    expect(amountProblem('1500.5', 'JPY')).toBe('JPY amounts are whole numbers: no decimals.');
    expect(amountProblem('0.5', 'JPY')).toMatch(/whole numbers/);
  });

  it('checks order numbers as the gateway path needs them', () => {
    expect(orderNumberProblem('1042')).toBeNull();
    expect(orderNumberProblem('TW-1042.b_2')).toBeNull();
    expect(orderNumberProblem('x'.repeat(50))).toBeNull();
    expect(orderNumberProblem('')).toMatch(/Enter an order number/);
    expect(orderNumberProblem('x'.repeat(51))).toMatch(/at most 50/);
    expect(orderNumberProblem('10/42')).toMatch(/only letters, digits/);
    expect(orderNumberProblem('10 42')).toMatch(/only letters, digits/);
    expect(orderNumberProblem('Bestellung-ä')).toMatch(/only letters, digits/);
  });

  it('checks the e-mail shape as the Rust side does', () => {
    expect(emailProblem('a@example.com')).toBeNull();
    expect(emailProblem(' a.b+shop@mail.example.co.uk ')).toBeNull();
    expect(emailProblem('a@example')).toMatch(/does not look like an e-mail/);
    expect(emailProblem('@example.com')).toMatch(/does not look like/);
    expect(emailProblem('a b@example.com')).toMatch(/does not look like/);
    expect(emailProblem('a@.example.com')).toMatch(/does not look like/);
    expect(emailProblem('a@example.com.')).toMatch(/does not look like/);
    expect(emailProblem('')).toMatch(/Enter the customer/);
  });

  it('collects problems by field and sends a clean link', () => {
    expect(linkProblems(form)).toEqual({});
    const bad = linkProblems({ ...form, amount: '3.5', currency: 'JPY', orderNumber: 'a/b', email: 'nobody' });
    expect(Object.keys(bad).sort()).toEqual(['amount', 'email', 'orderNumber']);
    expect(linkProblems({ ...form, currency: 'XYZ' }).currency).toMatch(/Choose a currency/);
    expect(toNewPaymentLink({ ...form, amount: ' .5 ', orderNumber: ' 1042 ', email: ' a@b.co ', note: '  ' })).toEqual({
      amount: '0.5',
      currency: 'GBP',
      orderNumber: '1042',
      email: 'a@b.co',
      note: null,
    });
    expect(toNewPaymentLink({ ...form, note: ' blue mug ' }).note).toBe('blue mug');
  });
});

describe('payment link e-mail', () => {
  const mail = {
    email: 'amelia@example.co.uk',
    orderNumber: '1042',
    amount: '12.5',
    currency: 'GBP',
    link: 'https://gateway.example/hpp/260112400000000123?lang=en&x=1',
  };

  it('says what to pay, for which order, and where', () => {
    const { subject, body } = linkMailText(mail);
    expect(subject).toBe('Payment link for order 1042');
    expect(body).toContain('pay £12.50 for order 1042');
    expect(body).toContain(mail.link);
  });

  it('builds a mailto address with every part encoded', () => {
    const href = linkMailto(mail);
    expect(href.startsWith('mailto:amelia@example.co.uk?subject=Payment%20link%20for%20order%201042&body=')).toBe(true);
    const body = href.slice(href.indexOf('&body=') + 6);
    // The link's own ? & = must not end the body or start a new header.
    expect(body).not.toMatch(/[?&=# ]/);
    expect(body).toContain('%C2%A312.50');
    expect(body).toContain('%0D%0A');
    expect(decodeURIComponent(body)).toContain(`\r\n${mail.link}\r\n`);
    const url = new URL(href);
    expect(url.protocol).toBe('mailto:');
    expect(url.searchParams.get('subject')).toBe('Payment link for order 1042');
  });

  it('encodes an address with odd characters around its @', () => {
    const href = linkMailto({ ...mail, email: 'o&brien+shop@example.com', orderNumber: 'A&B', currency: 'JPY', amount: '1500' });
    expect(href.startsWith('mailto:o%26brien%2Bshop@example.com?subject=Payment%20link%20for%20order%20A%26B&')).toBe(true);
    expect(decodeURIComponent(href.split('&body=')[1])).toContain('pay 1,500 JPY for order A&B');
  });
});

// Which links can be cancelled is the order's `cancellable` flag, decided in the core: its
// test (every status, and links not made here) is `domain::order`'s
// `only_unfinished_links_created_here_can_be_cancelled`.
