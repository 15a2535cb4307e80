// Second factors: TOTP authenticators, recovery codes and passkeys — enrolling and removing them,
// the sign-in step between a correct password and the tokens (the MFA token), passwordless
// sign-in with a passkey, and an administrator's reset. No HTTP here.
import { randomUUID } from 'node:crypto';
import { hasSecondFactor, WardenError, type JwtClaims, type TokenIssuer, type VerifiedToken } from '@warden/toolkit';
import type { EventLog } from '../../events/log.js';
import type { NewEvent } from '../../events/records.js';
import type { PasskeyRecord, Storage, TotpFactorRecord, UserRecord } from '../../storage/types.js';
import type { AccountHooks } from '../hooks.js';
import type { Sessions } from '../sessions.js';
import type { SignInThrottle } from '../throttle.js';
import type { ClientIpLimit } from '../client-ip-limit.js';
import { NO_META, type Actor, type ClientMeta, type TokenPair } from '../types.js';
import { findUser, isUuid } from '../users.js';
import { invalid } from '../validate.js';
import { assuranceOf, passkeySignIn, withSecondFactor, type SecondFactorMethod } from './assurance.js';
import type { Passkeys } from './passkeys.js';
import { hashRecoveryCode, newRecoveryCodes, normaliseRecoveryCode } from './recovery-codes.js';
import type { SecretBox } from './secret-box.js';
import { base32Encode, matchStep, newTotpSecret, otpauthUri } from './totp.js';

/** An MFA token's life: the time to open an authenticator app and type a code. */
export const MFA_TOKEN_TTL_SECONDS = 300;

/** What a sign-in may be completed with, as `methods` lists it. */
export type SecondFactorName = 'totp' | 'webauthn' | 'recovery_code';

/** A correct password of a user with a second factor: no tokens yet, an MFA token instead. */
export interface MfaRequired {
  kind: 'mfa_required';
  mfaToken: string;
  methods: SecondFactorName[];
  expiresIn: number;
  user: UserRecord;
}

/** What completes a sign-in: exactly one of these. */
export interface SecondFactorProof {
  code?: unknown;
  recovery_code?: unknown;
  webauthn?: unknown;
}

/** A user's factors as their owner and administrators see them (never a secret). */
export interface FactorList {
  totp: TotpFactorRecord[];
  passkeys: PasskeyRecord[];
  recoveryCodesRemaining: number;
}

export interface SecondFactorsDeps {
  storage: Pick<Storage, 'users' | 'factors' | 'challenges'>;
  sessions: Sessions;
  /** Issues the MFA tokens: with keys no other verifier holds (mfaTokenKeys), never the signing keys. */
  issuer: TokenIssuer;
  /** Verifies a token of type 'mfa' (signature, expiry) with the same keys. */
  verifyMfaToken: (token: string) => VerifiedToken;
  box: SecretBox;
  passkeys: Passkeys;
  clock: () => number;
  /** MFA_ISSUER: the issuer in otpauth:// URIs. */
  issuerName: string;
  /** Wrong codes per user (keyed `mfa:<user id>`); none when absent. */
  throttle?: SignInThrottle | undefined;
  /** Passwordless options per client IP (each stores a challenge before anything is proved); none when absent. */
  optionsLimit?: ClientIpLimit | undefined;
  /** Told when a secret was sealed under another key (the signing key rotated without MFA_ENCRYPTION_KEY). */
  warn?: (message: string) => void;
  /** The account hooks (the email gate, the new-sign-in notice) for the sign-ins completed here. */
  hooks?: AccountHooks | undefined;
  /** Enrolments and removals write their events with the factor; a refused code writes signin.failed. */
  events: EventLog;
}

const totpContext = (userId: string, factorId: string): string => `warden totp ${userId} ${factorId}`;
const stampContext = (user: UserRecord): string => `warden mfa token ${user.id}`;

export class SecondFactors {
  constructor(private readonly d: SecondFactorsDeps) {}

  // ---- sign-in ----------------------------------------------------------------------------

