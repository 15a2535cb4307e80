// LEGACY_REFRESH_TOKENS: the refresh tokens a Flask application's clients hold, minted by Debian's
// real flask-jwt-extended with the shared SECRET_KEY (no sid; sub the Flask user id, an integer or a
// string), exchanged once for a Warden session on every refresh route; and, without the setting,
// refused as before (401, never a 500).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { testClock } from './helpers/clock.js';
import { heldRace } from './helpers/instances.js';
import { pythonMissing, PYTHON } from './helpers/python.js';
import { call, cookieHeader, cookiesFrom, startServer, TEST_SECRET, type Running } from './helpers/server.js';
import { scratchSchema } from './helpers/storage.js';

const script = new URL('./interop/flask_jwt.py', import.meta.url).pathname;
const PASSWORD = 'legacy-refresh-password-1';
const ON = { LEGACY_REFRESH_TOKENS: 'true' };

/** A refresh token from flask-jwt-extended's create_refresh_token: identity the integer n, or the string s. */
function flaskRefresh(identity: number | string): string {
  const [mode, arg] = typeof identity === 'number' ? ['refresh-int', String(identity)] : ['refresh', identity];
  return execFileSync(PYTHON, [script, mode, arg], { env: { ...process.env, SECRET_KEY: TEST_SECRET }, encoding: 'utf8' }).trim();
}

const claimsOf = (token: string): Record<string, any> => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());

/** Each refresh route, sending the token as a client of that route would; the new pair, or the refusal. */
type Route = (s: Running, token: string) => Promise<{ status: number; text: string; json: any; access?: string; refresh?: string }>;
const ROUTES: Record<string, Route> = {
  'POST /api/auth/refresh (JSON body)': async (s, t) => {
    const r = await call(`${s.url}/api/auth/refresh`, { json: { refresh_token: t } });
    return { ...r, access: r.json?.access_token, refresh: r.json?.refresh_token };
  },
  'POST /api/auth/refresh (cookie and CSRF header)': async (s, t) => {
    const csrf = claimsOf(t).csrf as string;
    const r = await call(`${s.url}/api/auth/refresh`, {
      method: 'POST', headers: { cookie: cookieHeader({ refresh_token_cookie: t, csrf_refresh_token: csrf }), 'x-csrf-token': csrf },
    });
    const set = cookiesFrom(r.headers);
    return { ...r, access: set.access_token_cookie, refresh: set.refresh_token_cookie };
  },
  'POST /api/v1/auth/refresh (?refresh_token=)': async (s, t) => {
    const r = await call(`${s.url}/api/v1/auth/refresh?refresh_token=${t}`, { method: 'POST' });
    return { ...r, access: r.json?.data?.access_token, refresh: r.json?.data?.refresh_token };
  },
  'POST /oauth/token grant_type=refresh_token': async (s, t) => {
    const r = await call(`${s.url}/oauth/token`, { form: { grant_type: 'refresh_token', refresh_token: t } });
    return { ...r, access: r.json?.access_token, refresh: r.json?.refresh_token };
  },
};

/** Imports one Flask user per row, as `warden import` does; their Warden ids in order. */
async function importUsers(s: Running, rows: Array<{ id: number | string; username: string }>, legacyPrefix?: string): Promise<string[]> {
  const run = s.warden.accounts.startImport({ update: false, dryRun: false, ...(legacyPrefix ? { legacyPrefix } : {}) });
  const out = await run.batch(rows.map((r, i) => ({ ref: `row ${i + 1}`, fields: { ...r, email: `${r.username}@example.com`, password: PASSWORD } })));
  return out.map((o) => {
    assert.equal(o.action, 'created', o.reason);
    return o.id!;
  });
}

/** Every refresh route refuses the token (401, or OAuth's 400) saying `why`. */
async function refusedEverywhere(s: Running, token: string, why: RegExp): Promise<void> {
  for (const send of Object.values(ROUTES)) {
    const r = await send(s, token);
    assert.ok(r.status === 401 || r.status === 400, r.text);
    assert.match(r.text, why);
  }
}

