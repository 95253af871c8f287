import { describe, expect, it } from 'vitest';
import { chipClass, statusTone } from './status';

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
