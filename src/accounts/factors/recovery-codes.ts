// Recovery codes: 10 single-use codes of 80 random bits each, written as four groups of four
// base32 letters ("k7qm-2xfa-…"), stored only as SHA-256 hashes.
// SHA-256 rather than argon2: a slow hash protects secrets people choose, which an attacker with a
// dump can guess in a few billion tries. A uniformly random 80-bit code leaves 2^79 guesses on
// average per code whatever the hash costs, so argon2 would add only CPU per sign-in (a lever for
// load) and no protection.
import { createHash, randomBytes } from 'node:crypto';
import { base32Encode } from './totp.js';

export const RECOVERY_CODE_COUNT = 10;
const CODE_BYTES = 10; // 80 bits: 16 base32 letters

export function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    const letters = base32Encode(randomBytes(CODE_BYTES)).toLowerCase();
    return letters.match(/.{4}/g)!.join('-');
  });
}

/** What a person may type: any case, with or without dashes and spaces. Null when it cannot be a code. */
export function normaliseRecoveryCode(input: string): string | null {
  const letters = input.replace(/[\s-]/g, '').toLowerCase();
  return /^[a-z2-7]{16}$/.test(letters) ? letters : null;
}

export function hashRecoveryCode(normalised: string): string {
  return createHash('sha256').update(normalised).digest('hex');
}
