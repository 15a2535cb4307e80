// User administration: list, read, change (roles, activation, profile fields, password) and
// delete. Creating a user is Credentials.signUp with the administrator as the actor.
import { WardenError } from '@warden/toolkit';
import type { EventLog, EventSubject } from '../events/log.js';
import type { NewEvent } from '../events/records.js';
import type { Revoker } from '../revocation/revoker.js';
import type { Page, SessionRecord, Storage, UserPatch, UserQuery, UserRecord } from '../storage/types.js';
import type { AccountHooks } from './hooks.js';
import type { PasswordHasher } from './password-hasher.js';
import type { Retention } from './retention.js';
import { roleOverrideWrite } from './role-override.js';
import type { Sessions } from './sessions.js';
import { NO_META, type Actor, type ClientMeta } from './types.js';
import { administratorsToKeep, conflict, findUser, keepAnAdministrator, userIdOf } from './users.js';
import {
  checkFields, invalid, normaliseEmail, passwordRules, validateBoolean, validateFullName, validatePassword, validateRoles, type PasswordPolicyDeps,
} from './validate.js';

export interface UserAdminDeps extends PasswordPolicyDeps {
  storage: Pick<Storage, 'users' | 'sessions' | 'events'>;
  hasher: PasswordHasher;
  sessions: Sessions;
  revoker: Revoker;
  retention: Retention;
  clock: () => number;
  /** ADMIN_ROLES: the last active holder of one is not demoted, deactivated or deleted through the API. */
  adminRoles: readonly string[];
  events: EventLog;
  hooks?: AccountHooks | undefined;
}

const PATCHABLE = ['roles', 'is_active', 'full_name', 'email', 'email_verified', 'password'];
const DAY_MS = 86_400_000;
/** Writes of one update, each over the row read again after another write came between. */
const MAX_ATTEMPTS = 20;

/** users.list's query, with the legacy-hash filter as a yes or no: the hasher knows which hashes are today's. */
export type UserListQuery = Omit<UserQuery, 'legacyHash'> & {
  /** Only users whose password hash is (true) or is not (false) a legacy one, as needsRehash says. */
  legacyHash?: boolean;
};

/** The administrators' figures at a glance. */
export interface Overview {
  at: number;
  users: { total: number; active: number };
  /** Sign-ins (signin.* events) from `since`, 24 hours before `at`. */
  signIns: { since: number; succeeded: number; failed: number; throttled: number };
  /** Sessions live at `at`, of every user. */
  liveSessions: number;
}

export class UserAdmin {
  constructor(private readonly d: UserAdminDeps) {}

  /** The id of the user `who` (an id, a username or an email) names; null when none (see userIdOf). */
  idOf(who: string): Promise<string | null> {
    return userIdOf(this.d.storage.users, who);
  }

  list(query: UserListQuery): Promise<{ users: UserRecord[]; total: number }> {
    const { legacyHash, ...rest } = query;
    return this.d.storage.users.list(legacyHash === undefined ? rest : { ...rest, legacyHash: { legacy: legacyHash, currentPrefix: this.d.hasher.currentPrefix } });
  }

  /**
   * Users (all, active), sign-ins over the last 24 hours, live sessions. Each figure is read from a
   * count the storage keeps or counted through an index (see migration 10), never by reading a table.
   */
  async overview(): Promise<Overview> {
    const at = this.d.clock();
    const since = at - DAY_MS;
    const { users, sessions, events } = this.d.storage;
    const [all, active, succeeded, failed, throttled, liveSessions] = await Promise.all([
      users.list({ limit: 0, offset: 0 }), users.list({ limit: 0, offset: 0, active: true }),
      events.count('signin.succeeded', since), events.count('signin.failed', since), events.count('signin.throttled', since),
      sessions.countLive(at),
    ]);
    return { at, users: { total: all.total, active: active.total }, signIns: { since, succeeded, failed, throttled }, liveSessions };
  }

  /** Any user, active or not, or ERR_USER_NOT_FOUND. */
  get(id: string): Promise<UserRecord> {
    return findUser(this.d.storage.users, id);
  }