  /** Called by signIn once the password is right: an MFA token when the user has an active factor, else null. */
  async challenge(user: UserRecord): Promise<MfaRequired | null> {
    const methods = await this.methodsOf(user.id);
    if (methods.length === 0) return null;
    const now = this.d.clock();
    // Bound to the password it was earned with (pendingSignIn): a new password voids it.
    const token = this.d.issuer.issue('mfa', user.id, { expiresIn: MFA_TOKEN_TTL_SECONDS, additionalClaims: { amr: ['pwd'], pws: this.passwordStamp(user) } });
    await this.d.storage.challenges.put({
      id: token.claims.jti, kind: 'mfa_token', userId: user.id, createdAt: now, expiresAt: now + MFA_TOKEN_TTL_SECONDS * 1000,
    });
    return { kind: 'mfa_required', mfaToken: token.token, methods, expiresIn: MFA_TOKEN_TTL_SECONDS, user };
  }

  /** The passkey options for completing a sign-in with a passkey, for the holder of a live MFA token. */
  async passkeyOptionsFor(mfaToken: unknown) {
    const { user } = await this.pendingSignIn(mfaToken);
    const passkeys = await this.d.storage.factors.listPasskeys(user.id);
    if (passkeys.length === 0) throw new WardenError('ERR_FACTOR_NOT_FOUND', 'No passkey is registered for this account');
    return this.d.passkeys.assertionOptions({ kind: 'second_factor', userId: user.id }, passkeys);
  }

  /**
   * Completes a sign-in: the MFA token and one second factor open the session. A wrong factor
   * leaves the MFA token usable (a typo must not cost the password again) and counts towards the
   * user's throttle; success consumes it.
   */
  async complete(mfaToken: unknown, proof: SecondFactorProof, meta: ClientMeta): Promise<TokenPair> {
    const given = (['code', 'recovery_code', 'webauthn'] as const).filter((k) => proof[k] !== undefined && proof[k] !== null);
    if (given.length !== 1) throw invalid(given[1] ?? 'code', 'give exactly one of code, recovery_code or webauthn');
    // The proof's shape first: a malformed request is a 422 whatever the state of the MFA token.
    if (given[0] === 'code') codeText(proof.code, 'code');
    if (given[0] === 'recovery_code' && typeof proof.recovery_code !== 'string') throw invalid('recovery_code', 'must be a string');
    const { user, claims } = await this.pendingSignIn(mfaToken);
    const key = `mfa:${user.id}`;
    // In flight until counted: concurrent wrong codes cannot all pass the check before the first is counted.
    const release = (await this.d.throttle?.begin(null, key)) ?? (() => undefined);
    let method: SecondFactorMethod | null;
    try {
      method = await this.checkProof(user.id, given[0]!, proof);
      if (method === null) {
        await this.d.throttle?.fail(null, key);
        await this.d.events.append(this.d.events.make('signin.failed', { userId: user.id, ip: meta.ip, userAgent: meta.userAgent }, { reason: 'second_factor' }));
        throw new WardenError(given[0] === 'webauthn' ? 'ERR_PASSKEY_INVALID' : 'ERR_MFA_CODE_INVALID');
      }
      // Single use: of two requests racing with one MFA token, only one takes it.
      if ((await this.d.storage.challenges.take(claims.jti, 'mfa_token', this.d.clock())) === null) throw new WardenError('ERR_MFA_TOKEN_INVALID');
      await this.d.throttle?.succeed(null, key);
    } finally {
      release();
    }
    // The email gate ran at the password step, before the MFA token was issued; the sign-in happens now.
    const pair = await this.d.sessions.open(user, meta, withSecondFactor(assuranceOf(claims), method));
    await this.d.hooks?.signedIn?.(user, meta);
    return pair;
  }

  /** Passwordless sign-in, step 1: options asking for any discoverable passkey of this site. */
  async passkeyLoginOptions(meta: ClientMeta = NO_META) {
    await this.d.optionsLimit?.hit(meta.ip);
    return this.d.passkeys.assertionOptions({ kind: 'login' });
  }

