// The compact JWS layer (RFC 7515 §7.1) with RFC 8725's rules: the verifier, and the signer that
// issuing and signCompact share. Signatures themselves are primitives.ts's.
// Why not a JWT library's verifier (fast-jwt's, say): it JSON-parses every payload (RFC 7520 and
// Wycheproof sign bytes) and infers a key's algorithms by sniffing PEM text (CVE-2023-48223's
// lineage); here each key is a KeyObject bound to one alg at load time, so an HMAC check can only
// ever see a secret KeyObject.
import { isUtf8 } from 'node:buffer';
import { WardenError } from '../errors.js';
import { decodeBase64url, encodeBase64url } from './base64url.js';
import { assertKeyFitsAlg } from './key-policy.js';
import type { KeyEntry, KeyRing } from './key-ring.js';
import { checkerFor, signerFor, type CheckFn } from './primitives.js';
import { isAlgorithm, type Algorithm, type JwtHeader } from './types.js';

export const DEFAULT_MAX_TOKEN_LENGTH = 8192;
const HEADER_CACHE_SIZE = 256;

/** Header parameters that would make us fetch, trust or interpret something we never configured. */
export const FORBIDDEN_HEADER_PARAMS: readonly string[] = ['jku', 'x5u', 'x5c', 'jwk', 'crit', 'b64'];

export interface JwsVerifierOptions {
  keys: KeyRing;
  /** Allowed algorithms; default: those of the ring's keys. A token's alg must also equal its key's. */
  algorithms?: readonly Algorithm[] | undefined;
  /** Longest token accepted, in characters (default 8192). */
  maxLength?: number | undefined;
}

export interface VerifiedJws {
  /** The protected header (frozen: it is shared by every token with the same header segment). */
  header: JwtHeader;
  payload: Buffer;
  key: KeyEntry;
}

export type JwsVerifier = (token: string) => VerifiedJws;

interface Checker {
  readonly entry: KeyEntry;
  readonly check: CheckFn;
}

interface ParsedHeader {
  readonly header: JwtHeader;
  readonly candidates: readonly Checker[];
}

