// RFC 8725 and the JWT attack catalogue: one test per rule, each asserting the refusal code.
// Tokens are forged here with raw node:crypto so that nothing in src/ helps build them.
import assert from 'node:assert/strict';
import { createHmac, createPublicKey, randomBytes, sign as cryptoSign, verify as cryptoVerify, constants, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, mock, test } from 'node:test';
import type { ErrorCode } from '../toolkit/src/errors.js';
import { createJwsVerifier } from '../toolkit/src/tokens/jws.js';
import { checkerFor, signerFor } from '../toolkit/src/tokens/primitives.js';
import { keyRingFromJwks, keyRingFromPem, keyRingFromSecret, type KeyRing } from '../toolkit/src/tokens/index.js';
import type { Algorithm } from '../toolkit/src/tokens/types.js';
import { createTokenVerifier } from '../toolkit/src/tokens/verify.js';
import { ecKey, hmacSecret, ringFor, rsaKey, throwsCode } from './helpers/keys.js';

const NOW_MS = 1_700_000_000_000;
const NOW = NOW_MS / 1000;
const clock = () => NOW_MS;

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8').toString('base64url');
const claims = (extra: Record<string, unknown> = {}) => ({
  fresh: false, iat: NOW, jti: 'f3c9a8a0-5b1c-4f7e-9a53-3f2d7c0e9b11', type: 'access', sub: 'user-1', nbf: NOW,
  csrf: '5a0c2c55-8f0e-4c3e-bf2e-6a1d2b9e8f00', exp: NOW + 900, ...extra,
});