  /** Passwordless sign-in, step 2: the passkey names its user; a verified passkey is two factors. */
  async passkeyLogin(response: unknown, meta: ClientMeta): Promise<TokenPair> {
    const { passkey, method } = await this.d.passkeys.verifyAssertion(response, { kind: 'login' });
    const user = await this.d.storage.users.findById(passkey.userId);
    if (!user) throw new WardenError('ERR_PASSKEY_INVALID');
    if (!user.isActive) throw new WardenError('ERR_USER_INACTIVE');
    // A passkey stands in for the password here: the same gate (email verification) applies.
    this.d.hooks?.passwordChecked?.(user);
    const pair = await this.d.sessions.open(user, meta, passkeySignIn(method));
    await this.d.hooks?.signedIn?.(user, meta);
    return pair;
  }

  // ---- the owner's factors ----------------------------------------------------------------------

  /** Starts a TOTP enrolment: a new secret, pending until confirmed with a code. */
  async enrolTotp(claims: JwtClaims): Promise<{ id: string; secret: string; uri: string }> {
    const user = await this.owner(claims);
    const existing = await this.d.storage.factors.listTotp(user.id);
    if (existing.some((t) => t.confirmedAt !== null)) {
      throw new WardenError('ERR_CONFLICT', 'An authenticator app is already enrolled; delete it first');
    }
    const id = randomUUID();
    const secret = newTotpSecret();
    await this.d.storage.factors.addPendingTotp({
      id, userId: user.id, sealedSecret: this.d.box.seal(secret, totpContext(user.id, id)), createdAt: this.d.clock(),
    });
    return { id, secret: base32Encode(secret), uri: otpauthUri({ issuer: this.d.issuerName, account: user.email, secret }) };
  }

  /** Activates the pending TOTP enrolment with one valid code; the first factor comes with recovery codes. */
  async confirmTotp(claims: JwtClaims, code: unknown, meta: ClientMeta = NO_META): Promise<{ recoveryCodes: string[] | null }> {
    const user = await this.owner(claims);
    const text = codeText(code, 'code');
    const key = `mfa:${user.id}`;
    // In flight until counted, as at the sign-in's step (complete).
    const release = (await this.d.throttle?.begin(null, key)) ?? (() => undefined);
    try {
      const pending = (await this.d.storage.factors.listTotp(user.id)).filter((t) => t.confirmedAt === null).at(-1);
      if (pending === undefined) throw new WardenError('ERR_FACTOR_NOT_FOUND', 'No authenticator app enrolment is pending; start one first');
      const secret = this.openSecret(pending);
      const now = this.d.clock();
      const step = secret === null ? null : matchStep(secret, text, now);
      if (step === null) {
        await this.d.throttle?.fail(null, key);
        throw new WardenError('ERR_MFA_CODE_INVALID');
      }
      const enrolled = (ok: boolean) => (ok ? [this.d.events.make('mfa.enrolled', this.subject(claims, meta), { method: 'totp', factor_id: pending.id })] : []);
      if (!(await this.d.events.write<boolean>(enrolled, (emit) => this.d.storage.factors.confirmTotp(user.id, pending.id, step, now, emit)))) {
        throw new WardenError('ERR_CONFLICT', 'An authenticator app is already enrolled; delete it first');
      }
      await this.d.throttle?.succeed(null, key);
    } finally {
      release();
    }
    return { recoveryCodes: await this.recoveryCodesIfNone(user.id) };
  }

  /** Options to register a passkey. */
  async passkeyRegistrationOptions(claims: JwtClaims) {
    const user = await this.owner(claims);
    return this.d.passkeys.registrationOptions(user, await this.d.storage.factors.listPasskeys(user.id));
  }

  /** Registers a passkey from the browser's answer; the first factor comes with recovery codes. */
  async registerPasskey(claims: JwtClaims, response: unknown, name: unknown, meta: ClientMeta = NO_META): Promise<{ passkey: PasskeyRecord; recoveryCodes: string[] | null }> {
    const user = await this.owner(claims);
    const passkey = await this.d.passkeys.verifyRegistration(user, response, name);
    const enrolled = (p: PasskeyRecord | null) => (p ? [this.d.events.make('mfa.enrolled', this.subject(claims, meta), { method: 'passkey', factor_id: p.id })] : []);
    const stored = await this.d.events.write<PasskeyRecord | null>(enrolled, (emit) => this.d.storage.factors.addPasskey(passkey, emit));
    if (stored === null) throw new WardenError('ERR_CONFLICT', 'This passkey is already registered');
    return { passkey: stored, recoveryCodes: await this.recoveryCodesIfNone(user.id) };
  }

