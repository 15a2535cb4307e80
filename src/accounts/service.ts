// The rules of accounts: sign-up, sign-in, refresh with rotation and reuse detection, sign-out,
// sessions, passwords and administration. No HTTP here: callers pass plain values and get plain
// values or a WardenError back.
import { randomUUID } from 'node:crypto';
import { WardenError } from '../errors.js';
import type { Revoker } from '../guard/revocation.js';
import type { SessionRecord, Storage, UserPatch, UserQuery, UserRecord } from '../storage/types.js';
import { UniqueViolation } from '../storage/types.js';
import type { JwtClaims } from '../tokens/types.js';
import { hashPassword, needsRehash, verifyPassword } from './passwords.js';
import type { SignInThrottle } from './throttle.js';
import {
  invalid, normaliseEmail, validateBoolean, validateFullName, validatePassword, validateRoles,
  validateUsername,
} from './validate.js';

export interface Issued {
  token: string;
  claims: JwtClaims;
}

export interface TokenIssuing {
  issue(
    type: 'access' | 'refresh',
    identity: string,
    opts?: { expiresIn?: number | false; fresh?: boolean | number; additionalClaims?: Record<string, unknown> },
  ): Issued;
}

export interface AccountsOptions {
  storage: Storage;
  issuer: TokenIssuing;
  revoker: Revoker;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  idleTtlSeconds: number;
  adminRoles: readonly string[];
  defaultRoles: readonly string[];
  passwordMaxLength: number;
  /** Failed sign-in throttle; none when absent. */
  throttle?: SignInThrottle;
  clock?: () => number;
}

export interface ClientMeta {
  userAgent: string | null;
  ip: string | null;
}

export interface TokenPair {
  access: Issued;
  refresh: Issued;
  session: SessionRecord;
  user: UserRecord;
}

export interface SignUpInput {
  username?: unknown;
  email?: unknown;
  password?: unknown;
  full_name?: unknown;
  roles?: unknown;
  is_active?: unknown;
}

/** JWT_LEEWAY_SECONDS' ceiling: revocation entries outlive every token they could still match. */
const MAX_LEEWAY_SECONDS = 300;

export type LogoutScope = 'local' | 'global' | 'others';

/** Who is asking: the roles in force of a verified token, or null for an anonymous request. */
export interface Actor {
  userId: string;
  roles: readonly string[];
}

export class Accounts {
  private readonly clock: () => number;

  constructor(private readonly o: AccountsOptions) {
    this.clock = o.clock ?? Date.now;
  }

  isAdmin(roles: readonly string[]): boolean {
    return roles.some((r) => this.o.adminRoles.includes(r));
  }

  // ---- sign-up and sign-in -------------------------------------------------------------------

  /**
   * Creates a user. Roles beyond the defaults are granted only to an administrator's request,
   * or to the very first account (it bootstraps the administrator); otherwise ERR_ROLES_FORBIDDEN
   * and nothing is created.
   */
  async signUp(input: SignUpInput, actor: Actor | null): Promise<UserRecord> {
    const username = validateUsername(input.username);
    const email = normaliseEmail(input.email);
    const password = validatePassword(input.password, this.o.passwordMaxLength);
    const fullName = validateFullName(input.full_name);
    const roles = input.roles === undefined || input.roles === null ? [...this.o.defaultRoles] : validateRoles(input.roles);
    const isActive = input.is_active === undefined ? true : validateBoolean(input.is_active, 'is_active');
    const elevated = roles.some((r) => !this.o.defaultRoles.includes(r)) || !isActive;
    const byAdmin = actor !== null && this.isAdmin(actor.roles);
    // Cheap refusal before the expensive hash; createFirst below settles races atomically.
    if (elevated && !byAdmin && (await this.o.storage.users.count()) > 0) throw new WardenError('ERR_ROLES_FORBIDDEN');
    const user = {
      id: randomUUID(), username, email, fullName, roles, isActive,
      passwordHash: await hashPassword(password),
      createdAt: this.clock(),
    };
    try {
      if (elevated && !byAdmin) {
        const created = await this.o.storage.users.createFirst(user);
        if (created === null) throw new WardenError('ERR_ROLES_FORBIDDEN');
        return created;
      }
      return await this.o.storage.users.create(user);
    } catch (e) {
      throw conflict(e);
    }
  }

