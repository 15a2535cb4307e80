/**
 * Verifying password hashes written by the Python apps whose users move to Warden (werkzeug/Flask,
 * passlib/FastAPI, Django, python-bcrypt, argon2-cffi). Verification only: a successful sign-in
 * should re-hash the password with Warden's own argon2id.
 *
 *   identifyHash(stored): { format } | null
 *     Names the layout from its prefix alone (no parsing, no work); null when nothing matches.
 *     Warden's own `$argon2id$…` hashes are also 'argon2'.
 *
 *   inspectLegacyHash(stored): { format } | Refusal
 *     Parses the stored hash as verifyLegacyHash would, without hashing anything: whether it could
 *     ever be verified (bulk import refuses a row whose hash cannot).
 *
 *   verifyLegacyHash(stored, password): Promise<LegacyVerifyResult>
 *     { ok: true | false, format }              the hash parsed and the password was checked
 *     { error: 'malformed', format?, reason }   a known layout with a bad field (truncated, bad
 *                                               base64, non-numeric or zero-padded numbers, empty
 *                                               salt where the library requires one, …)
 *     { error: 'unsupported', format?, reason } an unknown layout, or a known one this code does
 *                                               not verify (e.g. $2x$, werkzeug's parameterless forms)
 *     { error: 'too_costly', format, reason }   parameters beyond LIMITS (common.ts); refused while
 *                                               parsing, before any hashing starts
 *   It never throws or rejects because of the stored hash or the password. It rejects only if the
 *   machinery fails (a SHA-crypt worker thread cannot start). Every hash's work runs off the event
 *   loop (node:crypto's async pbkdf2/scrypt and the argon2/bcrypt bindings on the libuv pool,
 *   SHA-crypt in a worker thread); digests are compared in constant time.
 *
 * Passwords are encoded as UTF-8, as all these libraries do. A password with a lone UTF-16
 * surrogate cannot have been hashed by them (Python refuses to encode it), so it never matches.
 */
import { prepareArgon2 } from './argon2.js';
import { prepareBcrypt } from './bcrypt.js';
import { HashRejected, refuse, type LegacyFormat, type Prepared, type Refusal } from './common.js';
import { prepareDjangoArgon2, prepareDjangoBcrypt, prepareDjangoPbkdf2, prepareDjangoScrypt } from './django.js';
import { prepareDjangoDigest, prepareWerkzeugDigest } from './fast-digest.js';
import { DOUBLE_HASHED, FLASK_SECURITY_PREFIX, prepareFlaskSecurity } from './flask-security.js';
import { preparePasslibBcryptSha256, preparePasslibPbkdf2 } from './passlib.js';
import { prepareShaCrypt } from './sha-crypt.js';
import { prepareWerkzeugPbkdf2, prepareWerkzeugScrypt } from './werkzeug.js';

export { LIMITS } from './common.js';
export type { LegacyFormat, Refusal } from './common.js';

export type LegacyVerifyResult = { ok: boolean; format: LegacyFormat } | Refusal;

// Longer than any stored hash these libraries write (passlib's longest, pbkdf2 with its maximum
// 1024-byte salt, is under 1,500 characters).
const MAX_STORED_LENGTH = 4096;

/** What verifying needs beyond the stored hash: the secrets some applications mixed in. */
export interface LegacyOptions {
  /** Flask-Security's SECURITY_PASSWORD_SALT, for "flask-security$…" hashes. */
  flaskSecuritySalt?: string;
}

type Rule = [RegExp, LegacyFormat, (stored: string, o: LegacyOptions) => Prepared | Refusal];

const notVerified = (format: LegacyFormat, reason: string) => () => refuse('unsupported', format, reason);

