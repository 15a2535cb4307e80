// The server's hasher: today's argon2id on the fast path; any other stored hash verified by the
// legacy verifiers (and flagged for rehash); an unusable one is a failed check and one report that
// names the format and never carries the hash.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { CURRENT_HASH_PREFIX, HASH_OPTIONS, createArgon2Hasher, hashQueue, limited, type UnusableHash } from '../../src/accounts/argon2-hasher.js';
import { needsRehash } from '../../src/accounts/password-hasher.js';

const fixtures = JSON.parse(readFileSync(new URL('../fixtures/legacy-hashes/hashes.json', import.meta.url), 'utf8')).rows as
  { kind: string; format: string; password: string; wrong: string; hash: string }[];
const cheap = (kind: string) => fixtures.find((r) => r.kind === kind && r.password !== '')!;

describe('argon2 hasher', () => {
  it('hashes with today\'s settings, which need no rehash', async () => {
    const h = createArgon2Hasher();
    const stored = await h.hash('pässwörd-123');
    assert.ok(stored.startsWith(CURRENT_HASH_PREFIX), stored);
    assert.equal(needsRehash(h, stored), false);
    assert.equal(await h.verify(stored, 'pässwörd-123'), true);
    assert.equal(await h.verify(stored, 'pässwörd-124'), false);
  });

  // The line itself, with work the test finishes when it chooses: orders and counts, no timing.
  const SLOTS = availableParallelism();
  /** A job in a slot that runs until finish() (or fail()). */
  const job = (client: string | null, started: string[], name: string) => {
    let finish: (() => void) | undefined;
    let fail: ((e: Error) => void) | undefined;
    const done = limited(() => new Promise<string>((resolve, reject) => {
      started.push(name);
      finish = () => resolve(name);
      fail = reject;
    }), client).then((n) => n, (e: Error) => `failed: ${e.message}`);
    return { done, name, get started() { return finish !== undefined; }, finish: () => finish!(), fail: (e: Error) => fail!(e) };
  };
  const settle = () => new Promise((r) => setImmediate(r));
  /** Finishes every job, each once it has its slot. */
  const drain = async (jobs: ReturnType<typeof job>[]) => {
    const finished = new Set<string>();
    while (finished.size < jobs.length) {
      for (const j of jobs) if (j.started && !finished.has(j.name)) (finished.add(j.name), j.finish());
      await settle();
    }
  };

  it('hashes waiting for a slot are served a client at a time: one client\'s flood does not stand in front of another\'s sign-in', async () => {
    const started: string[] = [];
    // Every slot taken, and a line of 12 behind them, by one client; then one sign-in of another.
    const flood = Array.from({ length: SLOTS + 12 }, (_, i) => job('203.0.113.9', started, `flood${i}`));
    const other = job('198.51.100.7', started, 'other');
    await settle();
    assert.equal(hashQueue.running, SLOTS);
    assert.equal(hashQueue.waiting, 13);
    // First come, first served, it started last; in turn, after at most one more of the flood.
    for (let i = 0; i < 2; i++) flood[i]!.finish(), await settle();
    assert.ok(started.includes('other'), started.join(' '));
    assert.ok(started.indexOf('other') <= SLOTS + 1, started.join(' '));
    other.finish();
    await drain(flood);
    await Promise.all([other.done, ...flood.map((f) => f.done)]);
    assert.equal(hashQueue.running, 0);
    assert.equal(hashQueue.waiting, 0);
  });

  it('the line\'s bound: past 512 waiting per core, 503 at once; work that throws gives its slot back; no client and the CLI share one line', async () => {
    const started: string[] = [];
    const jobs = Array.from({ length: SLOTS + 512 * SLOTS }, (_, i) => job(i % 3 === 0 ? null : i % 3 === 1 ? '' : `192.0.2.${i % 50}`, started, `j${i}`));
    await settle();
    assert.equal(hashQueue.running, SLOTS);
    assert.equal(hashQueue.waiting, 512 * SLOTS);
    const refused = await limited(async () => 'ran', '203.0.113.1').catch((e: { code?: string; details?: unknown }) => [e.code, e.details]);
    assert.deepEqual(refused, ['ERR_UNAVAILABLE', { retryAfter: 1 }]);
    assert.equal(hashQueue.waiting, 512 * SLOTS, 'a refusal takes no place in the line');
    // Every job fails (a hash that throws), as it gets its slot: each slot still passes on, the counts go back to nothing.
    const failed = new Set<string>();
    while (failed.size < jobs.length) {
      for (const j of jobs) if (j.started && !failed.has(j.name)) (failed.add(j.name), j.fail(new Error('argon2 failed')));
      await settle();
      assert.ok(hashQueue.running <= SLOTS);
    }
    assert.deepEqual(new Set(await Promise.all(jobs.map((j) => j.done))), new Set(['failed: argon2 failed']));
    assert.equal(started.length, jobs.length, 'every job ran');
    assert.equal(hashQueue.running, 0);
    assert.equal(hashQueue.waiting, 0);
    assert.equal(await limited(async () => 'ran', null), 'ran');
  });

  it('a sign-in\'s check is queued under its client: behind a flood, it runs after at most one more of it', { timeout: 20_000 }, async () => {
    const h = createArgon2Hasher();
    const stored = await h.hash('flooded-password-1');
    const started: string[] = [];
    const flood = Array.from({ length: SLOTS + 12 }, (_, i) => job('203.0.113.9', started, `flood${i}`));
    await settle();
    const other = h.verify(stored, 'flooded-password-1', { client: '198.51.100.7' });
    await settle();
    // Two of the flood answered: one slot to the flood's next, one to this check, which then
    // finishes with no more of the flood answered (first come, first served: it would never).
    for (let i = 0; i < 2; i++) flood[i]!.finish(), await settle();
    assert.equal(await other, true);
    await drain(flood);
    await Promise.all(flood.map((f) => f.done));
    assert.equal(hashQueue.running, 0);
  });

  it('a listener of the slot waits that throws gives the slot back: later checks still run (before, each such throw kept a slot for good)', async () => {
    const h = createArgon2Hasher();
    const stored = await h.hash('listened-password-1');
    const failing = () => { throw new Error('metrics failed'); };
    hashQueue.waited.add(failing);
    try {
      // More checks than slots: those that wait need the first ones' slots back. They settle (the
      // hasher takes the failure for a bad stored hash: false), none left waiting.
      await Promise.allSettled(Array.from({ length: availableParallelism() + 2 }, () => h.hash('listened-password-2', { client: '192.0.2.5' })));
    } finally {
      hashQueue.waited.delete(failing);
    }
    assert.equal(hashQueue.running, 0, 'every slot was given back');
    assert.equal(hashQueue.waiting, 0);
    assert.equal(await h.verify(stored, 'listened-password-1'), true);
  });

  it('hashes the password in NFKC, so any spelling of it matches; a hash of the password as typed (made before) still verifies', async () => {
    const h = createArgon2Hasher();
    const composed = 'café ﬁ Å-123'; // "é" one code point, the "ﬁ" ligature, "Å" one code point
    const decomposed = composed.normalize('NFD');
    assert.notEqual(composed, decomposed);
    const stored = await h.hash(composed);
    assert.equal(await argon2Verify(stored, composed.normalize('NFKC')), true, 'the hash is of the NFKC form');
    for (const spelling of [composed, decomposed, 'café fi Å-123']) assert.equal(await h.verify(stored, spelling), true, spelling);
    assert.equal(await h.verify(stored, 'cafe fi A-123'), false);
    // A hash of the decomposed spelling itself, as Warden made before it normalised.
    const old = await argon2Hash(decomposed, HASH_OPTIONS);
    assert.equal(await h.verify(old, decomposed), true);
    assert.equal(await h.verify(old, `${decomposed}!`), false);
  });

  it('verifies legacy hashes of each family, and flags them for rehash', async () => {
    const h = createArgon2Hasher();
    for (const kind of ['werkzeug-pbkdf2-sha256-1000', 'bcrypt-2b-4', 'passlib-pbkdf2-sha256-1000', 'sha512-crypt-1001', 'passlib-argon2id-small', 'django-pbkdf2-sha256-1000', 'django-bcrypt-sha256-4']) {
      const r = cheap(kind);
      assert.equal(await h.verify(r.hash, r.password), true, kind);
      assert.equal(await h.verify(r.hash, r.wrong), false, kind);
      assert.equal(needsRehash(h, r.hash), true, kind);
    }
    // argon2id with other parameters than today's is upgraded too.
    assert.equal(needsRehash(h, cheap('passlib-argon2id-small').hash), true);
  });

  it('an unusable stored hash fails the check and is reported once, by format, without the hash', async () => {
    const reports: UnusableHash[] = [];
    const h = createArgon2Hasher({ onUnusableHash: (u) => reports.push(u) });
    const bcrypt = cheap('bcrypt-2b-4').hash;
    const cases: [string, string, UnusableHash['problem']][] = [
      [bcrypt.slice(0, -5), 'bcrypt', 'malformed'],
      ['sha1$salt$0123456789abcdef', 'legacy-digest', 'unsupported'],
      ['nothing-like-a-hash', 'unknown', 'unsupported'],
      [bcrypt.replace(/^\$2b\$04\$/, '$2b$31$'), 'bcrypt', 'too_costly'],
      [`${CURRENT_HASH_PREFIX}AAAA$AAAA`, 'argon2', 'malformed'],
    ];
    for (const [stored, format, problem] of cases) {
      reports.length = 0;
      assert.equal(await h.verify(stored, 'correct horse battery staple', { userId: 'u-1' }), false, stored);
      assert.equal(reports.length, 1, stored);
      assert.equal(reports[0]!.format, format, stored);
      assert.equal(reports[0]!.problem, problem, stored);
      assert.equal(reports[0]!.userId, 'u-1');
      assert.ok(!JSON.stringify(reports[0]).includes(stored), 'the report never carries the hash');
    }
  });
});
