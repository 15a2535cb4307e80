// Wycheproof's JSON Web Signature vectors (C2SP/wycheproof, Apache-2.0), every one that names an
// algorithm Warden supports, against the JWS verifier built from the group's own key.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { WardenError, type ErrorCode } from '../toolkit/src/errors.js';
import { createJwsVerifier, type JwsVerifier } from '../toolkit/src/tokens/jws.js';
import { keyRingFromJwks } from '../toolkit/src/tokens/index.js';

interface Vector { tcId: number; comment: string; jws: unknown; result: 'valid' | 'invalid'; flags: string[] }
interface Group { comment: string; public?: Record<string, unknown>; private?: Record<string, unknown>; tests: Vector[] }
const file = JSON.parse(
  readFileSync(new URL('./vectors/wycheproof/json_web_signature_test.json', import.meta.url), 'utf8'),
) as { numberOfTests: number; testGroups: Group[] };

// Four labels in the file are wrong, checked by hand (DESIGN.md, "Test data from elsewhere"):
// tcId 367 and 370 are byte-for-byte the valid tcId 357 (the '=' padding they were about was lost
// in the file), so they are valid; tcId 372 and 373 contain a '?', which no base64url token may
// hold, yet say valid, so they are invalid.
const RELABELLED: Record<number, 'valid' | 'invalid'> = { 367: 'valid', 370: 'valid', 372: 'invalid', 373: 'invalid' };

// Groups whose key Warden cannot load as given are skipped, with the reason counted below.
const SKIP_REASONS: Record<string, string> = {
  ES521: 'ES521 is not a JOSE alg name (RFC 7518 calls P-521 with SHA-512 ES512); RFC 7520 §4.3 is checked in tokens.rfc7520.test.ts',
};

// A key bound to one algorithm (RFC 8725 §3.1) refuses a token of another. The two RFC 7520
// Figure 20 vectors put "alg":"PS256" on the key yet sign PS384 with it (RFC 7520 §4.2 is PS384),
// expecting "valid" from a library that ignores the key's alg. We assert both halves: bound as
// labelled, the key refuses the token (ERR_JWT_ALG_NOT_ALLOWED); bound to PS384 as RFC 7520 uses
// it, the token verifies.
const ALG_BINDING_CONFLICTS = [346, 350];

// Spot checks of the refusal code for vectors whose cause is unambiguous.
const EXPECTED_CODE: Record<number, ErrorCode> = {
  3: 'ERR_JWT_SIGNATURE_INVALID', // missing signature
  4: 'ERR_JWT_MALFORMED', // two segments
  8: 'ERR_JWT_KEY_UNKNOWN', // header changed: kid "Xid-aes-sign"
  13: 'ERR_JWT_MALFORMED', // empty string
  15: 'ERR_JWT_MALFORMED', // four segments
  16: 'ERR_JWT_ALG_NOT_ALLOWED', // alg none
  17: 'ERR_JWT_MALFORMED', // JSON serialization
  31: 'ERR_JWT_ALG_NOT_ALLOWED', // HS256 with the EC key's kid (symmetric confusion)
  32: 'ERR_JWT_HEADER_NOT_ALLOWED', // attacker-provided embedded jwk
  332: 'ERR_JWT_ALG_NOT_ALLOWED', // RS256 with the PS512 key
  338: 'ERR_JWT_ALG_NOT_ALLOWED', // PS256 with the PS512 key
  341: 'ERR_JWT_ALG_NOT_ALLOWED',
  342: 'ERR_JWT_ALG_NOT_ALLOWED', // "NONE"
  343: 'ERR_JWT_ALG_NOT_ALLOWED',
  344: 'ERR_JWT_ALG_NOT_ALLOWED',
  360: 'ERR_JWT_MALFORMED', // spaces in MAC
  365: 'ERR_JWT_MALFORMED', // spaces in header
  366: 'ERR_JWT_MALFORMED', // '#' in header
  372: 'ERR_JWT_MALFORMED', // '?' in header (relabelled)
  373: 'ERR_JWT_MALFORMED', // '?' in payload (relabelled)
  374: 'ERR_JWT_MALFORMED', // non-canonical trailing bits in the payload
  375: 'ERR_JWT_MALFORMED', // MAC over the non-canonical encoding
  379: 'ERR_JWT_SIGNATURE_INVALID', // ES256 signature too long
  386: 'ERR_JWT_SIGNATURE_INVALID', // r = s = 0
};

const counts = { total: 0, checked: 0, valid: 0, invalid: 0, refusedAtLoad: 0, relabelled: 0, algBindingConflicts: 0 };
const skipped = new Map<string, number>();
const codes = new Map<ErrorCode, number>();

function verifyOutcome(verify: JwsVerifier, token: string): { ok: true; payload: Buffer } | { ok: false; code: ErrorCode } {
  try {
    return { ok: true, payload: verify(token).payload };
  } catch (e) {
    assert.ok(e instanceof WardenError, `a refusal must be a WardenError, got ${String(e)}`);
    return { ok: false, code: e.code };
  }
}

