// What second factors look like on the wire, and their shapes for the OpenAPI document. Never a
// TOTP secret after enrolment, never a recovery code after it is shown, never a public key.
import type { FactorList, MfaRequired } from '../accounts/index.js';
import type { PasskeyRecord } from '../storage/types.js';

type Json = Record<string, unknown>;
const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

/** The answer of every password sign-in route for a user with a second factor (instead of tokens). */
export function mfaRequiredView(r: MfaRequired) {
  return { mfa_required: true as const, mfa_token: r.mfaToken, methods: r.methods, expires_in: r.expiresIn };
}

export function passkeyView(p: PasskeyRecord) {
  return {
    id: p.id, type: 'webauthn' as const, name: p.name, created_at: iso(p.createdAt), last_used_at: iso(p.lastUsedAt),
    device_type: p.deviceType, backed_up: p.backedUp,
  };
}

export function factorListView(l: FactorList) {
  return {
    factors: [
      ...l.totp.map((t) => ({ id: t.id, type: 'totp' as const, name: 'Authenticator app', created_at: iso(t.confirmedAt ?? t.createdAt), last_used_at: iso(t.lastUsedAt) })),
      ...l.passkeys.map(passkeyView),
    ],
    recovery_codes_remaining: l.recoveryCodesRemaining,
  };
}

// ---- shapes for /docs --------------------------------------------------------------------------

const str = (description?: string, extra: Json = {}): Json => ({ type: 'string', ...(description ? { description } : {}), ...extra });
const obj = (properties: Json, required?: string[]): Json => ({ type: 'object', properties, ...(required ? { required } : {}) });
const nullableTime = str(undefined, { format: 'date-time', nullable: true });

export const MFA_REQUIRED = obj({
  mfa_required: { type: 'boolean', enum: [true] },
  mfa_token: str('single use, 5 minutes; only POST /api/v1/auth/mfa/verify and /webauthn/options take it'),
  methods: { type: 'array', items: str(undefined, { enum: ['totp', 'webauthn', 'recovery_code'] }) },
  expires_in: { type: 'integer', description: 'seconds' },
}, ['mfa_required', 'mfa_token', 'methods', 'expires_in']);

const FACTOR = obj({
  id: str('a UUID (totp) or the credential id (webauthn)'), type: str(undefined, { enum: ['totp', 'webauthn'] }),
  name: str(undefined, { nullable: true }), created_at: str(undefined, { format: 'date-time' }), last_used_at: nullableTime,
  device_type: str('webauthn: singleDevice or multiDevice (synced)'), backed_up: { type: 'boolean' },
}, ['id', 'type', 'created_at']);

export const FACTOR_LIST = obj({ factors: { type: 'array', items: FACTOR }, recovery_codes_remaining: { type: 'integer' } }, ['factors', 'recovery_codes_remaining']);

const CODES: Json = { type: 'array', items: str(), nullable: true, description: 'ten single-use codes, shown once; null when unused ones remain from before' };

export const RECOVERY_CODES = obj({ recovery_codes: CODES }, ['recovery_codes']);

export const TOTP_ENROLMENT = obj({
  id: str(undefined, { format: 'uuid' }), secret: str('base32, for typing into an authenticator app'),
  otpauth_uri: str('otpauth://totp/…'), qr_svg: str('the URI as a QR code, an SVG document'),
}, ['id', 'secret', 'otpauth_uri', 'qr_svg']);

export const CODE_BODY = obj({ code: str('the 6-digit code the authenticator app shows') }, ['code']);

const b64url = (description: string, maxLength: number): Json => str(`base64url: ${description}`, { maxLength });
/** What the accounts rules take (src/accounts/factors/passkeys.ts, credentialShape): WebAuthn Level 3's toJSON(), members typed and bounded. */
const WEBAUTHN_RESPONSE: Json = {
  ...obj({
    id: b64url('the credential id', 1400), rawId: b64url('the same', 1400), type: str(undefined, { enum: ['public-key'] }),
    authenticatorAttachment: str(undefined, { enum: ['platform', 'cross-platform'], nullable: true }),
    clientExtensionResults: { type: 'object', additionalProperties: true, description: 'the extensions\' outputs (at most 4,096 characters of JSON)' },
    response: {
      ...obj({
        clientDataJSON: b64url('always', 8192), attestationObject: b64url('registration', 65_536), authenticatorData: b64url('authentication (and registration, Level 3)', 16_384),
        transports: { type: 'array', maxItems: 16, items: str(undefined, { pattern: '^[a-z-]{1,32}$' }) }, publicKey: b64url('registration, Level 3: the key as SPKI', 8192),
        publicKeyAlgorithm: { type: 'integer', description: 'registration, Level 3: its COSE algorithm' }, signature: b64url('authentication', 2048),
        userHandle: { ...b64url('authentication, a discoverable credential', 128), nullable: true },
      }, ['clientDataJSON']),
      additionalProperties: false,
    },
  }, ['id', 'type', 'response']),
  additionalProperties: false,
  description: 'the PublicKeyCredential as JSON: credential.toJSON() (WebAuthn Level 3), or the same members written by hand; any other member is refused',
};

export const VERIFY_BODY = obj({
  mfa_token: str(), code: str('a TOTP code'), recovery_code: str('one recovery code (dashes optional)'),
  webauthn: WEBAUTHN_RESPONSE,
}, ['mfa_token']);

export const MFA_TOKEN_BODY = obj({ mfa_token: str() }, ['mfa_token']);

export const PASSKEY_REGISTRATION = obj({ response: WEBAUTHN_RESPONSE, name: str('a label for the list, up to 64 characters, no control characters') }, ['response']);

export const PASSKEY_LOGIN = obj({ response: WEBAUTHN_RESPONSE }, ['response']);

export const REGISTERED_PASSKEY = obj({ passkey: FACTOR, recovery_codes: CODES }, ['passkey', 'recovery_codes']);

export const WEBAUTHN_OPTIONS: Json = { type: 'object', additionalProperties: true, description: 'options for navigator.credentials.create() / get(), in their JSON form' };

export const FACTOR_PARAMS = obj({ id: str('the factor id') }, ['id']);