async function migratedEvents(s: Running, userId: string) {
  return (await s.warden.storage.events.list({ limit: 10_000 })).filter((e) => e.type === 'session.migrated' && e.userId === userId);
}

const flaskMissing = pythonMissing('import flask_jwt_extended', 'python3-python-flask-jwt-extended', 'the exchange of its refresh tokens not checked');

describe('LEGACY_REFRESH_TOKENS=true: a Flask refresh token is exchanged once', { skip: flaskMissing }, () => {
  let s: Running;
  before(async () => {
    s = await startServer(ON);
  });
  after(() => s.close());

  let n = 100;
  for (const [name, send] of Object.entries(ROUTES)) {
    for (const identity of ['integer', 'string'] as const) {
      it(`${name}, identity as ${identity === 'integer' ? 'an integer (42)' : 'a string ("42")'}: a new session, the token refused after`, async () => {
        const flaskId = ++n;
        const [id] = await importUsers(s, [{ id: flaskId, username: `flask${flaskId}` }]);
        const token = flaskRefresh(identity === 'integer' ? flaskId : String(flaskId));
        const r = await send(s, token);
        assert.equal(r.status, 200, r.text);
        const access = claimsOf(r.access!);
        const refresh = claimsOf(r.refresh!);
        assert.equal(access.sub, id);
        assert.equal(access.type, 'access');
        assert.equal(access.fresh, false, 'as a refresh answers: not fresh');
        assert.deepEqual(access.amr, ['pwd']);
        assert.equal(access.acr, 'aal1');
        assert.equal(refresh.sub, id);
        assert.equal(refresh.sid, access.sid);
        assert.ok(refresh.exp <= claimsOf(token).exp, 'never outlives the token it replaced');
        const session = await s.warden.storage.sessions.get(access.sid);
        assert.equal(session?.userId, id);
        const events = await migratedEvents(s, id!);
        assert.equal(events.length, 1);
        assert.equal(events[0]!.sessionId, access.sid);
        assert.deepEqual(events[0]!.details, { legacy_id: String(flaskId) });

        // Single use: the same token again is refused, and opens nothing.
        const again = await send(s, token);
        assert.equal(again.status, name.startsWith('POST /oauth') ? 400 : 401, again.text);
        assert.match(again.text, /Token has been revoked/);
        assert.equal((await migratedEvents(s, id!)).length, 1);

        // The new pair is Warden's own: the access token works, the refresh token rotates as any.
        const me = await call(`${s.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${r.access}` } });
        assert.equal(me.status, 200, me.text);
        const next = await send(s, r.refresh!);
        assert.equal(next.status, 200, next.text);
        assert.equal(claimsOf(next.refresh!).sid, access.sid);
        assert.notEqual(claimsOf(next.refresh!).jti, refresh.jti);
      });
    }
  }

  it('a Warden id as sub (a user Flask knew by its UUID) finds the user by id; no legacy_id in the event', async () => {
    const made = await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'uuidflask', email: 'uuidflask@example.com', password: PASSWORD } });
    const id = made.json.data.id as string;
    const r = await ROUTES['POST /api/auth/refresh (JSON body)']!(s, flaskRefresh(id));
    assert.equal(r.status, 200, r.text);
    assert.equal(claimsOf(r.access!).sub, id);
    assert.deepEqual((await migratedEvents(s, id)).map((e) => e.details), [{}]);
  });

  // Each cuts off every token of the user issued up to it (whole seconds, so a token minted just
  // before is within or before that second): the old token is refused as revoked on every route.
  const cutOffs: Array<[string, number, (s: Running, id: string) => Promise<unknown>]> = [
    ['a deactivation (as Warden\'s own tokens are)', 300, (s, id) => s.warden.accounts.admin.update(id, { is_active: false })],
    ['a password change', 301, (s, id) => s.warden.accounts.admin.update(id, { password: 'another-password-301' })],
    ['the user changing their own password (their other sessions end)', 305, async (s) => {
      const signin = await call(`${s.url}/api/auth/signin`, { json: { username: 'flask305', password: PASSWORD } });
      const r = await call(`${s.url}/api/v1/auth/password`, {
        headers: { authorization: `Bearer ${signin.json.access_token}` }, json: { current_password: PASSWORD, new_password: 'another-password-305' },
      });
      assert.equal(r.status, 200, r.text);
    }],
  ];
  for (const [what, flaskId, cutOff] of cutOffs) {
    it(`a token issued before ${what} is refused (revoked), and opens nothing`, async () => {
      const [id] = await importUsers(s, [{ id: flaskId, username: `flask${flaskId}` }]);
      const token = flaskRefresh(flaskId);
      await cutOff(s, id!);
      await refusedEverywhere(s, token, /Token has been revoked/);
      assert.equal((await migratedEvents(s, id!)).length, 0);
    });
  }

  it('a deactivated user is refused: a token the old application minted since is answered 400 Inactive user, and nothing opens', async () => {
    const [id] = await importUsers(s, [{ id: 304, username: 'flask304' }]);
    // Deactivated outside the accounts layer (no revocation record), so that the token's iat cannot
    // fall in the deactivation's second: the exchange itself must find the user inactive.
    await s.warden.storage.users.update(id!, { isActive: false });
    const r = await ROUTES['POST /api/v1/auth/refresh (?refresh_token=)']!(s, flaskRefresh(304));
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.code, 'ERR_USER_INACTIVE');
    assert.equal((await migratedEvents(s, id!)).length, 0);
  });

  it('an expired token is refused (401 Token has expired), and opens nothing', async () => {
    const [id] = await importUsers(s, [{ id: 302, username: 'flask302' }]);
    const expired = execFileSync(PYTHON, [script, 'refresh-expired', '302'], { env: { ...process.env, SECRET_KEY: TEST_SECRET }, encoding: 'utf8' }).trim();
    const r = await ROUTES['POST /api/auth/refresh (JSON body)']!(s, expired);
    assert.equal(r.status, 401, r.text);
    assert.match(r.text, /Token has expired/);
    assert.equal((await migratedEvents(s, id!)).length, 0);
  });

  it('a token with no exp (JWT_REFRESH_TOKEN_EXPIRES = False) is never exchanged: 401 Token claims are invalid, nothing opens', async () => {
    // Its single use could be recorded only for ever: the record of a spent jti lasts until its exp.
    const [id] = await importUsers(s, [{ id: 303, username: 'flask303' }]);
    const forever = execFileSync(PYTHON, [script, 'refresh-noexp', '303'], { env: { ...process.env, SECRET_KEY: TEST_SECRET }, encoding: 'utf8' }).trim();
    assert.equal(claimsOf(forever).exp, undefined);
    await refusedEverywhere(s, forever, /Token claims are invalid/);
    assert.equal((await migratedEvents(s, id!)).length, 0);
  });

  it('a token issued longer ago than REFRESH_TOKEN_EXPIRES_DAYS is not exchanged, however long it lives: a password change\'s record of the cut-off lasts only that long', async () => {
    // Both tokens minted (on the real clock) before the server's test clock starts: the server never
    // stands before a token's iat and nbf, however long Python or the start took on a loaded machine.
    const mint = () => execFileSync(PYTHON, [script, 'refresh-long', '306'], { env: { ...process.env, SECRET_KEY: TEST_SECRET }, encoding: 'utf8' }).trim();
    const year = mint();
    const fresh = mint();
    const clock = testClock();
    const t = await startServer({ ...ON, REFRESH_TOKEN_EXPIRES_DAYS: '30' }, { clock });
    try {
      const [id] = await importUsers(t, [{ id: 306, username: 'flask306' }]);
      clock.advance(31 * 86_400_000);
      await refusedEverywhere(t, year, /Invalid or expired refresh token/);
      assert.equal((await migratedEvents(t, id!)).length, 0);
      // Within the 30 days it is exchanged, for a session of at most 30 days.
      clock.advance(-31 * 86_400_000);
      const r = await ROUTES['POST /api/auth/refresh (JSON body)']!(t, fresh);
      assert.equal(r.status, 200, r.text);
      assert.ok(claimsOf(r.refresh!).exp <= Math.floor(clock() / 1000) + 30 * 86_400);
    } finally {
      await t.close();
    }
  });

  it('an unknown user, and a refresh token minted with another key, are refused 401', async () => {
    const r = await ROUTES['POST /api/auth/refresh (JSON body)']!(s, flaskRefresh(999_999));
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json.code, 'ERR_REFRESH_INVALID');
    const forged = execFileSync(PYTHON, [script, 'refresh-int', '101'], { env: { ...process.env, SECRET_KEY: 'another-secret-that-is-at-least-32-bytes!!' }, encoding: 'utf8' }).trim();
    const f = await ROUTES['POST /api/auth/refresh (JSON body)']!(s, forged);
    assert.equal(f.status, 401, f.text);
  });
});

