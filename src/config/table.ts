// Warden's configuration: every environment variable, once. The typed config (`Config`), the start-up
// validation (load.ts) and the README's table (docs.ts, `npm run docs:config`) all come from here.
//
// To add a variable:
//   1. add a row to the section whose code consumes it (or a new section): the key is the field name
//      in `config.<section>`, the value `setting(NAME, parser, 'default as written in the env', doc)`,
//      `optional(NAME, parser, doc)` when it may be absent, or `derived(...)` for a default built
//      from other variables;
//   2. pick or write a parser in parsers.ts that returns the value in the unit its consumer uses
//      (seconds, milliseconds, Infinity for "no limit"...), so that no consumer converts by hand;
//   3. a check that involves several variables goes into CONFIG_RULES below;
//   4. run `npm run docs:config` to rewrite the README table (test/config.test.ts fails until you do).
// Defaults that the toolkit's guard also applies come from the toolkit's constants, never repeated.
import { join } from 'node:path';
import { ALGORITHMS, DEFAULT_CSRF, DEFAULT_LOCATION_SETTINGS, isHmac, TOKEN_LOCATIONS } from '@warden/toolkit';
import { parseDatabaseUrl } from '../storage/database-url.js';
import {
  bool, cookieDomain, corsOrigins, delegate, directory, domain, duration, existingFile, host, int, Invalid, key256, legacyPrefix, limit, list, listOf,
  oneOf, origins, proxyTrust, text, token, url, webhookEndpoints, webhookSecret,
} from './parsers.js';
import { DEFAULT_MAIL_FROM } from './mail-addresses.js';
import { derived, optional, setting, type ValueOf } from './setting.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const SAME_SITE = ['strict', 'lax', 'none'] as const;
export type SameSite = (typeof SAME_SITE)[number];

/** JWT_LEEWAY_SECONDS' ceiling: revocation records are kept at least this long past a token's exp. */
export const MAX_LEEWAY_SECONDS = 300;

