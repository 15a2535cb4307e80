// The second-factor part of the storage contract: TOTP authenticators, recovery codes, passkeys
// (WebAuthn credentials) and the short-lived single-use challenges of sign-in and passkey
// ceremonies. Secrets arrive here already sealed or hashed: storage never sees a TOTP secret or a
// recovery code in the clear. Times are epoch milliseconds, as everywhere in storage. The writes
// that enrol or remove a factor take `events` (written in their transaction), as types.ts explains.
import type { Emit } from '../events/records.js';

export interface TotpFactorRecord {
  id: string; // UUID
  userId: string;
  /** The shared secret, encrypted by the accounts layer (never the secret itself). */
  sealedSecret: string;
  createdAt: number;
  /** Null while the enrolment awaits its first code; the factor counts only once confirmed. */
  confirmedAt: number | null;
  /** The last RFC 6238 time step accepted: a code of this step or earlier is refused (single use). */
  lastUsedStep: number | null;
  lastUsedAt: number | null;
}

export type NewTotpFactor = Pick<TotpFactorRecord, 'id' | 'userId' | 'sealedSecret' | 'createdAt'>;

export interface RecoveryCodeRecord {
  userId: string;
  /** SHA-256 of the normalised code, hex. */
  codeHash: string;
  createdAt: number;
  usedAt: number | null;
}

export type PasskeyDeviceType = 'singleDevice' | 'multiDevice';

export interface PasskeyRecord {
  id: string; // the credential id, base64url
  userId: string;
  /** The COSE public key, base64url. */
  publicKey: string;
  /** The authenticator's signature counter as last seen (0 when the authenticator keeps none). */
  signCount: number;
  transports: string[];
  /** singleDevice: bound to one authenticator (RFC 8176 hwk); multiDevice: a synced passkey (swk). */
  deviceType: PasskeyDeviceType;
  backedUp: boolean;
  name: string | null;
  createdAt: number;
  lastUsedAt: number | null;
}

export type ChallengeKind = 'mfa_token' | 'passkey_register' | 'passkey_second_factor' | 'passkey_login';

/** A single-use server-side fact with a deadline: an MFA token's jti, or a WebAuthn challenge. */
export interface ChallengeRecord {
  id: string;
  kind: ChallengeKind;
  /** Whose ceremony it is; null for a passwordless sign-in, whose user the passkey names. */
  userId: string | null;
  createdAt: number;
  expiresAt: number;
}

export interface FactorStore {
  /** Stores a pending TOTP enrolment, replacing the user's earlier pending one (an active one is kept). */
  addPendingTotp(f: NewTotpFactor): Promise<TotpFactorRecord>;
  /** The user's TOTP factors, active and pending, oldest first. */
  listTotp(userId: string): Promise<TotpFactorRecord[]>;
  /**
   * Activates a pending factor of the user, recording `step` as used; false when it is not that
   * user's pending factor or the user already has an active one.
   */
  confirmTotp(userId: string, id: string, step: number, now: number, events?: Emit<boolean>): Promise<boolean>;
  /** Records `step` as used, atomically: true only if it is later than every step used before on this active factor. */
  useTotpStep(id: string, step: number, now: number): Promise<boolean>;
  deleteTotp(userId: string, id: string, events?: Emit<boolean>): Promise<boolean>;
  /** Replaces the sealed secret while it still is `previous` (sealed again under today's key); true when it did. */
  resealTotp(id: string, previous: string, next: string): Promise<boolean>;

  /** Replaces all of the user's recovery codes with these hashes (with `events`: in one transaction with them). */
  replaceRecoveryCodes(userId: string, codeHashes: readonly string[], now: number, events?: Emit<void>): Promise<void>;
  /**
   * Replaces them only while the user has no unused code, atomically: of two first enrolments at
   * once, one set is issued, not two of which the second undoes the first. True when it did.
   */
  issueRecoveryCodes(userId: string, codeHashes: readonly string[], now: number): Promise<boolean>;
  /** Marks an unused code of the user used, atomically: true once per code, false ever after. */
  useRecoveryCode(userId: string, codeHash: string, now: number): Promise<boolean>;
  /** How many of the user's recovery codes are unused. */
  countRecoveryCodes(userId: string): Promise<number>;

  /** Inserts a passkey; null when that credential id is already registered (to anyone). */
  addPasskey(p: PasskeyRecord, events?: Emit<PasskeyRecord | null>): Promise<PasskeyRecord | null>;
  getPasskey(id: string): Promise<PasskeyRecord | null>;
  /** The user's passkeys, oldest first. */
  listPasskeys(userId: string): Promise<PasskeyRecord[]>;
  /** Compare-and-set of the signature counter: true only if it still is `previous` (a concurrent use loses). */
  usePasskey(id: string, previous: number, next: number, backedUp: boolean, now: number): Promise<boolean>;
  deletePasskey(userId: string, id: string, events?: Emit<boolean>): Promise<boolean>;

  /** Deletes every factor and recovery code of the user. */
  deleteAllForUser(userId: string, events?: Emit<void>): Promise<void>;
}

export interface ChallengeStore {
  put(c: ChallengeRecord): Promise<void>;
  /** The live challenge (not past its deadline at `now`), or null. Does not consume it. */
  get(id: string, kind: ChallengeKind, now: number): Promise<ChallengeRecord | null>;
  /** Consumes the challenge, atomically: of concurrent takes one gets it; null when absent, used or past its deadline. */
  take(id: string, kind: ChallengeKind, now: number): Promise<ChallengeRecord | null>;
  /** Deletes every challenge of the user (their pending sign-ins and ceremonies). */
  deleteForUser(userId: string): Promise<number>;
  /** Deletes challenges past their deadline at `now`. Returns how many. */
  purge(now: number): Promise<number>;
}
