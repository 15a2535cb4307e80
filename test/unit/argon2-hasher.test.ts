// The server's hasher: today's argon2id on the fast path; any other stored hash verified by the
// legacy verifiers (and flagged for rehash); an unusable one is a failed check and one report that
// names the format and never carries the hash.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { CURRENT_HASH_PREFIX, HASH_OPTIONS, createArgon2Hasher, hashQueue, type UnusableHash } from '../../src/accounts/argon2-hasher.js';
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

  it('hashes waiting for a slot are served a client at a time: one client\'s flood does not stand in front of another\'s sign-in', async () => {
    const h = createArgon2Hasher();
    const stored = await h.hash('flooded-password-1');
    const done: string[] = [];
    const check = (client: string, i: number) => h.verify(stored, 'flooded-password-1', { client }).then(() => void done.push(`${client}${i}`));
    // Every slot taken, and a line of 12 behind them, by one client; then one sign-in of another.
    const flood = Array.from({ length: 12 + availableParallelism() }, (_, i) => check('203.0.113.9', i));
    const other = check('198.51.100.7', 0);
    await Promise.all([...flood, other]);
    // First come, first served, it finished last; in turn, it starts once one slot frees (a slot
    // may then go to the flood first) and finishes among the first slots-and-two checks.
    assert.ok(done.indexOf('198.51.100.70') < availableParallelism() + 2, done.join(' '));
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
