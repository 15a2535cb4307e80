// A stateful property test of accounts and sessions (fast-check's model-based testing): random
// sequences of real HTTP calls against a real Warden — sign-up (a taken name in another case, roles
// asked for without an administrator, a malformed name), sign-in (right and wrong passwords, by
// email on /api/v1, by username or upper-case email on /api), refresh (the current token, the one
// just retired within and past REFRESH_REUSE_GRACE_SECONDS on a test clock the sequence moves, an
// older one, one of an ended session), sign-out (local, global, others), ending one's own session,
// changing one's password (a fresh token or a refreshed one), the administrators' create, roles,
// deactivate/reactivate, set password, end a session and delete (the last administrator
// included), a user's own deletion, and through mails a real SMTP server receives: verification,
// password reset and address change, newer and older links; and second factors (README's "Second
// factors"): enrolling an authenticator app and confirming it (the right code, the next or the
// previous step's, a wrong one, the code of an enrolment a newer one replaced), a password sign-in
// then answering mfa_required with an MFA token, completed (or not) with a code — the current
// step's, the previous or next one's, one two steps old, one already used (the step a confirmation
// or a sign-in used), a wrong one, another user's — or a recovery code, once; MFA tokens used,
// expired, voided by a new password, an administrator's reset or a reset of an address never
// verified, of an inactive user; removing one's factor and regenerating recovery codes (a fresh
// token that carries a second factor, README), an administrator's factor reset (every session
// ended), and the per-user throttle of wrong codes (MFA_MAX_FAILURES, 429 and its Retry-After),
// all on the test clock, with codes from the tests' own TOTP. Each is checked against a small model
// of what must be true, and after every call: which sign-ins need a second step (and its methods),
// the amr and acr of every token issued and refreshed (pwd; pwd, otp, mfa with a code), each
// user's factors and recovery codes left (their own view and an administrator's); each access
// token the model holds live passes /auth/me (profile, roles, email_verified as modelled) and
// forward auth (X-Auth-Roles the model's), each dead one is refused there and its session's refresh tokens at refresh; every
// user's live sessions are exactly the model's (their own view and an administrator's); the audit
// log holds, per user, exactly the events the model expects, in order, and each user's own event
// list agrees (a sign-in's amr, a refused second factor's reason and the mfa.* events' method
// included: mfa.enrolled, mfa.used, mfa.removed, mfa.recovery_codes_regenerated); an active
// administrator remains; no call answers 500, and every refusal is a 4xx in its API's documented
// shape. SQLite and PostgreSQL by default (FC_ADAPTERS=memory,sqlite,postgres adds the memory
// adapter), a fixed seed; to hunt: FC_SEED, FC_RUNS, FC_COMMANDS, FC_SHRINK=1 (shrink
// a failure), FC_TRACE=1 (print each sequence and the failing assertion), FC_REPORT=1 (figures).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { testClock, type TestClock } from './helpers/clock.js';
import { call, startServer, type Running } from './helpers/server.js';
import { startSmtp, tokenIn, type TestSmtp } from './helpers/smtp.js';
import { storageFactories, type StorageFactory } from './helpers/storage.js';
import { codeAt, secretOf } from './helpers/totp.js';

const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : 87;
const RUNS = process.env.FC_RUNS !== undefined ? Number(process.env.FC_RUNS) : 16;
const MAX_COMMANDS = process.env.FC_COMMANDS !== undefined ? Number(process.env.FC_COMMANDS) : 30;

const ADMIN_ROLES = ['admin', 'ROLE_ADMIN'];
const GRACE_MS = 10_000;
const NAMES = ['ann', 'bob', 'cyd'];
const PASSWORDS = ['password-one', 'password-two', 'password-3'];
const ROLE_SETS: string[][] = [['user'], ['admin'], ['ROLE_ADMIN', 'user'], ['editor'], []];

// ---- the model ----

interface MUser {
  id: string;
  username: string;
  email: string;
  password: string;
  roles: string[];
  active: boolean;
  deleted: boolean;
  verified: boolean;
  /** Event types about this user (user_id), oldest first. */
  events: string[];
  /** The confirmed authenticator app: its id, secret and the last time step accepted. */
  totp?: { id: string; secret: Buffer; lastStep: number } | undefined;
  /** An enrolment started, not confirmed (a newer one replaces it). */
  pending?: { id: string; secret: Buffer } | undefined;
  /** The secret of the enrolment the pending one replaced. */
  superseded?: Buffer | undefined;
  /** Unused recovery codes, and those used or voided (for a replay). */
  recovery: string[];
  spentRecovery: string[];
  /** Counts new passwords: an MFA token earned with an older one is void. */
  passwordEpoch: number;
  /** Wrong codes in the current window of the second-factor throttle (MFA_MAX_FAILURES per SIGNIN_WINDOW_MINUTES). */
  mfaFails?: { count: number; resetAt: number } | undefined;
}

/** An MFA token a correct password earned: good once, for 5 minutes, with the password it was earned with. */
interface MMfa {
  token: string;
  user: MUser;
  epoch: number;
  issuedAt: number;
  used: boolean;
  /** Its pending sign-in deleted (an administrator's factor reset, a reset of an unverified address). */
  voided: boolean;
}

interface MSession {
  sid: string;
  user: MUser;
  live: boolean;
  refresh: string;
  /** Refresh tokens this session rotated away from. */
  retired: string[];
  /** When it last rotated (the server's clock). */
  rotatedAt: number;
  /** Opened with a second factor (amr holds otp and mfa, acr aal2). */
  mfa: boolean;
}

interface MAccess {
  token: string;
  session: MSession;
  fresh: boolean;
}

interface Mail {
  to: string;
  subject: string;
  token: string;
}

interface Model {
  users: MUser[];
  sessions: MSession[];
  access: MAccess[];
  /** Events with no user (a sign-in with an unknown login). */
  anonymousEvents: number;
  /** Reset links mailed, per user id, oldest first: only the last works, until a new password. */
  resets: Map<string, { token: string; email: string; used: boolean }[]>;
  /** Verification links mailed, per user id, oldest first: only the last works, for the address it went to. */
  verifies: Map<string, { token: string; email: string; used: boolean }[]>;
  /** Address-change links: the session that asked, the new address, the token; only the last per user works. */
  changes: Map<string, { token: string; sid: string; email: string; used: boolean }[]>;
  /** MFA tokens handed out, oldest first. */
  mfaTokens: MMfa[];
  /** Actions taken so far, for the report of a failure. */
  log: string[];
}

interface Real {
  s: Running;
  clock: TestClock;
  smtp: TestSmtp | undefined;
  /** Mails delivered that a command already took. */
  taken: Set<unknown>;
}

const isAdmin = (roles: readonly string[]) => roles.some((r) => ADMIN_ROLES.includes(r));
const existing = (m: Model) => m.users.filter((u) => !u.deleted);
const taken = (m: Model, username: string, email: string) =>
  existing(m).some((u) => u.username.toLowerCase() === username.toLowerCase() || u.email === email.toLowerCase());
const liveAccess = (a: MAccess) => a.session.live && a.session.user.active && !a.session.user.deleted;
const activeAdmins = (m: Model) => existing(m).filter((u) => u.active && isAdmin(u.roles));
/** An admin's live access token, to act with. */
const adminToken = (m: Model, pick: number): MAccess | undefined => {
  const all = m.access.filter((a) => liveAccess(a) && isAdmin(a.session.user.roles));
  return all.length === 0 ? undefined : all[pick % all.length];
};
const pickOf = <T>(xs: readonly T[], pick: number): T | undefined => (xs.length === 0 ? undefined : xs[pick % xs.length]);
/** Picks below 800 (four in five) choose among the live ones when there are any, the others among all. */
const pickLive = <T>(xs: readonly T[], live: (x: T) => boolean, pick: number): T | undefined => {
  const some = xs.filter(live);
  return pick < 800 && some.length > 0 ? pickOf(some, pick) : pickOf(xs, pick);
};
const accessOf = (m: Model, pick: number) => pickLive(m.access, liveAccess, pick);
/** Picks below 500 choose among the live tokens of sessions opened with a second factor, when there are any. */
const strongAccessOf = (m: Model, pick: number) => {
  const strong = m.access.filter((a) => liveAccess(a) && a.session.mfa);
  return pick < 500 && strong.length > 0 ? pickOf(strong, pick) : accessOf(m, pick);
};
const sessionOf = (m: Model, pick: number) => pickLive(m.sessions, (s) => s.live && s.user.active && !s.user.deleted, pick);
const userOf = (m: Model, pick: number) => pickLive(m.users, (u) => !u.deleted, pick);
const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
const sorted = (xs: readonly string[]) => [...xs].sort();
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

function endSession(m: Model, s: MSession): void {
  s.live = false;
}
function endAllOf(m: Model, u: MUser, except?: MSession): number {
  let n = 0;
  for (const s of m.sessions) if (s.user === u && s.live && s !== except) {
    s.live = false;
    n++;
  }
  return n;
}
/** A new password voids the reset and address-change links already mailed. */
function passwordChanged(m: Model, u: MUser, password: string): void {
  u.password = password;
  u.passwordEpoch++;
  for (const r of m.resets.get(u.id) ?? []) r.used = true;
  for (const c of m.changes.get(u.id) ?? []) c.used = true;
}

