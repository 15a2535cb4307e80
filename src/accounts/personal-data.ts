// Everything Warden holds about one user, for their right of access (GDPR Art. 15, 20): the
// account, every session row (with its IP and user agent), the second factors without their
// secrets, the mailed links without their hashes, the devices remembered for new-sign-in notices,
// the mails waiting for the address, and every security event about the user or by them. Plain
// values out; the HTTP layer shapes them.
import { WardenError } from '@warden/toolkit';
import type { EventRecord } from '../events/records.js';
import type { Storage, SessionRecord, EmailTokenRecord, UserRecord } from '../storage/types.js';
import type { PasskeyRecord, TotpFactorRecord } from '../storage/factor-types.js';
import { needsRehash, type PasswordHasher } from './password-hasher.js';
import { NO_PASSWORD } from './importer.js';

export interface PersonalData {
  user: UserRecord;
  password: { set: boolean; legacy: boolean };
  sessions: SessionRecord[];
  totp: Omit<TotpFactorRecord, 'sealedSecret' | 'lastUsedStep'>[];
  passkeys: Omit<PasskeyRecord, 'publicKey'>[];
  recoveryCodesRemaining: number;
  emailTokens: Omit<EmailTokenRecord, 'hash'>[];
  devices: { firstSeen: number; lastSeen: number }[];
  pendingMails: { template: string; createdAt: number }[];
  /**
   * About the user or by them, newest first (as long as AUDIT_RETENTION_DAYS keeps them), read a
   * page at a time as they are iterated: a user makes thousands an hour of their own (a refresh
   * each), and held whole they took 820 MB at 200,000.
   */
  events: AsyncIterable<EventRecord[]>;
}

/** The mails waiting to be sent to an address: their template and when they were queued. */
export type PendingMails = (recipient: string) => Promise<{ template: string; createdAt: number }[]>;

/** Events read per statement while gathering a user's. */
const EVENT_PAGE = 1000;

type Stores = Pick<Storage, 'users' | 'sessions' | 'emailTokens' | 'devices' | 'factors' | 'events'>;

export async function personalData(d: { storage: Stores; hasher: Pick<PasswordHasher, 'currentPrefix'>; pendingMails?: PendingMails | undefined }, userId: string): Promise<PersonalData> {
  const s = d.storage;
  const user = await s.users.findById(userId);
  if (!user) throw new WardenError('ERR_USER_NOT_FOUND');
  const [sessions, totp, passkeys, recoveryCodesRemaining, emailTokens, devices, pendingMails] = await Promise.all([
    s.sessions.listForUser(userId), s.factors.listTotp(userId), s.factors.listPasskeys(userId), s.factors.countRecoveryCodes(userId),
    s.emailTokens.listForUser(userId), s.devices.listForUser(userId), d.pendingMails?.(user.email) ?? [],
  ]);
  return {
    user,
    password: { set: user.passwordHash !== NO_PASSWORD, legacy: user.passwordHash !== NO_PASSWORD && needsRehash(d.hasher, user.passwordHash) },
    sessions,
    totp: totp.map(({ sealedSecret: _s, lastUsedStep: _l, ...rest }) => rest),
    passkeys: passkeys.map(({ publicKey: _p, ...rest }) => rest),
    recoveryCodesRemaining,
    emailTokens: emailTokens.map(({ hash: _h, ...rest }) => rest),
    devices,
    pendingMails,
    events: { [Symbol.asyncIterator]: () => eventPages(s, userId) },
  };
}

/** One listing's keyset walk: its page in hand, where in it, and where the next starts. */
interface Walk {
  who: { userId: string } | { actorId: string };
  page: EventRecord[];
  at: number;
  last: EventRecord | undefined;
  done: boolean;
}

/** Newer in the audit log's order: time, then id, descending (as the stores list them). */
const newer = (a: EventRecord, b: EventRecord) => a.time > b.time || (a.time === b.time && a.id > b.id);

/**
 * The events about the user and those by them, merged newest first a page at a time; one that is
 * both (the user's own sign-in) is given once. At most a page of each listing is held.
 */
async function* eventPages(s: Stores, userId: string): AsyncGenerator<EventRecord[]> {
  const walks: Walk[] = [{ userId }, { actorId: userId }].map((who) => ({ who, page: [], at: 0, last: undefined, done: false }));
  for (;;) {
    for (const w of walks) {
      if (w.at < w.page.length || w.done) continue;
      w.page = await s.events.list({ limit: EVENT_PAGE, ...w.who, ...(w.last ? { before: { time: w.last.time, id: w.last.id } } : {}) });
      w.at = 0;
      w.last = w.page.at(-1) ?? w.last;
      w.done = w.page.length < EVENT_PAGE;
    }
    const out: EventRecord[] = [];
    // Only while each listing not at its end has an event in hand is the newest of all known.
    while (walks.every((w) => w.at < w.page.length || w.done)) {
      const heads = walks.filter((w) => w.at < w.page.length);
      if (heads.length === 0) break;
      const first = heads.reduce((a, b) => (newer(b.page[b.at]!, a.page[a.at]!) ? b : a));
      const e = first.page[first.at++]!;
      for (const w of heads) if (w !== first && w.page[w.at]?.id === e.id) w.at++;
      out.push(e);
    }
    if (out.length > 0) yield out;
    if (walks.every((w) => w.done && w.at >= w.page.length)) return;
  }
}