type Signer = (input: string) => Buffer;
function token(header: unknown, payload: unknown, sign: Signer | null): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${sign ? sign(input).toString('base64url') : ''}`;
}
const HASH = (alg: string) => `sha${alg.slice(2)}`;
const hmac = (alg: string, secret: string | Buffer | KeyObject): Signer => (input) => createHmac(HASH(alg), secret).update(input).digest();
const asym = (alg: string, key: KeyObject, dsaEncoding: 'ieee-p1363' | 'der' = 'ieee-p1363'): Signer => (input) => {
  const data = Buffer.from(input);
  if (alg.startsWith('RS')) return cryptoSign(HASH(alg), data, { key, padding: constants.RSA_PKCS1_PADDING });
  if (alg.startsWith('PS')) return cryptoSign(HASH(alg), data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  if (alg.startsWith('ES')) return cryptoSign(HASH(alg), data, { key, dsaEncoding });
  return cryptoSign(null, data, key);
};

function rsaRing(alg: Algorithm = 'RS256'): KeyRing {
  return keyRingFromPem({ privateKeyPem: rsaKey().privateKeyPem, alg });
}

describe('alg "none" in any spelling is refused', () => {
  const rings = { HS256: ringFor('HS256'), RS256: ringFor('RS256'), ES256: ringFor('ES256') };
  for (const [name, ring] of Object.entries(rings)) {
    test(`against a ${name} ring`, () => {
      const verify = createTokenVerifier({ keys: ring, clock });
      for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
        for (const kid of [undefined, ring.signer.kid]) {
          const header = kid === undefined ? { alg, typ: 'JWT' } : { alg, typ: 'JWT', kid };
          const unsigned = token(header, claims(), null);
          throwsCode(() => verify(unsigned), 'ERR_JWT_ALG_NOT_ALLOWED', unsigned);
          // with a signature: the real key's signature over the same input
          const signed = token(header, claims(), (i) => ring.signer.privateKey!.type === 'secret'
            ? hmac('HS256', ring.signer.privateKey!)(i) : asym(ring.signer.alg, ring.signer.privateKey!)(i));
          throwsCode(() => verify(signed), 'ERR_JWT_ALG_NOT_ALLOWED', signed);
        }
      }
    });
  }

  test('an allowlist naming no key of the ring is refused when the verifier is made, naming both', () => {
    assert.throws(() => createJwsVerifier({ keys: ringFor('HS256'), algorithms: ['RS256'] }), /algorithms \[RS256\] name no key's alg \(the ring's keys are HS256\)/);
    assert.throws(() => createTokenVerifier({ keys: ringFor('ES256'), algorithms: ['HS256', 'EdDSA'], clock }), /every token would be refused/);
    // One of them is enough.
    assert.doesNotThrow(() => createJwsVerifier({ keys: ringFor('HS256'), algorithms: ['RS256', 'HS256'] }));
  });

  test('"none" cannot even be put in the allowlist', () => {
    assert.throws(() => createJwsVerifier({ keys: ringFor('HS256'), algorithms: ['none' as Algorithm] }), /Not an algorithm/);
    assert.throws(() => createJwsVerifier({ keys: ringFor('HS256'), algorithms: ['NONE' as Algorithm] }), /Not an algorithm/);
  });
});

describe('HS* signed with the public key as the HMAC secret (key confusion) is refused', () => {
  const rsa = rsaKey();
  const ec = ecKey('P-256');
  const spki = rsa.publicKeyPem;
  const pkcs1 = rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }) as string;
  const jwk = rsa.publicKey.export({ format: 'jwk' });
  const derB64 = (rsa.publicKey.export({ type: 'spki', format: 'der' }) as Buffer).toString('base64').replace(/.{64}/g, '$&\n');
  // The inputs of the fast-jwt (CVE-2023-48223, GHSA-ww5h-9m49-7xx4, GHSA-g3jj-5cmm-3hxx) and
  // jsonwebtoken (CVE-2022-23540/23541) advisories: ways a public key slips past a PEM sniffer.
  const secrets: Record<string, string | Buffer> = {
    'SPKI PEM': spki,
    'SPKI PEM, leading newlines': `\n\n${spki}`,
    'SPKI PEM, leading spaces and tab': `  \t${spki}`,
    'SPKI PEM, zero-width space prefix': `\u200b${spki}`,
    'SPKI PEM, comment prefix': `# key for api\n${spki}`,
    'SPKI PEM without trailing newline': spki.trim(),
    'SPKI PEM with CRLF': spki.replace(/\n/g, '\r\n'),
    'PKCS#1 BEGIN RSA PUBLIC KEY': pkcs1,
    'certificate-like prefix (openssl x509 -text)': `Certificate:\n    Data:\n        Version: 3 (0x2)\n${spki}`,
    'fake BEGIN CERTIFICATE wrapper': `-----BEGIN CERTIFICATE-----\n${derB64}\n-----END CERTIFICATE-----\n`,
    'SPKI DER bytes': rsa.publicKey.export({ type: 'spki', format: 'der' }) as Buffer,
    'public JWK JSON': JSON.stringify(jwk),
    'public JWKS JSON': JSON.stringify({ keys: [jwk] }),
    'EC SPKI PEM': ec.publicKeyPem,
    'EC PEM, leading newline': `\n${ec.publicKeyPem}`,
  };

  for (const [ringName, ring] of [['RSA (RS256)', rsaRing('RS256')], ['RSA (PS256)', rsaRing('PS256')], ['EC P-256', ringFor('ES256')]] as const) {
    for (const allowlist of [undefined, [...ring.algorithms, 'HS256', 'HS384', 'HS512'] as Algorithm[]]) {
      test(`ring ${ringName}, allowlist ${allowlist ? 'wrongly including HS*' : 'default'}`, () => {
        const verify = createTokenVerifier({ keys: ring, algorithms: allowlist, clock });
        let n = 0;
        for (const [what, secret] of Object.entries(secrets)) {
          for (const alg of ['HS256', 'HS384', 'HS512']) {
            for (const kid of [ring.signer.kid, undefined]) {
              const forged = token({ alg, typ: 'JWT', ...(kid ? { kid } : {}) }, claims(), hmac(alg, secret));
              const e = throwsCode(() => verify(forged), 'ERR_JWT_ALG_NOT_ALLOWED', forged);
              assert.ok(e, what);
              n++;
            }
          }
        }
        assert.equal(n, Object.keys(secrets).length * 6);
      });
    }
  }

  test('control: the forgeries are real HMACs (a ring whose secret IS that text accepts them)', () => {
    for (const [what, secret] of Object.entries(secrets)) {
      const forged = token({ alg: 'HS256', typ: 'JWT' }, claims(), hmac('HS256', secret));
      const verify = createTokenVerifier({ keys: keyRingFromSecret(secret, 'HS256'), clock });
      assert.equal(verify(forged).claims.sub, 'user-1', what);
    }
  });

  test('a ring holding an HMAC secret and the RSA key: the RSA kid never selects HMAC', () => {
    const ring = keyRingFromJwks({
      keys: [
        { kty: 'oct', k: hmacSecret().toString('base64url'), alg: 'HS256', kid: 'hmac' },
        { ...rsa.publicKey.export({ format: 'jwk' }), alg: 'RS256', kid: 'rsa' },
      ],
    });
    const verify = createTokenVerifier({ keys: ring, clock });
    const withRsaKid = token({ alg: 'HS256', kid: 'rsa' }, claims(), hmac('HS256', spki));
    throwsCode(() => verify(withRsaKid), 'ERR_JWT_ALG_NOT_ALLOWED', withRsaKid);
    const noKid = token({ alg: 'HS256' }, claims(), hmac('HS256', spki));
    throwsCode(() => verify(noKid), 'ERR_JWT_SIGNATURE_INVALID', noKid); // only the real secret was tried
  });

  test('an HMAC verifier is never built over a public key', () => {
    const pub = createPublicKey(spki);
    const fake: KeyRing = { signer: { kid: 'x', alg: 'HS256', key: pub }, keys: [{ kid: 'x', alg: 'HS256', key: pub }], byKid: () => undefined, algorithms: ['HS256'] };
    assert.throws(() => createJwsVerifier({ keys: fake }), /HS256 needs a secret key, not a public key/);
  });
});

