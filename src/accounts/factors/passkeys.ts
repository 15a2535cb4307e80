// Passkeys (WebAuthn) through @simplewebauthn/server: the options for the browser's
// navigator.credentials.create/get, and the verification of what it answers, as the JSON of
// WebAuthn Level 3's credential.toJSON() (or the same built by hand). Every challenge is
// stored server-side and taken (deleted) by the answer that names it, so it works once, within
// CEREMONY_TTL_MS; signature counters move only forward (a cloned authenticator shows up as a
// counter that did not), by compare-and-set in storage.
import {
  generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse,
  type AuthenticationResponseJSON, type PublicKeyCredentialCreationOptionsJSON, type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { COSEALG } from '@simplewebauthn/server/helpers';
import { WardenError } from '@warden/toolkit';
import type { ChallengeKind, ChallengeStore, FactorStore, PasskeyRecord } from '../../storage/factor-types.js';
import type { UserRecord } from '../../storage/types.js';
import { invalid, unreadableName } from '../validate.js';

/** How long a ceremony's challenge stays usable. */
export const CEREMONY_TTL_MS = 5 * 60_000;
const MAX_NAME_LENGTH = 64;

/**
 * The signature algorithms a new passkey may use: EdDSA, ES256 and RS256, which every Node Warden
 * runs on verifies. The library's default puts ML-DSA-44 first when the runtime's Web Crypto can
 * verify it (Node 24, not 20 or 22), and Chromium's authenticator then makes an ML-DSA key: one an
 * instance on Node 20 or 22 (a rolling upgrade, a rollback) could never verify.
 */
const SIGNATURE_ALGORITHMS = [COSEALG.EdDSA, COSEALG.ES256, COSEALG.RS256];

export interface PasskeySettings {
  /** WEBAUTHN_RP_ID: the domain passkeys are bound to. */
  rpId: string;
  /** Shown by the browser and the authenticator (MFA_ISSUER). */
  rpName: string;
  /** WEBAUTHN_ORIGINS: the pages a ceremony may come from. */
  origins: readonly string[];
}

export interface PasskeysDeps {
  storage: { factors: FactorStore; challenges: ChallengeStore };
  clock: () => number;
  settings: PasskeySettings;
}

/** Who an assertion must come from: a given user's passkey (second factor), or anyone's discoverable one (passwordless). */
export type AssertionPurpose = { kind: 'second_factor'; userId: string } | { kind: 'login' };

export interface VerifiedAssertion {
  passkey: PasskeyRecord;
  /** RFC 8176: a key bound to one authenticator (hwk), or a synced one (swk). */
  method: 'hwk' | 'swk';
}

/** The user handle a passkey carries: the user's id, as UTF-8 bytes. */
const userHandle = (userId: string): Uint8Array => new TextEncoder().encode(userId);

export class Passkeys {
  constructor(private readonly d: PasskeysDeps) {}

  /** Options for navigator.credentials.create(): a discoverable credential when the authenticator can keep one. */
  async registrationOptions(user: UserRecord, existing: readonly PasskeyRecord[]): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const options = await generateRegistrationOptions({
      rpName: this.d.settings.rpName,
      rpID: this.d.settings.rpId,
      userName: user.username,
      userID: userHandle(user.id) as Parameters<typeof generateRegistrationOptions>[0]['userID'],
      userDisplayName: user.fullName ?? user.email,
      attestationType: 'none',
      excludeCredentials: existing.map((p) => ({ id: p.id, transports: p.transports })),
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
      supportedAlgorithmIDs: SIGNATURE_ALGORITHMS,
      timeout: CEREMONY_TTL_MS,
    });
    await this.remember(options.challenge, 'passkey_register', user.id);
    return options;
  }

  /** Verifies a registration answer to this user's challenge; the new passkey, not yet stored. */
  async verifyRegistration(user: UserRecord, response: unknown, name: unknown): Promise<PasskeyRecord> {
    const label = name === undefined || name === null ? null : typeof name === 'string' && isName(name.trim()) ? name.trim() || null : badName();
    const shape = credentialShape(response);
    if ('problem' in shape) throw invalid('response', shape.problem);
    const answer = shape.credential as RegistrationResponseJSON;
    const challenge = challengeOf(answer);
    const taken = challenge ? await this.d.storage.challenges.take(challenge, 'passkey_register', this.d.clock()) : null;
    if (challenge === null || taken === null || taken.userId !== user.id) {
      throw invalid('response', 'is not an answer to a live registration challenge of yours; ask for new options');
    }
    let verified;
    try {
      verified = await verifyRegistrationResponse({
        response: answer, expectedChallenge: challenge, expectedOrigin: [...this.d.settings.origins], expectedRPID: this.d.settings.rpId,
        requireUserVerification: false,
      });
    } catch {
      verified = { verified: false as const };
    }
    if (!verified.verified) throw invalid('response', 'the passkey could not be verified (origin, relying party or signature)');
    const info = verified.registrationInfo;
    return {
      id: info.credential.id,
      userId: user.id,
      publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
      signCount: info.credential.counter,
      transports: (info.credential.transports ?? []).filter((t) => typeof t === 'string').slice(0, 8),
      deviceType: info.credentialDeviceType,
      backedUp: info.credentialBackedUp,
      name: label,
      createdAt: this.d.clock(),
      lastUsedAt: null,
    };
  }

  /** Options for navigator.credentials.get(): the user's passkeys (second factor), or any discoverable one (passwordless). */
  async assertionOptions(purpose: AssertionPurpose, allowed: readonly PasskeyRecord[] = []): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const options = await generateAuthenticationOptions({
      rpID: this.d.settings.rpId,
      allowCredentials: purpose.kind === 'login' ? [] : allowed.map((p) => ({ id: p.id, transports: p.transports })),
      // Alone, a passkey must be two factors: the device checks a PIN or a biometric.
      userVerification: purpose.kind === 'login' ? 'required' : 'preferred',
      timeout: CEREMONY_TTL_MS,
    });
    await this.remember(options.challenge, kindOf(purpose), purpose.kind === 'login' ? null : purpose.userId);
    return options;
  }

  /** Verifies an assertion against its live challenge and the stored passkey, and moves the counter; ERR_PASSKEY_INVALID otherwise. */
  async verifyAssertion(response: unknown, purpose: AssertionPurpose): Promise<VerifiedAssertion> {
    const shape = credentialShape(response);
    const answer = 'credential' in shape ? shape.credential as AuthenticationResponseJSON : null;
    const challenge = answer && challengeOf(answer);
    if (answer === null || challenge === null) throw new WardenError('ERR_PASSKEY_INVALID');
    const now = this.d.clock();
    const taken = await this.d.storage.challenges.take(challenge, kindOf(purpose), now);
    if (taken === null || (purpose.kind === 'second_factor' && taken.userId !== purpose.userId)) throw new WardenError('ERR_PASSKEY_INVALID');
    const passkey = await this.d.storage.factors.getPasskey(answer.id);
    if (passkey === null || (purpose.kind === 'second_factor' && passkey.userId !== purpose.userId)) throw new WardenError('ERR_PASSKEY_INVALID');
    const handle = answer.response.userHandle;
    if (purpose.kind === 'login' && handle !== undefined && handle !== Buffer.from(userHandle(passkey.userId)).toString('base64url')) {
      throw new WardenError('ERR_PASSKEY_INVALID');
    }
    let result;
    try {
      result = await verifyAuthenticationResponse({
        response: answer, expectedChallenge: challenge, expectedOrigin: [...this.d.settings.origins], expectedRPID: this.d.settings.rpId,
        credential: { id: passkey.id, publicKey: Buffer.from(passkey.publicKey, 'base64url'), counter: passkey.signCount, transports: passkey.transports },
        requireUserVerification: purpose.kind === 'login',
      });
    } catch {
      // A bad signature, origin or relying party, or a counter that did not move forward (a clone).
      throw new WardenError('ERR_PASSKEY_INVALID');
    }
    if (!result.verified) throw new WardenError('ERR_PASSKEY_INVALID');
    const info = result.authenticationInfo;
    if (!(await this.d.storage.factors.usePasskey(passkey.id, passkey.signCount, info.newCounter, info.credentialBackedUp, now))) {
      throw new WardenError('ERR_PASSKEY_INVALID'); // another use moved the counter first
    }
    return {
      passkey: { ...passkey, signCount: info.newCounter, backedUp: info.credentialBackedUp, lastUsedAt: now },
      method: passkey.deviceType === 'singleDevice' ? 'hwk' : 'swk',
    };
  }

  private async remember(challenge: string, kind: ChallengeKind, userId: string | null): Promise<void> {
    const now = this.d.clock();
    await this.d.storage.challenges.put({ id: challenge, kind, userId, createdAt: now, expiresAt: now + CEREMONY_TTL_MS });
  }
}

