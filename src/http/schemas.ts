// Request and response shapes for the OpenAPI document (/openapi.json, /docs). They document only:
// the server compiles no validator or serializer from them (server.ts), because the accounts rules
// answer each bad field with the seeds' own statuses and texts (400 for missing credentials, 422
// naming the field), and the views decide what is sent.
import type { PasswordLengths } from '../accounts/validate.js';
import type { Config } from '../config.js';

type Json = Record<string, unknown>;

const str = (description?: string, extra: Json = {}): Json => ({ type: 'string', ...(description ? { description } : {}), ...extra });
const obj = (properties: Json, required?: string[]): Json => ({ type: 'object', properties, ...(required ? { required } : {}) });
const strings = (description?: string): Json => ({ type: 'array', items: str(), ...(description ? { description } : {}) });

// ---- requests -------------------------------------------------------------------------------

export const CREDENTIALS = obj({ username: str('username or email'), password: str(undefined, { format: 'password' }) }, ['username', 'password']);

/** What a new password is held to, as configured: its lengths, whether a blocklist is set, whether PASSWORD_CONTEXT_CHECK is on. */
export interface PasswordPolicyDoc extends PasswordLengths {
  blocklist: boolean;
  contextCheck: boolean;
}

/** PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH, PASSWORD_BLOCKLIST_FILE and PASSWORD_CONTEXT_CHECK, as configured. */
export const passwordPolicy = ({ accounts }: Pick<Config, 'accounts'>): PasswordPolicyDoc => ({
  minLength: accounts.passwordMinLength, maxLength: accounts.passwordMaxLength,
  blocklist: accounts.passwordBlocklistFile !== undefined, contextCheck: accounts.passwordContextCheck,
});

/** A new password's description: the rules the accounts services hold it to (validatePassword). */
export const newPassword = (policy: PasswordPolicyDoc): Json => str([
  `at least ${policy.minLength} characters (counted in Unicode NFKC), at most ${policy.maxLength}`,
  ...(policy.contextCheck ? ['not the username, the email address or its part before the @ (in any case)'] : []),
  ...(policy.blocklist ? ['not on the server\'s list of common or breached passwords (422 "is too common")'] : []),
].join('; '), { format: 'password' });

export const newUser = (lengths: PasswordPolicyDoc): Json => obj({
  username: str('3–64 letters A–Z or a–z (no accents or other scripts), digits, "_", "." or "-"'),
  email: str(undefined, { format: 'email' }),
  password: newPassword(lengths),
  full_name: str(),
  roles: strings('beyond DEFAULT_ROLES only for an admin (or the first account)'),
}, ['username', 'email', 'password']);

/** An invitation: the address, and what else the account starts with; the person chooses the password. */
export const INVITE = obj({
  email: str(undefined, { format: 'email' }),
  username: str('3–64 letters A–Z or a–z, digits, "_", "." or "-"; when absent, made from the address (its local part, or that with a suffix when taken)'),
  full_name: str(),
  roles: strings('default: DEFAULT_ROLES'),
}, ['email']);

export const REFRESH_BODY = obj({ refresh_token: str('the refresh token, when it is sent neither as a cookie nor as Bearer') });

export const ACCOUNT_DELETE = obj({ current_password: str(undefined, { format: 'password' }) }, ['current_password']);

export const passwordChange = (lengths: PasswordPolicyDoc): Json => obj({
  current_password: str(undefined, { format: 'password' }),
  new_password: newPassword(lengths),
}, ['current_password', 'new_password']);

export const PROFILE_PATCH = obj({ full_name: str('up to 200 characters; empty or null removes it', { nullable: true }) }, ['full_name']);

export const userPatch = (lengths: PasswordPolicyDoc): Json => obj({
  roles: strings(), is_active: { type: 'boolean' }, full_name: str('up to 200 characters; empty or null removes it', { nullable: true }),
  email: str('unverified again unless email_verified is sent too', { format: 'email' }), email_verified: { type: 'boolean' },
  password: newPassword(lengths),
});

export const OAUTH_TOKEN = obj({
  grant_type: str(undefined, { enum: ['password', 'refresh_token'] }),
  username: str('password grant'), password: str('password grant', { format: 'password' }),
  refresh_token: str('refresh_token grant'), scope: str('ignored: a token carries the user\'s roles'),
}, ['grant_type']);

