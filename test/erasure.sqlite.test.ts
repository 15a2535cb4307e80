// What a deleted account leaves in a SQLite file: nothing of its address, username, name, password
// hashes or second factors, anywhere in the bytes of the file (free pages, free space in pages, the
// write-ahead log folded in) nor in the trigram search indexes, which are live data a backup copies.
// Two accounts, one deleting itself, one deleted by an administrator, each with a changed password
// (an old hash freed), an authenticator app and recovery codes; then a checkpoint and the bytes.
// Migration 17 clears what deletions before it left in the search indexes.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openSqlite, prepare, setPragma } from '../src/storage/sqlite-driver.js';
import { createSqliteStorage } from '../src/storage/index.js';
import { call, startServer, type Running } from './helpers/server.js';
import { sqliteBefore } from './helpers/storage.js';
import { codeAt, fromBase32 } from './helpers/totp.js';

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const trigrams = (s: string) => Array.from({ length: s.length - 2 }, (_, i) => s.slice(i, i + 3));

/** Every trigram of `texts` found in the blocks of the FTS5 search indexes (terms are stored as their bytes). */
function indexedTrigrams(file: string, texts: string[]): string[] {
  const db = openSqlite(file, { readonly: true });
  try {
    const blocks = ['users_email_search_data', 'users_username_search_data']
      .flatMap((t) => (prepare(db, `SELECT block FROM ${t}`).all() as { block: Buffer | null }[]).map((r) => r.block ?? Buffer.alloc(0)));
    const all = Buffer.concat(blocks);
    return texts.flatMap(trigrams).filter((t) => all.includes(Buffer.from(t)));
  } finally {
    db.close();
  }
}

interface Person { username: string; email: string; name: string; password: string }

async function giveEverything(s: Running, p: Person) {
  assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: p.username, email: p.email, password: p.password, full_name: p.name } })).status, 201);
  const login = async (password: string) => (await call(`${s.url}/api/v1/auth/login`, { form: { username: p.username, password } })).json.data.access_token as string;
  const first = await login(p.password);
  const oldHash = (await s.warden.storage.users.findByLogin(p.username))!.passwordHash;
  const changed = await call(`${s.url}/api/v1/auth/password`, { json: { current_password: p.password, new_password: `${p.password}-2` }, headers: bearer(first) });
  assert.equal(changed.status, 200, changed.text);
  const access = await login(`${p.password}-2`);
  const enrol = await call(`${s.url}/api/v1/auth/mfa/totp`, { method: 'POST', headers: bearer(access) });
  assert.equal(enrol.status, 201, enrol.text);
  const confirmed = await call(`${s.url}/api/v1/auth/mfa/totp/confirm`, { json: { code: codeAt(fromBase32(enrol.json.data.secret), Math.floor(Date.now() / 1000)) }, headers: bearer(access) });
  assert.equal(confirmed.status, 200, confirmed.text);
  const user = (await s.warden.storage.users.findByLogin(p.username))!;
  const sealed = await rowsOf(s, `SELECT sealed_secret AS v FROM totp_factors WHERE user_id = ?`, user.id);
  const codes = await rowsOf(s, `SELECT code_hash AS v FROM recovery_codes WHERE user_id = ?`, user.id);
  assert.ok(sealed.length === 1 && codes.length === 10);
  // A sign-in with a recovery code: a fresh token for the self-deletion, and a spent code's row rewritten.
  const mfa = await call(`${s.url}/api/v1/auth/login`, { form: { username: p.username, password: `${p.password}-2` } });
  const done = await call(`${s.url}/api/v1/auth/mfa/verify`, { json: { mfa_token: mfa.json.data.mfa_token, recovery_code: confirmed.json.data.recovery_codes[0] } });
  assert.equal(done.status, 200, done.text);
  return { id: user.id, fresh: done.json.data.access_token as string, secrets: [oldHash, user.passwordHash, ...sealed, ...codes] };
}

async function rowsOf(s: Running, query: string, ...args: unknown[]): Promise<string[]> {
  const db = openSqlite(s.config.storage.databaseUrl.replace(/^sqlite:/, ''), { readonly: true });
  try {
    return (prepare(db, query).all(...args) as { v: string }[]).map((r) => r.v);
  } finally {
    db.close();
  }
}

