// werkzeug.security.generate_password_hash (Flask):
//   pbkdf2:<digest>:<iterations>$<salt>$<hex>   hex(PBKDF2-HMAC-<digest>(utf8 pw, utf8 salt)), digest-sized
//   scrypt:<N>:<r>:<p>$<salt>$<hex>             hex(scrypt(utf8 pw, utf8 salt, N, r, p)), 64 bytes (werkzeug >= 2.3)
// The salt is used as text, not decoded. The forms without parameters ("pbkdf2$…",
// "pbkdf2:sha256$…", "scrypt$…") are refused: generate_password_hash never writes them (it always
// spells the parameters out), and check_password_hash reads them with the *running* werkzeug's
// default iterations, which went from 150,000 (1.0) to 260,000 (2.0), 600,000 (2.3) and
// 1,000,000 (3.1): no single value is right.
import { scrypt as scryptCallback, type ScryptOptions } from 'node:crypto';
import { LIMITS, SHA_DIGESTS, decimal, libraryCall, pbkdf2, refuse, sameBytes, type Prepared, type Refusal } from './common.js';

const HEX = /^[0-9a-f]*$/; // check_password_hash compares lowercase hex text

function scrypt(password: Buffer, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** The three fields of "method$salt$hex"; the method is checked before the rest. */
function split(stored: string, format: 'werkzeug-pbkdf2' | 'werkzeug-scrypt') {
  const parts = stored.split('$');
  if (parts.length !== 3) return refuse('malformed', format, 'expected method$salt$hash');
  const [method, salt, hex] = parts as [string, string, string];
  return { method, salt, hex };
}

function saltAndDigest(salt: string, hex: string, bytes: number, format: 'werkzeug-pbkdf2' | 'werkzeug-scrypt') {
  // werkzeug refuses to hash with an empty salt ("Salt is required for PBKDF2").
  if (salt.length === 0 || salt.length > LIMITS.saltChars) return refuse('malformed', format, 'salt must be 1 to 1024 characters');
  if (hex.length !== bytes * 2 || !HEX.test(hex)) return refuse('malformed', format, `hash must be ${bytes * 2} lowercase hex digits`);
  return { salt: Buffer.from(salt, 'utf8'), expected: Buffer.from(hex, 'hex') };
}

export function prepareWerkzeugPbkdf2(stored: string): Prepared | Refusal {
  const format = 'werkzeug-pbkdf2';
  const fields = split(stored, format);
  if ('error' in fields) return fields;
  const args = fields.method.split(':');
  if (args[0] !== 'pbkdf2') return refuse('malformed', format, 'method must start with "pbkdf2"');
  if (args.length < 3) return refuse('unsupported', format, 'no iteration count: werkzeug reads this form with its own, version-dependent default');
  if (args.length > 3) return refuse('malformed', format, 'expected pbkdf2:<digest>:<iterations>');
  const digest = args[1]!;
  const size = SHA_DIGESTS.get(digest);
  if (size === undefined) return refuse('unsupported', format, `digest "${digest.slice(0, 20)}" (supported: ${[...SHA_DIGESTS.keys()].join(', ')})`);
  const iterations = decimal(args[2]!);
  if (iterations === null || iterations < 1) return refuse('malformed', format, 'iterations must be a positive decimal number');
  if (iterations > LIMITS.pbkdf2Iterations) return refuse('too_costly', format, `iterations ${iterations} > ${LIMITS.pbkdf2Iterations}`);
  const parts = saltAndDigest(fields.salt, fields.hex, size, format);
  if ('error' in parts) return parts;
  return {
    format,
    check: async (password) => sameBytes(await pbkdf2(password, parts.salt, iterations, size, digest), parts.expected),
  };
}

export function prepareWerkzeugScrypt(stored: string): Prepared | Refusal {
  const format = 'werkzeug-scrypt';
  const fields = split(stored, format);
  if ('error' in fields) return fields;
  const args = fields.method.split(':');
  if (args[0] !== 'scrypt') return refuse('malformed', format, 'method must start with "scrypt"');
  if (args.length === 1) return refuse('unsupported', format, 'no parameters: generate_password_hash always writes scrypt:N:r:p');
  if (args.length !== 4) return refuse('malformed', format, 'expected scrypt:<N>:<r>:<p>');
  const [N, r, p] = args.slice(1).map(decimal) as [number | null, number | null, number | null];
  const params = scryptParams(N, r, p, format);
  if ('error' in params) return params;
  const parts = saltAndDigest(fields.salt, fields.hex, 64, format);
  if ('error' in parts) return parts;
  return { format, check: (password) => checkScrypt(password, parts.salt, params, parts.expected) };
}

export interface ScryptParams { N: number; r: number; p: number }

/** N, r and p as a stored hash gives them, checked: well-formed and within LIMITS. */
export function scryptParams(N: number | null, r: number | null, p: number | null, format: 'werkzeug-scrypt' | 'django-scrypt'): ScryptParams | Refusal {
  // hashlib.scrypt (OpenSSL) wants N a power of two above 1, r and p at least 1.
  if (N === null || r === null || p === null || N < 2 || r < 1 || p < 1) return refuse('malformed', format, 'N, r and p must be positive decimal numbers');
  if (N > LIMITS.scryptMaxN || r > LIMITS.scryptMaxR || p > LIMITS.scryptMaxP) {
    return refuse('too_costly', format, `scrypt parameters beyond N <= 2^20, r <= ${LIMITS.scryptMaxR}, p <= ${LIMITS.scryptMaxP}`);
  }
  if ((N & (N - 1)) !== 0) return refuse('malformed', format, 'N must be a power of two');
  if (128 * N * r > LIMITS.scryptMaxMemory) return refuse('too_costly', format, `128·N·r = ${128 * N * r} bytes > ${LIMITS.scryptMaxMemory}`);
  if (N * r * p > LIMITS.scryptMaxWork) return refuse('too_costly', format, `N·r·p = ${N * r * p} > ${LIMITS.scryptMaxWork}`);
  return { N, r, p };
}

/** Whether scrypt of the password gives `expected` (its length is the key length). */
export async function checkScrypt(password: Buffer, salt: Buffer, { N, r, p }: ScryptParams, expected: Buffer): Promise<boolean> {
  // OpenSSL's own account of what scrypt allocates: 128·r·(N + p + 2) bytes. Node's default cap
  // (32 MiB) is below werkzeug's default cost, so it is raised to exactly what this hash needs.
  const maxmem = 128 * r * (N + p + 2);
  const key = await libraryCall('scrypt', () => scrypt(password, salt, expected.length, { N, r, p, maxmem }));
  return sameBytes(key, expected);
}
