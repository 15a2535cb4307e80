// Issuance: flask-jwt-extended 4.x claims and header, freshness, reserved claims, all 13
// algorithms round-trip (and jose, an independent implementation, agrees), key rotation, the
// signing key chosen by headers.kid, and the public JWKS.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CompactSign, jwtVerify } from 'jose';
import { createTokenIssuer, isFresh, RESERVED_CLAIMS } from '../toolkit/src/tokens/issue.js';
import { createJwsVerifier, signCompact } from '../toolkit/src/tokens/jws.js';
import { keyRingFromJwks, publicJwks, type KeyRing } from '../toolkit/src/tokens/index.js';
import { ALGORITHMS, isHmac, type Algorithm } from '../toolkit/src/tokens/types.js';
import { createTokenVerifier, decodeUnverified } from '../toolkit/src/tokens/verify.js';
import { ecKey, ed25519Key, ringFor, rsaKey, throwsCode } from './helpers/keys.js';

const NOW_MS = 1_700_000_000_123;
const NOW = Math.floor(NOW_MS / 1000);
const clock = () => NOW_MS;
const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const part = (token: string, i: 0 | 1) => Buffer.from(token.split('.')[i]!, 'base64url').toString('utf8');
const issuerFor = (keys: KeyRing, extra: Partial<Parameters<typeof createTokenIssuer>[0]> = {}) =>
  createTokenIssuer({ keys, accessExpiresIn: 900, refreshExpiresIn: 30 * 86400, clock, ...extra });

describe('claims as flask-jwt-extended writes them', () => {
  const ring = ringFor('HS256');
  const issuer = issuerFor(ring);

  test('access token: {fresh, iat, jti, type, sub, nbf, csrf, exp}, in that order', () => {
    const { token, claims } = issuer.issue('access', 'user-1');
    const json = part(token, 1);
    const decoded = JSON.parse(json) as Record<string, unknown>;
    assert.deepEqual(Object.keys(decoded), ['fresh', 'iat', 'jti', 'type', 'sub', 'nbf', 'csrf', 'exp']);
    assert.equal(json, JSON.stringify(claims), 'the token carries exactly the returned claims, in order');
    assert.equal(decoded.fresh, false);
    assert.equal(decoded.iat, NOW);
    assert.equal(decoded.nbf, NOW);
    assert.equal(decoded.exp, NOW + 900);
    assert.equal(decoded.type, 'access');
    assert.equal(decoded.sub, 'user-1');
    assert.match(decoded.jti as string, UUID4);
    assert.match(decoded.csrf as string, UUID4);
    assert.notEqual(decoded.jti, decoded.csrf);
  });

  test('refresh token: same shape, fresh false, the refresh lifetime', () => {
    const { token } = issuer.issue('refresh', 'user-1');
    const decoded = JSON.parse(part(token, 1)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(decoded), ['fresh', 'iat', 'jti', 'type', 'sub', 'nbf', 'csrf', 'exp']);
    assert.equal(decoded.fresh, false);
    assert.equal(decoded.type, 'refresh');
    assert.equal(decoded.exp, NOW + 30 * 86400);
  });

  test('aud and iss go where flask-jwt-extended puts them (after csrf, before exp); additional claims after', () => {
    const i = issuerFor(ring, { issuer: 'warden', audience: ['api', 'web'] });
    const { token } = i.issue('access', 'u', { additionalClaims: { roles: ['admin'], sid: 's-1' } });
    assert.deepEqual(Object.keys(JSON.parse(part(token, 1)) as object),
      ['fresh', 'iat', 'jti', 'type', 'sub', 'nbf', 'csrf', 'aud', 'iss', 'exp', 'roles', 'sid']);
    const v = createTokenVerifier({ keys: ring, clock, issuer: 'warden', audience: 'web' });
    assert.deepEqual(v(token).claims.roles, ['admin']);
  });

  test('header {alg, typ: "JWT", kid}', () => {
    const { token } = issuer.issue('access', 'user-1');
    assert.equal(part(token, 0), JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: ring.signer.kid }));
  });

  test('each token has its own jti and csrf', () => {
    const a = issuer.issue('access', 'u').claims;
    const b = issuer.issue('access', 'u').claims;
    assert.notEqual(a.jti, b.jti);
    assert.notEqual(a.csrf, b.csrf);
  });

  test('jti may be given (a token standing in for one already issued); an empty or non-string one is refused', () => {
    const t = issuer.issue('refresh', 'u', { jti: 'the-current-jti' });
    assert.equal(t.claims.jti, 'the-current-jti');
    assert.equal(JSON.parse(part(t.token, 1)).jti, 'the-current-jti');
    assert.notEqual(t.claims.csrf, issuer.issue('refresh', 'u', { jti: 'the-current-jti' }).claims.csrf, 'csrf is still new');
    assert.throws(() => issuer.issue('refresh', 'u', { jti: '' }), TypeError);
    assert.throws(() => issuer.issue('refresh', 'u', { jti: 42 as unknown as string }), TypeError);
  });

  test('createAccessToken / createRefreshToken return tokens of their type', () => {
    const v = createTokenVerifier({ keys: ring, clock });
    assert.equal(v(issuer.createAccessToken('u', { fresh: true })).claims.type, 'access');
    assert.equal(v(issuer.createAccessToken('u', { fresh: true })).claims.fresh, true);
    assert.equal(v(issuer.createRefreshToken('u')).claims.type, 'refresh');
  });

  test('identity must be a non-empty string; type access|refresh', () => {
    assert.throws(() => issuer.issue('access', ''), TypeError);
    assert.throws(() => issuer.issue('access', 42 as unknown as string), TypeError);
    assert.throws(() => issuer.issue('admin' as 'access', 'u'), /Unknown token type/);
  });
});

