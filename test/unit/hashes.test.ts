// Legacy password hashes (src/accounts/hashes): every row of test/fixtures/legacy-hashes/hashes.json,
// made by the real Python libraries, verifies with its password and not with the wrong one; fresh
// hashes made now by Debian's /usr/bin/python3 verify too (skipped, saying so, where its packages
// are missing); malformed stored hashes give 'malformed', never a throw; absurd costs give
// 'too_costly' while parsing, before any work.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash, createHmac, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { hash as argon2Hash } from '@node-rs/argon2';
import { prepareArgon2 } from '../../src/accounts/hashes/argon2.js';
import { prepareBcrypt } from '../../src/accounts/hashes/bcrypt.js';
import { prepareDjangoPbkdf2 } from '../../src/accounts/hashes/django.js';
import { fromSource, type DigestSource } from '../../src/accounts/hashes/fast-digest.js';
import { LIMITS, identifyHash, verifyLegacyHash, type LegacyFormat, type LegacyVerifyResult } from '../../src/accounts/hashes/index.js';
import { preparePasslibPbkdf2 } from '../../src/accounts/hashes/passlib.js';
import { prepareShaCrypt, shaCryptChecksum } from '../../src/accounts/hashes/sha-crypt.js';
import { prepareWerkzeugPbkdf2, prepareWerkzeugScrypt } from '../../src/accounts/hashes/werkzeug.js';

const PYTHON = '/usr/bin/python3';
const MAKE = new URL('../fixtures/legacy-hashes/make.py', import.meta.url).pathname;

interface Row {
  library: string;
  format: LegacyFormat;
  kind: string;
  password: string;
  wrong: string;
  hash: string;
  also_accepted?: string[];
  also_rejected?: string[];
  /** A single fast digest's library: Warden verifies it as an import with --fast-digests <source> stores it. */
  source?: DigestSource;
}

const fixtures = JSON.parse(readFileSync(new URL('../fixtures/legacy-hashes/hashes.json', import.meta.url), 'utf8')) as { rows: Row[] };
const VERIFIED: LegacyFormat[] = [
  'werkzeug-pbkdf2', 'werkzeug-scrypt', 'bcrypt', 'passlib-bcrypt-sha256', 'passlib-pbkdf2', 'sha256-crypt', 'sha512-crypt',
  'argon2', 'django-pbkdf2', 'django-bcrypt', 'django-bcrypt-sha256', 'django-argon2', 'django-scrypt',
  'werkzeug-digest', 'django-digest',
];

/** What Warden stores for a row's hash: a fast digest as the import that named its library tags it. */
function storedOf(row: Row): string {
  if (row.source === undefined) return row.hash;
  const tagged = fromSource(row.hash, row.source);
  assert.ok(tagged !== null && 'hash' in tagged, `${row.kind}: ${row.source} digest`);
  return tagged.hash;
}

const fixture = (kind: string): Row => {
  const row = fixtures.rows.find((r) => r.kind === kind);
  assert.ok(row, kind);
  return row;
};

async function assertRow(row: Row): Promise<void> {
  const what = `${row.kind} ${JSON.stringify(row.password).slice(0, 40)}`;
  if (row.source !== undefined) {
    // As the library wrote it, a fast digest is never verified: the import must name its library.
    assert.notEqual((await verifyLegacyHash(row.hash, row.password) as { ok?: boolean }).ok, true, `${what}: untagged`);
    row = { ...row, hash: storedOf(row) };
  }
  assert.deepEqual(identifyHash(row.hash), { format: row.format }, what);
  assert.deepEqual(await verifyLegacyHash(row.hash, row.password), { ok: true, format: row.format }, what);
  assert.deepEqual(await verifyLegacyHash(row.hash, row.wrong), { ok: false, format: row.format }, `${what}: wrong password`);
  for (const p of row.also_accepted ?? []) assert.deepEqual(await verifyLegacyHash(row.hash, p), { ok: true, format: row.format }, `${what}: also accepted ${p}`);
  for (const p of row.also_rejected ?? []) assert.deepEqual(await verifyLegacyHash(row.hash, p), { ok: false, format: row.format }, `${what}: also rejected ${p}`);
}