describe('LEGACY_REFRESH_PREFIX: users imported with --legacy-prefix', { skip: flaskMissing }, () => {
  let s: Running;
  before(async () => {
    s = await startServer({ ...ON, LEGACY_REFRESH_PREFIX: 'shop' });
  });
  after(() => s.close());

  it('sub 42 is the user whose legacy_id is shop:42', async () => {
    const [id] = await importUsers(s, [{ id: 42, username: 'shopper' }], 'shop');
    const r = await ROUTES['POST /api/auth/refresh (JSON body)']!(s, flaskRefresh(42));
    assert.equal(r.status, 200, r.text);
    assert.equal(claimsOf(r.access!).sub, id);
    assert.deepEqual((await migratedEvents(s, id!)).map((e) => e.details), [{ legacy_id: 'shop:42' }]);
  });
});

describe('without LEGACY_REFRESH_TOKENS: refused as before', { skip: flaskMissing }, () => {
  let s: Running;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it('an integer sub: 401 Token claims are invalid (OAuth: 400 invalid_grant); a string sub: 401 Invalid or expired refresh token', async () => {
    const [id] = await importUsers(s, [{ id: 42, username: 'flask42' }]);
    for (const [name, send] of Object.entries(ROUTES)) {
      const oauth = name.startsWith('POST /oauth');
      const int = await send(s, flaskRefresh(42));
      assert.equal(int.status, oauth ? 400 : 401, `${name}: ${int.text}`);
      assert.match(int.text, /Token claims are invalid/);
      const str = await send(s, flaskRefresh('42'));
      assert.equal(str.status, oauth ? 400 : 401, `${name}: ${str.text}`);
      assert.match(str.text, oauth ? /"error":"invalid_grant".*Invalid or expired refresh token/ : /ERR_REFRESH_INVALID/);
    }
    assert.equal((await migratedEvents(s, id!)).length, 0);
    assert.equal((await s.warden.storage.sessions.listActive(id!, Date.now(), { limit: 10, offset: 0 })).total, 0);
  });
});

