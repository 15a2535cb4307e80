// TOTP secrets at rest: AES-256-GCM (node:crypto), so a database dump alone does not yield them.
// The key is MFA_ENCRYPTION_KEY, or derived with HKDF-SHA-256 from the signing key's own secret
// material (the HMAC secret, or the PKCS#8 bytes of an asymmetric private key): a dump holds no
// part of either. Each sealed value names its key by a short keyed fingerprint, so a value sealed
// under another key is recognised as such instead of failing as if tampered with; and its
// associated data binds it to one user's one factor, so rows swapped in the database do not open.
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';

const VERSION = 'v1';
const IV_BYTES = 12; // GCM's standard nonce
const TAG_BYTES = 16;

export class SecretBox {
  private readonly id: string;
  /** Every key a value may have been sealed under, by its id: this box's, and the older ones. */
  private readonly openers = new Map<string, Buffer>();

  /**
   * Seals with `key`; opens what `key` or any of `older` sealed (a key used before: the one derived
   * from the signing key before MFA_ENCRYPTION_KEY was set, or from a signing key since rotated).
   */
  constructor(private readonly key: Buffer, older: readonly Buffer[] = []) {
    if ([key, ...older].some((k) => k.length !== 32)) throw new Error('SecretBox needs 32-byte keys');
    this.id = keyId(key);
    for (const k of [...older].reverse()) this.openers.set(keyId(k), k);
    this.openers.set(this.id, key);
  }

  /** Whether `sealed` is sealed under this box's own key (else an older one: worth sealing again). */
  isCurrent(sealed: string): boolean {
    return sealed.split('.')[1] === this.id;
  }

  /**
   * A keyed fingerprint of `value` under this box's key (HMAC-SHA-256, 128 bits, base64url), for a
   * token to carry a fact of the server's (the password hash it was earned with) that its holder
   * can compare nothing with.
   */
  stamp(value: string, context: string): string {
    return stampWith(this.key, value, context);
  }

  /**
   * Whether `stamp` is `value`'s under this box's key or an older one: a token stamped by an
   * instance still on the key before a rotation (or stamped just before it) stays good.
   */
  stampMatches(stamp: unknown, value: string, context: string): boolean {
    if (typeof stamp !== 'string') return false;
    const given = Buffer.from(stamp);
    for (const key of this.openers.values()) {
      const want = Buffer.from(stampWith(key, value, context));
      if (want.length === given.length && timingSafeEqual(want, given)) return true;
    }
    return false;
  }

  /** `v1.<key id>.<iv>.<ciphertext+tag>`, base64url parts. */
  seal(plain: Uint8Array, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return [VERSION, this.id, iv.toString('base64url'), body.toString('base64url')].join('.');
  }

  /** The plain bytes; 'other-key' when sealed under a key this box does not hold, null when malformed or tampered with. */
  open(sealed: string, context: string): Buffer | 'other-key' | null {
    const [version, id, ivText, bodyText, ...rest] = sealed.split('.');
    if (version !== VERSION || ivText === undefined || bodyText === undefined || rest.length > 0) return null;
    const key = id === undefined ? undefined : this.openers.get(id);
    if (key === undefined) return 'other-key';
    const iv = Buffer.from(ivText, 'base64url');
    const body = Buffer.from(bodyText, 'base64url');
    if (iv.length !== IV_BYTES || body.length <= TAG_BYTES) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
    } catch {
      return null;
    }
  }
}

function stampWith(key: Buffer, value: string, context: string): string {
  return createHmac('sha256', key).update(`${context}\u0000${value}`).digest('base64url').slice(0, 22);
}

/** A short keyed fingerprint naming the key a value was sealed under (never the key itself). */
function keyId(key: Buffer): string {
  return createHmac('sha256', key).update('warden secret-box key id').digest('base64url').slice(0, 8);
}

/**
 * A 256-bit key derived from a signing key's secret material with HKDF-SHA-256 (RFC 5869). The
 * signing key changes, so does this: MFA_ENCRYPTION_KEY is for deployments that rotate keys.
 */
export function deriveFromSigningKey(signingKey: KeyObject): Buffer {
  const material = signingKey.type === 'secret' ? signingKey.export() : signingKey.export({ format: 'der', type: 'pkcs8' });
  const salt = createHash('sha256').update('warden').digest();
  return Buffer.from(hkdfSync('sha256', material, salt, 'warden mfa secret encryption v1', 32));
}
