// CLAIMS_HOOK: the application's own claims in every access token Warden issues, by every route
// and grant; Warden's own claims never replaced; a hook that throws, is late or answers nonsense
// fails the issuance with 503 and leaves nothing behind. And the README's example, against the
// application's own PostgreSQL tables.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { createWarden } from '../src/server.js';
import { call, startServer, TEST_SECRET, type Running } from './helpers/server.js';
import { postgresUrlOrSkip } from './helpers/storage.js';

const PASSWORD = 'password-123';
const payload = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

// A hook whose behaviour the test switches through a file: what it answers, and every context it was given.
const HOOK = `
import { appendFileSync, readFileSync } from 'node:fs';
const dir = new URL('.', import.meta.url).pathname;
export default async function claims(ctx) {
  appendFileSync(dir + 'calls.jsonl', JSON.stringify(ctx) + '\\n');
  const mode = readFileSync(dir + 'mode', 'utf8').trim();
  if (mode === 'throw') throw new Error('the application database is down');
  if (mode === 'slow') await new Promise((r) => setTimeout(r, 5000));
  if (mode === 'array') return ['not', 'an', 'object'];
  if (mode === 'huge') return { blob: 'x'.repeat(10000) };
  if (mode === 'reserved') return { sub: 'someone-else', roles: ['admin'], sid: 'x', exp: 1, jti: 'j', fresh: true, tenant_id: 't-9' };
  if (mode === 'toJSON') return { tenant_id: 't-9', toJSON: () => ({ sub: 'someone-else', roles: ['admin'], tenant_id: 't-9' }) };
  return { tenant_id: 't-' + ctx.user.username, grant: ctx.grant, session_seen: ctx.session.id };
}
`;