  /** Checks a password and opens a session. The same error, in about the same time, whether the user exists or not. */
  async signIn(login: unknown, password: unknown, meta: ClientMeta): Promise<TokenPair> {
    if (typeof login !== 'string' || typeof password !== 'string' || login === '' || password === '') {
      throw new WardenError('ERR_MISSING_CREDENTIALS');
    }
    // Over-long input is refused before any lookup or hash (no hashing-cost amplification).
    if (login.length > 320 || [...password].length > this.o.passwordMaxLength) throw new WardenError('ERR_BAD_CREDENTIALS');
    const key = login.trim();
    if (key.includes('\u0000')) throw new WardenError('ERR_BAD_CREDENTIALS'); // no such login can exist
    this.o.throttle?.check(meta.ip, key);
    const user = await this.o.storage.users.findByLogin(key);
    const ok = await verifyPassword(user?.passwordHash ?? null, password);
    if (!user || !ok) {
      this.o.throttle?.fail(meta.ip, key);
      throw new WardenError('ERR_BAD_CREDENTIALS');
    }
    this.o.throttle?.succeed(meta.ip, key);
    if (!user.isActive) throw new WardenError('ERR_USER_INACTIVE');
    if (needsRehash(user.passwordHash)) {
      await this.o.storage.users.update(user.id, { passwordHash: await hashPassword(password) });
    }
    return this.openSession(user, meta);
  }

  private async openSession(user: UserRecord, meta: ClientMeta): Promise<TokenPair> {
    const now = this.clock();
    const sid = randomUUID();
    const access = this.issueAccess(user, sid, true);
    const refresh = this.o.issuer.issue('refresh', user.id, { additionalClaims: { sid }, expiresIn: this.o.refreshTtlSeconds });
    const session = await this.o.storage.sessions.create({
      id: sid,
      userId: user.id,
      refreshJti: refresh.claims.jti,
      createdAt: now,
      lastUsedAt: now,
      expiresAt: refresh.claims.exp * 1000, // the session ends exactly when its refresh tokens do
      idleExpiresAt: now + this.o.idleTtlSeconds * 1000,
      userAgent: meta.userAgent?.slice(0, 512) ?? null,
      ip: meta.ip,
    });
    return { access, refresh, session, user };
  }

  private issueAccess(user: UserRecord, sid: string, fresh: boolean): Issued {
    return this.o.issuer.issue('access', user.id, { fresh, additionalClaims: { roles: user.roles, sid } });
  }

  // ---- refresh ------------------------------------------------------------------------------

  /**
   * Rotates a verified refresh token (RFC 9700 §4.14.2): the presented token is retired and a new
   * pair issued. A retired token presented again ends the whole session.
   */
  async refresh(claims: JwtClaims): Promise<TokenPair> {
    const sid = claims.sid;
    if (typeof sid !== 'string' || !isUuid(sid)) throw new WardenError('ERR_REFRESH_INVALID');
    const now = this.clock();
    // Every refresh token of a session expires at the session's absolute deadline (openSession
    // sets both from the same lifetime), so the new one inherits the presented one's exp.
    const remaining = claims.exp - Math.floor(now / 1000);
    if (remaining <= 0) throw new WardenError('ERR_REFRESH_INVALID');
    const refresh = this.o.issuer.issue('refresh', claims.sub, { additionalClaims: { sid }, expiresIn: remaining });
    const result = await this.o.storage.sessions.rotate({
      id: sid,
      presentedJti: claims.jti,
      newJti: refresh.claims.jti,
      now,
      idleExpiresAt: now + this.o.idleTtlSeconds * 1000,
    });
    if (result.status === 'reused') {
      await this.revokeSessions([sid]);
      throw new WardenError('ERR_REFRESH_REUSED');
    }
    if (result.status !== 'rotated') throw new WardenError('ERR_REFRESH_INVALID');
    if (result.session.userId !== claims.sub) {
      // Only a token minted outside Warden with its key could pair a session with another user.
      await this.endSessions([sid], 'mismatch');
      throw new WardenError('ERR_REFRESH_INVALID');
    }
    const user = await this.o.storage.users.findById(claims.sub);
    if (!user || !user.isActive) {
      await this.endSessions([sid], 'user');
      throw new WardenError(user ? 'ERR_USER_INACTIVE' : 'ERR_REFRESH_INVALID');
    }
    return { access: this.issueAccess(user, sid, false), refresh, session: result.session, user };
  }

