// Two Warden instances sharing PostgreSQL and Redis, both sending through one real SMTP server:
// a reset asked on one and completed on the other refuses every old session on both; the mail
// limits count across instances (Redis); and the two outbox workers never send one message twice.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { redisCounter, type WindowCounter } from '../src/limits/window-counter.js';
import { createRedisBus } from '../src/revocation/redis-bus.js';
import type { UserRecord } from '../src/storage/types.js';
import { sharedDatabase, sharedSkip, type SharedDatabase } from './helpers/instances.js';
import { REDIS_URL, testChannel, watchedBus, type WatchedBus } from './helpers/redis.js';
import { call, startServer, type Running } from './helpers/server.js';
import { eventually, startSmtp, tokenIn, type TestSmtp } from './helpers/smtp.js';

const PASSWORD = 'password-123';
const skip = await sharedSkip();

describe('email with two instances, PostgreSQL + Redis', skip !== undefined ? { skip } : {}, () => {
  let a: Running;
  let b: Running;
  let db: SharedDatabase;
  let smtp: TestSmtp;
  let counter: WindowCounter;
  let busA: WatchedBus;
  before(async () => {
    smtp = await startSmtp();
    db = await sharedDatabase();
    // Both instances count mail requests in the same Redis keys, a prefix of this run's own.
    counter = redisCounter(REDIS_URL, { prefix: `${testChannel()}:limit:` });
    const env = {
      SMTP_URL: smtp.url, SMTP_REQUIRE_TLS: 'true', SMTP_TLS_CA_FILE: smtp.caFile, MAIL_FROM: 'Warden <no-reply@warden.test>',
      MAIL_LIMIT_PER_ADDRESS: '3', MAIL_LIMIT_PER_IP: '0',
    };
    const email = { tuning: { pollMs: 50, retryBaseMs: 50, retryMaxMs: 200 } };
    busA = watchedBus(createRedisBus(REDIS_URL, db.channel));
    a = await startServer(env, { storage: db.storages[0], bus: busA.bus, email, limitCounter: counter });
    b = await startServer(env, { storage: db.storages[1], bus: createRedisBus(REDIS_URL, db.channel), email, limitCounter: counter });
  });
  after(async () => {
    await a.close();
    await b.close();
    await db.close();
    await counter.close();
    await smtp.close();
  });

  const verifyOn = (s: Running, token: string) => call(`${s.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${token}` } });
  const login = async (s: Running, email: string, password = PASSWORD) =>
    (await call(`${s.url}/api/v1/auth/login`, { form: { username: email, password } })).json?.data?.access_token as string | undefined;

  it('forgot on A → mail → reset on B: the old sessions are refused on both instances; the new password works', async () => {
    const email = 'multi1@example.com';
    const signup = await call(`${a.url}/api/v1/auth/signup`, { json: { username: 'multi1', email, password: PASSWORD } });
    const userId = signup.json.data.id as string;
    const onA = (await login(a, email))!;
    const onB = (await login(b, email))!;
    for (const [s, t] of [[a, onA], [a, onB], [b, onA], [b, onB]] as const) assert.equal((await verifyOn(s, t)).status, 200);

    assert.equal((await call(`${a.url}/api/v1/auth/password/forgot`, { json: { email } })).status, 202);
    const mail = await smtp.waitFor((m) => m.to === email && m.subject === 'Reset your password');
    // A learns over Redis that every token of the user issued until now is refused.
    const learnt = busA.applied(userId);
    const reset = await call(`${b.url}/api/v1/auth/password/reset`, { json: { token: tokenIn(mail), new_password: 'multi-new-pass-1' } });
    assert.equal(reset.status, 200, reset.text);
    await learnt;
    for (const [s, t] of [[a, onA], [a, onB], [b, onA], [b, onB]] as const) {
      const r = await verifyOn(s, t);
      assert.equal(r.status, 401, `${s === a ? 'A' : 'B'} still accepts an old token`);
    }
    assert.equal(await login(a, email), undefined, 'the old password is refused');
    const fresh = await login(a, email, 'multi-new-pass-1');
    assert.ok(fresh);
    assert.equal((await verifyOn(b, fresh)).status, 200);
  });

  it('the mail limit per address counts requests on both instances together', async () => {
    const address = `shared-limit-${randomBytes(3).toString('hex')}@example.com`;
    const forgot = (s: Running) => call(`${s.url}/api/v1/auth/password/forgot`, { json: { email: address } });
    assert.equal((await forgot(a)).status, 202);
    assert.equal((await forgot(b)).status, 202);
    assert.equal((await forgot(a)).status, 202);
    const fourth = await forgot(b);
    assert.equal(fourth.status, 429);
    assert.ok(Number(fourth.headers.get('retry-after')) > 0);
  });

  it('both workers claim from one outbox: 30 notices, each delivered exactly once', async () => {
    // Ten users, three notices each: security notices to one address are capped at MAIL_LIMIT_PER_ADDRESS (3 here).
    const users: UserRecord[] = [];
    for (let i = 0; i < 11; i++) {
      const username = `claims${i}`;
      users.push(await a.warden.accounts.credentials.signUp({ username, email: `${username}@example.com`, password: PASSWORD }, { kind: 'system', task: 'test' }));
    }
    // Only these users' mail counts: an earlier test's mail may still be arriving (a slow machine).
    const ours = () => smtp.delivered.filter((m) => /^claims\d+@example\.com$/.test(m.to));
    // Queued on both instances at once, so both workers race for the rows.
    await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).warden.accounts.email!.notices.passwordChanged(users[i % 10]!)));
    await eventually(() => (ours().length >= 30 ? true : undefined), '30 deliveries', 20_000);
    // One more message through both workers, so a duplicate would have had its chance.
    await a.warden.accounts.email!.notices.passwordChanged(users[10]!);
    await eventually(() => (ours().length >= 31 ? true : undefined), 'the marker');
    const ids = ours().map((m) => m.messageId);
    assert.equal(ids.length, 31);
    assert.equal(new Set(ids).size, 31, 'a message was sent twice');
  });
});