describe('alg switched among allowed algorithms is refused (one key, one alg)', () => {
  const rsa = rsaKey();
  const rsaJwk = rsa.privateKey.export({ format: 'jwk' });
  // The same RSA key bound twice, to RS256 as "rs" and PS256 as "ps"; both algs are allowed.
  const ring = keyRingFromJwks({ keys: [{ ...rsaJwk, alg: 'RS256', kid: 'rs' }, { ...rsaJwk, alg: 'PS256', kid: 'ps' }] });
  const verify = createTokenVerifier({ keys: ring, clock });

  test('control: each binding verifies its own alg', () => {
    assert.equal(verify(token({ alg: 'RS256', kid: 'rs' }, claims(), asym('RS256', rsa.privateKey))).claims.sub, 'user-1');
    assert.equal(verify(token({ alg: 'PS256', kid: 'ps' }, claims(), asym('PS256', rsa.privateKey))).claims.sub, 'user-1');
  });

  test('RS256 key relabelled PS256 / RS512 (valid signatures by that very key)', () => {
    for (const alg of ['PS256', 'PS384', 'RS384', 'RS512']) {
      const t = token({ alg, kid: 'rs' }, claims(), asym(alg, rsa.privateKey));
      throwsCode(() => verify(t), 'ERR_JWT_ALG_NOT_ALLOWED', t);
    }
  });

  test('PS256 key relabelled RS256', () => {
    const t = token({ alg: 'RS256', kid: 'ps' }, claims(), asym('RS256', rsa.privateKey));
    throwsCode(() => verify(t), 'ERR_JWT_ALG_NOT_ALLOWED', t);
  });

  test('RS256 signature under a PS256 header, no kid: only PS256 keys are tried, and fail', () => {
    const input = `${b64({ alg: 'PS256' })}.${b64(claims())}`;
    const t = `${input}.${asym('RS256', rsa.privateKey)(input).toString('base64url')}`;
    throwsCode(() => verify(t), 'ERR_JWT_SIGNATURE_INVALID', t);
  });

  test('ES256 key used with SHA-384/512 (ES384/ES512 headers)', () => {
    const ec = ringFor('ES256');
    const v = createTokenVerifier({ keys: ec, algorithms: ['ES256', 'ES384', 'ES512'], clock });
    for (const alg of ['ES384', 'ES512']) {
      for (const kid of [ec.signer.kid, undefined]) {
        const t = token({ alg, ...(kid ? { kid } : {}) }, claims(), asym(alg, ec.signer.privateKey!));
        throwsCode(() => v(t), 'ERR_JWT_ALG_NOT_ALLOWED', t);
      }
    }
  });

  test('HS256 secret used as HS384/HS512', () => {
    const hs = ringFor('HS256');
    const v = createTokenVerifier({ keys: hs, algorithms: ['HS256', 'HS384', 'HS512'], clock });
    for (const alg of ['HS384', 'HS512']) {
      const t = token({ alg, kid: hs.signer.kid }, claims(), hmac(alg, hs.signer.key));
      throwsCode(() => v(t), 'ERR_JWT_ALG_NOT_ALLOWED', t);
    }
  });

  test('EdDSA header on an RSA ring', () => {
    const t = token({ alg: 'EdDSA', kid: 'rs' }, claims(), asym('RS256', rsa.privateKey));
    throwsCode(() => verify(t), 'ERR_JWT_ALG_NOT_ALLOWED', t);
  });
});

describe('kid only selects among configured keys', () => {
  const ring = ringFor('HS256');
  const verify = createTokenVerifier({ keys: ring, clock });
  const signWithRealKey = hmac('HS256', ring.signer.key);

  test('hostile kids are unknown keys, and nothing outside the ring is touched', () => {
    const spies = ['readFileSync', 'openSync', 'existsSync', 'statSync', 'readFile', 'open', 'createReadStream'].map((m) =>
      mock.method(fs, m as 'readFileSync'));
    const promiseSpies = ['readFile', 'open'].map((m) => mock.method(fs.promises, m as 'readFile'));
    try {
      for (const kid of ['../../dev/null', '/dev/null', '../../../../etc/passwd', "' OR 1=1 --", "x' UNION SELECT 'secret", '',
        '__proto__', 'constructor', 'toString', 'hasOwnProperty', `${ring.signer.kid} `, ring.signer.kid.toUpperCase(),
        'https://attacker.example/key', '|cat /etc/passwd']) {
        const t = token({ alg: 'HS256', kid }, claims(), signWithRealKey);
        throwsCode(() => verify(t), 'ERR_JWT_KEY_UNKNOWN', t);
      }
      for (const kid of [123, 0, null, true, ['x'], { $ne: null }]) {
        const t = token({ alg: 'HS256', kid }, claims(), signWithRealKey);
        throwsCode(() => verify(t), 'ERR_JWT_MALFORMED', t);
      }
    } finally {
      for (const s of [...spies, ...promiseSpies]) {
        assert.equal(s.mock.callCount(), 0);
        s.mock.restore();
      }
    }
  });

  test('control: the same token with the real kid verifies', () => {
    assert.equal(verify(token({ alg: 'HS256', kid: ring.signer.kid }, claims(), signWithRealKey)).claims.sub, 'user-1');
  });

  test('the token core imports nothing that could reach a file, a database or the network', () => {
    const dir = new URL('../toolkit/src/tokens/', import.meta.url);
    const allowed = new Set(['node:crypto', 'node:buffer']);
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      const src = readFileSync(new URL(f, dir), 'utf8');
      const specs = [...src.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s*'([^']+)'/gm), ...src.matchAll(/\bimport\s*\(\s*'([^']+)'/g)];
      assert.ok(specs.length > 0 || ['types.ts', 'base64url.ts'].includes(f), `${f}: found no imports to check`);
      for (const m of specs) {
        const spec = m[1]!;
        assert.ok(spec.startsWith('./') || spec === '../errors.js' || allowed.has(spec), `${f} imports ${spec}`);
      }
      assert.doesNotMatch(src, /\brequire\s*\(|\bfetch\s*\(/, f);
    }
  });

  test('one module alone signs and verifies with node:crypto: primitives.ts', () => {
    const dir = new URL('../toolkit/src/tokens/', import.meta.url);
    const SIGNING = /\b(createHmac|createSign|createVerify|sign|verify|timingSafeEqual|subtle|webcrypto)\b/;
    const users: string[] = [];
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      const src = readFileSync(new URL(f, dir), 'utf8');
      for (const m of src.matchAll(/^\s*import\s+([^;]*?)\s+from\s*'node:crypto'/gm)) {
        if (SIGNING.test(m[1]!.replace(/\bas\s+\w+/g, ''))) users.push(f);
      }
      assert.doesNotMatch(src, /globalThis\.crypto|\bcrypto\.subtle/, f);
    }
    assert.deepEqual(users, ['primitives.ts']);
  });
});

