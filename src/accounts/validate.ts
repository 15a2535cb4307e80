// Field rules for accounts. Each failure is ERR_VALIDATION naming the field, so every API family
// answers 422 with the same text.
import { WardenError } from '@warden/toolkit';
import { emailKey } from '../storage/rules.js';
import type { PasswordBlocklist } from './password-blocklist.js';

/** NIST SP 800-63B's floor, and the default of PASSWORD_MIN_LENGTH; imported passwords are held to it alone. */
export const PASSWORD_MIN_LENGTH = 8;

/** How long a new password may be, in characters: PASSWORD_MIN_LENGTH (NFKC) and PASSWORD_MAX_LENGTH. */
export interface PasswordLengths {
  minLength: number;
  maxLength: number;
}
/**
 * The rules a new password is held to (never one signing in, nor an imported one, which are held to
 * lengths alone): its lengths, PASSWORD_BLOCKLIST_FILE and PASSWORD_CONTEXT_CHECK.
 */
export interface PasswordRules extends PasswordLengths {
  /** PASSWORD_BLOCKLIST_FILE, loaded; none when absent. */
  blocklist?: PasswordBlocklist | undefined;
  /** PASSWORD_CONTEXT_CHECK: refuse the account's username, email address or its local part (true when absent). */
  contextCheck?: boolean | undefined;
}

/** What the services' dependencies say of passwords, as AccountsDeps names it. */
export interface PasswordPolicyDeps {
  passwordMaxLength: number;
  /** PASSWORD_MIN_LENGTH: the characters (NFKC) a new password needs; PASSWORD_MIN_LENGTH of validate.ts (8) when absent. */
  passwordMinLength?: number | undefined;
  /** PASSWORD_BLOCKLIST_FILE, loaded: passwords a new one may not be; none when absent. */
  passwordBlocklist?: PasswordBlocklist | undefined;
  /** PASSWORD_CONTEXT_CHECK: a new password may not be the account's username or email address (or its local part); true when absent. */
  passwordContextCheck?: boolean | undefined;
}

/** The rules PasswordPolicyDeps describe. */
export function passwordRules(d: PasswordPolicyDeps): PasswordRules {
  return { minLength: d.passwordMinLength ?? PASSWORD_MIN_LENGTH, maxLength: d.passwordMaxLength, blocklist: d.passwordBlocklist, contextCheck: d.passwordContextCheck };
}

/** The account a new password is for: what PASSWORD_CONTEXT_CHECK compares it with (values not strings are skipped). */
export interface AccountNames {
  username?: unknown;
  email?: unknown;
}

const USERNAME_RE = /^[A-Za-z0-9_.-]{3,64}$/;
// Deliberately simple: one @, no spaces, a dot in the domain. Full RFC 5322 is not what sign-up needs.
const EMAIL_RE = /^[^\s@]{1,64}@[^\s@.]+(\.[^\s@.]+)+$/;
const ROLE_RE = /^[A-Za-z0-9_:.-]{1,64}$/;
const MAX_ROLES = 32;

export function invalid(field: string, message: string): WardenError {
  return new WardenError('ERR_VALIDATION', `${field}: ${message}`, { field });
}

/** One failed field of a form checked whole: `field` and its message as `invalid` words it. */
export interface FieldFailure {
  field: string;
  message: string;
}

/**
 * Runs every field's check whatever the others answer, so that a form with three mistakes is told
 * of three in one answer (as FastAPI's list does), not one per attempt. Returns the checked values,
 * or throws one ERR_VALIDATION led by the first failure (its message and `field`, as a single
 * check's) with `fields` listing them all, in the order given. A check that is not given (undefined)
 * is skipped and its key left out.
 */
export function checkFields<C extends Record<string, (() => unknown) | undefined>>(checks: C): { [K in keyof C]: C[K] extends () => infer R ? R : undefined } {
  const out: Record<string, unknown> = {};
  const failed: FieldFailure[] = [];
  for (const [key, check] of Object.entries(checks)) {
    if (check === undefined) continue;
    try {
      out[key] = check();
    } catch (e) {
      if (!(e instanceof WardenError) || e.code !== 'ERR_VALIDATION' || typeof e.details?.field !== 'string') throw e;
      failed.push({ field: e.details.field, message: e.message });
    }
  }
  const [first] = failed;
  if (first) throw new WardenError('ERR_VALIDATION', first.message, { field: first.field, fields: failed });
  return out as { [K in keyof C]: C[K] extends () => infer R ? R : undefined };
}

// NUL cannot be stored in PostgreSQL text and has no place in any of these fields.
const NUL = /\u0000/;

export function requireString(value: unknown, field: string): string {
  if (typeof value !== 'string') throw invalid(field, 'must be a string');
  if (NUL.test(value)) throw invalid(field, 'must not contain NUL characters');
  return value;
}

/** A free-text filter (e.g. ?email=): a string without NUL, or undefined when absent or empty. */
export function optionalFilter(value: unknown, field: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  return requireString(value, field);
}

