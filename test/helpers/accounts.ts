// A fixture for the unit tier: the account services over the memory storage adapter, a fast fake
// password hasher, a real revocation index and revoker (no bus), a real token issuer and verifier
// (HS256), all on one movable clock. No HTTP, no argon2, no network. Every test builds its own.
import { WardenError, createTokenIssuer, createTokenVerifier, keyRingFromSecret, type ErrorCode, type JwtClaims } from '@warden/toolkit';
import {
  createAccounts, mfaTokenKeys, type AccountEmailOptions, type Accounts, type ClientMeta, type PasswordHasher, type SignInResult, type TokenPair, type UserActor,
} from '../../src/accounts/index.js';
import { SignInThrottle, type ThrottleOptions } from '../../src/accounts/throttle.js';
import { RevocationIndex } from '../../src/revocation/index.js';
import { Revoker } from '../../src/revocation/revoker.js';
import { createMemoryStorage, type Storage, type UserRecord } from '../../src/storage/index.js';
import { testClock, type TestClock } from './clock.js';

export const PASSWORD = 'password-123';
export const ACCESS_TTL = 900;
export const REFRESH_TTL = 30 * 86400;
export const IDLE_TTL = 7 * 86400;
/** The key TOTP secrets are sealed with in the unit tier. */
export const MFA_KEY = Buffer.alloc(32, 7);

/** Hashes that are the password in disguise: instant, and recognisably not argon2. */
export interface FakeHasher extends PasswordHasher {
  /** Every verify call's hash argument, in order (null when the user did not exist). */
  readonly verified: (string | null)[];
}

export function fakeHasher(): FakeHasher {
  const verified: (string | null)[] = [];
  const encode = (p: string) => `fake:${Buffer.from(p).toString('base64url')}`;
  return {
    verified,
    // Asynchronous like the real one, so concurrent callers interleave as they would.
    hash: async (p) => encode(p),
    verify: async (h, p) => {
      verified.push(h);
      return h !== null && h === encode(p);
    },
    currentPrefix: 'fake:',
  };
}

export interface Fixture {
  accounts: Accounts;
  storage: Storage;
  index: RevocationIndex;
  revoker: Revoker;
  hasher: FakeHasher;
  clock: TestClock;
  meta: ClientMeta;
  /** A user created directly in the store (no rules applied), with PASSWORD. */
  addUser(username: string, roles?: string[], isActive?: boolean): Promise<UserRecord>;
  signIn(username: string, meta?: ClientMeta): Promise<TokenPair>;
  /** What the guard would answer for this token now: 'ok', or the error code. */
  guard(token: string): 'ok' | ErrorCode;
  /** The roles the guard would enforce for this token now. */
  rolesOf(token: string): readonly string[];
  claimsOf(token: string): JwtClaims;
  asActor(user: UserRecord): UserActor;
}

/** The tokens of a sign-in that needed no second factor (fails the test otherwise). */
export function tokensOf(result: SignInResult): TokenPair {
  if (result.kind !== 'tokens') throw new Error(`expected tokens, got ${result.kind}`);
  return result.pair;
}

export interface FixtureOptions {
  throttle?: Omit<ThrottleOptions, 'clock'>;
  /** Wrong second-factor codes per user per window (default: no throttle). */
  mfaThrottle?: Omit<ThrottleOptions, 'clock'>;
  defaultRoles?: string[];
  /** FIRST_SIGNUP_ADMIN (default true, as outside production). */
  firstSignUpAdmin?: boolean;
  /** SIGNUP_ENABLED (default true). */
  signUpOpen?: boolean;
  /** The mail features, built on the fixture's storage and clock (test/helpers/mail.ts). */
  email?: (deps: { storage: Storage; clock: TestClock }) => AccountEmailOptions;
  /** REFRESH_REUSE_GRACE_SECONDS in ms; default 10 s, the configuration's default. */
  refreshGraceMs?: number;
  /** MAX_SESSIONS_PER_USER; default 100, the configuration's default. */
  maxSessionsPerUser?: number;
  /** Wraps the memory storage the services use (e.g. to count calls); the fixture's `storage` is the wrapper. */
  wrapStorage?: (s: Storage) => Storage;
}

export const GRACE_MS = 10_000;

export function accountsFixture(o: FixtureOptions = {}): Fixture {
  const clock = testClock(Date.UTC(2030, 0, 1));
  const keys = keyRingFromSecret('unit-tier-secret-that-is-at-least-32-bytes!', 'HS256');
  const issuer = createTokenIssuer({ keys, accessExpiresIn: ACCESS_TTL, refreshExpiresIn: REFRESH_TTL, clock });
  const verify = createTokenVerifier({ keys, clock });
  const storage = (o.wrapStorage ?? ((x: Storage) => x))(createMemoryStorage());
  const index = new RevocationIndex();
  const revoker = new Revoker(index, storage.revocations, undefined, clock);
  const hasher = fakeHasher();
  const accounts = createAccounts({
    storage, issuer, revoker, hasher, clock,
    accessTtlSeconds: ACCESS_TTL, refreshTtlSeconds: REFRESH_TTL, idleTtlSeconds: IDLE_TTL,
    refreshGraceMs: o.refreshGraceMs ?? GRACE_MS, maxSessionsPerUser: o.maxSessionsPerUser ?? 100,
    adminRoles: ['admin'], defaultRoles: o.defaultRoles ?? ['user'], firstSignUpAdmin: o.firstSignUpAdmin, signUpOpen: o.signUpOpen, passwordMaxLength: 1024,
    throttle: o.throttle ? new SignInThrottle({ ...o.throttle, clock }) : undefined,
    email: o.email?.({ storage, clock }),
    mfa: {
      encryptionKey: MFA_KEY, issuerName: 'Warden', rpId: 'localhost', origins: ['http://localhost:8000'],
      tokenIssuer: createTokenIssuer({ keys: mfaTokenKeys(keys), accessExpiresIn: ACCESS_TTL, refreshExpiresIn: REFRESH_TTL, clock }),
      verifyMfaToken: createTokenVerifier({ keys: mfaTokenKeys(keys), clock, types: ['mfa'] }),
      throttle: o.mfaThrottle ? new SignInThrottle({ ...o.mfaThrottle, clock }) : undefined,
    },
  });
  const meta: ClientMeta = { userAgent: 'unit', ip: '192.0.2.1' };
  const claimsOf = (token: string) => verify(token).claims;
  let n = 0;
  return {
    accounts, storage, index, revoker, hasher, clock, meta,
    async addUser(username, roles = ['user'], isActive = true) {
      return storage.users.create({
        id: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`, username, email: `${username}@example.com`,
        fullName: null, roles, isActive, passwordHash: await hasher.hash(PASSWORD), createdAt: clock(),
      });
    },
    signIn: async (username, m = meta) => tokensOf(await accounts.credentials.signIn(username, PASSWORD, m)),
    guard(token) {
      try {
        return index.check(verify(token).claims) === null ? 'ok' : 'ERR_JWT_REVOKED';
      } catch (e) {
        if (e instanceof WardenError) return e.code;
        throw e;
      }
    },
    rolesOf: (token) => index.rolesOf(claimsOf(token)),
    claimsOf,
    asActor: (u) => ({ kind: 'user', userId: u.id, roles: u.roles }),
  };
}

/** The WardenError code a promise rejects with (fails the test if it resolves or throws something else). */
export async function codeOf(p: Promise<unknown>): Promise<ErrorCode> {
  try {
    await p;
  } catch (e) {
    if (e instanceof WardenError) return e.code;
    throw e;
  }
  throw new Error('expected a WardenError, but the call succeeded');
}
