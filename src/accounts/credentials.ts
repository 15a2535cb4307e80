// A person's own account: registration (with the first-user bootstrap), sign-in, the profile,
// password change, and the configured administrator created at start.
import { randomUUID } from 'node:crypto';
import { WardenError, type JwtClaims } from '@warden/toolkit';
import type { EventLog } from '../events/log.js';
import { markUnseen, type NewEvent } from '../events/records.js';
import { clientKey } from '../limits/client-key.js';
import { InsertionOrdered } from '../limits/insertion-ordered.js';
import { emailKey, usernameKey } from '../storage/rules.js';
import { UniqueViolation, type Storage, type UserRecord } from '../storage/types.js';
import type { MfaRequired } from './factors/second-factors.js';
import type { AccountHooks } from './hooks.js';
import { needsRehash, type PasswordHasher } from './password-hasher.js';
import type { Sessions } from './sessions.js';
import type { ClientIpLimit } from './client-ip-limit.js';
import type { SignInThrottle } from './throttle.js';
import { NO_META, type Actor, type ClientMeta, type SignUpInput, type SystemActor, type TokenPair } from './types.js';
import { conflict, findUser, keepAnAdministrator } from './users.js';
import { isBlank } from './import-values.js';
import { NO_PASSWORD, usernamesFromEmail } from './importer.js';
import { resendInvitation } from './invitation.js';
import type { MailQueue } from '../mail/index.js';
import {
  checkFields, invalid, normaliseEmail, passwordRules, validateBoolean, validateFullName, validatePassword, validateRoles, validateUsername,
  type PasswordPolicyDeps,
} from './validate.js';

export interface CredentialsDeps extends PasswordPolicyDeps {
  storage: Pick<Storage, 'users'>;
  hasher: PasswordHasher;
  sessions: Sessions;
  clock: () => number;
  adminRoles: readonly string[];
  defaultRoles: readonly string[];
  /** The first account of an empty database may take any roles at sign-up (FIRST_SIGNUP_ADMIN; default true). */
  firstSignUpAdmin?: boolean | undefined;
  /** Self-service sign-up is open (SIGNUP_ENABLED; default true); closed, only an administrator or the system creates accounts. */
  signUpOpen?: boolean | undefined;
  /** Failed sign-in throttle; none when absent. */
  throttle?: SignInThrottle | undefined;
  /** CLIENT_IPV6_PREFIX: the IPv6 network a client is counted by (clientKey): throttled events' count, the hash queue's fairness; 64 when absent. */
  ipv6Prefix?: number | undefined;
  /** Sign-ups per client IP (not an administrator's); none when absent. */
  signUpLimit?: ClientIpLimit | undefined;
  /** Turns a correct password into an MFA token when the user has a second factor; none when absent. */
  secondFactor?: { challenge(user: UserRecord): Promise<MfaRequired | null> } | undefined;
  events: EventLog;
  hooks?: AccountHooks | undefined;
}

/** A correct password gives tokens, or, for a user with a second factor, an MFA token to complete with it. */
export type SignInResult = { kind: 'tokens'; pair: TokenPair } | MfaRequired;

/** The actor of ensureAdmin: Warden creating the administrator its configuration names. */
export const CONFIGURED_ADMIN: SystemActor = { kind: 'system', task: 'create the administrator named by ADMIN_USERNAME' };

/** The release of an attempt no throttle counted. */
const NOTHING_TO_RELEASE = (): void => undefined;

/** The longest login (a username or an email) worth looking up. */
const MAX_LOGIN_LENGTH = 320;
/** What an event keeps of a login that matched no account, in characters. */
const SHOWN_LOGIN = 64;

/**
 * A login as an event keeps it: its first SHOWN_LOGIN characters (never half of a surrogate
 * pair), a lone surrogate as U+FFFD and no NUL. Events are JSON, and PostgreSQL's jsonb refuses
 * both "\u0000" and a lone surrogate's escape: the refusal would not be recorded, and answered 500.
 * A bidirectional control is U+FFFD too: anyone's text in the audit log must not reorder how the
 * rest of its line reads; and so is every other control, format or invisible character, which
 * would make the login read as another (no login holds one: usernames and addresses refuse them).
 */
