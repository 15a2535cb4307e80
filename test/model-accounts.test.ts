// A stateful property test of accounts and sessions (fast-check's model-based testing): random
// sequences of real HTTP calls against a real Warden — sign-up (a taken name in another case, roles
// asked for without an administrator, a malformed name), sign-in (right and wrong passwords, by
// email on /api/v1, by username or upper-case email on /api), refresh (the current token, the one
// just retired within and past REFRESH_REUSE_GRACE_SECONDS on a test clock the sequence moves, an
// older one, one of an ended session), sign-out (local, global, others), ending one's own session,
// changing one's password (a fresh token or a refreshed one), the administrators' create, roles,
// deactivate/reactivate, set password, end a session and delete (the last administrator
// included), a user's own deletion, and through mails a real SMTP server receives: verification,
// password reset and address change, newer and older links. Each is checked against a small model
// of what must be true, and after every call: each access token the model holds live passes
// /auth/me (profile, roles, email_verified as modelled) and forward auth (X-Auth-Roles the
// model's), each dead one is refused there and its session's refresh tokens at refresh; every
// user's live sessions are exactly the model's (their own view and an administrator's); the audit
// log holds, per user, exactly the events the model expects, in order, and each user's own event
// list agrees; an active administrator remains; no call answers 500, and every refusal is a 4xx in
// its API's documented shape. SQLite and PostgreSQL by default (FC_ADAPTERS=memory,sqlite,postgres
// adds the memory adapter), a fixed seed; to hunt: FC_SEED, FC_RUNS, FC_COMMANDS, FC_SHRINK=1 (shrink
// a failure), FC_TRACE=1 (print each sequence and the failing assertion), FC_REPORT=1 (figures).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { testClock, type TestClock } from './helpers/clock.js';
import { call, startServer, type Running } from './helpers/server.js';
import { startSmtp, tokenIn, type TestSmtp } from './helpers/smtp.js';
import { storageFactories, type StorageFactory } from './helpers/storage.js';

const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : 87;
const RUNS = process.env.FC_RUNS !== undefined ? Number(process.env.FC_RUNS) : 8;
const MAX_COMMANDS = process.env.FC_COMMANDS !== undefined ? Number(process.env.FC_COMMANDS) : 20;

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
  for (const r of m.resets.get(u.id) ?? []) r.used = true;
  for (const c of m.changes.get(u.id) ?? []) c.used = true;
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

function expect(res: Answer, status: number, code: string | undefined, m: Model, what: string): void {
  const where = `${what}: ${res.status} ${res.text.slice(0, 300)}\n  after: ${m.log.join('\n         ')}`;
  assert.equal(res.status, status, where);
  if (code !== undefined) assert.equal(res.json?.code, code, where);
}

// ---- invariants, checked through the API after every command ----

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
    }
    const own = m.access.find((a) => a.session.user === u && liveAccess(a));
    if (own !== undefined) {
      const res = await http(r, m, '/api/v1/auth/sessions', { headers: bearer(own.token) });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(sorted(res.json.data.map((x: { id: string }) => x.id)), want, `${u.username}'s sessions (own view)${ctx}`);
      assert.deepEqual(res.json.data.filter((x: { current: boolean }) => x.current).map((x: { id: string }) => x.id), [own.session.sid]);
      // The user's own events: the newest 50 of the model's, newest first.
      const ev = await http(r, m, '/api/v1/auth/events?limit=50', { headers: bearer(own.token) });
      assert.equal(ev.status, 200, ev.text);
      assert.deepEqual(ev.json.data.items.map((e: { type: string }) => e.type), [...u.events].reverse().slice(0, 50), `${u.username}'s own events${ctx}`);
    }
  }
  // The audit log: per user, the model's events in order; and those with no user.
  if (admin !== undefined) {
    const items: { type: string; user_id: string | null }[] = [];
    let cursor: string | null = null;
    do {
      const page: Answer = await http(r, m, `/api/v1/audit?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { headers: bearer(admin.token) });
      assert.equal(page.status, 200, page.text);
      items.push(...page.json.data.items);
      cursor = page.json.data.next_cursor;
    } while (cursor);
    items.reverse();
    for (const u of m.users) {
      assert.deepEqual(items.filter((e) => e.user_id === u.id).map((e) => e.type), u.events, `${u.username}${u.deleted ? ' (deleted)' : ''}'s events in the audit log${ctx}`);
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
function opened(m: Model, u: MUser, access: string, refresh: string): MSession {
  const c = claims(access);
  const s: MSession = { sid: String(c.sid), user: u, live: true, refresh, retired: [], rotatedAt: 0 };
  m.sessions.push(s);
  m.access.push({ token: access, session: s, fresh: true });
  u.events.push('signin.succeeded');
  assert.deepEqual(sorted(c.roles as string[]), sorted(u.roles), `a new token's roles\n  after: ${m.log.join('\n         ')}`);
  assert.equal(c.fresh, true);
  assert.equal(claims(refresh).sid, c.sid);
  return s;
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
    const u: MUser = { id: res.json.data.id, username, email: email.toLowerCase(), password: PASSWORDS[0]!, roles: ['user'], active: true, deleted: false, verified: false, events: ['user.created'] };
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
      const data = this.how === 'email-v1' ? res.json.data : res.json;
      opened(m, now, data.access_token, data.refresh_token);
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
    const data = this.how === 'email-v1' ? res.json.data : res.json;
    opened(m, u, data.access_token, data.refresh_token);
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
    const u: MUser = { id: res.json.data.id, username, email, password: PASSWORDS[1]!, roles: [...roles], active: true, deleted: false, verified: false, events: ['user.created'] };
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
    u.verified = true;
    u.events.push('password.reset');
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
};

async function setup(f: StorageFactory, smtp: TestSmtp | undefined): Promise<{ model: Model; real: Real; close(): Promise<void> }> {
  const storage = await f.create();
  const mailEnv: Record<string, string> = smtp ? { SMTP_URL: smtp.url, SMTP_TLS_CA_FILE: smtp.caFile, APP_URL: 'http://warden.test' } : {};
  const clock = testClock();
  const s = await startServer({ ...ENV, ...mailEnv }, { storage, clock, email: { tuning: { pollMs: 20, retryBaseMs: 50, retryMaxMs: 200 } } });
  const model: Model = { users: [], sessions: [], access: [], anonymousEvents: 0, resets: new Map(), changes: new Map(), verifies: new Map(), log: [] };
  const real: Real = { s, clock, smtp, taken: new Set(smtp?.delivered ?? []) };
  // The first sign-up bootstraps the administrator; signed in once.
  const root = await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: PASSWORDS[0], roles: ['admin'] } });
  assert.equal(root.status, 201, root.text);
  const u: MUser = { id: root.json.data.id, username: 'root', email: 'root@example.com', password: PASSWORDS[0]!, roles: ['admin'], active: true, deleted: false, verified: false, events: ['user.created'] };
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
      if (process.env.FC_REPORT) process.stderr.write(`${f.name}: ${runs} sequences, ${calls} commands, ${Date.now() - started} ms\n`);
    });
  });
}
