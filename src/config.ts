// Configuration from the environment and an optional `.env` file (the environment wins).
// Every variable is validated at start; all mistakes are reported together, each naming the
// variable and what it expects, so a bad deploy fails at once instead of at the first request.
import { existsSync, readFileSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { parseEnv } from 'node:util';
import { ALGORITHMS, isAlgorithm, isHmac, type Algorithm } from './tokens/types.js';
import type { TokenLocation } from './guard/locations.js';

const LOCATIONS: readonly TokenLocation[] = ['headers', 'cookies', 'query_string', 'json'];

export type SameSite = 'strict' | 'lax' | 'none';

export interface Config {
  nodeEnv: string;
  production: boolean;
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string;
  redisUrl: string | undefined;
  secretKey: string | undefined;
  algorithm: Algorithm;
  privateKeyFile: string | undefined;
  publicKeyFile: string | undefined;
  jwksFile: string | undefined;
  jwksSigningKid: string | undefined;
  accessTokenExpiresMinutes: number;
  refreshTokenExpiresDays: number;
  sessionIdleDays: number;
  issuer: string | undefined;
  audience: string | undefined;
  leewaySeconds: number;
  cookieSecure: boolean;
  cookieSameSite: SameSite;
  cookieDomain: string | undefined;
  accessCookieName: string;
  refreshCookieName: string;
  accessCsrfCookieName: string;
  refreshCsrfCookieName: string;
  csrfHeaderName: string;
  tokenLocations: TokenLocation[];
  headerName: string;
  headerType: string;
  adminRoles: string[];
  defaultRoles: string[];
  adminUsername: string | undefined;
  adminEmail: string | undefined;
  adminPassword: string | undefined;
  bodyLimitBytes: number;
  passwordMaxLength: number;
  trustProxy: boolean;
  logLevel: string;
  signinMaxFailures: number;
  signinMaxFailuresPerIp: number;
  signinWindowMinutes: number;
  verifyCacheSize: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads `.env` from `cwd` (if present) under the given environment; the environment wins. */
export function readEnv(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Record<string, string | undefined> {
  const file = join(cwd, '.env');
  const fromFile = existsSync(file) ? parseEnv(readFileSync(file, 'utf8')) : {};
  return { ...fromFile, ...env };
}

export function loadConfig(env: Record<string, string | undefined> = readEnv()): Config {
  const problems: string[] = [];
  const str = (name: string, fallback?: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? fallback : v.trim();
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = str(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return n;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = str(name);
    if (raw === undefined) return fallback;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    problems.push(`${name} must be true or false (got "${raw}")`);
    return fallback;
  };
  const list = (name: string, fallback: string[]): string[] => {
    const raw = str(name);
    if (raw === undefined) return fallback;
    return raw.split(',').map((s) => s.trim()).filter(Boolean);
  };

  const nodeEnv = str('NODE_ENV', 'development')!;
  const production = nodeEnv === 'production';
  const dataDir = resolve(str('DATA_DIR', './data')!);

  const algorithmRaw = str('ALGORITHM', 'HS256')!;
  let algorithm: Algorithm = 'HS256';
  if (isAlgorithm(algorithmRaw)) algorithm = algorithmRaw;
  else problems.push(`ALGORITHM must be one of ${ALGORITHMS.join(', ')} (got "${algorithmRaw}")`);

  const secretKey = str('SECRET_KEY');
  if (secretKey !== undefined && isHmac(algorithm) && Buffer.byteLength(secretKey) < 32) {
    problems.push(`SECRET_KEY must be at least 32 bytes for ${algorithm} (got ${Buffer.byteLength(secretKey)}); generate one with: openssl rand -base64 48`);
  }
  const privateKeyFile = str('PRIVATE_KEY_FILE');
  const publicKeyFile = str('PUBLIC_KEY_FILE');
  const jwksFile = str('JWKS_FILE');
  for (const [name, file] of [['PRIVATE_KEY_FILE', privateKeyFile], ['PUBLIC_KEY_FILE', publicKeyFile], ['JWKS_FILE', jwksFile]] as const) {
    if (file !== undefined && !existsSync(file)) problems.push(`${name} points to "${file}", which does not exist`);
  }
  if (publicKeyFile && !privateKeyFile) problems.push('PUBLIC_KEY_FILE needs PRIVATE_KEY_FILE (the key that signs)');
  if (privateKeyFile && jwksFile) problems.push('Set PRIVATE_KEY_FILE or JWKS_FILE, not both');
  if (production) {
    if (isHmac(algorithm) && !secretKey && !jwksFile) {
      problems.push('SECRET_KEY is required when NODE_ENV=production (a generated development key is never used in production)');
    }
    if (!isHmac(algorithm) && !privateKeyFile && !jwksFile) {
      problems.push(`PRIVATE_KEY_FILE or JWKS_FILE is required for ${algorithm} when NODE_ENV=production`);
    }
  }

  const databaseUrl = str('DATABASE_URL', `sqlite:${join(dataDir, 'warden.db')}`)!;
  if (!/^(sqlite:|file:|postgres(ql)?:\/\/|memory:)/.test(databaseUrl)) {
    problems.push(`DATABASE_URL must be sqlite:<path>, postgres://user@host:port/db or memory: (got "${databaseUrl.replace(/\/\/[^@/]*@/, '//***@')}")`);
  }
  const redisUrl = str('REDIS_URL');
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) {
    problems.push('REDIS_URL must start with redis:// or rediss://');
  }

  const sameSiteRaw = str('COOKIE_SAMESITE', 'lax')!.toLowerCase();
  let cookieSameSite: SameSite = 'lax';
  if (sameSiteRaw === 'strict' || sameSiteRaw === 'lax' || sameSiteRaw === 'none') cookieSameSite = sameSiteRaw;
  else problems.push(`COOKIE_SAMESITE must be strict, lax or none (got "${sameSiteRaw}")`);
  const cookieSecure = bool('COOKIE_SECURE', true);
  if (cookieSameSite === 'none' && !cookieSecure) problems.push('COOKIE_SAMESITE=none requires COOKIE_SECURE=true (browsers drop such cookies)');

  const adminUsername = str('ADMIN_USERNAME');
  const adminEmail = str('ADMIN_EMAIL');
  const adminPassword = env.ADMIN_PASSWORD || undefined;
  const adminSet = [adminUsername, adminEmail, adminPassword].filter((v) => v !== undefined).length;
  if (adminSet > 0 && adminSet < 3) problems.push('ADMIN_USERNAME, ADMIN_EMAIL and ADMIN_PASSWORD must be set together');

  const cookieName = (name: string, fallback: string): string => {
    const v = str(name, fallback)!;
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(v)) problems.push(`${name} must be a valid cookie name (got "${v}")`);
    return v;
  };

  const tokenLocations = list('JWT_TOKEN_LOCATION', ['headers', 'cookies']) as TokenLocation[];
  if (tokenLocations.length === 0 || tokenLocations.some((l) => !LOCATIONS.includes(l))) {
    problems.push(`JWT_TOKEN_LOCATION must be a comma-separated list of ${LOCATIONS.join(', ')} (got "${str('JWT_TOKEN_LOCATION')}")`);
  }
  const headerName = str('JWT_HEADER_NAME', 'Authorization')!;
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(headerName)) problems.push(`JWT_HEADER_NAME must be a valid header name (got "${headerName}")`);
  const headerType = env.JWT_HEADER_TYPE === undefined ? 'Bearer' : env.JWT_HEADER_TYPE.trim();
  if (!/^[A-Za-z0-9_-]*$/.test(headerType)) problems.push(`JWT_HEADER_TYPE must be a word such as Bearer, or empty for a bare token (got "${headerType}")`);

  // Written into Set-Cookie as is, so only a host name may pass (a ';' would add attributes).
  const cookieDomain = (): string | undefined => {
    const v = str('COOKIE_DOMAIN');
    if (v !== undefined && !/^\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(v)) problems.push(`COOKIE_DOMAIN must be a host name such as example.com (got "${v}")`);
    return v;
  };

  const logLevel = str('LOG_LEVEL', 'info')!;
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    problems.push(`LOG_LEVEL must be fatal, error, warn, info, debug, trace or silent (got "${logLevel}")`);
  }

  const config: Config = {
    nodeEnv,
    production,
    port: int('PORT', 8000, 0, 65535),
    host: str('HOST', '0.0.0.0')!,
    dataDir,
    databaseUrl,
    redisUrl,
    secretKey,
    algorithm,
    privateKeyFile,
    publicKeyFile,
    jwksFile,
    jwksSigningKid: str('JWKS_SIGNING_KID'),
    accessTokenExpiresMinutes: int('ACCESS_TOKEN_EXPIRES_MINUTES', 15, 1, 60 * 24 * 7),
    refreshTokenExpiresDays: int('REFRESH_TOKEN_EXPIRES_DAYS', 30, 1, 3650),
    sessionIdleDays: int('SESSION_IDLE_DAYS', 7, 1, 3650),
    issuer: str('JWT_ISSUER'),
    audience: str('JWT_AUDIENCE'),
    leewaySeconds: int('JWT_LEEWAY_SECONDS', 0, 0, 300),
    cookieSecure,
    cookieSameSite,
    cookieDomain: cookieDomain(),
    accessCookieName: cookieName('ACCESS_COOKIE_NAME', 'access_token_cookie'),
    refreshCookieName: cookieName('REFRESH_COOKIE_NAME', 'refresh_token_cookie'),
    accessCsrfCookieName: cookieName('ACCESS_CSRF_COOKIE_NAME', 'csrf_access_token'),
    refreshCsrfCookieName: cookieName('REFRESH_CSRF_COOKIE_NAME', 'csrf_refresh_token'),
    csrfHeaderName: str('CSRF_HEADER_NAME', 'X-CSRF-TOKEN')!,
    tokenLocations,
    headerName,
    headerType,
    adminRoles: list('ADMIN_ROLES', ['admin', 'ROLE_ADMIN']),
    defaultRoles: list('DEFAULT_ROLES', ['user']),
    adminUsername,
    adminEmail,
    adminPassword,
    bodyLimitBytes: int('BODY_LIMIT_BYTES', 16 * 1024, 1024, 1024 * 1024),
    passwordMaxLength: int('PASSWORD_MAX_LENGTH', 1024, 64, 4096),
    trustProxy: bool('TRUST_PROXY', false),
    logLevel,
    signinMaxFailures: int('SIGNIN_MAX_FAILURES', 10, 0, 1_000_000),
    signinMaxFailuresPerIp: int('SIGNIN_MAX_FAILURES_PER_IP', 100, 0, 1_000_000),
    signinWindowMinutes: int('SIGNIN_WINDOW_MINUTES', 15, 1, 24 * 60),
    verifyCacheSize: int('VERIFY_CACHE_SIZE', 10_000, 0, 1_000_000),
  };
  if (config.refreshTokenExpiresDays * 24 * 60 <= config.accessTokenExpiresMinutes) {
    problems.push('REFRESH_TOKEN_EXPIRES_DAYS must outlast ACCESS_TOKEN_EXPIRES_MINUTES');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
