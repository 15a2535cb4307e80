// The mail side for unit tests: a real outbox worker over the fixture's memory storage, sending
// to a transport that keeps messages in an array (or fails as told), on the fixture's clock.
import type { AccountEmailOptions } from '../../src/accounts/index.js';
import { MailLimit } from '../../src/accounts/mail-limit.js';
import { memoryCounter } from '../../src/limits/window-counter.js';
import { MailOutbox, MailTemplates, type MailTransport, type OutgoingMail } from '../../src/mail/index.js';
import type { Storage } from '../../src/storage/types.js';
import type { TestClock } from './clock.js';

export interface CaptureTransport extends MailTransport {
  readonly sent: OutgoingMail[];
  /** While set, send rejects with this (e.g. an error shaped like nodemailer's). */
  failWith: unknown;
  readonly tries: number;
}

export function captureTransport(): CaptureTransport {
  const t = {
    sent: [] as OutgoingMail[],
    failWith: undefined as unknown,
    tries: 0,
    description: 'an array',
    async send(m: OutgoingMail) {
      t.tries++;
      if (t.failWith !== undefined) throw t.failWith;
      t.sent.push(m);
    },
    close() {},
  };
  return t;
}

export interface LogEntry {
  level: 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string;
}

export function memoryLog(): { entries: LogEntry[]; info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void } {
  const entries: LogEntry[] = [];
  const at = (level: LogEntry['level']) => (obj: object, msg: string) => void entries.push({ level, obj: obj as Record<string, unknown>, msg });
  return { entries, info: at('info'), warn: at('warn'), error: at('error') };
}

export interface MailRig {
  outbox?: MailOutbox;
  transport: CaptureTransport;
  log: ReturnType<typeof memoryLog>;
  /** Runs the worker until nothing due is left. */
  flush(): Promise<void>;
  /** What createAccounts takes (fixture option `email`). */
  options: (deps: { storage: Storage; clock: TestClock }) => AccountEmailOptions;
}

export const LINKS = {
  reset: (t: string) => `https://app.test/reset?token=${t}`,
  verify: (t: string) => `https://app.test/verify?token=${t}`,
  emailChange: (t: string) => `https://app.test/email?token=${t}`,
  invite: (t: string) => `https://app.test/invite?token=${t}`,
};

export function mailRig(o: Partial<Omit<AccountEmailOptions, 'queue' | 'limit' | 'links' | 'report'>> & { maxPerAddress?: number; maxPerIp?: number } = {}): MailRig {
  const rig: MailRig = {
    transport: captureTransport(),
    log: memoryLog(),
    async flush() {
      rig.outbox!.kick();
      await rig.outbox!.idle();
    },
    options: ({ storage, clock }) => {
      rig.outbox = new MailOutbox({
        store: storage.outbox, transport: rig.transport, templates: MailTemplates.load(), from: 'Warden <w@warden.test>',
        common: { app_url: 'https://app.test' }, clock, log: rig.log, retryBaseMs: 1000, retryMaxMs: 60_000,
      });
      return {
        queue: rig.outbox,
        limit: new MailLimit({ counter: memoryCounter(clock), maxPerAddress: o.maxPerAddress ?? Infinity, maxPerIp: o.maxPerIp ?? Infinity, windowMs: 3600_000 }),
        links: LINKS,
        resetTtlMs: o.resetTtlMs ?? 30 * 60_000,
        verifyTtlMs: o.verifyTtlMs ?? 3 * 86_400_000,
        inviteTtlMs: o.inviteTtlMs ?? 7 * 86_400_000,
        requireVerified: o.requireVerified ?? false,
        notifyNewSignIn: o.notifyNewSignIn ?? true,
        report: (err, what) => rig.log.warn({ err }, what),
      };
    },
  };
  return rig;
}

/** The token in a captured mail's text. */
export function tokenOf(m: OutgoingMail): string {
  const t = /token=([\w-]{43})/.exec(m.text)?.[1];
  if (!t) throw new Error(`no token in: ${m.text}`);
  return t;
}
