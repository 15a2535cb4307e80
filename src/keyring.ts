// The server's signing keys from configuration: SECRET_KEY (HMAC), PEM files or a private JWKS.
// A development start with none generates one into DATA_DIR (mode 0600) and warns; production
// never does (config.ts refuses to start first).
// Every key problem is a ConfigError naming the variable, raised before the server listens: a key
// that cannot sign or verify must stop the start, not turn each request into a 500 (the failure
// flask-jwt-extended reports per request as "JWT decode error").
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type Config } from './config.js';
import { generateKeyPem, generateSecret, keyRingFromJwks, keyRingFromPem, keyRingFromSecret, type KeyRing } from '@warden/toolkit';
import { isHmac, type Algorithm } from '@warden/toolkit';
import { createKeyFileOnce } from './key-file.js';

export interface LoadedKeys {
  ring: KeyRing;
  /** Set when a development key was generated or reused from DATA_DIR. */
  generatedFile?: string;
}

/** Runs one step of key loading; its failure becomes a ConfigError naming `variable`. */
function step<T>(variable: string, run: () => T): T {
  try {
    return run();
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError([`${variable}: ${(e as Error).message}`]);
  }
}

export function loadKeyRing(config: Pick<Config, 'keys' | 'server'>): LoadedKeys {
  const k = config.keys;
  const alg = k.algorithm;
  if (k.jwksFile) {
    const jwks = step('JWKS_FILE', () => readJson(k.jwksFile!));
    const variable = k.jwksSigningKid !== undefined && !jwks.keys.some((j) => (j as { kid?: unknown }).kid === k.jwksSigningKid)
      ? 'JWKS_SIGNING_KID' : 'JWKS_FILE';
    return { ring: step(variable, () => keyRingFromJwks(jwks, { signingKid: k.jwksSigningKid })) };
  }
  if (isHmac(alg)) {
    // A PEM key next to an HMAC algorithm would be silently unused: say so instead.
    if (k.privateKeyFile) throw new ConfigError([`PRIVATE_KEY_FILE is set but ALGORITHM=${alg} signs with SECRET_KEY; set ALGORITHM to the key's algorithm (e.g. RS256, ES256, EdDSA)`]);
    if (k.secretKey) return { ring: step('SECRET_KEY', () => keyRingFromSecret(k.secretKey!, alg)) };
    const file = generatedKeyFile(config);
    const secret = step('DATA_DIR', () => readOrCreate(file, () => generateSecret()));
    return { ring: step('DATA_DIR', () => keyRingFromSecret(secret, alg)), generatedFile: file };
  }
  if (k.privateKeyFile) {
    const privateKeyPem = step('PRIVATE_KEY_FILE', () => readFileSync(k.privateKeyFile!, 'utf8'));
    const publicKeyPem = k.publicKeyFile ? step('PUBLIC_KEY_FILE', () => readFileSync(k.publicKeyFile!, 'utf8')) : undefined;
    // Check the private key alone first, so a mismatch is blamed on the file that causes it.
    step(`PRIVATE_KEY_FILE (ALGORITHM=${alg})`, () => keyRingFromPem({ privateKeyPem, alg }));
    return { ring: step('PUBLIC_KEY_FILE', () => keyRingFromPem({ privateKeyPem, publicKeyPem, alg })) };
  }
  const file = generatedKeyFile(config);
  const pem = step('DATA_DIR', () => readOrCreate(file, () => generateKeyPem(alg as Exclude<Algorithm, 'HS256' | 'HS384' | 'HS512'>).privateKeyPem));
  return { ring: step(`DATA_DIR (${file})`, () => keyRingFromPem({ privateKeyPem: pem, alg })), generatedFile: file };
}

/** Where a development start without a configured key keeps the one it generates. */
export function generatedKeyFile(config: Pick<Config, 'keys' | 'server'>): string {
  const alg = config.keys.algorithm;
  return join(config.server.dataDir, isHmac(alg) ? 'secret.key' : `${alg.toLowerCase()}-private.pem`);
}

/** Whether the configuration names the signing key (JWKS_FILE, PRIVATE_KEY_FILE, SECRET_KEY), so loading it writes nothing. */
export function namesKey(config: Pick<Config, 'keys'>): boolean {
  const k = config.keys;
  return Boolean(k.jwksFile || k.privateKeyFile || (isHmac(k.algorithm) && k.secretKey));
}

/**
 * The key ring the server would sign with today, without generating anything: undefined when the
 * configuration names no key and no development key has been generated into DATA_DIR yet.
 */
export function currentKeyRing(config: Pick<Config, 'keys' | 'server'>): KeyRing | undefined {
  return namesKey(config) || existsSync(generatedKeyFile(config)) ? loadKeyRing(config).ring : undefined;
}

function readOrCreate(file: string, make: () => string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  const value = make();
  // Whole or not at all (a start killed while writing it left an empty key file, and every later
  // start failed on it); if another instance created it meanwhile, theirs is the key.
  return createKeyFileOnce(file, value + '\n') ? value : readFileSync(file, 'utf8').trim();
}

function readJson(file: string): { keys: object[] } {
  let v: { keys?: unknown };
  try {
    v = JSON.parse(readFileSync(file, 'utf8')) as { keys?: unknown };
  } catch (e) {
    throw new Error(`must hold a JWKS ({"keys": [...]}): ${(e as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || !Array.isArray(v.keys)) throw new Error('must hold a JWKS ({"keys": [...]}): no "keys" array');
  return v as { keys: object[] };
}
