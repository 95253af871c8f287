// Settings of who may post notifications and how long settled ones are kept. The Rust
// side validates the addresses; these only shape the form's text.

import { MAX_RETENTION_DAYS } from './bindings';

export function retentionProblem(text: string): string | null {
  const t = text.trim();
  const n = Number(t);
  return /^\d+$/.test(t) && n >= 1 && n <= MAX_RETENTION_DAYS
    ? null
    : `Keep settled deliveries for a whole number of days from 1 to ${MAX_RETENTION_DAYS}.`;
}

/** "a, b,,c " → ["a", "b", "c"] */
export function addressList(text: string): string[] {
  return text
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