describe('jku, x5u, x5c and jwk headers are refused outright', () => {
  const ring = rsaRing('RS256');
  const verify = createTokenVerifier({ keys: ring, clock });
  const attacker = rsaKey('attacker');
  const attackerJwk = attacker.publicKey.export({ format: 'jwk' });
  const attackerDer = (attacker.publicKey.export({ type: 'spki', format: 'der' }) as Buffer).toString('base64');
  const cases: Record<string, Record<string, unknown>> = {
    jwk: { jwk: { ...attackerJwk, kid: 'evil', alg: 'RS256' } },
    jku: { jku: 'https://attacker.example/.well-known/jwks.json', kid: 'evil' },
    x5u: { x5u: 'https://attacker.example/cert.pem' },
    x5c: { x5c: [attackerDer] },
  };

  for (const [param, extra] of Object.entries(cases)) {
    test(`${param}: signed by the attacker's key it names, with and without our kid`, () => {
      for (const kid of [undefined, ring.signer.kid]) {
        const t = token({ alg: 'RS256', ...extra, ...(kid ? { kid } : {}) }, claims(), asym('RS256', attacker.privateKey));
        throwsCode(() => verify(t), 'ERR_JWT_HEADER_NOT_ALLOWED', t);
      }
    });
    test(`${param}: even on a token genuinely signed by our key`, () => {
      const t = token({ alg: 'RS256', kid: ring.signer.kid, ...extra }, claims(), asym('RS256', rsaKey().privateKey));
      throwsCode(() => verify(t), 'ERR_JWT_HEADER_NOT_ALLOWED', t);
    });
  }
});

describe('crit is refused whatever it names (no extension is implemented)', () => {
  const ring = ringFor('HS256');
  const verify = createTokenVerifier({ keys: ring, clock });
  const sign = hmac('HS256', ring.signer.key);
  const headers: Record<string, Record<string, unknown>> = {
    'crit [exp]': { crit: ['exp'], exp: NOW + 10 },
    'crit [] (empty)': { crit: [] },
    'crit "b64" as a string': { crit: 'b64' },
    'crit [b64] with b64:false (RFC 7797)': { crit: ['b64'], b64: false },
    'b64:false without crit': { b64: false },
    'b64:true': { b64: true },
    'crit [http://example.com/unknown]': { crit: ['http://example.com/unknown'], 'http://example.com/unknown': true },
  };
  for (const [name, extra] of Object.entries(headers)) {
    test(name, () => {
      const t = token({ alg: 'HS256', kid: ring.signer.kid, ...extra }, claims(), sign);
      throwsCode(() => verify(t), 'ERR_JWT_HEADER_NOT_ALLOWED', t);
    });
  }
});

