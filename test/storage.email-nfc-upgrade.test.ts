// Migration 13: addresses that versions before NFC lookups stored decomposed become NFC, so their
// users sign in by email and are mailed reset links again, and the same-looking address cannot
// sign up as a second account. Addresses whose NFC form another account holds stay as stored.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createPostgresStorage, createSqliteStorage, type Storage } from '../src/storage/index.js';
import { openSqlite, prepare } from '../src/storage/sqlite-driver.js';
import { postgresBefore, scratchSchema, sqliteBefore } from './helpers/storage.js';

const EVE = { id: randomUUID(), username: 'eve', email: 'jose\u0301@example.com' }; // alone: becomes NFC
const HOLDER = { id: randomUUID(), username: 'holder', email: 'ren\u00e9@example.com' }; // NFC already
const TWIN = { id: randomUUID(), username: 'twin', email: 'rene\u0301@example.com' }; // HOLDER's NFC form: stays
const PAIR = [ // two non-NFC spellings of one NFC address: neither can have it, both stay
  { id: randomUUID(), username: 'pair1', email: 'xa\u0301\u0323@example.com' },
  { id: randomUUID(), username: 'pair2', email: 'xa\u0323\u0301@example.com' },
];
const PLAIN = { id: randomUUID(), username: 'plain', email: 'plain@example.com' };
const USERS = [EVE, HOLDER, TWIN, ...PAIR, PLAIN];
const NEW_ADDRESS = 'mu\u0308ller@example.com';
// [hash, user, purpose, email]
const TOKENS: [string, string, string, string][] = [
  ['eve-reset', EVE.id, 'reset', EVE.email],
  ['twin-verify', TWIN.id, 'verify', TWIN.email],
  ['plain-change', PLAIN.id, 'email', NEW_ADDRESS],
];
const FAR = 4_102_444_800_000;

type Insert = (text: string, values: unknown[]) => unknown;
function seed(insert: Insert, p: (i: number) => string): void {
  for (const u of USERS) {
    insert(`INSERT INTO users (id, username, username_lower, email, roles, password_hash, created_at, updated_at)
      VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, '["user"]', 'x', 1, 1)`, [u.id, u.username, u.username, u.email]);
  }
  for (const [hash, userId, purpose, email] of TOKENS) {
    insert(`INSERT INTO email_tokens (hash, user_id, purpose, email, created_at, expires_at) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, 1, ${FAR})`, [hash, userId, purpose, email]);
  }
}

async function checkMigrated(s: Storage): Promise<void> {
  const nfc = EVE.email.normalize('NFC');
  assert.equal((await s.users.findByLogin(nfc))?.id, EVE.id, 'found by its NFC address');
  assert.equal((await s.users.findByLogin(EVE.email))?.id, EVE.id, 'found by the address as typed (looked up as NFC)');
  assert.equal((await s.users.findById(EVE.id))?.email, nfc);
  // The reset link mailed before the upgrade names the user's address as it is now: it still works.
  assert.equal((await s.emailTokens.find('eve-reset', 'reset'))?.email, nfc);
  assert.equal((await s.emailTokens.find('plain-change', 'email'))?.email, NEW_ADDRESS.normalize('NFC'));
  // Those whose NFC form is taken keep theirs, and so do their links.
  assert.equal((await s.users.findById(TWIN.id))?.email, TWIN.email);
  assert.equal((await s.emailTokens.find('twin-verify', 'verify'))?.email, TWIN.email);
  assert.equal((await s.users.findByLogin(HOLDER.email))?.id, HOLDER.id);
  for (const u of PAIR) assert.equal((await s.users.findById(u.id))?.email, u.email);
  assert.equal((await s.users.findById(PLAIN.id))?.email, PLAIN.email);
  // The address is taken in the form every new account is stored in.
  await assert.rejects(s.users.create({ id: randomUUID(), username: 'eve2', email: nfc, fullName: null, passwordHash: 'x', roles: [], isActive: true }), /email/i);
  // The search index follows the new address.
  const found = await s.users.list({ limit: 10, offset: 0, email: 'jos\u00e9' });
  assert.deepEqual(found.users.map((u) => u.id), [EVE.id]);
}

describe('migration 13 on a database with decomposed addresses (SQLite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-nfc-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('makes them NFC where no other account holds that form', async () => {
    const path = join(dir, 'old.db');
    const db = openSqlite(path);
    sqliteBefore(db, 13);
    seed((text, values) => prepare(db, text).run(...values), () => '?');
    db.close();
    const s = createSqliteStorage(path);
    try {
      await s.migrate();
      await checkMigrated(s);
    } finally {
      await s.close();
    }
  });
});

describe('migration 13 on a database with decomposed addresses (PostgreSQL)', async () => {
  const { url, skip, schema } = await scratchSchema('warden_email_nfc');

  it('makes them NFC where no other account holds that form', { skip }, async () => {
    const c = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
    await c.connect();
    try {
      await postgresBefore(c, schema, 13);
      const pending: Promise<unknown>[] = [];
      seed((text, values) => pending.push(c.query(text, values)), (i) => `$${i}`);
      await Promise.all(pending);
    } finally {
      await c.end();
    }
    const s = createPostgresStorage(url!, { schema });
    try {
      await s.migrate();
      await checkMigrated(s);
    } finally {
      await s.close();
    }
  });
});
