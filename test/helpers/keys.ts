// Test keys, generated once per process (lazily, so a file that needs no RSA key pays nothing).
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { WardenError, type ErrorCode } from '../../toolkit/src/errors.js';
import { keyRingFromPem, keyRingFromSecret, type KeyRing } from '../../toolkit/src/tokens/index.js';
import { isHmac, type Algorithm } from '../../toolkit/src/tokens/types.js';

export interface TestKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  privateKeyPem: string;
  publicKeyPem: string;
}

function memo<T>(make: () => T): () => T {
  let v: T | undefined;
  return () => (v ??= make());
}

function pair(k: { privateKey: KeyObject; publicKey: KeyObject }): TestKeyPair {
  return {
    ...k,
    privateKeyPem: k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicKeyPem: k.publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}

const named = new Map<string, () => TestKeyPair>();
/** One RSA 2048 key pair per name ("main", "second", "attacker", ...). */
export function rsaKey(name = 'main'): TestKeyPair {
  let f = named.get(`rsa:${name}`);
  if (!f) named.set(`rsa:${name}`, (f = memo(() => pair(generateKeyPairSync('rsa', { modulusLength: 2048 })))));
  return f();
}
export function ecKey(curve: 'P-256' | 'P-384' | 'P-521', name = 'main'): TestKeyPair {
  let f = named.get(`ec:${curve}:${name}`);
  if (!f) named.set(`ec:${curve}:${name}`, (f = memo(() => pair(generateKeyPairSync('ec', { namedCurve: curve })))));
  return f();
}
export const ed25519Key = memo(() => pair(generateKeyPairSync('ed25519')));
export const hmacSecret = memo(() => randomBytes(64));

export const CURVE: Record<'ES256' | 'ES384' | 'ES512', 'P-256' | 'P-384' | 'P-521'> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };

/** The test key pair an asymmetric alg uses (RS* and PS* share the main RSA key). */
export function keyPairFor(alg: Exclude<Algorithm, 'HS256' | 'HS384' | 'HS512'>): TestKeyPair {
  if (alg.startsWith('RS') || alg.startsWith('PS')) return rsaKey();
  if (alg === 'EdDSA') return ed25519Key();
  return ecKey(CURVE[alg as 'ES256']);
}

const rings = new Map<string, KeyRing>();
/** A one-key ring for `alg`, memoized. */
export function ringFor(alg: Algorithm): KeyRing {
  let r = rings.get(alg);
  if (!r) {
    r = isHmac(alg)
      ? keyRingFromSecret(hmacSecret(), alg)
      : keyRingFromPem({ privateKeyPem: keyPairFor(alg).privateKeyPem, alg });
    rings.set(alg, r);
  }
  return r;
}

/**
 * Asserts that fn throws a WardenError with `code`, and that its message leaks none of `secrets`
 * (typically the token).
 */
export function throwsCode(fn: () => unknown, code: ErrorCode, ...secrets: string[]): WardenError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  if (!(err instanceof WardenError)) {
    throw new Error(`expected WardenError ${code}, got ${err === undefined ? 'no error' : String(err)}`);
  }
  if (err.code !== code) throw new Error(`expected ${code}, got ${err.code} (${err.message})`);
  for (const s of secrets) {
    for (const part of s.split('.')) {
      if (part.length >= 8 && err.message.includes(part)) throw new Error(`error message leaks token material: ${err.message}`);
    }
  }
  return err;
}