describe('legacy hashes: fixtures made by the real libraries', () => {
  it('cover every verified format, with non-ASCII and empty passwords, and >72-byte ones for the bcrypt family', () => {
    for (const format of VERIFIED) {
      const rows = fixtures.rows.filter((r) => r.format === format);
      assert.ok(rows.some((r) => /[^\x00-\x7f]/.test(r.password)), `${format}: a non-ASCII password`);
      assert.ok(rows.some((r) => r.password === ''), `${format}: the empty password`);
      if (format.includes('bcrypt')) assert.ok(rows.some((r) => Buffer.byteLength(r.password) > 72), `${format}: a password over 72 bytes`);
    }
  });

  for (const format of VERIFIED) {
    describe(format, { concurrency: true }, () => {
      for (const row of fixtures.rows.filter((r) => r.format === format)) {
        it(`${row.kind} (${row.library}): ${JSON.stringify(row.password).slice(0, 32)}`, () => assertRow(row));
      }
    });
  }
});

describe('legacy hashes: the 72-byte rule', () => {
  // 71 ASCII bytes then "é" (0xC3 0xA9): the cut at 72 bytes keeps half of it, so "è" (0xC3 0xA8)
  // followed by anything is the same bcrypt password. python-bcrypt agrees (make.py checks it).
  const long = fixtures.rows.find((r) => r.kind === 'bcrypt-2b-4' && r.also_accepted?.some((p) => p.includes('è')));
  it('bcrypt and Django bcrypt cut the UTF-8 bytes at 72, even inside a character', async () => {
    assert.ok(long);
    assert.deepEqual(await verifyLegacyHash(long.hash, `${'A'.repeat(71)}è...`), { ok: true, format: 'bcrypt' });
    assert.deepEqual(await verifyLegacyHash(long.hash, 'A'.repeat(71)), { ok: false, format: 'bcrypt' });
    const django = fixtures.rows.find((r) => r.kind === 'django-bcrypt-4' && Buffer.byteLength(r.password) > 72)!;
    assert.deepEqual(await verifyLegacyHash(django.hash, `${'A'.repeat(71)}è anything`), { ok: true, format: 'django-bcrypt' });
  });
  it('the SHA-256 wrappers (passlib bcrypt_sha256 v1/v2, Django bcrypt_sha256) do not cut', async () => {
    for (const kind of ['passlib-bcrypt-sha256-v2-4', 'passlib-bcrypt-sha256-v1-2b-4', 'django-bcrypt-sha256-4']) {
      const row = fixtures.rows.find((r) => r.kind === kind && Buffer.byteLength(r.password) > 72)!;
      assert.equal((await verifyLegacyHash(row.hash, `${'A'.repeat(71)}è anything`) as { ok: boolean }).ok, false, kind);
    }
  });
});