  /** The user's active factors (pending enrolments aside) and how many recovery codes are left. */
  async list(userId: string): Promise<FactorList> {
    const [totp, passkeys, recoveryCodesRemaining] = await Promise.all([
      this.d.storage.factors.listTotp(userId), this.d.storage.factors.listPasskeys(userId), this.d.storage.factors.countRecoveryCodes(userId),
    ]);
    return { totp: totp.filter((t) => t.confirmedAt !== null), passkeys, recoveryCodesRemaining };
  }

  /**
   * Removes one of the caller's factors (the route asks for a fresh token that carries a second
   * factor). With the last one gone the recovery codes go too: a password alone signs in again.
   */
  async remove(claims: JwtClaims, factorId: string, meta: ClientMeta = NO_META): Promise<void> {
    const userId = claims.sub;
    const removed = (method: 'totp' | 'passkey') => (ok: boolean) =>
      (ok ? [this.d.events.make('mfa.removed', this.subject(claims, meta), { method, factor_id: factorId })] : []);
    const gone = isUuid(factorId) && (await this.d.events.write<boolean>(removed('totp'), (emit) => this.d.storage.factors.deleteTotp(userId, factorId, emit)));
    if (!gone && !(factorId.length <= 1400
      && (await this.d.events.write<boolean>(removed('passkey'), (emit) => this.d.storage.factors.deletePasskey(userId, factorId, emit))))) {
      throw new WardenError('ERR_FACTOR_NOT_FOUND');
    }
    if ((await this.methodsOf(userId)).every((m) => m === 'recovery_code')) {
      await this.d.storage.factors.replaceRecoveryCodes(userId, [], this.d.clock());
    }
  }

  /**
   * Ten new recovery codes, the old ones void (the route asks for a fresh token with a second
   * factor); written with their mfa.recovery_codes_regenerated event.
   */
  async regenerateRecoveryCodes(claims: JwtClaims, meta: ClientMeta = NO_META): Promise<string[]> {
    const user = await findUser(this.d.storage.users, claims.sub);
    if ((await this.methodsOf(user.id)).every((m) => m === 'recovery_code')) {
      throw new WardenError('ERR_FACTOR_NOT_FOUND', 'Recovery codes come with a second factor; enrol one first');
    }
    return this.newRecoveryCodes(user.id, [this.d.events.make('mfa.recovery_codes_regenerated', this.subject(claims, meta), {})]);
  }

  // ---- administration ---------------------------------------------------------------------

  /** A user by id, or by username or email (for the command line). */
  async userFor(idOrLogin: string): Promise<UserRecord> {
    const user = isUuid(idOrLogin) ? await this.d.storage.users.findById(idOrLogin) : await this.d.storage.users.findByLogin(idOrLogin);
    if (!user) throw new WardenError('ERR_USER_NOT_FOUND');
    return user;
  }

  /** Any user's factors, for an administrator (`GET /api/v1/users/{id}/factors`, `warden users factors list`). */
  async listFor(userId: string): Promise<FactorList> {
    const user = await findUser(this.d.storage.users, userId);
    return this.list(user.id);
  }