describe('freshness and lifetime', () => {
  const ring = ringFor('HS256');
  const issuer = issuerFor(ring);

  test('fresh: true', () => {
    const { claims } = issuer.issue('access', 'u', { fresh: true });
    assert.equal(claims.fresh, true);
    assert.ok(isFresh(claims, NOW_MS + 10 * 86400_000));
  });

  test('fresh as a duration: fresh until now + n, written as epoch seconds', () => {
    const { token, claims } = issuer.issue('access', 'u', { fresh: 300 });
    assert.equal(claims.fresh, NOW + 300);
    assert.equal((JSON.parse(part(token, 1)) as { fresh: unknown }).fresh, NOW + 300);
    assert.ok(isFresh(claims, NOW_MS));
    assert.ok(isFresh(claims, (NOW + 300) * 1000 - 1));
    assert.ok(!isFresh(claims, (NOW + 300) * 1000));
    assert.ok(!isFresh(claims, (NOW + 301) * 1000));
  });

  test('isFresh on what other issuers write (flask-jwt-extended writes a float)', () => {
    assert.ok(isFresh({ fresh: NOW + 0.5 }, NOW_MS - 123));
    assert.ok(!isFresh({ fresh: NOW + 0.5 }, (NOW + 1) * 1000));
    assert.ok(!isFresh({ fresh: false }, NOW_MS));
    assert.ok(!isFresh({ fresh: 'true' as unknown as boolean }, NOW_MS));
    assert.ok(!isFresh({ fresh: Number.NaN }, NOW_MS));
  });

  test('refresh tokens are never fresh', () => {
    assert.throws(() => issuer.issue('refresh', 'u', { fresh: true }), /never fresh/);
    assert.throws(() => issuer.issue('refresh', 'u', { fresh: 60 }), /never fresh/);
    assert.equal(issuer.issue('refresh', 'u', { fresh: false }).claims.fresh, false);
  });

  test('expiresIn overrides the lifetime; bad values are refused', () => {
    assert.equal(issuer.issue('access', 'u', { expiresIn: 60 }).claims.exp, NOW + 60);
    assert.equal(issuer.issue('refresh', 'u', { expiresIn: 120 }).claims.exp, NOW + 120);
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '60' as unknown as number, true as unknown as number]) {
      assert.throws(() => issuer.issue('access', 'u', { expiresIn: bad }), /expiresIn/);
    }
    assert.throws(() => issuer.issue('access', 'u', { fresh: -5 }), /fresh/);
    assert.throws(() => issuerFor(ring, { accessExpiresIn: 0 }), /accessExpiresIn/);
  });

  test('expiresIn false writes no exp, and Warden\'s verifier, which requires exp, refuses such a token', () => {
    const { token, claims } = issuer.issue('access', 'u', { expiresIn: false });
    assert.ok(!('exp' in claims));
    assert.deepEqual(Object.keys(JSON.parse(part(token, 1)) as object), ['fresh', 'iat', 'jti', 'type', 'sub', 'nbf', 'csrf']);
    throwsCode(() => createTokenVerifier({ keys: ring, clock })(token), 'ERR_JWT_CLAIM_INVALID', token);
    // ...unless the verifier is told that non-expiring tokens are expected.
    assert.equal(createTokenVerifier({ keys: ring, clock, requireExp: false })(token).claims.sub, 'u');
    const expiring = issuer.issue('access', 'u', { expiresIn: 1 }).token;
    assert.equal(createTokenVerifier({ keys: ring, clock, requireExp: false })(expiring).claims.sub, 'u');
  });
});