describe('legacy hashes: Django scrypt and the fast digests against their own definitions', () => {
  it("Django's scrypt test vector (its tests/auth_tests/test_hashers.py; licence: test/fixtures/legacy-hashes/DJANGO-LICENSE)", async () => {
    const stored = 'scrypt$16384$seasalt$8$1$Qj3+9PPyRjSJIebHnG81TMjsqtaIGxNQG/aEB/NYafTJ7tibgfYz71m0ldQESkXFRkdVCBhhY8mx7rQwite/Pw==';
    assert.deepEqual(await verifyLegacyHash(stored, 'lètmein'), { ok: true, format: 'django-scrypt' });
    assert.deepEqual(await verifyLegacyHash(stored, 'lètmeinz'), { ok: false, format: 'django-scrypt' });
  });

  it('werkzeug: an unsalted digest is the plain hash, a salted one the HMAC keyed by the salt; Django: the hash of salt and password', async () => {
    const hex = (alg: string, text: string) => createHash(alg).update(text).digest('hex');
    const cases: [DigestSource, string, string][] = [
      ['werkzeug', `sha256$$${hex('sha256', 'pw')}`, 'werkzeug-digest'],
      ['werkzeug', `sha1$salt$${createHmac('sha1', 'salt').update('pw').digest('hex')}`, 'werkzeug-digest'],
      ['django', `sha1$salt$${hex('sha1', 'saltpw')}`, 'django-digest'],
      ['django', hex('md5', 'pw'), 'django-digest'],
    ];
    for (const [source, stored, format] of cases) {
      const tagged = (fromSource(stored, source) as { hash: string }).hash;
      assert.deepEqual(await verifyLegacyHash(tagged, 'pw'), { ok: true, format }, stored);
      assert.deepEqual(await verifyLegacyHash(tagged, 'pW'), { ok: false, format }, stored);
    }
    // The same layout read as the other library's is a different function: no match.
    const werkzeugs = `sha1$salt$${createHmac('sha1', 'salt').update('pw').digest('hex')}`;
    assert.equal((await verifyLegacyHash((fromSource(werkzeugs, 'django') as { hash: string }).hash, 'pw') as { ok: boolean }).ok, false);
    // Hand-written code's bare hex digests, by length; the case of the hex does not matter.
    for (const alg of ['md5', 'sha1', 'sha256', 'sha512']) {
      const tagged = (fromSource(hex(alg, 'pw').toUpperCase(), 'hex') as { hash: string }).hash;
      assert.deepEqual(await verifyLegacyHash(tagged, 'pw'), { ok: true, format: 'werkzeug-digest' }, alg);
      assert.deepEqual(await verifyLegacyHash(tagged, 'pW'), { ok: false, format: 'werkzeug-digest' }, alg);
    }
    assert.equal(fromSource('a'.repeat(63), 'hex'), null);
    assert.equal(fromSource('sha256$$' + 'a'.repeat(64), 'hex'), null);
    assert.deepEqual(fromSource('plain$$a password', 'werkzeug'), { plain: 'a password' });
    assert.equal(fromSource('plain$$a password', 'django'), null);
    assert.equal(fromSource('pbkdf2:sha256:1000$salt$abcd', 'werkzeug'), null, 'not a fast digest: left as it is');
    for (const bad of ['werkzeug-digest$sha256$salt$' + 'A'.repeat(64), 'werkzeug-digest$sha256$salt$abc', 'django-digest$sha256$salt$' + 'a'.repeat(64), 'werkzeug-digest$sha256$' + 'a'.repeat(64)]) {
      assert.notEqual((await verifyLegacyHash(bad, 'pw') as { ok?: boolean }).ok, true, bad);
    }
  });
});

describe('legacy hashes: Flask-Security\'s double hash', () => {
  // What flask_security.hash_password does with its default bcrypt: passlib's bcrypt over
  // base64(HMAC-SHA512(SECURITY_PASSWORD_SALT, NFKD(password))); test/flask-security-import.test.ts
  // runs Flask-Security itself.
  const salt = 'pepper';
  const inner = fixture('passlib-bcrypt-2b-4');
  it('is checked through the HMAC under the salt, and refused without the salt', async () => {
    const hmac = (pw: string) => createHmac('sha512', salt).update(pw.normalize('NFKD')).digest('base64');
    const password = 'ﬁligree Å';
    const tagged = `flask-security$${await argon2Hash(hmac(password), { memoryCost: 1024, timeCost: 1, parallelism: 1 })}`;
    assert.deepEqual(identifyHash(tagged), { format: 'flask-security' });
    assert.deepEqual(await verifyLegacyHash(tagged, password, { flaskSecuritySalt: salt }), { ok: true, format: 'flask-security' });
    assert.deepEqual(await verifyLegacyHash(tagged, password.normalize('NFKD'), { flaskSecuritySalt: salt }), { ok: true, format: 'flask-security' });
    assert.deepEqual(await verifyLegacyHash(tagged, password, { flaskSecuritySalt: 'another' }), { ok: false, format: 'flask-security' });
    // A bcrypt of the password itself (the fixture's) does not match through the HMAC.
    assert.deepEqual(await verifyLegacyHash(`flask-security$${inner.hash}`, inner.password, { flaskSecuritySalt: salt }), { ok: false, format: 'flask-security' });
    const none = await verifyLegacyHash(tagged, password);
    assert.equal((none as { error?: string }).error, 'unsupported');
    assert.match((none as { reason: string }).reason, /SECURITY_PASSWORD_SALT/);
    for (const [stored, error] of [[`flask-security$${tagged}`, 'malformed'], [`flask-security$${fixture('django-pbkdf2-sha256-1000').hash}`, 'unsupported'], ['flask-security$not a hash', 'unsupported']] as const) {
      assert.equal((await verifyLegacyHash(stored, 'x', { flaskSecuritySalt: salt }) as { error?: string }).error, error, stored);
    }
  });
});