for (const [gi, group] of file.testGroups.entries()) {
  const jwk = group.public ?? group.private!;
  const skip = typeof jwk.alg === 'string' ? SKIP_REASONS[jwk.alg] : undefined;
  describe(`group ${gi} (${group.comment}, ${String(jwk.alg ?? jwk.kty)}${group.public ? ' public key' : ' secret'})`, () => {
    let verify: JwsVerifier | undefined;
    let loadError: Error | undefined;
    if (skip === undefined) {
      try {
        verify = createJwsVerifier({ keys: keyRingFromJwks({ keys: [jwk] }) });
      } catch (e) {
        loadError = e as Error;
      }
    }
    for (const v of group.tests) {
      counts.total++;
      if (skip !== undefined) {
        skipped.set(skip, (skipped.get(skip) ?? 0) + 1);
        continue;
      }
      test(`tcId ${v.tcId}: ${v.comment}`, () => {
        const token = typeof v.jws === 'string' ? v.jws : JSON.stringify(v.jws);
        const expected = RELABELLED[v.tcId] ?? v.result;
        if (RELABELLED[v.tcId] !== undefined) counts.relabelled++;
        counts.checked++;
        counts[expected]++;

        if (loadError !== undefined) {
          // The key is marked for encryption (use "enc", or key_ops without "verify"): Warden refuses
          // to load it, so nothing can verify with it.
          assert.equal(expected, 'invalid');
          assert.match(loadError.message, /"use" is "enc"|key_ops .* do not include "verify"/);
          counts.refusedAtLoad++;
          return;
        }
        assert.ok(verify);

        if (ALG_BINDING_CONFLICTS.includes(v.tcId)) {
          counts.algBindingConflicts++;
          const r = verifyOutcome(verify, token);
          assert.deepEqual(r, { ok: false, code: 'ERR_JWT_ALG_NOT_ALLOWED' });
          const asRfc = createJwsVerifier({ keys: keyRingFromJwks({ keys: [{ ...jwk, alg: 'PS384' }] }) });
          assert.equal(asRfc(token).header.alg, 'PS384');
          return;
        }

        const r = verifyOutcome(verify, token);
        if (expected === 'valid') {
          assert.ok(r.ok, `tcId ${v.tcId} should verify, got ${r.ok ? '' : r.code}`);
          assert.deepEqual(r.payload, Buffer.from(token.split('.')[1]!, 'base64url'));
        } else {
          assert.ok(!r.ok, `tcId ${v.tcId} (${v.comment}) should be refused`);
          codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
          const want = EXPECTED_CODE[v.tcId];
          if (want !== undefined) assert.equal(r.code, want, `tcId ${v.tcId}`);
        }
      });
    }
  });
}

describe('the vector file and the labels fixed by hand', () => {
  const byId = new Map(file.testGroups.flatMap((g) => g.tests.map((t) => [t.tcId, t] as const)));

  test('tcId 367 and 370 are byte-for-byte tcId 357 (valid) though labelled invalid', () => {
    const valid = byId.get(357)!;
    assert.equal(valid.result, 'valid');
    for (const id of [367, 370]) {
      assert.equal(byId.get(id)!.result, 'invalid', 'the file still says invalid');
      assert.equal(byId.get(id)!.jws, valid.jws);
    }
  });

  test("tcId 372 and 373 hold a '?' though labelled valid", () => {
    for (const id of [372, 373]) {
      assert.equal(byId.get(id)!.result, 'valid', 'the file still says valid');
      assert.match(byId.get(id)!.jws as string, /\?/);
    }
  });

  test('the alg-binding conflicts are exactly the valid vectors whose header alg differs from the key alg', () => {
    const found: number[] = [];
    for (const g of file.testGroups) {
      const jwk = g.public ?? g.private!;
      if (typeof jwk.alg !== 'string' || SKIP_REASONS[jwk.alg] !== undefined) continue;
      for (const t of g.tests) {
        if (t.result !== 'valid' || typeof t.jws !== 'string') continue;
        const seg = t.jws.split('.')[0]!;
        let alg: unknown;
        try {
          alg = (JSON.parse(Buffer.from(seg, 'base64url').toString()) as { alg?: unknown }).alg;
        } catch {
          continue;
        }
        if (alg !== jwk.alg) found.push(t.tcId);
      }
    }
    assert.deepEqual(found, ALG_BINDING_CONFLICTS);
  });
});

// Declared last: node:test runs a file's top-level tests in order, so every vector has run.
test('every vector was checked, none silently', () => {
  assert.equal(file.numberOfTests, 401);
  assert.equal(counts.total, 401);
  assert.deepEqual(Object.fromEntries(skipped), { [SKIP_REASONS.ES521!]: 2 });
  assert.equal(counts.checked, 399);
  assert.equal(counts.checked + [...skipped.values()].reduce((a, b) => a + b, 0), counts.total);
  assert.equal(counts.relabelled, 4);
  assert.equal(counts.algBindingConflicts, 2);
  assert.equal(counts.refusedAtLoad, 4);
  assert.equal(counts.valid, 44);
  assert.equal(counts.invalid, 355);
  // 355 refusals = 4 keys refused at load + 351 tokens refused by the verifier, by code:
  assert.deepEqual(Object.fromEntries([...codes].sort()), {
    ERR_JWT_ALG_NOT_ALLOWED: 11, // alg none (5), alg switched away from the key's (6)
    ERR_JWT_HEADER_NOT_ALLOWED: 1, // embedded jwk
    ERR_JWT_KEY_UNKNOWN: 3, // modified header: the kid no longer names the key
    ERR_JWT_MALFORMED: 38, // structure and strict base64url
    ERR_JWT_SIGNATURE_INVALID: 298,
  });
});
