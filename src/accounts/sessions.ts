// The session lifecycle: opening a session at sign-in (within the per-user limit), refresh rotation
// with reuse detection and its grace, sign-out by scope, a user's session list, and ending sessions
// (with their tokens refused).
import { WardenError, type IssuedToken, type JwtClaims, type TokenIssuer } from '@warden/toolkit';
import type { EventLog, EventSubject } from '../events/log.js';
import type { Emit, NewEvent } from '../events/records.js';
import type { Revoker } from '../revocation/revoker.js';
import { jtiRevocation, sessionRevocation, userRevocation, type RevocationRecord } from '../revocation/records.js';
import { newSessionId, sessionOpenedAt } from '../revocation/session-id.js';
import { StorageUnavailable } from '../storage/availability.js';
import {
  TokenSpent, UserChanged, type Page, type RefuseEnded, type RevokeSession, type RotateResult, type RotateStatus, type SessionConditions, type SessionRecord, type Storage,
  type UserRecord, type UserWriteEffects,
} from '../storage/types.js';
import { claimsContext, type ClaimsHook } from './claims-hook.js';
import { assuranceClaims, assuranceOf, PASSWORD_ONLY, type Assurance } from './factors/assurance.js';
import type { Retention } from './retention.js';
import { NO_META, type ClientMeta, type LogoutScope, type TokenPair } from './types.js';
import { isUuid } from './users.js';

export interface SessionsDeps {
  storage: Pick<Storage, 'users' | 'sessions' | 'revocations'>;
  issuer: TokenIssuer;
  revoker: Revoker;
  retention: Retention;
  clock: () => number;
  /** A session's absolute lifetime, which is also its refresh tokens' lifetime. */
  refreshTtlSeconds: number;
  /** A session unused this long ends. */
  idleTtlSeconds: number;
  /**
   * How long the refresh token a rotation just replaced is still answered, with the session's
   * current one (a lost answer, two tabs refreshing at once); 0: any replay ends the session.
   */
  refreshGraceMs: number;
  /**
   * The clock skew allowed between instances (JWT_LEEWAY_SECONDS, in ms; default 0). A rotation's
   * time is stamped by the instance that made it and the grace judged by the one the retry reaches:
   * without this, an instance whose clock is ahead by more than the grace ends the session of a
   * retry sent at once (two tabs behind a balancer). A grace of 0 stays strict.
   */
  clockSkewMs?: number | undefined;
  /** Live sessions a user may have; opening one more ends the oldest. Infinity: no limit. */
  maxSessionsPerUser: number;
  /** Where every session event is written (with the change it records). */
  events: EventLog;
  /** The application's custom claims for each access token (CLAIMS_HOOK); none when absent. */
  claims?: ClaimsHook | undefined;
  /**
   * LEGACY_REFRESH_TOKENS: a refresh token without `sid` (the replaced application's) is exchanged
   * once for a new session (exchangeLegacy); `prefix`: LEGACY_REFRESH_PREFIX. Absent: refused.
   */
  legacyRefresh?: { prefix?: string | undefined } | undefined;
}

/**
 * A refresh answered 503 may still have rotated (its statement reached the database, the answer did
 * not come back); the client, told to retry, presents the same token once the outage is over,
 * which may be long past REFRESH_REUSE_GRACE_SECONDS. That token gets this much grace instead, on
 * the instance that answered 503 (memory only; at most UNANSWERED_MAX tokens remembered).
 */
const UNANSWERED_GRACE_MS = 15 * 60_000;
const UNANSWERED_MAX = 10_000;

export class Sessions {
  /** Refresh tokens whose rotation was answered 503, and until when they get the longer grace. */
  private readonly unanswered = new Map<string, number>();
  /**
   * A session's revocation record, handed to the store with every write that ends sessions (it
   * adds it in that transaction: a 503 leaves neither half); made once, not per request.
   */
  private readonly revokeSession: RevokeSession = (sid) => sessionRevocation(sid, this.d.retention.session(this.d.clock()));

  constructor(private readonly d: SessionsDeps) {}

