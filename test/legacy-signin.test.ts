// Users brought over from Flask/FastAPI/Django sign in over HTTP with the hashes those apps stored:
// every format of the fixture (made by the real Python libraries, test/fixtures/legacy-hashes), and
// fresh hashes made now by /usr/bin/python3 when the libraries are installed. After a successful
// sign-in the stored hash is today's argon2id and the same password still works. An unusable hash
// is a 401 like a wrong password, logged once by format, never with the hash. Concurrent sign-ins
// on two instances leave one valid hash.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { verify as argon2Verify } from '@node-rs/argon2';
import { after, before, describe, it } from 'node:test';
import { CURRENT_HASH_PREFIX } from '../src/accounts/argon2-hasher.js';
import { fromSource, type DigestSource } from '../src/accounts/hashes/fast-digest.js';
import type { Storage } from '../src/storage/index.js';
import { call, startServer, type Running } from './helpers/server.js';
import { storageFactories } from './helpers/storage.js';

interface FixtureRow { kind: string; format: string; password: string; wrong: string; hash: string; source?: DigestSource }

const MAKE = new URL('./fixtures/legacy-hashes/make.py', import.meta.url).pathname;
const fixtures = (JSON.parse(readFileSync(new URL('./fixtures/legacy-hashes/hashes.json', import.meta.url), 'utf8')) as { rows: FixtureRow[] }).rows;
// One row per kind of hash, with a password a sign-in can carry (not empty).
const perKind = [...new Map(fixtures.filter((r) => r.password !== '').map((r) => [r.kind, r])).values()];
const ENV = { SIGNIN_MAX_FAILURES: '0', LOG_LEVEL: 'info' };

function pythonKinds(): { kinds?: string[]; skip?: string } {
  try {
    const probe = JSON.parse(execFileSync('/usr/bin/python3', [MAKE, '--probe'], { encoding: 'utf8' })) as { kinds: Record<string, { missing: string[] }> };
    const kinds = Object.entries(probe.kinds).filter(([, k]) => k.missing.length === 0).map(([name]) => name);
    const missing = Object.entries(probe.kinds).filter(([, k]) => k.missing.length > 0).map(([name]) => name);
    if (missing.length > 0) console.log(`# fresh legacy hashes: no Python library for ${missing.join(', ')} (apt-get install python3-werkzeug python3-passlib python3-bcrypt python3-django python3-argon2)`);
    return kinds.length > 0 ? { kinds } : { skip: 'none of the Python password libraries is installed (apt-get install python3-werkzeug python3-passlib python3-bcrypt python3-django python3-argon2)' };
  } catch (e) {
    return { skip: `/usr/bin/python3 cannot run make.py: ${(e as Error).message.split('\n')[0]}` };
  }
}