function shownLogin(login: string): string {
  const head = login.trim().replaceAll('\u0000', '').slice(0, 2 * SHOWN_LOGIN); // enough units for SHOWN_LOGIN characters
  return markUnseen(Array.from(head.replace(/\p{Cs}/gu, '\ufffd')).slice(0, SHOWN_LOGIN).join('')); // \p{Cs} with u: a lone half only
}
/** (client, login) pairs and clients whose throttling was recorded, remembered (per instance) to record it once per window. */
const MAX_THROTTLES_REMEMBERED = 10_000;
/** signin.throttled events one client (an IP; an IPv6 /64) records per window, whatever logins it tries. */
const THROTTLED_EVENTS_PER_CLIENT = 20;

/** Adds `key` as the newest entry of `table`, the expired ones and then the oldest dropped past MAX_THROTTLES_REMEMBERED. */
function remember<C extends { resetAt: number }>(table: InsertionOrdered<C>, key: string, value: C, now: number): void {
  table.dropExpired(now);
  if (table.size >= MAX_THROTTLES_REMEMBERED) table.dropOldest();
  table.add(key, value);
}

export class Credentials {
  /** When each recorded throttling of a (client, login) ends: one signin.throttled per window, not per refused attempt. */
  private readonly throttled = new InsertionOrdered<{ resetAt: number }>();
  /** Per client: the throttling events recorded in its window, and when the window ends. */
  private readonly throttledClients = new InsertionOrdered<{ resetAt: number; count: number }>();

  constructor(private readonly d: CredentialsDeps) {}

  /**
   * Creates a user. Roles beyond the defaults (or an inactive account) are granted only to an
   * administrator's or the system's request, or to the very first account (it bootstraps the
   * administrator) unless firstSignUpAdmin is off; otherwise ERR_ROLES_FORBIDDEN and nothing is created.
   * With sign-up closed (signUpOpen false) anyone else is refused ERR_SIGNUP_DISABLED first,
   * whatever they sent: nothing is validated, counted or looked up.
   */
  signUp(input: SignUpInput, actor: Actor | null, meta: ClientMeta = NO_META): Promise<UserRecord> {
    return this.create(input, actor, meta, false);
  }

  /**
   * An administrator's (or the operator's) invitation: creates an active account with no usable
   * password (NO_PASSWORD, which no password matches, as an import without one), its username the
   * one given or one made from the address, and records user.created (via invite) and user.invited
   * with it. No verification mail: the invitation's mail, which the caller queues
   * (queueInvitation), verifies the address when its link sets the password.
   */
  invite(input: Omit<SignUpInput, 'password' | 'is_active'>, actor: Actor, meta: ClientMeta = NO_META): Promise<UserRecord> {
    if (!(actor.kind === 'system' || this.isAdmin(actor.roles))) throw new WardenError('ERR_ROLES_FORBIDDEN', 'Only an administrator may invite');
    return this.create(input, actor, meta, true);
  }

  /** Sends an invitation again (see resendInvitation in invitation.ts). */
  reinvite(idOrLogin: string, actor: Actor, queue: MailQueue, meta: ClientMeta = NO_META): Promise<UserRecord> {
    return resendInvitation({ users: this.d.storage.users, events: this.d.events, queue }, idOrLogin, actor, meta);
  }

