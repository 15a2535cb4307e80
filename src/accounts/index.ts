// The account services, composed: credentials (a person's own account), sessions (the session
// lifecycle) and admin (user administration), sharing one storage, one hasher, one clock and one
// retention policy for revocation records. No HTTP here: callers pass plain values and get plain
// values or a WardenError back.
import { personalData, type PendingMails, type PersonalData } from './personal-data.js';
import type { TokenIssuer, VerifiedToken } from '@warden/toolkit';
import { EventLog } from '../events/log.js';
import type { Revoker } from '../revocation/revoker.js';
import type { Storage } from '../storage/types.js';
import { createAccountEmail, type AccountEmail, type AccountEmailOptions } from './account-email.js';
import { UserAdmin } from './admin.js';
import type { ClaimsHook } from './claims-hook.js';
import { Credentials } from './credentials.js';
import { Passkeys } from './factors/passkeys.js';
import { SecondFactors } from './factors/second-factors.js';
import { SecretBox } from './factors/secret-box.js';
import { UserImport, type UserImportOptions } from './importer.js';
import type { PasswordHasher } from './password-hasher.js';
import { retention } from './retention.js';
import { Sessions } from './sessions.js';
import type { ClientIpLimit } from './client-ip-limit.js';
import type { SignInThrottle } from './throttle.js';
import type { PasswordPolicyDeps } from './validate.js';

export type { Actor, ClientMeta, LogoutScope, SignUpInput, SystemActor, TokenPair, UserActor } from './types.js';
export { NO_META } from './types.js';
export type { PasswordHasher } from './password-hasher.js';
export { Credentials, CONFIGURED_ADMIN, type SignInResult } from './credentials.js';
export { SecondFactors, MFA_TOKEN_TTL_SECONDS, type FactorList, type MfaRequired, type SecondFactorName } from './factors/second-factors.js';
export { deriveFromSigningKey } from './factors/secret-box.js';
export { mfaTokenKeys } from './factors/mfa-token-keys.js';
export { Sessions } from './sessions.js';
export { UserAdmin, type Overview, type UserListQuery } from './admin.js';
export { claimsHook, type ClaimsContext, type ClaimsHook, type ClaimsHookFunction } from './claims-hook.js';
export { requestPasswordReset } from './recovery.js';
export { queueInvitation, resendInvitation } from './invitation.js';
export { queuePasswordChanged } from './notices.js';
export type { AccountEmail, AccountEmailOptions, EmailLinks } from './account-email.js';
export { UserImport, IMPORT_FIELDS, type ImportField, type ImportOutcome, type ImportRow, type UserImportOptions } from './importer.js';
export { describeStoredHash, type StoredHashInfo } from './stored-hash.js';

export interface AccountsDeps extends PasswordPolicyDeps {
  storage: Pick<Storage, 'users' | 'sessions' | 'revocations' | 'emailTokens' | 'devices' | 'factors' | 'challenges' | 'events'>;
  issuer: TokenIssuer;
  revoker: Revoker;
  hasher: PasswordHasher;
  /** The mails waiting for an address (the outbox's, which accounts reach only through this), for a user's data export. */
  pendingMails?: PendingMails;
  /** Epoch milliseconds; every session and revocation time the services decide comes from it. */
  clock: () => number;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  idleTtlSeconds: number;
  /** How long a just-rotated refresh token is still answered with the current one; 0: never. */
  refreshGraceMs: number;
  /** The clock skew allowed between instances, in ms (JWT_LEEWAY_SECONDS): it widens the refresh grace. Default 0. */
  clockSkewMs?: number | undefined;
  /** Live sessions per user (Infinity: no limit); opening one more ends the oldest. */
  maxSessionsPerUser: number;
  adminRoles: readonly string[];
  defaultRoles: readonly string[];
  /** The first account of an empty database may take any roles at sign-up (default true). */
  firstSignUpAdmin?: boolean | undefined;
  /** Self-service sign-up is open (SIGNUP_ENABLED; default true); closed, only an administrator or the system creates accounts. */
  signUpOpen?: boolean | undefined;
  /** Failed sign-in throttle; none when absent. */
  throttle?: SignInThrottle | undefined;
  /** CLIENT_IPV6_PREFIX: the IPv6 network a client is counted by (clientKey); 64 when absent. */
  ipv6Prefix?: number | undefined;
  /** Sign-ups per client IP; none when absent. */
  signUpLimit?: ClientIpLimit | undefined;
  /** Second factors. */
  mfa: {
    /** 32 bytes: MFA_ENCRYPTION_KEY, or derived from the signing key (deriveFromSigningKey). */
    encryptionKey: Buffer;
    /** Keys secrets may have been sealed under before (derived from the ring's other private keys); opened, never sealed with. */
    olderEncryptionKeys?: readonly Buffer[] | undefined;
    /** MFA_ISSUER: the otpauth:// issuer and the passkeys' relying party name. */
    issuerName: string;
    /** WEBAUTHN_RP_ID and WEBAUTHN_ORIGINS. */
    rpId: string;
    origins: readonly string[];
    /** Issues MFA tokens with mfaTokenKeys(the signing ring): no service verifying Warden's tokens holds them. */
    tokenIssuer: TokenIssuer;
    /** Verifies MFA tokens (type 'mfa') with those keys. */
    verifyMfaToken: (token: string) => VerifiedToken;
    /** Wrong second-factor codes per user; none when absent. */
    throttle?: SignInThrottle | undefined;
    /** Passwordless sign-in options per client IP; none when absent. */
    optionsLimit?: ClientIpLimit | undefined;
    warn?: (message: string) => void;
  };
  /** Recovery, verification, email change and notices by mail; none when mail is off. */
  email?: AccountEmailOptions | undefined;
  /** Where the security events go (default: the storage's event store, no webhooks). */
  events?: EventLog | undefined;
  /** Custom claims for every access token (CLAIMS_HOOK). */
  claims?: ClaimsHook | undefined;
  /** LEGACY_REFRESH_TOKENS (with LEGACY_REFRESH_PREFIX): see Sessions.exchangeLegacy; absent: off. */
  legacyRefresh?: { prefix?: string | undefined } | undefined;
}