  /** The grace for this presented refresh token: longer when this instance answered its last rotation 503. */
  private graceFor(jti: string, now: number): number {
    const until = this.unanswered.get(jti);
    const grace = this.d.refreshGraceMs === 0 ? 0 : this.d.refreshGraceMs + (this.d.clockSkewMs ?? 0);
    if (until === undefined) return grace;
    if (until <= now) {
      this.unanswered.delete(jti);
      return grace;
    }
    // REFRESH_REUSE_GRACE_SECONDS=0 asks for strict detection: honoured here too.
    return this.d.refreshGraceMs === 0 ? 0 : UNANSWERED_GRACE_MS;
  }

  private rememberUnanswered(jti: string, now: number): void {
    if (this.unanswered.size >= UNANSWERED_MAX) this.unanswered.delete(this.unanswered.keys().next().value!);
    this.unanswered.set(jti, now + UNANSWERED_GRACE_MS);
  }

  /**
   * Opens a session for a user just authenticated (`how`: a password alone unless said otherwise):
   * a fresh access token and a refresh token, both stating how (amr, acr). The session and its
   * signin.succeeded event (and mfa.used, with a second factor) are written together.
   */
  async open(user: UserRecord, meta: ClientMeta, how: Assurance = PASSWORD_ONLY): Promise<TokenPair> {
    const now = this.d.clock();
    const sid = newSessionId(this.openingTime(user.id, now));
    const method = how.amr.includes('pwd') ? 'password' : 'passkey';
    // Before anything is written: a hook that fails leaves no session behind.
    const extra = await this.d.claims?.(claimsContext(user, { id: sid, ip: meta.ip, user_agent: meta.userAgent }, method));
    const access = this.issueAccess(user, sid, true, how, extra);
    const refresh = this.d.issuer.issue('refresh', user.id, { additionalClaims: { sid, ...assuranceClaims(how) }, expiresIn: this.d.refreshTtlSeconds });
    const who = { actorId: user.id, userId: user.id, ip: meta.ip, userAgent: meta.userAgent };
    const signedIn = [this.d.events.make('signin.succeeded', { ...who, sessionId: sid }, { method, amr: [...how.amr] })];
    const second = how.acr === 'aal2' ? how.amr.find((m) => m !== 'pwd' && m !== 'mfa') : undefined;
    if (second !== undefined) signedIn.push(this.d.events.make('mfa.used', { ...who, sessionId: sid }, { method: second }));
    const limit = this.withinLimit(now, who);
    let session: SessionRecord;
    try {
      // Only while the user is as checked: a deactivation, deletion or reset that landed since (its
      // sign-out everywhere already run) would otherwise miss this session and its tokens.
      session = await this.d.events.write<SessionRecord>(() => [...signedIn, ...limit.events()], (emit) => this.d.storage.sessions.create({
        id: sid,
        userId: user.id,
        refreshJti: refresh.claims.jti,
        createdAt: now,
        lastUsedAt: now,
        expiresAt: refresh.claims.exp * 1000, // the session ends exactly when its refresh tokens do
        idleExpiresAt: now + this.d.idleTtlSeconds * 1000,
        userAgent: meta.userAgent?.slice(0, 512) ?? null,
        ip: meta.ip,
      }, emit, { passwordHashWas: user.passwordHash, ...limit.only }));
    } catch (e) {
      if (!(e instanceof UserChanged)) throw e;
      // Refused as the same sign-in would be now.
      const current = await this.d.storage.users.findById(user.id);
      const from = { ip: meta.ip, userAgent: meta.userAgent };
      const inactive = current !== null && !current.isActive;
      await this.d.events.append(current === null
        ? this.d.events.make('signin.failed', from, { reason: 'unknown_login', login: user.username })
        : this.d.events.make('signin.failed', { ...from, userId: user.id }, { reason: inactive ? 'inactive' : 'bad_password' }));
      throw new WardenError(inactive ? 'ERR_USER_INACTIVE' : 'ERR_BAD_CREDENTIALS');
    }
    this.recorded(limit.ended);
    return { access, refresh, session, user };
  }