  private async create(input: SignUpInput, actor: Actor | null, meta: ClientMeta, invite: boolean): Promise<UserRecord> {
    const privileged = actor !== null && (actor.kind === 'system' || this.isAdmin(actor.roles));
    if (!privileged && this.d.signUpOpen === false) throw new WardenError('ERR_SIGNUP_DISABLED');
    const { username: given, email, password, fullName, roles, isActive } = checkFields({
      username: () => (invite && isBlank(input.username) ? undefined : validateUsername(input.username)),
      email: () => normaliseEmail(input.email),
      password: () => (invite ? undefined : validatePassword(input.password, passwordRules(this.d), 'password', { username: input.username, email: input.email })),
      fullName: () => validateFullName(input.full_name),
      roles: () => (input.roles === undefined || input.roles === null ? [...this.d.defaultRoles] : validateRoles(input.roles)),
      isActive: () => (input.is_active === undefined ? true : validateBoolean(input.is_active, 'is_active')),
    });
    const elevated = roles.some((r) => !this.d.defaultRoles.includes(r)) || !isActive;
    // Said as what was asked for: roles, or an account created inactive.
    const forbidden = () => new WardenError('ERR_ROLES_FORBIDDEN', isActive ? undefined : 'Only an administrator may create an inactive account');
    // Counted once the input is valid (a malformed one changes nothing) and before anything is
    // looked up, so that probing for taken names is limited too.
    if (!privileged) await this.d.signUpLimit?.hit(meta.ip);
    // Cheap refusal before the expensive hash; createFirst below settles races atomically.
    if (elevated && !privileged && (this.d.firstSignUpAdmin === false || (await this.d.storage.users.count()) > 0)) throw forbidden();
    // A taken name costs no hash, and a database that does not answer is found before the hash
    // queue, not after it (its 503 within the outage bound); the insert below still settles races.
    // An invitation without a username takes the first one made from the address that is free
    // (as an import does); the insert below still settles a race for it.
    const choices = given ?? usernamesFromEmail(email);
    const holders = await this.d.storage.users.findByKeys({ ids: [], legacyIds: [], emails: [email], usernames: typeof choices === 'string' ? [choices] : choices });
    const taken = (name: string) => holders.some((h) => usernameKey(h.username) === usernameKey(name));
    const username = typeof choices === 'string' ? choices : choices.find((n) => !taken(n)) ?? choices[choices.length - 1]!;
    // The username is named first when both are taken, as before invitations.
    const field = taken(username) ? 'username' : holders.some((h) => emailKey(h.email) === email) ? 'email' : undefined;
    if (field) throw conflict(new UniqueViolation(field));
    const user = {
      id: randomUUID(), username, email, fullName, roles, isActive,
      // The address of the administrator the configuration names is vouched for by the operator.
      emailVerified: actor?.kind === 'system' && !invite,
      passwordHash: password === undefined ? NO_PASSWORD : await this.d.hasher.hash(password, { client: clientKey(meta.ip, this.d.ipv6Prefix) }),
      createdAt: this.d.clock(),
    };
    const via = invite ? 'invite' : actor?.kind === 'system' && !actor.operator ? 'configuration' : privileged ? 'admin' : 'signup';
    const actorId = actor?.kind === 'user' ? actor.userId : actor === null ? user.id : null;
    const who = { actorId, userId: user.id, ip: meta.ip, userAgent: meta.userAgent };
    const events = [
      this.d.events.make('user.created', who, { via, roles }),
      ...(invite ? [this.d.events.make('user.invited', who, { resent: false })] : []),
    ];
    let created: UserRecord | null;
    try {
      created = elevated && !privileged
        ? await this.d.events.write<UserRecord | null>((r) => (r ? events : []), (emit) => this.d.storage.users.createFirst(user, emit))
        : await this.d.events.write<UserRecord>(events, (emit) => this.d.storage.users.create(user, emit));
    } catch (e) {
      throw conflict(e);
    }
    if (created === null) throw forbidden();
    if (!invite) await this.d.hooks?.signedUp?.(created, actor);
    return created;
  }