describe('custom claims hook', () => {
  let s: Running;
  let dir: string;
  const mode = (m: string) => writeFileSync(join(dir, 'mode'), m);
  /** Every context the hook was given so far. */
  const calls = (): unknown[] => {
    const file = join(dir, 'calls.jsonl');
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'warden-hook-'));
    writeFileSync(join(dir, 'hook.mjs'), HOOK);
    mode('ok');
    s = await startServer({ CLAIMS_HOOK: join(dir, 'hook.mjs'), CLAIMS_HOOK_TIMEOUT_MS: '200' });
    await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'hooked', email: 'hooked@example.com', password: PASSWORD, roles: ['admin'] } });
  });
  after(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every sign-in route and grant carries the claims; the hook sees the user, the session and the grant', async () => {
    const signin = await call(`${s.url}/api/auth/signin`, { json: { username: 'hooked', password: PASSWORD } });
    const p = payload(signin.json.access_token);
    assert.equal(p.tenant_id, 't-hooked');
    assert.equal(p.grant, 'password');
    assert.equal(p.session_seen, p.sid, 'the hook was given the session the token belongs to');
    const last = calls().at(-1) as { user: Record<string, unknown>; session: Record<string, unknown>; grant: string };
    assert.deepEqual(Object.keys(last.user).sort(), ['email', 'full_name', 'id', 'is_active', 'legacy_id', 'roles', 'username']);
    assert.equal(last.user.legacy_id, null, 'signed up in Warden: no legacy id');
    assert.equal(last.session.ip, '127.0.0.1');
    assert.ok(!JSON.stringify(last).includes(PASSWORD) && !JSON.stringify(last).includes('argon2'), 'never the password or its hash');

    const refreshed = await call(`${s.url}/api/auth/refresh`, { json: { refresh_token: signin.json.refresh_token } });
    assert.equal(payload(refreshed.json.access_token).grant, 'refresh_token');
    assert.equal(payload(refreshed.json.refresh_token).tenant_id, undefined, 'refresh tokens carry no custom claims');

    const oauth = await call(`${s.url}/oauth/token`, { form: { grant_type: 'password', username: 'hooked', password: PASSWORD } });
    assert.equal(payload(oauth.json.access_token).tenant_id, 't-hooked');
    const oauthRefresh = await call(`${s.url}/oauth/token`, { form: { grant_type: 'refresh_token', refresh_token: oauth.json.refresh_token } });
    assert.equal(payload(oauthRefresh.json.access_token).grant, 'refresh_token');
    const v1 = await call(`${s.url}/api/v1/auth/login`, { form: { username: 'hooked@example.com', password: PASSWORD } });
    assert.equal(payload(v1.json.data.access_token).tenant_id, 't-hooked');
    const form = await call(`${s.url}/token`, { form: { username: 'hooked', password: PASSWORD } });
    assert.equal(payload(form.json.access_token).tenant_id, 't-hooked');
    const course = await call(`${s.url}/login`, { json: { email: 'hooked@example.com', password: PASSWORD } });
    assert.equal(payload(course.json.access_token).tenant_id, 't-hooked');
    const seed3 = await call(`${s.url}/api/login`, { json: { email: 'hooked@example.com', password: PASSWORD } });
    assert.equal(payload(seed3.json.token).tenant_id, 't-hooked', 'the long-lived /api/login token keeps them');
  });

  it('an imported user\'s old id reaches the hook as legacy_id, for the services still keyed by it', async () => {
    const run = s.warden.accounts.startImport({ update: false, dryRun: false });
    const [out] = await run.batch([{ ref: 'row 1', fields: { id: 42, username: 'flasky', email: 'flasky@example.com', password: PASSWORD } }]);
    assert.equal(out!.action, 'created', out!.reason);
    await call(`${s.url}/api/auth/signin`, { json: { username: 'flasky', password: PASSWORD } });
    const last = calls().at(-1) as { user: Record<string, unknown> };
    assert.deepEqual([last.user.username, last.user.legacy_id], ['flasky', '42']);
  });

  it('Warden\'s own claims cannot be replaced: reserved ones are left out, the rest is kept', async () => {
    mode('reserved');
    const r = await call(`${s.url}/api/auth/signin`, { json: { username: 'hooked', password: PASSWORD } });
    assert.equal(r.status, 200);
    const p = payload(r.json.access_token);
    assert.equal(p.tenant_id, 't-9');
    assert.equal(p.sub, r.json.id);
    assert.deepEqual(p.roles, ['admin']);
    assert.notEqual(p.sid, 'x');
    assert.notEqual(p.jti, 'j');
    assert.ok((p.exp as number) > Date.now() / 1000);
    mode('ok');
  });

  it('an answer with a toJSON method is taken as the JSON it makes: its reserved claims left out, never the whole token replaced', async () => {
    mode('toJSON');
    const r = await call(`${s.url}/api/auth/signin`, { json: { username: 'hooked', password: PASSWORD } });
    assert.equal(r.status, 200);
    const p = payload(r.json.access_token);
    assert.equal(p.tenant_id, 't-9');
    assert.equal(p.sub, r.json.id);
    assert.equal(p.type, 'access');
    assert.ok((p.exp as number) > Date.now() / 1000);
    assert.equal((await call(`${s.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${r.json.access_token}` } })).status, 200);
    mode('ok');
  });

  for (const failure of ['throw', 'slow', 'array', 'huge']) {
    it(`a hook that fails (${failure}): 503 at sign-in, no session and no sign-in event; a refresh keeps its token`, async () => {
      const good = await call(`${s.url}/api/auth/signin`, { json: { username: 'hooked', password: PASSWORD } });
      const sessionsBefore = (await s.warden.storage.sessions.listActive(good.json.id, Date.now(), { limit: 100, offset: 0 })).total;
      const signinsBefore = (await s.warden.storage.events.list({ limit: 1000, types: ['signin.succeeded'] })).length;
      mode(failure);
      const r = await call(`${s.url}/api/auth/signin`, { json: { username: 'hooked', password: PASSWORD } });
      assert.equal(r.status, 503);
      assert.equal(r.json.code, 'ERR_UNAVAILABLE');
      assert.equal(r.json.detail, 'Custom claims are unavailable; try again shortly');
      assert.ok(r.headers.get('retry-after'));
      assert.equal((await s.warden.storage.sessions.listActive(good.json.id, Date.now(), { limit: 100, offset: 0 })).total, sessionsBefore);
      assert.equal((await s.warden.storage.events.list({ limit: 1000, types: ['signin.succeeded'] })).length, signinsBefore);
      const refresh = await call(`${s.url}/api/auth/refresh`, { json: { refresh_token: good.json.refresh_token } });
      assert.equal(refresh.status, 503);
      mode('ok');
      // The refresh token was not spent: it still rotates once the hook is back.
      const again = await call(`${s.url}/api/auth/refresh`, { json: { refresh_token: good.json.refresh_token } });
      assert.equal(again.status, 200, JSON.stringify(again.json));
      assert.equal(payload(again.json.access_token).tenant_id, 't-hooked');
    });
  }
});

