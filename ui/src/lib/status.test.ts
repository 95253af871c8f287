import { describe, expect, it } from 'vitest';
import { chipClass, shipCheck, statusTone } from './status';

describe('status chips', () => {
  it('colours statuses', () => {
    expect(chipClass('Paid')).toBe('chip chip-paid');
    expect(chipClass('Verified')).toBe('chip chip-paid');
    expect(chipClass('Pending')).toBe('chip chip-waiting');
    expect(chipClass('Reserved')).toBe('chip chip-waiting');
    for (const s of ['Failed', 'Declined', 'Rejected', 'Blocked']) expect(statusTone(s)).toBe('failed');
    for (const s of ['Cancelled', 'Expired']) expect(statusTone(s)).toBe('neutral');
  });

  it('shows unknown words in neutral grey', () => {
    expect(chipClass('Chargeback')).toBe('chip chip-neutral');
    expect(chipClass('paid')).toBe('chip chip-neutral');
    expect(chipClass('')).toBe('chip chip-neutral');
    expect(chipClass(null)).toBe('chip chip-neutral');
    expect(chipClass('constructor')).toBe('chip chip-neutral');
  });
});

describe('shipCheck', () => {
  it('lets Paid and Verified ship', () => {
    expect(shipCheck('Paid', false, false)).toEqual({ allowed: true });
    expect(shipCheck('Verified', false, false)).toEqual({ allowed: true });
  });

  it('ships Reserved only when the shop allows it', () => {
    const no = shipCheck('Reserved', false, false);
    expect(no.allowed).toBe(false);
    if (!no.allowed) expect(no.reason).toMatch(/^Can't ship yet: payment is Reserved/);
    expect(shipCheck('Reserved', false, true)).toEqual({ allowed: true });
  });

  it('says why an unpaid order cannot ship', () => {
    expect(shipCheck('Pending', false, true)).toEqual({ allowed: false, reason: "Can't ship yet: payment is Pending" });
    expect(shipCheck('Failed', false, true)).toEqual({ allowed: false, reason: "Can't ship: payment is Failed, no money was taken" });
    expect(shipCheck('Cancelled', false, false).allowed).toBe(false);
    expect(shipCheck('Chargeback', false, true)).toEqual({ allowed: false, reason: "Can't ship yet: payment is Chargeback" });
  });

  it('never ships twice', () => {
    expect(shipCheck('Paid', true, false)).toEqual({ allowed: false, reason: 'Already marked as shipped' });
  });
});