  /**
   * Checks a password and opens a session, or, for a user with a second factor, hands back an MFA
   * token instead. The same error, in about the same time, whether the user exists or not.
   */
  async signIn(login: unknown, password: unknown, meta: ClientMeta): Promise<SignInResult> {
    if (typeof login !== 'string' || typeof password !== 'string' || login === '' || password === '') {
      throw new WardenError('ERR_MISSING_CREDENTIALS');
    }
    const from = { ip: meta.ip, userAgent: meta.userAgent };
    const shown = shownLogin(login);
    const key = login.trim();
    // Over-long input, or a login with NUL (no such login can exist), is refused before any lookup
    // or hash (no hashing-cost amplification), under the same throttle as a wrong password, counted
    // as one: each refusal is an event written, and a client's must stay within its budget.
    const malformed = login.length > MAX_LOGIN_LENGTH || [...password].length > this.d.passwordMaxLength || key.includes('\u0000');
    // Counted in flight until answered, so concurrent guesses cannot all pass the check before the
    // first of them is counted (SignInThrottle.begin).
    const release = await this.checkThrottle(meta, malformed ? shown : key);
    try {
      if (malformed) {
        await this.d.throttle?.fail(meta.ip, shown);
        await this.d.events.append(this.d.events.make('signin.failed', from, { reason: 'malformed', login: shown }));
        throw new WardenError('ERR_BAD_CREDENTIALS');
      }
      let user = await this.d.storage.users.findByLogin(key);
      const ok = await this.d.hasher.verify(user?.passwordHash ?? null, password, { userId: user?.id, client: clientKey(meta.ip, this.d.ipv6Prefix) });
      if (!user || !ok) {
        await this.d.throttle?.fail(meta.ip, key, user ? [user.username, user.email] : []);
        const failed = user
          ? this.d.events.make('signin.failed', { ...from, userId: user.id }, { reason: 'bad_password' })
          : this.d.events.make('signin.failed', from, { reason: 'unknown_login', login: shown });
        await this.d.events.append(failed);
        throw new WardenError('ERR_BAD_CREDENTIALS');
      }
      await this.d.throttle?.succeed(meta.ip, key, [user.username, user.email]);
      if (!user.isActive) {
        await this.d.events.append(this.d.events.make('signin.failed', { ...from, userId: user.id }, { reason: 'inactive' }));
        throw new WardenError('ERR_USER_INACTIVE');
      }
      this.d.hooks?.passwordChecked?.(user);
      if (needsRehash(this.d.hasher, user.passwordHash)) {
        // Compare-and-set on the hash just checked: if it changed meanwhile (a password change, a
        // concurrent sign-in's rehash), that newer hash stands and this one is dropped.
        const rehashed = await this.d.hasher.hash(password, { client: clientKey(meta.ip, this.d.ipv6Prefix) });
        // The session opens only over the hash it was checked against (sessions.open): this one now.
        if (await this.d.storage.users.replacePasswordHash(user.id, user.passwordHash, rehashed)) {
          user = { ...user, passwordHash: rehashed };
        } else {
          // Another sign-in's rehash (or a new password) came first: it stands, checked as any other.
          const again = await this.d.storage.users.findById(user.id);
          if (again && (await this.d.hasher.verify(again.passwordHash, password, { userId: again.id, client: clientKey(meta.ip, this.d.ipv6Prefix) }))) user = again;
        }
      }
      // After the gates above (throttle, active, email verification): a second factor, when the user
      // has one, stands between the password and the tokens (its completion calls signedIn).
      const second = await this.d.secondFactor?.challenge(user);
      if (second) return second;
      const pair = await this.d.sessions.open(user, meta);
      await this.d.hooks?.signedIn?.(user, meta);
      return { kind: 'tokens', pair };
    } finally {
      release();
    }
  }

  /** The token's own user: ERR_USER_NOT_FOUND when gone, ERR_USER_INACTIVE when deactivated. */
  async profile(userId: string): Promise<UserRecord> {
    const user = await findUser(this.d.storage.users, userId);
    if (!user.isActive) throw new WardenError('ERR_USER_INACTIVE');
    return user;
  }

  /**
   * What users may change of their own profile: the full name. The address changes only through a
   * mailed confirmation (email-change.ts), roles and status only by an administrator.
   */
  async updateProfile(userId: string, input: Record<string, unknown>): Promise<UserRecord> {
    const other = Object.keys(input).find((k) => k !== 'full_name');
    if (other !== undefined) throw invalid(other, 'is not a field you can change here');
    if (!('full_name' in input)) throw invalid('full_name', 'is required');
    const fullName = validateFullName(input.full_name);
    await this.profile(userId);
    const updated = await this.d.storage.users.update(userId, { fullName });
    if (!updated) throw new WardenError('ERR_USER_NOT_FOUND');
    return updated;
  }

