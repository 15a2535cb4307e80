// Key rings: every key bound to one alg at load time, refused when it does not fit.
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { calculateJwkThumbprint } from 'jose';
import {
  generateKeyPem, generateSecret, jwkThumbprint, keyRingFromJwks, keyRingFromPem, keyRingFromSecret,
} from '../toolkit/src/tokens/index.js';
import { ASYMMETRIC_ALGORITHMS, type Algorithm } from '../toolkit/src/tokens/types.js';
import { ecKey, ed25519Key, rsaKey } from './helpers/keys.js';

describe('keyRingFromPem: the key must fit the alg', () => {
  const rsa = rsaKey();
  const p256 = ecKey('P-256');
  const p384 = ecKey('P-384');
  const ed = ed25519Key();

  test('fitting pairs load, bound to the alg, kid = RFC 7638 thumbprint', async () => {
    for (const [alg, k] of [['RS256', rsa], ['PS512', rsa], ['ES256', p256], ['ES384', p384], ['EdDSA', ed]] as const) {
      const ring = keyRingFromPem({ privateKeyPem: k.privateKeyPem, alg });
      assert.equal(ring.signer.alg, alg);
      assert.deepEqual(ring.algorithms, [alg]);
      assert.equal(ring.signer.key.type, 'public');
      assert.equal(ring.signer.privateKey!.type, 'private');
      assert.equal(ring.signer.kid, await calculateJwkThumbprint(k.publicKey.export({ format: 'jwk' }) as never));
    }
  });

  test('mismatches are refused with a clear message', () => {
    const cases: [Algorithm, string, RegExp][] = [
      ['ES256', p384.privateKeyPem, /ES256 needs an EC P-256 key, not curve secp384r1/],
      ['ES512', p256.privateKeyPem, /ES512 needs an EC P-521 key/],
      ['ES256', rsa.privateKeyPem, /ES256 needs an EC P-256 key, not rsa/],
      ['RS256', p256.privateKeyPem, /RS256 needs an RSA key, not ec/],
      ['PS256', ed.privateKeyPem, /PS256 needs an RSA key, not ed25519/],
      ['EdDSA', rsa.privateKeyPem, /EdDSA needs an Ed25519 key, not rsa/],
      ['EdDSA', generateKeyPairSync('ed448').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, /EdDSA needs an Ed25519 key, not ed448/],
      ['RS256', generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, /at least 2048 bits \(got 1024\)/],
      ['ES256', generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, /P-256 key, not curve secp256k1/],
      ['HS256', rsa.privateKeyPem, /HMAC algorithm: use keyRingFromSecret/],
      ['RS256', rsa.publicKeyPem, /not a readable unencrypted PEM private key/],
      ['RS256', 'not a pem', /not a readable/],
    ];
    for (const [alg, pem, msg] of cases) assert.throws(() => keyRingFromPem({ privateKeyPem: pem, alg }), msg, `${alg}`);
  });

  test('an encrypted private key is refused (no passphrase option)', () => {
    const enc = createPrivateKey(rsa.privateKeyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string;
    assert.throws(() => keyRingFromPem({ privateKeyPem: enc, alg: 'RS256' }), /not a readable unencrypted/);
  });

  test('a given public key must belong to the private key', () => {
    assert.ok(keyRingFromPem({ privateKeyPem: rsa.privateKeyPem, publicKeyPem: rsa.publicKeyPem, alg: 'RS256' }));
    assert.throws(() => keyRingFromPem({ privateKeyPem: rsa.privateKeyPem, publicKeyPem: rsaKey('other').publicKeyPem, alg: 'RS256' }), /does not belong/);
    assert.throws(() => keyRingFromPem({ privateKeyPem: rsa.privateKeyPem, publicKeyPem: 'garbage', alg: 'RS256' }), /not a readable PEM public key/);
  });

  test('an explicit kid is used', () => {
    assert.equal(keyRingFromPem({ privateKeyPem: ed.privateKeyPem, alg: 'EdDSA', kid: 'ed-1' }).signer.kid, 'ed-1');
  });
});

describe('keyRingFromSecret', () => {
  test('at least 32 bytes; string = its UTF-8 bytes; stable kid that is not the secret', () => {
    assert.throws(() => keyRingFromSecret('short', 'HS256'), /at least 32 bytes \(got 5\)/);
    assert.throws(() => keyRingFromSecret(Buffer.alloc(31), 'HS512'), /at least 32 bytes/);
    const s = 'a'.repeat(32);
    const a = keyRingFromSecret(s, 'HS256');
    const b = keyRingFromSecret(Buffer.from(s), 'HS256');
    assert.equal(a.signer.kid, b.signer.kid);
    assert.notEqual(a.signer.kid, keyRingFromSecret('b'.repeat(32), 'HS256').signer.kid);
    assert.ok(!a.signer.kid.includes(s) && !a.signer.kid.includes(Buffer.from(s).toString('base64url')));
    assert.equal(a.signer.key.type, 'secret');
    assert.equal(a.signer.privateKey, a.signer.key);
    assert.equal(keyRingFromSecret(s, 'HS384', 'mine').signer.kid, 'mine');
  });

  test('only HS* algorithms', () => {
    assert.throws(() => keyRingFromSecret('a'.repeat(32), 'RS256' as 'HS256'), /Not an HMAC algorithm/);
  });
});

describe('keyRingFromJwks', () => {
  const rsaJwk = rsaKey().privateKey.export({ format: 'jwk' });
  const ecJwk = ecKey('P-384').privateKey.export({ format: 'jwk' });
  const edJwk = ed25519Key().privateKey.export({ format: 'jwk' });
  const oct = { kty: 'oct', k: Buffer.alloc(48, 1).toString('base64url'), alg: 'HS384' };

  test('alg inferred for EC and Ed25519, required for RSA and oct', () => {
    const ring = keyRingFromJwks({ keys: [ecJwk, edJwk, { ...rsaJwk, alg: 'PS384' }, { ...oct, kid: 'mac' }] });
    assert.deepEqual(ring.keys.map((k) => k.alg), ['ES384', 'EdDSA', 'PS384', 'HS384']);
    assert.throws(() => keyRingFromJwks({ keys: [rsaJwk] }), /an RSA key needs "alg"/);
    assert.throws(() => keyRingFromJwks({ keys: [{ kty: 'oct', k: oct.k }] }), /an oct key needs "alg"/);
  });

  test('alg and key type must agree', () => {
    const cases: [object, RegExp][] = [
      [{ ...ecJwk, alg: 'ES256' }, /curve P-384 goes with ES384, not ES256/],
      [{ ...rsaJwk, alg: 'ES256' }, /an RSA key can only be used with RS\* or PS\*/],
      [{ ...rsaJwk, alg: 'HS256' }, /RS\* or PS\*, not HS256/],
      [{ ...oct, alg: 'RS256' }, /an oct key can only be used with HS\*/],
      [{ ...edJwk, alg: 'ES256' }, /Ed25519 key goes with EdDSA/],
      [{ ...ecJwk, alg: 'ES521' }, /unsupported alg "ES521"/],
      [{ ...rsaJwk, alg: 'none' }, /unsupported alg "none"/],
      [{ ...ecKey('P-256').publicKey.export({ format: 'jwk' }), crv: 'secp256k1' }, /unsupported EC curve "secp256k1"/],
      [{ ...generateKeyPairSync('ed448').publicKey.export({ format: 'jwk' }) }, /unsupported OKP curve "Ed448"/],
      [{ ...generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }), alg: 'RS256' }, /at least 2048 bits/],
      [{ kty: 'oct', k: Buffer.alloc(16).toString('base64url'), alg: 'HS256' }, /at least 32 bytes/],
      [{ kty: 'oct', k: `${Buffer.alloc(32).toString('base64')}==`, alg: 'HS256' }, /"k" must be base64url/],
      [{ kty: 'EC', crv: 'P-384', x: ecJwk.x, y: 'AAAA' }, /JWKS key #0/],
      [{ kty: 'RSA-PSS', alg: 'PS256' }, /unsupported kty "RSA-PSS"/],
    ];
    for (const [jwk, msg] of cases) assert.throws(() => keyRingFromJwks({ keys: [jwk] }), msg, JSON.stringify(jwk).slice(0, 60));
  });

  test('keys marked for encryption, or whose key_ops exclude verify, are refused', () => {
    assert.throws(() => keyRingFromJwks({ keys: [{ ...ecJwk, use: 'enc' }] }), /"use" is "enc", not "sig"/);
    assert.throws(() => keyRingFromJwks({ keys: [{ ...ecJwk, key_ops: ['encrypt'] }] }), /do not include "verify"/);
    assert.throws(() => keyRingFromJwks({ keys: [{ ...ecJwk, key_ops: 'verify' }] }), /key_ops must be an array/);
    // key_ops ["verify"] on private material: it verifies but does not sign
    const ring = keyRingFromJwks({ keys: [{ ...ecJwk, key_ops: ['verify'] }] });
    assert.equal(ring.signer.privateKey, undefined);
    assert.ok(keyRingFromJwks({ keys: [{ ...ecJwk, use: 'sig', key_ops: ['sign', 'verify'] }] }).signer.privateKey);
  });

  test('private members must match the public ones', () => {
    const other = ecKey('P-384', 'other').privateKey.export({ format: 'jwk' });
    assert.throws(() => keyRingFromJwks({ keys: [{ ...ecJwk, d: other.d }] }), /JWKS key #0: the private key does not match the public key/);
    const otherRsa = rsaKey('other').privateKey.export({ format: 'jwk' });
    assert.throws(() => keyRingFromJwks({ keys: [{ ...rsaJwk, alg: 'RS256', n: otherRsa.n }] }), /JWKS key #0/);
    const otherEd = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
    assert.throws(() => keyRingFromJwks({ keys: [{ ...edJwk, d: otherEd.d }] }), /does not match/);
    // the same mismatch carried in a SEC1 / PKCS#8 PEM (which embeds the public point)
    const mismatched = createPrivateKey({ key: { ...ecJwk, d: other.d } as never, format: 'jwk' });
    for (const type of ['sec1', 'pkcs8'] as const) {
      const pem = mismatched.export({ type, format: 'pem' }) as string;
      assert.throws(() => keyRingFromPem({ privateKeyPem: pem, alg: 'ES384' }), /does not match/, type);
    }
  });

  test('kids: given, or the thumbprint; unique, non-empty; exact Map lookup', async () => {
    const ring = keyRingFromJwks({ keys: [{ ...rsaJwk, alg: 'RS256', kid: 'a' }, edJwk] });
    assert.equal(ring.keys[1]!.kid, await calculateJwkThumbprint(edJwk as never));
    assert.equal(ring.byKid('a')!.alg, 'RS256');
    for (const k of ['__proto__', 'constructor', 'toString', 'A', 'a ', '']) assert.equal(ring.byKid(k), undefined, k);
    assert.throws(() => keyRingFromJwks({ keys: [{ ...ecJwk, kid: 'x' }, { ...edJwk, kid: 'x' }] }), /Duplicate kid "x"/);
    assert.throws(() => keyRingFromJwks({ keys: [{ ...ecJwk, kid: '' }] }), /kid must be a non-empty string/);
    assert.throws(() => keyRingFromJwks({ keys: [{ ...ecJwk, kid: 7 }] }), /kid must be a non-empty string/);
  });

  test('the signer: signingKid, else the first key with private material', () => {
    const pubEc = ecKey('P-384').publicKey.export({ format: 'jwk' });
    const ring = keyRingFromJwks({ keys: [{ ...pubEc, kid: 'pub' }, { ...edJwk, kid: 'ed' }, { ...oct, kid: 'mac' }] });
    assert.equal(ring.signer.kid, 'ed');
    assert.equal(keyRingFromJwks({ keys: [{ ...edJwk, kid: 'ed' }, { ...oct, kid: 'mac' }] }, { signingKid: 'mac' }).signer.kid, 'mac');
    assert.throws(() => keyRingFromJwks({ keys: [{ ...edJwk, kid: 'ed' }] }, { signingKid: 'nope' }), /signingKid "nope" is not in the key ring/);
    assert.throws(() => keyRingFromJwks({ keys: [{ ...pubEc, kid: 'pub' }, { ...edJwk, kid: 'ed' }] }, { signingKid: 'pub' }), /no private key material/);
    // public keys only: a verify-only ring
    assert.equal(keyRingFromJwks({ keys: [pubEc] }).signer.privateKey, undefined);
  });

  test('not a JWKS', () => {
    assert.throws(() => keyRingFromJwks({ keys: [] }), /at least one key/);
    assert.throws(() => keyRingFromJwks({} as { keys: object[] }), /"keys" array/);
    assert.throws(() => keyRingFromJwks({ keys: [null as unknown as object] }), /JWKS key #0 is not an object/);
  });

  test('rings and their entries are frozen', () => {
    const ring = keyRingFromJwks({ keys: [edJwk] });
    assert.ok(Object.isFrozen(ring) && Object.isFrozen(ring.keys) && Object.isFrozen(ring.keys[0]));
    assert.throws(() => { (ring.keys[0] as { alg: string }).alg = 'HS256'; }, TypeError);
  });
});

describe('thumbprints and generated keys', () => {
  test('RFC 7638 §3.1 example thumbprint', () => {
    const jwk = {
      kty: 'RSA', e: 'AQAB', alg: 'RS256', kid: '2011-04-29',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
    };
    const ring = keyRingFromJwks({ keys: [{ ...jwk, kid: undefined }] });
    assert.equal(ring.signer.kid, 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
    assert.equal(jwkThumbprint(ring.signer.key), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  test('generateKeyPem makes a loadable pair for every asymmetric alg', () => {
    for (const alg of ASYMMETRIC_ALGORITHMS.filter((a) => !a.endsWith('384') && !a.endsWith('512') || a.startsWith('ES'))) {
      const { privateKeyPem, publicKeyPem } = generateKeyPem(alg);
      assert.match(privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
      assert.match(publicKeyPem, /^-----BEGIN PUBLIC KEY-----/);
      assert.equal(keyRingFromPem({ privateKeyPem, publicKeyPem, alg }).signer.alg, alg);
    }
    assert.throws(() => generateKeyPem('HS256' as 'RS256'), /generateSecret/);
  });

  test('generateSecret: 64 random bytes, base64url', () => {
    const a = generateSecret();
    assert.match(a, /^[A-Za-z0-9_-]{86}$/);
    assert.equal(Buffer.from(a, 'base64url').length, 64);
    assert.notEqual(a, generateSecret());
    assert.ok(keyRingFromSecret(a, 'HS512'));
  });
});
