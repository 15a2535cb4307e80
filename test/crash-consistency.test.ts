// The process dies between two writes of an account operation (SIGKILL right after one write has
// committed: an OOM kill, a lost node), and Warden is started again on the same database. What
// must hold then is what held before the operation or after it, never a mix that breaks a
// security invariant: a password reset, a password change, a deactivation or a sign-out
// everywhere that committed its change has ended every session it had to and refuses their
// tokens. (Before, each of them committed the change first and ended the sessions in later
// writes: a crash between left the new password, or the inactive account, with every old session
// alive — an attacker's refresh token kept rotating — and the reset link already used.)
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { newEmailToken } from '../src/accounts/email-tokens.js';
import type { Storage } from '../src/storage/index.js';
import { crashAfter, crashDatabases, crashEnv } from './helpers/crash.js';
import { call, startServer, type Running } from './helpers/server.js';
import { codeAt, secretOf } from './helpers/totp.js';

const PASSWORD = 'crash-consistency-password-1';
const NEW_PASSWORD = 'crash-consistency-password-2';
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

interface Pair { access_token: string; refresh_token: string }

async function login(s: Running, username: string, password = PASSWORD): Promise<Pair> {
  const r = await call(`${s.url}/api/v1/auth/login`, { form: { username, password } });
  assert.equal(r.status, 200, r.text);
  return r.json.data as Pair;
}

/** What the old holder of `pair` can still do: pass the guard with its access token, rotate its refresh token. */
async function holds(s: Running, pair: Pair): Promise<{ access: boolean; refresh: boolean }> {
  const access = (await call(`${s.url}/api/v1/auth/verify`, { headers: bearer(pair.access_token) })).status === 200;
  const refresh = (await call(`${s.url}/api/v1/auth/refresh`, { method: 'POST', json: { refresh_token: pair.refresh_token } })).status === 200;
  return { access, refresh };
}

const REFUSED = { access: false, refresh: false };