function makeChecker(entry: KeyEntry): Checker {
  const { alg, key } = entry;
  if (!isAlgorithm(alg)) throw new Error(`Key "${entry.kid}" has an unsupported alg`);
  assertKeyFitsAlg(alg, key, 'verify');
  return { entry, check: checkerFor(alg, key) };
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

function fail(code: 'ERR_JWT_MALFORMED' | 'ERR_JWT_TOO_LARGE' | 'ERR_JWT_ALG_NOT_ALLOWED' | 'ERR_JWT_HEADER_NOT_ALLOWED' | 'ERR_JWT_KEY_UNKNOWN' | 'ERR_JWT_SIGNATURE_INVALID'): never {
  throw new WardenError(code);
}

/**
 * Decodes a protected header segment to a JSON object (strict base64url, valid UTF-8). Null when
 * it is not one. No trust implied.
 */
export function parseHeaderSegment(segment: string): Record<string, unknown> | null {
  const bytes = decodeBase64url(segment);
  if (bytes === null || !isUtf8(bytes)) return null;
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    return null;
  }
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/**
 * A verifier of compact JWS over the ring's keys. Refuses, each with its WardenError code:
 * anything but three base64url segments (ERR_JWT_MALFORMED), more than maxLength characters
 * (ERR_JWT_TOO_LARGE), jku/x5u/x5c/jwk/crit/b64 headers (ERR_JWT_HEADER_NOT_ALLOWED), an alg
 * outside the allowlist or other than its key's (ERR_JWT_ALG_NOT_ALLOWED), a kid not in the ring
 * (ERR_JWT_KEY_UNKNOWN), a bad signature (ERR_JWT_SIGNATURE_INVALID). The payload is returned as
 * bytes; what they mean is the caller's business.
 */
export function createJwsVerifier(o: JwsVerifierOptions): JwsVerifier {
  const ring = o.keys;
  const maxLength = o.maxLength ?? DEFAULT_MAX_TOKEN_LENGTH;
  if (!Number.isInteger(maxLength) || maxLength <= 0) throw new Error('maxLength must be a positive integer');
  const allowed = new Set<string>(o.algorithms ?? ring.algorithms);
  for (const a of allowed) if (!isAlgorithm(a)) throw new Error(`Not an algorithm Warden verifies: ${String(a)}`);
  // An allowlist that names no key's alg would refuse every token, each as ERR_JWT_ALG_NOT_ALLOWED,
  // which reads as a bad token rather than as this configuration.
  if (o.algorithms !== undefined && ring.keys.length > 0 && !ring.keys.some((k) => allowed.has(k.alg))) {
    throw new Error(`algorithms [${[...allowed].join(', ')}] name no key's alg (the ring's keys are ${[...new Set(ring.keys.map((k) => k.alg))].join(', ')}): every token would be refused`);
  }

  const byKid = new Map<string, Checker>();
  const byAlg = new Map<string, Checker[]>();
  for (const entry of ring.keys) {
    const c = makeChecker(entry);
    if (byKid.has(entry.kid)) throw new Error(`Duplicate kid "${entry.kid}" in the key ring`);
    byKid.set(entry.kid, c);
    if (!allowed.has(entry.alg)) continue;
    const list = byAlg.get(entry.alg) ?? [];
    list.push(c);
    byAlg.set(entry.alg, list);
  }

  // Parsed, validated headers by segment text. A header enters only after a signature made with
  // it verified, so unsigned junk cannot churn the cache; when full, the oldest entry goes. The
  // last one used is also compared in place, so the common case (one signing key, one header)
  // neither slices nor hashes the segment.
  const cache = new Map<string, ParsedHeader>();
  let lastSegment = '';
  let lastParsed: ParsedHeader | undefined;

  function parseHeader(segment: string): ParsedHeader {
    const v = parseHeaderSegment(segment);
    if (v === null || typeof v.alg !== 'string') fail('ERR_JWT_MALFORMED');
    for (const p of FORBIDDEN_HEADER_PARAMS) if (Object.hasOwn(v, p)) fail('ERR_JWT_HEADER_NOT_ALLOWED');
    const alg = v.alg as string;
    if (alg.toLowerCase() === 'none' || !allowed.has(alg)) fail('ERR_JWT_ALG_NOT_ALLOWED');
    let candidates: readonly Checker[];
    if (Object.hasOwn(v, 'kid')) {
      if (typeof v.kid !== 'string') fail('ERR_JWT_MALFORMED');
      const c = byKid.get(v.kid);
      if (c === undefined) fail('ERR_JWT_KEY_UNKNOWN');
      if (c.entry.alg !== alg) fail('ERR_JWT_ALG_NOT_ALLOWED');
      candidates = [c];
    } else {
      candidates = byAlg.get(alg) ?? [];
      if (candidates.length === 0) fail('ERR_JWT_ALG_NOT_ALLOWED');
    }
    return { header: deepFreeze(v) as JwtHeader, candidates };
  }

  return function verifyJws(token: string): VerifiedJws {
    if (typeof token !== 'string') fail('ERR_JWT_MALFORMED');
    if (token.length > maxLength) fail('ERR_JWT_TOO_LARGE');
    // header.payload.signature: exactly two dots (a third would fail the signature's round trip).
    // The signature may be empty here so that an "alg":"none" token is refused for its alg.
    const d1 = token.indexOf('.');
    const d2 = d1 <= 0 ? -1 : token.indexOf('.', d1 + 1);
    if (d2 < 0) fail('ERR_JWT_MALFORMED');
    const payload = decodeBase64url(token.slice(d1 + 1, d2));
    if (payload === null) fail('ERR_JWT_MALFORMED');
    const signature = token.slice(d2 + 1);
    // A known segment is a header that already passed every check below, byte for byte.
    let parsed = d1 === lastSegment.length && token.startsWith(lastSegment) ? lastParsed : undefined;
    let headerSegment: string | undefined;
    if (parsed === undefined) {
      headerSegment = token.slice(0, d1);
      parsed = cache.get(headerSegment);
      // A header not yet seen verified: the signature's encoding is judged before it, as the
      // payload's was (a malformed token is malformed whatever its header says).
      if (parsed === undefined) {
        if (decodeBase64url(signature) === null) fail('ERR_JWT_MALFORMED');
        parsed = parseHeader(headerSegment);
      }
    }
    const input = token.slice(0, d2);
    for (const c of parsed.candidates) {
      if (c.check(input, signature)) {
        if (headerSegment !== undefined) {
          if (!cache.has(headerSegment)) {
            if (cache.size >= HEADER_CACHE_SIZE) cache.delete(cache.keys().next().value!);
            cache.set(headerSegment, parsed);
          }
          lastSegment = headerSegment;
          lastParsed = parsed;
        }
        return { header: parsed.header, payload, key: c.entry };
      }
    }
    // Checkers accept only the canonical encoding of a good signature: was it no encoding at all?
    fail(decodeBase64url(signature) === null ? 'ERR_JWT_MALFORMED' : 'ERR_JWT_SIGNATURE_INVALID');
  };
}

/** Makes compact JWS with one key; its header and payload segments come encoded. */
export interface JwsSigner {
  readonly entry: KeyEntry;
  /** `header.payload.signature` over already base64url-encoded header and payload segments. */
  sign(headerSegment: string, payloadSegment: string): string;
}

/** A signer with `entry`'s private key (or secret), checked against the entry's alg once, here. */
export function createJwsSigner(entry: KeyEntry): JwsSigner {
  const key = entry.privateKey;
  if (key === undefined) throw new Error(`Key "${entry.kid}" has no private key material, so it cannot sign`);
  assertKeyFitsAlg(entry.alg, key, 'sign');
  const signSegment = signerFor(entry.alg, key);
  return {
    entry,
    sign(headerSegment, payloadSegment) {
      const input = headerSegment + '.' + payloadSegment;
      return input + '.' + signSegment(input);
    },
  };
}

/**
 * Signs `payload` bytes as a compact JWS with `entry`'s private key (or secret), exactly as given:
 * no claims, no typ added. The header's alg is always the key's own. Used to reproduce RFC 7520 and
 * for payloads that are not JWT claims; tokens are issued by issue.ts.
 */
export function signCompact(header: Record<string, unknown>, payload: Buffer | string, entry: KeyEntry): string {
  if (header.alg !== undefined && header.alg !== entry.alg) throw new Error(`The header's alg must be the key's (${entry.alg})`);
  for (const p of FORBIDDEN_HEADER_PARAMS) if (Object.hasOwn(header, p)) throw new Error(`Header parameter "${p}" is not allowed`);
  return createJwsSigner(entry).sign(encodeBase64url(JSON.stringify({ alg: entry.alg, ...header })), encodeBase64url(payload));
}