describe('legacy hashes: SHA-crypt against the specification', () => {
  // Drepper's test vectors (akkadia.org/drepper/SHA-crypt.txt), as glibc's crypt(3) computes them.
  const vectors: [string, string, string][] = [
    ['$5$saltstring', 'Hello world!', '$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5'],
    ['$6$saltstring', 'Hello world!', '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1'],
    ['$5$rounds=10000$saltstringsaltst', 'Hello world!', '$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA'],
    ['$6$rounds=10000$saltstringsaltst', 'Hello world!', '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.'],
    ['$5$rounds=77777$short', 'we have a short salt string but not a short password', '$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/'],
    ['$6$rounds=1400$anotherlongsalts', 'a very much longer text to encrypt.  This one even stretches over morethan one line.', '$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1'],
  ];
  for (const [setting, password, expected] of vectors) {
    it(setting, async () => {
      const m = /^\$([56])\$(?:rounds=(\d+)\$)?(.*)$/.exec(setting)!;
      const checksum = shaCryptChecksum(m[1] as '5' | '6', Buffer.from(password), m[3]!, Number(m[2] ?? 5000));
      assert.equal(expected.slice(expected.lastIndexOf('$') + 1), checksum);
      assert.equal((await verifyLegacyHash(expected, password) as { ok: boolean }).ok, true);
    });
  }
});

// ---- fresh hashes from the Python libraries, made now

interface Probe {
  modules: Record<string, string | null>;
  kinds: Record<string, { format: LegacyFormat; missing: string[] }>;
}

function probe(): Probe | string {
  try {
    return JSON.parse(execFileSync(PYTHON, [MAKE, '--probe'], { encoding: 'utf8' })) as Probe;
  } catch (e) {
    return `${PYTHON} could not run ${MAKE} --probe (${e instanceof Error ? e.message.split('\n')[0] : e})`;
  }
}

/** Runs make.py --stdin; the passwords travel as JSON on stdin, never in argv. */
function makeFresh(request: { rows: Partial<Row>[] }): Promise<Row[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(PYTHON, [MAKE, '--stdin'], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`make.py --stdin failed: ${stderr || err.message}`));
      else resolve((JSON.parse(stdout) as { rows: Row[] }).rows);
    });
    child.stdin!.end(JSON.stringify(request));
  });
}

// Random passwords over 1-, 2-, 3- and 4-byte UTF-8 characters; never NUL (python-bcrypt 3 refuses it).
const ALPHABETS = [
  'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~',
  'äöüßéèçñøåÆŒ¿¡§°',
  '日本語中文한국어ไทยΣπ€',
  '🔑😀🙃🎉𝄞',
];
function randomPassword(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    const chars = [...ALPHABETS[randomInt(ALPHABETS.length)]!];
    out += chars[randomInt(chars.length)];
  }
  return out;
}
const randomAscii = (n: number) => Array.from({ length: n }, () => ALPHABETS[0]![randomInt(ALPHABETS[0]!.length)]).join('');

const probed = probe();
const freshSkip = typeof probed === 'string' ? probed : undefined;

describe(`legacy hashes: fresh hashes from ${PYTHON}`, { skip: freshSkip }, () => {
  const kinds = typeof probed === 'string' ? {} : probed.kinds;
  // The libraries' default costs are slow (and in the fixtures already); the rest all run.
  const quick = Object.entries(kinds).filter(([kind]) => !kind.includes('default'));
  let made: Row[] = [];

  before(async () => {
    const rows: Partial<Row>[] = [];
    for (const [kind, info] of quick) {
      if (info.missing.length > 0) continue;
      rows.push({ kind, password: randomAscii(randomInt(1, 40)) }, { kind, password: randomPassword(randomInt(1, 30)) });
      if (info.format.includes('bcrypt')) {
        // Past 72 bytes: the truncating hashes must accept another tail, the SHA-256 wrappers not.
        const head = randomAscii(72);
        const other = `${head}${randomPassword(8)}`;
        const cuts = info.format === 'bcrypt' || info.format === 'django-bcrypt';
        rows.push({ kind, password: `${head}${randomPassword(10)}`, ...(cuts ? { also_accepted: [other] } : { also_rejected: [other] }) });
      }
    }
    made = await makeFresh({ rows });
  });

  for (const [kind, info] of quick) {
    const skip = info.missing.length > 0 ? `python module(s) ${info.missing.join(', ')} missing for ${PYTHON} (Debian: python3-${info.missing.join(', python3-')})` : undefined;
    it(`${kind} (${info.format})`, { skip }, async () => {
      const rows = made.filter((r) => r.kind === kind);
      assert.ok(rows.length >= 2, `make.py answered for ${kind}`);
      for (const row of rows) await assertRow(row);
    });
  }
});