export const CONFIG_TABLE = {
  server: {
    production: setting('NODE_ENV', (v) => v === 'production', 'development', '`production` refuses to start without a configured key'),
    host: setting('HOST', host, '0.0.0.0', 'address to listen on'),
    port: setting('PORT', int(0, 65535), '8000', 'port to listen on'),
    dataDir: setting('DATA_DIR', directory, './data', 'the default database and any generated development key'),
    bodyLimitBytes: setting('BODY_LIMIT_BYTES', int(1024, 1024 * 1024), '16384', 'larger request bodies get 413'),
    trustProxy: setting('TRUST_PROXY', proxyTrust, 'false',
      'proxies whose `X-Forwarded-For` entries are believed: `false`, their number (e.g. `1`), or their addresses/CIDRs; `true` is refused (see "Behind a proxy")'),
    ipv6Prefix: setting('CLIENT_IPV6_PREFIX', int(32, 128), '64',
      'the IPv6 network one client is counted as by every per-IP limit (sign-in throttle, sign-up, mail and passkey limits) and by the new-sign-in notice\'s device, 32 to 128: `56` or `48` where the clients\' networks hand each subscriber a /56 or a /48, `128` for each address alone (see "Who a client is")'),
  },
  connections: {
    headersTimeoutMs: setting('HTTP_HEADERS_TIMEOUT_SECONDS', duration('seconds', 1, 300, 'ms'), '10',
      'a client must have sent all request headers this many seconds after it began, or its connection is closed'),
    requestTimeoutMs: setting('HTTP_REQUEST_TIMEOUT_SECONDS', duration('seconds', 1, 3600, 'ms'), '30',
      'a client must have sent the whole request (headers and body) within this many seconds, or it gets 408 and the connection is closed'),
    keepAliveTimeoutMs: setting('HTTP_KEEP_ALIVE_TIMEOUT_SECONDS', duration('seconds', 1, 3600, 'ms'), '5',
      'an idle keep-alive connection is closed after this many seconds; keep it above your proxy\'s upstream idle timeout'),
    idleTimeoutMs: setting('HTTP_IDLE_TIMEOUT_SECONDS', duration('seconds', 1, 3600, 'ms'), '60',
      'a connection on which no byte moves either way for this many seconds is closed, even mid-request'),
    shutdownGraceMs: setting('SHUTDOWN_GRACE_SECONDS', duration('seconds', 1, 600, 'ms'), '10',
      'on SIGTERM/SIGINT, new requests get 503 and the process exits within this many seconds, closing what is still open'),
  },
  storage: {
    databaseUrl: derived('DATABASE_URL', delegate('DATABASE_URL', (v) => (parseDatabaseUrl(v), v)),
      (raw) => `sqlite:${join(directory(raw('DATA_DIR')!), 'warden.db')}`, '`sqlite:<DATA_DIR>/warden.db`',
      '`sqlite:<path>`, `postgres://user@host:port/db`, or `memory:` (tests)'),
    redisUrl: optional('REDIS_URL', url(['redis', 'rediss']), '`redis://host:port`: revocations are broadcast to every instance, and the sign-in throttle counts there'),
    connectTimeoutMs: setting('DATABASE_CONNECT_TIMEOUT_MS', int(100, 60_000), '2000',
      'PostgreSQL: longest wait for a connection (new, or a free one from the pool); then the request gets 503'),
    queryTimeoutMs: setting('DATABASE_QUERY_TIMEOUT_MS', int(100, 600_000), '2500',
      'longest wait for a statement: on PostgreSQL for its answer (client and server side), then its connection is dropped; on SQLite for another process\'s write lock (waited for from a timer: the server goes on answering meanwhile). Then the request gets 503'),
    preparedStatements: setting('DATABASE_PREPARED_STATEMENTS', bool, 'true',
      'PostgreSQL: a refresh\'s statement is prepared once per connection; they turn themselves off at the first refusal from a pooler in transaction mode that does not track them (PgBouncer before 1.21, or without `max_prepared_statements`); `false` turns them off from the start (see "Behind PgBouncer")'),
    redisTimeoutMs: setting('REDIS_TIMEOUT_MS', int(50, 60_000), '500',
      'a Redis command unanswered this long fails and its connection is dropped and retried; Redis is health-checked this often'),
    revocationPollMs: setting('REVOCATION_POLL_MS', int(50, 60_000), '500',
      'without Redis, or while it is unreachable, each instance reads new revocations from the database this often'),
    redisChannel: setting('REDIS_CHANNEL', text, 'warden:revocations', 'the Redis pub/sub channel of those broadcasts: one per deployment sharing a database (the `warden` CLI publishes there too)'),
  },
  keys: {
    algorithm: setting('ALGORITHM', oneOf(ALGORITHMS), 'HS256', 'HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512, EdDSA'),
    secretKey: optional('SECRET_KEY', text, 'HMAC secret, at least 32 bytes (always enforced)', { defaultDoc: 'generated in development', secret: true }),
    privateKeyFile: optional('PRIVATE_KEY_FILE', existingFile, 'PEM private key for an asymmetric `ALGORITHM` (e.g. `openssl genpkey -algorithm ed25519 -out key.pem` for EdDSA; `-algorithm RSA -pkeyopt rsa_keygen_bits:2048` for RS/PS; `-algorithm EC -pkeyopt ec_paramgen_curve:P-256` for ES256)'),
    publicKeyFile: optional('PUBLIC_KEY_FILE', existingFile, 'its PEM public key (derived from the private key when absent)'),
    jwksFile: optional('JWKS_FILE', existingFile, 'a private JWKS with several keys (rotation): all verify, one signs'),
    jwksSigningKid: optional('JWKS_SIGNING_KID', text, 'the `kid` in `JWKS_FILE` that signs'),
  },
  tokens: {
    accessTtlSeconds: setting('ACCESS_TOKEN_EXPIRES_MINUTES', duration('minutes', 1, 60 * 24 * 7, 's'), '15', 'access token lifetime, in minutes'),
    loginTtlSeconds: setting('LOGIN_TOKEN_EXPIRES_HOURS', duration('hours', 1, 24 * 365, 's'), '8', 'lifetime of the token `POST /api/login` answers with (flask-jwt-extended\'s `expires_delta` there), in hours'),
    refreshTtlSeconds: setting('REFRESH_TOKEN_EXPIRES_DAYS', duration('days', 1, 3650, 's'), '30', 'refresh token and session absolute lifetime, in days'),
    sessionIdleSeconds: setting('SESSION_IDLE_DAYS', duration('days', 1, 3650, 's'), '7', 'a session unused this many days ends'),
    refreshGraceMs: setting('REFRESH_REUSE_GRACE_SECONDS', duration('seconds', 0, 300, 'ms'), '10',
      'a refresh token presented again this soon after its rotation (a lost answer, two tabs) gets the session\'s current one; later, or an older token, ends the session; `0`: any replay ends it'),
    legacyRefreshTokens: setting('LEGACY_REFRESH_TOKENS', bool, 'false',
      'a refresh token with no `sid` (one the application Warden replaces minted with the shared `SECRET_KEY`, e.g. flask-jwt-extended\'s) is exchanged, once, for a new session of the user its `sub` names (a Warden id, else a `legacy_id`); see "Migrating from Flask/FastAPI"'),
    legacyRefreshPrefix: optional('LEGACY_REFRESH_PREFIX', legacyPrefix, 'the `--legacy-prefix` those users were imported with: a non-UUID `sub` is looked up as `legacy_id` `NAME:sub`'),
    maxSessionsPerUser: setting('MAX_SESSIONS_PER_USER', limit(1_000_000), '100', 'live sessions per user; a sign-in beyond it ends the oldest; `0` for no limit'),
    issuer: optional('JWT_ISSUER', text, 'written into tokens as `iss` and required on verify'),
    audience: optional('JWT_AUDIENCE', text, 'written into tokens as `aud` and required on verify'),
    leewaySeconds: setting('JWT_LEEWAY_SECONDS', duration('seconds', 0, MAX_LEEWAY_SECONDS, 's'), '0', 'clock skew allowed on `exp`/`nbf`, in seconds; also added to `REFRESH_REUSE_GRACE_SECONDS` (a rotation is timed by one instance\'s clock, its retry judged by another\'s)'),
    verifyCacheSize: setting('VERIFY_CACHE_SIZE', int(0, 1_000_000), '10000',
      'verified tokens remembered (exact text; once full, only tokens that come back soon; while under 15% of lookups hit, only 1 request in 16 looks; `exp`/`nbf` and revocation still checked on every request); `0` turns it off'),
  },
  cookies: {
    secure: setting('COOKIE_SECURE', bool, 'true', 'set `false` only for plain-http development'),
    sameSite: setting('COOKIE_SAMESITE', oneOf(SAME_SITE, { ignoreCase: true }), 'lax', '`strict`, `lax` or `none` (needs `COOKIE_SECURE=true`)'),
    domain: optional('COOKIE_DOMAIN', cookieDomain, 'cookie domain, a host name such as `example.com`'),
    accessName: setting('ACCESS_COOKIE_NAME', token('cookie name'), DEFAULT_LOCATION_SETTINGS.accessCookieName, 'httpOnly access token cookie'),
    refreshName: setting('REFRESH_COOKIE_NAME', token('cookie name'), DEFAULT_LOCATION_SETTINGS.refreshCookieName, 'httpOnly refresh token cookie'),
    accessCsrfName: setting('ACCESS_CSRF_COOKIE_NAME', token('cookie name'), 'csrf_access_token', 'page-readable CSRF value of the access token'),
    refreshCsrfName: setting('REFRESH_CSRF_COOKIE_NAME', token('cookie name'), 'csrf_refresh_token', 'page-readable CSRF value of the refresh token'),
  },
  guard: {
    locations: setting('JWT_TOKEN_LOCATION', listOf(TOKEN_LOCATIONS), 'headers,cookies',
      'where access tokens are looked for, in order: `headers`, `cookies`, `query_string` (`?jwt=`), `json`'),
    headerName: setting('JWT_HEADER_NAME', token('header name'), DEFAULT_LOCATION_SETTINGS.headerName, 'the token header'),
    headerType: setting('JWT_HEADER_TYPE', headerType, DEFAULT_LOCATION_SETTINGS.headerType, 'the token header\'s scheme; empty means the bare token', { keepEmpty: true }),
    csrfHeaderName: setting('CSRF_HEADER_NAME', token('header name'), DEFAULT_CSRF.headerName, 'header carrying the CSRF value'),
  },
  accounts: {
    adminRoles: setting('ADMIN_ROLES', list, 'admin,ROLE_ADMIN', 'roles that may use the admin routes and grant roles'),
    defaultRoles: setting('DEFAULT_ROLES', list, 'user', 'roles of a sign-up that names none (a sign-up that sends `"roles": []` gets no roles)'),
    passwordMaxLength: setting('PASSWORD_MAX_LENGTH', int(64, 4096), '1024', 'characters; longer passwords get 422 (never truncated)'),
    passwordMinLength: setting('PASSWORD_MIN_LENGTH', int(8, 64), '8',
      'characters (counted in Unicode NFKC) a new password needs, 8 to 64: sign-up, a change, a reset, an administrator\'s or `warden users set-password`\'s get 422 below it; passwords set before it was raised, and imported ones, still sign in (see "Password length")'),
    passwordBlocklistFile: optional('PASSWORD_BLOCKLIST_FILE', existingFile,
      'a file of passwords a new one may not be, one per line: the passwords, or the 40 hex digits of their SHA-1 (a Pwned Passwords excerpt, `:count` allowed); read at start (20 bytes an entry), a file that cannot be used stops the start; sign-up, a change, a reset, an administrator\'s or `warden users`\' get 422 `is too common` (see "Password policy")'),
    passwordContextCheck: setting('PASSWORD_CONTEXT_CHECK', bool, 'true',
      'a new password may not be the account\'s username, its email address or the address\'s part before the @ (NFKC, any case): 422 (see "Password policy")'),
    flaskSecuritySalt: optional('SECURITY_PASSWORD_SALT', text,
      'the Flask-Security application\'s own `SECURITY_PASSWORD_SALT`, for its users imported with `--flask-security` (see "Migrating from Flask/FastAPI"); never in a log line',
      { secret: true }),
    firstSignUpAdmin: derived('FIRST_SIGNUP_ADMIN', bool, (raw) => (raw('NODE_ENV') === 'production' ? 'false' : 'true'),
      '`true`; `false` when `NODE_ENV=production`',
      'while the database has no user, a sign-up may ask for any roles, so the first account becomes the administrator (seed 000\'s first step); off in production, where the administrator comes from `ADMIN_*` or `warden users create`, so that nobody who reaches a new server before its operator can make themselves its administrator'),
    selfDelete: setting('ACCOUNT_SELF_DELETE', bool, 'false',
      'let users delete their own account: `DELETE /api/v1/auth/me` with their password and a fresh token, and a section of `/account` (see "Deleting your own account")'),
  },
  admin: {
    username: optional('ADMIN_USERNAME', text, 'create this administrator at start when absent (all three together)'),
    email: optional('ADMIN_EMAIL', text, 'the administrator\'s email'),
    password: optional('ADMIN_PASSWORD', text, 'the administrator\'s password', { verbatim: true, secret: true }),
  },
  throttle: {
    maxPerLogin: setting('SIGNIN_MAX_FAILURES', int(0, 1_000_000), '10',
      'failed sign-ins per (client IP, login) per window before 429 with `Retry-After`; `0` turns the throttle off'),
    maxPerIp: setting('SIGNIN_MAX_FAILURES_PER_IP', limit(1_000_000), '100', 'failed sign-ins per client IP (any login) per window; `0` for no IP limit'),
    windowMs: setting('SIGNIN_WINDOW_MINUTES', duration('minutes', 1, 24 * 60, 'ms'), '15', 'the throttle\'s window, in minutes (counters live in Redis with `REDIS_URL`, and always in each instance\'s memory)'),
  },
  signup: {
    enabled: setting('SIGNUP_ENABLED', bool, 'true',
      '`false` closes self-service sign-up: `POST /api/auth/signup` and `/api/v1/auth/signup` answer 403 `ERR_SIGNUP_DISABLED` to anyone but an administrator, the first account of an empty database too; administrators, `ADMIN_*` and `warden users create` make the accounts (see "Closing sign-up")'),
    maxPerIp: setting('SIGNUP_LIMIT_PER_IP', limit(1_000_000), '30',
      'sign-ups from one client IP per window before 429 with `Retry-After` (each attempt counts, a taken name\'s too; an administrator\'s do not); `0` for no limit'),
    windowMs: setting('SIGNUP_WINDOW_MINUTES', duration('minutes', 1, 24 * 60, 'ms'), '5', 'the sign-up limit\'s window, in minutes (counted in Redis across instances when `REDIS_URL` is set)'),
  },
  mail: {
    smtpUrl: optional('SMTP_URL', url(['smtp', 'smtps']),
      '`smtp://user:pass@host:port` (STARTTLS when offered) or `smtps://…`; unset, development writes mails to `DATA_DIR/outbox/*.eml` and production turns the email features off (501)'),
    requireTls: setting('SMTP_REQUIRE_TLS', bool, 'false', 'with `smtp://`, refuse to send unless the server upgrades with STARTTLS'),
    tlsCaFile: optional('SMTP_TLS_CA_FILE', existingFile, 'PEM certificates to trust for the SMTP server besides the system CAs (a private CA); read at start: a server trusts a new one once restarted (mails that fail meanwhile are retried as any failed delivery)'),
    from: optional('MAIL_FROM', mailbox, 'the From of every mail, e.g. `Example <no-reply@example.com>` (required with `SMTP_URL` in production)',
      { defaultDoc: `\`${DEFAULT_MAIL_FROM}\`` }),
    appUrl: optional('APP_URL', url(['http', 'https']), 'the public base URL of this server, which links in mails start with (required with `SMTP_URL` in production)',
      { defaultDoc: '`http://localhost:<PORT>`' }),
    templatesDir: optional('MAIL_TEMPLATES_DIR', existingFile, 'a folder whose `<name>.subject`, `<name>.txt` and `<name>.html` files replace the default mail templates'),
  },
  email: {
    resetTtlMs: setting('PASSWORD_RESET_MINUTES', duration('minutes', 5, 24 * 60, 'ms'), '30', 'a password reset link works this many minutes'),
    verifyTtlMs: setting('EMAIL_VERIFY_DAYS', duration('days', 1, 30, 'ms'), '3', 'an email verification or address change link works this many days'),
    inviteTtlMs: setting('INVITE_LINK_DAYS', duration('days', 1, 90, 'ms'), '7', 'an invitation\'s link (an administrator\'s `POST /api/v1/users/invite`, `warden users invite`) works this many days'),
    requireVerified: setting('REQUIRE_EMAIL_VERIFICATION', bool, 'false',
      'refuse sign-in to users who have not verified their email (403 `ERR_EMAIL_NOT_VERIFIED`, after the password check)'),
    notifyNewSignIn: setting('NOTIFY_NEW_SIGNIN', bool, 'true', 'mail a user who signs in from a user-agent and client pair not seen before for them (an IPv6 client by its network, `CLIENT_IPV6_PREFIX`; not on their first sign-in)'),
    maxPerAddress: setting('MAIL_LIMIT_PER_ADDRESS', limit(1_000_000), '5',
      'mails asked for one address per window (reset, verification, address change) before 429 with `Retry-After`, and security notices to one address per window, new sign-ins and changes each (past it they are dropped); `0` for no limit'),
    maxPerIp: setting('MAIL_LIMIT_PER_IP', limit(1_000_000), '20', 'mails asked for from one client IP per window; `0` for no limit'),
    windowMs: setting('MAIL_LIMIT_WINDOW_MINUTES', duration('minutes', 1, 24 * 60, 'ms'), '60',
      'the mail limits\' window, in minutes (counted in Redis across instances when `REDIS_URL` is set)'),
  },
  mfa: {
    issuer: setting('MFA_ISSUER', text, 'Warden', 'the issuer authenticator apps show for TOTP (`otpauth://` URI), and the passkeys\' relying party name'),
    encryptionKey: optional('MFA_ENCRYPTION_KEY', key256,
      'AES-256-GCM key for TOTP secrets at rest (64 hex digits or base64 of 32 bytes); unset: derived with HKDF from the signing key (`SECRET_KEY` or the private key); secrets sealed before open while their signing key is in the ring (see "Second factors")',
      { secret: true }),
    requiredRoles: optional('MFA_REQUIRED_ROLES', list,
      'roles that must use a second factor: until they sign in with one, their tokens reach only enrolment and sign-out (403 `ERR_MFA_ENROLMENT_REQUIRED`)'),
    maxFailures: setting('MFA_MAX_FAILURES', int(1, 1000), '5', 'wrong second-factor codes per user per `SIGNIN_WINDOW_MINUTES` before 429 (counted in Redis across instances when `REDIS_URL` is set)'),
    rpId: setting('WEBAUTHN_RP_ID', domain, 'localhost', 'passkeys\' relying party id: the site\'s domain (passkeys are bound to it)'),
    origins: derived('WEBAUTHN_ORIGINS', origins, (raw) => `http://localhost:${localPort(raw('PORT'))}`, '`http://localhost:<PORT>`',
      'origins passkey ceremonies may come from, comma-separated; each on `WEBAUTHN_RP_ID` or a subdomain of it'),
    passkeyOptionsPerIp: setting('PASSKEY_OPTIONS_LIMIT_PER_IP', limit(1_000_000), '100',
      'passwordless sign-in options (`POST /api/v1/auth/passkey/options`, each a stored challenge live for 5 minutes) from one client IP per 5 minutes before 429 with `Retry-After`; `0` for no limit'),
  },
  console: {
    enabled: setting('CONSOLE_ENABLED', bool, 'true', 'serve the web console: `/account` (every user\'s self-service pages; see "Console")'),
    adminEnabled: setting('ADMIN_CONSOLE_ENABLED', bool, 'true', 'serve the administrators\' pages under `/admin` (with `CONSOLE_ENABLED`)'),
  },
  log: {
    level: setting('LOG_LEVEL', oneOf(LOG_LEVELS), 'info', 'pino level; `debug` also logs every request (tokens and cookies redacted)'),
  },
  audit: {
    retentionMs: setting('AUDIT_RETENTION_DAYS', duration('days', 1, 36_500, 'ms'), '90',
      'security events (the audit log) older than this are deleted, hourly, in batches'),
  },
  webhooks: {
    endpoints: optional('WEBHOOK_URLS', webhookEndpoints,
      'webhook endpoints separated by spaces, each `URL` (every event) or `URL|type,prefix.*` (those events); needs `WEBHOOK_SECRET`'),
    key: optional('WEBHOOK_SECRET', webhookSecret, '`whsec_` and base64 of 24 to 64 random bytes: the HMAC-SHA256 key of the `webhook-signature` header', { secret: true }),
    timeoutMs: setting('WEBHOOK_TIMEOUT_MS', int(100, 60_000), '10000', 'longest wait for a receiver\'s answer'),
    retryMs: setting('WEBHOOK_RETRY_MS', int(10, 3_600_000), '5000',
      'wait before the first retry; it doubles after each failed attempt (at most an hour), for up to a day after the event'),
    pollMs: setting('WEBHOOK_POLL_MS', int(50, 60_000), '1000',
      'how often each instance looks for due deliveries (an instance sends the events it writes at once)'),
  },
  metrics: {
    enabled: setting('METRICS', bool, 'true', 'serve Prometheus metrics at `GET /metrics`'),
    port: optional('METRICS_PORT', int(1, 65535), 'serve `/metrics` on this port (on `HOST`) instead of the public one'),
  },
  claims: {
    hook: optional('CLAIMS_HOOK', existingFile,
      'a JavaScript module whose default export `async (ctx) => claims` adds claims to every access token (see "Custom claims")'),
    timeoutMs: setting('CLAIMS_HOOK_TIMEOUT_MS', int(10, 60_000), '1000',
      'longest wait for the claims hook; a hook that fails or takes longer fails the sign-in or refresh with 503'),
  },
  cors: {
    origins: optional('CORS_ORIGINS', corsOrigins,
      'origins whose pages may call the API with cookies or tokens, comma-separated, exact (`https://app.example.com`); never `*`'),
  },
};