describe('erasure in a SQLite file', () => {
  it('a deleted account (by itself or an administrator) leaves nothing of its address, name, hashes or factors in the file\'s bytes or the search indexes', async () => {
    const s = await startServer({ ACCOUNT_SELF_DELETE: 'true' });
    const file = s.config.storage.databaseUrl.replace(/^sqlite:/, '');
    try {
      assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: 'root-password-1', roles: ['admin'] } })).status, 201);
      const admin = (await call(`${s.url}/api/v1/auth/login`, { form: { username: 'root', password: 'root-password-1' } })).json.data.access_token as string;
      const self: Person = { username: 'qxjzvk.leaver', email: 'wqyjfh.kvzq@pzxjq.test', name: 'Yzvkq Wxjhaf', password: 'erasure-pass-1' };
      const other: Person = { username: 'vjkwqz.removed', email: 'fxqzjw.ykvj@zqvxk.test', name: 'Qwvjz Kxfyeb', password: 'erasure-pass-2' };
      const a = await giveEverything(s, self);
      const b = await giveEverything(s, other);

      const gone = await call(`${s.url}/api/v1/auth/me`, { method: 'DELETE', json: { current_password: `${self.password}-2` }, headers: bearer(a.fresh) });
      assert.equal(gone.status, 200, gone.text);
      assert.equal((await call(`${s.url}/api/v1/users/${b.id}`, { method: 'DELETE', headers: bearer(admin) })).status, 200);
      // Every mail sent (development writes them as files), so that no row legitimately waiting holds an address.
      for (let n = 0; n < 500 && (await rowsOf(s, `SELECT id AS v FROM mail_outbox WHERE status = 'pending'`)).length > 0; n++) await new Promise((r) => setTimeout(r, 20));

      // The write-ahead log folded into the file and emptied, as a backup or a copy of the disk would find it.
      const db = openSqlite(file);
      setPragma(db, 'wal_checkpoint(TRUNCATE)');
      db.close();
      const bytes = Buffer.concat([readFileSync(file), readFileSync(`${file}-wal`)]);
      const plain = [self, other].flatMap((p) => [p.username, p.email, p.name, p.email.split('@')[0]!]);
      const secrets = [...a.secrets, ...b.secrets];
      const found = [...plain, ...secrets].filter((v) => bytes.includes(Buffer.from(v)));
      assert.deepEqual(found, [], 'in the file\'s bytes');
      assert.deepEqual(indexedTrigrams(file, [self.username, self.email, other.username, other.email]), [], 'in the search indexes');
    } finally {
      await s.close();
    }
  });

  it('migration 17: what deletions made before it left in the search indexes goes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-erasure-'));
    const file = join(dir, 'warden.db');
    try {
      const db = openSqlite(file);
      setPragma(db, 'journal_mode = WAL');
      db.function('warden_nfc', { deterministic: true }, (t: unknown) => (typeof t === 'string' ? t.normalize('NFC') : t)); // migration 13's
      sqliteBefore(db, 17);
      const id = randomUUID();
      for (const [uid, name] of [[randomUUID(), 'stays'], [id, 'vkwqyjx.zq']] as const) {
        prepare(db, `INSERT INTO users (id, username, username_lower, email, roles, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, '[]', 'x', 1, 1)`)
          .run(uid, name, name, `${name}@pjyfhq.test`);
      }
      prepare(db, 'DELETE FROM users WHERE id = ?').run(id);
      db.close();
      assert.notDeepEqual(indexedTrigrams(file, ['vkwqyjx.zq@pjyfhq.test']), [], 'left behind before the migration');
      const s = createSqliteStorage(file);
      await s.migrate();
      assert.equal((await s.users.list({ limit: 10, offset: 0, email: 'stays@' })).users.length, 1, 'the others are still found');
      assert.equal((await s.users.list({ limit: 10, offset: 0, username: 'vkwq' })).users.length, 0);
      await s.close();
      assert.deepEqual(indexedTrigrams(file, ['vkwqyjx.zq']), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