function kindOf(purpose: AssertionPurpose): ChallengeKind {
  return purpose.kind === 'login' ? 'passkey_login' : 'passkey_second_factor';
}

// A label a person reads in a list, held to a full name's rule: no control characters (NUL, which
// PostgreSQL text cannot hold, among them), lone surrogates or bidirectional overrides.
const isName = (v: string): boolean => v.length <= MAX_NAME_LENGTH && unreadableName(v) === null;

function badName(): never {
  throw invalid('name', `must be a string of at most ${MAX_NAME_LENGTH} characters, without control or bidirectional override characters`);
}

const B64URL = /^[A-Za-z0-9_-]+$/;

/** A check of one member: undefined when it is right, else what is wrong with it. */
type Check = (v: unknown) => string | undefined;

/** base64url of at most `max` characters (e.g. the 1,023 bytes a credential id may have: 1,364). */
const b64 = (max: number): Check => (v) =>
  typeof v !== 'string' || v.length === 0 || v.length > max || !B64URL.test(v) ? `must be base64url, at most ${max} characters` : undefined;
const orNull = (check: Check): Check => (v) => (v === null ? undefined : check(v));
const integer: Check = (v) => (Number.isSafeInteger(v) ? undefined : 'must be an integer');
const oneOf = (...allowed: (string | null)[]): Check => (v) => (allowed.includes(v as string | null) ? undefined : `must be one of ${allowed.map(String).join(', ')}`);
const TRANSPORT = /^[a-z-]{1,32}$/;
const transports: Check = (v) =>
  Array.isArray(v) && v.length <= 16 && v.every((t) => typeof t === 'string' && TRANSPORT.test(t)) ? undefined : 'must be a list of at most 16 transport names';