  /**
   * An administrator's reset (a lost phone): every factor, recovery code and pending sign-in of
   * the user goes, and all their sessions end, so the next sign-in is by password and may enrol
   * anew. `DELETE /api/v1/users/{id}/factors` and `warden users factors reset` both call this.
   */
  async reset(userId: string, actor: Actor, meta: ClientMeta = NO_META): Promise<{ sessionsEnded: number }> {
    const user = await findUser(this.d.storage.users, userId);
    const who = { actorId: actor.kind === 'user' ? actor.userId : null, userId: user.id, ip: meta.ip, userAgent: meta.userAgent };
    // The factors go and the sessions end in one transaction, with the mfa.removed event (the
    // write of the user's row that carries them bumps only its updated_at). Apart, a crash between
    // left every session open, the lost phone's too, on an account with no factor left, where a
    // password-only token may enrol one of its own; and so could that session meanwhile anyway.
    const refusal = this.d.sessions.refusal(user.id, 'factors-reset', { all: false });
    const removed = (r: UserRecord | null): NewEvent[] => (r ? [this.d.events.make('mfa.removed', who, { method: 'all' })] : []);
    const updated = await this.d.events.write<UserRecord | null>(removed, (emit) =>
      this.d.storage.users.update(user.id, {}, emit, {}, undefined, { sessions: refusal.sessions, factors: { removed: () => undefined } }));
    if (!updated) throw new WardenError('ERR_USER_NOT_FOUND');
    return { sessionsEnded: refusal.publish().length };
  }

  // ---- inside ---------------------------------------------------------------------------------

  /** Who did it (the token's user, to their own account) and from where, for an event. */
  private subject(claims: JwtClaims, meta: ClientMeta) {
    return { actorId: claims.sub, userId: claims.sub, sessionId: typeof claims.sid === 'string' ? claims.sid : null, ip: meta.ip, userAgent: meta.userAgent };
  }

  /** The ways this user can complete a sign-in; empty when they have no active factor. */
  private async methodsOf(userId: string): Promise<SecondFactorName[]> {
    const { totp, passkeys, recoveryCodesRemaining } = await this.list(userId);
    if (totp.length === 0 && passkeys.length === 0) return [];
    const methods: SecondFactorName[] = [];
    if (totp.length > 0) methods.push('totp');
    if (passkeys.length > 0) methods.push('webauthn');
    if (recoveryCodesRemaining > 0) methods.push('recovery_code');
    return methods;
  }

  /**
   * The caller adding a factor: an active user, and, once they have a factor, a token that shows
   * one (a password-only token from before the enrolment must not add a second device).
   */
  private async owner(claims: JwtClaims): Promise<UserRecord> {
    const user = await findUser(this.d.storage.users, claims.sub);
    if (!user.isActive) throw new WardenError('ERR_USER_INACTIVE');
    if (!hasSecondFactor(claims) && (await this.methodsOf(user.id)).length > 0) throw new WardenError('ERR_MFA_REQUIRED');
    return user;
  }

  /** The user and claims of a live, unused MFA token; ERR_MFA_TOKEN_INVALID otherwise. */
  private async pendingSignIn(mfaToken: unknown): Promise<{ user: UserRecord; claims: JwtClaims }> {
    if (mfaToken === undefined || mfaToken === null || mfaToken === '') throw invalid('mfa_token', 'is required');
    if (typeof mfaToken !== 'string') throw new WardenError('ERR_MFA_TOKEN_INVALID');
    let claims: JwtClaims;
    try {
      claims = this.d.verifyMfaToken(mfaToken).claims;
    } catch {
      throw new WardenError('ERR_MFA_TOKEN_INVALID');
    }
    const live = await this.d.storage.challenges.get(claims.jti, 'mfa_token', this.d.clock());
    if (live === null || live.userId !== claims.sub) throw new WardenError('ERR_MFA_TOKEN_INVALID');
    const user = await this.d.storage.users.findById(claims.sub);
    if (!user) throw new WardenError('ERR_MFA_TOKEN_INVALID');
    if (!user.isActive) throw new WardenError('ERR_USER_INACTIVE');
    // Earned with the password the account has now: a change, a reset or an administrator's new
    // password since voids it, as it ends the sessions (whoever knew the old one is out). The
    // session then opens only over this same hash (sessions.open), so one landing meanwhile does too.
    if (!this.d.box.stampMatches(claims.pws, user.passwordHash, stampContext(user))) throw new WardenError('ERR_MFA_TOKEN_INVALID');
    return { user, claims };
  }

  /** The MFA token's keyed fingerprint of the user's password hash (never the hash). */
  private passwordStamp(user: UserRecord): string {
    return this.d.box.stamp(user.passwordHash, stampContext(user));
  }