/** An access token from flask-jwt-extended's create_access_token(identity=<a string>), roles ["user"]. */
function flaskAccess(identity: string): string {
  return execFileSync(PYTHON, [script, 'create', identity], { env: { ...process.env, SECRET_KEY: TEST_SECRET }, encoding: 'utf8' }).trim();
}
const forwardAuth = (s: Running, token: string) => call(`${s.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${token}` } });

describe("the Flask app's access tokens: what ends a user's tokens in Warden ends theirs too", { skip: flaskMissing }, () => {
  // They name the user by its old id (a string sub passes the guard with the shared key), which no
  // record keyed by the Warden id reached: a deactivated user's passed until it expired.
  let s: Running;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  const signIn = async (username: string): Promise<string> => {
    const r = await call(`${s.url}/api/auth/signin`, { json: { username, password: PASSWORD } });
    assert.equal(r.status, 200, r.text);
    return r.json.access_token as string;
  };
  const ends: Record<string, (id: string, username: string) => Promise<unknown>> = {
    'a deactivation': (id) => s.warden.accounts.admin.update(id, { is_active: false }),
    "an administrator's end of every session": (id) => s.warden.accounts.admin.endAllSessions(id),
    'a deletion': (id) => s.warden.accounts.admin.delete(id),
    'the user signing out everywhere': async (_id, username) => {
      const r = await call(`${s.url}/api/v1/auth/logout?scope=global`, { method: 'POST', headers: { authorization: `Bearer ${await signIn(username)}` } });
      assert.equal(r.status, 200, r.text);
    },
  };
  let n = 600;
  for (const [name, end] of Object.entries(ends)) {
    it(`${name} refuses a token whose sub is the user's legacy_id; another user's still passes`, async () => {
      const [a, b] = [++n, ++n];
      const [id] = await importUsers(s, [{ id: a, username: `flask${a}` }, { id: b, username: `flask${b}` }]);
      const token = flaskAccess(String(a));
      const other = flaskAccess(String(b));
      const before = await forwardAuth(s, token);
      assert.equal(before.status, 200, before.text);
      assert.equal(before.headers.get('x-auth-user'), String(a));
      await end(id!, `flask${a}`);
      const after = await forwardAuth(s, token);
      assert.equal(after.status, 401, after.text);
      assert.match(after.text, /Token has been revoked/);
      assert.equal((await forwardAuth(s, other)).status, 200);
    });
  }

  it('with LEGACY_REFRESH_PREFIX, the sub is the legacy_id less its prefix (shop:42 is "42")', async () => {
    const p = await startServer({ ...ON, LEGACY_REFRESH_PREFIX: 'shop' });
    try {
      const [id] = await importUsers(p, [{ id: 42, username: 'shopper' }], 'shop');
      const token = flaskAccess('42');
      assert.equal((await forwardAuth(p, token)).status, 200);
      await p.warden.accounts.admin.endAllSessions(id!);
      const r = await forwardAuth(p, token);
      assert.equal(r.status, 401, r.text);
      assert.match(r.text, /Token has been revoked/);
    } finally {
      await p.close();
    }
  });
});

