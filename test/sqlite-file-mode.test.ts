// A SQLite database Warden creates is readable by its owner only, as the development key beside it
// is: it holds password hashes, sealed TOTP secrets and, while a mail waits in the outbox, its live
// reset or verification link. Under the usual umask 022 the file (and its -wal and -shm, which
// SQLite creates with the database's mode) was 0644, and its folder 0755: any local account could
// read a pending reset link and take the account.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteStorage } from '../src/storage/index.js';

const mode = (path: string) => statSync(path).mode & 0o777;

describe('SQLite file permissions', { skip: process.platform === 'win32' && 'POSIX modes' }, () => {
  const root = mkdtempSync(join(tmpdir(), 'warden-mode-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const umask = process.umask(0o022); // a usual system's, whatever the test runner had
  after(() => process.umask(umask));

  it('a new database, its write-ahead log and the folder made for it are the owner\'s only', async () => {
    const path = join(root, 'data', 'warden.db');
    const s = createSqliteStorage(path);
    try {
      await s.migrate();
      await s.users.create({ id: randomUUID(), username: 'alice', email: 'alice@example.com', fullName: null, roles: ['user'], isActive: true, passwordHash: 'x' });
      assert.equal(mode(path).toString(8), '600', 'warden.db');
      assert.equal(mode(`${path}-wal`).toString(8), '600', 'warden.db-wal');
      assert.equal(mode(`${path}-shm`).toString(8), '600', 'warden.db-shm');
      assert.equal(mode(join(root, 'data')).toString(8), '700', 'the folder Warden made');
    } finally {
      await s.close();
    }
  });

  it('an existing file keeps the mode its operator gave it', async () => {
    const path = join(root, 'shared.db');
    writeFileSync(path, '');
    chmodSync(path, 0o640); // e.g. readable by a backup group
    const s = createSqliteStorage(path);
    try {
      await s.migrate();
      assert.equal(mode(path).toString(8), '640');
    } finally {
      await s.close();
    }
  });
});
