// RFC 7520 §4 (JWS examples, from ietf-jose/cookbook): each verifies with its given key, a one-byte
// change to payload or signature fails, and our signing layer reproduces the deterministic ones.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { createJwsVerifier, signCompact } from '../toolkit/src/tokens/jws.js';
import { keyRingFromJwks } from '../toolkit/src/tokens/index.js';
import { throwsCode } from './helpers/keys.js';

interface Example {
  title: string;
  reproducible?: boolean;
  input: { payload: string; key: Record<string, unknown>; alg: string };
  signing: { protected: Record<string, unknown>; protected_b64u: string; 'sig-input': string; sig: string };
  output: { compact: string };
}
const load = (name: string) =>
  JSON.parse(readFileSync(new URL(`./vectors/rfc7520/${name}`, import.meta.url), 'utf8')) as Example;

const EXAMPLES: [string, Example][] = [
  ['4.1 RSA v1.5 (RS256)', load('4_1.rsa_v15_signature.json')],
  ['4.2 RSA-PSS (PS384)', load('4_2.rsa-pss_signature.json')],
  ['4.3 ECDSA (ES512)', load('4_3.ecdsa_signature.json')],
  ['4.4 HMAC-SHA2 (HS256)', load('4_4.hmac-sha2_integrity_protection.json')],
];

const PUBLIC_MEMBERS: Record<string, string[]> = { RSA: ['kty', 'kid', 'n', 'e'], EC: ['kty', 'kid', 'crv', 'x', 'y'] };
function publicPart(jwk: Record<string, unknown>): Record<string, unknown> {
  const keep = PUBLIC_MEMBERS[jwk.kty as string];
  return keep ? Object.fromEntries(keep.map((k) => [k, jwk[k]])) : jwk;
}

/** Re-encodes a segment with one byte of its decoded value flipped. */
function flipByte(segment: string, at: number): string {
  const b = Buffer.from(segment, 'base64url');
  b[at] = b[at]! ^ 0x01;
  return b.toString('base64url');
}

test('the four §4 examples are here, and two of them are deterministic', () => {
  assert.deepEqual(EXAMPLES.map(([, e]) => e.input.alg), ['RS256', 'PS384', 'ES512', 'HS256']);
  assert.deepEqual(EXAMPLES.filter(([, e]) => e.reproducible === true).map(([, e]) => e.input.alg), ['RS256', 'HS256']);
});

for (const [name, ex] of EXAMPLES) {
  describe(`RFC 7520 §${name}`, () => {
    const alg = ex.input.alg;
    const privateRing = keyRingFromJwks({ keys: [{ ...ex.input.key, alg }] });
    // Asymmetric examples verify with the public key alone; the HMAC one with its secret.
    const verify = createJwsVerifier({ keys: keyRingFromJwks({ keys: [{ ...publicPart(ex.input.key), alg }] }) });
    const [h, p, s] = ex.output.compact.split('.') as [string, string, string];

    test('the compact serialization verifies with the given key', () => {
      const r = verify(ex.output.compact);
      assert.deepEqual(r.header, ex.signing.protected);
      assert.equal(r.payload.toString('utf8'), ex.input.payload);
      assert.equal(r.key.kid, ex.input.key.kid);
      assert.equal(r.key.alg, alg);
      if (alg !== 'HS256') assert.equal(r.key.key.type, 'public');
    });

    test('a one-byte change in the payload fails', () => {
      for (const at of [0, 57, Buffer.from(p, 'base64url').length - 1]) {
        const t = `${h}.${flipByte(p, at)}.${s}`;
        throwsCode(() => verify(t), 'ERR_JWT_SIGNATURE_INVALID', t);
      }
    });

    test('a one-byte change in the signature fails', () => {
      for (const at of [0, 20, Buffer.from(s, 'base64url').length - 1]) {
        const t = `${h}.${p}.${flipByte(s, at)}`;
        throwsCode(() => verify(t), 'ERR_JWT_SIGNATURE_INVALID', t);
      }
    });

    test('a one-byte change in the protected header fails', () => {
      const changed = Buffer.from(JSON.stringify({ ...ex.signing.protected, kid: `${String(ex.input.key.kid)} ` })).toString('base64url');
      throwsCode(() => verify(`${changed}.${p}.${s}`), 'ERR_JWT_KEY_UNKNOWN');
      // same header, one extra space in the JSON: still unsigned bytes
      const spaced = Buffer.from(JSON.stringify(ex.signing.protected).replace(':', ': ')).toString('base64url');
      throwsCode(() => verify(`${spaced}.${p}.${s}`), 'ERR_JWT_SIGNATURE_INVALID');
    });

    test('our signing layer signs the same input', () => {
      const ours = signCompact(ex.signing.protected, Buffer.from(ex.input.payload, 'utf8'), privateRing.signer);
      const [oh, op] = ours.split('.');
      assert.equal(`${oh}.${op}`, ex.signing['sig-input']);
      assert.equal(oh, ex.signing.protected_b64u);
      assert.equal(verify(ours).payload.toString('utf8'), ex.input.payload);
      if (ex.reproducible === true) {
        assert.equal(ours, ex.output.compact, 'deterministic algorithms reproduce the RFC output exactly');
      } else {
        assert.notEqual(ours, ex.output.compact, 'randomized signatures differ from the RFC one');
      }
    });
  });
}
