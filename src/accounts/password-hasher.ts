// What accounts ask of password hashing. The server uses argon2id (argon2-hasher.ts); unit tests
// use a fast fake so that every account rule can be tested without paying for real hashes.

/** Who the stored hash belongs to, for the hasher's reports (never the password or the hash). */
export interface VerifyContext {
  userId?: string;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /**
   * True when `password` matches. `passwordHash` null means there is no such user: the hasher
   * still spends about the time of a real check (so timing does not tell whether an account
   * exists) and answers false. A corrupt or unverifiable hash is false, never an exception.
   */
  verify(passwordHash: string | null, password: string, context?: VerifyContext): Promise<boolean>;
  /** True when a stored hash is not one made with today's settings (rehash on next sign-in). */
  needsRehash(passwordHash: string): boolean;
}
