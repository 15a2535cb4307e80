// Every bad input gets a clear 4xx and changes nothing; no input reaches a 500.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Storage } from '../src/storage/types.js';
import { call, startServer, type Running } from './helpers/server.js';
import { storageFactories } from './helpers/storage.js';

// The same hostile inputs against SQLite and PostgreSQL: each database refuses different things
// (PostgreSQL text cannot hold NUL, for one), and none of it may surface as a 500.
const factories = (await storageFactories()).filter((f) => f.name !== 'memory');

for (const f of factories) describe(`bad input (${f.name})`, f.skip !== undefined ? { skip: f.skip } : {}, () => {
  let s: Running;
  let url: string;
  let storage: Storage;
  before(async () => {
    storage = await f.create();
    s = await startServer({ BODY_LIMIT_BYTES: '4096' }, { storage });
    url = s.url;
    const r = await call(`${url}/api/auth/signup`, { json: { username: 'alice', email: 'alice@example.com', password: 'correct horse' } });
    assert.equal(r.status, 201);
  });
  after(async () => {
    await s.close();
    await storage.close();
    await f.cleanup();
  });

  const usersNow = () => s.warden.storage.users.count();

  it('malformed JSON is 400', async () => {
    const r = await call(`${url}/api/auth/signup`, { body: '{"username": "bob",', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'ERR_BAD_JSON');
    assert.equal(await usersNow(), 1);
  });

  it('prototype poisoning in JSON is refused with 400', async () => {
    const r = await call(`${url}/api/auth/signup`, { body: '{"username":"bob","__proto__":{"roles":["admin"]}}', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 400);
  });

  it('a media type other than JSON or form is 415 with the seed text', async () => {
    for (const ct of ['text/plain', 'application/xml', 'multipart/form-data; boundary=x']) {
      const r = await call(`${url}/api/auth/signin`, { body: 'username=alice&password=correct horse', headers: { 'content-type': ct } });
      assert.equal(r.status, 415, ct);
      assert.equal(r.json.detail, 'Unsupported Media Type. Use either application/json or application/x-www-form-urlencoded.');
    }
    const none = await fetch(`${url}/api/auth/signin`, { method: 'POST' });
    assert.equal(none.status, 415);
  });

  it('missing username or password is 400 with the seed text', async () => {
    for (const body of [{ username: 'alice' }, { password: 'x' }, {}, { username: '', password: '' }]) {
      const r = await call(`${url}/api/auth/signin`, { json: body });
      assert.equal(r.status, 400);
      assert.equal(r.json.detail, 'Username and password are required.');
    }
  });

  it('an invalid field is 422 naming it, and nothing is created', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ username: 'b', email: 'b@example.com', password: 'longenough' }, 'username'],
      [{ username: 'bob', email: 'not-an-email', password: 'longenough' }, 'email'],
      [{ username: 'bob', email: 'bob@example.com', password: 'short' }, 'password'],
      [{ username: 'bob', email: 'bob@example.com', password: 'x'.repeat(1025) }, 'password'],
      [{ username: 'bob', email: 'bob@example.com', password: 'longenough', roles: 'admin' }, 'roles'],
      [{ username: 'bob', email: 'bob@example.com', password: 12345678 }, 'password'],
      [{ username: ['bob'], email: 'bob@example.com', password: 'longenough' }, 'username'],
      [{ username: 'bob', email: 'b\u0000ob@example.com', password: 'longenough' }, 'email'],
      [{ username: 'bob', email: 'bob@example.com', password: 'longenough', full_name: 'Bob\u0000' }, 'full_name'],
      // Addresses that look like another or would put something else in a mail header.
      [{ username: 'bob', email: 'b\u0001ob@example.com', password: 'longenough' }, 'email'], // a control character
      [{ username: 'bob', email: 'bob@exam\u200bple.com', password: 'longenough' }, 'email'], // zero-width space
      // Drawn as nothing, though not format characters: each made a second "bob@example.com".
      [{ username: 'bob', email: 'bob\u034f@example.com', password: 'longenough' }, 'email'], // combining grapheme joiner
      [{ username: 'bob', email: 'bob\ufe0f@example.com', password: 'longenough' }, 'email'], // variation selector 16
      [{ username: 'bob', email: 'bob\u3164@example.com', password: 'longenough' }, 'email'], // Hangul filler
      [{ username: 'bob', email: 'b\u115fob@example.com', password: 'longenough' }, 'email'], // Hangul choseong filler
      [{ username: 'bob', email: 'bo\u180bb@example.com', password: 'longenough' }, 'email'], // Mongolian free variation selector
      [{ username: 'bob', email: '\u202eelpmaxe@example.com', password: 'longenough' }, 'email'], // right-to-left override
      [{ username: 'bob', email: 'a<bob>@example.com', password: 'longenough' }, 'email'],
      [{ username: 'bob', email: 'bob,eve@example.com', password: 'longenough' }, 'email'],
      [{ username: 'bob', email: 'b\ud800ob@example.com', password: 'longenough' }, 'email'], // a lone surrogate
      [{ username: 'bob', email: 'bob@example.com', password: 'longenough', full_name: 'Bob\ud800' }, 'full_name'],
      [{ username: 'bob', email: 'bob@example.com', password: 'longenough', full_name: 'Bob\nSmith' }, 'full_name'],
      // A name that reads otherwise than it is written, in the console and in mails.
      [{ username: 'bob', email: 'bob@example.com', password: 'longenough', full_name: 'Bob \u202enimdA' }, 'full_name'], // right-to-left override
      [{ username: 'bob', email: 'bob@example.com', password: 'longenough', full_name: 'Bob \u2067x\u2069' }, 'full_name'], // an isolate
    ];
    for (const [body, fieldName] of cases) {
      const r = await call(`${url}/api/auth/signup`, { json: body });
      assert.equal(r.status, 422, JSON.stringify(body).slice(0, 80));
      assert.equal(r.json.field, fieldName);
      assert.match(r.json.detail, new RegExp(`^${fieldName}:`));
    }
    assert.equal(await usersNow(), 1);
    // What a real name in some scripts needs stays allowed: joiners and direction marks.
    const named = await call(`${url}/api/auth/signup`, { json: { username: 'named', email: 'named@example.com', password: 'longenough', full_name: '\u0645\u200d\u062d\u0645\u062f \u200fA' } });
    assert.equal(named.status, 201, named.text);
    await s.warden.storage.users.delete(named.json.id); // the later tests count the users
  });

  it('a sign-up or an administrator\'s change with several invalid fields names them all in one 422 (fields), and changes nothing', async () => {
    const bad = { username: 'a b', email: 'nope', password: 'short', full_name: 'Bob\nSmith', roles: 'admin' };
    const wanted = ['username', 'email', 'password', 'full_name', 'roles'];
    for (const [path, family] of [['/api/auth/signup', 'detail'], ['/api/v1/auth/signup', 'message']] as const) {
      const r = await call(`${url}${path}`, { json: bad });
      assert.equal(r.status, 422, r.text);
      assert.equal(r.json.field, 'username', 'the first leads, as a single failure would');
      assert.match(r.json[family], /^username: /);
      assert.deepEqual(r.json.fields.map((f: { field: string }) => f.field), wanted);
      for (const f of r.json.fields) assert.match(f.message, new RegExp(`^${f.field}: `));
    }
    assert.equal(await usersNow(), 1);

    const boss = await s.warden.accounts.credentials.signUp({ username: 'boss', email: 'boss@example.com', password: 'boss-password', roles: ['admin'] }, { kind: 'system', task: 'test' });
    const signin = await call(`${url}/api/auth/signin`, { json: { username: 'boss', password: 'boss-password' } });
    const alice = (await s.warden.storage.users.findByLogin('alice'))!;
    const r = await call(`${url}/api/v1/users/${alice.id}`, {
      method: 'PATCH', json: { full_name: 'Alice A', email: 'nope', is_active: 'no', password: 'short' }, headers: { authorization: `Bearer ${signin.json.access_token}` },
    });
    assert.equal(r.status, 422, r.text);
    assert.deepEqual(r.json.fields.map((f: { field: string }) => f.field), ['is_active', 'email', 'password']);
    const after = (await s.warden.storage.users.findByLogin('alice'))!;
    assert.equal(after.fullName, alice.fullName, 'the valid field given beside them is not written either');
    assert.equal(after.updatedAt, alice.updatedAt);
    await s.warden.storage.users.delete(boss.id); // the later tests count the users
  });

  it('a long password (within the cap) is accepted and never truncated', async () => {
    const long = 'p'.repeat(1000);
    const r = await call(`${url}/api/auth/signup`, { json: { username: 'longpw', email: 'longpw@example.com', password: long } });
    assert.equal(r.status, 201);
    assert.equal((await call(`${url}/api/auth/signin`, { json: { username: 'longpw', password: long } })).status, 200);
    // A password that differs only past byte 72 (bcrypt's silent cut) is a different password.
    assert.equal((await call(`${url}/api/auth/signin`, { json: { username: 'longpw', password: 'p'.repeat(999) + 'q' } })).status, 401);
  });

  it('a taken username (any case) or email is 409', async () => {
    const a = await call(`${url}/api/auth/signup`, { json: { username: 'ALICE', email: 'other@example.com', password: 'longenough' } });
    assert.equal(a.status, 409);
    assert.equal(a.json.field, 'username');
    const b = await call(`${url}/api/auth/signup`, { json: { username: 'alice2', email: ' Alice@Example.COM ', password: 'longenough' } });
    assert.equal(b.status, 409);
    assert.equal(b.json.field, 'email');
  });

  it('an address is one address however its accents are encoded (NFC): the second is 409, and either form signs in', async () => {
    const composed = 'jos\u00e9@example.com';
    const decomposed = 'jose\u0301@example.com';
    const first = await call(`${url}/api/auth/signup`, { json: { username: 'jose1', email: decomposed, password: 'longenough' } });
    assert.equal(first.status, 201);
    assert.equal(first.json.email, composed, 'stored precomposed');
    const second = await call(`${url}/api/auth/signup`, { json: { username: 'jose2', email: composed, password: 'longenough' } });
    assert.equal(second.status, 409);
    assert.equal(second.json.field, 'email');
    for (const login of [composed, decomposed]) {
      assert.equal((await call(`${url}/api/auth/signin`, { json: { username: login, password: 'longenough' } })).status, 200, JSON.stringify(login));
    }
  });

  it('a body over the cap is 413', async () => {
    const r = await call(`${url}/api/auth/signup`, { json: { username: 'big', email: 'big@example.com', password: 'longenough', full_name: 'x'.repeat(5000) } });
    assert.equal(r.status, 413);
    const f = await call(`${url}/api/auth/signin`, { form: { username: 'alice', password: 'y'.repeat(5000) } });
    assert.equal(f.status, 413);
  });

  it('wrong credentials: 401, WWW-Authenticate: Bearer, the same answer whether the user exists or not', async () => {
    const wrongPw = await call(`${url}/api/auth/signin`, { json: { username: 'alice', password: 'wrong password' } });
    const noUser = await call(`${url}/api/auth/signin`, { json: { username: 'nobody', password: 'wrong password' } });
    for (const r of [wrongPw, noUser]) {
      assert.equal(r.status, 401);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer');
    }
    assert.deepEqual(wrongPw.json, noUser.json);
    assert.equal(wrongPw.json.detail, 'Invalid username or password');
  });

  it('a login with a lone surrogate, or whose 64th character is an emoji cut in half, is 401 and its refusal is recorded', async () => {
    // The event keeps the first 64 characters of an unknown login: cut between the two halves of
    // a pair, or sent as a lone half, it is no text PostgreSQL's jsonb takes.
    const logins = ['\ud800nobody', `${'a'.repeat(63)}\u{1F600}`, 'nobody\udfff', '\u{1F600}'.repeat(70)];
    for (const login of logins) {
      const r = await call(`${url}/api/auth/signin`, { json: { username: login, password: 'wrong password' } });
      assert.equal(r.status, 401, JSON.stringify(r.json));
      assert.equal(r.json.code, 'ERR_BAD_CREDENTIALS');
    }
    const kept = (await s.warden.storage.events.list({ limit: 10, types: ['signin.failed'] }))
      .slice(0, logins.length).reverse().map((e) => (e.details as { login?: string }).login);
    assert.deepEqual(kept, ['\ufffdnobody', `${'a'.repeat(63)}\u{1F600}`, 'nobody\ufffd', '\u{1F600}'.repeat(64)]);
  });

  it('a sessionless token another holder of the key minted, with exp in fractional seconds or far off, is revoked and signed out, not a 500', async () => {
    // RFC 7519's NumericDate may carry a fraction (PyJWT keeps `time.time() + 600` as it is): its
    // revocation record's expiry in milliseconds was no integer, which PostgreSQL's bigint refused.
    const { createTokenIssuer } = await import('../toolkit/src/tokens/issue.js');
    const alice = (await s.warden.storage.users.findByLogin('alice'))!;
    const mint = createTokenIssuer({ keys: s.warden.keys, accessExpiresIn: 900, refreshExpiresIn: 3600 });
    for (const exp of [600.1234, 1e300]) {
      const token = () => mint.createAccessToken(alice.id, { expiresIn: exp });
      const revoked = token();
      assert.equal((await call(`${url}/oauth/revoke`, { form: { token: revoked } })).status, 200, `revoke, exp ${exp}`);
      assert.equal((await call(`${url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${revoked}` } })).status, 401);
      const out = token();
      assert.equal((await call(`${url}/api/v1/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${out}` } })).status, 200, `logout, exp ${exp}`);
      assert.equal((await call(`${url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${out}` } })).status, 401);
    }
  });

  it('a token another holder of the key minted with a jti no revocation can store (NUL, half a surrogate pair) is refused, not a 500 at sign-out', async () => {
    const { createTokenIssuer } = await import('../toolkit/src/tokens/issue.js');
    const alice = (await s.warden.storage.users.findByLogin('alice'))!;
    const mint = createTokenIssuer({ keys: s.warden.keys, accessExpiresIn: 900, refreshExpiresIn: 3600 });
    for (const jti of ['a\u0000b', 'x\ud800', '\udc00y']) {
      const token = mint.createAccessToken(alice.id, { jti });
      const verify = await call(`${url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${token}` } });
      assert.deepEqual([verify.status, verify.json?.code], [401, 'ERR_JWT_CLAIM_INVALID'], JSON.stringify(jti));
      assert.equal((await call(`${url}/api/v1/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status, 401);
      assert.equal((await call(`${url}/oauth/revoke`, { form: { token } })).status, 200, 'RFC 7009: an invalid token is no error');
    }
    // A whole pair is a character like any other.
    const emoji = mint.createAccessToken(alice.id, { jti: 'ok-\u{1F600}' });
    assert.equal((await call(`${url}/api/v1/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${emoji}` } })).status, 200);
    assert.equal((await call(`${url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${emoji}` } })).status, 401, 'signed out');
  });

  it('garbage tokens are 401 with a code, never 500', async () => {
    const garbage = ['x', 'a.b.c', '....', 'eyJhbGciOiJub25lIn0.e30.', 'Bearer', '\u00e9\u00e9.\u00e9.\u00e9', 'a'.repeat(10000)];
    for (const g of garbage) {
      const r = await call(`${url}/api/users`, { headers: { authorization: `Bearer ${encodeURIComponent(g)}` } });
      assert.equal(r.status, 401, g.slice(0, 20));
      assert.match(r.json.code, /^ERR_JWT_/);
    }
    const bad = await call(`${url}/api/users`, { headers: { authorization: 'Basic abc' } });
    assert.equal(bad.status, 401);
  });

  it('a query parameter given twice is 422 "must be given once", naming it, on every route that reads one', async () => {
    const signup = await call(`${url}/api/auth/signup`, { json: { username: 'repeat_admin', email: 'repeat-admin@example.com', password: 'correct horse' } });
    await s.warden.storage.users.update(signup.json.id, { roles: ['user', 'admin'] });
    const token = (await call(`${url}/api/auth/signin`, { json: { username: 'repeat_admin', password: 'correct horse' } })).json.access_token;
    const asked: [string, string][] = [
      ['/api/users', 'limit'], ['/api/users', 'offset'], ['/api/v1/auth/sessions', 'limit'],
      ...['limit', 'offset', 'email', 'username', 'role', 'active', 'verified', 'legacy'].map((p): [string, string] => ['/api/v1/users', p]),
      ['/api/v1/audit', 'actor'], ['/api/v1/audit', 'from'], ['/api/v1/auth/events', 'limit'], ['/api/v1/webhooks/deliveries', 'state'],
    ];
    for (const [path, name] of asked) {
      const r = await call(`${url}${path}?${name}=1&${name}=2`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(r.status, 422, `${path} ${name}: ${r.text}`);
      assert.match(r.text, new RegExp(`${name}: must be given once`), `${path} ${name}`);
    }
    // The pages a mail's link opens read their token from the query too, and answer a page.
    for (const path of ['/api/v1/auth/password/reset', '/api/v1/auth/verify/confirm', '/api/v1/auth/email/confirm']) {
      const r = await call(`${url}${path}?token=1&token=2`);
      assert.equal(r.status, 422, `${path}: ${r.text}`);
      assert.match(r.text, /token: must be given once/, path);
    }
    await s.warden.storage.users.delete(signup.json.id);
  });

  it('no input reaches a 500: every route with hostile bodies', async () => {
    const routes: [string, string][] = [
      ['POST', '/api/auth/signup'], ['POST', '/api/auth/signin'], ['POST', '/api/auth/refresh'],
      ['GET', '/api/users'], ['POST', '/api/v1/auth/login'], ['POST', '/api/v1/auth/refresh?refresh_token=x.y.z'],
      ['GET', '/api/v1/auth/me'], ['POST', '/api/v1/auth/signup'], ['POST', '/api/v1/auth/logout?scope=bogus'],
      ['GET', '/api/v1/auth/sessions'], ['DELETE', '/api/v1/auth/sessions/..%2F..'], ['POST', '/api/v1/auth/password'],
      ['GET', '/api/v1/users?limit=-1'], ['GET', '/api/v1/users?email=%00'], ['GET', '/api/v1/users?role=a&role=b'], ['GET', '/api/v1/users/not-a-uuid'], ['PATCH', '/api/v1/users/1'],
      ['GET', '/api/v1/auth/verify'], ['POST', '/oauth/token'], ['POST', '/oauth/revoke'], ['GET', '/nope'],
      ['POST', '/api/auth/signout'], // last: it ends the admin's token for the rest of the pass
    ];
    const bodies: [string, string][] = [
      ['application/json', 'null'], ['application/json', '[]'], ['application/json', '"str"'], ['application/json', '123'],
      ['application/json', '{"username":{"$ne":null},"password":{"$gt":""}}'], ['application/json', '{"username":"a\\u0000b","password":"x"}'],
      ['application/x-www-form-urlencoded', 'username=a&username=b&password=x'], ['application/x-www-form-urlencoded', '%%%'],
      ['application/json', '{"refresh_token":12}'], ['text/plain', 'hi'],
    ];
    // Once anonymous, once as an administrator (so the admin routes' own parsing is reached too).
    await s.warden.accounts.credentials.signUp({ username: 'root', email: 'root@example.com', password: 'root-password' }, null);
    await s.warden.storage.users.update((await s.warden.storage.users.findByLogin('root'))!.id, { roles: ['admin'] });
    const admin = (await call(`${url}/api/auth/signin`, { json: { username: 'root', password: 'root-password' } })).json.access_token;
    const nulFilter = await call(`${url}/api/v1/users?email=%00`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(nulFilter.status, 422, 'the admin pass reaches the admin routes');
    for (const auth of [{}, { authorization: `Bearer ${admin}` }] as Record<string, string>[]) {
      for (const [method, path] of routes) {
        for (const [ct, body] of bodies) {
          const r = await fetch(`${url}${path}`, method === 'GET' ? { method, headers: auth } : { method, body, headers: { 'content-type': ct, ...auth } });
          assert.ok(r.status >= 200 && r.status < 500, `${method} ${path} ${ct} ${body} -> ${r.status}`);
          const text = await r.text();
          assert.doesNotMatch(text, /at .*\.(ts|js):\d+/, 'no stack trace');
        }
      }
    }
    // Nothing was created by any of it (alice, longpw, jose1, and the admin made above).
    assert.equal(await usersNow(), 4);
  });
});
