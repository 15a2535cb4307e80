// The server's PasswordHasher: argon2id at the OWASP minimum (19 MiB, t=2, p=1). @node-rs/argon2's
// async calls run on the libuv thread pool, so hashing never blocks the event loop. A stored hash
// in any other form (an imported user's werkzeug, passlib, bcrypt or Django hash, or Warden's own
// made with other settings) is verified by hashes/, within its cost limits, and needsRehash says so
// (it does not start with CURRENT_HASH_PREFIX): the next successful sign-in replaces it with today's argon2id.
import { availableParallelism } from 'node:os';
import { hash as argonHash, verify as argonVerify } from '@node-rs/argon2';
import { WardenError } from '@warden/toolkit';
import { verifyLegacyHash, type LegacyOptions, type Refusal } from './hashes/index.js';
import type { PasswordHasher, VerifyContext } from './password-hasher.js';

const ARGON2ID = 2; // Algorithm.Argon2id (a const enum, not importable under isolatedModules)

export const HASH_OPTIONS = { algorithm: ARGON2ID, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

/** How every hash made with today's settings begins; anything else is upgraded at the next sign-in. */
export const CURRENT_HASH_PREFIX = `$argon2id$v=19$m=${HASH_OPTIONS.memoryCost},t=${HASH_OPTIONS.timeCost},p=${HASH_OPTIONS.parallelism}$`;

// At most one hash per core at a time, per process (the limit is the machine's, so it is shared by
// every hasher this module hands out, and by legacy checks, whose work also runs off the event
// loop: libuv's pool or a SHA-crypt worker). More would not finish sooner (they are CPU-bound) but
// would crowd the event loop's thread off the CPU, and every other request would wait behind them.
const MAX_RUNNING = availableParallelism();
// Past this many waiting, a sign-in storm is shed with 503 instead of queueing without bound.
const MAX_WAITING = 512 * MAX_RUNNING;
let running = 0;
// Waiting hashes by client (its limits key; '' for none: the CLI, an import, an administrator's
// change), each client's in order, the clients served in turn: a freed slot goes to the next
// client's oldest. First come, first served let one client's flood (its own accounts' right
// passwords, which no throttle counts) stand in front of every other sign-in: 100 of them queued
// held others 5.5–7.3 s, and twelve clients' filled the line. Now another client's waits for at
// most one hash per client waiting.
const lines = new Map<string, (() => void)[]>();
let waitingCount = 0;

function nextInTurn(): (() => void) | undefined {
  const first = lines.entries().next();
  if (first.done === true) return undefined;
  const [client, line] = first.value;
  const go = line.shift()!;
  waitingCount--;
  lines.delete(client);
  if (line.length > 0) lines.set(client, line); // to the back of the round
  return go;
}

/** For metrics: the limiter's state now, and listeners told how long each hash waited for its slot (seconds). */
export const hashQueue = {
  get running(): number {
    return running;
  },
  get waiting(): number {
    return waitingCount;
  },
  waited: new Set<(seconds: number) => void>(),
};

/** Runs `work` in a hash slot, waiting its client's turn for one (exported for the tests of the line itself). */
export async function limited<T>(work: () => Promise<T>, client: string | null = ''): Promise<T> {
  client ??= '';
  const queued = performance.now();
  if (running >= MAX_RUNNING) {
    if (waitingCount >= MAX_WAITING) throw new WardenError('ERR_UNAVAILABLE', 'Too many password checks in progress; retry shortly', { retryAfter: 1 });
    await new Promise<void>((resolve) => {
      const line = lines.get(client);
      if (line === undefined) lines.set(client, [resolve]);
      else line.push(resolve);
      waitingCount++;
    });
  } else {
    running++;
  }
  try {
    // Inside the try: a listener that throws must still give the slot back (else it is lost for good).
    for (const tell of hashQueue.waited) tell((performance.now() - queued) / 1000);
    return await work();
  } finally {
    // Hand the slot straight to the next in turn, or free it.
    const next = nextInTurn();
    if (next) next();
    else running--;
  }
}

const hash = (password: string, options: typeof HASH_OPTIONS, client?: string | null) => limited(() => argonHash(password, options), client);
const verify = (passwordHash: string, password: string, client?: string | null) => limited(() => argonVerify(passwordHash, password), client);

// Passwords are hashed in NFKC (NIST SP 800-63B 5.1.1.2): "é" typed as one code point on one
// device and as "e" and a combining accent on another is one password. Hashes made before, and the
// legacy ones an import brought (their applications compared what was typed), are checked as typed
// too; a legacy one is replaced by an NFKC one at the next sign-in.
const canonical = (password: string): string => password.normalize('NFKC');

function hashPassword(password: string, context?: Pick<VerifyContext, 'client'>): Promise<string> {
  return hash(canonical(password), HASH_OPTIONS, context?.client);
}

// Verifying against this when the user does not exist, or the stored hash cannot be checked, costs
// the same as a real check, so the answer time does not tell either apart from a wrong password.
let dummyHash: Promise<string> | undefined;

async function equalise(password: string, client?: string | null): Promise<void> {
  dummyHash ??= hashPassword('warden-timing-equaliser');
  // As many checks as a wrong password for a real account costs (see verifyCurrent).
  const h = await dummyHash;
  for (const form of forms(password)) await verify(h, form, client).catch(() => false);
}

/** The spellings a current hash is checked against: NFKC, then as typed when that differs. */
function forms(password: string): string[] {
  const c = canonical(password);
  return c === password ? [c] : [c, password];
}

async function verifyCurrent(passwordHash: string, password: string, client?: string | null): Promise<boolean> {
  for (const form of forms(password)) if (await verify(passwordHash, form, client)) return true;
  return false;
}

/** A stored hash sign-in cannot check: what it claims to be and why (never the hash itself). */
export interface UnusableHash {
  userId: string | undefined;
  format: string;
  problem: Refusal['error'];
  reason: string;
}

export interface Argon2HasherOptions {
  /** Told once per refused check: a malformed, unknown or too costly stored hash (the sign-in fails). */
  onUnusableHash?: (u: UnusableHash) => void;
  /** Secrets some legacy hashes need (Flask-Security's SECURITY_PASSWORD_SALT). */
  legacy?: LegacyOptions;
}

export function createArgon2Hasher(o: Argon2HasherOptions = {}): PasswordHasher {
  const unusable = (context: VerifyContext | undefined, r: Refusal) =>
    o.onUnusableHash?.({ userId: context?.userId, format: r.format ?? 'unknown', problem: r.error, reason: r.reason });

  async function verifyPassword(passwordHash: string | null, password: string, context?: VerifyContext): Promise<boolean> {
    const client = context?.client;
    if (passwordHash === null) {
      await equalise(password, client);
      return false;
    }
    if (passwordHash.startsWith(CURRENT_HASH_PREFIX)) {
      try {
        return await verifyCurrent(passwordHash, password, client);
      } catch (e) {
        if (e instanceof WardenError) throw e; // shed under load: 503, not a wrong password
        unusable(context, { error: 'malformed', format: 'argon2', reason: '@node-rs/argon2 refused it' });
        return false; // a corrupt stored hash is a failed sign-in, never a 500
      }
    }
    let result: Awaited<ReturnType<typeof verifyLegacyHash>>;
    try {
      result = await limited(() => verifyLegacyHash(passwordHash, password, o.legacy), client);
    } catch (e) {
      if (e instanceof WardenError) throw e;
      // The machinery failed (a SHA-crypt worker could not start, or its queue is full).
      throw new WardenError('ERR_UNAVAILABLE', 'Password check could not run; retry shortly', { retryAfter: 1 });
    }
    if ('error' in result) {
      // Django's mark of a user without a password (imported so) is no fault to report.
      if (result.format !== 'django-unusable') unusable(context, result);
      await equalise(password, client);
      return false;
    }
    return result.ok;
  }

  return { hash: hashPassword, verify: verifyPassword, currentPrefix: CURRENT_HASH_PREFIX };
}

/** A hasher that reports nothing about unusable stored hashes (tests, tools). */
export const argon2Hasher: PasswordHasher = createArgon2Hasher();

/** The legacy hashes' secrets from the configuration's accounts section. */
export function legacyHashOptions(config: { accounts: { flaskSecuritySalt?: string | undefined } }): LegacyOptions {
  return config.accounts.flaskSecuritySalt === undefined ? {} : { flaskSecuritySalt: config.accounts.flaskSecuritySalt };
}