  // ---- sign-out and sessions ----------------------------------------------------------------

  /** Ends sessions by scope and refuses their tokens. Returns the ended session ids. */
  async signOut(claims: JwtClaims, scope: LogoutScope = 'local'): Promise<string[]> {
    const sid = typeof claims.sid === 'string' ? claims.sid : undefined;
    // A session-bound token dies with its session; only a sessionless one needs its own entry.
    if (sid === undefined && scope !== 'others') await this.revokeJti(claims);
    if (scope !== 'local') return this.endAllSessions(claims.sub, 'logout', scope === 'others' ? sid : undefined);
    if (sid === undefined) return [];
    const ended = (await this.o.storage.sessions.end(sid, 'logout', this.clock())) !== null;
    await this.revokeSessions([sid]);
    return ended ? [sid] : [];
  }

  listSessions(userId: string): Promise<SessionRecord[]> {
    return this.o.storage.sessions.listActive(userId, this.clock());
  }

  async endSession(userId: string, sessionId: string): Promise<void> {
    const s = isUuid(sessionId) ? await this.o.storage.sessions.get(sessionId) : null;
    // Another user's session id answers exactly like an unknown one.
    if (!s || s.userId !== userId || s.endedAt !== null) throw new WardenError('ERR_SESSION_NOT_FOUND');
    await this.endSessions([sessionId], 'logout');
  }

  /** Ends every live session of the user (but `exceptId`) and refuses their tokens. */
  private async endAllSessions(userId: string, reason: string, exceptId?: string): Promise<string[]> {
    const ended = await this.o.storage.sessions.endAllForUser(userId, reason, this.clock(), exceptId);
    await this.revokeSessions(ended);
    return ended;
  }

  private async endSessions(ids: string[], reason: string): Promise<void> {
    const now = this.clock();
    for (const id of ids) await this.o.storage.sessions.end(id, reason, now);
    await this.revokeSessions(ids);
  }

  /** This one token is refused until it could no longer pass anyway. */
  private revokeJti(claims: JwtClaims): Promise<void> {
    return this.o.revoker.revoke({ kind: 'jti', key: claims.jti, value: '', expiresAt: (claims.exp + MAX_LEEWAY_SECONDS) * 1000 });
  }

  /**
   * Every access token carrying one of these session ids is refused until the last could expire.
   * Refresh tokens need no entry: the ended session refuses them at rotation.
   */
  private async revokeSessions(ids: readonly string[]): Promise<void> {
    const expiresAt = this.clock() + (this.o.accessTtlSeconds + MAX_LEEWAY_SECONDS) * 1000;
    for (const id of ids) await this.o.revoker.revoke({ kind: 'sid', key: id, value: '', expiresAt });
  }

  /** Tokens of this user that carry no session (issued by the toolkit directly) are refused too. */
  private async revokeUser(userId: string): Promise<void> {
    const now = this.clock();
    await this.o.revoker.revoke({
      kind: 'user', key: userId, value: String(Math.floor(now / 1000)),
      expiresAt: now + this.o.refreshTtlSeconds * 1000,
    });
  }

  // ---- profile and password -----------------------------------------------------------------

  /** The token's user, or ERR_USER_NOT_FOUND / ERR_USER_INACTIVE. */
  async me(userId: string): Promise<UserRecord> {
    const user = !isUuid(userId) ? null : await this.o.storage.users.findById(userId);
    if (!user) throw new WardenError('ERR_USER_NOT_FOUND');
    if (!user.isActive) throw new WardenError('ERR_USER_INACTIVE');
    return user;
  }

  /** Changes the password after checking the current one, and ends every other session. */
  async changePassword(claims: JwtClaims, current: unknown, next: unknown): Promise<void> {
    const user = await this.me(claims.sub);
    if (typeof current !== 'string' || current === '') throw invalid('current_password', 'is required');
    const password = validatePassword(next, this.o.passwordMaxLength, 'new_password');
    if (!(await verifyPassword(user.passwordHash, current))) throw new WardenError('ERR_BAD_CREDENTIALS', 'Current password is incorrect');
    await this.o.storage.users.update(user.id, { passwordHash: await hashPassword(password) });
    const except = typeof claims.sid === 'string' ? claims.sid : undefined;
    await this.endAllSessions(user.id, 'password', except);
  }