// ---- malformed and unsupported stored hashes

async function refusal(stored: unknown, password = 'password'): Promise<LegacyVerifyResult> {
  return verifyLegacyHash(stored as string, password); // must resolve, whatever `stored` is
}

/** `stored` with its first `from` replaced by `to`, taken literally ("$$" stays "$$"). */
const swap = (stored: string, from: string, to: string): string => stored.replace(from, () => to);

function withField(stored: string, index: number, value: string): string {
  const parts = stored.split('$');
  parts[index] = value;
  return parts.join('$');
}

describe('legacy hashes: malformed stored hashes are refused by name, never thrown', () => {
  const w = fixture('werkzeug-pbkdf2-sha256-1000').hash; // pbkdf2:sha256:1000$salt$hex
  const ws = fixture('werkzeug-scrypt-1024-8-2').hash; // scrypt:1024:8:2$salt$hex
  const b = fixture('bcrypt-2b-4').hash;
  const pb = fixture('passlib-bcrypt-sha256-v2-4').hash; // $bcrypt-sha256$v=2,t=2b,r=4$salt$digest
  const pb1 = fixture('passlib-bcrypt-sha256-v1-2b-4').hash;
  const pp = fixture('passlib-pbkdf2-sha256-1000').hash; // $pbkdf2-sha256$1000$salt$checksum
  const s5 = fixture('sha256-crypt-1000').hash; // $5$rounds=1000$salt$checksum
  const s6 = fixture('sha512-crypt-5000').hash; // $6$salt$checksum
  const a = fixture('passlib-argon2id-small').hash; // $argon2id$v=19$m=1024,t=1,p=2$salt$hash
  const dp = fixture('django-pbkdf2-sha256-1000').hash; // pbkdf2_sha256$1000$salt$b64
  const db = fixture('django-bcrypt-sha256-4').hash;
  const da = fixture('django-argon2-small').hash;

  const cases: [LegacyFormat, string, string][] = [
    ['werkzeug-pbkdf2', 'truncated', w.slice(0, -1)],
    ['werkzeug-pbkdf2', 'uppercase hex', w.slice(0, -64) + w.slice(-64).toUpperCase().replace(/[0-9]/g, 'A')],
    ['werkzeug-pbkdf2', 'non-numeric iterations', swap(w, ':1000$', ':10O0$')],
    ['werkzeug-pbkdf2', 'zero-padded iterations', swap(w, ':1000$', ':01000$')],
    ['werkzeug-pbkdf2', 'zero iterations', swap(w, ':1000$', ':0$')],
    ['werkzeug-pbkdf2', 'empty salt', withField(w, 1, '')],
    ['werkzeug-pbkdf2', 'extra field', `${w}$00`],
    ['werkzeug-pbkdf2', 'no hash', w.slice(0, w.lastIndexOf('$'))],
    ['werkzeug-pbkdf2', 'too many parameters', swap(w, ':1000$', ':1000:1$')],
    ['werkzeug-scrypt', 'N not a power of two', swap(ws, 'scrypt:1024:', 'scrypt:1000:')],
    ['werkzeug-scrypt', 'p = 0', swap(ws, ':8:2$', ':8:0$')],
    ['werkzeug-scrypt', 'two parameters', swap(ws, ':8:2$', ':8$')],
    ['werkzeug-scrypt', 'short hash', ws.slice(0, -2)],
    ['werkzeug-scrypt', 'empty salt', withField(ws, 1, '')],
    ['bcrypt', 'truncated', b.slice(0, -1)],
    ['bcrypt', 'one digit cost', swap(b, '$04$', '$4$')],
    ['bcrypt', 'cost below 4', swap(b, '$04$', '$03$')],
    ['bcrypt', 'cost above 31', swap(b, '$04$', '$32$')],
    ['bcrypt', 'character outside bcrypt base64', b.slice(0, 40) + '+' + b.slice(41)],
    ['bcrypt', 'trailing newline', `${b}\n`],
    ['passlib-bcrypt-sha256', 'truncated', pb.slice(0, -1)],
    ['passlib-bcrypt-sha256', 'v=1 in the v2 layout', swap(pb, 'v=2', 'v=1')],
    ['passlib-bcrypt-sha256', 't=2a with v=2', swap(pb, 't=2b', 't=2a')],
    ['passlib-bcrypt-sha256', 'zero-padded cost', swap(pb, 'r=4$', 'r=04$')],
    ['passlib-bcrypt-sha256', 'v2 salt with unused bits set', withField(pb, 3, pb.split('$')[3]!.slice(0, 21) + '/')],
    ['passlib-bcrypt-sha256', 'v1 with $2y$', swap(pb1, '$2b,', '$2y,')],
    ['passlib-pbkdf2', 'truncated checksum', pp.slice(0, -1)],
    ['passlib-pbkdf2', 'bad ab64 character', withField(pp, 4, '!' + pp.split('$')[4]!.slice(1))],
    ['passlib-pbkdf2', 'impossible ab64 length', withField(pp, 3, 'AAAAA')],
    ['passlib-pbkdf2', 'non-numeric rounds', withField(pp, 2, 'x1000')],
    ['passlib-pbkdf2', 'zero-padded rounds', withField(pp, 2, '01000')],
    ['passlib-pbkdf2', 'no checksum', pp.slice(0, pp.lastIndexOf('$'))],
    ['sha256-crypt', 'truncated', s5.slice(0, -1)],
    ['sha256-crypt', 'rounds below 1000', swap(s5, 'rounds=1000', 'rounds=999')],
    ['sha256-crypt', 'zero-padded rounds', swap(s5, 'rounds=1000', 'rounds=01000')],
    ['sha256-crypt', 'empty rounds', swap(s5, 'rounds=1000', 'rounds=')],
    ['sha256-crypt', 'salt over 16 characters', withField(s5, 3, 'abcdefghijklmnopq')],
    ['sha512-crypt', 'truncated', s6.slice(0, -1)],
    ['sha512-crypt', 'character outside crypt64', s6.slice(0, -1) + '+'],
    ['sha512-crypt', 'no checksum', s6.slice(0, s6.lastIndexOf('$') + 1)],
    ['argon2', 'truncated hash', a.slice(0, -1)],
    ['argon2', 'bad base64', withField(a, 4, '*' + a.split('$')[4]!.slice(1))],
    ['argon2', 'padded base64', `${a}=`],
    ['argon2', 't = 0', swap(a, 't=1,', 't=0,')],
    ['argon2', 'memory below 8·p', swap(a, 'm=1024,', 'm=8,')],
    ['argon2', 'salt under 8 bytes', withField(a, 4, 'c2FsdA')],
    ['argon2', 'parameters out of order', swap(a, 'm=1024,t=1,p=2', 't=1,m=1024,p=2')],
    ['django-pbkdf2', 'truncated', dp.slice(0, -2)],
    ['django-pbkdf2', 'base64 without padding', dp.replace(/=$/, '')],
    ['django-pbkdf2', 'empty salt', withField(dp, 2, '')],
    ['django-pbkdf2', 'non-numeric iterations', withField(dp, 1, '1e3')],
    ['django-pbkdf2', 'extra field', withField(dp, 2, 'salt$more')],
    ['django-bcrypt-sha256', 'missing empty field', swap(db, 'bcrypt_sha256$$', 'bcrypt_sha256$')],
    ['django-bcrypt-sha256', 'truncated', db.slice(0, -1)],
    ['django-bcrypt', 'not bcrypt inside', 'bcrypt$$2b$04$tooshort'],
    ['django-argon2', 'truncated', da.slice(0, -1)],
    ['django-argon2', 'doubled $', swap(da, 'argon2$argon2id$', 'argon2$$argon2id$')],
  ];
  for (const [format, what, stored] of cases) {
    it(`${format}: ${what}`, async () => {
      const r = await refusal(stored);
      assert.equal((r as { error?: string }).error, 'malformed', `${stored} -> ${JSON.stringify(r)}`);
      assert.equal((r as { format?: string }).format, format);
      assert.equal(typeof (r as { reason?: string }).reason, 'string');
    });
  }

  it('a stored value that is not a string, or absurdly long, is refused', async () => {
    for (const v of [null, undefined, 42, {}, Buffer.from('$2b$')]) assert.equal((await refusal(v) as { error: string }).error, 'malformed');
    assert.deepEqual(await refusal(`${b}${'x'.repeat(5000)}`), { error: 'malformed', format: 'bcrypt', reason: 'longer than 4096 characters' });
  });

  const unsupported: [LegacyFormat | undefined, string][] = [
    [undefined, ''],
    [undefined, 'not a hash'],
    [undefined, '$1$saltsalt$qjXMvbEw8oaL.CzflDugX/'], // md5-crypt
    [undefined, '$sha256_crypt$abc'], // passlib names the scheme sha256_crypt but writes $5$
    [undefined, ' $2b$04$' + b.slice(7)],
    ['bcrypt', swap(b, '$2b$', '$2x$')],
    ['bcrypt', swap(b, '$2b$', '$2$')],
    ['werkzeug-pbkdf2', withField(w, 0, 'pbkdf2:sha256')],
    ['werkzeug-pbkdf2', withField(w, 0, 'pbkdf2')],
    ['werkzeug-pbkdf2', withField(w, 0, 'pbkdf2:md5:1000')],
    ['werkzeug-scrypt', withField(ws, 0, 'scrypt')],
    ['passlib-bcrypt-sha256', swap(pb, 'v=2', 'v=3')],
    ['argon2', swap(a, 'v=19', 'v=20')],
    ['argon2', swap(a, 'p=2$', 'p=2,data=c29tZQ$')],
    ['legacy-digest', 'sha256$abcdefgh$' + 'a'.repeat(64)],
    ['legacy-digest', 'sha1$abcdefgh$' + 'a'.repeat(40)],
    ['legacy-digest', 'unsalted_md5$$' + 'a'.repeat(32)],
    ['legacy-digest', 'plain$$secret'],
  ];
  for (const [format, stored] of unsupported) {
    it(`unsupported: ${JSON.stringify(stored).slice(0, 48)}`, async () => {
      const r = await refusal(stored);
      assert.equal((r as { error?: string }).error, 'unsupported', JSON.stringify(r));
      assert.equal((r as { format?: string }).format, format);
      assert.equal(identifyHash(stored)?.format ?? undefined, format);
    });
  }
});