export function validateUsername(value: unknown): string {
  const v = requireString(value, 'username').trim();
  if (!USERNAME_RE.test(v)) throw invalid('username', 'must be 3 to 64 letters A–Z or a–z (no accents or other scripts), digits, "_", "." or "-"');
  return v;
}

// Characters an address typed by a person never holds, which would let two accounts look alike or
// a mail header say something else: controls, invisible format characters (zero-width, bidi
// overrides), every other character Unicode says to draw as nothing (Default_Ignorable_Code_Point,
// disallowed in identifiers by PRECIS, RFC 8264: the combining grapheme joiner, variation
// selectors, Hangul fillers, which are not format characters), lone surrogates (no character at
// all), and RFC 5322's specials, which only a quoted local part may carry.
const NOT_IN_EMAIL = /[\p{Cc}\p{Cf}\p{Cs}\p{Default_Ignorable_Code_Point}<>()[\]\\,;:"]/u;

/** An email as stored and looked up: trimmed, lower case, NFC (emailKey); an unusable one is 422. */
export function normaliseEmail(value: unknown, field = 'email'): string {
  const v = emailKey(requireString(value, field));
  if (v.length > 254 || !EMAIL_RE.test(v) || NOT_IN_EMAIL.test(v)) throw invalid(field, 'must be a valid email address');
  return v;
}

/** The account's names as PASSWORD_CONTEXT_CHECK compares them: NFKC, trimmed, lower case. */
function contextWords({ username, email }: AccountNames): string[] {
  const key = (s: string) => s.normalize('NFKC').trim().toLowerCase();
  const words: string[] = [];
  if (typeof username === 'string') words.push(key(username));
  if (typeof email === 'string') {
    const address = key(email);
    const at = address.lastIndexOf('@');
    words.push(address, ...(at > 0 ? [address.slice(0, at)] : []));
  }
  return words.filter((w) => w !== '');
}

/**
 * A new password, as `rules` hold it: its lengths; then, given the account it is for and unless
 * rules.contextCheck is false, not that account's username, email address or the address's local
 * part (NFKC, case-insensitive: NIST SP 800-63B 5.1.1.2's "context-specific words"); then not on
 * rules.blocklist. The blocklist's refusal does not say which list, nor how it matched.
 */
export function validatePassword(value: unknown, rules: PasswordRules, field = 'password', account?: AccountNames): string {
  const { minLength, maxLength } = rules;
  if (typeof value !== 'string') throw invalid(field, 'must be a string');
  const v = value; // any character is allowed in a password, NUL included: it is only ever hashed
  // Lengths count code points, not UTF-16 units (NIST SP 800-63B 5.1.1.2). The minimum counts
  // them as hashed, in NFKC (argon2-hasher.ts): "e" and a combining accent, typed four times, is
  // "éééé", four characters, not eight. The maximum bounds what is sent.
  const n = [...v].length;
  if (n > maxLength) throw invalid(field, `must be at most ${maxLength} characters`);
  const nfkc = v.normalize('NFKC');
  if ([...nfkc].length < minLength) throw invalid(field, `must be at least ${minLength} characters`);
  if (account !== undefined && rules.contextCheck !== false) {
    const typed = nfkc.toLowerCase();
    if (contextWords(account).includes(typed)) throw invalid(field, 'must not be the username or the email address');
  }
  if (rules.blocklist?.has(v)) throw invalid(field, 'is too common: it is on a list of breached or commonly used passwords; choose another');
  return v;
}

// Control characters, and lone surrogates, which no database stores as sent (they come back as U+FFFD).
const CONTROLS = /[\p{Cc}\p{Cs}]/u;
// Bidirectional embeddings, overrides and isolates make a name read otherwise than it is written,
// in the console's lists and in mails ("Trojan Source"). Marks (U+200E, U+200F) and the joiners
// some scripts need are kept.
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/;

/** Why a name people read (a full name, a passkey's label) cannot be shown as it is written, or null. */
export function unreadableName(v: string): string | null {
  if (CONTROLS.test(v)) return 'must not contain control characters';
  if (BIDI_CONTROLS.test(v)) return 'must not contain bidirectional override or isolate characters (U+202A to U+202E, U+2066 to U+2069)';
  return null;
}

export function validateFullName(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  const v = requireString(value, 'full_name').trim();
  if (v.length > 200) throw invalid('full_name', 'must be at most 200 characters');
  const problem = unreadableName(v);
  if (problem !== null) throw invalid('full_name', problem);
  return v === '' ? null : v;
}

export function validateRoles(value: unknown): string[] {
  if (!Array.isArray(value)) throw invalid('roles', 'must be a list of role names');
  if (value.length > MAX_ROLES) throw invalid('roles', `must hold at most ${MAX_ROLES} roles`);
  const roles = new Set<string>();
  for (const r of value) {
    if (typeof r !== 'string' || !ROLE_RE.test(r)) throw invalid('roles', 'each role must be 1 to 64 letters, digits, "_", ":", "." or "-"');
    roles.add(r);
  }
  return [...roles];
}

export function validateBoolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw invalid(field, 'must be true or false');
  return value;
}