/** Every factor, recovery code and pending sign-in of the user deleted. */
function factorsGone(m: Model, u: MUser): void {
  u.totp = undefined;
  u.pending = undefined;
  u.spentRecovery.push(...u.recovery);
  u.recovery = [];
  for (const t of m.mfaTokens) if (t.user === u) t.voided = true;
}

// ---- HTTP with the checks every answer gets ----

type Answer = Awaited<ReturnType<typeof call>>;

async function http(r: Real, m: Model, path: string, init: Parameters<typeof call>[1] = {}): Promise<Answer> {
  const res = await call(`${r.s.url}${path}`, init);
  const where = `${init.method ?? (init.json !== undefined || init.form !== undefined ? 'POST' : 'GET')} ${path} -> ${res.status} ${res.text.slice(0, 300)}\n  after: ${m.log.join('\n         ')}`;
  assert.ok(res.status < 500, `a 5xx: ${where}`);
  if (res.status >= 400) {
    assert.ok(res.status >= 400 && res.status < 500, where);
    assert.equal(typeof res.json?.code, 'string', `a refusal without a code: ${where}`);
    if (path.startsWith('/api/v1/')) {
      assert.equal(typeof res.json.message, 'string', `the /api/v1 shape: ${where}`);
      assert.equal(res.json.data, null, `the /api/v1 shape: ${where}`);
    } else {
      assert.equal(typeof res.json.detail, 'string', `the /api shape: ${where}`);
    }
  }
  return res;
}

/** How often each outcome was checked (FC_REPORT=1 prints them): what the runs actually reached. */
const outcomes = new Map<string, number>();

function expect(res: Answer, status: number, code: string | undefined, m: Model, what: string): void {
  outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
  const where = `${what}: ${res.status} ${res.text.slice(0, 300)}\n  after: ${m.log.join('\n         ')}`;
  assert.equal(res.status, status, where);
  if (code !== undefined) assert.equal(res.json?.code, code, where);
}

// ---- invariants, checked through the API after every command ----

type EventItem = { type: string; user_id: string | null; details?: Record<string, unknown> };
/**
 * An event as the model writes it: its type, with what the model knows of its details where it
 * matters here: a sign-in with a second factor (amr holds mfa), a refused second factor, and the
 * method of the mfa.* events.
 */
function eventKey(e: EventItem): string {
  const d = e.details ?? {};
  if (e.type === 'signin.succeeded' && Array.isArray(d.amr) && d.amr.includes('mfa')) return 'signin.succeeded|mfa';
  if (e.type === 'signin.failed' && d.reason === 'second_factor') return 'signin.failed|second_factor';
  if (e.type.startsWith('mfa.') && typeof d.method === 'string') return `${e.type}|${d.method}`;
  return e.type;
}

