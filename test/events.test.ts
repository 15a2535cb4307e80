// The security event stream over real HTTP: each action writes its event exactly once (no more, no
// less, nothing else), with who, whom, which session and from where; no event carries a secret;
// and an event that cannot be written takes its change with it (SQLite and PostgreSQL).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { AnyEvent, EventType } from '../src/events/records.js';
import { createPostgresStorage, type Storage } from '../src/storage/index.js';
import { testClock } from './helpers/clock.js';
import { call, startServer, type Running } from './helpers/server.js';
import { startSmtp, tokenIn, type TestSmtp } from './helpers/smtp.js';
import { codeAt, secretOf } from './helpers/totp.js';
import { postgresUrlOrSkip } from './helpers/storage.js';

const PASSWORD = 'password-123';
const UA = 'events-test/1.0';
const bearer = (t: string) => ({ authorization: `Bearer ${t}`, 'user-agent': UA });

/** Every event the storage holds, oldest first. */
async function allEvents(s: Running): Promise<AnyEvent[]> {
  return (await s.warden.storage.events.list({ limit: 10_000 })).reverse() as AnyEvent[];
}

/** Runs `action` and returns exactly the events it wrote. */
async function eventsOf(s: Running, action: () => Promise<unknown>): Promise<AnyEvent[]> {
  const before = new Set((await allEvents(s)).map((e) => e.id));
  await action();
  return (await allEvents(s)).filter((e) => !before.has(e.id));
}

const types = (list: AnyEvent[]) => list.map((e) => e.type);