export interface Accounts {
  credentials: Credentials;
  sessions: Sessions;
  admin: UserAdmin;
  /** Second factors; `list`/`listFor`, `reset` and `userFor` are what the command line needs. */
  factors: SecondFactors;
  email: AccountEmail | undefined;
  /** One bulk import run (`warden import`). */
  startImport(options: UserImportOptions): UserImport;
  /** Everything held about a user (their data export); ERR_USER_NOT_FOUND when there is no such user. */
  personalData(userId: string): Promise<PersonalData>;
}

export function createAccounts(d: AccountsDeps): Accounts {
  const policy: PasswordPolicyDeps = {
    passwordMaxLength: d.passwordMaxLength, passwordMinLength: d.passwordMinLength, passwordBlocklist: d.passwordBlocklist, passwordContextCheck: d.passwordContextCheck,
  };
  const keep = retention({ accessTtlSeconds: d.accessTtlSeconds, refreshTtlSeconds: d.refreshTtlSeconds });
  const events = d.events ?? new EventLog({ store: d.storage.events, clock: d.clock });
  const sessions = new Sessions({
    storage: d.storage, issuer: d.issuer, revoker: d.revoker, retention: keep, clock: d.clock,
    refreshTtlSeconds: d.refreshTtlSeconds, idleTtlSeconds: d.idleTtlSeconds,
    refreshGraceMs: d.refreshGraceMs, clockSkewMs: d.clockSkewMs, maxSessionsPerUser: d.maxSessionsPerUser, events, claims: d.claims, legacyRefresh: d.legacyRefresh,
  });
  const email = d.email && createAccountEmail({
    ...d.email, storage: d.storage, hasher: d.hasher, sessions, clock: d.clock, ...policy, events,
  });
  const passkeys = new Passkeys({
    storage: d.storage, clock: d.clock, settings: { rpId: d.mfa.rpId, rpName: d.mfa.issuerName, origins: d.mfa.origins },
  });
  const factors = new SecondFactors({
    storage: d.storage, sessions, issuer: d.mfa.tokenIssuer, verifyMfaToken: d.mfa.verifyMfaToken, box: new SecretBox(d.mfa.encryptionKey, d.mfa.olderEncryptionKeys),
    passkeys, clock: d.clock, issuerName: d.mfa.issuerName, throttle: d.mfa.throttle, optionsLimit: d.mfa.optionsLimit, warn: d.mfa.warn,
    hooks: email?.hooks, events,
  });
  const credentials = new Credentials({
    storage: d.storage, hasher: d.hasher, sessions, clock: d.clock, throttle: d.throttle, ipv6Prefix: d.ipv6Prefix, signUpLimit: d.signUpLimit, secondFactor: factors, events,
    adminRoles: d.adminRoles, defaultRoles: d.defaultRoles, firstSignUpAdmin: d.firstSignUpAdmin, signUpOpen: d.signUpOpen, ...policy, hooks: email?.hooks,
  });
  const admin = new UserAdmin({
    storage: d.storage, hasher: d.hasher, sessions, revoker: d.revoker, retention: keep, clock: d.clock, events,
    ...policy, adminRoles: d.adminRoles, hooks: email?.hooks,
  });
  const startImport = (options: UserImportOptions) => new UserImport({
    storage: d.storage, hasher: d.hasher, sessions, revoker: d.revoker, retention: keep, clock: d.clock, events,
    defaultRoles: d.defaultRoles, passwordMaxLength: d.passwordMaxLength,
  }, options);
  return { credentials, sessions, admin, factors, email, startImport, personalData: (userId) => personalData({ storage: d.storage, hasher: d.hasher, pendingMails: d.pendingMails }, userId) };
}
