// SQLite faults, made real: another process holding the write lock (a long import, a backup tool,
// a stuck `sqlite3` shell), and a full disk (SQLite's own page limit on Warden's connection, which
// fails a write exactly as a full file system does: SQLITE_FULL). Writes answer 503 ERR_UNAVAILABLE
// with Retry-After within DATABASE_QUERY_TIMEOUT_MS, never a 500; what was answered 200 is in the
// file and what was refused changed nothing; the fault gone, requests are served without a restart.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { createSqliteStorage, openStorage } from '../src/storage/index.js';
import { openSqlite, prepare, setPragma } from '../src/storage/sqlite-driver.js';
import type { Storage } from '../src/storage/index.js';
import { call, startServer, type Running } from './helpers/server.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-sqlite-faults-'));
  dirs.push(dir);
  return join(dir, 'warden.db');
}

/** Warden's SQLite storage on `path`, and the better-sqlite3 connection it opened (for its page limit). */
function storageWithConnection(path: string, queryTimeoutMs: number): { storage: Storage; db: Database.Database } {
  // The adapter's first call on its connection is an exec() (its pragmas, sqlite-driver.ts's setPragma).
  const proto = Database.prototype as unknown as { exec: (this: Database.Database, ...a: unknown[]) => unknown };
  const exec = proto.exec;
  let db: Database.Database | undefined;
  proto.exec = function (...a: unknown[]) {
    db ??= this;
    return exec.apply(this, a);
  };
  try {
    const storage = createSqliteStorage(path, { queryTimeoutMs });
    return { storage, db: db! };
  } finally {
    proto.exec = exec;
  }
}

function assertUnavailable(r: Awaited<ReturnType<typeof call>>, what: string): void {
  assert.equal(r.status, 503, `${what}: ${r.text}`);
  assert.ok(Number(r.headers.get('retry-after')) > 0, `${what}: Retry-After`);
  assert.equal(r.json.code, 'ERR_UNAVAILABLE', what);
  assert.doesNotMatch(r.text, /SQLITE|at .*\.(ts|js):\d+|Error:/, `${what}: no stack or driver detail in the body`);
}

async function timed<T>(run: () => Promise<T>): Promise<{ r: T; ms: number }> {
  const t0 = performance.now();
  const r = await run();
  return { r, ms: performance.now() - t0 };
}

async function signedIn(s: Running, name: string): Promise<{ access: string; refresh: string }> {
  const password = 'password-123';
  assert.equal((await call(`${s.url}/api/auth/signup`, { json: { username: name, email: `${name}@example.com`, password } })).status, 201);
  const login = await call(`${s.url}/api/v1/auth/login`, { form: { username: name, password } });
  assert.equal(login.status, 200, login.text);
  return { access: login.json.data.access_token, refresh: login.json.data.refresh_token };
}

/** A log stream keeping its lines, for startServer (with LOG_LEVEL=info). */
function logLines(): { lines: string[]; logStream: Writable } {
  const lines: string[] = [];
  return { lines, logStream: new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } }) };
}

/** The fault is reported once, as a shortage (a warning), never as the database unreachable. */
function assertOneShortageLine(lines: string[], code: string): void {
  const all = lines.join('');
  assert.doesNotMatch(all, /database unreachable|database back/);
  const warnings = lines.filter((l) => /refuses statements for want of a resource/.test(l));
  assert.equal(warnings.length, 1, all);
  assert.match(warnings[0]!, new RegExp(`"level":40.*"reason":"database refused for want of a resource: ${code}`));
}

const refresh = (s: Running, token: string) => call(`${s.url}/api/v1/auth/refresh?refresh_token=${token}`, { method: 'POST' });

