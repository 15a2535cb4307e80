// What accounts ask of password hashing. The server uses argon2id (argon2-hasher.ts); unit tests
// use a fast fake so that every account rule can be tested without paying for real hashes.

/** Who the stored hash belongs to, for the hasher's reports (never the password or the hash). */
export interface VerifyContext {
  userId?: string | undefined;
  /** The client asking (its limits key): hashes waiting for a slot are served a client at a time. */
  client?: string | null | undefined;
}

export interface PasswordHasher {
  hash(password: string, context?: Pick<VerifyContext, 'client'>): Promise<string>;
  /**
   * True when `password` matches. `passwordHash` null means there is no such user: the hasher
   * still spends about the time of a real check (so timing does not tell whether an account
   * exists) and answers false. A corrupt or unverifiable hash is false, never an exception.
   */
  verify(passwordHash: string | null, password: string, context?: VerifyContext): Promise<boolean>;
  /**
   * How every hash made with today's settings begins. Any other stored hash is a legacy one (made
   * by another system, or with other settings): needsRehash, the "legacy hash" filter of the users
   * list and `warden users list --legacy-hash` all go by it.
   */
  readonly currentPrefix: string;
}

/** True when a stored hash is not one made with the hasher's settings of today (rehashed at the next sign-in). */
export function needsRehash(hasher: Pick<PasswordHasher, 'currentPrefix'>, passwordHash: string): boolean {
  return !passwordHash.startsWith(hasher.currentPrefix);
}