  /** Checks one proof; the RFC 8176 method it adds, or null when it is wrong, used or replayed. */
  private async checkProof(userId: string, kind: 'code' | 'recovery_code' | 'webauthn', proof: SecondFactorProof): Promise<SecondFactorMethod | null> {
    const now = this.d.clock();
    if (kind === 'code') {
      const text = codeText(proof.code, 'code');
      for (const factor of (await this.d.storage.factors.listTotp(userId)).filter((t) => t.confirmedAt !== null)) {
        const secret = this.openSecret(factor);
        const step = secret === null ? null : matchStep(secret, text, now);
        // Single use: the step is recorded atomically, so a replayed code (or a racing twin) loses.
        if (step !== null && (await this.d.storage.factors.useTotpStep(factor.id, step, now))) {
          await this.resealIfOld(factor, secret!);
          return 'otp';
        }
      }
      return null;
    }
    if (kind === 'recovery_code') {
      if (typeof proof.recovery_code !== 'string') throw invalid('recovery_code', 'must be a string');
      const normalised = normaliseRecoveryCode(proof.recovery_code);
      return normalised !== null && (await this.d.storage.factors.useRecoveryCode(userId, hashRecoveryCode(normalised), now)) ? 'otp' : null;
    }
    try {
      return (await this.d.passkeys.verifyAssertion(proof.webauthn, { kind: 'second_factor', userId })).method;
    } catch (e) {
      if (e instanceof WardenError && e.code === 'ERR_PASSKEY_INVALID') return null;
      throw e;
    }
  }

  /**
   * A secret opened with an older key (a signing key since rotated, or the derived key before
   * MFA_ENCRYPTION_KEY was set) is sealed again under today's, so it outlives that key's removal.
   * Best effort: the sign-in does not depend on it, and the next one tries again.
   */
  private async resealIfOld(factor: TotpFactorRecord, secret: Buffer): Promise<void> {
    if (this.d.box.isCurrent(factor.sealedSecret)) return;
    await this.d.storage.factors.resealTotp(factor.id, factor.sealedSecret, this.d.box.seal(secret, totpContext(factor.userId, factor.id))).catch(() => false);
  }

  private openSecret(factor: TotpFactorRecord): Buffer | null {
    const secret = this.d.box.open(factor.sealedSecret, totpContext(factor.userId, factor.id));
    if (secret === 'other-key') {
      this.d.warn?.(`TOTP factor ${factor.id} was sealed under another key (the signing key changed and MFA_ENCRYPTION_KEY is unset?); it cannot be used`);
      return null;
    }
    if (secret === null) this.d.warn?.(`TOTP factor ${factor.id} does not open: its stored secret was altered`);
    return secret;
  }

  /** A first set of codes, unless the user has unused ones (checked and written in one transaction). */
  private async recoveryCodesIfNone(userId: string): Promise<string[] | null> {
    const { codes, hashes } = codeSet();
    return (await this.d.storage.factors.issueRecoveryCodes(userId, hashes, this.d.clock())) ? codes : null;
  }

  /** A new set of codes for the user, stored (hashed) with `events`: those of the action it is part of. */
  private async newRecoveryCodes(userId: string, events: readonly NewEvent[] = []): Promise<string[]> {
    const { codes, hashes } = codeSet();
    await this.d.events.write<void>(events, (emit) => this.d.storage.factors.replaceRecoveryCodes(userId, hashes, this.d.clock(), emit));
    return codes;
  }
}

/** New recovery codes, as shown once, and their hashes, as stored. */
function codeSet(): { codes: string[]; hashes: string[] } {
  const codes = newRecoveryCodes();
  return { codes, hashes: codes.map((c) => hashRecoveryCode(normaliseRecoveryCode(c)!)) };
}

/** A TOTP code as typed: digits, spaces allowed ("123 456"). */
function codeText(value: unknown, field: string): string {
  if (typeof value !== 'string' && typeof value !== 'number') throw invalid(field, 'must be the 6-digit code as a string');
  const text = String(value).replace(/\s/g, '');
  if (!/^\d{6}$/.test(text)) throw invalid(field, 'must be the 6-digit code as a string');
  return text;
}