  /**
   * Updates roles, is_active, full_name, email or password. A role change overrides the roles of
   * the user's live tokens from the next request; deactivation or a new password refuses them all.
   */
  async update(id: string, input: Record<string, unknown>, actor: Actor | null = null, meta: ClientMeta = NO_META): Promise<UserRecord> {
    const unknown = Object.keys(input).find((k) => !PATCHABLE.includes(k));
    if (unknown !== undefined) throw invalid(unknown, 'is not a field that can be changed');
    const given = (field: string, check: () => unknown) => (field in input ? check : undefined);
    const { password, ...fields } = checkFields({
      roles: given('roles', () => validateRoles(input.roles)),
      isActive: given('is_active', () => validateBoolean(input.is_active, 'is_active')),
      fullName: given('full_name', () => validateFullName(input.full_name)),
      email: given('email', () => normaliseEmail(input.email)),
      emailVerified: given('email_verified', () => validateBoolean(input.email_verified, 'email_verified')),
      password: given('password', () => validatePassword(input.password, passwordRules(this.d))),
    });
    if (password !== undefined && this.d.passwordContextCheck !== false) {
      // Nor the account's own names: its username, and the address this change leaves it.
      const current = await this.get(id);
      validatePassword(password, passwordRules(this.d), 'password', { username: current.username, email: fields.email ?? current.email });
    }
    const patch: UserPatch = fields; // only the fields given: checkFields leaves the others out
    if (password !== undefined) patch.passwordHash = await this.d.hasher.hash(password);
    const who = { actorId: actorIdOf(actor), userId: id, ip: meta.ip, userAgent: meta.userAgent };
    // Everything the write records (its events, its role override, the administrator it must
    // keep) is computed from the row it is written over: written only over the row as read
    // (updatedAtWas), read again when another write came between. Read outside the write, ten
    // administrators deactivating one user at once wrote ten user.deactivated events.
    let user: UserRecord | null = null;
    for (let attempt = 1; user === null; attempt++) {
      if (attempt > MAX_ATTEMPTS) throw new WardenError('ERR_CONFLICT', 'The user was changed by others meanwhile; try again');
      user = await this.updateOver(await this.get(id), patch, actor, who);
    }
    if (patch.passwordHash !== undefined) await this.d.hooks?.passwordChanged?.(user);
    return user;
  }

  /** update's write over `before` as read: null when the row is no longer that one (read it again). */
  private async updateOver(before: UserRecord, asked: UserPatch, actor: Actor | null, who: EventSubject): Promise<UserRecord | null> {
    const { id } = before;
    const patch = { ...asked };
    const keep = actor?.kind === 'user'
      ? administratorsToKeep(this.d.adminRoles, before, { roles: patch.roles ?? before.roles, isActive: patch.isActive ?? before.isActive })
      : undefined;
    // A new address is not verified, unless the administrator says it is.
    if (patch.email !== undefined && patch.email !== before.email && patch.emailVerified === undefined) patch.emailVerified = false;
    // One event per security fact the change holds, written with it; nothing for a no-op.
    const changes = (after: UserRecord | null): NewEvent[] => {
      if (after === null) return [];
      const e = this.d.events;
      const out: NewEvent[] = [];
      if (!sameSet(before.roles, after.roles)) out.push(e.make('user.roles_changed', who, { from: before.roles, to: after.roles }));
      if (before.isActive !== after.isActive) out.push(e.make(after.isActive ? 'user.activated' : 'user.deactivated', who, {}));
      if (patch.passwordHash !== undefined) out.push(e.make('password.changed', who, {}));
      if (before.email !== after.email) out.push(e.make('email.changed', who, {}));
      if (!before.emailVerified && after.emailVerified && before.email === after.email) out.push(e.make('email.verified', who, {}));
      if (before.fullName !== after.fullName) out.push(e.make('user.updated', who, { fields: ['full_name'] }));
      return out;
    };
    // A role change overrides the roles of the user's live tokens from their next request. The
    // override is written in the change's transaction (after the row is locked), so that two role
    // changes racing leave the override of the one that committed last, as the row is; written
    // after the commit, they could land in the other order and leave a removed role in force.
    const roles = patch.roles === undefined || sameSet(before.roles, patch.roles) ? undefined
      : roleOverrideWrite(this.d.revoker, this.d.retention.roleOverride(this.d.clock()));
    // A deactivation or a new password refuses every token of the user in its own transaction (a
    // crash after the commit must not leave them passing). Over a row already inactive there is
    // nothing to refuse: the deactivation that made it so (a racing one included) refused them in
    // its transaction, committed before this write.
    const refusal = (patch.isActive === false && before.isActive) || patch.passwordHash !== undefined
      ? this.d.sessions.refusal(id, 'admin', { all: true }) : undefined;
    let user: UserRecord | null;
    try {
      user = await this.d.events.write<UserRecord | null>(changes, (emit) =>
        this.d.storage.users.update(id, patch, emit, { keep, updatedAtWas: before.updatedAt }, roles?.override, refusal ? { sessions: refusal.sessions } : undefined));
    } catch (e) {
      throw conflict(e);
    }
    roles?.publish();
    refusal?.publish();
    return user;
  }

