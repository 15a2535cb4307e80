// The server's signing keys from configuration: SECRET_KEY (HMAC), PEM files or a private JWKS.
// A development start with none generates one into DATA_DIR (mode 0600) and warns; production
// never does (config.ts refuses to start first).
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config.js';
import { generateKeyPem, generateSecret, keyRingFromJwks, keyRingFromPem, keyRingFromSecret, type KeyRing } from './tokens/keys.js';
import { isHmac, type Algorithm } from './tokens/types.js';

export interface LoadedKeys {
  ring: KeyRing;
  /** Set when a development key was generated or reused from DATA_DIR. */
  generatedFile?: string;
}

export function loadKeyRing(config: Config): LoadedKeys {
  const alg = config.algorithm;
  if (config.jwksFile) {
    return { ring: keyRingFromJwks(readJson(config.jwksFile, 'JWKS_FILE'), { signingKid: config.jwksSigningKid }) };
  }
  if (isHmac(alg)) {
    if (config.secretKey) return { ring: keyRingFromSecret(config.secretKey, alg as 'HS256') };
    const file = join(config.dataDir, 'secret.key');
    const secret = readOrCreate(file, () => generateSecret());
    return { ring: keyRingFromSecret(secret, alg as 'HS256'), generatedFile: file };
  }
  if (config.privateKeyFile) {
    return {
      ring: keyRingFromPem({
        privateKeyPem: readFileSync(config.privateKeyFile, 'utf8'),
        publicKeyPem: config.publicKeyFile ? readFileSync(config.publicKeyFile, 'utf8') : undefined,
        alg,
      }),
    };
  }
  const file = join(config.dataDir, `${alg.toLowerCase()}-private.pem`);
  const pem = readOrCreate(file, () => generateKeyPem(alg as Exclude<Algorithm, 'HS256' | 'HS384' | 'HS512'>).privateKeyPem);
  return { ring: keyRingFromPem({ privateKeyPem: pem, alg }), generatedFile: file };
}

function readOrCreate(file: string, make: () => string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  const value = make();
  // 'wx' fails if another instance created it meanwhile; then theirs is the key.
  try {
    writeFileSync(file, value + '\n', { mode: 0o600, flag: 'wx' });
  } catch {
    return readFileSync(file, 'utf8').trim();
  }
  chmodSync(file, 0o600);
  return value;
}

function readJson(file: string, name: string): { keys: object[] } {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as { keys?: unknown };
    if (!Array.isArray(v.keys)) throw new Error('no "keys" array');
    return v as { keys: object[] };
  } catch (e) {
    throw new Error(`${name} must hold a JWKS ({"keys": [...]}): ${(e as Error).message}`);
  }
}
