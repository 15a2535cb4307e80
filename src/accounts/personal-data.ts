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
  /** About the user or by them, newest first (as long as AUDIT_RETENTION_DAYS keeps them). */
  events: EventRecord[];
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
  const [sessions, totp, passkeys, recoveryCodesRemaining, emailTokens, devices, pendingMails, about, by] = await Promise.all([
    s.sessions.listForUser(userId), s.factors.listTotp(userId), s.factors.listPasskeys(userId), s.factors.countRecoveryCodes(userId),
    s.emailTokens.listForUser(userId), s.devices.listForUser(userId), d.pendingMails?.(user.email) ?? [],
    allEvents(s, { userId }), allEvents(s, { actorId: userId }),
  ]);
  const events = new Map<string, EventRecord>();
  for (const e of [...about, ...by]) events.set(e.id, e);
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
    events: [...events.values()].sort((a, b) => b.time - a.time || (a.id < b.id ? 1 : -1)),
  };
}

async function allEvents(s: Stores, who: { userId?: string; actorId?: string }): Promise<EventRecord[]> {
  const out: EventRecord[] = [];
  for (;;) {
    const last = out.at(-1);
    const page = await s.events.list({ limit: EVENT_PAGE, ...who, ...(last ? { before: { time: last.time, id: last.id } } : {}) });
    out.push(...page);
    if (page.length < EVENT_PAGE) return out;
  }
}