  // ---- administration -----------------------------------------------------------------------

  listUsers(query: UserQuery): Promise<{ users: UserRecord[]; total: number }> {
    return this.o.storage.users.list(query);
  }

  createUser(input: SignUpInput, admin: Actor): Promise<UserRecord> {
    return this.signUp(input, admin);
  }

  async getUser(id: string): Promise<UserRecord> {
    const user = !isUuid(id) ? null : await this.o.storage.users.findById(id);
    if (!user) throw new WardenError('ERR_USER_NOT_FOUND');
    return user;
  }

  /**
   * Updates roles, is_active, full_name, email or password. A role change overrides the roles
   * of the user's live tokens from the next request; deactivation ends every session.
   */
  async updateUser(id: string, input: Record<string, unknown>): Promise<UserRecord> {
    const unknown = Object.keys(input).find((k) => !['roles', 'is_active', 'full_name', 'email', 'password'].includes(k));
    if (unknown !== undefined) throw invalid(unknown, 'is not a field that can be changed');
    const patch: UserPatch = {};
    if ('roles' in input) patch.roles = validateRoles(input.roles);
    if ('is_active' in input) patch.isActive = validateBoolean(input.is_active, 'is_active');
    if ('full_name' in input) patch.fullName = validateFullName(input.full_name);
    if ('email' in input) patch.email = normaliseEmail(input.email);
    if ('password' in input) patch.passwordHash = await hashPassword(validatePassword(input.password, this.o.passwordMaxLength));
    const before = await this.getUser(id);
    let user: UserRecord | null;
    try {
      user = await this.o.storage.users.update(id, patch);
    } catch (e) {
      throw conflict(e);
    }
    if (!user) throw new WardenError('ERR_USER_NOT_FOUND');
    const now = this.clock();
    if (patch.roles !== undefined && !sameSet(before.roles, patch.roles)) {
      await this.o.revoker.revoke({
        kind: 'roles', key: id, value: JSON.stringify(patch.roles), expiresAt: now + (this.o.accessTtlSeconds + MAX_LEEWAY_SECONDS) * 1000,
      });
    }
    if ((patch.isActive === false && before.isActive) || patch.passwordHash !== undefined) {
      await this.endAllSessions(id, 'admin');
      await this.revokeUser(id);
    }
    return user;
  }

  /** Deletes a user; their sessions end and every token of theirs is refused. */
  async deleteUser(id: string): Promise<void> {
    await this.getUser(id);
    await this.endAllSessions(id, 'admin');
    await this.revokeUser(id);
    await this.o.storage.users.delete(id);
  }

  /** Creates the configured administrator at start when no user has that username or email. */
  async ensureAdmin(username: string, email: string, password: string): Promise<UserRecord | null> {
    const existing = (await this.o.storage.users.findByLogin(username)) ?? (await this.o.storage.users.findByLogin(email));
    if (existing) return null;
    return this.signUp({ username, email, password, roles: [...this.o.adminRoles] }, { userId: 'config', roles: this.o.adminRoles });
  }

  /** RFC 7009: revokes an access token, or a refresh token's whole session. Unknown tokens are ignored. */
  async revokeToken(claims: JwtClaims): Promise<void> {
    if (claims.type === 'refresh' && typeof claims.sid === 'string' && isUuid(claims.sid)) {
      const s = await this.o.storage.sessions.get(claims.sid);
      if (s && s.userId === claims.sub) await this.endSessions([claims.sid], 'revoked');
      return;
    }
    await this.revokeJti(claims);
  }
}

function conflict(e: unknown): unknown {
  if (e instanceof UniqueViolation) {
    return new WardenError('ERR_CONFLICT', e.field === 'username' ? 'Username already registered' : 'Email already registered', { field: e.field });
  }
  return e;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Ids are UUIDs; anything else is simply not found (and never reaches a typed SQL column). */
function isUuid(v: string): boolean {
  return UUID_RE.test(v);
}
