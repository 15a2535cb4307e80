// `warden audit` as an operator runs it (the built binary on a SQLite file): the events the CLI's
// own changes wrote, filtered, as JSON lines or text; wrong usage exits 2 and touches nothing.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openSqlite } from '../src/storage/sqlite-driver.js';
import { buildCli, warden } from './helpers/cli.js';
import { call, startServer, type Running } from './helpers/server.js';

before(() => buildCli(), { timeout: 300_000 });

describe('warden audit', () => {
  let cwd: string;
  let env: Record<string, string>;
  const run = (args: string[], input?: string) => warden(args, { cwd, env, ...(input !== undefined ? { input } : {}) });
  before(() => {
    cwd = mkdtempSync(join(tmpdir(), 'warden-cli-audit-'));
    env = { DATABASE_URL: `sqlite:${join(cwd, 'warden.db')}` };
  });
  after(() => rmSync(cwd, { recursive: true, force: true }));

  it('prints the events of the changes made, newest first, filtered; JSON lines or text', async () => {
    assert.equal((await run(['audit'])).code, 1, 'no database yet: refused, not created');
    assert.equal(existsSync(join(cwd, 'warden.db')), false);
    assert.equal((await run(['migrate'])).code, 0);
    const created = await run(['users', 'create', '--username', 'ops', '--email', 'ops@example.com', '--password-stdin', '--json'], 'a-long-password-1\n');
    assert.equal(created.code, 0, created.stderr);
    const id = created.json.id as string;
    assert.equal((await run(['users', 'set-roles', 'ops', 'auditor'])).code, 0);
    assert.equal((await run(['users', 'disable', 'ops'])).code, 0);

    const all = await run(['audit']);
    assert.equal(all.code, 0, all.stderr);
    const lines = all.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; user_id: string; actor_id: string | null });
    assert.deepEqual(lines.map((e) => e.type), ['user.deactivated', 'user.roles_changed', 'user.created']);
    assert.ok(lines.every((e) => e.user_id === id && e.actor_id === null), 'the operator at the console: no acting user');
    const only = await run(['audit', '--type', 'user.created', '--user', id]);
    assert.deepEqual(only.stdout.trim().split('\n').map((l) => JSON.parse(l).type), ['user.created']);
    // A username or an email names the user too, as for every other command; one that names nobody
    // is an error, not an empty log (which would read as "no events").
    for (const who of ['ops', 'OPS@example.com']) assert.equal((await run(['audit', '--user', who])).stdout, all.stdout, who);
    const nobody = await run(['audit', '--user', 'alice']);
    assert.equal(nobody.code, 1);
    assert.match(nobody.stderr, /--user: no user "alice"/);
    assert.equal(nobody.stdout, '');
    assert.equal((await run(['audit', '--json'])).stdout, all.stdout, '--json as every command that prints data takes it');
    const text = await run(['audit', '--format', 'text', '--limit', '1']);
    assert.match(text.stdout, /^\d{4}-\d\d-\d\dT[\d:.]+Z {2}user\.deactivated/);
    assert.equal(text.stdout.trim().split('\n').length, 1);
  });

  it('an import writes one user.imported per user it creates or overwrites', async () => {
    writeFileSync(join(cwd, 'users.csv'), ['username,email,password', 'imp1,imp1@example.com,imported-password-1', 'imp2,imp2@example.com,imported-password-2'].join('\n'));
    assert.equal((await run(['import', 'users.csv'])).code, 0);
    const lines = (await run(['audit', '--type', 'user.imported'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { details: { action: string } });
    assert.deepEqual(lines.map((e) => e.details.action), ['created', 'created']);
    writeFileSync(join(cwd, 'again.csv'), ['username,email,full_name,password', 'imp1,imp1@example.com,Imp One,imported-password-1'].join('\n'));
    assert.equal((await run(['import', 'again.csv', '--update'])).code, 0);
    const updated = JSON.parse((await run(['audit', '--type', 'user.imported', '--limit', '1'])).stdout) as { details: { action: string; fields: string[] } };
    assert.deepEqual(updated.details, { action: 'updated', fields: ['full_name'] });
  });

  it('an import whose user.imported cannot be written creates no user (one transaction per batch)', async () => {
    const db = openSqlite(join(cwd, 'warden.db'));
    db.exec("CREATE TRIGGER refuse_import BEFORE INSERT ON events WHEN NEW.type = 'user.imported' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
    db.close();
    try {
      writeFileSync(join(cwd, 'refused.csv'), ['username,email,password', 'ref1,ref1@example.com,imported-password-1', 'ref2,ref2@example.com,imported-password-2'].join('\n'));
      assert.notEqual((await run(['import', 'refused.csv'])).code, 0);
      const users = (await run(['users', 'list', '--all', '--json'])).json as { username: string }[];
      assert.deepEqual(users.filter((u) => u.username.startsWith('ref')), [], 'neither user was written');
    } finally {
      const again = openSqlite(join(cwd, 'warden.db'));
      again.exec('DROP TRIGGER refuse_import');
      again.close();
    }
  });

  it('wrong usage: exit 2 with the reason', async () => {
    for (const args of [['audit', '--type', 'no.such'], ['audit', '--limit', 'x'], ['audit', '--from', 'yesterday'], ['audit', '--to', '2026-04-31'], ['audit', '--format', 'xml'], ['audit', '--bogus'], ['audit', '--json', '--format', 'text']]) {
      const r = await run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
  });
});

describe('warden CLI changes write their events as the API\'s do: with the change, no acting user', () => {
  let cwd: string;
  let env: Record<string, string>;
  let server: Running;
  const run = (args: string[], input?: string) => warden(args, { cwd, env, ...(input !== undefined ? { input } : {}) });
  interface Line { type: string; user_id: string; actor_id: string | null; session_id: string | null; details: Record<string, unknown> }
  const audit = async (...args: string[]): Promise<Line[]> => {
    const r = await run(['audit', '--limit', '1000', ...args]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line).reverse();
  };
  const signIn = async (username: string): Promise<string> => {
    const r = await call(`${server.url}/api/auth/signin`, { json: { username, password: 'a-long-password-1' } });
    assert.equal(r.status, 200, r.text);
    return JSON.parse(Buffer.from((r.json.access_token as string).split('.')[1]!, 'base64url').toString()).sid as string;
  };
  const refuse = (type: string) => {
    const db = openSqlite(join(cwd, 'warden.db'));
    db.exec(`CREATE TRIGGER refuse_event BEFORE INSERT ON events WHEN NEW.type = '${type}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`);
    db.close();
  };
  before(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'warden-cli-events-'));
    env = { DATABASE_URL: `sqlite:${join(cwd, 'warden.db')}` };
    assert.equal((await run(['migrate'])).code, 0);
    // A server on the same file, for the sign-ins that open sessions (the CLI opens none).
    server = await startServer(env);
  });
  after(async () => {
    await server.close();
    rmSync(cwd, { recursive: true, force: true });
  });

  it('users create, set-password, disable, enable, factors reset, delete: one event each, the API\'s type', async () => {
    const created = await run(['users', 'create', '--username', 'eve', '--email', 'eve@example.com', '--password-stdin', '--json'], 'a-long-password-1\n');
    assert.equal(created.code, 0, created.stderr);
    const id = created.json.id as string;
    for (const args of [['users', 'set-password', 'eve', '--password-stdin'], ['users', 'disable', 'eve'], ['users', 'enable', 'eve'], ['users', 'factors', 'reset', 'eve'], ['users', 'delete', 'eve', '--yes']]) {
      const r = await run(args, 'another-password-2\n');
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    const lines = await audit('--user', id);
    assert.deepEqual(lines.map((e) => [e.type, e.details]), [
      ['user.created', { via: 'admin', roles: ['user'] }], ['password.changed', {}], ['user.deactivated', {}], ['user.activated', {}],
      ['mfa.removed', { method: 'all' }], ['user.deleted', {}],
    ]);
    assert.ok(lines.every((e) => e.actor_id === null && e.user_id === id), 'the operator at the console: no acting user');
  });

  it('sessions revoke: one session.ended per session it ends, with it', async () => {
    assert.equal((await run(['users', 'create', '--username', 'sam', '--email', 'sam@example.com', '--password-stdin', '--json'], 'a-long-password-1\n')).code, 0);
    const [first, second, third] = [await signIn('sam'), await signIn('sam'), await signIn('sam')];
    const one = await run(['sessions', 'revoke', 'sam', '--session', first, '--json']);
    assert.equal(one.code, 0, one.stderr);
    let ended = await audit('--type', 'session.ended');
    assert.deepEqual(ended.map((e) => [e.session_id, e.actor_id, e.details]), [[first, null, { reason: 'admin' }]]);
    assert.equal((await run(['sessions', 'revoke', 'sam', '--session', first])).code, 1, 'already ended');

    // One that cannot be written: the sessions stay live.
    refuse('session.ended');
    try {
      assert.equal((await run(['sessions', 'revoke', 'sam'])).code, 1);
      assert.equal((await run(['sessions', 'list', 'sam', '--json'])).json.length, 2, 'nothing ended');
    } finally {
      const db = openSqlite(join(cwd, 'warden.db'));
      db.exec('DROP TRIGGER refuse_event');
      db.close();
    }
    const all = await run(['sessions', 'revoke', 'sam', '--json']);
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(all.json.ended.sort(), [second, third].sort());
    ended = await audit('--type', 'session.ended');
    assert.deepEqual(ended.slice(1).map((e) => e.session_id).sort(), [second, third].sort());
    assert.ok(ended.every((e) => e.actor_id === null && e.details.reason === 'admin' && e.user_id === ended[0]!.user_id));
    assert.deepEqual((await run(['sessions', 'list', 'sam', '--json'])).json, []);
  });
});