describe('legacy hashes: parameters beyond the limits are refused before any work', () => {
  // Each of these would run for minutes or hours (or ask for terabytes) if it were attempted; the
  // timeout only turns such a regression into a failure instead of a hang.
  const opts = { timeout: 10_000 };
  const w = fixture('werkzeug-pbkdf2-sha256-1000').hash;
  const ws = fixture('werkzeug-scrypt-1024-8-2').hash;
  const b = fixture('bcrypt-2b-4').hash;
  const pp = fixture('passlib-pbkdf2-sha256-1000').hash;
  const s5 = fixture('sha256-crypt-1000').hash;
  const a = fixture('passlib-argon2id-small').hash;
  const dp = fixture('django-pbkdf2-sha256-1000').hash;
  const db = fixture('django-bcrypt-sha256-4').hash;
  const pb = fixture('passlib-bcrypt-sha256-v2-4').hash;
  const da = fixture('django-argon2-small').hash;

  const cases: [LegacyFormat, string, string][] = [
    ['werkzeug-pbkdf2', '10^9 iterations', swap(w, ':1000$', ':1000000000$')],
    ['werkzeug-pbkdf2', '10^40 iterations', swap(w, ':1000$', `:1${'0'.repeat(40)}$`)],
    ['werkzeug-scrypt', 'N = 2^30', swap(ws, 'scrypt:1024:', `scrypt:${2 ** 30}:`)],
    ['werkzeug-scrypt', '1 GiB (N = 2^20, r = 8)', swap(ws, 'scrypt:1024:8:', `scrypt:${2 ** 20}:8:`)],
    ['werkzeug-scrypt', 'p = 1000', swap(ws, ':8:2$', ':8:1000$')],
    ['werkzeug-scrypt', 'N·r·p over 2^23', swap(ws, 'scrypt:1024:8:2', `scrypt:${2 ** 18}:8:8`)],
    ['bcrypt', 'cost 31', swap(b, '$04$', '$31$')],
    ['bcrypt', 'cost 17', swap(b, '$04$', '$17$')],
    ['passlib-bcrypt-sha256', 'cost 20', swap(pb, 'r=4$', 'r=20$')],
    ['passlib-pbkdf2', '10^9 rounds', withField(pp, 2, '1000000000')],
    ['sha256-crypt', '999,999,999 rounds', swap(s5, 'rounds=1000', 'rounds=999999999')],
    ['sha256-crypt', 'one round over the limit', swap(s5, 'rounds=1000', `rounds=${LIMITS.shaCryptRounds + 1}`)],
    ['argon2', '4 GiB', swap(a, 'm=1024,', 'm=4194304,')],
    ['argon2', 't = 100', swap(a, 't=1,', 't=100,')],
    ['django-pbkdf2', '10^9 iterations', withField(dp, 1, '1000000000')],
    ['django-bcrypt-sha256', 'cost 30', swap(db, '$04$', '$30$')],
    ['django-argon2', '1 GiB', swap(da, 'm=1024,', 'm=1048576,')],
  ];
  for (const [format, what, stored] of cases) {
    it(`${format}: ${what}`, opts, async () => {
      const r = await verifyLegacyHash(stored, 'password');
      assert.equal((r as { error?: string }).error, 'too_costly', JSON.stringify(r));
      assert.equal((r as { format?: string }).format, format);
    });
  }

  it('values at the limits are accepted (parsed only, not run)', () => {
    const prepared = [
      prepareWerkzeugPbkdf2(swap(w, ':1000$', ':10000000$')),
      prepareWerkzeugScrypt(swap(ws, 'scrypt:1024:8:2', `scrypt:${2 ** 18}:8:1`)), // 256 MiB
      prepareWerkzeugScrypt(swap(ws, 'scrypt:1024:8:2', `scrypt:${2 ** 20}:2:1`)),
      prepareBcrypt(swap(b, '$04$', '$16$')),
      preparePasslibPbkdf2(withField(pp, 2, '10000000')),
      prepareShaCrypt(swap(s5, 'rounds=1000', `rounds=${LIMITS.shaCryptRounds}`)),
      prepareArgon2(swap(a, 'm=1024,t=1,', 'm=262144,t=10,')),
      prepareDjangoPbkdf2(withField(dp, 1, '10000000')),
    ];
    for (const p of prepared) assert.ok(!('error' in p), JSON.stringify(p));
  });
});