  /** Changes the password after checking the current one, and ends every other session. */
  async changePassword(claims: JwtClaims, current: unknown, next: unknown, meta: ClientMeta = NO_META): Promise<void> {
    const user = await this.profile(claims.sub);
    if (typeof current !== 'string' || current === '') throw invalid('current_password', 'is required');
    const password = validatePassword(next, passwordRules(this.d), 'new_password', user);
    const except = typeof claims.sid === 'string' ? claims.sid : undefined;
    const who = { actorId: user.id, userId: user.id, sessionId: except ?? null, ip: meta.ip, userAgent: meta.userAgent };
    await this.checkCurrentPassword(user, current, meta, this.d.events.make('password.change_failed', who, {}));
    const changed = (r: UserRecord | null): NewEvent[] => (r ? [this.d.events.make('password.changed', who, {})] : []);
    const hash = await this.d.hasher.hash(password, { client: clientKey(meta.ip, this.d.ipv6Prefix) });
    // Every other session ends, and its tokens are refused, in the change's own transaction: a
    // crash after the commit must not leave the new password with the sessions it shuts out.
    const refusal = this.d.sessions.refusal(user.id, 'password', { all: false, exceptId: except });
    // Over the hash the current password was checked against: a reset (or another change) landing
    // meanwhile is not undone, and this one is then refused as if it had come after it.
    const updated = await this.d.events.write<UserRecord | null>(changed, (emit) =>
      this.d.storage.users.update(user.id, { passwordHash: hash }, emit, { passwordHashWas: user.passwordHash }, undefined, { sessions: refusal.sessions }));
    if (!updated) {
      if (!(await this.d.storage.users.findById(user.id))) throw new WardenError('ERR_USER_NOT_FOUND');
      throw new WardenError('ERR_BAD_CREDENTIALS', 'Current password is incorrect');
    }
    refusal.publish();
    await this.d.hooks?.passwordChanged?.(user);
  }

  /**
   * Creates the configured administrator when no user has that username or email; null when one
   * does, whatever its values: a PASSWORD_MIN_LENGTH raised past ADMIN_PASSWORD since it was made
   * must not stop every start (its password stands, as any other set before the raise).
   */
  async ensureAdmin(username: string, email: string, password: string): Promise<UserRecord | null> {
    const holders = await this.d.storage.users.findByKeys({ ids: [], legacyIds: [], emails: [emailKey(email)], usernames: [username] });
    if (holders.length > 0) return null;
    try {
      // signUp refuses a taken username or email before it hashes anything.
      return await this.signUp({ username, email, password, roles: [...this.d.adminRoles] }, CONFIGURED_ADMIN);
    } catch (e) {
      if (e instanceof WardenError && e.code === 'ERR_CONFLICT') return null;
      throw e;
    }
  }

