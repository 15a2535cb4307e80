// Instances whose clocks disagree (no NTP, a clock stepped by hand, a host set to local time), on
// one database: each server here is given a clock of its own, as a process under faketime would read.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sharedDatabase, type SharedDatabase } from './helpers/instances.js';
import { storageFactories } from './helpers/storage.js';
import { call, startServer, type Running } from './helpers/server.js';

const skip = (await storageFactories()).find((f) => f.name === 'postgres')!.skip;
const SKEW = 30_000;

describe('instances whose clocks disagree, on PostgreSQL', skip !== undefined ? { skip } : {}, () => {
  let db: SharedDatabase;
  const running: Running[] = [];
  before(async () => {
    db = await sharedDatabase(2);
  });
  after(async () => {
    for (const s of running) await s.close();
    await db.close();
  });
  const start = async (env: Record<string, string>, clock: () => number, storage = db.reopen()) => {
    const s = await startServer(env, { storage, clock });
    running.push(s);
    return s;
  };
  const refresh = (s: Running, token: string) => call(`${s.url}/api/v1/auth/refresh?refresh_token=${token}`, { method: 'POST' });

  it('a refresh token retried at once on an instance ahead by the allowed skew gets the grace, not a sign-out', async () => {
    // What the README asks of instances this far apart: JWT_LEEWAY_SECONDS covering their skew.
    const env = { JWT_LEEWAY_SECONDS: String(SKEW / 1000) };
    const a = await start(env, Date.now, db.storages[0]);
    const b = await start(env, () => Date.now() + SKEW, db.storages[1]);
    await call(`${a.url}/api/auth/signup`, { json: { username: 'skewed', email: 'skewed@example.com', password: 'password-123' } });
    const login = await call(`${a.url}/api/v1/auth/login`, { form: { username: 'skewed@example.com', password: 'password-123' } });
    const first = login.json.data.refresh_token as string;
    const rotated = await refresh(a, first);
    assert.equal(rotated.status, 200);
    // Two tabs behind a balancer: the second presents the same token a moment later, on B.
    const retried = await refresh(b, first);
    assert.equal(retried.status, 200, `the retry was refused: ${retried.json?.message}`);
    assert.equal((await refresh(a, rotated.json.data.refresh_token)).status, 200, 'the session goes on');
  });

  it('an instance whose clock is hours ahead purges no revocation another instance still needs', async () => {
    const a = await start({}, Date.now);
    // A host set to local time rather than UTC (Tokyo's nine hours): past even POST /api/login's
    // 8-hour tokens, whose revocations last 8 h 10 min.
    const ahead = await start({}, () => Date.now() + 9 * 3600_000);
    await call(`${a.url}/api/auth/signup`, { json: { username: 'purged', email: 'purged@example.com', password: 'password-123' } });
    const login = await call(`${a.url}/api/auth/signin`, { json: { username: 'purged', password: 'password-123' } });
    const token = login.json.access_token as string;
    const verify = (s: Running) => call(`${s.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal((await call(`${a.url}/api/auth/signout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status, 200);
    assert.equal((await verify(a)).status, 401);
    await ahead.warden.revoker.sweep(); // what its minute's timer runs
    // An instance started now (a restart, a deploy, a scale-out) loads its index from the database.
    const later = await start({}, Date.now);
    const r = await verify(later);
    assert.equal(r.status, 401, 'a signed-out token passed on an instance started after the purge');
    assert.equal(r.json.message, 'Token has been revoked');
  });
});