describe('SQLite faults', () => {
  it('another process holds the write lock: writes answer 503 within DATABASE_QUERY_TIMEOUT_MS, reads go on, released: served again', async (t) => {
    const path = tempFile();
    const { lines, logStream } = logLines();
    const s = await startServer({ DATABASE_URL: `sqlite:${path}`, DATABASE_QUERY_TIMEOUT_MS: '1500', REFRESH_REUSE_GRACE_SECONDS: '0', LOG_LEVEL: 'info' }, { logStream });
    try {
      const tokens = await signedIn(s, 'locked');
      const other = openSqlite(path);
      other.exec('BEGIN IMMEDIATE'); // the write lock, held as another process's long transaction holds it
      try {
        let settled = 0;
        const writes = Promise.all([
          timed(() => call(`${s.url}/api/auth/signin`, { json: { username: 'locked', password: 'password-123' } })),
          timed(() => refresh(s, tokens.refresh)),
          timed(() => call(`${s.url}/api/auth/signup`, { json: { username: 'second', email: 'second@example.com', password: 'password-123' } })),
        ].map((p) => p.finally(() => settled++)));
        // While they wait for the lock, the server is not stopped: reads (WAL: readers never wait
        // on the writer) and token checks are answered before any of the writes is.
        const me = await call(`${s.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${tokens.access}` } });
        const verify = await call(`${s.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${tokens.access}` } });
        assert.deepEqual([me.status, verify.status, settled], [200, 200, 0]);
        const answers = await writes;
        for (const [i, a] of answers.entries()) {
          assertUnavailable(a.r, ['signin', 'refresh', 'signup'][i]!);
          assert.ok(a.ms < 5000, `answered in ${Math.round(a.ms)} ms`);
        }
        t.diagnostic(`write lock held: 503 in ${answers.map((a) => Math.round(a.ms)).join('/')} ms (signin/refresh/signup)`);
        // One more while the lock is held, let go within the bound: it waits, then goes through. The
        // refused refresh above rotated nothing, so its token is still the current one (no grace here).
        const waiting = refresh(s, tokens.refresh);
        assert.equal((await call(`${s.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${tokens.access}` } })).status, 200);
        other.exec('ROLLBACK');
        const through = await waiting;
        assert.equal(through.status, 200, through.text);
      } finally {
        if (other.inTransaction) other.exec('ROLLBACK');
        other.close();
      }
      assert.equal((await call(`${s.url}/api/auth/signup`, { json: { username: 'second', email: 'second@example.com', password: 'password-123' } })).status, 201);
      assertOneShortageLine(lines, 'SQLITE_BUSY');
    } finally {
      await s.close();
    }
  });

  it('another process holds the write lock: a file already up to date opens, and is read, without waiting for it', { timeout: 30_000 }, async () => {
    const path = tempFile();
    await (await openStorage(`sqlite:${path}`)).close(); // migrated
    const other = openSqlite(path);
    other.exec('BEGIN IMMEDIATE'); // a long import's, or a stuck shell's
    try {
      // Before, each opening took the write lock to find nothing to migrate: a command or a
      // starting instance waited for the other transaction, up to the migrations' 15 minutes.
      const { r: storage, ms } = await timed(() => openStorage(`sqlite:${path}`, { queryTimeoutMs: 500 }));
      try {
        assert.ok(ms < 2000, `opened in ${Math.round(ms)} ms`);
        assert.equal(await storage.users.count(), 0);
      } finally {
        await storage.close();
      }
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
  });

  it('a full disk: refreshes asked together are each answered 200 and kept, or 503 and unchanged; space back: served again', async (t) => {
    const path = tempFile();
    const { storage, db } = storageWithConnection(path, 300);
    await storage.migrate();
    const { lines, logStream } = logLines();
    const s = await startServer({ DATABASE_URL: `sqlite:${path}`, REFRESH_REUSE_GRACE_SECONDS: '0', LOG_LEVEL: 'info' }, { storage, logStream });
    try {
      const users = [];
      for (let i = 0; i < 24; i++) users.push(await signedIn(s, `full${i}`));
      // Not one page more than the file has: the first write that needs a new page fails as on a full disk.
      // (Statements kept, as sqlite-driver.ts keeps the adapter's: on Node 24 one finalized may abort.)
      setPragma(db, `max_page_count = ${prepare(db, 'PRAGMA page_count').pluck().get() as number}`);
      const answers = await Promise.all(users.map((u) => refresh(s, u.refresh)));
      const ok = answers.filter((a) => a.status === 200).length;
      for (const [i, a] of answers.entries()) if (a.status !== 200) assertUnavailable(a, `refresh ${i}`);
      assert.ok(ok < users.length, 'the disk filled before every refresh was written');
      // Sign-ups, until one finds no room (each answer 201 or 503, nothing else).
      const signup = (i: number) => call(`${s.url}/api/auth/signup`, { json: { username: `nospace${i}`, email: `nospace${i}@example.com`, password: 'password-123' } });
      let refused = -1;
      for (let i = 0; i < 200 && refused < 0; i++) {
        const r = await signup(i);
        if (r.status === 503) (assertUnavailable(r, `signup ${i}`), (refused = i));
        else assert.equal(r.status, 201, r.text);
      }
      assert.ok(refused >= 0, 'a sign-up found the disk full');
      t.diagnostic(`disk full: ${ok} of ${users.length} refreshes answered 200, the rest 503; sign-up ${refused + 1} was the first refused`);

      setPragma(db, 'max_page_count = 1073741823');
      // Each client goes on with the token it was last given: the new one after a 200, the old one after a 503.
      for (const [i, a] of answers.entries()) {
        const current = a.status === 200 ? a.json.data.refresh_token as string : users[i]!.refresh;
        const next = await refresh(s, current);
        assert.equal(next.status, 200, `user ${i} (${a.status} before): ${next.text}`);
      }
      assert.equal((await signup(refused)).status, 201, 'the refused sign-up, again');
      assertOneShortageLine(lines, 'SQLITE_FULL');
      // Every refused statement is counted (a request answered 503 met at least one), and the database stayed "up".
      const metrics = (await call(`${s.url}/metrics`)).text;
      const refusals = Number(/^warden_database_refusals_total (\d+)$/m.exec(metrics)?.[1]);
      assert.ok(refusals >= users.length - ok + 1, `${refusals} refusals counted for ${users.length - ok + 1} requests answered 503`);
      assert.match(metrics, /^warden_database_up 1$/m);
    } finally {
      await s.close();
    }
  });
});