describe('legacy password hashes: sign-in over HTTP, then upgraded', () => {
  let s: Running;
  const lines: string[] = [];
  let n = 0;
  before(async () => {
    const logStream = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
    s = await startServer(ENV, { logStream });
  });
  after(() => s.close());

  async function userWith(hash: string) {
    return s.warden.storage.users.create({
      id: randomUUID(), username: `legacy${++n}`, email: `legacy${n}@example.com`, fullName: null, roles: ['user'], isActive: true, passwordHash: hash,
    });
  }
  const signIn = (username: string, password: string) => call(`${s.url}/api/auth/signin`, { json: { username, password } });

  /** Signs in with the legacy hash, checks the upgrade, signs in again. */
  async function signInAndUpgrade(r: Pick<FixtureRow, 'kind' | 'password' | 'wrong' | 'hash' | 'source'>) {
    // A fast digest as an import with --fast-digests <source> stores it.
    const hash = r.source === undefined ? r.hash : (fromSource(r.hash, r.source) as { hash: string }).hash;
    const u = await userWith(hash);
    const wrong = await signIn(u.username, r.wrong);
    assert.equal(wrong.status, 401, `${r.kind}: wrong password`);
    assert.equal((await s.warden.storage.users.findById(u.id))!.passwordHash, hash, `${r.kind}: a failed sign-in changes nothing`);
    const first = await signIn(u.username, r.password);
    assert.equal(first.status, 200, `${r.kind}: ${first.text}`);
    const stored = (await s.warden.storage.users.findById(u.id))!.passwordHash;
    assert.ok(stored.startsWith(CURRENT_HASH_PREFIX), `${r.kind}: stored ${stored.slice(0, 30)}…`);
    assert.equal((await signIn(u.email, r.password)).status, 200, `${r.kind}: the same password after the upgrade`);
    assert.equal((await signIn(u.username, r.wrong)).status, 401, `${r.kind}: wrong password after the upgrade`);
  }

  it(`the fixture's hashes, every kind of every format (${perKind.length} kinds)`, async () => {
    const formats = new Set(perKind.map((r) => r.format));
    assert.ok(formats.size >= 12, [...formats].join(', '));
    for (const r of perKind) await signInAndUpgrade(r);
  });

  const py = pythonKinds();
  it('fresh hashes made now by the Python libraries', py.skip !== undefined ? { skip: py.skip } : {}, async () => {
    // The cheap kind of each format (the default-cost ones are in the fixture already).
    const kinds = py.kinds!.filter((k) => !k.endsWith('-default') || !py.kinds!.some((o) => o !== k && o.startsWith(k.replace(/-default$/, ''))));
    const password = `pässwörd ${randomInt(1e9)} 日本 🔑`;
    const request = JSON.stringify({ rows: kinds.map((kind) => ({ kind, password, wrong: `${password}!` })) });
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
      const child = execFile('/usr/bin/python3', [MAKE, '--stdin'], { maxBuffer: 1 << 24 }, (err, out) => (err ? reject(err) : resolve({ stdout: out })));
      child.stdin!.end(request);
    });
    const rows = (JSON.parse(stdout) as { rows: (FixtureRow & { skip?: string })[] }).rows.filter((r) => !r.skip && r.hash);
    assert.ok(rows.length >= 10, `only ${rows.length} fresh hashes`);
    for (const r of rows) await signInAndUpgrade(r);
  });

  it('an unusable stored hash: the same 401 as a wrong password, one log line naming the format, never the hash', async () => {
    const bcrypt = perKind.find((r) => r.kind === 'bcrypt-2b-4')!;
    const good = await userWith(bcrypt.hash);
    const wrongAnswer = await signIn(good.username, bcrypt.wrong);
    const cases: [string, string][] = [
      [bcrypt.hash.slice(0, -7), 'bcrypt'], // truncated
      ['sha1$a1b2c3$0123456789abcdef0123456789abcdef01234567', 'legacy-digest'], // Django's salted SHA-1: refused
      [bcrypt.hash.replace('$04$', '$31$'), 'bcrypt'], // too costly
      ['correct horse battery staple', 'unknown'], // a plain password where a hash should be
    ];
    for (const [hash, format] of cases) {
      const u = await userWith(hash);
      const before = lines.length;
      const r = await signIn(u.username, bcrypt.password);
      assert.equal(r.status, 401, hash);
      assert.deepEqual(r.json, wrongAnswer.json);
      const logged = lines.slice(before).filter((l) => l.includes('stored password hash cannot be verified'));
      assert.equal(logged.length, 1, lines.slice(before).join(''));
      const entry = JSON.parse(logged[0]!);
      assert.equal(entry.hashFormat, format);
      assert.equal(entry.userId, u.id);
      for (const l of lines.slice(before)) assert.ok(!l.includes(hash), 'the hash is never logged');
      assert.equal((await s.warden.storage.users.findById(u.id))!.passwordHash, hash, 'left as it is');
    }
  });
});

describe('legacy password hashes: concurrent sign-ins on two instances', async () => {
  const pg = (await storageFactories()).find((f) => f.name === 'postgres')!;
  let a: Running;
  let b: Running;
  let storage: Storage;
  let other: Storage;
  before(async () => {
    if (pg.skip) return;
    storage = await pg.create();
    other = pg.reopen(storage)!;
    a = await startServer(ENV, { storage });
    b = await startServer(ENV, { storage: other });
  });
  after(async () => {
    if (pg.skip) return;
    await a.close();
    await b.close();
    await storage.close();
    await other.close();
    await pg.cleanup();
  });

  it('leave one valid argon2id hash, and every sign-in succeeds', pg.skip !== undefined ? { skip: pg.skip } : {}, async () => {
    const row = perKind.find((r) => r.kind === 'werkzeug-pbkdf2-sha256-1000')!;
    for (let round = 0; round < 3; round++) {
      const u = await storage.users.create({
        id: randomUUID(), username: `race${round}`, email: `race${round}@example.com`, fullName: null, roles: ['user'], isActive: true, passwordHash: row.hash,
      });
      const results = await Promise.all([a, b, a, b].map((srv) => call(`${srv.url}/api/auth/signin`, { json: { username: u.username, password: row.password } })));
      assert.deepEqual(results.map((r) => r.status), [200, 200, 200, 200]);
      const stored = (await storage.users.findById(u.id))!.passwordHash;
      assert.ok(stored.startsWith(CURRENT_HASH_PREFIX));
      assert.equal(await argon2Verify(stored, row.password), true);
      assert.equal((await call(`${b.url}/api/auth/signin`, { json: { username: u.username, password: row.password } })).status, 200);
    }
  });
});