// First match wins. Prefixes are distinct except "scrypt$", shared by werkzeug's parameterless
// form and Django's (4.2+) scrypt$N$salt$r$p$hash.
const RULES: Rule[] = [
  [/^\$2[abxy]?\$/, 'bcrypt', (s) => prepareBcrypt(s)],
  // Another library's hash, made over an HMAC under the application's salt (flask-security.ts).
  [/^flask-security\$/, 'flask-security', (s, o) => {
    const inner = s.slice(FLASK_SECURITY_PREFIX.length);
    return prepareFlaskSecurity(inner.startsWith(FLASK_SECURITY_PREFIX) ? refuse('malformed', 'flask-security', 'tagged twice') : prepare(inner, {}), o.flaskSecuritySalt);
  }],
  [/^\$bcrypt-sha256\$/, 'passlib-bcrypt-sha256', preparePasslibBcryptSha256],
  [/^\$pbkdf2(?:-sha256|-sha512)?\$/, 'passlib-pbkdf2', preparePasslibPbkdf2],
  [/^\$5\$/, 'sha256-crypt', prepareShaCrypt],
  [/^\$6\$/, 'sha512-crypt', prepareShaCrypt],
  [/^\$argon2(?:i|d|id)\$/, 'argon2', (s) => prepareArgon2(s)],
  [/^pbkdf2[:$]/, 'werkzeug-pbkdf2', prepareWerkzeugPbkdf2],
  [/^scrypt:/, 'werkzeug-scrypt', prepareWerkzeugScrypt],
  [/^scrypt(?:\$[^$]*){5}$/, 'django-scrypt', prepareDjangoScrypt],
  [/^scrypt\$/, 'werkzeug-scrypt', prepareWerkzeugScrypt],
  [/^pbkdf2_sha(?:256|1)\$/, 'django-pbkdf2', prepareDjangoPbkdf2],
  [/^bcrypt_sha256\$/, 'django-bcrypt-sha256', prepareDjangoBcrypt],
  [/^bcrypt\$/, 'django-bcrypt', prepareDjangoBcrypt],
  [/^argon2\$/, 'django-argon2', prepareDjangoArgon2],
  // Django's set_unusable_password(): "!" and 40 random letters and digits ("!" alone before 1.6),
  // stored for a user made without a password (a social sign-in). Named, so that an export's
  // "password" column holding it is never taken for a plain password.
  [/^!(?:[A-Za-z0-9]{40})?$/, 'django-unusable', notVerified('django-unusable', "Django's mark of a user without a password (set_unusable_password)")],
  // Single fast digests, stored so by an import that named their library (fast-digest.ts).
  [/^werkzeug-digest\$/, 'werkzeug-digest', prepareWerkzeugDigest],
  [/^django-digest\$/, 'django-digest', prepareDjangoDigest],
  // The same as their libraries wrote them: werkzeug < 2.3's (generate_password_hash(method="sha256"),
  // HMAC) and Django's (sha1/md5 of salt and password) share a layout, so an import must say whose
  // they are; Django's crypt$ is not verified, and werkzeug's "plain" is a password.
  [
    /^(?:md5|sha1|sha224|sha256|sha384|sha512|unsalted_md5|unsalted_sha1|crypt|plain)\$/,
    'legacy-digest',
    notVerified('legacy-digest', "a single fast digest (werkzeug < 2.3 method=\"sha256\", Django sha1/md5/crypt): werkzeug's and Django's sha and md5 ones are imported with --fast-digests werkzeug or --fast-digests django"),
  ],
];

function rule(stored: string): Rule | undefined {
  return RULES.find(([re]) => re.test(stored));
}

/** The layout a stored hash claims by its prefix, or null if it is none this module knows. */
export function identifyHash(stored: string): { format: LegacyFormat } | null {
  if (typeof stored !== 'string') return null;
  const r = rule(stored);
  return r ? { format: r[1] } : null;
}

/** A hash of a scheme Flask-Security makes over the HMAC (what an import with --flask-security tags). */
export function isDoubleHashed(stored: string): boolean {
  const format = identifyHash(stored)?.format;
  return format !== undefined && DOUBLE_HASHED.has(format);
}

function prepare(stored: string, o: LegacyOptions): Prepared | Refusal {
  if (typeof stored !== 'string') return refuse('malformed', undefined, 'stored hash is not a string');
  const r = rule(stored);
  if (!r) return refuse('unsupported', undefined, 'not a recognised password hash format');
  if (stored.length > MAX_STORED_LENGTH) return refuse('malformed', r[1], `longer than ${MAX_STORED_LENGTH} characters`);
  return r[2](stored, o);
}

/** The layout of a stored hash that parses and is within the limits, or why it would be refused. No hashing. */
export function inspectLegacyHash(stored: string, o: LegacyOptions = {}): { format: LegacyFormat } | Refusal {
  const prepared = prepare(stored, o);
  return 'error' in prepared ? prepared : { format: prepared.format };
}

/** Checks `password` against a stored legacy hash. See the header for the results. */
export async function verifyLegacyHash(stored: string, password: string, o: LegacyOptions = {}): Promise<LegacyVerifyResult> {
  const prepared = prepare(stored, o);
  if ('error' in prepared) return prepared;
  if (typeof password !== 'string' || /\p{Cs}/u.test(password)) return { ok: false, format: prepared.format };
  try {
    return { ok: await prepared.check(Buffer.from(password, 'utf8')), format: prepared.format };
  } catch (e) {
    if (e instanceof HashRejected) return refuse(e.kind, prepared.format, e.message);
    throw e;
  }
}
