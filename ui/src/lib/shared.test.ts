import { describe, expect, it } from 'vitest';
import { api, setBackend } from './api';
import type { DatabaseTest, Health } from './bindings';
import { databaseUrlProblem, notificationsView, stageRows, testSummary, urlHasPassword } from './shared';

const passed = (stage: string, detail: string) => ({ stage, passed: true, detail });
const failed = (stage: string, detail: string) => ({ stage, passed: false, detail });

describe('the shared database test', () => {
  it('shows every stage, and the ones after a failure as not tried', () => {
    const test: DatabaseTest = {
      ok: false,
      schemaVersion: null,
      stages: [
        passed('reached', 'db.example:5432 answered'),
        passed('tls', 'on (TLSv1.3), certificate verified against the public roots for db.example'),
        failed('authenticated', 'authentication failed: the server refused the user name or password'),
      ],
    };
    expect(stageRows(test).map((r) => [r.label, r.state])).toEqual([
      ['Server reached', 'passed'],
      ['TLS', 'passed'],
      ['Authenticated', 'failed'],
      ['Schema version', 'notTried'],
    ]);
    expect(testSummary(test)).toBe('Stopped at “Authenticated”: authentication failed: the server refused the user name or password');
  });

  it('says connected when all four passed', () => {
    const test: DatabaseTest = {
      ok: true,
      schemaVersion: 2,
      stages: [passed('reached', 'a'), passed('tls', 'off'), passed('authenticated', 'as shop'), passed('schema', 'version 2, up to date')],
    };
    expect(stageRows(test).every((r) => r.state === 'passed')).toBe(true);
    expect(testSummary(test)).toMatch(/^Connected/);
  });

  it('is not reached when nothing answers', () => {
    const test: DatabaseTest = { ok: false, schemaVersion: null, stages: [failed('reached', 'nothing answered at h:5432 (Connection refused)')] };
    expect(stageRows(test).filter((r) => r.state === 'notTried')).toHaveLength(3);
    expect(testSummary(test)).toContain('Server reached');
  });
});

describe('the shared database URL', () => {
  it('is checked before saving', () => {
    expect(databaseUrlProblem('')).toBeNull();
    expect(databaseUrlProblem('postgres://shop@db.example:5432/shop?sslmode=require')).toBeNull();
    expect(databaseUrlProblem('postgresql://shop@db/shop')).toBeNull();
    expect(databaseUrlProblem('mysql://shop@db/shop')).toMatch(/postgres:\/\//);
    expect(databaseUrlProblem('postgres://db.example/shop')).toMatch(/user/);
    expect(databaseUrlProblem('postgres://shop@/shop')).toMatch(/no host/);
  });

  it('knows when it holds a password, which saving moves to the keyring', () => {
    expect(urlHasPassword('postgres://shop:pw@db/shop')).toBe(true);
    expect(urlHasPassword('postgres://shop@db/shop?sslmode=require&password=pw')).toBe(true);
    expect(urlHasPassword('postgres://shop@db:5432/shop?sslmode=require')).toBe(false);
    expect(urlHasPassword('postgres://shop@[::1]:5432/shop')).toBe(false);
  });
});

const health = (over: Partial<Health>): Health => ({
  demo: false,
  environment: 'production',
  listenerUp: false,
  listenerError: null,
  sharedDatabase: 'postgres://shop@db.example:5432/shop?sslmode=require',
  notificationsBy: null,
  webhookUrl: null,
  publicUrl: null,
  tunnel: null,
  tunnelStatus: null,
  gatewayUrl: null,
  circuitOpen: false,
  circuitReason: null,
  inboxBacklog: 0,
  deadDeliveries: 0,
  lastNotificationAt: null,
  lastReconcileAt: null,
  lastReconcileCaughtUp: null,
  unseenPayments: 0,
  ...over,
});

describe('who takes the notifications', () => {
  it('is nothing to say for a window on its own file', () => {
    expect(notificationsView(health({ sharedDatabase: null }))).toBeNull();
  });

  it('names the running serve and when it last confirmed', () => {
    const v = notificationsView(
      health({
        notificationsBy: {
          machine: 'shop-server',
          online: true,
          lastSeenAt: '2026-12-07T12:00:00Z',
          lastConfirmedAt: '2026-12-07T11:59:30Z',
          otherServes: 1,
        },
      }),
    )!;
    expect(v.tone).toBe('ok');
    expect(v.headline).toBe('Notifications: shop-server (and 1 more)');
    expect(v.lastConfirmedAt).toBe('2026-12-07T11:59:30Z');
  });

  it('warns when the serve stopped or none was ever seen', () => {
    const stopped = notificationsView(
      health({ notificationsBy: { machine: 'shop-server', online: false, lastSeenAt: '2026-12-07T10:00:00Z', lastConfirmedAt: null, otherServes: 0 } }),
    )!;
    expect([stopped.tone, stopped.headline]).toEqual(['bad', 'shop-server is not running']);
    const none = notificationsView(health({}))!;
    expect([none.tone, none.machine]).toEqual(['bad', null]);
    expect(none.headline).toBe('No machine takes the notifications');
  });
});

describe('the test_database command', () => {
  it('sends the URL as typed and the password only when one was typed', async () => {
    const calls: [string, unknown][] = [];
    setBackend({
      invoke: async <T>(command: string, args?: Record<string, unknown>) => {
        calls.push([command, args]);
        return { ok: false, schemaVersion: null, stages: [] } as T;
      },
      listen: async () => () => {},
    });
    await api.testDatabase('postgres://shop@db/shop', null);
    await api.testDatabase('postgres://shop@db/shop', ' pw with spaces ');
    expect(calls).toEqual([
      ['test_database', { url: 'postgres://shop@db/shop', password: null }],
      ['test_database', { url: 'postgres://shop@db/shop', password: ' pw with spaces ' }],
    ]);
  });
});
