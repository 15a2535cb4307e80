// Variables Warden does not read but whose names say their author meant it to: the configuration
// names of the libraries teams move from (flask-jwt-extended's JWT_*, Flask-SQLAlchemy's,
// Flask-Mail's and Flask-Security's, the FastAPI tutorial's), near misses of Warden's own names (DATABASE_URI), and
// anything in `.env`, which is Warden's own file. Each would otherwise be ignored without a word:
// a JWT_SECRET_KEY carried over from Flask leaves development signing with a generated key that the
// old services reject. The server logs these at start; `warden config check` and a refused start
// print them. Names only: a value may be a secret.
import { configRows, envFile } from './load.js';

/** Warden's setting for each foreign name that has one (some units differ: the notice says so). */
const FOREIGN: Record<string, { from: string; use?: string; unit?: string }> = {
  JWT_SECRET_KEY: { from: 'flask-jwt-extended', use: 'SECRET_KEY' },
  JWT_ALGORITHM: { from: 'flask-jwt-extended', use: 'ALGORITHM' },
  JWT_DECODE_ALGORITHMS: { from: 'flask-jwt-extended', use: 'ALGORITHM', unit: 'one algorithm; several keys go in JWKS_FILE' },
  JWT_ACCESS_TOKEN_EXPIRES: { from: 'flask-jwt-extended', use: 'ACCESS_TOKEN_EXPIRES_MINUTES', unit: 'minutes, not seconds' },
  JWT_REFRESH_TOKEN_EXPIRES: { from: 'flask-jwt-extended', use: 'REFRESH_TOKEN_EXPIRES_DAYS', unit: 'days, not seconds' },
  JWT_PRIVATE_KEY: { from: 'flask-jwt-extended', use: 'PRIVATE_KEY_FILE', unit: 'the path of a PEM file, not the key' },
  JWT_PUBLIC_KEY: { from: 'flask-jwt-extended', use: 'PUBLIC_KEY_FILE', unit: 'the path of a PEM file, not the key' },
  JWT_ENCODE_ISSUER: { from: 'flask-jwt-extended', use: 'JWT_ISSUER' },
  JWT_DECODE_ISSUER: { from: 'flask-jwt-extended', use: 'JWT_ISSUER' },
  JWT_ENCODE_AUDIENCE: { from: 'flask-jwt-extended', use: 'JWT_AUDIENCE' },
  JWT_DECODE_AUDIENCE: { from: 'flask-jwt-extended', use: 'JWT_AUDIENCE' },
  JWT_DECODE_LEEWAY: { from: 'flask-jwt-extended', use: 'JWT_LEEWAY_SECONDS' },
  JWT_COOKIE_SECURE: { from: 'flask-jwt-extended', use: 'COOKIE_SECURE' },
  JWT_COOKIE_SAMESITE: { from: 'flask-jwt-extended', use: 'COOKIE_SAMESITE' },
  JWT_COOKIE_DOMAIN: { from: 'flask-jwt-extended', use: 'COOKIE_DOMAIN' },
  JWT_ACCESS_COOKIE_NAME: { from: 'flask-jwt-extended', use: 'ACCESS_COOKIE_NAME' },
  JWT_REFRESH_COOKIE_NAME: { from: 'flask-jwt-extended', use: 'REFRESH_COOKIE_NAME' },
  JWT_ACCESS_CSRF_COOKIE_NAME: { from: 'flask-jwt-extended', use: 'ACCESS_CSRF_COOKIE_NAME' },
  JWT_REFRESH_CSRF_COOKIE_NAME: { from: 'flask-jwt-extended', use: 'REFRESH_CSRF_COOKIE_NAME' },
  JWT_ACCESS_CSRF_HEADER_NAME: { from: 'flask-jwt-extended', use: 'CSRF_HEADER_NAME' },
  JWT_REFRESH_CSRF_HEADER_NAME: { from: 'flask-jwt-extended', use: 'CSRF_HEADER_NAME' },
  JWT_EXPIRES_HOURS: { from: 'seed 000', use: 'ACCESS_TOKEN_EXPIRES_MINUTES', unit: 'minutes, not hours' },
  SQLALCHEMY_DATABASE_URI: { from: 'Flask-SQLAlchemy', use: 'DATABASE_URL', unit: 'sqlite:<path> or postgres://…' },
  MAIL_SERVER: { from: 'Flask-Mail', use: 'SMTP_URL', unit: 'one URL: smtp://user:pass@host:port' },
  MAIL_PORT: { from: 'Flask-Mail', use: 'SMTP_URL', unit: 'one URL: smtp://user:pass@host:port' },
  MAIL_USERNAME: { from: 'Flask-Mail', use: 'SMTP_URL', unit: 'one URL: smtp://user:pass@host:port' },
  MAIL_PASSWORD: { from: 'Flask-Mail', use: 'SMTP_URL', unit: 'one URL: smtp://user:pass@host:port' },
  MAIL_USE_TLS: { from: 'Flask-Mail', use: 'SMTP_REQUIRE_TLS' },
  MAIL_USE_SSL: { from: 'Flask-Mail', use: 'SMTP_URL', unit: 'an smtps:// URL' },
  MAIL_DEFAULT_SENDER: { from: 'Flask-Mail', use: 'MAIL_FROM' },
  // Flask-Security's sign-up switch is off unless set; Warden's is on unless set: a team that had
  // it off (the default there) and carries nothing over gets open sign-up.
  SECURITY_REGISTERABLE: { from: 'Flask-Security', use: 'SIGNUP_ENABLED', unit: 'open unless `false`: Flask-Security\'s is closed unless `True`' },
  SECURITY_PASSWORD_LENGTH_MIN: { from: 'Flask-Security', use: 'PASSWORD_MIN_LENGTH', unit: '8 to 64' },
};