export const OAUTH_REVOKE = obj({ token: str(), token_type_hint: str(undefined, { enum: ['access_token', 'refresh_token'] }) }, ['token']);

/** FastAPI's OAuth2PasswordRequestForm. */
export const PASSWORD_FORM = obj({
  grant_type: str('optional; when present it must be "password"', { pattern: '^password$' }),
  username: str('username or email'),
  password: str(undefined, { format: 'password' }),
  scope: str('space-separated; accepted and ignored (a token carries the user\'s roles)', { default: '' }),
  client_id: str('accepted and ignored'),
  client_secret: str('accepted and ignored', { format: 'password' }),
}, ['username', 'password']);

/** The course's User model: it carries a username; the email is what signs in. */
export const COURSE_LOGIN = obj({
  username: str('accepted and ignored: the email signs in'),
  email: str(undefined, { format: 'email' }),
  password: str(undefined, { format: 'password' }),
}, ['email', 'password']);

/** marshmallow LoginSchema: email and password, nothing else. */
export const EMAIL_LOGIN = obj({
  email: str(undefined, { format: 'email' }),
  password: str(undefined, { format: 'password' }),
}, ['email', 'password']);

// ---- query strings and path parameters --------------------------------------------------------

const PAGE = {
  limit: { type: 'integer', minimum: 1, maximum: 100, default: 50 },
  offset: { type: 'integer', minimum: 0, default: 0 },
};
export const PAGING_QUERY = obj(PAGE);
/** The paging a list answers beside its page: what was asked, and how many there are in all. */
export const PAGING = obj({ limit: { type: 'integer' }, offset: { type: 'integer' }, total: { type: 'integer' } }, ['limit', 'offset', 'total']);
export const USER_FILTER_QUERY = obj({
  ...PAGE,
  email: str('email contains (case-insensitive)'),
  username: str('username contains (case-insensitive)'),
  role: str('users holding this role'),
  active: { type: 'boolean' },
  verified: { type: 'boolean', description: 'email address verified' },
  legacy: { type: 'boolean', description: 'password hash is a legacy one: not today\'s argon2id (imported, or older settings; upgraded at the next sign-in)' },
});
export const LOGOUT_QUERY = obj({
  scope: str('local: this session; global: all your sessions; others: all but this one', { enum: ['local', 'global', 'others'], default: 'local' }),
});
export const ID_PARAMS = obj({ id: str(undefined, { format: 'uuid' }) }, ['id']);
export const USER_SESSION_PARAMS = obj({ id: str('the user', { format: 'uuid' }), sid: str('the session', { format: 'uuid' }) }, ['id', 'sid']);

// ---- responses ------------------------------------------------------------------------------

const count = (description?: string): Json => ({ type: 'integer', minimum: 0, ...(description ? { description } : {}) });
export const OVERVIEW = obj({
  at: str('when the figures were read', { format: 'date-time' }),
  users: obj({ total: count(), active: count('not deactivated') }, ['total', 'active']),
  sign_ins: obj({
    since: str('24 hours before `at`', { format: 'date-time' }), succeeded: count(), failed: count('refused: unknown login, wrong password, inactive user...'),
    throttled: count('refused by the sign-in throttle (once per client and login and window)'),
  }, ['since', 'succeeded', 'failed', 'throttled']),
  sessions: obj({ live: count('of every user, not ended nor expired') }, ['live']),
}, ['at', 'users', 'sign_ins', 'sessions']);

export const USER = obj({
  id: str(undefined, { format: 'uuid' }), username: str(), email: str(), full_name: str(undefined, { nullable: true }),
  roles: strings(), is_active: { type: 'boolean' }, created_at: str(undefined, { format: 'date-time' }), email_verified: { type: 'boolean' },
}, ['id', 'username', 'email', 'full_name', 'roles', 'is_active', 'created_at', 'email_verified']);

export const PAIR = obj({ access_token: str(), refresh_token: str(), token_type: str(undefined, { enum: ['bearer'] }) }, ['access_token', 'refresh_token', 'token_type']);

