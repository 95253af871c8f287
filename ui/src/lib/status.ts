// Payment statuses as the gateway words them, their colours, and who may ship what.

export type Tone = 'paid' | 'waiting' | 'failed' | 'neutral';

const TONES: ReadonlyMap<string, Tone> = new Map<string, Tone>([
  ['Paid', 'paid'],
  ['Verified', 'paid'],
  ['Pending', 'waiting'],
  ['Reserved', 'waiting'],
  // Undocumented by the gateway; the Rust side treats it as still in progress.
  ['Commissioned', 'waiting'],
  ['Failed', 'failed'],
  ['Declined', 'failed'],
  ['Rejected', 'failed'],
  ['Blocked', 'failed'],
  ['Cancelled', 'neutral'],
  ['Expired', 'neutral'],
]);

/** The statuses the gateway documents, for the orders filter. */
export const KNOWN_STATUSES: readonly string[] = [
  'Paid',
  'Verified',
  'Reserved',
  'Pending',
  'Commissioned',
  'Failed',
  'Declined',
  'Rejected',
  'Blocked',
  'Cancelled',
  'Expired',
];

/** Green for paid, amber for in progress, red for refused; grey for the rest and unknown words. */
export function statusTone(status: string | null | undefined): Tone {
  if (!status) return 'neutral';
  return TONES.get(status) ?? 'neutral';
}

/** The classes of a status chip: `chip chip-paid` and so on. */
export function chipClass(status: string | null | undefined): string {
  return `chip chip-${statusTone(status)}`;
}

/** Money has been taken (or verified as good). */
export function isPaid(status: string): boolean {
  return status === 'Paid' || status === 'Verified';
}

export type ShipCheck = { allowed: true } | { allowed: false; reason: string };

/**
 * The same rule as the Rust side's `may_ship`: Paid or Verified ship; Reserved only when
 * the shop ships on Reserved; nothing ships twice.
 */
export function shipCheck(status: string, shipped: boolean, shipOnReserved: boolean): ShipCheck {
  if (shipped) return { allowed: false, reason: 'Already marked as shipped' };
  if (isPaid(status)) return { allowed: true };
  if (status === 'Reserved') {
    if (shipOnReserved) return { allowed: true };
    return {
      allowed: false,
      reason:
        "Can't ship yet: payment is Reserved (authorised, not yet taken). Shipping on Reserved is off in Settings.",
    };
  }
  if (statusTone(status) === 'failed' || status === 'Cancelled' || status === 'Expired') {
    return { allowed: false, reason: `Can't ship: payment is ${status}, no money was taken` };
  }
  return { allowed: false, reason: `Can't ship yet: payment is ${status || 'unknown'}` };
}
