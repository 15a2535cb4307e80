// Mailed single-use tokens: 256 random bits, sent once in a link and stored as their SHA-256 (the
// outbox row of a mail not yet sent holds its link until it goes; see mail/outbox.ts). A token
// that cannot be used says why, with a stable code: unknown (forged, mistyped, or of another
// purpose), used, superseded by a newer one, expired.
import { createHash, randomBytes } from 'node:crypto';
import { WardenError } from '@warden/toolkit';
import type { EmailTokenPurpose, EmailTokenRecord, EmailTokenStore, UserRecord, UserStore } from '../storage/types.js';
import { invalid } from './validate.js';

const TOKEN_BYTES = 32;
const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/; // 32 bytes, base64url without padding

export function newEmailToken(): { token: string; hash: string } {
  const token = randomBytes(TOKEN_BYTES).toString('base64url');
  return { token, hash: hashOf(token) };
}

function hashOf(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The stored hash of a token as received (422 when absent; ERR_EMAIL_TOKEN_INVALID when no token could look like it). */
export function tokenHash(token: unknown): string {
  if (token === undefined || token === null || token === '') throw invalid('token', 'is required');
  if (typeof token !== 'string' || !TOKEN_RE.test(token)) throw new WardenError('ERR_EMAIL_TOKEN_INVALID');
  return hashOf(token);
}

function refusal(t: EmailTokenRecord | null, now: number): WardenError {
  if (t === null) return new WardenError('ERR_EMAIL_TOKEN_INVALID');
  if (t.usedAt !== null) return new WardenError('ERR_EMAIL_TOKEN_USED');
  if (t.supersededAt !== null) return new WardenError('ERR_EMAIL_TOKEN_SUPERSEDED');
  if (t.expiresAt <= now) return new WardenError('ERR_EMAIL_TOKEN_EXPIRED');
  return new WardenError('ERR_EMAIL_TOKEN_INVALID');
}

/** Throws the token's refusal unless it is usable now: a cheap look before any expensive work. */
export async function checkToken(store: EmailTokenStore, hash: string, purpose: EmailTokenPurpose, now: number): Promise<EmailTokenRecord> {
  const t = await store.find(hash, purpose);
  if (t === null || t.usedAt !== null || t.supersededAt !== null || t.expiresAt <= now) throw refusal(t, now);
  return t;
}

/** Uses the token (once, atomically) or throws why it cannot be used. */
export async function consumeToken(store: EmailTokenStore, hash: string, purpose: EmailTokenPurpose, now: number): Promise<EmailTokenRecord> {
  const t = await store.consume(hash, purpose, now);
  if (t === null) throw refusal(await store.find(hash, purpose), now);
  return t;
}

/**
 * The account a token was mailed for, fit to act on, or why not: gone (ERR_EMAIL_TOKEN_INVALID);
 * with `sameAddress`, no longer at the address the link went to (ERR_EMAIL_TOKEN_SUPERSEDED:
 * whoever reads that mailbox now is not the user); deactivated (ERR_USER_INACTIVE). Asked before
 * the token is used, so that a refusal leaves it usable.
 */
export async function tokenOwner(users: Pick<UserStore, 'findById'>, t: EmailTokenRecord, o: { sameAddress: boolean }): Promise<UserRecord> {
  const user = await users.findById(t.userId);
  if (!user) throw new WardenError('ERR_EMAIL_TOKEN_INVALID');
  if (o.sameAddress && user.email !== t.email) throw new WardenError('ERR_EMAIL_TOKEN_SUPERSEDED');
  if (!user.isActive) throw new WardenError('ERR_USER_INACTIVE');
  return user;
}

/**
 * Why a token's write matched nothing: the user is gone (ERR_EMAIL_TOKEN_INVALID) or deactivated
 * (ERR_USER_INACTIVE), or their address or password changed since the token was checked, which
 * supersedes it (as it would have, earlier).
 */
export async function changedMeanwhile(users: Pick<UserStore, 'findById'>, userId: string): Promise<WardenError> {
  const user = await users.findById(userId);
  return new WardenError(!user ? 'ERR_EMAIL_TOKEN_INVALID' : !user.isActive ? 'ERR_USER_INACTIVE' : 'ERR_EMAIL_TOKEN_SUPERSEDED');
}
