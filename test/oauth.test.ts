// /oauth/token and /oauth/revoke driven as an RFC 6749 / RFC 7009 client would, every error included.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testClock } from './helpers/clock.js';
import { call, startServer, type Running } from './helpers/server.js';

describe('OAuth2 endpoints', () => {
  let s: Running;
  let token: string;
  let revoke: string;
  const clock = testClock();
  before(async () => {
    s = await startServer({}, { clock });
    token = `${s.url}/oauth/token`;
    revoke = `${s.url}/oauth/revoke`;
    const r = await call(`${s.url}/api/auth/signup`, { json: { username: 'client', email: 'client@example.com', password: 'password-123' } });
    assert.equal(r.status, 201);
  });
  after(() => s.close());

  // RFC 6749 §5.2: error_description is printable ASCII without '"' and '\\'.
  const DESCRIPTION = /^[\x20\x21\x23-\x5B\x5D-\x7E]+$/;
  const FORM_ONLY = 'The request must be application/x-www-form-urlencoded (RFC 6749 section 4.3.2)';

  const me = (t: string) => call(`${s.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${t}` } });
  const password = () => call(token, { form: { grant_type: 'password', username: 'client', password: 'password-123' } });

  it('password grant: §5.1 body with Cache-Control: no-store', async () => {
    const r = await password();
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal(r.headers.get('pragma'), 'no-cache');
    assert.equal(r.json.token_type, 'Bearer');
    assert.equal(r.json.expires_in, 900);
    assert.equal(r.json.scope, 'user', 'the roles as scope');
    assert.equal(typeof r.json.access_token, 'string');
    assert.equal(typeof r.json.refresh_token, 'string');
    assert.equal((await me(r.json.access_token)).status, 200);
  });

  it('refresh_token grant rotates; the old refresh token is then invalid_grant', async () => {
    const first = (await password()).json;
    const r = await call(token, { form: { grant_type: 'refresh_token', refresh_token: first.refresh_token } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.notEqual(r.json.refresh_token, first.refresh_token);
    // past REFRESH_REUSE_GRACE_SECONDS (10): within it the retired token would get the current one
    const again = await clock.during(10_000, () => call(token, { form: { grant_type: 'refresh_token', refresh_token: first.refresh_token } }));
    assert.equal(again.status, 400);
    assert.equal(again.json.error, 'invalid_grant');
  });

  const errors: [string, Record<string, string>, string][] = [
    ['no grant_type', { username: 'client', password: 'password-123' }, 'invalid_request'],
    ['unknown grant_type', { grant_type: 'client_credentials' }, 'unsupported_grant_type'],
    ['password grant without password', { grant_type: 'password', username: 'client' }, 'invalid_request'],
    ['wrong password', { grant_type: 'password', username: 'client', password: 'nope-nope' }, 'invalid_grant'],
    ['unknown user', { grant_type: 'password', username: 'ghost', password: 'password-123' }, 'invalid_grant'],
    ['refresh grant without a token', { grant_type: 'refresh_token' }, 'invalid_request'],
    ['garbage refresh token', { grant_type: 'refresh_token', refresh_token: 'a.b.c' }, 'invalid_grant'],
  ];
  for (const [name, form, error] of errors) {
    it(`§5.2 error: ${name} → 400 ${error}`, async () => {
      const r = await call(token, { form });
      assert.equal(r.status, 400);
      assert.equal(r.json.error, error);
      assert.match(r.json.error_description, DESCRIPTION);
      assert.equal(r.headers.get('cache-control'), 'no-store');
    });
  }

  it('an access token is not a refresh grant', async () => {
    const t = (await password()).json;
    const r = await call(token, { form: { grant_type: 'refresh_token', refresh_token: t.access_token } });
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'invalid_grant');
  });

  it('any body but a form is invalid_request with one description (RFC 6749 §4.3.2 asks for a form)', async () => {
    const multipart = '--b\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\npassword\r\n--b--\r\n';
    const bodies: [string, Parameters<typeof call>[1]][] = [
      ['JSON', { json: { grant_type: 'password', username: 'client', password: 'password-123' } }],
      ['multipart', { body: multipart, headers: { 'content-type': 'multipart/form-data; boundary=b' } }],
      ['text', { body: 'grant_type=password', headers: { 'content-type': 'text/plain' } }],
      ['no media type', { method: 'POST', body: 'grant_type=password', headers: { 'content-type': '' } }],
    ];
    for (const url of [token, revoke]) {
      for (const [what, init] of bodies) {
        const r = await call(url, init);
        assert.equal(r.status, 400, `${url} ${what}`);
        assert.deepEqual(r.json, { error: 'invalid_request', error_description: FORM_ONLY }, `${url} ${what}`);
      }
    }
  });

  it('a parameter sent empty counts as omitted (§3.2); an unsupported grant_type is not echoed back', async () => {
    const r = await call(token, { body: 'grant_type=password&username=client&password=password-123&username=&scope=', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(r.status, 200, r.text);
    const odd = await call(token, { form: { grant_type: 'a"b\\é\nx' } });
    assert.equal(odd.json.error, 'unsupported_grant_type');
    assert.match(odd.json.error_description, DESCRIPTION);
    assert.doesNotMatch(odd.json.error_description, /a'b|x/);
  });

  it('a user without roles gets no scope member (§3.3 has no empty scope)', async () => {
    await call(`${s.url}/api/auth/signup`, { json: { username: 'noroles', email: 'noroles@example.com', password: 'password-123', roles: [] } });
    const r = await call(token, { form: { grant_type: 'password', username: 'noroles', password: 'password-123' } });
    assert.equal(r.status, 200);
    assert.equal('scope' in r.json, false, JSON.stringify(r.json));
  });

  it('a repeated parameter is invalid_request (§3.2)', async () => {
    const r = await call(token, { body: 'grant_type=password&grant_type=password&username=client&password=password-123', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'invalid_request');
  });

  it('RFC 7009: revoking an access token refuses it', async () => {
    const t = (await password()).json;
    const r = await call(revoke, { form: { token: t.access_token, token_type_hint: 'access_token' } });
    assert.equal(r.status, 200);
    assert.equal((await me(t.access_token)).status, 401);
  });

  it('RFC 7009: revoking a refresh token ends its session', async () => {
    const t = (await password()).json;
    assert.equal((await call(revoke, { form: { token: t.refresh_token } })).status, 200);
    assert.equal((await call(token, { form: { grant_type: 'refresh_token', refresh_token: t.refresh_token } })).json.error, 'invalid_grant');
    assert.equal((await me(t.access_token)).status, 401);
  });

  it('RFC 7009: 200 for an unknown or invalid token; 400 invalid_request without one', async () => {
    assert.equal((await call(revoke, { form: { token: 'not-a-token' } })).status, 200);
    const missing = await call(revoke, { form: { token_type_hint: 'access_token' } });
    assert.equal(missing.status, 400);
    assert.equal(missing.json.error, 'invalid_request');
  });
});