describe('security events over HTTP: one per action, with its subject', () => {
  let s: Running;
  let v1: string;
  const clock = testClock();
  let admin: { id: string; token: string };
  let carol: { id: string };
  before(async () => {
    s = await startServer({ SIGNIN_MAX_FAILURES: '3', MAX_SESSIONS_PER_USER: '3' }, { clock });
    v1 = `${s.url}/api/v1`;
    const a = await call(`${v1}/auth/signup`, { json: { username: 'boss', email: 'boss@example.com', password: PASSWORD, roles: ['admin'] } });
    const c = await call(`${v1}/auth/signup`, { json: { username: 'carol', email: 'carol@example.com', password: PASSWORD } });
    assert.equal(a.status, 201);
    assert.equal(c.status, 201);
    carol = { id: c.json.data.id };
    admin = { id: a.json.data.id, token: (await login('boss@example.com')).access_token };
  });
  after(() => s.close());

  async function login(email: string, password = PASSWORD, ua = UA) {
    const r = await call(`${v1}/auth/login`, { form: { username: email, password }, headers: { 'user-agent': ua } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return r.json.data as { access_token: string; refresh_token: string };
  }
  const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sid: string; sub: string };

  it('sign-up: user.created by the new user, via signup, with the client', async () => {
    let id = '';
    const evs = await eventsOf(s, async () => {
      const r = await call(`${v1}/auth/signup`, { json: { username: 'erin', email: 'erin@example.com', password: PASSWORD }, headers: { 'user-agent': UA } });
      assert.equal(r.status, 201);
      id = r.json.data.id;
    });
    assert.deepEqual(types(evs), ['user.created']);
    const [e] = evs;
    assert.equal(e!.userId, id);
    assert.equal(e!.actorId, id);
    assert.equal(e!.ip, '127.0.0.1');
    assert.equal(e!.userAgent, UA);
    assert.equal(e!.outcome, 'success');
    assert.deepEqual(e!.details, { via: 'signup', roles: ['user'] });
  });

  it('sign-in succeeded: one event, in the session it opened', async () => {
    let token = '';
    const evs = await eventsOf(s, async () => (token = (await login('carol@example.com')).access_token));
    assert.deepEqual(types(evs), ['signin.succeeded']);
    assert.equal(evs[0]!.sessionId, claims(token).sid);
    assert.equal(evs[0]!.userId, carol.id);
    assert.deepEqual(evs[0]!.details, { method: 'password', amr: ['pwd'] });
  });

  it('sign-in failed: wrong password, unknown login, inactive account, over-long input — each with its reason', async () => {
    const bad = await eventsOf(s, async () => assert.equal((await call(`${s.url}/api/auth/signin`, { json: { username: 'carol', password: 'wrong-password' } })).status, 401));
    assert.deepEqual(bad.map((e) => [e.type, e.outcome, e.userId, e.details]), [['signin.failed', 'failure', carol.id, { reason: 'bad_password' }]]);
    const unknown = await eventsOf(s, async () => assert.equal((await call(`${s.url}/api/auth/signin`, { json: { username: 'nobody@example.com', password: 'x-password' } })).status, 401));
    assert.deepEqual(unknown.map((e) => [e.type, e.userId, e.details]), [['signin.failed', null, { reason: 'unknown_login', login: 'nobody@example.com' }]]);
    const long = await eventsOf(s, async () => assert.equal((await call(`${s.url}/api/auth/signin`, { json: { username: 'x'.repeat(400), password: 'p' } })).status, 401));
    assert.deepEqual(long.map((e) => [e.type, e.details]), [['signin.failed', { reason: 'malformed', login: 'x'.repeat(64) }]]);
    const r = await call(`${v1}/auth/signup`, { json: { username: 'idle', email: 'idle@example.com', password: PASSWORD } });
    await call(`${v1}/users/${r.json.data.id}`, { method: 'PATCH', json: { is_active: false }, headers: bearer(admin.token) });
    const inactive = await eventsOf(s, async () => assert.equal((await call(`${s.url}/api/auth/signin`, { json: { username: 'idle', password: PASSWORD } })).status, 400));
    assert.deepEqual(inactive.map((e) => [e.type, e.userId, e.details]), [['signin.failed', r.json.data.id, { reason: 'inactive' }]]);
  });

  it('a login recorded from a failed sign-in holds no bidirectional control: each is U+FFFD, so it reads as written in the audit log', async () => {
    // An anonymous caller's text in the administrators' audit log: an override would reverse how the
    // rest of the line reads (jsonb puts "login" before "reason").
    const given = 'nobody\u202e@example.com\u2066x\u2069';
    const evs = await eventsOf(s, async () => assert.equal((await call(`${s.url}/api/auth/signin`, { json: { username: given, password: 'x-password' } })).status, 401));
    assert.deepEqual(evs.map((e) => [e.type, e.details]), [['signin.failed', { reason: 'unknown_login', login: 'nobody\ufffd@example.com\ufffdx\ufffd' }]]);
  });

  it('a login recorded from a failed sign-in shows its invisible characters as U+FFFD: it never reads as an account that exists', async () => {
    // "carol@example.com" with a zero-width space, or a variation selector, or a tab, matches no
    // account: an unknown_login event reading "carol@example.com" would tell the auditor that
    // carol's address has no account, and hide the attempts from a search for it.
    for (const [given, shown] of [['carol@example.com\u200b', 'carol@example.com\ufffd'], ['car\ufe0fol', 'car\ufffdol'], ['car\tol', 'car\ufffdol'], ['\u2060carol', '\ufffdcarol']]) {
      const evs = await eventsOf(s, async () => assert.equal((await call(`${s.url}/api/auth/signin`, { json: { username: given, password: 'x-password' } })).status, 401));
      assert.deepEqual(evs.map((e) => [e.type, e.details]), [['signin.failed', { reason: 'unknown_login', login: shown }]], JSON.stringify(given));
    }
  });

  it('throttled: one signin.throttled per (IP, login) and window, however many attempts it refuses', async () => {
    const attempt = () => call(`${s.url}/api/auth/signin`, { json: { username: 'throttled@example.com', password: 'wrong-password' } });
    const evs = await eventsOf(s, async () => {
      for (let i = 0; i < 3; i++) assert.equal((await attempt()).status, 401);
      for (let i = 0; i < 4; i++) assert.equal((await attempt()).status, 429);
    });
    assert.deepEqual(types(evs), ['signin.failed', 'signin.failed', 'signin.failed', 'signin.throttled']);
    const t = evs[3]!.details as { login: string; retry_after_seconds: number };
    assert.equal(t.login, 'throttled@example.com');
    assert.ok(t.retry_after_seconds > 0);
    // After the window, a new refusal is recorded again.
    clock.advance(16 * 60_000);
    const later = await eventsOf(s, async () => {
      for (let i = 0; i < 3; i++) await attempt();
      assert.equal((await attempt()).status, 429);
    });
    assert.deepEqual(types(later), ['signin.failed', 'signin.failed', 'signin.failed', 'signin.throttled']);
  });

  it('refresh: session.refreshed; within the grace {grace: true}; a retired token after it: session.reuse_detected', async () => {
    const t = await login('carol@example.com');
    const sid = claims(t.access_token).sid;
    let next = '';
    const rotated = await eventsOf(s, async () => {
      const r = await call(`${v1}/auth/refresh?refresh_token=${t.refresh_token}`, { method: 'POST' });
      assert.equal(r.status, 200);
      next = r.json.data.refresh_token;
    });
    assert.deepEqual(rotated.map((e) => [e.type, e.sessionId, e.details]), [['session.refreshed', sid, {}]]);
    const grace = await eventsOf(s, async () => assert.equal((await call(`${v1}/auth/refresh?refresh_token=${t.refresh_token}`, { method: 'POST' })).status, 200));
    assert.deepEqual(grace.map((e) => [e.type, e.details]), [['session.refreshed', { grace: true }]]);
    assert.equal((await call(`${v1}/auth/refresh?refresh_token=${next}`, { method: 'POST' })).status, 200);
    clock.advance(11_000);
    const reuse = await eventsOf(s, async () => assert.equal((await call(`${v1}/auth/refresh?refresh_token=${next}`, { method: 'POST' })).status, 401));
    assert.deepEqual(reuse.map((e) => [e.type, e.outcome, e.sessionId]), [['session.reuse_detected', 'failure', sid]]);
    // The ended session's token is refused, and writes nothing more.
    const after = await eventsOf(s, async () => assert.equal((await call(`${v1}/auth/refresh?refresh_token=${next}`, { method: 'POST' })).status, 401));
    assert.deepEqual(after, []);
  });

  it('sign-out: one signout event per request, with its scope and how many sessions it ended', async () => {
    const a = await login('carol@example.com');
    await login('carol@example.com');
    const others = await eventsOf(s, async () => assert.equal((await call(`${v1}/auth/logout?scope=others`, { method: 'POST', headers: bearer(a.access_token) })).status, 200));
    assert.equal(others.length, 1);
    assert.equal(others[0]!.type, 'signout');
    assert.equal(others[0]!.details.scope, 'others');
    assert.ok((others[0]!.details.sessions_ended as number) >= 1);
    const local = await eventsOf(s, async () => assert.equal((await call(`${s.url}/api/auth/signout`, { method: 'POST', headers: bearer(a.access_token) })).status, 200));
    assert.deepEqual(local.map((e) => [e.type, e.sessionId, e.details]), [['signout', claims(a.access_token).sid, { scope: 'local', sessions_ended: 1 }]]);
    const b = await login('carol@example.com');
    await login('carol@example.com');
    const global = await eventsOf(s, async () => assert.equal((await call(`${v1}/auth/logout?scope=global`, { method: 'POST', headers: bearer(b.access_token) })).status, 200));
    assert.deepEqual(global.map((e) => [e.type, e.details]), [['signout', { scope: 'global', sessions_ended: 2 }]]);
  });

  it('session ended: by its user (DELETE), by RFC 7009 revocation, by the session limit; token.revoked for an access token', async () => {
    const a = await login('carol@example.com');
    const b = await login('carol@example.com');
    const sidB = claims(b.access_token).sid;
    const own = await eventsOf(s, async () => assert.equal((await call(`${v1}/auth/sessions/${sidB}`, { method: 'DELETE', headers: bearer(a.access_token) })).status, 200));
    assert.deepEqual(own.map((e) => [e.type, e.sessionId, e.actorId, e.details]), [['session.ended', sidB, carol.id, { reason: 'logout' }]]);
    const c = await login('carol@example.com');
    const revoked = await eventsOf(s, async () => assert.equal((await call(`${s.url}/oauth/revoke`, { form: { token: c.refresh_token } })).status, 200));
    assert.deepEqual(revoked.map((e) => [e.type, e.sessionId, e.details]), [['session.ended', claims(c.access_token).sid, { reason: 'revoked' }]]);
    const access = await eventsOf(s, async () => assert.equal((await call(`${s.url}/oauth/revoke`, { form: { token: a.access_token } })).status, 200));
    assert.deepEqual(access.map((e) => [e.type, e.details]), [['token.revoked', { token_type: 'access' }]]);
    // MAX_SESSIONS_PER_USER=3: the fourth live session ends the oldest.
    await call(`${v1}/auth/logout?scope=global`, { method: 'POST', headers: bearer((await login('carol@example.com')).access_token) });
    clock.advance(1);
    const first = await login('carol@example.com');
    clock.advance(1);
    await login('carol@example.com');
    clock.advance(1);
    await login('carol@example.com');
    clock.advance(1);
    const limit = await eventsOf(s, () => login('carol@example.com'));
    assert.deepEqual(types(limit).sort(), ['session.ended', 'signin.succeeded']);
    const ended = limit.find((e) => e.type === 'session.ended')!;
    assert.deepEqual([ended.sessionId, ended.details], [claims(first.access_token).sid, { reason: 'limit' }]);
  });

  it('password changed by its user: one password.changed; the other sessions end without events of their own', async () => {
    await call(`${v1}/auth/signup`, { json: { username: 'pat', email: 'pat@example.com', password: PASSWORD } });
    const a = await login('pat@example.com');
    await login('pat@example.com');
    const evs = await eventsOf(s, async () => {
      const r = await call(`${v1}/auth/password`, { json: { current_password: PASSWORD, new_password: 'new-password-456' }, headers: bearer(a.access_token) });
      assert.equal(r.status, 200);
    });
    assert.deepEqual(evs.map((e) => [e.type, e.actorId === e.userId, e.sessionId]), [['password.changed', true, claims(a.access_token).sid]]);
    // A wrong current password changes nothing and records one password.change_failed, as a failed sign-in would.
    const wrong = await eventsOf(s, async () => {
      const r = await call(`${v1}/auth/password`, { json: { current_password: 'nope-nope', new_password: 'other-password-789' }, headers: bearer(a.access_token) });
      assert.equal(r.status, 401);
    });
    assert.deepEqual(wrong.map((e) => [e.type, e.outcome, e.actorId === e.userId, e.sessionId]), [['password.change_failed', 'failure', true, claims(a.access_token).sid]]);
  });

  it('administrator actions carry the acting administrator: create, roles, deactivate, activate, password, email, profile, delete', async () => {
    admin.token = (await login('boss@example.com')).access_token;
    const who = (list: AnyEvent[]) => list.map((e) => [e.type, e.actorId, e.userId]);
    let id = '';
    const created = await eventsOf(s, async () => {
      const r = await call(`${v1}/users`, { json: { username: 'newbie', email: 'newbie@example.com', password: PASSWORD, roles: ['editor'] }, headers: bearer(admin.token) });
      assert.equal(r.status, 201);
      id = r.json.data.id;
    });
    assert.deepEqual(who(created), [['user.created', admin.id, id]]);
    assert.deepEqual(created[0]!.details, { via: 'admin', roles: ['editor'] });
    const patch = (body: unknown) => eventsOf(s, async () => {
      const r = await call(`${v1}/users/${id}`, { method: 'PATCH', json: body, headers: bearer(admin.token) });
      assert.equal(r.status, 200, JSON.stringify(r.json));
    });
    const roles = await patch({ roles: ['editor', 'auditor'] });
    assert.deepEqual(who(roles), [['user.roles_changed', admin.id, id]]);
    assert.deepEqual(roles[0]!.details, { from: ['editor'], to: ['editor', 'auditor'] });
    assert.deepEqual(types(await patch({ roles: ['auditor', 'editor'] })), [], 'the same roles in another order change nothing');
    assert.deepEqual(who(await patch({ is_active: false })), [['user.deactivated', admin.id, id]]);
    assert.deepEqual(types(await patch({ is_active: false })), [], 'already inactive');
    assert.deepEqual(who(await patch({ is_active: true })), [['user.activated', admin.id, id]]);
    assert.deepEqual(who(await patch({ password: 'reset-password-1' })), [['password.changed', admin.id, id]]);
    assert.deepEqual(who(await patch({ email: 'renamed@example.com' })), [['email.changed', admin.id, id]]);
    const profile = await patch({ full_name: 'New Bie' });
    assert.deepEqual([...who(profile), profile[0]!.details], [['user.updated', admin.id, id], { fields: ['full_name'] }]);
    // Several facts in one request: one event each, in one transaction with the change.
    assert.deepEqual(types(await patch({ roles: ['user'], full_name: 'N. B.' })).sort(), ['user.roles_changed', 'user.updated']);
    // An administrator ends one of the user's sessions: session.ended, by the administrator.
    const signedIn = await call(`${v1}/auth/login`, { form: { username: 'renamed@example.com', password: 'reset-password-1' } });
    assert.equal(signedIn.status, 200, signedIn.text);
    const sid = claims(signedIn.json.data.access_token).sid;
    const ended = await eventsOf(s, async () => assert.equal((await call(`${v1}/users/${id}/sessions/${sid}`, { method: 'DELETE', headers: bearer(admin.token) })).status, 200));
    assert.deepEqual([...who(ended), ended[0]!.sessionId, ended[0]!.details, ended[0]!.ip], [['session.ended', admin.id, id], sid, { reason: 'admin' }, '127.0.0.1']);
    const deleted = await eventsOf(s, async () => assert.equal((await call(`${v1}/users/${id}`, { method: 'DELETE', headers: bearer(admin.token) })).status, 200));
    assert.deepEqual(who(deleted), [['user.deleted', admin.id, id]]);
    // The deleted user's history stays readable.
    const history = await s.warden.storage.events.list({ limit: 100, userId: id });
    assert.ok(history.length >= 8);
  });

  it('a refresh after a deactivation finds its session ended and writes nothing more', async () => {
    admin.token = (await login('boss@example.com')).access_token;
    const r = await call(`${v1}/auth/signup`, { json: { username: 'gone', email: 'gone@example.com', password: PASSWORD } });
    const t = await login('gone@example.com');
    await call(`${v1}/users/${r.json.data.id}`, { method: 'PATCH', json: { is_active: false }, headers: bearer(admin.token) });
    const evs = await eventsOf(s, async () => assert.equal((await call(`${v1}/auth/refresh?refresh_token=${t.refresh_token}`, { method: 'POST' })).status, 401));
    // Deactivation ended the session already: the refresh finds it ended and writes nothing.
    assert.deepEqual(evs, []);
  });

  it('no event ever carries a password, a token or a hash', async () => {
    const text = JSON.stringify(await allEvents(s));
    for (const secret of [PASSWORD, 'new-password-456', 'reset-password-1', 'wrong-password', '$argon2', 'eyJ']) {
      assert.ok(!text.includes(secret), `an event holds ${secret}`);
    }
  });

  it('the configured administrator is created by Warden itself: via configuration, no actor', async () => {
    const t = await startServer({ ADMIN_USERNAME: 'root', ADMIN_EMAIL: 'root@example.com', ADMIN_PASSWORD: 'root-password-1' });
    try {
      const evs = await allEvents(t);
      assert.deepEqual(evs.map((e) => [e.type, e.actorId, e.details]), [['user.created', null, { via: 'configuration', roles: ['admin', 'ROLE_ADMIN'] }]]);
    } finally {
      await t.close();
    }
  });
});

/** A trigger refusing one event type: the write that records it must fail whole. */
const REFUSE = {
  sqlite: (type: EventType) => `CREATE TRIGGER refuse_event BEFORE INSERT ON events WHEN NEW.type = '${type}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`,
  postgres: (type: EventType) => `
    CREATE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
    CREATE TRIGGER refuse_event BEFORE INSERT ON events FOR EACH ROW WHEN (NEW.type = '${type}') EXECUTE FUNCTION refuse_event()`,
};

const pgTarget = await postgresUrlOrSkip();

for (const kind of ['sqlite', 'postgres'] as const) {
  const skip = kind === 'postgres' ? pgTarget.skip : undefined;
  describe(`an event that cannot be written takes its change with it (${kind}, real HTTP)`, skip !== undefined ? { skip } : {}, () => {
    let s: Running;
    let storage: Storage | undefined;
    let run: (sql: string) => Promise<void>;
    let client: pg.Client | undefined;
    const schema = `warden_events_${process.pid}_${randomBytes(3).toString('hex')}`;
    before(async () => {
      if (kind === 'postgres') {
        storage = createPostgresStorage(pgTarget.url!, { schema });
        const c = (client = new pg.Client({ connectionString: pgTarget.url, options: `-c search_path=${schema}` }));
        run = async (sql) => {
          await c.query(sql);
        };
        s = await startServer({}, { storage });
        await c.connect();
      } else {
        s = await startServer();
        const path = s.config.storage.databaseUrl.slice('sqlite:'.length);
        const { openSqlite } = await import('../src/storage/sqlite-driver.js');
        run = async (sql) => {
          const db = openSqlite(path);
          db.exec(sql);
          db.close();
        };
      }
    });
    after(async () => {
      await client?.end();
      await s.close();
      await storage?.close();
      if (kind === 'postgres') {
        const c = new pg.Client({ connectionString: pgTarget.url });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await c.end();
      }
    });

    it('password.changed refused: the request fails and the old password still signs in', async () => {
      const v1 = `${s.url}/api/v1`;
      const signup = await call(`${v1}/auth/signup`, { json: { username: 'txuser', email: 'tx@example.com', password: PASSWORD, roles: ['admin'] } });
      assert.equal(signup.status, 201, JSON.stringify(signup.json));
      const userId = signup.json.data.id as string;
      const login = await call(`${v1}/auth/login`, { form: { username: 'tx@example.com', password: PASSWORD } });
      const token = login.json.data.access_token as string;
      await run(REFUSE[kind]('password.changed'));
      const r = await call(`${v1}/auth/password`, { json: { current_password: PASSWORD, new_password: 'never-stored-1' }, headers: bearer(token) });
      assert.equal(r.status, 500);
      assert.equal((await call(`${v1}/auth/login`, { form: { username: 'tx@example.com', password: 'never-stored-1' } })).status, 401);
      assert.equal((await call(`${v1}/auth/login`, { form: { username: 'tx@example.com', password: PASSWORD } })).status, 200);
      assert.ok(!(await allEvents(s)).some((e) => e.type === 'password.changed'));
      // Neither did the sign-in that opened no session when signin.succeeded was refused.
      await run(kind === 'sqlite' ? 'DROP TRIGGER refuse_event' : 'DROP TRIGGER refuse_event ON events; DROP FUNCTION refuse_event()');
      await run(REFUSE[kind]('signin.succeeded'));
      const sessionsBefore = (await s.warden.storage.sessions.listActive(userId, Date.now(), { limit: 100, offset: 0 })).total;
      assert.equal(sessionsBefore, 2);
      assert.equal((await call(`${v1}/auth/login`, { form: { username: 'tx@example.com', password: PASSWORD } })).status, 500);
      assert.equal((await s.warden.storage.sessions.listActive(userId, Date.now(), { limit: 100, offset: 0 })).total, sessionsBefore, 'no session was opened');
    });

    it('token.revoked refused: RFC 7009 revocation fails and the token still works; so does a sessionless sign-out', async () => {
      const v1 = `${s.url}/api/v1`;
      await run(kind === 'sqlite' ? 'DROP TRIGGER IF EXISTS refuse_event' : 'DROP TRIGGER IF EXISTS refuse_event ON events; DROP FUNCTION IF EXISTS refuse_event()');
      await run(REFUSE[kind]('token.revoked'));
      assert.equal((await call(`${v1}/auth/signup`, { json: { username: 'txrevoke', email: 'txrevoke@example.com', password: PASSWORD } })).status, 201);
      const login = await call(`${v1}/auth/login`, { form: { username: 'txrevoke@example.com', password: PASSWORD } });
      const token = login.json.data.access_token as string;
      assert.equal((await call(`${s.url}/oauth/revoke`, { form: { token } })).status, 500);
      assert.equal((await call(`${v1}/auth/verify`, { headers: bearer(token) })).status, 200, 'no revocation record without its event');
      assert.equal((await s.warden.storage.revocations.listLive(Date.now())).length, 0);
      // A token without a session (issued by the toolkit directly): its sign-out is one record and one event.
      await run(REFUSE[kind]('signout').replace(/refuse_event/g, 'refuse_signout'));
      const { claims } = s.warden.verify(token);
      const sessionless = { ...claims, sid: undefined, jti: randomBytes(8).toString('hex') };
      await assert.rejects(s.warden.accounts.sessions.signOut(sessionless, 'local'));
      assert.equal(s.warden.revoker.index.check(sessionless), null, 'not refused');
      assert.equal((await s.warden.storage.revocations.listLive(Date.now())).length, 0);
      assert.ok(!(await allEvents(s)).some((e) => e.type === 'token.revoked' || e.type === 'signout'));
    });
  });
}

describe('security events of the mail flows: password.reset, email.verified, email.changed (real SMTP)', () => {
  let s: Running;
  let smtp: TestSmtp;
  before(async () => {
    smtp = await startSmtp();
    s = await startServer({
      SMTP_URL: smtp.url, SMTP_REQUIRE_TLS: 'true', SMTP_TLS_CA_FILE: smtp.caFile, MAIL_FROM: 'Warden <no-reply@warden.test>',
      APP_URL: 'https://auth.example.test', MAIL_LIMIT_PER_ADDRESS: '0', MAIL_LIMIT_PER_IP: '0',
    }, { email: { tuning: { pollMs: 50, retryBaseMs: 50, retryMaxMs: 200 } } });
  });
  after(async () => {
    await s.close();
    await smtp.close();
  });
  /** Asks for a reset mail for `email` and sets `password` through its link; the events that wrote. */
  const resetByMail = async (email: string, password: string): Promise<AnyEvent[]> => {
    await call(`${s.url}/api/v1/auth/password/forgot`, { json: { email } });
    const resetMail = await smtp.waitFor((m) => m.to === email && m.subject === 'Reset your password');
    return eventsOf(s, async () => {
      const r = await call(`${s.url}/api/v1/auth/password/reset`, { json: { token: tokenIn(resetMail), new_password: password } });
      assert.equal(r.status, 200, r.text);
    });
  };

  it('each link used writes its one event, with the user as the actor and the client that used it', async () => {
    const v1 = `${s.url}/api/v1`;
    const signup = await call(`${v1}/auth/signup`, { json: { username: 'mailer', email: 'mailer@example.com', password: PASSWORD } });
    const id = signup.json.data.id as string;
    const verifyMail = await smtp.waitFor((m) => m.to === 'mailer@example.com' && m.subject === 'Confirm your email address');
    const verified = await eventsOf(s, async () => assert.equal((await call(`${v1}/auth/verify`, { json: { token: tokenIn(verifyMail) }, headers: { 'user-agent': UA } })).status, 200));
    assert.deepEqual(verified.map((e) => [e.type, e.actorId, e.userId, e.userAgent]), [['email.verified', id, id, UA]]);
    // A used token again: refused, and nothing written.
    assert.deepEqual(await eventsOf(s, () => call(`${v1}/auth/verify`, { json: { token: tokenIn(verifyMail) } })), []);

    const reset = await resetByMail('mailer@example.com', 'reset-by-mail-1');
    assert.deepEqual(reset.map((e) => [e.type, e.userId]), [['password.reset', id]]);

    const login = await call(`${v1}/auth/login`, { form: { username: 'mailer@example.com', password: 'reset-by-mail-1' } });
    await call(`${v1}/auth/email`, { json: { new_email: 'moved@example.org' }, headers: bearer(login.json.data.access_token) });
    const confirmMail = await smtp.waitFor((m) => m.to === 'moved@example.org' && m.subject === 'Confirm your new email address');
    const changed = await eventsOf(s, async () => assert.equal((await call(`${v1}/auth/email/confirm`, { json: { token: tokenIn(confirmMail) } })).status, 200));
    assert.deepEqual(changed.map((e) => [e.type, e.actorId, e.userId]), [['email.changed', id, id]]);
    assert.ok(!JSON.stringify(await allEvents(s)).includes('reset-by-mail-1'));
  });

  it('a reset of an address never verified marks it verified within password.reset: no email.verified of its own', async () => {
    const v1 = `${s.url}/api/v1`;
    const signup = await call(`${v1}/auth/signup`, { json: { username: 'unproven', email: 'unproven@example.com', password: PASSWORD } });
    const id = signup.json.data.id as string;
    const reset = await resetByMail('unproven@example.com', 'reset-by-mail-2');
    assert.deepEqual(reset.map((e) => [e.type, e.userId]), [['password.reset', id]]);
    const login = await call(`${v1}/auth/login`, { form: { username: 'unproven@example.com', password: 'reset-by-mail-2' } });
    const me = await call(`${v1}/auth/me`, { headers: bearer(login.json.data.access_token) });
    assert.equal(me.json.data.email_verified, true);
  });
});

describe('security events of second factors: mfa.enrolled, mfa.used (with the sign-in), recovery codes regenerated, mfa.removed, a refused code', () => {
  it('each factor change and each completed or refused sign-in step writes its event, with the acting user', async () => {
    const clock = testClock(Date.UTC(2031, 4, 6, 7, 8, 0));
    const s = await startServer({}, { clock });
    try {
      const v1 = `${s.url}/api/v1`;
      const admin = await call(`${s.url}/api/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: PASSWORD, roles: ['admin'] } });
      const alice = await call(`${s.url}/api/auth/signup`, { json: { username: 'alice', email: 'alice@example.com', password: PASSWORD } });
      const signin = (username: string) => call(`${s.url}/api/auth/signin`, { json: { username, password: PASSWORD } });
      const access = (await signin('alice')).json.access_token as string;
      const code = (secret: Buffer) => codeAt(secret, Math.floor(clock() / 1000));

      let secret: Buffer = Buffer.alloc(0);
      let factorId = '';
      const enrolled = await eventsOf(s, async () => {
        const e = await call(`${v1}/auth/mfa/totp`, { method: 'POST', headers: bearer(access) });
        secret = secretOf(e.json.data.otpauth_uri);
        const c = await call(`${v1}/auth/mfa/totp/confirm`, { json: { code: code(secret) }, headers: bearer(access) });
        assert.equal(c.status, 200, c.text);
      });
      assert.deepEqual(enrolled.map((e) => [e.type, e.actorId, e.userId]), [['mfa.enrolled', alice.json.id, alice.json.id]]);
      factorId = (enrolled[0]!.details as { factor_id: string }).factor_id;
      assert.equal((enrolled[0]!.details as { method: string }).method, 'totp');

      // The password step opens no session and writes nothing; a wrong code is a refused sign-in.
      let mfaToken = '';
      assert.deepEqual(await eventsOf(s, async () => (mfaToken = (await signin('alice')).json.mfa_token)), []);
      clock.advance(30_000);
      const wrong = await eventsOf(s, async () => {
        const r = await call(`${v1}/auth/mfa/verify`, { json: { mfa_token: mfaToken, code: codeAt(secret, Math.floor(clock() / 1000) + 3000) } });
        assert.equal(r.status, 401, r.text);
      });
      assert.deepEqual(wrong.map((e) => [e.type, e.userId, e.details]), [['signin.failed', alice.json.id, { reason: 'second_factor' }]]);
      let strong = '';
      const completed = await eventsOf(s, async () => {
        const r = await call(`${v1}/auth/mfa/verify`, { json: { mfa_token: mfaToken, code: code(secret) } });
        assert.equal(r.status, 200, r.text);
        strong = r.json.data.access_token;
      });
      assert.deepEqual(completed.map((e) => [e.type, e.details]).sort(), [
        ['mfa.used', { method: 'otp' }], ['signin.succeeded', { method: 'password', amr: ['pwd', 'otp', 'mfa'] }],
      ]);
      assert.equal(completed[0]!.sessionId, completed[1]!.sessionId, 'both of the session they opened');

      const regenerated = await eventsOf(s, async () => {
        const r = await call(`${v1}/auth/mfa/recovery-codes`, { method: 'POST', headers: bearer(strong) });
        assert.equal(r.status, 200, r.text);
      });
      assert.deepEqual(regenerated.map((e) => [e.type, e.actorId, e.userId, e.sessionId, e.userAgent, e.details]),
        [['mfa.recovery_codes_regenerated', alice.json.id, alice.json.id, completed[0]!.sessionId, UA, {}]]);

      const removed = await eventsOf(s, async () => {
        const r = await call(`${v1}/auth/mfa/factors/${factorId}`, { method: 'DELETE', headers: bearer(strong) });
        assert.equal(r.status, 200, r.text);
      });
      assert.deepEqual(removed.map((e) => [e.type, e.details]), [['mfa.removed', { method: 'totp', factor_id: factorId }]]);

      // An administrator's reset: one mfa.removed {all}, with the administrator as the actor.
      const again = (await signin('alice')).json.access_token as string;
      const e2 = await call(`${v1}/auth/mfa/totp`, { method: 'POST', headers: bearer(again) });
      clock.advance(30_000);
      await call(`${v1}/auth/mfa/totp/confirm`, { json: { code: code(secretOf(e2.json.data.otpauth_uri)) }, headers: bearer(again) });
      const rootToken = (await signin('root')).json.access_token as string;
      const reset = await eventsOf(s, async () => {
        const r = await call(`${v1}/users/${alice.json.id}/factors`, { method: 'DELETE', headers: bearer(rootToken) });
        assert.equal(r.status, 200, r.text);
      });
      assert.deepEqual(reset.map((e) => [e.type, e.actorId, e.userId, e.details]), [['mfa.removed', admin.json.id, alice.json.id, { method: 'all' }]]);
    } finally {
      await s.close();
    }
  });
});

describe('a client\'s user agent in an event', () => {
  it('is kept with each character a reader cannot see as U+FFFD: a C1 control (NEL, read as a line break) splits no line of the log', async () => {
    const s = await startServer({});
    try {
      // Node reads header bytes as latin1: 0x85 arrives as U+0085 (NEL), 0xAD as a soft hyphen (a format character).
      const ua = 'Mozilla/5.0 \u0085{"type":"signin.succeeded"} x\u00ady';
      const failed = await eventsOf(s, () => call(`${s.url}/api/v1/auth/login`, { form: { username: 'nobody@example.com', password: 'wrong-password' }, headers: { 'user-agent': ua } }));
      assert.deepEqual(failed.map((e) => [e.type, e.userAgent]), [['signin.failed', 'Mozilla/5.0 \ufffd{"type":"signin.succeeded"} x\ufffdy']]);
      // The log as JSON lines: one event, one line, however a reader splits lines (Python's splitlines splits at NEL).
      const line = JSON.stringify(failed[0]);
      assert.equal(line.split(/[\n\r\u0085\u2028\u2029\u000b\u000c\u001c-\u001e]/).length, 1);
    } finally {
      await s.close();
    }
  });
});
