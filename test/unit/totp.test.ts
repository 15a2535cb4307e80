// Warden's TOTP against the published vectors (RFC 6238 Appendix B, RFC 4648 §10) and against the
// tests' own implementation (test/helpers/totp.ts); the ±1-step window; the otpauth:// URI; the
// sealed-secret box; recovery codes' shape.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { hashRecoveryCode, newRecoveryCodes, normaliseRecoveryCode } from '../../src/accounts/factors/recovery-codes.js';
import { SecretBox } from '../../src/accounts/factors/secret-box.js';
import { base32Decode, base32Encode, matchStep, otpauthUri, timeStep, totp } from '../../src/accounts/factors/totp.js';
import { codeAt, fromBase32 } from '../helpers/totp.js';

// RFC 6238 Appendix B: the seeds are the ASCII digits, 20 bytes for SHA-1, 32 for SHA-256, 64 for SHA-512.
const SEEDS = {
  sha1: Buffer.from('12345678901234567890'),
  sha256: Buffer.from('12345678901234567890123456789012'),
  sha512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234'),
};
const APPENDIX_B: [number, string, string, string][] = [
  // time (s), SHA-1, SHA-256, SHA-512 — 8 digits
  [59, '94287082', '46119246', '90693936'],
  [1111111109, '07081804', '68084774', '25091201'],
  [1111111111, '14050471', '67062674', '99943326'],
  [1234567890, '89005924', '91819424', '93441116'],
  [2000000000, '69279037', '90698825', '38618901'],
  [20000000000, '65353130', '77737706', '47863826'],
];

describe('TOTP (RFC 6238)', () => {
  it('matches Appendix B for SHA-1 (what authenticator apps use), SHA-256 and SHA-512', () => {
    for (const [t, sha1, sha256, sha512] of APPENDIX_B) {
      assert.equal(totp(SEEDS.sha1, t * 1000, 8), sha1, `SHA-1 at ${t}`);
      assert.equal(totp(SEEDS.sha256, t * 1000, 8, 'sha256'), sha256, `SHA-256 at ${t}`);
      assert.equal(totp(SEEDS.sha512, t * 1000, 8, 'sha512'), sha512, `SHA-512 at ${t}`);
      // and the tests' own implementation agrees with the RFC too, so it can judge Warden elsewhere
      assert.equal(codeAt(SEEDS.sha1, t, 8), sha1);
    }
  });

  it('agrees with an independent implementation on random secrets and times (6 digits)', () => {
    for (let i = 0; i < 200; i++) {
      const secret = randomBytes(20);
      const t = Math.floor(Math.random() * 4e9);
      assert.equal(totp(secret, t * 1000), codeAt(secret, t));
    }
  });

  it('accepts the previous, current and next step, nothing further, and says which step matched', () => {
    const secret = randomBytes(20);
    const now = Date.UTC(2030, 0, 1, 12, 0, 15);
    const step = timeStep(now);
    for (const delta of [-1, 0, 1]) assert.equal(matchStep(secret, codeAt(secret, (step + delta) * 30), now), step + delta, `delta ${delta}`);
    for (const delta of [-3, -2, 2, 3]) {
      const code = codeAt(secret, (step + delta) * 30);
      // A code of a far step may by chance equal one inside the window; only then may it match.
      const inside = [-1, 0, 1].some((d) => codeAt(secret, (step + d) * 30) === code);
      assert.equal(matchStep(secret, code, now) !== null, inside, `delta ${delta}`);
    }
    for (const bad of ['', '12345', '1234567', 'abcdef', ' 123456', '12345\u0000']) assert.equal(matchStep(secret, bad, now), null, JSON.stringify(bad));
  });

  it('base32 follows RFC 4648 §10', () => {
    const vectors: [string, string][] = [['', ''], ['f', 'MY'], ['fo', 'MZXQ'], ['foo', 'MZXW6'], ['foob', 'MZXW6YQ'], ['fooba', 'MZXW6YTB'], ['foobar', 'MZXW6YTBOI']];
    for (const [plain, encoded] of vectors) {
      assert.equal(base32Encode(Buffer.from(plain)), encoded);
      assert.equal(base32Decode(encoded)?.toString(), plain);
      assert.equal(base32Decode(`${encoded.toLowerCase()}====`)?.toString(), plain);
      assert.deepEqual(fromBase32(encoded), Buffer.from(plain));
    }
    assert.equal(base32Decode('MZ1W'), null, '1 is not in the alphabet');
  });

  it('the otpauth:// URI names the issuer and account and carries the secret and parameters', () => {
    const secret = randomBytes(20);
    const uri = otpauthUri({ issuer: 'Acme Corp', account: 'ann@example.com', secret });
    const u = new URL(uri);
    assert.equal(u.protocol, 'otpauth:');
    assert.equal(u.host, 'totp');
    assert.equal(decodeURIComponent(u.pathname), '/Acme Corp:ann@example.com');
    assert.deepEqual(Object.fromEntries(u.searchParams), { secret: base32Encode(secret), issuer: 'Acme Corp', algorithm: 'SHA1', digits: '6', period: '30' });
    assert.ok(!uri.includes('+'), 'spaces are %20, which every app reads');
  });
});

describe('sealed TOTP secrets (AES-256-GCM)', () => {
  it('opens only with the same key and the same context; another key is recognised as such', () => {
    const box = new SecretBox(randomBytes(32));
    const secret = randomBytes(20);
    const sealed = box.seal(secret, 'user-1 factor-1');
    assert.ok(!sealed.includes(secret.toString('base64url')) && !sealed.includes(base32Encode(secret)));
    assert.deepEqual(box.open(sealed, 'user-1 factor-1'), secret);
    assert.equal(box.open(sealed, 'user-2 factor-1'), null, 'bound to its user and factor');
    assert.equal(new SecretBox(randomBytes(32)).open(sealed, 'user-1 factor-1'), 'other-key');
    const [v, id, iv, body] = sealed.split('.');
    const flipped = Buffer.from(body!, 'base64url');
    flipped[0]! ^= 1;
    assert.equal(box.open([v, id, iv, flipped.toString('base64url')].join('.'), 'user-1 factor-1'), null, 'tampering is detected');
    assert.notEqual(box.seal(secret, 'c'), box.seal(secret, 'c'), 'a fresh nonce every time');
    assert.throws(() => new SecretBox(randomBytes(16)));
  });
});

describe('recovery codes', () => {
  it('ten distinct 80-bit codes, accepted in any case and with or without dashes', () => {
    const codes = newRecoveryCodes();
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10);
    for (const c of codes) {
      assert.match(c, /^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/);
      const n = normaliseRecoveryCode(c)!;
      assert.equal(normaliseRecoveryCode(c.toUpperCase().replaceAll('-', ' ')), n);
      assert.match(hashRecoveryCode(n), /^[0-9a-f]{64}$/);
    }
    for (const bad of ['', 'abcd-efgh', 'abcd-efgh-ijkl-mnop-q', 'abcd-efgh-ijkl-mno1']) assert.equal(normaliseRecoveryCode(bad), null, bad);
  });
});