describe('what callers may not set', () => {
  const ring = ringFor('HS256');
  const issuer = issuerFor(ring);

  test('additionalClaims cannot override a reserved claim', () => {
    for (const k of ['fresh', 'iat', 'jti', 'type', 'sub', 'nbf', 'csrf', 'exp', 'iss', 'aud']) {
      assert.ok(RESERVED_CLAIMS.has(k));
      assert.throws(() => issuer.issue('access', 'u', { additionalClaims: { [k]: 'x' } }), new RegExp(`reserved claim "${k}"`));
    }
    // an own "__proto__" key, as JSON.parse makes one
    const proto = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    assert.throws(() => issuer.issue('access', 'u', { additionalClaims: proto }), /reserved claim "__proto__"/);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('undefined additional claims are left out; others pass through', () => {
    const { claims } = issuer.issue('access', 'u', { additionalClaims: { roles: ['a'], nothing: undefined, n: 1 } });
    assert.ok(!('nothing' in claims));
    assert.deepEqual([claims.roles, claims.n], [['a'], 1]);
  });

  test('custom headers add fields but never alg, nor jku/x5u/x5c/jwk/crit/b64', () => {
    const { token } = issuer.issue('access', 'u', { headers: { 'x-tenant': 'acme', typ: 'at+jwt' } });
    assert.deepEqual(JSON.parse(part(token, 0)), { alg: 'HS256', typ: 'at+jwt', kid: ring.signer.kid, 'x-tenant': 'acme' });
    assert.equal(createTokenVerifier({ keys: ring, clock })(token).header['x-tenant'], 'acme');
    for (const k of ['alg', 'jku', 'x5u', 'x5c', 'jwk', 'crit', 'b64']) {
      assert.throws(() => issuer.issue('access', 'u', { headers: { [k]: k === 'alg' ? 'none' : 'x' } }), new RegExp(`"${k}" cannot be set`));
      // ...not even beside a kid that names a real key
      assert.throws(() => issuer.issue('access', 'u', { headers: { kid: ring.signer.kid, [k]: 'x' } }), new RegExp(`"${k}" cannot be set`));
    }
    assert.throws(() => issuer.issue('access', 'u', { headers: { alg: 'HS256' } }), /"alg" cannot be set/, 'not even the key\'s own alg');
  });
});

describe('all 13 algorithms round-trip', () => {
  test('the list is the 13 JOSE algorithms Warden supports', () => {
    assert.deepEqual([...ALGORITHMS], ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']);
  });

  const SIG_BYTES: Record<Algorithm, number> = {
    HS256: 32, HS384: 48, HS512: 64, RS256: 256, RS384: 256, RS512: 256, PS256: 256, PS384: 256, PS512: 256,
    ES256: 64, ES384: 96, ES512: 132, EdDSA: 64,
  };

  for (const alg of ALGORITHMS) {
    test(alg, () => {
      const ring = ringFor(alg);
      const issuer = issuerFor(ring);
      const { token, claims } = issuer.issue('access', 'user-1', { fresh: true, additionalClaims: { roles: ['r'] } });
      // asymmetric tokens verify with the published JWKS alone
      const verifyRing = isHmac(alg) ? ring : keyRingFromJwks(publicJwks(ring));
      assert.equal(verifyRing.signer.privateKey === undefined, !isHmac(alg));
      const v = createTokenVerifier({ keys: verifyRing, clock });
      const got = v(token);
      assert.deepEqual(got.claims, claims);
      assert.deepEqual(got.header, { alg, typ: 'JWT', kid: ring.signer.kid });
      // JOSE signature sizes: ECDSA is raw r||s, not DER
      assert.equal(Buffer.from(token.split('.')[2]!, 'base64url').length, SIG_BYTES[alg]);
      // the refresh token too
      assert.equal(v(issuer.createRefreshToken('user-1')).claims.type, 'refresh');
      // and a one-bit change in the signature fails
      const [h, p, s] = token.split('.') as [string, string, string];
      const sig = Buffer.from(s, 'base64url');
      sig[sig.length >> 1] = sig[sig.length >> 1]! ^ 0x10;
      throwsCode(() => v(`${h}.${p}.${sig.toString('base64url')}`), 'ERR_JWT_SIGNATURE_INVALID');
      // decodeUnverified reads it back, trusting nothing
      assert.deepEqual(decodeUnverified(token), { header: got.header, claims });
    });
  }

  test('jose makes byte-for-byte the same token for every deterministic alg, and verifies every alg', async () => {
    for (const alg of ALGORITHMS) {
      const ring = ringFor(alg);
      const { token, claims } = issuerFor(ring).issue('access', 'user-1', { additionalClaims: { roles: ['r'] } });
      const header = JSON.parse(part(token, 0)) as Record<string, unknown>;
      const payload = Buffer.from(part(token, 1), 'utf8');
      if (/^(HS|RS)/.test(alg)) {
        const theirs = await new CompactSign(payload).setProtectedHeader(header as { alg: string }).sign(ring.signer.privateKey!);
        assert.equal(theirs, token, alg);
      }
      const { payload: verified, protectedHeader } = await jwtVerify(token, ring.signer.key, { algorithms: [alg], currentDate: new Date(NOW_MS) });
      assert.deepEqual(verified, claims, alg);
      assert.deepEqual(protectedHeader, { alg, typ: 'JWT', kid: ring.signer.kid }, alg);
      // signCompact, the JWS layer's own entry point, signs with the same signer
      assert.equal(signCompact(header, payload, ring.signer).split('.').slice(0, 2).join('.'), token.split('.').slice(0, 2).join('.'));
    }
  });

  test('a verify-only ring cannot issue', () => {
    const ring = keyRingFromJwks(publicJwks(ringFor('ES256')));
    assert.throws(() => issuerFor(ring), /cannot sign/);
  });
});

describe('key rotation', () => {
  const oldJwk = { ...rsaKey('rotation-old').privateKey.export({ format: 'jwk' }), alg: 'RS256', kid: 'k-2024' };
  const newJwk = { ...ecKey('P-256', 'rotation-new').privateKey.export({ format: 'jwk' }), kid: 'k-2025' };

  test('a ring from a JWKS of two keys verifies tokens of both and signs with the chosen one', () => {
    const before = keyRingFromJwks({ keys: [oldJwk, newJwk] }); // default signer: the first private key
    const after = keyRingFromJwks({ keys: [oldJwk, newJwk] }, { signingKid: 'k-2025' });
    assert.equal(before.signer.kid, 'k-2024');
    assert.equal(after.signer.kid, 'k-2025');
    assert.deepEqual(after.algorithms, ['RS256', 'ES256']);

    const oldToken = issuerFor(before).createAccessToken('u');
    const newToken = issuerFor(after).createAccessToken('u');
    assert.equal(JSON.parse(part(oldToken, 0)).kid, 'k-2024');
    assert.equal(JSON.parse(part(newToken, 0)).kid, 'k-2025');
    assert.equal(JSON.parse(part(newToken, 0)).alg, 'ES256');

    const verify = createTokenVerifier({ keys: after, clock });
    assert.equal(verify(oldToken).header.kid, 'k-2024');
    assert.equal(verify(newToken).header.kid, 'k-2025');
    const jws = createJwsVerifier({ keys: after });
    assert.equal(jws(oldToken).key.kid, 'k-2024');
    assert.equal(jws(newToken).key.kid, 'k-2025');
  });

  test('a retired key kept public-only still verifies its tokens but never signs', () => {
    const oldToken = issuerFor(keyRingFromJwks({ keys: [oldJwk] })).createAccessToken('u');
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...oldPublic } = oldJwk;
    const ring = keyRingFromJwks({ keys: [oldPublic, newJwk] });
    assert.equal(ring.signer.kid, 'k-2025', 'the first key with private material signs');
    assert.equal(ring.byKid('k-2024')!.privateKey, undefined);
    assert.equal(createTokenVerifier({ keys: ring, clock })(oldToken).claims.sub, 'u');
    assert.throws(() => keyRingFromJwks({ keys: [oldPublic, newJwk] }, { signingKid: 'k-2024' }), /no private key material/);
  });

  test('after the old key is removed, its tokens are refused', () => {
    const oldToken = issuerFor(keyRingFromJwks({ keys: [oldJwk] })).createAccessToken('u');
    const v = createTokenVerifier({ keys: keyRingFromJwks({ keys: [newJwk] }), clock });
    // RS256 is no longer an algorithm of the ring at all
    throwsCode(() => v(oldToken), 'ERR_JWT_ALG_NOT_ALLOWED', oldToken);
    // same alg, other key: the kid is unknown
    const sameAlgOld = { ...ecKey('P-256', 'rotation-older').privateKey.export({ format: 'jwk' }), kid: 'k-2023' };
    const t = issuerFor(keyRingFromJwks({ keys: [sameAlgOld] })).createAccessToken('u');
    throwsCode(() => v(t), 'ERR_JWT_KEY_UNKNOWN', t);
  });
});

describe('headers.kid picks which key of the ring signs (flask-jwt-extended\'s headers={"kid": ...})', () => {
  // Two keys of different algorithms, so the header's alg shows which one signed.
  const hsJwk = { kty: 'oct', k: Buffer.alloc(32, 9).toString('base64url'), alg: 'HS256', kid: 'key-id-1' };
  const edJwk = { ...ed25519Key().privateKey.export({ format: 'jwk' }), kid: 'key-id-2' };
  const both = keyRingFromJwks({ keys: [edJwk, hsJwk] }); // key-id-2 is the default signer
  const onlyHs = keyRingFromJwks({ keys: [hsJwk] });
  const onlyEd = keyRingFromJwks({ keys: [edJwk] });
  const issuer = issuerFor(both);

  test('createAccessToken(identity, { headers: { kid: "key-id-1" } }): that key signs, with its alg', () => {
    assert.equal(both.signer.kid, 'key-id-2');
    const token = issuer.createAccessToken('user_123', { headers: { kid: 'key-id-1' } });
    assert.equal(part(token, 0), JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: 'key-id-1' }));
    assert.equal(createTokenVerifier({ keys: onlyHs, clock })(token).claims.sub, 'user_123');
    // a ring holding only the other key does not accept it: neither by kid...
    throwsCode(() => createTokenVerifier({ keys: onlyEd, clock })(token), 'ERR_JWT_ALG_NOT_ALLOWED', token);
    // ...nor when the header is made to name the other key: the signature is the named key's
    const [, p, s] = token.split('.') as [string, string, string];
    const relabelled = `${Buffer.from(JSON.stringify({ alg: 'EdDSA', typ: 'JWT', kid: 'key-id-2' })).toString('base64url')}.${p}.${s}`;
    throwsCode(() => createTokenVerifier({ keys: onlyEd, clock })(relabelled), 'ERR_JWT_SIGNATURE_INVALID', relabelled);
    // the ring that holds both verifies it under the named key
    assert.equal(createJwsVerifier({ keys: both })(token).key.kid, 'key-id-1');
  });

  test('naming the default signer, or another key, each verifies only with that key', () => {
    const named = issuer.createAccessToken('u', { headers: { kid: 'key-id-2' } });
    const plain = issuer.createAccessToken('u');
    for (const t of [named, plain]) {
      assert.deepEqual(JSON.parse(part(t, 0)), { alg: 'EdDSA', typ: 'JWT', kid: 'key-id-2' });
      assert.equal(createTokenVerifier({ keys: onlyEd, clock })(t).claims.sub, 'u');
      throwsCode(() => createTokenVerifier({ keys: onlyHs, clock })(t), 'ERR_JWT_ALG_NOT_ALLOWED', t);
    }
  });

  test('refresh tokens and extra headers go with the named key', () => {
    const refresh = issuer.createRefreshToken('u', { headers: { kid: 'key-id-1', 'x-tenant': 'acme' } });
    assert.deepEqual(JSON.parse(part(refresh, 0)), { alg: 'HS256', typ: 'JWT', kid: 'key-id-1', 'x-tenant': 'acme' });
    const got = createTokenVerifier({ keys: onlyHs, clock })(refresh);
    assert.equal(got.claims.type, 'refresh');
    assert.equal(got.header['x-tenant'], 'acme');
  });

  test('same alg, two keys: the named one signs', () => {
    const a = { kty: 'oct', k: Buffer.alloc(32, 1).toString('base64url'), alg: 'HS256', kid: 'a' };
    const b = { kty: 'oct', k: Buffer.alloc(32, 2).toString('base64url'), alg: 'HS256', kid: 'b' };
    const token = issuerFor(keyRingFromJwks({ keys: [a, b] })).createAccessToken('u', { headers: { kid: 'b' } });
    assert.equal(createTokenVerifier({ keys: keyRingFromJwks({ keys: [b] }), clock })(token).claims.sub, 'u');
    // only the other key, under the same kid: the signature does not match
    const impostor = keyRingFromJwks({ keys: [{ ...a, kid: 'b' }] });
    throwsCode(() => createTokenVerifier({ keys: impostor, clock })(token), 'ERR_JWT_SIGNATURE_INVALID', token);
  });

  test('an unknown kid is a clear error naming it; so is a key that cannot sign or a kid that is not a string', () => {
    assert.throws(() => issuer.createAccessToken('u', { headers: { kid: 'key-id-9' } }),
      (e: unknown) => e instanceof RangeError && e.message === 'headers.kid "key-id-9" names no key in the key ring');
    for (const kid of ['__proto__', 'constructor', 'toString', '']) {
      assert.throws(() => issuer.createAccessToken('u', { headers: { kid } }), kid === '' ? TypeError : /names no key in the key ring/, kid);
    }
    const { d: _d, ...edPublic } = edJwk;
    const retired = issuerFor(keyRingFromJwks({ keys: [hsJwk, edPublic] }));
    assert.throws(() => retired.createAccessToken('u', { headers: { kid: 'key-id-2' } }),
      (e: unknown) => e instanceof RangeError && /headers\.kid "key-id-2" names a key with no private key material/.test(e.message));
    for (const kid of [42, null, ['key-id-1'], { toString: () => 'key-id-1' }]) {
      assert.throws(() => issuer.createAccessToken('u', { headers: { kid } }), TypeError, String(kid));
    }
    // undefined is no kid at all, as undefined additional claims are no claims
    assert.equal(JSON.parse(part(issuer.createAccessToken('u', { headers: { kid: undefined } }), 0)).kid, 'key-id-2');
  });
});