  /**
   * MAX_SESSIONS_PER_USER for a session about to open: the store ends the oldest others with its
   * insert (`only`, sessions.create's `trim`), whose session.ended events (`events`, once it has
   * run) are written with it; `ended`, once written, are the sessions to tell the revoker of. The
   * new session is never the one ended, whatever the clock says.
   */
  private withinLimit(now: number, who: EventSubject): { only: { trim?: NonNullable<SessionConditions['trim']> }; events(): NewEvent[]; ended: string[] } {
    const ended: string[] = [];
    const events = () => ended.map((id) => this.d.events.make('session.ended', { ...who, sessionId: id }, { reason: 'limit' }));
    if (!Number.isFinite(this.d.maxSessionsPerUser)) return { only: {}, events, ended };
    const trim = { keep: this.d.maxSessionsPerUser - 1, reason: 'limit', now, revoke: this.revokeSession, ended: (ids: string[]) => void ended.splice(0, ended.length, ...ids) };
    return { only: { trim }, events, ended };
  }

  /**
   * LEGACY_REFRESH_TOKENS: exchanges a refresh token that names no session (minted by the
   * application Warden replaced, with the shared key) for a new session of the user its `sub`
   * names: a UUID is a Warden id, anything else a legacy id (with LEGACY_REFRESH_PREFIX). Answered
   * as a refresh is (a new pair, the access token not fresh, the refresh token expiring when the
   * presented one would, at most REFRESH_TOKEN_EXPIRES_DAYS from now).
   *
   * Single use: the token's jti is recorded (a 'jti' revocation, until its exp) in the transaction
   * that opens the session, only if not recorded yet, so of two presentations on any instances
   * exactly one commits; every later one is refused as revoked, by the guard once the record has
   * reached the instance (the bus), else here. A second presentation does not end the session the
   * first opened, as a retired Warden token's would: nothing ties the two presenters apart from the
   * token, the first has already been answered, and most second presentations are a client's own
   * (a lost answer, a second tab); ending it would sign out the users this exchange exists for.
   */
  private async exchangeLegacy(claims: JwtClaims, meta: ClientMeta, prefix: string | undefined): Promise<TokenPair> {
    const now = this.d.clock();
    const remaining = Math.min(claims.exp - Math.floor(now / 1000), this.d.refreshTtlSeconds);
    if (!(remaining > 0)) throw new WardenError('ERR_REFRESH_INVALID');
    // Issued within REFRESH_TOKEN_EXPIRES_DAYS, as any refresh token Warden honours: the record a
    // password change or sign-out everywhere writes lives that long (retention.userTokens), so an
    // older token, which the old application may have minted for longer, would outlive it and pass.
    if (typeof claims.iat !== 'number' || now - claims.iat * 1000 > this.d.refreshTtlSeconds * 1000) throw new WardenError('ERR_REFRESH_INVALID');
    const legacyId = isUuid(claims.sub) ? undefined : prefix === undefined ? claims.sub : `${prefix}:${claims.sub}`;
    const user = legacyId === undefined
      ? await this.d.storage.users.findById(claims.sub)
      : (await this.d.storage.users.findByKeys({ ids: [], legacyIds: [legacyId], emails: [], usernames: [] })).find((u) => u.legacyId === legacyId) ?? null;
    if (user === null) throw new WardenError('ERR_REFRESH_INVALID');
    if (!user.isActive) throw new WardenError('ERR_USER_INACTIVE');
    // The checks the guard made against the legacy sub, made again against the user's own id: a
    // password change or a sign-out everywhere after the token's iat refuses it, as any token.
    if (this.d.revoker.index.check({ ...claims, sub: user.id }) !== null) throw new WardenError('ERR_JWT_REVOKED');
    const sid = newSessionId(this.openingTime(user.id, now));
    // What the old application's sign-in was made of is not Warden's to know: the lowest
    // assurance, never a second factor (an amr the token may carry is not taken up).
    const how = PASSWORD_ONLY;
    const extra = await this.d.claims?.(claimsContext(user, { id: sid, ip: meta.ip, user_agent: meta.userAgent }, 'refresh_token'));
    const refresh = this.d.issuer.issue('refresh', user.id, { additionalClaims: { sid, ...assuranceClaims(how) }, expiresIn: remaining });
    const spent = jtiRevocation(claims.jti, this.d.retention.token(claims));
    const who = { actorId: user.id, userId: user.id, sessionId: sid, ip: meta.ip, userAgent: meta.userAgent };
    const migrated = this.d.events.make('session.migrated', who, legacyId === undefined ? {} : { legacy_id: legacyId });
    const limit = this.withinLimit(now, who);
    let session: SessionRecord;
    try {
      session = await this.d.events.write<SessionRecord>(
        () => [migrated, ...limit.events()],
        (emit) => this.d.storage.sessions.create({
          id: sid,
          userId: user.id,
          refreshJti: refresh.claims.jti,
          createdAt: now,
          lastUsedAt: now,
          expiresAt: refresh.claims.exp * 1000,
          idleExpiresAt: now + this.d.idleTtlSeconds * 1000,
          userAgent: meta.userAgent?.slice(0, 512) ?? null,
          ip: meta.ip,
        }, emit, { passwordHashWas: user.passwordHash, spends: spent, ...limit.only }));
    } catch (e) {
      if (e instanceof TokenSpent) throw new WardenError('ERR_JWT_REVOKED');
      if (!(e instanceof UserChanged)) throw e;
      // Deactivated, deleted or given a new password since it was read: refused as it would be now.
      const current = await this.d.storage.users.findById(user.id);
      throw new WardenError(current !== null && !current.isActive ? 'ERR_USER_INACTIVE' : 'ERR_REFRESH_INVALID');
    }
    // The token is now refused by every instance's guard (this one at once, the others through the bus).
    this.d.revoker.recorded(spent);
    this.recorded(limit.ended);
    return { access: this.issueAccess(user, sid, false, how, extra), refresh, session, user };
  }

