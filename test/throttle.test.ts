// Failed sign-in throttle: 429 with Retry-After after too many failures for one (IP, login),
// right password or not, until the window passes; other logins are unaffected.
// Each test has its own server, clock and users. (The rules themselves: test/unit/throttle.test.ts.)
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { testClock, type TestClock } from './helpers/clock.js';
import { call, startServer, type Running } from './helpers/server.js';

describe('sign-in throttle', () => {
  let s: Running;
  let clock: TestClock;
  beforeEach(async () => {
    clock = testClock();
    s = await startServer({ SIGNIN_MAX_FAILURES: '3', SIGNIN_MAX_FAILURES_PER_IP: '6', SIGNIN_WINDOW_MINUTES: '10' }, { clock });
    for (const u of ['victim', 'other', 'third']) {
      await call(`${s.url}/api/auth/signup`, { json: { username: u, email: `${u}@example.com`, password: 'password-123' } });
    }
  });
  afterEach(() => s.close());

  const signin = (username: string, password: string) => call(`${s.url}/api/auth/signin`, { json: { username, password } });

  it('locks the (ip, login) pair after the limit, even for the right password, until the window passes', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await signin('victim', 'wrong-password')).status, 401);
    const locked = await signin('victim', 'password-123');
    assert.equal(locked.status, 429);
    assert.equal(locked.json.code, 'ERR_RATE_LIMITED');
    assert.equal(locked.headers.get('retry-after'), '600');
    // Another user is free.
    assert.equal((await signin('other', 'password-123')).status, 200);
    // OAuth's password grant shares the throttle.
    const oauth = await call(`${s.url}/oauth/token`, { form: { grant_type: 'password', username: 'victim', password: 'password-123' } });
    assert.equal(oauth.status, 429);
    clock.advance(601_000);
    assert.equal((await signin('victim', 'password-123')).status, 200);
  });

  it('concurrent guesses get no more than the limit: each attempt counts while its password is being checked', async () => {
    // All sent at once: every one of them used to pass the check before the first hash was done
    // and counted (40 wrong passwords against a limit of 5 were all checked; the hash queue holds ~1,000).
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => signin('victim', `wrong-password-${i}`)));
    const statuses = burst.map((r) => r.status);
    assert.equal(statuses.filter((x) => x === 401).length, 3, `3 guesses checked, the others refused: ${statuses.join(' ')}`);
    assert.equal(statuses.filter((x) => x === 429).length, 17);
    assert.equal((await signin('victim', 'password-123')).status, 429, 'and the pair is locked');
    // The per-IP limit (6) holds against a burst across logins too.
    const spray = await Promise.all(Array.from({ length: 20 }, (_, i) => signin(`nobody${i}`, 'wrong-password')));
    assert.ok(spray.filter((r) => r.status === 401).length <= 6 - 3, spray.map((r) => r.status).join(' '));
    // A refused attempt holds nothing: once the window passes, the right password signs in.
    clock.advance(601_000);
    assert.equal((await signin('victim', 'password-123')).status, 200);
  });

  it('concurrent right passwords, more than the limit, all sign in: they wait for the ones in flight, never refused', async () => {
    const burst = await Promise.all(Array.from({ length: 10 }, () => signin('other', 'password-123')));
    assert.deepEqual(burst.map((r) => r.status), Array(10).fill(200));
  });

  it('a success clears the pair; the per-IP limit catches a spray across logins', async () => {
    for (let i = 0; i < 2; i++) assert.equal((await signin('other', 'wrong-password')).status, 401);
    assert.equal((await signin('other', 'password-123')).status, 200);
    for (let i = 0; i < 2; i++) assert.equal((await signin('other', 'wrong-password')).status, 401);
    assert.equal((await signin('other', 'password-123')).status, 200, 'the earlier failures were forgotten');
    // 4 IP failures so far; two more reach 6.
    for (const u of ['third', 'nobody']) assert.equal((await signin(u, 'wrong-password')).status, 401);
    assert.equal((await signin('third', 'password-123')).status, 429);
  });

  it('an account\'s username and email share one budget: failures under one name lock the other', async () => {
    for (const login of ['victim', 'VICTIM@example.com']) assert.equal((await signin(login, 'wrong-password')).status, 401);
    assert.equal((await signin('victim@example.com', 'wrong-password')).status, 401);
    for (const login of ['victim', 'victim@example.com']) assert.equal((await signin(login, 'password-123')).status, 429, login);
    clock.advance(601_000);
    // A success under one name clears the other's count too.
    for (let i = 0; i < 2; i++) assert.equal((await signin('victim', 'wrong-password')).status, 401);
    assert.equal((await signin('victim@example.com', 'password-123')).status, 200);
    for (let i = 0; i < 2; i++) assert.equal((await signin('victim', 'wrong-password')).status, 401);
    assert.equal((await signin('victim', 'password-123')).status, 200, 'the two earlier failures were cleared');
  });

  it('an address typed in another Unicode form (NFD, NFC or mixed) is the same login: no fresh budget per spelling', async () => {
    // Sign-in finds "josé@example.com" however its accents are typed (stored and looked up NFC);
    // the throttle must count it as one login too, else each spelling buys SIGNIN_MAX_FAILURES more guesses.
    const nfc = 'jos\u00e9.ren\u00e9@example.com';
    await call(`${s.url}/api/auth/signup`, { json: { username: 'jose', email: nfc, password: 'password-123' } });
    const spellings = [nfc, nfc.normalize('NFD'), 'jose\u0301.ren\u00e9@example.com', 'jos\u00e9.rene\u0301@EXAMPLE.com'];
    for (const login of spellings.slice(1)) assert.equal((await signin(login, 'password-123')).status, 200, `${JSON.stringify(login)} signs in`);
    for (let i = 0; i < 3; i++) assert.equal((await signin(nfc, 'wrong-password')).status, 401);
    for (const login of spellings) {
      const r = await signin(login, 'password-123');
      assert.equal(r.status, 429, `${JSON.stringify(login)} is throttled like the address it names`);
    }
  });

  it('a wrong current password on a password change counts as a failed sign-in: a token does not buy unlimited guesses', async () => {
    const token = (await signin('victim', 'password-123')).json.access_token as string;
    const change = (current: string) => call(`${s.url}/api/v1/auth/password`, {
      json: { current_password: current, new_password: 'new-password-456' }, headers: { authorization: `Bearer ${token}` },
    });
    for (let i = 0; i < 3; i++) assert.equal((await change('wrong-password')).status, 401);
    const locked = await change('password-123');
    assert.equal(locked.status, 429, 'the right password too, until the window ends');
    assert.equal(locked.json.code, 'ERR_RATE_LIMITED');
    // The same bucket as the username's sign-ins from this IP, and the password is unchanged.
    assert.equal((await signin('victim', 'password-123')).status, 429);
    const failed = await s.warden.storage.events.list({ types: ['password.change_failed'], limit: 10 });
    assert.equal(failed.length, 3);
    clock.advance(601_000);
    assert.equal((await change('password-123')).status, 200);
    assert.equal((await signin('victim', 'new-password-456')).status, 200);
  });
});