async function checkInvariants(m: Model, r: Real): Promise<void> {
  const ctx = `\n  after: ${m.log.join('\n         ')}`;
  // Every access token: live ones pass /auth/me and forward auth with the user's current roles;
  // dead ones are refused by both.
  for (const a of m.access) {
    const [me, fwd] = await Promise.all([
      http(r, m, '/api/v1/auth/me', { headers: bearer(a.token) }),
      http(r, m, '/api/v1/auth/verify', { headers: bearer(a.token) }),
    ]);
    const u = a.session.user;
    if (liveAccess(a)) {
      assert.equal(me.status, 200, `a live token refused by /auth/me (${u.username}): ${me.text}${ctx}`);
      assert.equal(me.json.data.user_id, u.id);
      assert.deepEqual(sorted(me.json.data.roles), sorted(u.roles), `roles on /auth/me${ctx}`);
      assert.equal(me.json.data.email, u.email, `email on /auth/me${ctx}`);
      assert.equal(me.json.data.email_verified, u.verified, `email_verified on /auth/me${ctx}`);
      assert.equal(fwd.status, 200, `a live token refused by forward auth (${u.username}): ${fwd.text}${ctx}`);
      assert.equal(fwd.headers.get('x-auth-user'), u.id);
      assert.deepEqual(sorted((fwd.headers.get('x-auth-roles') ?? '').split(',').filter(Boolean)), sorted(u.roles), `X-Auth-Roles${ctx}`);
    } else {
      assert.equal(me.status, 403, `a dead token passed /auth/me (${u.username}${u.deleted ? ', deleted' : ''}${u.active ? '' : ', inactive'}): ${me.text}${ctx}`);
      assert.equal(me.json.code, 'ERR_JWT_REVOKED', `${me.text}${ctx}`);
      assert.equal(fwd.status, 401, `a dead token passed forward auth (${u.username}): ${ctx}`);
    }
  }
  // Refresh tokens of ended sessions are refused (which changes nothing: the session is over).
  for (const s of m.sessions) {
    if (s.live && s.user.active && !s.user.deleted) continue;
    for (const t of [s.refresh, ...s.retired.slice(-1)]) {
      const res = await http(r, m, '/api/v1/auth/refresh', { method: 'POST', json: { refresh_token: t } });
      assert.equal(res.status, 401, `a refresh token of an ended session refreshed (${s.user.username}): ${res.text}${ctx}`);
    }
  }
  // Sessions: each existing user's live sessions are exactly the model's (the administrators' view
  // needs an administrator's token; each user's own needs one of theirs).
  const admin = adminToken(m, 0);
  for (const u of existing(m)) {
    const want = sorted(m.sessions.filter((s) => s.user === u && s.live).map((s) => s.sid));
    if (admin !== undefined) {
      const res = await http(r, m, `/api/v1/users/${u.id}/sessions`, { headers: bearer(admin.token) });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(sorted(res.json.data.map((x: { id: string }) => x.id)), want, `${u.username}'s sessions (admin view)${ctx}`);
      const fl = await http(r, m, `/api/v1/users/${u.id}/factors`, { headers: bearer(admin.token) });
      assert.equal(fl.status, 200, fl.text);
      assert.deepEqual(fl.json.data.factors.map((x: { id: string }) => x.id), u.totp ? [u.totp.id] : [], `${u.username}'s factors (admin view)${ctx}`);
      assert.equal(fl.json.data.recovery_codes_remaining, u.recovery.length, `${u.username}'s recovery codes left (admin view)${ctx}`);
    }
    const own = m.access.find((a) => a.session.user === u && liveAccess(a));
    if (own !== undefined) {
      const res = await http(r, m, '/api/v1/auth/sessions', { headers: bearer(own.token) });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(sorted(res.json.data.map((x: { id: string }) => x.id)), want, `${u.username}'s sessions (own view)${ctx}`);
      assert.deepEqual(res.json.data.filter((x: { current: boolean }) => x.current).map((x: { id: string }) => x.id), [own.session.sid]);
      // Their factors: the confirmed app only, and the recovery codes left.
      const fl = await http(r, m, '/api/v1/auth/mfa/factors', { headers: bearer(own.token) });
      assert.equal(fl.status, 200, fl.text);
      assert.deepEqual(fl.json.data.factors.map((x: { id: string; type: string }) => `${x.type} ${x.id}`), u.totp ? [`totp ${u.totp.id}`] : [], `${u.username}'s factors${ctx}`);
      assert.equal(fl.json.data.recovery_codes_remaining, u.recovery.length, `${u.username}'s recovery codes left${ctx}`);
      assert.ok(!fl.text.includes('secret'), 'a factor list shows no secret');
      // The user's own events: the newest 50 of the model's, newest first.
      const ev = await http(r, m, '/api/v1/auth/events?limit=50', { headers: bearer(own.token) });
      assert.equal(ev.status, 200, ev.text);
      assert.deepEqual(ev.json.data.items.map(eventKey), [...u.events].reverse().slice(0, 50), `${u.username}'s own events${ctx}`);
    }
  }
  // The audit log: per user, the model's events in order; and those with no user.
  if (admin !== undefined) {
    const items: EventItem[] = [];
    let cursor: string | null = null;
    do {
      const page: Answer = await http(r, m, `/api/v1/audit?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { headers: bearer(admin.token) });
      assert.equal(page.status, 200, page.text);
      items.push(...page.json.data.items);
      cursor = page.json.data.next_cursor;
    } while (cursor);
    items.reverse();
    for (const u of m.users) {
      assert.deepEqual(items.filter((e) => e.user_id === u.id).map(eventKey), u.events, `${u.username}${u.deleted ? ' (deleted)' : ''}'s events in the audit log${ctx}`);
    }
    assert.equal(items.filter((e) => e.user_id === null).length, m.anonymousEvents, `events about no user${ctx}`);
    assert.equal(items.length, m.users.reduce((n, u) => n + u.events.length, 0) + m.anonymousEvents, `every event is about a user the model knows${ctx}`);
  }
  // No two existing users share a username (in any case) or an address.
  const names = existing(m).map((u) => u.username.toLowerCase());
  assert.equal(new Set(names).size, names.length);
  // An active administrator is always there.
  assert.ok(activeAdmins(m).length >= 1, `no active administrator left${ctx}`);
}

// ---- commands ----

type Cmd = fc.AsyncCommand<Model, Real>;

abstract class Base implements Cmd {
  abstract check(m: Readonly<Model>): boolean;
  abstract act(m: Model, r: Real): Promise<void>;
  abstract toString(): string;
  async run(m: Model, r: Real): Promise<void> {
    m.log.push(this.toString());
    await this.act(m, r);
    await checkInvariants(m, r);
  }
}

/** Records a new session from a sign-in's pair. */
function opened(m: Model, u: MUser, access: string, refresh: string, mfa = false): MSession {
  const c = claims(access);
  const s: MSession = { sid: String(c.sid), user: u, live: true, refresh, retired: [], rotatedAt: 0, mfa };
  m.sessions.push(s);
  m.access.push({ token: access, session: s, fresh: true });
  if (mfa) u.events.push('signin.succeeded|mfa', 'mfa.used|otp');
  else u.events.push('signin.succeeded');
  const ctx = `\n  after: ${m.log.join('\n         ')}`;
  assert.deepEqual(sorted(c.roles as string[]), sorted(u.roles), `a new token's roles${ctx}`);
  assert.equal(c.fresh, true);
  assert.equal(claims(refresh).sid, c.sid);
  checkAmr(c, mfa, ctx);
  checkAmr(claims(refresh), mfa, ctx);
  return s;
}

/** How a session was opened, as its tokens state it: a password alone, or a password and a code (RFC 8176). */
function checkAmr(c: Record<string, unknown>, mfa: boolean, ctx: string): void {
  assert.deepEqual(c.amr, mfa ? ['pwd', 'otp', 'mfa'] : ['pwd'], `amr${ctx}`);
  assert.equal(c.acr, mfa ? 'aal2' : 'aal1', `acr${ctx}`);
}

/**
 * A correct password of an active user: tokens, or, once the user has an authenticator app, an
 * MFA token (no event yet: the sign-in happens at the second step).
 */
function passwordAccepted(m: Model, r: Real, u: MUser, res: Answer, data: any): void {
  const ctx = `\n  after: ${m.log.join('\n         ')}`;
  if (u.totp === undefined) {
    assert.equal(data.mfa_required, undefined, `a sign-in asked for a second factor the user does not have${ctx}`);
    opened(m, u, data.access_token, data.refresh_token);
    return;
  }
  assert.equal(data.mfa_required, true, `a password alone signed in a user with an authenticator app: ${res.text.slice(0, 200)}${ctx}`);
  assert.equal(data.access_token, undefined);
  assert.deepEqual(data.methods, ['totp', ...(u.recovery.length > 0 ? ['recovery_code'] : [])], `methods${ctx}`);
  assert.equal(data.expires_in, 300);
  m.mfaTokens.push({ token: data.mfa_token, user: u, epoch: u.passwordEpoch, issuedAt: r.clock(), used: false, voided: false });
}

class SignUp extends Base {
  constructor(readonly name: number, readonly mailName: number, readonly upper: boolean, readonly askAdmin: boolean, readonly bad: boolean) { super(); }
  check() { return true; }
  toString() { return `signUp(${NAMES[this.name]}, mail ${NAMES[this.mailName]}${this.upper ? ', upper' : ''}${this.askAdmin ? ', asks admin' : ''}${this.bad ? ', bad' : ''})`; }
  async act(m: Model, r: Real) {
    let username = NAMES[this.name]!;
    let email = `${NAMES[this.mailName]}@example.com`;
    if (this.upper) {
      username = username.toUpperCase();
      email = email.toUpperCase();
    }
    const body: Record<string, unknown> = { username: this.bad ? 'x' : username, email, password: PASSWORDS[0] };
    if (this.askAdmin) body.roles = ['admin'];
    const res = await http(r, m, '/api/v1/auth/signup', { json: body });
    if (this.bad) return expect(res, 422, 'ERR_VALIDATION', m, 'a short username');
    if (this.askAdmin) return expect(res, 403, 'ERR_ROLES_FORBIDDEN', m, 'roles asked for without an administrator');
    if (taken(m, username, email)) return expect(res, 409, 'ERR_CONFLICT', m, 'a taken username or address');
    expect(res, 201, undefined, m, 'a sign-up');
    const u: MUser = { id: res.json.data.id, username, email: email.toLowerCase(), password: PASSWORDS[0]!, roles: ['user'], active: true, deleted: false, verified: false, events: ['user.created'], recovery: [], spentRecovery: [], passwordEpoch: 0 };
    assert.equal(res.json.data.email, u.email);
    m.users.push(u);
    await verifyMailed(m, r, u);
  }
}

class SignIn extends Base {
  constructor(readonly who: number, readonly how: 'email-v1' | 'username-api' | 'email-upper-api', readonly wrong: boolean) { super(); }
  check(m: Readonly<Model>) { return m.users.length > 0; }
  toString() { return `signIn(#${this.who}, ${this.how}${this.wrong ? ', wrong password' : ''})`; }
  async act(m: Model, r: Real) {
    const u = userOf(m, this.who)!;
    const password = this.wrong ? 'not-the-password' : u.password;
    const res = this.how === 'email-v1'
      ? await http(r, m, '/api/v1/auth/login', { form: { username: u.email, password } })
      : await http(r, m, '/api/auth/signin', { json: { username: this.how === 'username-api' ? u.username : u.email.toUpperCase(), password } });
    if (u.deleted) {
      // Its login may now name another account (the name is free again once deleted).
      const now = existing(m).find((x) => (this.how === 'username-api' ? x.username.toLowerCase() === u.username.toLowerCase() : x.email === u.email));
      if (now === undefined) {
        m.anonymousEvents++;
        return expect(res, 401, 'ERR_BAD_CREDENTIALS', m, 'a deleted user signing in');
      }
      if (password !== now.password) {
        now.events.push('signin.failed');
        return expect(res, 401, 'ERR_BAD_CREDENTIALS', m, 'another account with that login');
      }
      if (!now.active) {
        now.events.push('signin.failed');
        return expect(res, 400, 'ERR_USER_INACTIVE', m, 'another, inactive account');
      }
      expect(res, 200, undefined, m, 'a sign-in of the account that took the login');
      passwordAccepted(m, r, now, res, this.how === 'email-v1' ? res.json.data : res.json);
      return;
    }
    if (this.wrong) {
      u.events.push('signin.failed');
      return expect(res, 401, 'ERR_BAD_CREDENTIALS', m, 'a wrong password');
    }
    if (!u.active) {
      u.events.push('signin.failed');
      return expect(res, 400, 'ERR_USER_INACTIVE', m, 'an inactive user');
    }
    expect(res, 200, undefined, m, 'a sign-in');
    passwordAccepted(m, r, u, res, this.how === 'email-v1' ? res.json.data : res.json);
  }
}

class Refresh extends Base {
  constructor(readonly which: number, readonly back: 0 | 1 | 2) { super(); }
  check(m: Readonly<Model>) { return m.sessions.length > 0; }
  toString() { return `refresh(session #${this.which}${this.back === 0 ? '' : this.back === 1 ? ', the token just retired' : ', an older token'})`; }
  async act(m: Model, r: Real) {
    const s = sessionOf(m, this.which)!;
    const back = Math.min(this.back, s.retired.length);
    const token = back === 0 ? s.refresh : s.retired[s.retired.length - back]!;
    const res = await http(r, m, `/api/v1/auth/refresh?refresh_token=${token}`, { method: 'POST' });
    if (!s.live || !s.user.active || s.user.deleted) return expect(res, 401, undefined, m, 'a refresh of an ended session');
    // REFRESH_REUSE_GRACE_SECONDS (GRACE_MS): the token just retired, less than that after its
    // rotation, gets the session's current one; later, or any older one, ends the session.
    if (back > 1 || (back === 1 && r.clock() - s.rotatedAt >= GRACE_MS)) {
      expect(res, 401, 'ERR_REFRESH_REUSED', m, 'a retired refresh token');
      endSession(m, s);
      s.user.events.push('session.reuse_detected');
      return;
    }
    expect(res, 200, undefined, m, back === 1 ? 'the token just retired, within the grace' : 'a refresh');
    const { access_token: access, refresh_token: refresh } = res.json.data;
    assert.equal(claims(access).sid, s.sid);
    assert.equal(claims(access).fresh, false);
    checkAmr(claims(access), s.mfa, `\n  after: ${m.log.join('\n         ')}`);
    assert.deepEqual(sorted(claims(access).roles as string[]), sorted(s.user.roles), 'a refreshed token\'s roles');
    if (back === 1) {
      // The current refresh token again (its jti), not a new one.
      assert.equal(claims(refresh).jti, claims(s.refresh).jti, 'the grace answers the current refresh token');
    } else {
      assert.notEqual(claims(refresh).jti, claims(s.refresh).jti);
      s.retired.push(s.refresh);
      s.rotatedAt = r.clock();
    }
    s.refresh = refresh;
    m.access.push({ token: access, session: s, fresh: false });
    s.user.events.push('session.refreshed');
  }
}

class Tick extends Base {
  constructor(readonly ms: number) { super(); }
  check() { return true; }
  toString() { return `tick(${this.ms} ms)`; }
  async act(_m: Model, r: Real) {
    r.clock.advance(this.ms);
  }
}

class SignOut extends Base {
  constructor(readonly which: number, readonly scope: 'local' | 'global' | 'others') { super(); }
  check(m: Readonly<Model>) { return m.access.length > 0; }
  toString() { return `signOut(access #${this.which}, ${this.scope})`; }
  async act(m: Model, r: Real) {
    const a = accessOf(m, this.which)!;
    const res = await http(r, m, `/api/v1/auth/logout?scope=${this.scope}`, { method: 'POST', headers: bearer(a.token) });
    if (!liveAccess(a)) return expect(res, 401, 'ERR_JWT_REVOKED', m, 'a sign-out with a dead token');
    expect(res, 200, undefined, m, 'a sign-out');
    const u = a.session.user;
    let n: number;
    if (this.scope === 'local') {
      endSession(m, a.session);
      n = 1;
    } else n = endAllOf(m, u, this.scope === 'others' ? a.session : undefined);
    assert.equal(res.json.data.sessions_ended, n, 'sessions_ended');
    u.events.push('signout');
  }
}

class EndOwnSession extends Base {
  constructor(readonly which: number, readonly target: number) { super(); }
  check(m: Readonly<Model>) { return m.access.length > 0 && m.sessions.length > 0; }
  toString() { return `endOwnSession(access #${this.which}, session #${this.target})`; }
  async act(m: Model, r: Real) {
    const a = accessOf(m, this.which)!;
    const t = sessionOf(m, this.target)!;
    const res = await http(r, m, `/api/v1/auth/sessions/${t.sid}`, { method: 'DELETE', headers: bearer(a.token) });
    if (!liveAccess(a)) return expect(res, 401, 'ERR_JWT_REVOKED', m, 'a dead token');
    if (t.user !== a.session.user || !t.live) return expect(res, 404, 'ERR_SESSION_NOT_FOUND', m, 'another\'s or an ended session');
    expect(res, 200, undefined, m, 'ending one\'s own session');
    endSession(m, t);
    t.user.events.push('session.ended');
  }
}

class ChangePassword extends Base {
  constructor(readonly which: number, readonly wrongCurrent: boolean, readonly tooShort: boolean, readonly next: number) { super(); }
  check(m: Readonly<Model>) { return m.access.length > 0; }
  toString() { return `changePassword(access #${this.which}${this.wrongCurrent ? ', wrong current' : ''}${this.tooShort ? ', too short' : ''}, to ${PASSWORDS[this.next]})`; }
  async act(m: Model, r: Real) {
    const a = accessOf(m, this.which)!;
    const u = a.session.user;
    const newPassword = this.tooShort ? 'short' : PASSWORDS[this.next]!;
    const res = await http(r, m, '/api/v1/auth/password', {
      headers: bearer(a.token), json: { current_password: this.wrongCurrent ? 'wrong-password' : u.password, new_password: newPassword },
    });
    if (!liveAccess(a)) return expect(res, 401, 'ERR_JWT_REVOKED', m, 'a dead token');
    if (!a.fresh) return expect(res, 403, 'ERR_FRESH_REQUIRED', m, 'a refreshed token');
    if (this.tooShort) return expect(res, 422, 'ERR_VALIDATION', m, 'a short password');
    if (this.wrongCurrent) {
      u.events.push('password.change_failed');
      return expect(res, 401, 'ERR_BAD_CREDENTIALS', m, 'a wrong current password');
    }
    expect(res, 200, undefined, m, 'a password change');
    endAllOf(m, u, a.session);
    passwordChanged(m, u, newPassword);
    u.events.push('password.changed');
  }
}

class AdminCreate extends Base {
  constructor(readonly as: number, readonly name: number, readonly roles: number) { super(); }
  check(m: Readonly<Model>) { return m.access.length > 0; }
  toString() { return `adminCreate(as #${this.as}, ${NAMES[this.name]}, ${JSON.stringify(ROLE_SETS[this.roles])})`; }
  async act(m: Model, r: Real) {
    const a = accessOf(m, this.as)!;
    const username = `${NAMES[this.name]}adm`;
    const email = `${username}@example.com`;
    const roles = ROLE_SETS[this.roles]!;
    const res = await http(r, m, '/api/v1/users', { headers: bearer(a.token), json: { username, email, password: PASSWORDS[1], roles } });
    if (!liveAccess(a)) return expect(res, 401, 'ERR_JWT_REVOKED', m, 'a dead token');
    if (!isAdmin(a.session.user.roles)) return expect(res, 403, 'ERR_ROLE_REQUIRED', m, 'not an administrator');
    if (taken(m, username, email)) return expect(res, 409, 'ERR_CONFLICT', m, 'a taken name');
    expect(res, 201, undefined, m, 'an administrator\'s creation');
    const u: MUser = { id: res.json.data.id, username, email, password: PASSWORDS[1]!, roles: [...roles], active: true, deleted: false, verified: false, events: ['user.created'], recovery: [], spentRecovery: [], passwordEpoch: 0 };
    m.users.push(u);
    await verifyMailed(m, r, u);
  }
}

type Patch = { kind: 'roles'; roles: number } | { kind: 'active'; value: boolean } | { kind: 'password'; next: number };

class AdminPatch extends Base {
  constructor(readonly as: number, readonly target: number, readonly patch: Patch) { super(); }
  check(m: Readonly<Model>) { return m.access.length > 0 && m.users.length > 0; }
  toString() {
    const p = this.patch;
    return `adminPatch(as #${this.as}, user #${this.target}, ${p.kind === 'roles' ? JSON.stringify(ROLE_SETS[p.roles]) : p.kind === 'active' ? `is_active ${p.value}` : `password ${PASSWORDS[p.next]}`})`;
  }
  async act(m: Model, r: Real) {
    const a = accessOf(m, this.as)!;
    const u = userOf(m, this.target)!;
    const p = this.patch;
    const body = p.kind === 'roles' ? { roles: ROLE_SETS[p.roles] } : p.kind === 'active' ? { is_active: p.value } : { password: PASSWORDS[p.next] };
    const res = await http(r, m, `/api/v1/users/${u.id}`, { method: 'PATCH', headers: bearer(a.token), json: body });
    if (!liveAccess(a)) return expect(res, 401, 'ERR_JWT_REVOKED', m, 'a dead token');
    if (!isAdmin(a.session.user.roles)) return expect(res, 403, 'ERR_ROLE_REQUIRED', m, 'not an administrator');
    if (u.deleted) return expect(res, 404, 'ERR_USER_NOT_FOUND', m, 'a deleted user');
    const roles = p.kind === 'roles' ? ROLE_SETS[p.roles]! : u.roles;
    const active = p.kind === 'active' ? p.value : u.active;
    const losesAdmin = u.active && isAdmin(u.roles) && !(active && isAdmin(roles));
    if (losesAdmin && activeAdmins(m).length === 1) return expect(res, 409, 'ERR_CONFLICT', m, 'the last administrator');
    expect(res, 200, undefined, m, 'an administrator\'s change');
    if (p.kind === 'roles') {
      if (sorted(u.roles).join() !== sorted(roles).join()) u.events.push('user.roles_changed');
      u.roles = [...roles];
    } else if (p.kind === 'active') {
      if (u.active !== p.value) {
        u.events.push(p.value ? 'user.activated' : 'user.deactivated');
        if (!p.value) endAllOf(m, u);
      }
      u.active = p.value;
    } else {
      endAllOf(m, u);
      passwordChanged(m, u, PASSWORDS[p.next]!);
      u.events.push('password.changed');
    }
    assert.deepEqual(sorted(res.json.data.roles), sorted(u.roles));
    assert.equal(res.json.data.is_active, u.active);
  }
}

class AdminEndSession extends Base {
  constructor(readonly as: number, readonly target: number) { super(); }
  check(m: Readonly<Model>) { return m.access.length > 0 && m.sessions.length > 0; }
  toString() { return `adminEndSession(as #${this.as}, session #${this.target})`; }
  async act(m: Model, r: Real) {
    const a = accessOf(m, this.as)!;
    const t = sessionOf(m, this.target)!;
    const res = await http(r, m, `/api/v1/users/${t.user.id}/sessions/${t.sid}`, { method: 'DELETE', headers: bearer(a.token) });
    if (!liveAccess(a)) return expect(res, 401, 'ERR_JWT_REVOKED', m, 'a dead token');
    if (!isAdmin(a.session.user.roles)) return expect(res, 403, 'ERR_ROLE_REQUIRED', m, 'not an administrator');
    if (t.user.deleted) return expect(res, 404, 'ERR_USER_NOT_FOUND', m, 'a deleted user');
    if (!t.live) return expect(res, 404, 'ERR_SESSION_NOT_FOUND', m, 'an ended session');
    expect(res, 200, undefined, m, 'an administrator ending a session');
    endSession(m, t);
    t.user.events.push('session.ended');
  }
}

class AdminDelete extends Base {
  constructor(readonly as: number, readonly target: number) { super(); }
  check(m: Readonly<Model>) { return m.access.length > 0 && m.users.length > 0; }
  toString() { return `adminDelete(as #${this.as}, user #${this.target})`; }
  async act(m: Model, r: Real) {
    const a = accessOf(m, this.as)!;
    const u = userOf(m, this.target)!;
    const res = await http(r, m, `/api/v1/users/${u.id}`, { method: 'DELETE', headers: bearer(a.token) });
    if (!liveAccess(a)) return expect(res, 401, 'ERR_JWT_REVOKED', m, 'a dead token');
    if (!isAdmin(a.session.user.roles)) return expect(res, 403, 'ERR_ROLE_REQUIRED', m, 'not an administrator');
    if (u.deleted) return expect(res, 404, 'ERR_USER_NOT_FOUND', m, 'a deleted user');
    if (u.active && isAdmin(u.roles) && activeAdmins(m).length === 1) {
      // "a deletion refused so has already ended its target's sessions"? Only in a race: the rule
      // is read first, so a plain refusal changes nothing.
      return expect(res, 409, 'ERR_CONFLICT', m, 'the last administrator');
    }
    expect(res, 200, undefined, m, 'an administrator\'s deletion');
    endAllOf(m, u);
    u.deleted = true;
    u.events.push('user.deleted');
  }
}

class SelfDelete extends Base {
  constructor(readonly which: number, readonly wrong: boolean) { super(); }
  check(m: Readonly<Model>) { return m.access.length > 0; }
  toString() { return `selfDelete(access #${this.which}${this.wrong ? ', wrong password' : ''})`; }
  async act(m: Model, r: Real) {
    const a = accessOf(m, this.which)!;
    const u = a.session.user;
    const res = await http(r, m, '/api/v1/auth/me', { method: 'DELETE', headers: bearer(a.token), json: { current_password: this.wrong ? 'wrong-password' : u.password } });
    if (!liveAccess(a)) return expect(res, 401, 'ERR_JWT_REVOKED', m, 'a dead token');
    if (!a.fresh) return expect(res, 403, 'ERR_FRESH_REQUIRED', m, 'a refreshed token');
    if (this.wrong) {
      u.events.push('user.delete_failed');
      return expect(res, 401, 'ERR_BAD_CREDENTIALS', m, 'a wrong password');
    }
    if (isAdmin(u.roles) && activeAdmins(m).length === 1) return expect(res, 409, 'ERR_CONFLICT', m, 'the last administrator');
    expect(res, 200, undefined, m, 'one\'s own deletion');
    endAllOf(m, u);
    u.deleted = true;
    u.events.push('user.deleted');
  }
}

// ---- mail: a password reset and an address change, through the SMTP server ----

async function nextMail(r: Real, to: string, subject: RegExp): Promise<Mail> {
  const smtp = r.smtp!;
  const mail = await smtp.waitFor((x) => !r.taken.has(x) && x.to === to && subject.test(x.subject));
  r.taken.add(mail);
  return { to: mail.to, subject: mail.subject, token: tokenIn(mail) };
}

class Forgot extends Base {
  constructor(readonly who: number) { super(); }
  check(m: Readonly<Model>) { return existing(m as Model).some((u) => u.active); }
  toString() { return `forgot(#${this.who})`; }
  async act(m: Model, r: Real) {
    const u = pickOf(existing(m).filter((x) => x.active), this.who)!;
    const res = await http(r, m, '/api/v1/auth/password/forgot', { json: { email: u.email } });
    expect(res, 202, undefined, m, 'forgot');
    const mail = await nextMail(r, u.email, /^Reset your password$/);
    const list = m.resets.get(u.id) ?? [];
    for (const old of list) old.used = true; // a newer link supersedes the older ones
    list.push({ token: mail.token, email: u.email, used: false });
    m.resets.set(u.id, list);
  }
}

class Reset extends Base {
  constructor(readonly who: number, readonly older: boolean, readonly next: number) { super(); }
  check(m: Readonly<Model>) { return m.resets.size > 0; }
  toString() { return `reset(#${this.who}${this.older ? ', an older link' : ''}, to ${PASSWORDS[this.next]})`; }
  async act(m: Model, r: Real) {
    const [uid, links] = pickOf([...m.resets.entries()], this.who)!;
    const link = this.older ? links[0]! : links[links.length - 1]!;
    const u = m.users.find((x) => x.id === uid)!;
    const res = await http(r, m, '/api/v1/auth/password/reset', { json: { token: link.token, new_password: PASSWORDS[this.next] } });
    if (u.deleted) return expect(res, 400, undefined, m, 'a reset link of a deleted user');
    if (link.used || link.email !== u.email) return expect(res, 400, undefined, m, 'a used or superseded reset link');
    if (!u.active) return expect(res, 400, undefined, m, 'a reset link of an inactive user');
    expect(res, 200, undefined, m, 'a reset');
    link.used = true;
    endAllOf(m, u);
    passwordChanged(m, u, PASSWORDS[this.next]!);
    u.events.push('password.reset');
    // README: an address never verified before loses its factors (whoever signed up with it may
    // have enrolled them), its recovery codes and its pending sign-ins.
    if (!u.verified && (u.totp !== undefined || u.pending !== undefined)) {
      u.events.push('mfa.removed|all');
      factorsGone(m, u);
    }
    u.verified = true;
  }
}

class AskEmailChange extends Base {
  constructor(readonly which: number, readonly to: number) { super(); }
  check(m: Readonly<Model>) { return m.access.length > 0; }
  toString() { return `askEmailChange(access #${this.which}, to ${NAMES[this.to]}new)`; }
  async act(m: Model, r: Real) {
    const a = accessOf(m, this.which)!;
    const u = a.session.user;
    const email = `${NAMES[this.to]}new@example.com`;
    const res = await http(r, m, '/api/v1/auth/email', { headers: bearer(a.token), json: { new_email: email } });
    if (!liveAccess(a)) return expect(res, 401, 'ERR_JWT_REVOKED', m, 'a dead token');
    if (!a.fresh) return expect(res, 403, 'ERR_FRESH_REQUIRED', m, 'a refreshed token');
    if (email === u.email) return expect(res, 422, undefined, m, 'one\'s own address');
    if (existing(m).some((x) => x.email === email)) return expect(res, 409, 'ERR_CONFLICT', m, 'a taken address');
    expect(res, 202, undefined, m, 'an address change asked');
    const mail = await nextMail(r, email, /^Confirm your new email address$/);
    const list = m.changes.get(u.id) ?? [];
    for (const old of list) old.used = true;
    list.push({ token: mail.token, sid: a.session.sid, email, used: false });
    m.changes.set(u.id, list);
  }
}

class ConfirmEmailChange extends Base {
  constructor(readonly who: number, readonly older: boolean) { super(); }
  check(m: Readonly<Model>) { return m.changes.size > 0; }
  toString() { return `confirmEmailChange(#${this.who}${this.older ? ', an older link' : ''})`; }
  async act(m: Model, r: Real) {
    const [uid, links] = pickOf([...m.changes.entries()], this.who)!;
    const link = this.older ? links[0]! : links[links.length - 1]!;
    const u = m.users.find((x) => x.id === uid)!;
    const s = m.sessions.find((x) => x.sid === link.sid)!;
    const res = await http(r, m, '/api/v1/auth/email/confirm', { json: { token: link.token } });
    if (u.deleted || link.used || !s.live || !u.active) return expect(res, 400, undefined, m, 'a used or superseded address-change link');
    if (existing(m).some((x) => x.email === link.email)) return expect(res, 409, 'ERR_CONFLICT', m, 'an address taken since');
    expect(res, 200, undefined, m, 'an address change');
    link.used = true;
    u.email = link.email;
    u.verified = true;
    u.events.push('email.changed');
  }
}

/** Waits for the verification mail a sign-up (or a request) sends; the newest link supersedes the older ones. */
async function verifyMailed(m: Model, r: Real, u: MUser): Promise<void> {
  const mail = await nextMail(r, u.email, /^Confirm your email address$/);
  const list = m.verifies.get(u.id) ?? [];
  for (const old of list) old.used = true;
  list.push({ token: mail.token, email: u.email, used: false });
  m.verifies.set(u.id, list);
}

class AskVerify extends Base {
  constructor(readonly which: number) { super(); }
  check(m: Readonly<Model>) { return m.access.length > 0; }
  toString() { return `askVerify(access #${this.which})`; }
  async act(m: Model, r: Real) {
    const a = accessOf(m, this.which)!;
    const u = a.session.user;
    const res = await http(r, m, '/api/v1/auth/verify/request', { method: 'POST', headers: bearer(a.token) });
    if (!liveAccess(a)) return expect(res, 401, 'ERR_JWT_REVOKED', m, 'a dead token');
    if (u.verified) return expect(res, 200, undefined, m, 'already verified');
    expect(res, 202, undefined, m, 'a verification asked');
    await verifyMailed(m, r, u);
  }
}

class Verify extends Base {
  constructor(readonly who: number, readonly older: boolean) { super(); }
  check(m: Readonly<Model>) { return m.verifies.size > 0; }
  toString() { return `verify(#${this.who}${this.older ? ', an older link' : ''})`; }
  async act(m: Model, r: Real) {
    const [uid, links] = pickOf([...m.verifies.entries()], this.who)!;
    const link = this.older ? links[0]! : links[links.length - 1]!;
    const u = m.users.find((x) => x.id === uid)!;
    const res = await http(r, m, '/api/v1/auth/verify', { json: { token: link.token } });
    if (u.deleted || link.used || link.email !== u.email || !u.active) return expect(res, 400, undefined, m, 'a used or superseded verification link');
    expect(res, 200, undefined, m, 'a verification');
    link.used = true;
    u.verified = true;
    u.events.push('email.verified');
  }
}

// ---- second factors: an authenticator app (TOTP, codes from the tests' own RFC 6238 on the test clock) ----

const STEP_MS = 30_000;
const MFA_TTL_MS = 300_000;
const MFA_MAX_FAILURES = 4;
const MFA_WINDOW_MS = 3 * 60_000;
/** The per-user throttle of wrong codes: a window opens at the first failure; at the limit, 429 until it closes; a success clears it. */
const mfaBlocked = (u: MUser, now: number) => u.mfaFails !== undefined && u.mfaFails.resetAt > now && u.mfaFails.count >= MFA_MAX_FAILURES;
function mfaFailed(u: MUser, now: number): void {
  if (u.mfaFails === undefined || u.mfaFails.resetAt <= now) u.mfaFails = { count: 1, resetAt: now + MFA_WINDOW_MS };
  else u.mfaFails.count++;
}
function throttled(res: Answer, m: Model, u: MUser, now: number): void {
  expect(res, 429, 'ERR_RATE_LIMITED', m, 'wrong codes throttled');
  assert.equal(res.headers.get('retry-after'), String(Math.max(1, Math.ceil((u.mfaFails!.resetAt - now) / 1000))), 'Retry-After');
}
const stepAt = (ms: number) => Math.floor(ms / STEP_MS);
const codeOf = (secret: Buffer, step: number) => codeAt(secret, step * 30);
/** What Warden accepts for `code` now: the earliest step of the three around now whose code it is, if later than the last one used. */
function acceptedStep(secret: Buffer, code: string, nowMs: number, lastStep: number | null): number | null {
  const now = stepAt(nowMs);
  for (let step = now - 1; step <= now + 1; step++) {
    if (codeOf(secret, step) === code) return lastStep === null || step > lastStep ? step : null;
  }
  return null;
}
/** A well-formed code that is none of the three around now. */
function wrongCode(secret: Buffer, nowMs: number): string {
  const now = stepAt(nowMs);
  const near = new Set([now - 1, now, now + 1].map((s) => codeOf(secret, s)));
  for (let n = 0; ; n++) {
    const c = String((n * 7919 + 123_456) % 1_000_000).padStart(6, '0');
    if (!near.has(c)) return c;
  }
}

class EnrolTotp extends Base {
  constructor(readonly which: number) { super(); }
  check(m: Readonly<Model>) { return m.access.length > 0; }
  toString() { return `enrolTotp(access #${this.which})`; }
  async act(m: Model, r: Real) {
    const a = strongAccessOf(m, this.which)!;
    const u = a.session.user;
    const res = await http(r, m, '/api/v1/auth/mfa/totp', { method: 'POST', headers: bearer(a.token) });
    if (!liveAccess(a)) return expect(res, 401, 'ERR_JWT_REVOKED', m, 'a dead token');
    if (!a.fresh) return expect(res, 403, 'ERR_FRESH_REQUIRED', m, 'a refreshed token');
    // README: adding a factor to an account that has one needs a token that carries one.
    if (u.totp !== undefined && !a.session.mfa) return expect(res, 403, 'ERR_MFA_REQUIRED', m, 'a password-only token adding a factor');
    if (u.totp !== undefined) return expect(res, 409, 'ERR_CONFLICT', m, 'an app already enrolled');
    expect(res, 201, undefined, m, 'an enrolment');
    const secret = secretOf(res.json.data.otpauth_uri);
    assert.equal(typeof res.json.data.id, 'string');
    if (u.pending !== undefined) u.superseded = u.pending.secret;
    u.pending = { id: res.json.data.id, secret };
  }
}

/** Both steps of an enrolment with the right code: so that sequences reach second factors often. */
class EnrolAndConfirm extends Base {
  constructor(readonly which: number) { super(); }
  check(m: Readonly<Model>) { return m.access.length > 0; }
  toString() { return `enrolAndConfirm(access #${this.which})`; }
  async act(m: Model, r: Real) {
    await new EnrolTotp(this.which).act(m, r);
    await new ConfirmTotp(this.which, 'now').act(m, r);
  }
}

type ConfirmCode = 'now' | 'next' | 'previous' | 'wrong' | 'superseded';

class ConfirmTotp extends Base {
  constructor(readonly which: number, readonly code: ConfirmCode) { super(); }
  check(m: Readonly<Model>) { return m.access.length > 0; }
  toString() { return `confirmTotp(access #${this.which}, ${this.code})`; }
  async act(m: Model, r: Real) {
    const a = strongAccessOf(m, this.which)!;
    const u = a.session.user;
    const now = r.clock();
    const secret = this.code === 'superseded' ? u.superseded : u.pending?.secret;
    const code = secret === undefined || this.code === 'wrong' ? wrongCode(secret ?? Buffer.alloc(20), now)
      : codeOf(secret, stepAt(now) + (this.code === 'next' ? 1 : this.code === 'previous' ? -1 : 0));
    const res = await http(r, m, '/api/v1/auth/mfa/totp/confirm', { headers: bearer(a.token), json: { code } });
    if (!liveAccess(a)) return expect(res, 401, 'ERR_JWT_REVOKED', m, 'a dead token');
    if (!a.fresh) return expect(res, 403, 'ERR_FRESH_REQUIRED', m, 'a refreshed token');
    if (u.totp !== undefined && !a.session.mfa) return expect(res, 403, 'ERR_MFA_REQUIRED', m, 'a password-only token adding a factor');
    if (mfaBlocked(u, now)) return throttled(res, m, u, now);
    if (u.pending === undefined) return expect(res, 404, 'ERR_FACTOR_NOT_FOUND', m, 'no enrolment pending');
    const step = acceptedStep(u.pending.secret, code, now, null);
    if (step === null) {
      mfaFailed(u, now);
      return expect(res, 401, 'ERR_MFA_CODE_INVALID', m, 'a wrong code at confirmation');
    }
    if (u.totp !== undefined) return expect(res, 409, 'ERR_CONFLICT', m, 'an app already enrolled');
    expect(res, 200, undefined, m, 'a confirmation');
    u.mfaFails = undefined;
    u.totp = { id: u.pending.id, secret: u.pending.secret, lastStep: step };
    u.pending = undefined;
    u.events.push('mfa.enrolled|totp');
    if (u.recovery.length === 0) {
      const codes = res.json.data.recovery_codes as string[];
      assert.equal(codes.length, 10, `ten recovery codes with the first factor: ${res.text}`);
      assert.equal(new Set(codes).size, 10);
      u.recovery = [...codes];
    } else assert.equal(res.json.data.recovery_codes, null);
  }
}

type Proof = 'now' | 'previous' | 'next' | 'older' | 'replay' | 'wrong' | 'recovery' | 'spent-recovery' | 'another-users-code';

class MfaVerify extends Base {
  constructor(readonly which: number, readonly proof: Proof, readonly direct?: MMfa) { super(); }
  check(m: Readonly<Model>) { return m.mfaTokens.length > 0; }
  toString() { return `mfaVerify(MFA token #${this.which}, ${this.proof})`; }
  async act(m: Model, r: Real) {
    const live = (t: MMfa) => !t.used && !t.voided && !t.user.deleted && r.clock() - t.issuedAt < MFA_TTL_MS;
    const t = this.direct ?? pickLive(m.mfaTokens, live, this.which)!;
    const u = t.user;
    const now = r.clock();
    const age = now - t.issuedAt;
    // Within the last second of its 5 minutes the JWT's exp (whole seconds) and the stored
    // deadline (milliseconds) may disagree: not a case the model decides.
    if (age >= MFA_TTL_MS - 1000 && age < MFA_TTL_MS) return;
    const secret = u.totp?.secret ?? u.pending?.secret ?? Buffer.alloc(20);
    const other = m.users.find((x) => x !== u && x.totp !== undefined)?.totp?.secret;
    const body: Record<string, string> = { mfa_token: t.token };
    switch (this.proof) {
      case 'now': body.code = codeOf(secret, stepAt(now)); break;
      case 'previous': body.code = codeOf(secret, stepAt(now) - 1); break;
      case 'next': body.code = codeOf(secret, stepAt(now) + 1); break;
      case 'older': body.code = codeOf(secret, stepAt(now) - 2); break;
      case 'replay': body.code = codeOf(secret, u.totp?.lastStep ?? stepAt(now)); break;
      case 'wrong': body.code = wrongCode(secret, now); break;
      case 'another-users-code': body.code = other !== undefined ? codeOf(other, stepAt(now)) : wrongCode(secret, now); break;
      case 'recovery': body.recovery_code = u.recovery[0] ?? 'aaaa-bbbb-cccc-dddd'; break;
      case 'spent-recovery': body.recovery_code = u.spentRecovery.at(-1) ?? 'aaaa-bbbb-cccc-dddd'; break;
    }
    const res = await http(r, m, '/api/v1/auth/mfa/verify', { json: body });
    if (t.used || t.voided || u.deleted || age >= MFA_TTL_MS) return expect(res, 401, 'ERR_MFA_TOKEN_INVALID', m, 'a used, void or expired MFA token');
    if (!u.active) return expect(res, 400, 'ERR_USER_INACTIVE', m, 'an inactive user\'s MFA token');
    if (t.epoch !== u.passwordEpoch) return expect(res, 401, 'ERR_MFA_TOKEN_INVALID', m, 'an MFA token earned with an older password');
    if (mfaBlocked(u, now)) return throttled(res, m, u, now);
    let ok: boolean;
    if (body.code !== undefined) {
      const step = u.totp === undefined ? null : acceptedStep(u.totp.secret, body.code, now, u.totp.lastStep);
      ok = step !== null;
      if (ok) u.totp!.lastStep = step!;
    } else {
      ok = u.recovery.includes(body.recovery_code!);
      if (ok) {
        u.recovery = u.recovery.filter((c) => c !== body.recovery_code);
        u.spentRecovery.push(body.recovery_code!);
      }
    }
    if (!ok) {
      // A wrong second factor: signin.failed, and the MFA token stays usable.
      u.events.push('signin.failed|second_factor');
      mfaFailed(u, now);
      return expect(res, 401, 'ERR_MFA_CODE_INVALID', m, 'a wrong, used or replayed code');
    }
    expect(res, 200, undefined, m, 'a second step');
    t.used = true;
    u.mfaFails = undefined;
    opened(m, u, res.json.data.access_token, res.json.data.refresh_token, true);
  }
}

/** A password sign-in of someone with an authenticator app, then at once a second step with the MFA token it earned. */
class SignInWithFactor extends Base {
  constructor(readonly who: number, readonly how: 'email-v1' | 'username-api', readonly proof: Proof, readonly wait: boolean) { super(); }
  check(m: Readonly<Model>) { return m.users.some((u) => !u.deleted && u.totp !== undefined); }
  toString() { return `signInWithFactor(#${this.who}, ${this.how}, ${this.wait ? 'a step later, ' : ''}${this.proof})`; }
  async act(m: Model, r: Real) {
    const u = pickOf(m.users.filter((x) => !x.deleted && x.totp !== undefined), this.who)!;
    const before = m.mfaTokens.length;
    // Through SignIn: userOf(m, pick) with a pick below 800 lands on u among the existing users.
    await new SignIn(m.users.filter((x) => !x.deleted).indexOf(u), this.how, false).act(m, r);
    if (m.mfaTokens.length === before) return; // inactive: refused at the password
    if (this.wait) r.clock.advance(STEP_MS);
    await new MfaVerify(0, this.proof, m.mfaTokens.at(-1)).act(m, r);
  }
}

type FactorTarget = 'own' | 'pending' | 'unknown' | 'another-users';

class RemoveFactor extends Base {
  constructor(readonly which: number, readonly target: FactorTarget) { super(); }
  check(m: Readonly<Model>) { return m.access.length > 0; }
  toString() { return `removeFactor(access #${this.which}, ${this.target})`; }
  async act(m: Model, r: Real) {
    const a = strongAccessOf(m, this.which)!;
    const u = a.session.user;
    const other = m.users.find((x) => x !== u && x.totp !== undefined)?.totp?.id;
    const id = this.target === 'own' ? u.totp?.id : this.target === 'pending' ? u.pending?.id : this.target === 'another-users' ? other : undefined;
    const res = await http(r, m, `/api/v1/auth/mfa/factors/${id ?? '0190f0a2-6a1e-7cc0-8f00-0000000000ff'}`, { method: 'DELETE', headers: bearer(a.token) });
    if (!liveAccess(a)) return expect(res, 401, 'ERR_JWT_REVOKED', m, 'a dead token');
    if (!a.fresh) return expect(res, 403, 'ERR_FRESH_REQUIRED', m, 'a refreshed token');
    // README: a fresh token with a second factor.
    if (!a.session.mfa) return expect(res, 403, 'ERR_MFA_REQUIRED', m, 'a password-only token removing a factor');
    if (id === undefined || this.target === 'another-users') return expect(res, 404, 'ERR_FACTOR_NOT_FOUND', m, 'no such factor of theirs');
    expect(res, 200, undefined, m, 'a factor removed');
    u.events.push('mfa.removed|totp');
    if (this.target === 'own') {
      // The last factor: the recovery codes go too.
      u.totp = undefined;
      u.spentRecovery.push(...u.recovery);
      u.recovery = [];
    } else u.pending = undefined;
  }
}

class RegenerateCodes extends Base {
  constructor(readonly which: number) { super(); }
  check(m: Readonly<Model>) { return m.access.length > 0; }
  toString() { return `regenerateRecoveryCodes(access #${this.which})`; }
  async act(m: Model, r: Real) {
    const a = strongAccessOf(m, this.which)!;
    const u = a.session.user;
    const res = await http(r, m, '/api/v1/auth/mfa/recovery-codes', { method: 'POST', headers: bearer(a.token) });
    if (!liveAccess(a)) return expect(res, 401, 'ERR_JWT_REVOKED', m, 'a dead token');
    if (!a.fresh) return expect(res, 403, 'ERR_FRESH_REQUIRED', m, 'a refreshed token');
    if (!a.session.mfa) return expect(res, 403, 'ERR_MFA_REQUIRED', m, 'a password-only token');
    if (u.totp === undefined) return expect(res, 404, 'ERR_FACTOR_NOT_FOUND', m, 'no factor');
    expect(res, 200, undefined, m, 'new recovery codes');
    const codes = res.json.data.recovery_codes as string[];
    assert.equal(codes.length, 10);
    u.spentRecovery.push(...u.recovery);
    u.recovery = [...codes];
    u.events.push('mfa.recovery_codes_regenerated');
  }
}

class AdminResetFactors extends Base {
  constructor(readonly as: number, readonly target: number) { super(); }
  check(m: Readonly<Model>) { return m.access.length > 0 && m.users.length > 0; }
  toString() { return `adminResetFactors(as #${this.as}, user #${this.target})`; }
  async act(m: Model, r: Real) {
    const a = accessOf(m, this.as)!;
    // Often someone with a factor, when there is one.
    const withFactor = m.users.filter((x) => !x.deleted && x.totp !== undefined);
    const u = this.target < 300 && withFactor.length > 0 ? pickOf(withFactor, this.target)! : userOf(m, this.target)!;
    const res = await http(r, m, `/api/v1/users/${u.id}/factors`, { method: 'DELETE', headers: bearer(a.token) });
    if (!liveAccess(a)) return expect(res, 401, 'ERR_JWT_REVOKED', m, 'a dead token');
    if (!isAdmin(a.session.user.roles)) return expect(res, 403, 'ERR_ROLE_REQUIRED', m, 'not an administrator');
    if (u.deleted) return expect(res, 404, 'ERR_USER_NOT_FOUND', m, 'a deleted user');
    expect(res, 200, undefined, m, 'an administrator\'s factor reset');
    // README: all deleted, every session of theirs ended.
    assert.equal(res.json.data.sessions_ended, endAllOf(m, u), `sessions_ended\n  after: ${m.log.join('\n         ')}`);
    factorsGone(m, u);
    u.events.push('mfa.removed|all');
  }
}

// ---- the runs ----

const anyIndex = fc.nat({ max: 999 });
/** True one time in four. */
const rarely = fc.nat({ max: 3 }).map((n) => n === 0);
const commands = (withMail: boolean) => [
  fc.tuple(fc.nat({ max: NAMES.length - 1 }), fc.nat({ max: NAMES.length - 1 }), fc.boolean(), fc.boolean(), fc.boolean())
    .map(([n, e, up, adm, bad]) => new SignUp(n, e, up, adm && !bad, bad && !adm)),
  fc.tuple(anyIndex, fc.constantFrom('email-v1' as const, 'username-api' as const, 'email-upper-api' as const), rarely).map(([w, h, x]) => new SignIn(w, h, x)),
  fc.tuple(anyIndex, fc.constantFrom('email-v1' as const, 'username-api' as const)).map(([w, h]) => new SignIn(w, h, false)),
  fc.tuple(anyIndex, fc.constantFrom(0 as const, 0 as const, 1 as const, 1 as const, 2 as const)).map(([w, b]) => new Refresh(w, b)),
  fc.constantFrom(1000, 5000, GRACE_MS - 1, GRACE_MS, GRACE_MS + 1).map((ms) => new Tick(ms)),
  fc.tuple(anyIndex, fc.constantFrom('local' as const, 'global' as const, 'others' as const)).map(([w, sc]) => new SignOut(w, sc)),
  fc.tuple(anyIndex, anyIndex).map(([w, t]) => new EndOwnSession(w, t)),
  fc.tuple(anyIndex, rarely, rarely, fc.nat({ max: PASSWORDS.length - 1 })).map(([w, x, s, n]) => new ChangePassword(w, x, s, n)),
  fc.tuple(anyIndex, fc.nat({ max: NAMES.length - 1 }), fc.nat({ max: ROLE_SETS.length - 1 })).map(([a, n, rs]) => new AdminCreate(a, n, rs)),
  fc.tuple(anyIndex, anyIndex, fc.oneof(
    fc.nat({ max: ROLE_SETS.length - 1 }).map((roles): Patch => ({ kind: 'roles', roles })),
    fc.boolean().map((value): Patch => ({ kind: 'active', value })),
    fc.nat({ max: PASSWORDS.length - 1 }).map((next): Patch => ({ kind: 'password', next })),
  )).map(([a, t, p]) => new AdminPatch(a, t, p)),
  fc.tuple(anyIndex, anyIndex).map(([a, t]) => new AdminEndSession(a, t)),
  fc.tuple(anyIndex, anyIndex).map(([a, t]) => new AdminDelete(a, t)),
  fc.tuple(anyIndex, rarely).map(([w, x]) => new SelfDelete(w, x)),
  anyIndex.map((w) => new EnrolTotp(w)),
  fc.tuple(anyIndex, fc.constantFrom<ConfirmCode>('now', 'now', 'next', 'previous', 'wrong', 'superseded')).map(([w, c]) => new ConfirmTotp(w, c)),
  anyIndex.map((w) => new EnrolAndConfirm(w)),
  anyIndex.map((w) => new EnrolAndConfirm(w)),
  fc.tuple(anyIndex, fc.constantFrom<Proof>('now', 'now', 'previous', 'next', 'older', 'replay', 'wrong', 'recovery', 'recovery', 'spent-recovery', 'another-users-code')).map(([w, p]) => new MfaVerify(w, p)),
  fc.tuple(anyIndex, fc.constantFrom<Proof>('now', 'previous', 'recovery')).map(([w, p]) => new MfaVerify(w, p)),
  fc.tuple(anyIndex, fc.constantFrom('email-v1' as const, 'username-api' as const), fc.constantFrom<Proof>('now', 'now', 'previous', 'next', 'older', 'replay', 'wrong', 'recovery', 'spent-recovery', 'another-users-code'), fc.boolean())
    .map(([w, h, p, t]) => new SignInWithFactor(w, h, p, t)),
  fc.tuple(anyIndex, fc.constantFrom('email-v1' as const, 'username-api' as const), fc.constantFrom<Proof>('now', 'now', 'previous', 'next', 'older', 'replay', 'wrong', 'recovery', 'spent-recovery', 'another-users-code'), fc.boolean())
    .map(([w, h, p, t]) => new SignInWithFactor(w, h, p, t)),
  fc.tuple(anyIndex, fc.constantFrom('email-v1' as const, 'username-api' as const), fc.constantFrom<Proof>('now', 'now', 'previous', 'next', 'older', 'replay', 'wrong', 'recovery', 'spent-recovery', 'another-users-code'), fc.boolean())
    .map(([w, h, p, t]) => new SignInWithFactor(w, h, p, t)),
  fc.tuple(anyIndex, fc.constantFrom<FactorTarget>('own', 'own', 'pending', 'unknown', 'another-users')).map(([w, t]) => new RemoveFactor(w, t)),
  anyIndex.map((w) => new RegenerateCodes(w)),
  fc.tuple(anyIndex, anyIndex).map(([a, t]) => new AdminResetFactors(a, t)),
  fc.constantFrom(STEP_MS, 2 * STEP_MS, 100_000).map((ms) => new Tick(ms)),
  ...(withMail ? [
    anyIndex.map((w) => new Forgot(w)),
    fc.tuple(anyIndex, fc.boolean(), fc.nat({ max: PASSWORDS.length - 1 })).map(([w, o, n]) => new Reset(w, o, n)),
    fc.tuple(anyIndex, fc.nat({ max: NAMES.length - 1 })).map(([w, t]) => new AskEmailChange(w, t)),
    fc.tuple(anyIndex, fc.boolean()).map(([w, o]) => new ConfirmEmailChange(w, o)),
    anyIndex.map((w) => new AskVerify(w)),
    fc.tuple(anyIndex, rarely).map(([w, o]) => new Verify(w, o)),
  ] : []),
];

const ENV = {
  REFRESH_REUSE_GRACE_SECONDS: String(GRACE_MS / 1000),
  ACCOUNT_SELF_DELETE: 'true',
  SIGNIN_MAX_FAILURES: '0',
  SIGNIN_MAX_FAILURES_PER_IP: '0',
  NOTIFY_NEW_SIGNIN: 'false',
  MAIL_LIMIT_PER_ADDRESS: '0',
  MAIL_LIMIT_PER_IP: '0',
  ADMIN_ROLES: ADMIN_ROLES.join(','),
  MFA_MAX_FAILURES: String(MFA_MAX_FAILURES),
  SIGNIN_WINDOW_MINUTES: String(MFA_WINDOW_MS / 60_000),
  // The sequences move the clock by minutes (TOTP steps): no access token expires on the way.
  ACCESS_TOKEN_EXPIRES_MINUTES: '120',
};

async function setup(f: StorageFactory, smtp: TestSmtp | undefined): Promise<{ model: Model; real: Real; close(): Promise<void> }> {
  const storage = await f.create();
  const mailEnv: Record<string, string> = smtp ? { SMTP_URL: smtp.url, SMTP_TLS_CA_FILE: smtp.caFile, APP_URL: 'http://warden.test' } : {};
  // One second into a TOTP step, whenever the run starts: where a code's step falls is the same each run.
  const clock = testClock(stepAt(Date.now()) * STEP_MS + 1000);
  const s = await startServer({ ...ENV, ...mailEnv }, { storage, clock, email: { tuning: { pollMs: 20, retryBaseMs: 50, retryMaxMs: 200 } } });
  const model: Model = { users: [], sessions: [], access: [], anonymousEvents: 0, resets: new Map(), changes: new Map(), verifies: new Map(), mfaTokens: [], log: [] };
  const real: Real = { s, clock, smtp, taken: new Set(smtp?.delivered ?? []) };
  // The first sign-up bootstraps the administrator; signed in once.
  const root = await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: PASSWORDS[0], roles: ['admin'] } });
  assert.equal(root.status, 201, root.text);
  const u: MUser = { id: root.json.data.id, username: 'root', email: 'root@example.com', password: PASSWORDS[0]!, roles: ['admin'], active: true, deleted: false, verified: false, events: ['user.created'], recovery: [], spentRecovery: [], passwordEpoch: 0 };
  model.users.push(u);
  await verifyMailed(model, real, u);
  const login = await call(`${s.url}/api/v1/auth/login`, { form: { username: 'root@example.com', password: PASSWORDS[0]! } });
  assert.equal(login.status, 200, login.text);
  opened(model, u, login.json.data.access_token, login.json.data.refresh_token);
  return {
    model, real,
    async close() {
      await s.close();
      await storage.close();
    },
  };
}

