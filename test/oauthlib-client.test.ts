// requests-oauthlib and oauthlib (Debian's python3-requests-oauthlib, python3-oauthlib), a client
// nobody here wrote, against POST /oauth/token and /oauth/revoke: the password grant of a
// LegacyApplicationClient, a protected call, the automatic refresh of an expired access token with
// its token_updater, refresh-token rotation and reuse seen by the client, a wrong password as
// oauthlib's InvalidGrantError, and RFC 7009 revocation of the refresh token.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { testClock } from './helpers/clock.js';
import { pythonMissing, PYTHON } from './helpers/python.js';
import { call, startServer, type Running } from './helpers/server.js';

const script = new URL('./interop/oauthlib_client.py', import.meta.url).pathname;
const run = promisify(execFile);

interface Token { access_token: string; refresh_token: string; token_type: string; expires_in: number; expires_at: number; scope?: string[] }
interface Out {
  ok: boolean; error?: string; message?: string; token_keys?: string[]; oauth_error?: string; status?: number;
  token?: Token; me?: { status: number; user_id: string | null }; user_id?: string | null; updated?: Token | null;
}

/** Runs the client; `clockOffsetSeconds` moves its clock as far as the test moved Warden's. */
async function client(args: string[], clockOffsetSeconds = 0, env: Record<string, string> = {}): Promise<Out> {
  const { stdout } = await run(PYTHON, [script, ...args], { env: { ...process.env, CLOCK_OFFSET: String(clockOffsetSeconds), ...env }, timeout: 30_000 });
  return JSON.parse(stdout);
}

const skip = pythonMissing('import requests_oauthlib, oauthlib', 'python3-requests-oauthlib python3-oauthlib', 'requests-oauthlib against /oauth/token not checked');

describe('requests-oauthlib (LegacyApplicationClient) against /oauth/token and /oauth/revoke', { skip }, () => {
  let s: Running;
  let userId: string;
  const clock = testClock();
  let moved = 0; // seconds Warden's clock was moved forward, for the client's clock to follow
  const advance = (seconds: number) => {
    clock.advance(seconds * 1000);
    moved += seconds;
  };
  const me = (token: string) => call(`${s.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${token}` } });

  before(async () => {
    // Access tokens of one minute (the shortest ACCESS_TOKEN_EXPIRES_MINUTES): the test moves both
    // clocks past it rather than waiting.
    s = await startServer({ ACCESS_TOKEN_EXPIRES_MINUTES: '1' }, { clock });
    const r = await call(`${s.url}/api/auth/signup`, { json: { username: 'oauthlib', email: 'oauthlib@example.com', password: 'password-123' } });
    assert.equal(r.status, 201);
    userId = r.json.id;
  });
  after(() => s.close());

  it('fetch_token with username and password, then a protected call with the token', async () => {
    const out = await client(['password', s.url, 'oauthlib', 'password-123'], moved);
    assert.equal(out.ok, true, JSON.stringify(out));
    assert.equal(out.token!.token_type, 'Bearer');
    assert.equal(out.token!.expires_in, 60);
    assert.deepEqual(out.token!.scope, ['user'], 'oauthlib reads the roles Warden answers as scope');
    assert.equal(typeof out.token!.refresh_token, 'string');
    assert.deepEqual(out.me, { status: 200, user_id: userId });
  });

  it('an expired access token is refreshed on the next call (auto_refresh_url, token_updater); the old refresh token is then refused, and its reuse ends the session', async () => {
    const first = (await client(['password', s.url, 'oauthlib', 'password-123'], moved)).token!;
    advance(61);
    assert.equal((await me(first.access_token)).status, 401, 'the stored access token has expired at Warden too');

    const out = await client(['call', s.url, JSON.stringify(first)], moved);
    assert.equal(out.ok, true, JSON.stringify(out));
    assert.equal(out.status, 200);
    assert.equal(out.user_id, userId);
    const updated = out.updated!;
    assert.ok(updated, 'token_updater was given the refreshed token');
    assert.notEqual(updated.access_token, first.access_token);
    assert.notEqual(updated.refresh_token, first.refresh_token, 'the refresh token rotated');
    assert.equal((await me(updated.access_token)).status, 200);

    // Past REFRESH_REUSE_GRACE_SECONDS (10): the retired refresh token is a replay.
    advance(11);
    const old = await client(['refresh', s.url, JSON.stringify(first)], moved);
    assert.deepEqual(old, { ok: false, error: 'InvalidGrantError', oauth_error: 'invalid_grant', status: 400 });
    // RFC 9700 §4.14.2: the replay ended the session, so the client's current refresh token goes too.
    const current = await client(['refresh', s.url, JSON.stringify(updated)], moved);
    assert.deepEqual(current, { ok: false, error: 'InvalidGrantError', oauth_error: 'invalid_grant', status: 400 });
    assert.equal((await me(updated.access_token)).status, 401);
  });

  it('a wrong password is oauthlib\'s InvalidGrantError (400 invalid_grant), as RFC 6749 §5.2 says', async () => {
    const out = await client(['password', s.url, 'oauthlib', 'not-the-password'], moved);
    assert.deepEqual(out, { ok: false, error: 'InvalidGrantError', oauth_error: 'invalid_grant', status: 400 });
  });

  it('a client asking for a scope is told the one granted (the roles, RFC 6749 §3.3): oauthlib\'s "Scope has changed" Warning, a token with OAUTHLIB_RELAX_TOKEN_SCOPE', async () => {
    const strict = await client(['password', s.url, 'oauthlib', 'password-123'], moved, { SCOPE: 'orders:read' });
    assert.equal(strict.ok, false);
    assert.equal(strict.error, 'Warning');
    assert.equal(strict.message, 'Scope has changed from "orders:read" to "user".');
    assert.deepEqual(strict.token_keys, ['access_token', 'expires_at', 'expires_in', 'refresh_token', 'scope', 'token_type']);
    const relaxed = await client(['password', s.url, 'oauthlib', 'password-123'], moved, { SCOPE: 'orders:read', OAUTHLIB_RELAX_TOKEN_SCOPE: '1' });
    assert.equal(relaxed.ok, true, JSON.stringify(relaxed));
    assert.deepEqual(relaxed.token!.scope, ['user']);
    assert.deepEqual(relaxed.me, { status: 200, user_id: userId });
  });

  it('RFC 7009: the revocation oauthlib prepares for the refresh token is 200; refreshing is then invalid_grant', async () => {
    const token = (await client(['password', s.url, 'oauthlib', 'password-123'], moved)).token!;
    const revoked = await client(['revoke', s.url, JSON.stringify(token)], moved);
    assert.deepEqual(revoked, { ok: true, status: 200 });
    const again = await client(['refresh', s.url, JSON.stringify(token)], moved);
    assert.deepEqual(again, { ok: false, error: 'InvalidGrantError', oauth_error: 'invalid_grant', status: 400 });
    assert.equal((await me(token.access_token)).status, 401, 'the session\'s access token ends with it');
  });
});