/** An object of JSON values, small (the extensions' outputs: credProps, prf, largeBlob...). */
const smallObject: Check = (v) =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && JSON.stringify(v).length <= 4096 ? undefined : 'must be an object (at most 4,096 characters of JSON)';

/**
 * The members of a credential's JSON, as WebAuthn Level 3's toJSON() writes them for a registration
 * (attestation) and an authentication (assertion), with their types and bounds. Nothing else is taken.
 */
const CREDENTIAL: Record<string, Check> = {
  id: b64(1400), rawId: b64(1400), type: oneOf('public-key'), authenticatorAttachment: oneOf('platform', 'cross-platform', null),
  clientExtensionResults: smallObject,
};
const RESPONSE: Record<string, Check> = {
  clientDataJSON: b64(8192), attestationObject: b64(65_536), authenticatorData: b64(16_384), transports,
  // A signature of up to 6 kB: an ML-DSA passkey's (one made on Node 24 before SIGNATURE_ALGORITHMS)
  // signs in where the runtime verifies it; ML-DSA-44's are 2,420 bytes, ML-DSA-87's 4,627.
  publicKey: b64(8192), publicKeyAlgorithm: integer, signature: b64(8192), userHandle: orNull(b64(128)),
};

/** What is wrong with the object's members (`where` names it), if anything: an unknown one, or a known one of the wrong type or size. */
function checkMembers(o: Record<string, unknown>, checks: Record<string, Check>, where: string): string | undefined {
  for (const [name, value] of Object.entries(o)) {
    const check = Object.hasOwn(checks, name) ? checks[name]! : undefined;
    if (check === undefined) return `${where}${name}: is not a member of a WebAuthn credential's JSON`;
    if (value === undefined) continue;
    const wrong = check(value);
    if (wrong !== undefined) return `${where}${name}: ${wrong}`;
  }
  return undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The credential's shape, every member checked (the library then checks what they say); or what is
 * wrong with it. Exported for its tests.
 */
export function credentialShape(v: unknown): { credential: RegistrationResponseJSON | AuthenticationResponseJSON } | { problem: string } {
  if (!isObject(v)) return { problem: 'must be the credential as JSON (credential.toJSON())' };
  const r = v.response;
  if (v.id === undefined || v.type === undefined || !isObject(r) || r.clientDataJSON === undefined) {
    return { problem: 'must hold id, type and response with clientDataJSON (credential.toJSON())' };
  }
  const problem = checkMembers(v, { ...CREDENTIAL, response: () => undefined }, '') ?? checkMembers(r, RESPONSE, 'response.');
  if (problem !== undefined) return { problem };
  return { credential: { clientExtensionResults: {}, rawId: v.id, ...v } as unknown as RegistrationResponseJSON };
}

/** The challenge the browser signed over, read from clientDataJSON; the library compares it again. */
function challengeOf(answer: { response: { clientDataJSON: string } }): string | null {
  try {
    const data = JSON.parse(Buffer.from(answer.response.clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown };
    return typeof data.challenge === 'string' && data.challenge.length <= 256 && B64URL.test(data.challenge) ? data.challenge : null;
  } catch {
    return null;
  }
}