  /**
   * Rotates a verified refresh token (RFC 9700 §4.14.2): the presented token is retired and a new
   * pair issued. The token just retired, presented again within the grace, gets a new access
   * token and the session's current refresh token (re-minted under its jti), so every racer ends
   * up holding the same working session; any other retired token ends the whole session.
   */
  async refresh(claims: JwtClaims, meta: ClientMeta = NO_META): Promise<TokenPair> {
    const sid = claims.sid;
    if (sid === undefined && this.d.legacyRefresh !== undefined) return this.exchangeLegacy(claims, meta, this.d.legacyRefresh.prefix);
    if (typeof sid !== 'string' || !isUuid(sid)) throw new WardenError('ERR_REFRESH_INVALID');
    const who = { actorId: claims.sub, userId: claims.sub, sessionId: sid, ip: meta.ip, userAgent: meta.userAgent };
    // Which event the rotation records depends on what the store found, decided in its transaction.
    const rotation = (status: RotateStatus): NewEvent[] =>
      status === 'rotated' ? [this.d.events.make('session.refreshed', who, {})]
      : status === 'grace' ? [this.d.events.make('session.refreshed', who, { grace: true })]
      : status === 'reused' ? [this.d.events.make('session.reuse_detected', who, {})]
      : [];
    const now = this.d.clock();
    // Every refresh token of a session expires at the session's absolute deadline (open() sets
    // both from the same lifetime), so the new one inherits the presented one's exp.
    const remaining = claims.exp - Math.floor(now / 1000);
    if (remaining <= 0) throw new WardenError('ERR_REFRESH_INVALID');
    const how = assuranceOf(claims); // the session's, carried by its refresh tokens
    const refresh = this.d.issuer.issue('refresh', claims.sub, { additionalClaims: { sid, ...assuranceClaims(how) }, expiresIn: remaining });
    // With a claims hook, the user and the custom claims come before the rotation: a hook that
    // fails must not cost the client its refresh token. Without one, the store reads the user
    // with the rotation (on PostgreSQL in the same statement: a refresh is one round trip).
    const hook = this.d.claims;
    const before = hook === undefined ? undefined : await this.d.storage.users.findById(claims.sub);
    const extra = before?.isActive ? await hook!(claimsContext(before, { id: sid, ip: meta.ip, user_agent: meta.userAgent }, 'refresh_token')) : undefined;
    let result: RotateResult;
    try {
      result = await this.d.events.write<RotateResult, RotateStatus>(rotation, (emit) => this.d.storage.sessions.rotate({
        id: sid,
        presentedJti: claims.jti,
        newJti: refresh.claims.jti,
        now,
        idleExpiresAt: now + this.d.idleTtlSeconds * 1000,
        graceMs: this.graceFor(claims.jti, now),
        ...(hook === undefined ? { userId: claims.sub } : {}),
        onReuse: this.revokeSession, // reuse ends the session and refuses its tokens in one transaction
      }, emit));
    } catch (e) {
      // An outage may have lost the answer of a rotation that did happen; a shortage (disk, lock) refused it.
      if (e instanceof StorageUnavailable && !e.shortage) this.rememberUnanswered(claims.jti, now);
      throw e;
    }
    if (result.status === 'reused') {
      this.recorded([sid]);
      throw new WardenError('ERR_REFRESH_REUSED');
    }
    if (result.status !== 'rotated' && result.status !== 'grace') throw new WardenError('ERR_REFRESH_INVALID');
    if (result.session.userId !== claims.sub) {
      // Only a token minted outside Warden with its key could pair a session with another user.
      await this.end([sid], 'mismatch', { ...who, userId: result.session.userId });
      throw new WardenError('ERR_REFRESH_INVALID');
    }
    const user = hook === undefined ? (result.user ?? null) : before;
    if (!user || !user.isActive) {
      await this.end([sid], 'user', who);
      throw new WardenError(user ? 'ERR_USER_INACTIVE' : 'ERR_REFRESH_INVALID');
    }
    // Within the grace the answer is the current refresh token itself (same jti, same exp): no new
    // state, so the winner's token and every racer's are interchangeable.
    const current = result.status === 'grace'
      ? this.d.issuer.issue('refresh', claims.sub, { additionalClaims: { sid, ...assuranceClaims(how) }, expiresIn: remaining, jti: result.session.refreshJti })
      : refresh;
    return { access: this.issueAccess(user, sid, false, how, extra), refresh: current, session: result.session, user };
  }