const factories = await storageFactories();
const ADAPTERS = (process.env.FC_ADAPTERS ?? 'sqlite,postgres').split(',');

for (const f of factories.filter((x) => ADAPTERS.includes(x.name))) {
  describe(`accounts and sessions against a model, on ${f.name}`, f.skip !== undefined ? { skip: f.skip } : {}, () => {
    let smtp: TestSmtp | undefined;
    before(async () => {
      smtp = await startSmtp();
    });
    after(async () => {
      await smtp?.close();
      await f.cleanup();
    });

    it(`${RUNS} random sequences of up to ${MAX_COMMANDS} calls (seed ${SEED}) keep every invariant`, async () => {
      const started = Date.now();
      let runs = 0;
      let calls = 0;
      await fc.assert(
        fc.asyncProperty(fc.commands(commands(true), { maxCommands: MAX_COMMANDS, size: 'max' }), async (cmds) => {
          runs++;
          const { model, real, close } = await setup(f, smtp);
          try {
            await fc.asyncModelRun(() => ({ model, real }), cmds).catch((e: unknown) => {
              if (process.env.FC_TRACE) process.stderr.write(`failed: ${(e as Error).message}\n`);
              throw e;
            });
            calls += model.log.length;
            if (process.env.FC_TRACE) process.stderr.write(`run ${runs}:\n  ${model.log.join('\n  ')}\n`);
          } finally {
            await close();
          }
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: process.env.FC_SHRINK === undefined },
      );
      if (process.env.FC_REPORT) {
        process.stderr.write(`${f.name}: ${runs} sequences, ${calls} commands, ${Date.now() - started} ms\n`);
        for (const [what, n] of [...outcomes].sort()) process.stderr.write(`  ${String(n).padStart(5)}  ${what}\n`);
        outcomes.clear();
      }
    });
  });
}
