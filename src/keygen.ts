// `warden keygen ALG [--kid KID] [--jwks FILE]`: makes a private JWK for JWKS_FILE, so key rotation
// needs no other tool. With --jwks the key is appended to FILE (created with mode 0600 if absent);
// the file's first key keeps signing until JWKS_SIGNING_KID names another. A new file starts with
// the key the server signs with now (SECRET_KEY, PRIVATE_KEY_FILE or the generated development
// key), under the kid its tokens carry: moving to JWKS_FILE then logs nobody out.
import { createPrivateKey, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { generateKeyPem, keyRingFromJwks, type KeyRing } from '@warden/toolkit';
import { isAlgorithm, isHmac, type AsymmetricAlgorithm } from '@warden/toolkit';
import { replaceKeyFile } from './key-file.js';

export function privateJwk(alg: string, kid: string): Record<string, unknown> {
  if (!isAlgorithm(alg)) throw new Error(`unknown algorithm "${alg}"`);
  const jwk = isHmac(alg)
    ? { kty: 'oct', k: randomBytes(64).toString('base64url') }
    : createPrivateKey(generateKeyPem(alg as AsymmetricAlgorithm).privateKeyPem).export({ format: 'jwk' });
  return { ...jwk, kid, alg, use: 'sig' };
}

/** The key a server signs with, as a private JWK under its kid (the kid its tokens carry). */
export function signerJwk(ring: KeyRing): Record<string, unknown> {
  const { signer } = ring;
  if (signer.privateKey === undefined) throw new Error(`the signing key "${signer.kid}" has no private part`);
  return { ...signer.privateKey.export({ format: 'jwk' }), kid: signer.kid, alg: signer.alg, use: 'sig' };
}

/**
 * Runs the subcommand; returns the text to print. Throws with a message for the person at the
 * terminal. `current`: the server's signing key today, to begin a new JWKS file with (none when
 * no key is configured or generated yet).
 */
export function keygen(args: string[], current?: () => KeyRing | undefined): string {
  const [alg, ...rest] = args;
  const opt = (name: string): string | undefined => {
    const i = rest.indexOf(name);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  if (!alg || alg.startsWith('-')) throw new Error('usage: warden keygen ALG [--kid KID] [--jwks FILE]');
  const kid = opt('--kid') ?? `${alg.toLowerCase()}-${new Date().toISOString().slice(0, 10)}-${randomBytes(3).toString('hex')}`;
  const key = privateJwk(alg, kid);
  const file = opt('--jwks');
  if (file === undefined) return JSON.stringify({ keys: [key] }, null, 2);

  const fresh = !existsSync(file);
  const now = fresh ? current?.() : undefined;
  const jwks = fresh ? { keys: now ? [signerJwk(now)] : [] } : readJwks(file);
  if (!Array.isArray(jwks.keys)) throw new Error(`${file} is not a JWKS ({"keys": [...]})`);
  if (jwks.keys.some((k) => (k as { kid?: unknown }).kid === kid)) throw new Error(`${file} already has a key "${kid}"`);
  jwks.keys.push(key);
  keyRingFromJwks(jwks); // the result must load exactly as the server will load it
  // Never rewritten in place: killed between truncating and writing, the file held no key at all.
  replaceKeyFile(file, JSON.stringify(jwks, null, 2) + '\n');
  const role = jwks.keys.length === 1 ? 'it signs (the first key does, unless JWKS_SIGNING_KID names another)' : `it verifies now, and signs once JWKS_SIGNING_KID=${kid}`;
  const first = now ? `${file} begins with the key the server signs with now ("${now.signer.kid}", ${now.signer.alg}), which keeps signing; ` : '';
  return `${first}added key "${kid}" (${alg}) to ${file}; ${role}`;
}

/** The JSON of an existing JWKS file; a file that is not JSON is named in the error. */
function readJwks(file: string): { keys: object[] } {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { keys: object[] };
  } catch (e) {
    throw new Error(`${file} is not a JWKS file (${(e as Error).message})`);
  }
}