  /** Ends sessions by scope and refuses their tokens. Returns the ended session ids. */
  async signOut(claims: JwtClaims, scope: LogoutScope = 'local', meta: ClientMeta = NO_META): Promise<string[]> {
    const sid = typeof claims.sid === 'string' ? claims.sid : undefined;
    const who = { actorId: claims.sub, userId: claims.sub, sessionId: sid ?? null, ip: meta.ip, userAgent: meta.userAgent };
    const signedOut = (n: number) => [this.d.events.make('signout', who, { scope, sessions_ended: n })];
    // Everything the user holds, the presented token included: one record (see refuseAllTokens).
    if (scope === 'global') return this.refuseAllTokens(claims.sub, 'logout', (ids) => signedOut(ids.length));
    if (scope === 'others') return this.endAll(claims.sub, 'logout', sid, (ids) => signedOut(ids.length));
    // A session-bound token dies with its session; only a sessionless one needs its own entry (a
    // revocation record, written with the event).
    if (sid === undefined) {
      await this.revokeOneToken(claims, signedOut(0));
      return [];
    }
    const ended = await this.endOne(sid, 'logout', (r) => signedOut(r ? 1 : 0));
    return ended ? [sid] : [];
  }

  /** A page of the user's live sessions, newest first, and how many there are. */
  list(userId: string, page: Page): Promise<{ sessions: SessionRecord[]; total: number }> {
    return this.d.storage.sessions.listActive(userId, this.d.clock(), page);
  }