describe('legacy hashes: passwords', () => {
  it('a password with a lone surrogate never matches (Python cannot have hashed it)', async () => {
    const row = fixture('werkzeug-pbkdf2-sha256-1000');
    assert.deepEqual(await verifyLegacyHash(row.hash, `${row.password}\uD800`), { ok: false, format: row.format });
    // U+FFFD, what Buffer.from() would turn the surrogate into, is a different password as well.
    assert.deepEqual(await verifyLegacyHash(row.hash, `${row.password}\uFFFD`), { ok: false, format: row.format });
  });

  it('SHA-crypt refuses passwords over 4096 bytes without hashing them (passlib refuses them too)', async () => {
    const row = fixture('sha512-crypt-1001');
    assert.deepEqual(await verifyLegacyHash(row.hash, 'x'.repeat(4097)), { ok: false, format: 'sha512-crypt' });
  });

  it('bcrypt salts with unused bits set verify as passlib reads them (it clears the bits)', async () => {
    const row = fixture('bcrypt-2b-4');
    const salt = row.hash.slice(7, 29);
    const alphabet = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    const dirty = alphabet[alphabet.indexOf(salt[21]!) | 0x0f]!;
    const stored = row.hash.slice(0, 28) + dirty + row.hash.slice(29);
    assert.notEqual(stored, row.hash);
    assert.deepEqual(await verifyLegacyHash(stored, row.password), { ok: true, format: 'bcrypt' });
  });
});