  /**
   * Deletes the user's own account (ACCOUNT_SELF_DELETE) after checking their current password:
   * every token refused, then the user and what hangs on it deleted, with a user.deleted event
   * whose actor is the user. The HTTP layer asks for a fresh token.
   */
  async deleteOwnAccount(claims: JwtClaims, current: unknown, meta: ClientMeta = NO_META): Promise<void> {
    const user = await this.profile(claims.sub);
    if (typeof current !== 'string' || current === '') throw invalid('current_password', 'is required');
    const who = { actorId: user.id, userId: user.id, sessionId: typeof claims.sid === 'string' ? claims.sid : null, ip: meta.ip, userAgent: meta.userAgent };
    await this.checkCurrentPassword(user, current, meta, this.d.events.make('user.delete_failed', who, {}));
    const keep = await keepAnAdministrator(this.d.storage.users, this.d.adminRoles, user);
    // Refused first, deleted second (as an administrator's deletion): a 503 between the two leaves
    // an account that signs in again, never a deleted one whose tokens still pass.
    await this.d.sessions.refuseAllTokens(user.id, 'deleted');
    const deleted = (gone: boolean) => (gone ? [this.d.events.make('user.deleted', who, { via: 'self' })] : []);
    // Checked again under the lock (keep): the only other administrator may be going at this moment.
    let gone: boolean;
    try {
      gone = await this.d.events.write<boolean>(deleted, (emit) => this.d.storage.users.delete(user.id, emit, { keep }));
    } catch (e) {
      throw conflict(e);
    }
    // An administrator's deletion landed first: theirs is the one that happened (and was recorded).
    if (!gone) throw new WardenError('ERR_USER_NOT_FOUND');
    // A sign-in that opened its session between the two (after the refusal's cut-off, before the
    // delete) holds tokens the first refusal does not cover, and its session row went with the user.
    await this.d.sessions.refuseAllTokens(user.id, 'deleted');
    await this.d.hooks?.deletedOwnAccount?.(user);
  }

  /**
   * A token holder's guess at the password is a guess like a sign-in's: the same throttle, on the
   * account's username (so every route's failures from one client add up), and `failed` recorded.
   */
  private async checkCurrentPassword(user: UserRecord, current: string, meta: ClientMeta, failed: NewEvent): Promise<void> {
    const release = await this.checkThrottle(meta, user.username);
    try {
      if (!(await this.d.hasher.verify(user.passwordHash, current, { userId: user.id, client: clientKey(meta.ip, this.d.ipv6Prefix) }))) {
        await this.d.throttle?.fail(meta.ip, user.username, [user.email]);
        await this.d.events.append(failed);
        throw new WardenError('ERR_BAD_CREDENTIALS', 'Current password is incorrect');
      }
      await this.d.throttle?.succeed(meta.ip, user.username, [user.email]);
    } finally {
      release();
    }
  }

  /**
   * Throws ERR_RATE_LIMITED while this (IP, login) may not try a password, recording the throttling;
   * otherwise the attempt is in flight until the returned release is called, once it is counted.
   */
  private async checkThrottle(meta: ClientMeta, login: string): Promise<() => void> {
    try {
      return (await this.d.throttle?.begin(meta.ip, login)) ?? NOTHING_TO_RELEASE;
    } catch (e) {
      if (e instanceof WardenError && e.code === 'ERR_RATE_LIMITED') await this.recordThrottled(meta, login, e);
      throw e;
    }
  }

  /**
   * One signin.throttled per (client, login) and window, however many attempts it refuses, and at
   * most THROTTLED_EVENTS_PER_CLIENT per client and window whatever logins it tries: a throttled
   * client rotating logins would otherwise write an event per request, no password checked.
   */
  private async recordThrottled(meta: ClientMeta, login: string, e: WardenError): Promise<void> {
    const now = this.d.clock();
    const client = clientKey(meta.ip, this.d.ipv6Prefix) ?? '';
    const key = `${client}\u0000${login.toLowerCase()}`;
    if ((this.throttled.get(key)?.resetAt ?? 0) > now) return;
    const retryAfter = typeof e.details?.retryAfter === 'number' ? e.details.retryAfter : 0;
    const recorded = this.throttledClients.get(client);
    if (recorded !== undefined && recorded.resetAt > now) {
      if (recorded.count >= THROTTLED_EVENTS_PER_CLIENT) return;
      recorded.count++;
    } else {
      remember(this.throttledClients, client, { resetAt: now + retryAfter * 1000, count: 1 }, now);
    }
    remember(this.throttled, key, { resetAt: now + retryAfter * 1000 }, now);
    await this.d.events.append(this.d.events.make('signin.throttled', { ip: meta.ip, userAgent: meta.userAgent }, {
      retry_after_seconds: retryAfter, login: shownLogin(login),
    }));
  }

  private isAdmin(roles: readonly string[]): boolean {
    return roles.some((r) => this.d.adminRoles.includes(r));
  }
}