describe('exp and nbf, with a fixed clock', () => {
  const ring = ringFor('HS256');
  const sign = hmac('HS256', ring.signer.key);
  const at = (ms: number, leeway?: number) => createTokenVerifier({ keys: ring, clock: () => ms, leeway });
  const t = (extra: Record<string, unknown>) => token({ alg: 'HS256', kid: ring.signer.kid }, claims(extra), sign);

  test('expired one second ago: refused without leeway, accepted with 1s', () => {
    const tok = t({ exp: NOW - 1 });
    const e = throwsCode(() => at(NOW_MS)(tok), 'ERR_JWT_EXPIRED', tok);
    assert.equal(e.message, 'Token has expired');
    assert.equal(at(NOW_MS, 1)(tok).claims.exp, NOW - 1);
    throwsCode(() => at(NOW_MS + 1, 1)(tok), 'ERR_JWT_EXPIRED', tok);
  });

  test('the boundary: valid at exactly exp, expired one millisecond later', () => {
    const tok = t({ exp: NOW });
    assert.ok(at(NOW_MS)(tok));
    throwsCode(() => at(NOW_MS + 1)(tok), 'ERR_JWT_EXPIRED', tok);
  });

  test('nbf ten seconds ahead: refused, accepted with 10s leeway, refused with 9s', () => {
    const tok = t({ nbf: NOW + 10 });
    throwsCode(() => at(NOW_MS)(tok), 'ERR_JWT_NOT_YET_VALID', tok);
    assert.ok(at(NOW_MS, 10)(tok));
    throwsCode(() => at(NOW_MS, 9)(tok), 'ERR_JWT_NOT_YET_VALID', tok);
    assert.ok(at(NOW_MS + 10_000)(tok));
  });

  test('nbf is judged to the second: an issuer a few milliseconds ahead is not refused, one a second ahead is', () => {
    // Issued at the start of second NOW (nbf NOW) by an instance whose clock is 2 ms ahead of the
    // verifier's, which is still in the second before: the token is accepted.
    const tok = t({ nbf: NOW });
    assert.ok(at(NOW_MS - 2)(tok));
    assert.ok(at(NOW_MS - 999)(tok));
    throwsCode(() => at(NOW_MS - 1000)(tok), 'ERR_JWT_NOT_YET_VALID', tok);
  });

  test('exp is required and numeric; nbf and iat numeric when present', () => {
    const bad: Record<string, unknown>[] = [
      { exp: undefined }, { exp: null }, { exp: String(NOW + 900) }, { exp: [NOW + 900] }, { exp: true },
      { nbf: String(NOW) }, { nbf: null }, { iat: 'yesterday' }, { iat: {} },
    ];
    for (const extra of bad) {
      const tok = t(extra);
      throwsCode(() => at(NOW_MS)(tok), 'ERR_JWT_CLAIM_INVALID', tok);
    }
    assert.ok(at(NOW_MS)(t({ nbf: undefined, iat: undefined })), 'nbf and iat may be absent');
  });

  test('leeway must be a non-negative number', () => {
    assert.throws(() => at(NOW_MS, -1), /leeway/);
    assert.throws(() => at(NOW_MS, Number.NaN), /leeway/);
  });
});

describe('iss and aud, and the types of Warden claims', () => {
  const ring = ringFor('HS256');
  const sign = hmac('HS256', ring.signer.key);
  const t = (extra: Record<string, unknown>) => token({ alg: 'HS256', kid: ring.signer.kid }, claims(extra), sign);
  const verify = createTokenVerifier({ keys: ring, clock, issuer: ['https://warden.example', 'warden'], audience: 'api' });

  test('accepted: a listed issuer and an audience naming api (string or in an array)', () => {
    assert.ok(verify(t({ iss: 'warden', aud: 'api' })));
    assert.ok(verify(t({ iss: 'https://warden.example', aud: ['other', 'api'] })));
  });

  test('issuer mismatch, missing, or not a string', () => {
    for (const iss of ['evil', 'Warden', 'warden ', undefined, ['warden'], 1]) {
      const tok = t({ iss, aud: 'api' });
      throwsCode(() => verify(tok), 'ERR_JWT_CLAIM_INVALID', tok);
    }
  });

  test('audience mismatch, missing, or malformed', () => {
    for (const aud of ['other', ['other', 'API'], [], undefined, 7, [7], ['api', 7]]) {
      const tok = t({ iss: 'warden', aud });
      throwsCode(() => verify(tok), 'ERR_JWT_CLAIM_INVALID', tok);
    }
  });

  test('without configured iss/aud, the claims are ignored but still type-checked', () => {
    const v = createTokenVerifier({ keys: ring, clock });
    assert.ok(v(t({ iss: 'anyone', aud: ['x'] })));
    const tok = t({ aud: { api: true } });
    throwsCode(() => v(tok), 'ERR_JWT_CLAIM_INVALID', tok);
  });

  test('sub and jti strings, type access|refresh; fresh/csrf/sid/roles well-typed', () => {
    const v = createTokenVerifier({ keys: ring, clock });
    const bad: Record<string, unknown>[] = [
      { sub: 42 }, { sub: undefined }, { sub: null }, { jti: undefined }, { jti: 7 },
      { type: 'admin' }, { type: undefined }, { type: 'ACCESS' },
      { fresh: 'true' }, { fresh: null }, { csrf: 1 }, { sid: 5 }, { roles: 'admin' }, { roles: ['admin', 1] },
    ];
    for (const extra of bad) {
      const tok = t(extra);
      throwsCode(() => v(tok), 'ERR_JWT_CLAIM_INVALID', tok);
    }
    assert.equal(v(t({ fresh: undefined })).claims.fresh, false, 'absent fresh reads as false');
    assert.equal(v(t({ type: 'refresh' })).claims.type, 'refresh');
  });
});

