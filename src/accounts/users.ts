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

/**
 * Refuses (ERR_CONFLICT) a change after which no active user would hold an administrator role: the
 * last administrator demoting, deactivating or deleting themselves (or being, by the only other
 * one) would leave nobody who can administer through the API or the console. Only the operator,
 * at the command line, may do that. Two administrators demoting each other at once can still both
 * succeed: the check reads, then the change writes.
 */
export async function keepAnAdministrator(users: UserStore, adminRoles: readonly string[], before: UserRecord, after: { roles: readonly string[]; isActive: boolean } | null): Promise<void> {
  const isAdmin = (roles: readonly string[]) => roles.some((r) => adminRoles.includes(r));
  if (!before.isActive || !isAdmin(before.roles) || (after !== null && after.isActive && isAdmin(after.roles))) return;
  for (const role of adminRoles) {
    const { users: holders } = await users.list({ role, active: true, limit: 2, offset: 0 });
    if (holders.some((u) => u.id !== before.id)) return;
  }
  throw new WardenError('ERR_CONFLICT', 'This is the last active administrator: make another user an administrator first');
}
