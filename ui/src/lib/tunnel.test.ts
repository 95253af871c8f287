import { describe, expect, it } from 'vitest';
import {
  boreRelayProblem,
  ngrokDomainProblem,
  PROVIDERS,
  providerHelp,
  publicUrlProblem,
  shownPublicUrl,
  tunnelDetail,
  tunnelHeadline,
  tunnelTone,
  urlChangeKey,
} from './tunnel';

describe('tunnel state', () => {
  it('colours the state: up green, connecting amber, down red, local only grey', () => {
    expect(tunnelTone('up')).toBe('ok');
    expect(tunnelTone('connecting')).toBe('warn');
    expect(tunnelTone('down')).toBe('bad');
    expect(tunnelTone('localOnly')).toBe('off');
    expect(tunnelTone('stopped')).toBe('off');
    expect(tunnelTone(null)).toBe('off');
    expect(tunnelTone('somethingNew')).toBe('off');
  });

  it('has short words for the bar', () => {
    expect(tunnelHeadline('up')).toBe('Tunnel up');
    expect(tunnelHeadline('down')).toBe('Tunnel down');
    expect(tunnelHeadline('localOnly')).toBe('Local only');
    expect(tunnelDetail('connecting', 'connecting (ngrok, attempt 2)')).toBe('ngrok, attempt 2');
    expect(tunnelDetail('connecting', 'checking that https://a.example reaches this computer (static)')).toBe(
      'checking that https://a.example reaches this computer (static)',
    );
    expect(tunnelDetail('stopped', 'stopped')).toBe('stopped');
    expect(tunnelDetail('up', null)).toBe('');
  });

  it('shows a public address only when it is one', () => {
    const local = 'http://127.0.0.1:8787/webhooks/cashflows';
    const pub = 'https://shop.ngrok-free.app/webhooks/cashflows';
    expect(shownPublicUrl({ publicUrl: local, webhookUrl: local, tunnelStatus: 'localOnly' })).toBeNull();
    expect(shownPublicUrl({ publicUrl: pub, webhookUrl: local, tunnelStatus: 'up' })).toBe(pub);
    expect(shownPublicUrl({ publicUrl: null, webhookUrl: local, tunnelStatus: 'down' })).toBeNull();
    expect(shownPublicUrl({ publicUrl: local, webhookUrl: local, tunnelStatus: null })).toBeNull();
  });

  it('keys a URL change by when and where', () => {
    expect(urlChangeKey({ at: '2026-11-24T10:00:00.000000Z', webhookUrl: 'https://a/webhooks/cashflows' })).toBe(
      '2026-11-24T10:00:00.000000Z|https://a/webhooks/cashflows',
    );
  });
});

describe('tunnel settings', () => {
  it('has one line of help per provider', () => {
    expect(PROVIDERS.map((p) => p.value)).toEqual(['none', 'static', 'ngrok', 'bore']);
    expect(providerHelp('none')).toMatch(/Cashflows cannot deliver notifications/);
    expect(providerHelp('ngrok')).toMatch(/ngrok\.com/);
  });

  it('checks a static public address as the Rust side does', () => {
    expect(publicUrlProblem('https://shop.example.com')).toBeNull();
    expect(publicUrlProblem('http://203.0.113.7:8080/till/')).toBeNull();
    expect(publicUrlProblem('')).toMatch(/Enter the public address/);
    expect(publicUrlProblem('shop.example.com')).toMatch(/not a web address/);
    expect(publicUrlProblem('ftp://shop.example.com')).toMatch(/must start with https/);
    expect(publicUrlProblem('https://shop.example.com/?a=1')).toMatch(/query/);
    expect(publicUrlProblem('https://shop.example.com/#x')).toMatch(/fragment/);
  });

  it('checks the ngrok domain and the bore relay', () => {
    expect(ngrokDomainProblem('')).toBeNull();
    expect(ngrokDomainProblem('shop.ngrok-free.app')).toBeNull();
    expect(ngrokDomainProblem('https://shop.ngrok-free.app/')).toBeNull();
    expect(ngrokDomainProblem('shop.ngrok-free.app:443')).toMatch(/not an ngrok domain/);
    expect(ngrokDomainProblem('shop.ngrok-free.app/x')).toMatch(/not an ngrok domain/);
    expect(boreRelayProblem('relay.example.com')).toBeNull();
    expect(boreRelayProblem('relay.example.com:7835')).toBeNull();
    expect(boreRelayProblem('bore://relay.example.com')).toBeNull();
    expect(boreRelayProblem('[::1]:7835')).toBeNull();
    expect(boreRelayProblem('')).toMatch(/Enter the host name/);
    expect(boreRelayProblem('relay.example.com:2200')).toMatch(/port 7835/);
    expect(boreRelayProblem('relay example')).toMatch(/not a host name/);
  });
});
