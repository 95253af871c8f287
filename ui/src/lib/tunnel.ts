// How the gateway reaches this computer: the providers in owner words, the checks the
// settings form makes before saving, the tunnel's state as a colour, and URL changes.

import { BORE_CONTROL_PORT, type Health, type ProviderKind, type UrlChange } from './bindings';

export const PROVIDERS: readonly { value: ProviderKind; label: string; help: string }[] = [
  {
    value: 'none',
    label: 'Nothing: this computer only',
    help: 'Only this computer can reach Tillwatch: fine for the demo, but Cashflows cannot deliver notifications.',
  },
  {
    value: 'static',
    label: 'My own public address',
    help: 'Your own reverse proxy or port forward',
  },
  {
    value: 'ngrok',
    label: 'ngrok',
    help: 'Free static domain from ngrok.com; Tillwatch keeps the tunnel up',
  },
  {
    value: 'bore',
    label: 'bore relay',
    help: 'Your own bore relay',
  },
];

export function providerHelp(provider: ProviderKind): string {
  return PROVIDERS.find((p) => p.value === provider)?.help ?? '';
}

/** green: reachable; amber: on its way; red: notifications cannot arrive; grey: no tunnel. */
export type TunnelTone = 'ok' | 'warn' | 'bad' | 'off';

/** The colour of the tunnel's state tag (localOnly, connecting, up, down, stopped). */
export function tunnelTone(status: string | null | undefined): TunnelTone {
  switch (status) {
    case 'up':
      return 'ok';
    case 'connecting':
      return 'warn';
    case 'down':
      return 'bad';
    default:
      return 'off';
  }
}

/** A few words for the health bar; the full sentence goes in its tooltip. */
export function tunnelHeadline(status: string | null | undefined): string {
  switch (status) {
    case 'up':
      return 'Tunnel up';
    case 'connecting':
      return 'Tunnel connecting…';
    case 'down':
      return 'Tunnel down';
    case 'localOnly':
      return 'Local only';
    case 'stopped':
      return 'Tunnel stopped';
    default:
      return 'Tunnel';
  }
}

/** The state's words after the headline, without saying "connecting" twice. */
export function tunnelDetail(status: string | null | undefined, words: string | null | undefined): string {
  const w = (words ?? '').trim();
  if (status === 'connecting') return w.replace(/^connecting\s*/i, '').replace(/^\((.*)\)$/, '$1');
  return w;
}

/**
 * The public webhook address worth showing: the core also reports the local one while no
 * tunnel is chosen, which is not public.
 */
export function shownPublicUrl(h: Pick<Health, 'publicUrl' | 'tunnelStatus' | 'webhookUrl'>): string | null {
  if (!h.publicUrl || h.tunnelStatus === 'localOnly') return null;
  if (h.tunnelStatus === 'up') return h.publicUrl;
  return h.publicUrl === h.webhookUrl ? null : h.publicUrl;
}

/** The Rust side's `normalise_base_url`. */
export function publicUrlProblem(url: string): string | null {
  const t = url.trim();
  if (t === '') return 'Enter the public address of your reverse proxy or port forward, e.g. https://shop.example.com.';
  let u: URL;
  try {
    u = new URL(t);
  } catch {
    return `“${t}” is not a web address, e.g. https://shop.example.com.`;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return 'The public address must start with https:// (or http://).';
  if (u.hostname === '') return 'The public address has no host name.';
  if (u.search !== '' || u.hash !== '' || t.includes('?') || t.includes('#')) {
    return 'The public address must not have a query (?…) or a fragment (#…).';
  }
  return null;
}

/** The Rust side's check of an ngrok domain: name.ngrok-free.app, with or without https://. Empty is allowed. */
export function ngrokDomainProblem(domain: string): string | null {
  let d = domain.trim();
  d = d.replace(/^https?:\/\//, '').replace(/\/+$/, '');
  if (d === '') return null;
  if (/[/: ]/.test(d)) return `“${domain.trim()}” is not an ngrok domain: give it as name.ngrok-free.app.`;
  return null;
}

/** The Rust side's `parse_relay`: HOST or HOST:BORE_CONTROL_PORT (bore's control port). */
export function boreRelayProblem(relay: string): string | null {
  const r = relay.trim().replace(/^bore:\/\//, '');
  if (r === '') return 'Enter the host name of your bore relay.';
  let host = r;
  let port: string | null = null;
  if (r.startsWith('[')) {
    const end = r.indexOf(']');
    if (end < 0) return `“${relay.trim()}” is not a host name.`;
    host = r.slice(1, end);
    const after = r.slice(end + 1);
    if (after.startsWith(':')) port = after.slice(1);
  } else if ((r.match(/:/g) ?? []).length === 1) {
    [host, port] = r.split(':');
  }
  if (port !== null && port !== String(BORE_CONTROL_PORT)) {
    return `bore relays listen on port ${BORE_CONTROL_PORT}: give the relay as HOST or HOST:${BORE_CONTROL_PORT}.`;
  }
  if (host === '' || host.includes('/') || /\s/.test(host)) return `“${relay.trim()}” is not a host name.`;
  return null;
}

/** What identifies one URL change, to remember that the owner dismissed it. */
export function urlChangeKey(c: Pick<UrlChange, 'at' | 'webhookUrl'>): string {
  return `${c.at}|${c.webhookUrl}`;
}