describe('two instances on PostgreSQL exchanging one token at once', { skip: flaskMissing }, async () => {
  const db = await scratchSchema('warden_legacy_refresh_race');
  it('exactly one is answered a new pair; the other is refused and opens nothing', db.skip !== undefined ? { skip: db.skip } : {}, async () => {
    const race = await heldRace(db, 2, { env: ON });
    const { servers, lock } = race;
    try {
      const [id] = await importUsers(servers[0]!, [{ id: 7, username: 'racer' }]);
      const token = flaskRefresh(7);
      // Holding the user's row: the first exchange waits there (its session's insert reads the row),
      // the second on the first's uncommitted record of the token.
      const done = await race.behind('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [id],
        servers.map((s) => () => call(`${s.url}/api/auth/refresh`, { json: { refresh_token: token } })));
      assert.deepEqual(done.map((r) => r.status).sort(), [200, 401], done.map((r) => r.text).join(' / '));
      assert.match(done.find((r) => r.status === 401)!.text, /Token has been revoked/);
      const sessions = await lock.query('SELECT count(*)::int AS n FROM sessions WHERE user_id = $1', [id]);
      assert.equal(sessions.rows[0].n, 1);
      const events = await lock.query("SELECT count(*)::int AS n FROM events WHERE type = 'session.migrated' AND user_id = $1", [id]);
      assert.equal(events.rows[0].n, 1);
    } finally {
      await race.close();
    }
  });
});
