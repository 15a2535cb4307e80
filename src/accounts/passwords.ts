// Password hashing: argon2id at the OWASP minimum (19 MiB, t=2, p=1). @node-rs/argon2's async
// calls run on the libuv thread pool, so hashing never blocks the event loop.
import { availableParallelism } from 'node:os';
import { hash as argonHash, verify as argonVerify, parseOptions } from '@node-rs/argon2';
import { WardenError } from '../errors.js';

const ARGON2ID = 2; // Algorithm.Argon2id (a const enum, not importable under isolatedModules)

export const HASH_OPTIONS = { algorithm: ARGON2ID, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

// At most one hash per core at a time. More would not finish sooner (they are CPU-bound) but
// would crowd the event loop's thread off the CPU, and every other request would wait behind them.
const MAX_RUNNING = availableParallelism();
// Past this many waiting, a sign-in storm is shed with 503 instead of queueing without bound.
const MAX_WAITING = 512 * MAX_RUNNING;
let running = 0;
const waiting: (() => void)[] = [];

async function limited<T>(work: () => Promise<T>): Promise<T> {
  if (running >= MAX_RUNNING) {
    if (waiting.length >= MAX_WAITING) throw new WardenError('ERR_UNAVAILABLE', 'Too many password checks in progress; retry shortly');
    await new Promise<void>((resolve) => waiting.push(resolve));
  } else {
    running++;
  }
  try {
    return await work();
  } finally {
    // Hand the slot straight to the next in line, or free it.
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

const hash = (password: string, options: typeof HASH_OPTIONS) => limited(() => argonHash(password, options));
const verify = (passwordHash: string, password: string) => limited(() => argonVerify(passwordHash, password));

export function hashPassword(password: string): Promise<string> {
  return hash(password, HASH_OPTIONS);
}

// Verifying against this when the user does not exist costs the same as a real check, so the
// answer time does not tell whether an account exists.
let dummyHash: Promise<string> | undefined;

export async function verifyPassword(passwordHash: string | null, password: string): Promise<boolean> {
  if (passwordHash === null) {
    dummyHash ??= hashPassword('warden-timing-equaliser');
    await verify(await dummyHash, password).catch(() => false);
    return false;
  }
  try {
    return await verify(passwordHash, password);
  } catch {
    return false; // a corrupt stored hash is a failed sign-in, never a 500
  }
}

/** True when a stored hash was made with weaker settings than today's (rehash on next sign-in). */
export function needsRehash(passwordHash: string): boolean {
  try {
    const o = parseOptions(passwordHash);
    return o.memoryCost < HASH_OPTIONS.memoryCost || o.timeCost < HASH_OPTIONS.timeCost || (o.algorithm as number) !== ARGON2ID;
  } catch {
    return true;
  }
}