/** PORT as the default origin uses it (8000 when PORT is itself refused, which is reported once, under PORT). */
function localPort(raw: string | undefined): string {
  return raw !== undefined && /^\d{1,5}$/.test(raw) && Number(raw) <= 65535 ? raw : '8000';
}

/** An address for the From header, bare or as `Name <address>`; no line breaks (header injection). */
function mailbox(raw: string): string {
  if (/[\r\n]/.test(raw) || !/^(?:[^<>]*<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/.test(raw)) {
    throw new Invalid(`must be an address such as no-reply@example.com or "Name <no-reply@example.com>" (got "${raw}")`);
  }
  return raw;
}

function headerType(raw: string): string {
  if (!/^[A-Za-z0-9_-]*$/.test(raw)) throw new Invalid(`must be a word such as Bearer, or empty for a bare token (got "${raw}")`);
  return raw;
}

type Table = typeof CONFIG_TABLE;
export type Config = { [S in keyof Table]: { [K in keyof Table[S]]: ValueOf<Table[S][K]> } };

/** A check across variables: skipped when one it `uses` was already refused, so each mistake is named once. */
export interface ConfigRule {
  uses: readonly string[];
  check(c: Config): string | undefined;
}

export const CONFIG_RULES: readonly ConfigRule[] = [
  {
    uses: ['SECRET_KEY', 'ALGORITHM'],
    check: ({ keys: { secretKey, algorithm } }) => secretKey !== undefined && isHmac(algorithm) && Buffer.byteLength(secretKey) < 32
      ? `SECRET_KEY must be at least 32 bytes for ${algorithm} (got ${Buffer.byteLength(secretKey)}); generate one with: openssl rand -base64 48`
      : undefined,
  },
  {
    uses: ['PUBLIC_KEY_FILE', 'PRIVATE_KEY_FILE'],
    check: ({ keys }) => keys.publicKeyFile && !keys.privateKeyFile ? 'PUBLIC_KEY_FILE needs PRIVATE_KEY_FILE (the key that signs)' : undefined,
  },
  {
    uses: ['PRIVATE_KEY_FILE', 'JWKS_FILE'],
    check: ({ keys }) => keys.privateKeyFile && keys.jwksFile ? 'Set PRIVATE_KEY_FILE or JWKS_FILE, not both' : undefined,
  },
  {
    uses: ['NODE_ENV', 'ALGORITHM', 'SECRET_KEY', 'JWKS_FILE'],
    check: ({ server, keys }) => server.production && isHmac(keys.algorithm) && !keys.secretKey && !keys.jwksFile
      ? 'SECRET_KEY is required when NODE_ENV=production (a generated development key is never used in production)'
      : undefined,
  },
  {
    uses: ['NODE_ENV', 'ALGORITHM', 'PRIVATE_KEY_FILE', 'JWKS_FILE'],
    check: ({ server, keys }) => server.production && !isHmac(keys.algorithm) && !keys.privateKeyFile && !keys.jwksFile
      ? `PRIVATE_KEY_FILE or JWKS_FILE is required for ${keys.algorithm} when NODE_ENV=production`
      : undefined,
  },
  {
    // Set alone it would do nothing: most likely the switch itself was forgotten.
    uses: ['LEGACY_REFRESH_PREFIX', 'LEGACY_REFRESH_TOKENS'],
    check: ({ tokens }) => tokens.legacyRefreshPrefix !== undefined && !tokens.legacyRefreshTokens
      ? 'LEGACY_REFRESH_PREFIX is read only with LEGACY_REFRESH_TOKENS=true'
      : undefined,
  },
  {
    uses: ['COOKIE_SAMESITE', 'COOKIE_SECURE'],
    check: ({ cookies }) => cookies.sameSite === 'none' && !cookies.secure
      ? 'COOKIE_SAMESITE=none requires COOKIE_SECURE=true (browsers drop such cookies)'
      : undefined,
  },
  {
    uses: ['ADMIN_USERNAME', 'ADMIN_EMAIL', 'ADMIN_PASSWORD'],
    check: ({ admin }) => {
      const set = [admin.username, admin.email, admin.password].filter((v) => v !== undefined).length;
      return set > 0 && set < 3 ? 'ADMIN_USERNAME, ADMIN_EMAIL and ADMIN_PASSWORD must be set together' : undefined;
    },
  },
  {
    uses: ['WEBAUTHN_ORIGINS', 'WEBAUTHN_RP_ID'],
    check: ({ mfa }) => {
      const outside = mfa.origins.find((o) => {
        const host = new URL(o).hostname;
        return host !== mfa.rpId && !host.endsWith(`.${mfa.rpId}`);
      });
      return outside ? `WEBAUTHN_ORIGINS: ${outside} is not on WEBAUTHN_RP_ID (${mfa.rpId}) or a subdomain of it` : undefined;
    },
  },
  {
    uses: ['NODE_ENV', 'SMTP_URL', 'MAIL_FROM', 'APP_URL'],
    check: ({ server, mail }) => {
      if (!server.production || mail.smtpUrl === undefined) return undefined;
      const missing = [mail.from === undefined ? 'MAIL_FROM' : '', mail.appUrl === undefined ? 'APP_URL' : ''].filter(Boolean);
      return missing.length > 0 ? `${missing.join(' and ')} must be set with SMTP_URL when NODE_ENV=production (mails need a real sender and links)` : undefined;
    },
  },
  {
    uses: ['NODE_ENV', 'SMTP_URL', 'REQUIRE_EMAIL_VERIFICATION'],
    check: ({ server, mail, email }) => server.production && mail.smtpUrl === undefined && email.requireVerified
      ? 'REQUIRE_EMAIL_VERIFICATION=true needs SMTP_URL when NODE_ENV=production (no one could verify an address)'
      : undefined,
  },
  {
    uses: ['WEBHOOK_URLS', 'WEBHOOK_SECRET'],
    check: ({ webhooks }) => webhooks.endpoints !== undefined && webhooks.key === undefined
      ? 'WEBHOOK_URLS needs WEBHOOK_SECRET (deliveries are signed); generate one with: echo whsec_$(openssl rand -base64 32)'
      : undefined,
  },
  {
    uses: ['METRICS_PORT', 'PORT'],
    check: ({ metrics, server }) => metrics.port !== undefined && metrics.port === server.port ? 'METRICS_PORT must differ from PORT' : undefined,
  },
  {
    uses: ['HTTP_HEADERS_TIMEOUT_SECONDS', 'HTTP_REQUEST_TIMEOUT_SECONDS'],
    check: ({ connections: c }) => c.headersTimeoutMs > c.requestTimeoutMs
      ? 'HTTP_HEADERS_TIMEOUT_SECONDS must not exceed HTTP_REQUEST_TIMEOUT_SECONDS (the headers are part of the request)'
      : undefined,
  },
  {
    uses: ['REFRESH_TOKEN_EXPIRES_DAYS', 'ACCESS_TOKEN_EXPIRES_MINUTES'],
    check: ({ tokens }) => tokens.refreshTtlSeconds <= tokens.accessTtlSeconds
      ? 'REFRESH_TOKEN_EXPIRES_DAYS must outlast ACCESS_TOKEN_EXPIRES_MINUTES'
      : undefined,
  },
];
