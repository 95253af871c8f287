// A shared database in the window: the Settings section's checks and its "Test
// connection" stages in owner words, and the health bar's word on which machine takes the
// notifications.

import type { DatabaseTest, Health } from './bindings';

/** The stages the Rust side tries, in order, with the names the owner reads. */
export const DATABASE_STAGES: readonly { stage: string; label: string }[] = [
  { stage: 'reached', label: 'Server reached' },
  { stage: 'tls', label: 'TLS' },
  { stage: 'authenticated', label: 'Authenticated' },
  { stage: 'schema', label: 'Schema version' },
];

export type StageState = 'passed' | 'failed' | 'notTried';

export interface StageRow {
  stage: string;
  label: string;
  state: StageState;
  detail: string;
}

/** Every stage, with what the test found or that it stopped before it. */
export function stageRows(test: DatabaseTest): StageRow[] {
  return DATABASE_STAGES.map(({ stage, label }) => {
    const found = test.stages.find((s) => s.stage === stage);
    if (!found) return { stage, label, state: 'notTried', detail: 'not tried' };
    return { stage, label, state: found.passed ? 'passed' : 'failed', detail: found.detail };
  });
}

/** One sentence over the stages. */
export function testSummary(test: DatabaseTest): string {
  if (test.ok) return 'Connected: this window can use the shared database.';
  const failed = stageRows(test).find((r) => r.state === 'failed');
  return failed ? `Stopped at “${failed.label}”: ${failed.detail}` : 'The test did not finish.';
}

/** What is wrong with the URL as typed, before the Rust side checks it in full. */
export function databaseUrlProblem(url: string): string | null {
  const u = url.trim();
  if (u === '') return null;
  const rest = /^postgres(ql)?:\/\//.exec(u) ? u.replace(/^postgres(ql)?:\/\//, '') : null;
  if (rest === null) return 'The shared database’s URL starts with postgres:// (postgres://user@host/database).';
  const authority = rest.split(/[/?]/)[0];
  if (!authority.includes('@') || authority.startsWith('@')) return 'The shared database’s URL names its user: postgres://user@host/database.';
  if (authority.endsWith('@')) return 'The shared database’s URL names no host: postgres://user@host/database.';
  return null;
}

/** The URL holds a password (`user:password@` or `password=`): saving moves it to the keyring. */
export function urlHasPassword(url: string): boolean {
  const u = url.trim().replace(/^postgres(ql)?:\/\//, '');
  const [beforeQuery, query = ''] = u.split('?', 2);
  const authority = beforeQuery.split('/')[0];
  const at = authority.lastIndexOf('@');
  const userinfo = at >= 0 ? authority.slice(0, at) : '';
  return userinfo.includes(':') || query.split('&').some((p) => p === 'password' || p.startsWith('password='));
}

export type Tone = 'ok' | 'warn' | 'bad';

export interface NotificationsView {
  tone: Tone;
  /** A few words for the bar. */
  headline: string;
  /** The machine named, if any. */
  machine: string | null;
  online: boolean;
  lastConfirmedAt: string | null;
  lastSeenAt: string | null;
  /** The whole sentence, for the tooltip and the problem list. */
  sentence: string;
}

/** On a shared database: who takes the notifications, as the bar shows it; null otherwise. */
export function notificationsView(h: Health): NotificationsView | null {
  if (!h.sharedDatabase) return null;
  const by = h.notificationsBy;
  if (!by) {
    return {
      tone: 'bad',
      headline: 'No machine takes the notifications',
      machine: null,
      online: false,
      lastConfirmedAt: null,
      lastSeenAt: null,
      sentence:
        'No `tillwatch serve` has been seen on this database: payments are not received or confirmed until one runs (see “Several machines” in the README).',
    };
  }
  const others = by.otherServes > 0 ? ` (and ${by.otherServes} more)` : '';
  if (!by.online) {
    return {
      tone: 'bad',
      headline: `${by.machine} is not running`,
      machine: by.machine,
      online: false,
      lastConfirmedAt: by.lastConfirmedAt,
      lastSeenAt: by.lastSeenAt,
      sentence: `${by.machine} takes the notifications but has not been seen for over 90 seconds: payments are not received or confirmed until it runs again.`,
    };
  }
  return {
    tone: 'ok',
    headline: `Notifications: ${by.machine}${others}`,
    machine: by.machine,
    online: true,
    lastConfirmedAt: by.lastConfirmedAt,
    lastSeenAt: by.lastSeenAt,
    sentence: `${by.machine}${others} receives the gateway’s notifications and confirms them; this window shows what it confirms.`,
  };
}
