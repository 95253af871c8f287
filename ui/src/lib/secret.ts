// The secret path segment of the webhook URL: 24 random URL-safe characters.

import { SECRET_MAX_LEN, SECRET_MIN_LEN } from './bindings';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** 64 symbols, so a byte masked to 6 bits picks one without bias. */
export function generateSecret(length = 24, random: (bytes: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b)): string {
  const bytes = random(new Uint8Array(length));
  let out = '';
  for (const b of bytes) out += ALPHABET[b & 63];
  return out;
}

/** The listener's `validate_secret`, with its lengths: SECRET_MIN_LEN–SECRET_MAX_LEN of A-Z a-z 0-9 - _. */
export function secretProblem(secret: string): string | null {
  if (secret === '') return null;
  if (secret.length < SECRET_MIN_LEN || secret.length > SECRET_MAX_LEN) {
    return `The secret webhook path must be ${SECRET_MIN_LEN} to ${SECRET_MAX_LEN} characters long.`;
  }
  if (!/^[A-Za-z0-9_-]+$/.test(secret)) return 'The secret webhook path may hold only letters, digits, - and _.';
  return null;
}

export function portProblem(text: string): string | null {
  if (!/^\d+$/.test(text.trim())) return 'The listener port must be a whole number from 1 to 65535.';
  const n = Number(text.trim());
  return n >= 1 && n <= 65535 ? null : 'The listener port must be a whole number from 1 to 65535.';
}

export function customUrlProblem(url: string): string | null {
  const t = url.trim();
  if (t === '') return 'Enter the gateway address for a custom environment, e.g. https://gateway.example.com.';
  try {
    const u = new URL(t);
    // `GatewayEnvironment::parse`'s rule: plain http only to a gateway on this computer.
    const loopback = u.hostname === 'localhost' || u.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(u.hostname);
    if (u.protocol === 'http:' && !loopback) return 'The gateway address must start with https:// (plain http:// only for a gateway on this computer).';
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return 'The gateway address must start with https://.';
  } catch {
    return 'The gateway address is not a valid URL, e.g. https://gateway.example.com.';
  }
  return null;
}

/** An optional page address: empty, or an http(s) URL. */
export function optionalUrlProblem(url: string): string | null {
  const t = url.trim();
  if (t === '') return null;
  try {
    const u = new URL(t);
    if (u.protocol === 'https:' || u.protocol === 'http:') return null;
  } catch {
    // fall through
  }
  return 'enter a full address starting with https://, or leave it empty.';
}