describe('malformed tokens', () => {
  const ring = ringFor('HS256');
  const sign = hmac('HS256', ring.signer.key);
  const verify = createTokenVerifier({ keys: ring, clock });
  const good = token({ alg: 'HS256', kid: ring.signer.kid }, claims(), sign);
  const [h, p, s] = good.split('.') as [string, string, string];

  test('control: the well-formed token verifies', () => {
    assert.equal(verify(good).claims.sub, 'user-1');
  });

  test('characters outside [A-Za-z0-9_-] in any segment', () => {
    for (const c of ['+', '/', '=', '?', ' ', '\n', '\t', '%', '#', 'é', '\u0000', '*', '~', ',', '"']) {
      for (const t of [`${c}${h}.${p}.${s}`, `${h}.${p}${c}.${s}`, `${h}.${p}.${s.slice(0, 10)}${c}${s.slice(10)}`]) {
        throwsCode(() => verify(t), 'ERR_JWT_MALFORMED', good);
      }
    }
  });

  test('a character that shares its low byte with the right one (latin1 would read them alike)', () => {
    const lookAlike = (seg: string, i: number) => seg.slice(0, i) + String.fromCharCode(0x100 | seg.charCodeAt(i)) + seg.slice(i + 1);
    for (const i of [0, 20, s.length - 1]) {
      const t = `${h}.${p}.${lookAlike(s, i)}`;
      throwsCode(() => verify(t), 'ERR_JWT_MALFORMED', t);
      throwsCode(() => createTokenVerifier({ keys: ring, clock })(t), 'ERR_JWT_MALFORMED', t); // header not yet seen verified
    }
    const t = `${h}.${lookAlike(p, 5)}.${s}`;
    throwsCode(() => verify(t), 'ERR_JWT_MALFORMED', t);
  });

  test('padding, standard base64, whitespace around, a Bearer prefix', () => {
    const std = (x: string) => Buffer.from(x, 'base64url').toString('base64');
    for (const t of [
      `${h}.${p}.${s}=`, `${h}=.${p}.${s}`, `${std(h)}.${std(p)}.${std(s)}`, ` ${good}`, `${good} `, `${good}\n`, `Bearer ${good}`,
    ]) {
      throwsCode(() => verify(t), 'ERR_JWT_MALFORMED', good);
    }
  });

  test('one, two, four or five segments; empty header', () => {
    for (const t of [h, `${h}.${p}`, `${h}.${p}.${s}.`, `${h}.${p}.${s}.${s}`, `${h}.${h}.${p}.${s}.${s}`, `.${p}.${s}`, '..', '.', '']) {
      throwsCode(() => verify(t), 'ERR_JWT_MALFORMED', good);
    }
  });

  test('non-canonical trailing bits (another encoding of the same bytes)', () => {
    // the last character of a segment whose length is 2 or 3 (mod 4) carries bits that must be 0
    const bump = (seg: string) => {
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      return seg.slice(0, -1) + alphabet[alphabet.indexOf(seg.at(-1)!) + 1];
    };
    assert.notEqual(s.length % 4, 0, 'an HS256 signature is 43 characters');
    const t = `${h}.${p}.${bump(s)}`;
    assert.deepEqual(Buffer.from(bump(s), 'base64url'), Buffer.from(s, 'base64url'), 'Buffer would decode it to the same bytes');
    throwsCode(() => verify(t), 'ERR_JWT_MALFORMED', t);
  });

  test('a segment of length ≡ 1 (mod 4), which no byte string encodes to', () => {
    const to1mod4 = (seg: string) => seg + 'A'.repeat((1 - (seg.length % 4) + 4) % 4 || 4);
    for (const t of [`${to1mod4(h)}.${p}.${s}`, `${h}.${to1mod4(p)}.${s}`, `${h}.${p}.${to1mod4(s)}`]) {
      assert.deepEqual(t.split('.').map((x) => x.length % 4).filter((r) => r === 1).length, 1);
      throwsCode(() => verify(t), 'ERR_JWT_MALFORMED', t);
    }
  });

  test('huge tokens: over 8192 characters by default, or the configured cap', () => {
    const huge = token({ alg: 'HS256', kid: ring.signer.kid }, claims({ pad: 'x'.repeat(9000) }), sign);
    throwsCode(() => verify(huge), 'ERR_JWT_TOO_LARGE', huge);
    throwsCode(() => verify('A'.repeat(10_000_000)), 'ERR_JWT_TOO_LARGE');
    const capped = createTokenVerifier({ keys: ring, clock, maxLength: good.length - 1 });
    throwsCode(() => capped(good), 'ERR_JWT_TOO_LARGE', good);
    assert.ok(createTokenVerifier({ keys: ring, clock, maxLength: good.length })(good));
  });

  test('not a string', () => {
    for (const v of [undefined, null, 42, Buffer.from(good), { toString: () => good }, [good]]) {
      throwsCode(() => verify(v as unknown as string), 'ERR_JWT_MALFORMED');
    }
  });

  test('header: not JSON, not an object, no alg, alg not a string, invalid UTF-8', () => {
    const raw = (bytes: Buffer | string) => {
      const input = `${Buffer.from(bytes).toString('base64url')}.${p}`;
      return `${input}.${sign(input).toString('base64url')}`;
    };
    for (const hdr of ['{alg:"HS256"}', '[]', '["HS256"]', 'null', '"HS256"', '42', '{}', '{"typ":"JWT"}', '{"alg":256}', '{"alg":null}', '{"alg":["HS256"]}']) {
      const t = raw(hdr);
      throwsCode(() => verify(t), 'ERR_JWT_MALFORMED', t);
    }
    const t = raw(Buffer.concat([Buffer.from('{"alg":"HS256","x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]));
    throwsCode(() => verify(t), 'ERR_JWT_MALFORMED', t);
  });

  test('payload: not JSON, an array, null, a string, a number, invalid UTF-8 (all correctly signed)', () => {
    const raw = (bytes: Buffer | string) => {
      const input = `${h}.${Buffer.from(bytes).toString('base64url')}`;
      return `${input}.${sign(input).toString('base64url')}`;
    };
    for (const body of ['not json', '', '[]', JSON.stringify([claims()]), 'null', '"user-1"', '1700000000', 'true', '{"exp":1', Buffer.from([0xff, 0xfe, 0x7b, 0x7d])]) {
      const t = raw(body);
      throwsCode(() => verify(t), 'ERR_JWT_MALFORMED', t);
    }
    // invalid UTF-8 inside a string of otherwise valid claims (lenient decoding would make it U+FFFD)
    const json = JSON.stringify(claims({ sub: 'user-@' }));
    const at = json.indexOf('@');
    const t = raw(Buffer.concat([Buffer.from(json.slice(0, at)), Buffer.from([0xc0, 0xaf]), Buffer.from(json.slice(at + 1))]));
    throwsCode(() => verify(t), 'ERR_JWT_MALFORMED', t);
    assert.equal(verify(raw(json)).claims.sub, 'user-@', 'control');
  });

  test('signature stripped', () => {
    throwsCode(() => verify(`${h}.${p}.`), 'ERR_JWT_SIGNATURE_INVALID', good);
    throwsCode(() => verify(`${h}.${p}`), 'ERR_JWT_MALFORMED', good);
  });

  test('error messages never carry the token', () => {
    const secretish = token({ alg: 'HS256', kid: ring.signer.kid }, claims({ sub: 'SECRET-SUBJECT-1234' }), () => Buffer.alloc(32));
    const e = throwsCode(() => verify(secretish), 'ERR_JWT_SIGNATURE_INVALID', secretish);
    assert.doesNotMatch(e.message, /SECRET|eyJ/);
    assert.equal(e.details, undefined);
  });
});

describe('signature encodings', () => {
  const input = (ring: KeyRing, alg: string) => `${b64({ alg, kid: ring.signer.kid })}.${b64(claims())}`;

  for (const [alg, len] of [['ES256', 64], ['ES384', 96], ['ES512', 132]] as const) {
    test(`${alg}: all-zero signature (r = s = 0, CVE-2022-21449 "psychic signatures") and other degenerate r, s`, () => {
      const ring = ringFor(alg);
      const verify = createJwsVerifier({ keys: ring });
      const i = input(ring, alg);
      const half = len / 2;
      const one = Buffer.alloc(half);
      one[half - 1] = 1;
      for (const sig of [Buffer.alloc(len), Buffer.concat([Buffer.alloc(half), one]), Buffer.concat([one, Buffer.alloc(half)]), Buffer.alloc(len, 0xff)]) {
        const t = `${i}.${sig.toString('base64url')}`;
        throwsCode(() => verify(t), 'ERR_JWT_SIGNATURE_INVALID', t);
      }
    });

    test(`${alg}: a valid DER-encoded signature instead of JOSE raw r||s`, () => {
      const ring = ringFor(alg);
      const verify = createJwsVerifier({ keys: ring });
      const i = input(ring, alg);
      const der = asym(alg, ring.signer.privateKey!, 'der')(i);
      assert.ok(cryptoVerify(HASH(alg), Buffer.from(i), { key: ring.signer.key, dsaEncoding: 'der' }, der), 'control: the DER signature is valid');
      const t = `${i}.${der.toString('base64url')}`;
      throwsCode(() => verify(t), 'ERR_JWT_SIGNATURE_INVALID', t);
      // and the raw one verifies
      assert.ok(verify(`${i}.${asym(alg, ring.signer.privateKey!)(i).toString('base64url')}`));
    });

    test(`${alg}: raw signature with a leading zero byte added or the last byte dropped`, () => {
      const ring = ringFor(alg);
      const verify = createJwsVerifier({ keys: ring });
      const i = input(ring, alg);
      const sig = asym(alg, ring.signer.privateKey!)(i);
      for (const bad of [Buffer.concat([Buffer.alloc(1), sig]), sig.subarray(0, len - 1), Buffer.concat([sig, Buffer.alloc(1)])]) {
        const t = `${i}.${bad.toString('base64url')}`;
        throwsCode(() => verify(t), 'ERR_JWT_SIGNATURE_INVALID', t);
      }
    });
  }

  test('EdDSA: zero signature, and one with a flipped bit', () => {
    const ring = ringFor('EdDSA');
    const verify = createJwsVerifier({ keys: ring });
    const i = input(ring, 'EdDSA');
    const sig = asym('EdDSA', ring.signer.privateKey!)(i);
    sig[5] = sig[5]! ^ 4;
    for (const bad of [Buffer.alloc(64), sig]) {
      const t = `${i}.${bad.toString('base64url')}`;
      throwsCode(() => verify(t), 'ERR_JWT_SIGNATURE_INVALID', t);
    }
  });

  for (const [alg, len] of [['HS256', 32], ['HS384', 48], ['HS512', 64]] as const) {
    test(`${alg}: MAC of the wrong length (truncated prefix, extended, empty, one byte)`, () => {
      const ring = ringFor(alg);
      const verify = createJwsVerifier({ keys: ring });
      const i = input(ring, alg);
      const mac = hmac(alg, ring.signer.key)(i);
      assert.equal(mac.length, len);
      assert.ok(verify(`${i}.${mac.toString('base64url')}`), 'control');
      for (const bad of [mac.subarray(0, 16), mac.subarray(0, len - 1), Buffer.concat([mac, Buffer.alloc(1)]), mac.subarray(0, 1), Buffer.concat([mac, mac])]) {
        const t = `${i}.${bad.toString('base64url')}`;
        throwsCode(() => verify(t), 'ERR_JWT_SIGNATURE_INVALID', t);
      }
    });
  }

  test('RSA: signature one byte short or long (modulus length is enforced)', () => {
    const ring = ringFor('RS256');
    const verify = createJwsVerifier({ keys: ring });
    const i = input(ring, 'RS256');
    const sig = asym('RS256', ring.signer.privateKey!)(i);
    for (const bad of [Buffer.concat([Buffer.alloc(1), sig]), sig.subarray(1), Buffer.alloc(256)]) {
      const t = `${i}.${bad.toString('base64url')}`;
      throwsCode(() => verify(t), 'ERR_JWT_SIGNATURE_INVALID', t);
    }
  });
});

describe('the header cache', () => {
  test('a header is shared frozen: a caller mutating it cannot change what later tokens see', () => {
    const ring = ringFor('HS256');
    const verify = createJwsVerifier({ keys: ring });
    const t = token({ alg: 'HS256', kid: ring.signer.kid, extra: { a: 1 } }, claims(), hmac('HS256', ring.signer.key));
    const first = verify(t).header;
    assert.ok(Object.isFrozen(first) && Object.isFrozen(first.extra));
    assert.throws(() => { (first as Record<string, unknown>).alg = 'none'; }, TypeError);
    assert.equal(verify(t).header.alg, 'HS256');
  });

  test('a cached header does not let a bad signature through', () => {
    const ring = ringFor('HS256');
    const verify = createJwsVerifier({ keys: ring });
    const t = token({ alg: 'HS256', kid: ring.signer.kid }, claims(), hmac('HS256', ring.signer.key));
    assert.ok(verify(t));
    const [h, p] = t.split('.');
    const forged = `${h}.${p}.${Buffer.alloc(32).toString('base64url')}`;
    throwsCode(() => verify(forged), 'ERR_JWT_SIGNATURE_INVALID', forged);
  });

  test('over 256 distinct signed headers: old ones are evicted and still verify', () => {
    const ring = ringFor('HS256');
    const verify = createJwsVerifier({ keys: ring });
    const toks = Array.from({ length: 300 }, (_, n) => token({ alg: 'HS256', kid: ring.signer.kid, n }, claims(), hmac('HS256', ring.signer.key)));
    for (const t of toks) assert.ok(verify(t));
    for (const t of toks) assert.ok(verify(t));
  });
});

// Codes exercised above, so a renamed code fails loudly here rather than silently elsewhere.
test('every JWS/JWT refusal code is exercised by this file', () => {
  const src = readFileSync(new URL(import.meta.url), 'utf8');
  const used: ErrorCode[] = ['ERR_JWT_MALFORMED', 'ERR_JWT_TOO_LARGE', 'ERR_JWT_ALG_NOT_ALLOWED', 'ERR_JWT_HEADER_NOT_ALLOWED',
    'ERR_JWT_KEY_UNKNOWN', 'ERR_JWT_SIGNATURE_INVALID', 'ERR_JWT_EXPIRED', 'ERR_JWT_NOT_YET_VALID', 'ERR_JWT_CLAIM_INVALID'];
  for (const c of used) assert.ok(src.split(`'${c}'`).length > 2, c);
});

describe('HMAC signatures are exactly node:crypto createHmac\'s', () => {
  // primitives.ts computes an HMAC as two one-shot digests over its pads (RFC 2104): every hash,
  // key lengths either side of the block size, inputs either side of block boundaries and of the
  // one-shot path's cap (longer inputs take createHmac itself).
  const lengths = [0, 1, 55, 56, 63, 64, 65, 111, 112, 127, 128, 129, 1000, 8192, 16_383, 16_384, 16_385, 40_000];
  for (const alg of ['HS256', 'HS384', 'HS512'] as const) {
    test(alg, () => {
      for (const keyBytes of [32, 64, 65, 128, 129, 300]) {
        const ring = keyRingFromSecret(randomBytes(keyBytes), alg);
        const key = ring.signer.key;
        const sign = signerFor(alg, key);
        const check = checkerFor(alg, key);
        for (const n of lengths) {
          const input = 'aB3-_.'.repeat(Math.ceil(n / 6)).slice(0, n);
          const expected = createHmac(HASH(alg), key).update(input, 'latin1').digest('base64url');
          assert.equal(sign(input), expected, `${alg}, ${keyBytes}-byte key, ${n}-character input`);
          assert.ok(check(input, expected));
          assert.ok(!check(input, expected.slice(0, -1) + (expected.at(-1) === 'A' ? 'Q' : 'A')));
          assert.ok(!check(input + 'x', expected));
        }
      }
    });
  }
});