describe('CLAIMS_HOOK configuration', () => {
  it('a missing file or a module without a function stops the start, saying why', async () => {
    assert.throws(() => loadConfig({ CLAIMS_HOOK: '/no/such/hook.mjs' }), /CLAIMS_HOOK points to "\/no\/such\/hook.mjs", which does not exist/);
    const dir = mkdtempSync(join(tmpdir(), 'warden-hook-'));
    try {
      writeFileSync(join(dir, 'bad.mjs'), 'export const answer = 42;\n');
      const config = loadConfig({ SECRET_KEY: TEST_SECRET, DATA_DIR: dir, LOG_LEVEL: 'silent', CLAIMS_HOOK: join(dir, 'bad.mjs') });
      await assert.rejects(createWarden(config), /CLAIMS_HOOK .* must export a function/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const pgTarget = await postgresUrlOrSkip();

describe('the README\'s example hook: tenant and permissions from the application\'s own PostgreSQL', pgTarget.skip !== undefined ? { skip: pgTarget.skip } : {}, () => {
  const schema = `app_${process.pid}_${randomBytes(3).toString('hex')}`;
  let app: pg.Client;
  let s: Running;
  before(async () => {
    app = new pg.Client({ connectionString: pgTarget.url });
    await app.connect();
    await app.query(`CREATE SCHEMA ${schema}`);
    await app.query(`SET search_path = ${schema}`);
    await app.query('CREATE TABLE memberships (user_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL)');
    await app.query('CREATE TABLE tenant_permissions (tenant_id TEXT NOT NULL, role TEXT NOT NULL, permission TEXT NOT NULL)');
    process.env.APP_DATABASE_URL = `${pgTarget.url}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    s = await startServer({ CLAIMS_HOOK: './examples/claims-hook.mjs' });
  });
  after(async () => {
    await s.close();
    await app.query(`DROP SCHEMA ${schema} CASCADE`);
    await app.end();
  });

  it('a member gets tenant_id and the permissions of her roles; a non-member gets none; a change shows at the next refresh', async () => {
    const ann = await call(`${s.url}/api/auth/signup`, { json: { username: 'ann', email: 'ann@example.com', password: PASSWORD, roles: ['editor'] } });
    await call(`${s.url}/api/auth/signup`, { json: { username: 'ben', email: 'ben@example.com', password: PASSWORD } });
    await app.query('INSERT INTO memberships VALUES ($1, $2)', [ann.json.id, 'acme']);
    await app.query(`INSERT INTO tenant_permissions VALUES ('acme', 'editor', 'docs:write'), ('acme', 'editor', 'docs:read'),
      ('acme', 'billing', 'invoices:read'), ('other', 'editor', 'x:y')`);
    const signin = await call(`${s.url}/api/auth/signin`, { json: { username: 'ann', password: PASSWORD } });
    const p = payload(signin.json.access_token);
    assert.equal(p.tenant_id, 'acme');
    assert.deepEqual(p.permissions, ['docs:read', 'docs:write']);
    const ben = payload((await call(`${s.url}/api/auth/signin`, { json: { username: 'ben', password: PASSWORD } })).json.access_token);
    assert.equal(ben.tenant_id, undefined);
    await app.query(`INSERT INTO tenant_permissions VALUES ('acme', 'editor', 'docs:delete')`);
    const refreshed = await call(`${s.url}/api/auth/refresh`, { json: { refresh_token: signin.json.refresh_token } });
    assert.deepEqual(payload(refreshed.json.access_token).permissions, ['docs:delete', 'docs:read', 'docs:write']);
  });
});