  /**
   * Ends one of the user's sessions (theirs, or by an administrator: `reason` 'admin', `actorId`
   * the administrator); another user's id answers exactly like an unknown one.
   */
  async endOwn(userId: string, sessionId: string, reason: 'logout' | 'admin' = 'logout', meta: ClientMeta = NO_META, actorId: string | null = userId): Promise<void> {
    const s = isUuid(sessionId) ? await this.d.storage.sessions.get(sessionId) : null;
    if (!s || s.userId !== userId || s.endedAt !== null) throw new WardenError('ERR_SESSION_NOT_FOUND');
    await this.end([sessionId], reason, { actorId, userId, ip: meta.ip, userAgent: meta.userAgent });
  }

  /**
   * Ends every live session of the user (but `exceptId`) and refuses their tokens. Returns the
   * ended ids. `emit`: the events of the action this is part of, written with the ending.
   */
  async endAll(userId: string, reason: string, exceptId?: string, emit?: Emit<string[]>): Promise<string[]> {
    const r = this.refusal(userId, reason, { all: false, exceptId });
    await this.d.events.write<string[]>(emit ?? [], (e) => this.d.storage.sessions.endAllForUser(userId, reason, r.sessions.now, exceptId, e, r.sessions));
    return r.publish();
  }

  /**
   * Refuses every token of the user: every session ends, and so do tokens that carry no session
   * (issued by the toolkit directly) issued until now. One transaction however many sessions there
   * are: one UPDATE ending them, one 'user' record refusing every session opened up to the latest
   * of them (the opening time is in each token's sid). Returns the ended ids.
   */
  async refuseAllTokens(userId: string, reason: string, emit?: Emit<string[]>): Promise<string[]> {
    const r = this.refusal(userId, reason, { all: true });
    await this.d.events.write<string[]>(emit ?? [], (e) => this.d.storage.sessions.endAllForUser(userId, reason, r.sessions.now, undefined, e, r.sessions));
    return r.publish();
  }

  /**
   * How a write that shuts the user's token holders out ends their sessions and refuses their
   * tokens in its own transaction (endAllForUser here; a new password's or a deactivation's
   * users.update, UserWriteEffects): `all`, every token of the user (refuseAllTokens), else a
   * record per session ended, `exceptId` kept (endAll). `publish()`, once the write has resolved,
   * applies the records here and tells the other instances; it returns the ended ids.
   */
  refusal(userId: string, reason: string, o: { all: boolean; exceptId?: string | undefined }): { sessions: NonNullable<UserWriteEffects['sessions']>; publish(): string[] } {
    const now = this.d.clock();
    let done: { ended: readonly string[]; records: readonly RevocationRecord[] } | undefined;
    const refuse: RefuseEnded = {
      records: (ended, user) => [...(o.all ? this.userRecords(userId, ended, now) : ended.map(this.revokeSession)), ...this.legacyRecords(user, now)],
      written: (ended, records) => void (done = { ended, records }),
    };
    return {
      sessions: { reason, now, exceptId: o.exceptId, records: refuse.records, written: refuse.written },
      publish: () => {
        for (const r of done?.records ?? []) this.d.revoker.recorded(r);
        return [...(done?.ended ?? [])];
      },
    };
  }

  /**
   * The records refusing every token the user holds, given the sessions just ended: one 'user'
   * record up to the latest session ended, even if another instance's clock put it after our now.
   * A session opened after the write is live and must stay out: here (and at peers once the record
   * reaches them) its id is dated after the cut-off (openingTime); only a peer opening one before
   * the record arrives, with a clock lagging ours, could date it under the cut-off, and then it is
   * refused (fails closed) and its user signs in again. Sessions opened before session ids carried
   * their opening time need their own records.
   */
  private userRecords(userId: string, ended: readonly string[], now: number): RevocationRecord[] {
    let upTo = now;
    const undated: RevocationRecord[] = [];
    for (const id of ended) {
      const opened = sessionOpenedAt(id);
      if (opened === undefined) undated.push(sessionRevocation(id, this.d.retention.session(now)));
      else upTo = Math.max(upTo, opened);
    }
    return [userRevocation(userId, upTo, this.d.retention.userTokens(now)), ...undated];
  }