describe('publicJwks', () => {
  const PRIVATE_MEMBERS = ['k', 'd', 'p', 'q', 'dp', 'dq', 'qi', 'oth'];

  test('never a secret or a private member, for every ring', () => {
    for (const alg of ALGORITHMS) {
      const jwks = publicJwks(ringFor(alg));
      if (isHmac(alg)) {
        assert.deepEqual(jwks, { keys: [] }, `${alg}: an HMAC secret is never published`);
        continue;
      }
      assert.equal(jwks.keys.length, 1);
      const k = jwks.keys[0]! as Record<string, unknown>;
      for (const m of PRIVATE_MEMBERS) assert.ok(!(m in k), `${alg} leaks ${m}`);
      assert.equal(k.kid, ringFor(alg).signer.kid);
      assert.equal(k.alg, alg);
      assert.equal(k.use, 'sig');
      assert.doesNotMatch(JSON.stringify(jwks), /"(k|d|p|q|dp|dq|qi|oth)":/);
    }
  });

  test('a mixed ring publishes only its public keys', () => {
    const ring = keyRingFromJwks({
      keys: [
        { kty: 'oct', k: Buffer.alloc(32, 7).toString('base64url'), alg: 'HS256', kid: 'mac' },
        { ...ed25519Key().privateKey.export({ format: 'jwk' }), kid: 'ed' },
        { ...rsaKey().privateKey.export({ format: 'jwk' }), alg: 'PS256', kid: 'ps' },
      ],
    });
    const jwks = publicJwks(ring);
    assert.deepEqual(jwks.keys.map((k) => k.kid), ['ed', 'ps']);
    assert.doesNotMatch(JSON.stringify(jwks), /"(k|d|p|q|dp|dq|qi|oth)":/);
    assert.deepEqual(Object.keys(jwks.keys[0]!).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
    assert.deepEqual(Object.keys(jwks.keys[1]!).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use']);
  });
});
