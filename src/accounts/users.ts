// Small rules every account service shares: how a user id is looked up and how a taken
// username or email is reported.
import { WardenError } from '@warden/toolkit';
import { NoOtherHolder, UniqueViolation, type UserRecord, type UserStore } from '../storage/types.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are UUIDs; anything else is simply not found (and never reaches a typed SQL column). */
export function isUuid(v: string): boolean {
  return UUID_RE.test(v);
}

/**
 * The id of the user `who` names, as every command naming a user takes one: an id as it is (a
 * deleted user's events are still under it), else a username or an email; null when none has it.
 */
export async function userIdOf(users: UserStore, who: string): Promise<string | null> {
  if (isUuid(who)) return who.toLowerCase();
  return (await users.findByLogin(who.trim()))?.id ?? null;
}

/** The user with this id, active or not, or ERR_USER_NOT_FOUND. */
export async function findUser(users: UserStore, id: string): Promise<UserRecord> {
  const user = isUuid(id) ? await users.findById(id) : null;
  if (!user) throw new WardenError('ERR_USER_NOT_FOUND');
  return user;
}

/** A store's unique violation, or its refusal to remove the last administrator, as the 409 the APIs answer; anything else unchanged. */
export function conflict(e: unknown): unknown {
  if (e instanceof NoOtherHolder) return new WardenError('ERR_CONFLICT', LAST_ADMINISTRATOR);
  if (e instanceof UniqueViolation) {
    return new WardenError('ERR_CONFLICT', e.field === 'username' ? 'Username already registered' : 'Email already registered', { field: e.field });
  }
  return e;
}

const LAST_ADMINISTRATOR = 'This is the last active administrator: make another user an administrator first';

/**
 * The roles (ADMIN_ROLES) of which another active holder must remain for this change, or undefined
 * when it leaves the user an active administrator (or they were not one). Passed to the store's
 * update or delete as `keep`, which checks it under a lock in the write's transaction: no change
 * through the API or the console leaves nobody who can administer, even two administrators
 * demoting, deactivating or deleting each other at once. Only the operator, at the command line,
 * may.
 */
export function administratorsToKeep(adminRoles: readonly string[], before: UserRecord, after: { roles: readonly string[]; isActive: boolean } | null): readonly string[] | undefined {
  const isAdmin = (roles: readonly string[]) => roles.some((r) => adminRoles.includes(r));
  if (!before.isActive || !isAdmin(before.roles) || (after !== null && after.isActive && isAdmin(after.roles))) return undefined;
  return adminRoles;
}

/**
 * The same rule read before a deletion refuses the user's tokens (ERR_CONFLICT), so that the
 * ordinary refusal changes nothing; the deletion's `keep` then decides under the lock.
 */
export async function keepAnAdministrator(users: UserStore, adminRoles: readonly string[], before: UserRecord): Promise<readonly string[] | undefined> {
  const keep = administratorsToKeep(adminRoles, before, null);
  if (keep === undefined) return undefined;
  for (const role of keep) {
    const { users: holders } = await users.list({ role, active: true, limit: 2, offset: 0 });
    if (holders.some((u) => u.id !== before.id)) return keep;
  }
  throw new WardenError('ERR_CONFLICT', LAST_ADMINISTRATOR);
}
