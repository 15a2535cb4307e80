// DATABASE_URL's one set of rules: which adapter a URL selects and with what argument. The
// configuration validates with it at start and openStorage() opens with it, so both agree.
import { fileURLToPath } from 'node:url';

export type DatabaseTarget =
  | { kind: 'memory' }
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; url: string };

const ACCEPTED = 'sqlite:<path> (or sqlite://<path>, file:<path>), postgres://user@host:port/db (or postgresql://) or memory:';

/**
 * Text holding URLs (DATABASE_URL, REDIS_URL, SMTP_URL, WEBHOOK_URLS' list…) fit for a log line or
 * the CLI's output: each URL's password replaced by `***` (its user kept), and the value of a query
 * parameter named like a credential (a webhook's `?token=`, PostgreSQL's `?password=`). The user
 * information runs to the last "@" before the host, as the drivers (pg, ioredis, nodemailer) and
 * WHATWG URLs read it: a password may hold an unencoded "@" or space, and a mask that stopped at the
 * first "@" (or at a space) showed the rest of it.
 */
export function maskedUrl(text: string): string {
  return text
    .replace(/([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#]*)@/g, (_m, scheme: string, userinfo: string) => {
      const colon = userinfo.indexOf(':');
      return colon === -1 ? `${scheme}${userinfo}@` : `${scheme}${userinfo.slice(0, colon)}:***@`;
    })
    // A credential in the query: its value hidden, up to a "|" (a webhook entry's event filter
    // follows it; a raw "|" is not a URL character).
    .replace(/([?&;][^=&#\s|]*(?:token|key|secret|pass|pwd|sig|auth)[^=&#\s|]*=)[^&#\s|]*/gi, '$1***');
}

/** A file:// URL's path, or undefined for one that names no local file (e.g. another host). */
function localPath(u: string): string | undefined {
  try {
    return fileURLToPath(u);
  } catch {
    return undefined;
  }
}

/** Which adapter a DATABASE_URL selects, and with what argument. Throws on anything else. */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  const u = url.trim();
  if (/^memory:$/i.test(u)) return { kind: 'memory' };
  if (/^postgres(ql)?:\/\//i.test(u)) return { kind: 'postgres', url: u };
  let path: string | undefined;
  // sqlite:///abs/x.db and sqlite://rel/x.db both just drop the "//"; file:// is a real file URL.
  if (/^sqlite:\/\//i.test(u)) path = u.slice('sqlite://'.length);
  else if (/^sqlite:/i.test(u)) path = u.slice('sqlite:'.length);
  else if (/^file:\/\//i.test(u)) path = localPath(u);
  else if (/^file:/i.test(u)) path = u.slice('file:'.length);
  if (path === undefined) throw new Error(`DATABASE_URL must be ${ACCEPTED} (got "${maskedUrl(url)}")`);
  if (path === '') throw new Error(`DATABASE_URL names no SQLite file (got "${maskedUrl(url)}"); expected ${ACCEPTED}`);
  return { kind: 'sqlite', path };
}