/** Damerau–Levenshtein distance (adjacent swaps count one), stopping early past `max`. */
function distance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The Warden setting a name is a slip of (one or two letters off), if any. Short names are left alone: HOST and PORT are a step from too much. */
function nearMiss(name: string, settings: readonly string[]): string | undefined {
  if (name.length < 8 || !name.includes('_')) return undefined;
  const max = name.length < 12 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = max + 1;
  for (const s of settings) {
    const dist = distance(name, s, max);
    if (dist < bestDistance) [best, bestDistance] = [s, dist];
  }
  return best;
}

/**
 * One line per variable set in the environment or written in `.env` under `cwd` that Warden does
 * not read but was most likely meant for it, saying what Warden reads instead. Values are never shown.
 */
export function unreadVariables(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string[] {
  const settings = configRows().map((r) => r.setting.env);
  const known = new Set(settings);
  const inFile = new Set(Object.keys(envFile(cwd)).filter((name) => env[name] === undefined));
  const notices: string[] = [];
  for (const name of [...new Set([...Object.keys(env), ...inFile])].sort()) {
    if (known.has(name) || (env[name] === undefined && !inFile.has(name))) continue;
    const where = inFile.has(name) ? ' (in .env)' : '';
    // Warden reads names as written, in upper case; pydantic-settings (FastAPI's settings) and
    // python-dotenv users write `secret_key` or `access_token_expire_minutes` (seed 001's spelling)
    // and get them read whatever their case. Compared upper-cased: exactly anywhere, and as a slip
    // in `.env` (the environment's own lower-case names, npm_*, http_proxy, are left alone).
    const upper = name.toUpperCase();
    const recased = upper !== name;
    const foreign = FOREIGN[name] ?? (recased ? FOREIGN[upper] : undefined);
    const slip = (recased && known.has(upper) ? upper : undefined) ?? nearMiss(name, settings) ?? (recased && where ? nearMiss(upper, settings) : undefined);
    if (foreign) notices.push(`${name}${where} is ${foreign.from}'s name and Warden does not read it: set ${foreign.use}${foreign.unit ? ` (${foreign.unit})` : ''}`);
    else if (slip !== undefined) notices.push(`${name}${where} is not a Warden setting: did you mean ${slip}?`);
    // The rest of flask-jwt-extended's options (cookie paths, CSRF field names...) and anything in Warden's own file.
    else if (where || name.startsWith('JWT_')) notices.push(`${name}${where} is not a Warden setting; Warden ignores it`);
  }
  return notices;
}
