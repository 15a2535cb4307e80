// The administrators' overview (GET /api/v1/overview: users, sign-ins over the last 24 hours, live
// sessions) and the users list's legacy-hash filter (GET /api/v1/users?legacy=), over HTTP on a
// SQLite database (the counts and indexes of migration 10). A legacy hash stops being one when its
// user signs in (the rehash), exactly as `warden users list --legacy-hash` sees it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { uuidv7 } from '../src/ids/uuidv7.js';
import { call, startServer, type Running } from './helpers/server.js';

const fixtures = (JSON.parse(readFileSync(new URL('./fixtures/legacy-hashes/hashes.json', import.meta.url), 'utf8')) as { rows: { kind: string; password: string; hash: string }[] }).rows;
const werkzeug = fixtures.find((r) => r.kind === 'werkzeug-pbkdf2-sha256-1000' && r.password !== '')!;
const HOUR = 3_600_000;

describe('GET /api/v1/overview and GET /api/v1/users?legacy=', () => {
  let s: Running;
  let admin: Record<string, string>;
  const login = (username: string, password: string) => call(`${s.url}/api/v1/auth/login`, { json: { username, password } });
  const overview = async () => {
    const r = await call(`${s.url}/api/v1/overview`, { headers: admin });
    assert.equal(r.status, 200, r.text);
    return r.json.data;
  };

  before(async () => {
    s = await startServer({ SIGNIN_MAX_FAILURES: '0' });
    await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: 'admin-password-1', roles: ['admin'] } });
    for (const name of ['ann', 'ben', 'cat']) {
      assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: name, email: `${name}@example.com`, password: 'password-123' } })).status, 201);
    }
    // An imported user, still on the hash the old application made.
    await s.warden.storage.users.create({ id: randomUUID(), username: 'olduser', email: 'old@example.com', fullName: null, roles: ['user'], isActive: true, passwordHash: werkzeug.hash });
    admin = { authorization: `Bearer ${(await login('root', 'admin-password-1')).json.data.access_token}` };
  });
  after(async () => { await s?.close(); });

  it('counts users, the last 24 hours\' sign-ins and live sessions, and moves with them', async () => {
    const first = await overview();
    assert.deepEqual(first.users, { total: 5, active: 5 });
    assert.deepEqual([first.sign_ins.succeeded, first.sign_ins.failed, first.sign_ins.throttled], [1, 0, 0]);
    assert.equal(first.sessions.live, 1);
    assert.equal(Date.parse(first.at) - Date.parse(first.sign_ins.since), 24 * HOUR);

    // Two sign-ins fail, one succeeds (a live session more); an event older than 24 hours is not counted.
    assert.equal((await login('ann', 'wrong-password')).status, 401);
    assert.equal((await login('nobody', 'wrong-password')).status, 401);
    const ben = await login('ben', 'password-123');
    assert.equal(ben.status, 200);
    const old = Date.now() - 25 * HOUR;
    await s.warden.storage.events.append([{
      id: uuidv7(old), time: old, type: 'signin.failed', outcome: 'failure', actorId: null, userId: null, sessionId: null, ip: null, userAgent: null,
      details: { reason: 'unknown_login', login: 'long-ago' }, deliverTo: [],
    }]);
    // A deactivated user, and the signed-in user signing out: one active user and one live session fewer.
    const cat = (await call(`${s.url}/api/v1/users?username=cat`, { headers: admin })).json.data.items[0];
    assert.equal((await call(`${s.url}/api/v1/users/${cat.id}`, { method: 'PATCH', json: { is_active: false }, headers: admin })).status, 200);
    const second = await overview();
    assert.deepEqual(second.users, { total: 5, active: 4 });
    assert.deepEqual([second.sign_ins.succeeded, second.sign_ins.failed], [2, 2]);
    assert.equal(second.sessions.live, 2);
    assert.equal((await call(`${s.url}/api/v1/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${ben.json.data.access_token}` } })).status, 200);
    assert.equal((await overview()).sessions.live, 1);
  });

  it('is for administrators: 401 without a token, 403 for a user', async () => {
    assert.equal((await call(`${s.url}/api/v1/overview`)).status, 401);
    const user = await login('ann', 'password-123');
    const r = await call(`${s.url}/api/v1/overview`, { headers: { authorization: `Bearer ${user.json.data.access_token}` } });
    assert.equal(r.status, 403);
  });

  it('filters users on a legacy hash; the user\'s sign-in upgrades it and they leave the filter', async () => {
    const names = async (query: string) => {
      const r = await call(`${s.url}/api/v1/users?${query}`, { headers: admin });
      assert.equal(r.status, 200, query);
      return { names: r.json.data.items.map((u: { username: string }) => u.username).sort(), total: r.json.data.total };
    };
    assert.deepEqual(await names('legacy=true'), { names: ['olduser'], total: 1 });
    assert.deepEqual(await names('legacy=false'), { names: ['ann', 'ben', 'cat', 'root'], total: 4 });
    assert.deepEqual(await names('legacy=false&active=false'), { names: ['cat'], total: 1 });
    assert.deepEqual(await names('legacy=true&role=user&username=old'), { names: ['olduser'], total: 1 });
    for (const q of ['legacy=yes', 'legacy=true&legacy=false', 'legacy=']) {
      const r = await call(`${s.url}/api/v1/users?${q}`, { headers: admin });
      assert.deepEqual([r.status, r.json.code, r.json.field], [422, 'ERR_VALIDATION', 'legacy'], q);
    }
    assert.equal((await login('olduser', werkzeug.password)).status, 200);
    assert.deepEqual(await names('legacy=true'), { names: [], total: 0 });
    assert.equal((await names('legacy=false')).total, 5);
  });
});