for (const database of await crashDatabases()) {
  describe(`a crash between an account operation's writes, on ${database.name}`, database.skip !== undefined ? { skip: database.skip } : {}, () => {
    after(() => database.cleanup());

    /**
     * Sets up a database with an administrator and `victim` (signed in twice, the second session
     * the thief's), runs `before` on a first server, crashes the child after `crash.after`
     * committed while it serves `request`, then hands a fresh server on the same database to `check`.
     */
    async function scenario<T>(
      o: { after: string; nth?: number; before?: (s: Running, ctx: { victimId: string; adminAccess: string; storage: Storage }) => Promise<T> },
      request: (url: string, ctx: { victim: Pair; thief: Pair; adminAccess: string; victimId: string; prepared: T }) => Promise<unknown>,
      check: (s: Running, ctx: { victim: Pair; thief: Pair; victimId: string; storage: Storage; prepared: T }) => Promise<void>,
    ): Promise<void> {
      const dataDir = mkdtempSync(join(tmpdir(), 'warden-crash-data-'));
      const env = crashEnv(dataDir);
      const { storage, db, reopen } = await database.create();
      let again: Storage | undefined;
      let s: Running | undefined;
      try {
        s = await startServer(env, { storage });
        const admin = await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'admin', email: 'admin@example.com', password: PASSWORD, roles: ['admin'] } });
        assert.equal(admin.status, 201, admin.text);
        const made = await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'victim', email: 'victim@example.com', password: PASSWORD } });
        assert.equal(made.status, 201, made.text);
        const victimId = made.json.data.id as string;
        const adminAccess = (await login(s, 'admin')).access_token;
        const victim = await login(s, 'victim');
        const thief = await login(s, 'victim');
        const prepared = (await o.before?.(s, { victimId, adminAccess, storage })) as T;
        await s.close();
        s = undefined;
        await storage.close();

        await crashAfter({ env, db, after: o.after, ...(o.nth !== undefined ? { nth: o.nth } : {}) }, (url) => request(url, { victim, thief, adminAccess, victimId, prepared }));

        again = await reopen();
        s = await startServer(env, { storage: again });
        await check(s, { victim, thief, victimId, storage: again, prepared });
      } finally {
        await s?.close();
        await again?.close();
        await storage.close().catch(() => undefined);
        rmSync(dataDir, { recursive: true, force: true });
      }
    }

    it('a password reset that committed its new password has ended every session and refuses their tokens', () => scenario(
      {
        after: 'users.update',
        before: async (_s, { victimId, storage }) => {
          const { token, hash } = newEmailToken();
          await storage.emailTokens.issue({ hash, userId: victimId, purpose: 'reset', email: 'victim@example.com', createdAt: Date.now(), expiresAt: Date.now() + 3_600_000 });
          return token;
        },
      },
      (url, { prepared: token }) => call(`${url}/api/v1/auth/password/reset`, { json: { token, new_password: NEW_PASSWORD } }),
      async (s, { thief }) => {
        await login(s, 'victim', NEW_PASSWORD); // the reset happened
        assert.deepEqual(await holds(s, thief), REFUSED, 'the thief is still signed in after the reset');
      },
    ));

    it('a password change that committed has ended the other sessions and refuses their tokens', () => scenario(
      { after: 'users.update' },
      (url, { victim }) => call(`${url}/api/v1/auth/password`, { json: { current_password: PASSWORD, new_password: NEW_PASSWORD }, headers: bearer(victim.access_token) }),
      async (s, { thief }) => {
        await login(s, 'victim', NEW_PASSWORD);
        assert.deepEqual(await holds(s, thief), REFUSED, 'the thief is still signed in after the change');
      },
    ));

    it('a new password set by an administrator, once committed, has ended every session', () => scenario(
      { after: 'users.update' },
      (url, { adminAccess, victimId }) => call(`${url}/api/v1/users/${victimId}`, { method: 'PATCH', json: { password: NEW_PASSWORD }, headers: bearer(adminAccess) }),
      async (s, { thief, victim }) => {
        await login(s, 'victim', NEW_PASSWORD);
        assert.deepEqual(await holds(s, thief), REFUSED);
        assert.deepEqual(await holds(s, victim), REFUSED);
      },
    ));

    it('a deactivation, once committed, refuses every access token', () => scenario(
      { after: 'users.update' },
      (url, { adminAccess, victimId }) => call(`${url}/api/v1/users/${victimId}`, { method: 'PATCH', json: { is_active: false }, headers: bearer(adminAccess) }),
      async (s, { thief, victimId, storage }) => {
        assert.equal((await storage.users.findById(victimId))!.isActive, false);
        assert.deepEqual(await holds(s, thief), REFUSED);
      },
    ));

    it('a sign-out everywhere whose sessions ended refuses every access token of theirs', () => scenario(
      { after: 'sessions.endAllForUser' },
      (url, { victim }) => call(`${url}/api/v1/auth/logout?scope=global`, { method: 'POST', headers: bearer(victim.access_token) }),
      async (s, { thief, victim }) => {
        assert.deepEqual(await holds(s, thief), REFUSED);
        assert.deepEqual(await holds(s, victim), REFUSED);
      },
    ));

    it('an administrator\'s reset of second factors that removed them has ended every session too', () => scenario(
      {
        // The first write that removes the factors, whichever store it goes through.
        after: 'factors.deleteAllForUser|users.update',
        before: async (s) => {
          // The victim's factor; the thief's session (the lost phone's) is already open.
          const access = (await login(s, 'victim')).access_token;
          const e = await call(`${s.url}/api/v1/auth/mfa/totp`, { method: 'POST', headers: bearer(access) });
          assert.equal(e.status, 201, e.json?.code);
          const c = await call(`${s.url}/api/v1/auth/mfa/totp/confirm`, { json: { code: codeAt(secretOf(e.json.data.otpauth_uri), Date.now() / 1000) }, headers: bearer(access) });
          assert.equal(c.status, 200, c.text);
        },
      },
      (url, { adminAccess, victimId }) => call(`${url}/api/v1/users/${victimId}/factors`, { method: 'DELETE', headers: bearer(adminAccess) }),
      async (s, { thief, victimId, storage }) => {
        assert.deepEqual(await storage.factors.listTotp(victimId), [], 'the reset happened');
        // Left open, the lost phone's session could enrol an authenticator of its own, now that the account has none.
        assert.deepEqual(await holds(s, thief), REFUSED, 'the lost phone is still signed in after the reset');
      },
    ));

    it('a reset of an address never proven that committed has also removed the factors enrolled before it', () => scenario(
      {
        after: 'users.update',
        before: async (s, { victimId, storage }) => {
          // Whoever signed up first with the address enrols an authenticator app.
          const access = (await login(s, 'victim')).access_token;
          const e = await call(`${s.url}/api/v1/auth/mfa/totp`, { method: 'POST', headers: bearer(access) });
          assert.equal(e.status, 201, e.json?.code);
          const c = await call(`${s.url}/api/v1/auth/mfa/totp/confirm`, { json: { code: codeAt(secretOf(e.json.data.otpauth_uri), Date.now() / 1000) }, headers: bearer(access) });
          assert.equal(c.status, 200, c.text);
          const { token, hash } = newEmailToken();
          await storage.emailTokens.issue({ hash, userId: victimId, purpose: 'reset', email: 'victim@example.com', createdAt: Date.now(), expiresAt: Date.now() + 3_600_000 });
          return token;
        },
      },
      (url, { prepared: token }) => call(`${url}/api/v1/auth/password/reset`, { json: { token, new_password: NEW_PASSWORD } }),
      async (s, { victimId, storage }) => {
        assert.equal((await storage.users.findById(victimId))!.emailVerified, true, 'the reset happened');
        assert.deepEqual(await storage.factors.listTotp(victimId), [], 'the authenticator app of whoever held the account before the reset is still there');
        const signin = await call(`${s.url}/api/v1/auth/login`, { form: { username: 'victim', password: NEW_PASSWORD } });
        assert.equal(signin.status, 200, signin.text);
        assert.equal(typeof signin.json.data.access_token, 'string', 'the owner is asked for a code they never had');
      },
    ));
  });
}