// The client a limit counts: an IPv6 client by its /64 (src/limits/client-key.ts), read here from
// X-Forwarded-For past one trusted proxy (TRUST_PROXY=1), as behind a load balancer.
describe('sign-in throttle: who a client is', () => {
  let s: Running;
  let clock: TestClock;
  beforeEach(async () => {
    clock = testClock();
    s = await startServer({ TRUST_PROXY: '1', SIGNIN_MAX_FAILURES: '3', SIGNIN_MAX_FAILURES_PER_IP: '6', SIGNIN_WINDOW_MINUTES: '10' }, { clock });
    await call(`${s.url}/api/auth/signup`, { json: { username: 'victim', email: 'victim@example.com', password: 'password-123' } });
  });
  afterEach(() => s.close());

  const from = (ip: string, username: string, password: string) =>
    call(`${s.url}/api/auth/signin`, { json: { username, password }, headers: { 'x-forwarded-for': ip } });

  it('the addresses of one IPv6 /64 spend one budget, however they are written; another /64 and IPv4 clients have their own', async () => {
    for (const ip of ['2001:db8:1:2::1', '2001:db8:1:2:ffff::9', '2001:0DB8:0001:0002:0:0:0:abcd']) {
      assert.equal((await from(ip, 'victim', 'wrong-password')).status, 401);
    }
    const locked = await from('2001:db8:1:2:dead:beef:0:1', 'victim', 'password-123');
    assert.equal(locked.status, 429, 'a fourth address of the same /64 gets no fresh budget');
    assert.equal((await from('2001:db8:1:3::1', 'victim', 'password-123')).status, 200, 'the next /64 is another client');
    // IPv4, and an IPv4 peer as a dual-stack socket reports it, are one client.
    for (let i = 0; i < 3; i++) assert.equal((await from('192.0.2.7', 'victim', 'wrong-password')).status, 401);
    assert.equal((await from('::ffff:192.0.2.7', 'victim', 'password-123')).status, 429);
    assert.equal((await from('192.0.2.8', 'victim', 'password-123')).status, 200);
    const stored = await s.warden.storage.events.list({ types: ['signin.failed'], limit: 10 });
    assert.ok(stored.some((e) => e.ip === '2001:db8:1:2:ffff::9'), 'events keep the whole address');
  });

  it('a throttled client records one signin.throttled per login, at most 20 in a window however many logins it tries; malformed attempts are throttled and counted like wrong passwords', async () => {
    const ip = '198.51.100.4';
    // Over-long logins: each a refusal and an event, until the per-IP budget (6) is spent.
    const long = 'x'.repeat(400);
    for (let i = 0; i < 6; i++) assert.equal((await from(ip, `${i}-${long}`, 'whatever-password')).status, 401, `malformed ${i}`);
    for (let i = 0; i < 30; i++) assert.equal((await from(ip, `${i}-${long}`, 'whatever-password')).status, 429);
    for (let i = 0; i < 30; i++) assert.equal((await from(ip, `spray-${i}`, 'whatever-password')).status, 429);
    const events = async (type: 'signin.failed' | 'signin.throttled') => (await s.warden.storage.events.list({ types: [type], limit: 100 })).filter((e) => e.ip === ip);
    assert.equal((await events('signin.failed')).length, 6, 'the malformed refusals within the budget, and no more');
    assert.equal((await events('signin.throttled')).length, 20);
    // Another client is unaffected, and the window's end starts the count again.
    assert.equal((await from('198.51.100.5', 'victim', 'password-123')).status, 200);
    clock.advance(601_000);
    assert.equal((await from(ip, 'victim', 'wrong-password')).status, 401, 'a new window');
  });
});