  /**
   * The record refusing the tokens the replaced application minted with the shared key for this
   * user, issued up to `now`: they name the user by its old id (its legacy_id, less
   * LEGACY_REFRESH_PREFIX's `prefix:`, as exchangeLegacy reads a sub the other way), which no
   * record keyed by the Warden id reaches, so a deactivated user's, or a changed password's, passed
   * until they expired. None for a user without one (or gone).
   */
  private legacyRecords(user: UserRecord | null, now: number): RevocationRecord[] {
    const legacyId = user?.legacyId ?? null;
    if (legacyId === null) return [];
    const prefix = this.d.legacyRefresh?.prefix;
    const sub = prefix !== undefined && legacyId.startsWith(`${prefix}:`) ? legacyId.slice(prefix.length + 1) : legacyId;
    return [userRevocation(sub, now, this.d.retention.userTokens(now))];
  }

  /** RFC 7009: revokes an access token, or a refresh token's whole session. Unknown tokens are ignored. */
  async revokeToken(claims: JwtClaims, meta: ClientMeta = NO_META): Promise<void> {
    const who = { actorId: claims.sub, userId: claims.sub, ip: meta.ip, userAgent: meta.userAgent };
    if (claims.type === 'refresh' && typeof claims.sid === 'string' && isUuid(claims.sid)) {
      const s = await this.d.storage.sessions.get(claims.sid);
      if (s && s.userId === claims.sub) await this.end([claims.sid], 'revoked', who);
      return;
    }
    const sid = typeof claims.sid === 'string' ? claims.sid : null;
    await this.revokeOneToken(claims, [this.d.events.make('token.revoked', { ...who, sessionId: sid }, { token_type: claims.type === 'refresh' ? 'refresh' : 'access' })]);
  }

  /**
   * The opening time a new session's id carries (revocation/session-id.ts): now, but always after
   * any moment up to which the user's tokens are refused, so a session opened after a global
   * logout is never mistaken for one before it, even within the same millisecond.
   */
  private openingTime(userId: string, now: number): number {
    const cutoff = this.d.revoker.index.userCutoff(userId);
    return cutoff !== undefined && Number.isFinite(cutoff) && cutoff >= now ? cutoff + 1 : now;
  }

  private issueAccess(user: UserRecord, sid: string, fresh: boolean, how: Assurance, extra?: Record<string, unknown>): IssuedToken {
    // Warden's own claims last: the hook's can never replace them (it is also checked in claims-hook.ts).
    return this.d.issuer.issue('access', user.id, {
      fresh, additionalClaims: { ...extra, roles: user.roles, sid, email_verified: user.emailVerified, ...assuranceClaims(how) },
    });
  }

  /** Ends sessions, each with its session.ended event (when it was live), and refuses their tokens. */
  private async end(ids: string[], reason: string, who: EventSubject): Promise<void> {
    for (const id of ids) {
      await this.endOne(id, reason, (r) => (r ? [this.d.events.make('session.ended', { ...who, sessionId: id }, { reason })] : []));
    }
  }

  /**
   * Ends a session with `events`, and refuses its tokens, in one write (a 503 leaves neither half:
   * never a refresh token refused while its access tokens still pass). The ended session, or null.
   */
  private async endOne(id: string, reason: string, events: Emit<SessionRecord | null>): Promise<SessionRecord | null> {
    const ended = await this.d.events.write<SessionRecord | null>(events, (emit) =>
      this.d.storage.sessions.end(id, reason, this.d.clock(), emit, this.revokeSession));
    this.recorded([id]);
    return ended;
  }

  /** Sessions the store has ended and revoked: this instance's index and the others' learn of it now. */
  private recorded(ids: readonly string[]): void {
    for (const id of ids) this.d.revoker.recorded(this.revokeSession(id));
  }

  /** Refuses one token: its revocation record and the events recording it, in one transaction. */
  private revokeOneToken(claims: JwtClaims, events: readonly NewEvent[]): Promise<void> {
    return this.d.revoker.revokeToken(claims.jti, this.d.retention.token(claims),
      (record) => this.d.events.write<void>(events, (emit) => this.d.storage.revocations.add(record, emit)));
  }
}
