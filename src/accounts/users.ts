// Small rules every account service shares: how a user id is looked up and how a taken
// username or email is reported.
import { WardenError } from '@warden/toolkit';
import { UniqueViolation, type UserRecord, type UserStore } from '../storage/types.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are UUIDs; anything else is simply not found (and never reaches a typed SQL column). */
export function isUuid(v: string): boolean {
  return UUID_RE.test(v);
}

/** The user with this id, active or not, or ERR_USER_NOT_FOUND. */
export async function findUser(users: UserStore, id: string): Promise<UserRecord> {
  const user = isUuid(id) ? await users.findById(id) : null;
  if (!user) throw new WardenError('ERR_USER_NOT_FOUND');
  return user;
}

/** A store's unique violation as the 409 the APIs answer; anything else unchanged. */
export function conflict(e: unknown): unknown {
  if (e instanceof UniqueViolation) {
    return new WardenError('ERR_CONFLICT', e.field === 'username' ? 'Username already registered' : 'Email already registered', { field: e.field });
  }
  return e;
}
