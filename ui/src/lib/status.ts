// Payment statuses as the gateway words them, and their colours. Whether an order may ship
// is the Rust rule's answer (`OrderDetail.ship`), never decided here.

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
