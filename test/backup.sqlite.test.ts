// Backup and restore of a SQLite database as the README's "Backup and restore" says: taken with
// `sqlite3 FILE "VACUUM INTO '…'"` while Warden serves, restored with the server stopped. The
// backup holds every acknowledged write (a copy of the file alone does not: recent commits live in
// its write-ahead log), and the restored server refuses what was revoked before the backup.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { openSqlite, prepare } from '../src/storage/sqlite-driver.js';
import { call, startServer } from './helpers/server.js';

const sqliteMissing = (() => {
  try {
    execFileSync('sqlite3', ['-version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'sqlite3: not installed (apt-get install sqlite3); the README\'s backup command not checked';
  }
})();

describe('SQLite backup while serving, and restore', { skip: sqliteMissing }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-backup-'));
  const file = join(dir, 'warden.db');
  const env = { DATABASE_URL: `sqlite:${file}` };
  after(() => rmSync(dir, { recursive: true, force: true }));

  const signUpAndIn = async (url: string, name: string) => {
    await call(`${url}/api/auth/signup`, { json: { username: name, email: `${name}@example.com`, password: 'password-123' } });
    const r = await call(`${url}/api/v1/auth/login`, { form: { username: name, password: 'password-123' } });
    assert.equal(r.status, 200, r.text);
    return { access: r.json.data.access_token as string, refresh: r.json.data.refresh_token as string };
  };
  const signOut = async (url: string, t: { access: string; refresh: string }) => {
    const r = await call(`${url}/api/v1/auth/logout`, { json: { refresh_token: t.refresh }, headers: { authorization: `Bearer ${t.access}` } });
    assert.equal(r.status, 200, r.text);
  };
  const refresh = async (url: string, t: { refresh: string }) => (await call(`${url}/api/v1/auth/refresh`, { json: { refresh_token: t.refresh } })).status;
  const me = async (url: string, t: { access: string }) => (await call(`${url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${t.access}` } })).status;

  it('the backup holds every acknowledged write; the restored server refuses tokens revoked before it, and forgets what came after', async () => {
    const backup = join(dir, 'backup.db');
    const plainCopy = join(dir, 'plain-copy.db');
    const first = await startServer(env);
    let alice, bob, dave, daveLater;
    try {
      alice = await signUpAndIn(first.url, 'alice');
      bob = await signUpAndIn(first.url, 'bob');
      dave = await signUpAndIn(first.url, 'dave');
      await signOut(first.url, alice); // revoked before the backup

      await promisify(execFile)('sqlite3', [file, `VACUUM INTO '${backup}'`]); // the README's command, server running
      copyFileSync(file, plainCopy); // what the README warns against

      await signOut(first.url, bob); // after the backup
      const r = await call(`${first.url}/api/v1/auth/refresh`, { json: { refresh_token: dave.refresh } }); // rotated after the backup
      assert.equal(r.status, 200, r.text);
      daveLater = { refresh: r.json.data.refresh_token as string };
      await signUpAndIn(first.url, 'carol');
    } finally {
      await first.close();
    }

    const usersIn = (f: string) => {
      const db = openSqlite(f, { readonly: true });
      try {
        return (prepare(db, "SELECT username FROM users ORDER BY username").all() as { username: string }[]).map((u) => u.username);
      } catch {
        return []; // no table at all: the schema was still in the write-ahead log
      } finally {
        db.close();
      }
    };
    assert.deepEqual(usersIn(backup), ['alice', 'bob', 'dave']);
    assert.notDeepEqual(usersIn(plainCopy), ['alice', 'bob', 'dave'], 'a copy of the file alone misses the commits still in warden.db-wal');

    // Restore as the README says: server stopped, the log and its index removed, the backup in place.
    rmSync(`${file}-wal`, { force: true });
    rmSync(`${file}-shm`, { force: true });
    copyFileSync(backup, file);
    const restored = await startServer(env);
    try {
      assert.notEqual(await me(restored.url, alice), 200, 'signed out before the backup: still refused');
      assert.equal(await refresh(restored.url, alice), 401);
      assert.equal(await refresh(restored.url, bob), 200, 'signed out after the backup: the restore undid it, as the README says');
      const carol = await call(`${restored.url}/api/v1/auth/login`, { form: { username: 'carol', password: 'password-123' } });
      assert.equal(carol.status, 401, 'signed up after the backup: gone');
      // The token dave's client replaced after the backup is the session's current one again: whoever
      // kept it refreshes, until the client's newer token comes back and ends the session as reused.
      const kept = await call(`${restored.url}/api/v1/auth/refresh`, { json: { refresh_token: dave!.refresh } });
      assert.equal(kept.status, 200, 'the token current at the backup refreshes again');
      const newer = await call(`${restored.url}/api/v1/auth/refresh`, { json: { refresh_token: daveLater!.refresh } });
      assert.equal(newer.status, 401);
      assert.equal(newer.json.code, 'ERR_REFRESH_REUSED');
      assert.notEqual(await me(restored.url, { access: kept.json.data.access_token as string }), 200, 'the session ended: the kept token\'s pair is refused too');
    } finally {
      await restored.close();
    }
  });
});
