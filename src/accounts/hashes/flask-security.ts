// Flask-Security (Flask-Security-Too, and Flask-Security before it) hashes a password twice: passlib's
// scheme (bcrypt by default; argon2, pbkdf2_sha512, sha512_crypt …) over base64(HMAC-SHA512(key:
// SECURITY_PASSWORD_SALT, password)), after normalising the password to NFKD (4.0 and later). The
// stored string is the scheme's own ("$2b$12$…"), so nothing in it says the HMAC came first: an
// import that names Flask-Security (--flask-security) stores "flask-security$<the hash>", and the
// app's SECURITY_PASSWORD_SALT, a secret like a pepper, stays in Warden's configuration, never in
// the database. Its django_* schemes are hashed once and stay Django's.
import { createHmac } from 'node:crypto';
import { HashRejected, refuse, type LegacyFormat, type Prepared, type Refusal } from './common.js';

export const FLASK_SECURITY_PREFIX = 'flask-security$';

/** The formats Flask-Security hashes twice (its PASSWORD_SCHEMES minus des_crypt and plaintext). */
export const DOUBLE_HASHED: ReadonlySet<LegacyFormat> = new Set(['bcrypt', 'argon2', 'passlib-pbkdf2', 'sha256-crypt', 'sha512-crypt']);

/**
 * `inner` prepared, checked against the HMAC of the password under `salt`. Without the salt it
 * still parses (an import takes it), and a check is refused as 'unsupported', saying why.
 */
export function prepareFlaskSecurity(inner: Prepared | Refusal, salt: string | undefined): Prepared | Refusal {
  const format = 'flask-security';
  if ('error' in inner) return refuse(inner.error, format, `its ${inner.format ?? 'inner'} hash: ${inner.reason}`);
  if (!DOUBLE_HASHED.has(inner.format)) return refuse('unsupported', format, `Flask-Security does not hash ${inner.format} twice`);
  return {
    format,
    check: async (password) => {
      if (salt === undefined) throw new HashRejected('needs SECURITY_PASSWORD_SALT, the Flask application\'s, in Warden\'s configuration', 'unsupported');
      const text = password.toString('utf8');
      // NFKD since Flask-Security-Too 4.0; a hash made before it has the password as typed.
      for (const form of new Set([text.normalize('NFKD'), text])) {
        const hmac = createHmac('sha512', salt).update(form, 'utf8').digest('base64');
        if (await inner.check(Buffer.from(hmac, 'latin1'))) return true;
      }
      return false;
    },
  };
}