  /** A user's live sessions, newest first (an unknown user: ERR_USER_NOT_FOUND). */
  async sessionsOf(id: string, page: Page): Promise<{ sessions: SessionRecord[]; total: number }> {
    await this.get(id);
    return this.d.sessions.list(id, page);
  }

  /**
   * Ends one session of the user and refuses its tokens, with its session.ended event (the actor:
   * the administrator, or none for the operator at the console); another user's session answers as unknown.
   */
  async endSession(id: string, sessionId: string, actor: Actor | null = null, meta: ClientMeta = NO_META): Promise<void> {
    await this.get(id);
    await this.d.sessions.endOwn(id, sessionId, 'admin', meta, actorIdOf(actor));
  }

  /**
   * Ends every session of the user and refuses every token of theirs (sessionless ones too), one
   * session.ended event per session it ends, written with the ending. Returns the ended ids.
   */
  async endAllSessions(id: string, actor: Actor | null = null, meta: ClientMeta = NO_META): Promise<string[]> {
    await this.get(id);
    const who = { actorId: actorIdOf(actor), userId: id, ip: meta.ip, userAgent: meta.userAgent };
    return this.d.sessions.refuseAllTokens(id, 'admin', (ids) => ids.map((sid) => this.d.events.make('session.ended', { ...who, sessionId: sid }, { reason: 'admin' })));
  }

  /**
   * Deletes a user; their sessions end and every token of theirs is refused. Through the API, not
   * the last active administrator (ERR_CONFLICT).
   */
  async delete(id: string, actor: Actor | null = null, meta: ClientMeta = NO_META): Promise<void> {
    const before = await this.get(id);
    const keep = actor?.kind === 'user' ? await keepAnAdministrator(this.d.storage.users, this.d.adminRoles, before) : undefined;
    await this.d.sessions.refuseAllTokens(id, 'admin');
    const deleted = (gone: boolean) => (gone ? [this.d.events.make('user.deleted', { actorId: actorIdOf(actor), userId: id, ip: meta.ip, userAgent: meta.userAgent }, {})] : []);
    // Checked again under the lock (keep): the only other administrator may be going at this moment.
    // The loser of that race is refused once its target's sessions have ended: they sign in again.
    let gone: boolean;
    try {
      gone = await this.d.events.write<boolean>(deleted, (emit) => this.d.storage.users.delete(id, emit, { keep }));
    } catch (e) {
      throw conflict(e);
    }
    // Another deletion took it meanwhile: that one is the deletion, this one found nobody.
    if (!gone) throw new WardenError('ERR_USER_NOT_FOUND');
    // Again once deleted: a sign-in that opened its session between the refusal and the delete
    // holds tokens the first refusal's cut-off does not cover (and its session went with the user).
    await this.d.sessions.refuseAllTokens(id, 'admin');
  }
}

function actorIdOf(actor: Actor | null): string | null {
  return actor?.kind === 'user' ? actor.userId : null;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
