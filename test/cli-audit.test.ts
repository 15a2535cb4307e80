// `warden audit` as an operator runs it (the built binary on a SQLite file): the events the CLI's
// own changes wrote, filtered, as JSON lines or text; wrong usage exits 2 and touches nothing.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildCli, warden } from './helpers/cli.js';

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

  it('wrong usage: exit 2 with the reason', async () => {
    for (const args of [['audit', '--type', 'no.such'], ['audit', '--limit', 'x'], ['audit', '--from', 'yesterday'], ['audit', '--format', 'xml'], ['audit', '--bogus']]) {
      const r = await run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
  });
});