export const SIGNIN = obj({
  ...(PAIR.properties as Json), id: str(undefined, { format: 'uuid' }), username: str(), email: str(), roles: strings(),
}, ['access_token', 'refresh_token', 'token_type', 'id', 'username', 'email', 'roles']);

export const PROFILE = obj({
  user_id: str(undefined, { format: 'uuid' }), email: str(), full_name: str(undefined, { nullable: true }),
  is_active: { type: 'boolean' }, roles: strings(), email_verified: { type: 'boolean' },
}, ['user_id', 'email', 'full_name', 'is_active', 'roles', 'email_verified']);

export const SESSION = obj({
  id: str(undefined, { format: 'uuid' }), created_at: str(undefined, { format: 'date-time' }),
  last_used_at: str(undefined, { format: 'date-time' }), expires_at: str(undefined, { format: 'date-time' }),
  user_agent: str(undefined, { nullable: true }), ip: str(undefined, { nullable: true }), current: { type: 'boolean' },
}, ['id', 'created_at', 'last_used_at', 'expires_at', 'user_agent', 'ip', 'current']);

/** `GET /auth/me/export`, `GET /users/{id}/export`: everything Warden holds about the user. */
const time = (description?: string): Json => str(description, { format: 'date-time' });
const rows = (description: string): Json => ({ type: 'array', description, items: { type: 'object', additionalProperties: true } });
export const PERSONAL_DATA = obj({
  exported_at: time(),
  user: obj({
    ...(USER.properties as Json), updated_at: time(), legacy_id: str('the id the user had in the application Warden replaced', { nullable: true }),
    password: obj({ set: { type: 'boolean' }, legacy: { type: 'boolean', description: 'a hash of the replaced application, not yet argon2id' } }, ['set', 'legacy']),
  }, [...(USER.required as string[]), 'updated_at', 'legacy_id', 'password']),
  sessions: rows('every session row: live, ended or expired (kept a week after), with its IP and user agent'),
  second_factors: obj({
    totp: rows('authenticator apps (never the secret)'), passkeys: rows('passkeys (never the public key)'), recovery_codes_remaining: { type: 'integer' },
  }, ['totp', 'passkeys', 'recovery_codes_remaining']),
  email_links: rows('mailed links (never the token): purpose, address, times'),
  sign_in_devices: rows('browsers and addresses remembered for new-sign-in notices (kept as a hash): when first and last seen'),
  pending_mails: rows('mails waiting to be sent to the address: their kind and when they were queued'),
  events: rows('security events about the user or by them, newest first, as the audit log shows them'),
}, ['exported_at', 'user', 'sessions', 'second_factors', 'email_links', 'sign_in_devices', 'pending_mails', 'events']);

export const DETAIL_MESSAGE = obj({ detail: str() }, ['detail']);

/** Seed 004's envelope around `data`. */
export const envelope = (data: Json | null, beside: Json = {}): Json =>
  obj({ message: str(), data: data ?? { type: 'null' }, ...beside }, ['message', 'data', ...Object.keys(beside)]);

export const OAUTH_TOKEN_RESPONSE = obj({
  access_token: str(), token_type: str(undefined, { enum: ['Bearer'] }), expires_in: { type: 'integer' },
  refresh_token: str(), scope: str('the user\'s roles'),
}, ['access_token', 'token_type', 'expires_in', 'refresh_token']);

export const PASSWORD_FORM_RESPONSE = obj({
  access_token: str(), token_type: str(undefined, { enum: ['bearer'] }), refresh_token: str(), expires_in: { type: 'integer' },
}, ['access_token', 'token_type', 'refresh_token', 'expires_in']);

export const WELCOME = obj({
  message: str(undefined, { enum: ['welcome user'] }), new_user: str('the account\'s username'), access_token: str(), token_type: str(undefined, { enum: ['bearer'] }),
}, ['message', 'new_user', 'access_token', 'token_type']);

export const USER_AND_TOKEN = obj({ user: USER, token: str('access token, LOGIN_TOKEN_EXPIRES_HOURS long') }, ['user', 'token']);

export const JWKS = obj({ keys: { type: 'array', items: { type: 'object', additionalProperties: true } } }, ['keys']);
