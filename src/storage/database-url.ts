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
 * parameter named like a credential (a webhook's `?token=`, PostgreSQL's `?password=`).
 *
 * The user information runs to the last "@" before the host, as the drivers (pg, ioredis,
 * nodemailer) and WHATWG URLs read it, so a password may hold an unencoded "@" or space. A password
 * holding an unencoded "/", "?" or "#" (base64 often has "/") makes a URL no driver reads, and it is
 * exactly such a URL that a warning then quotes: where no "@" comes before the first of those, the
 * last "@" of the URL ends it. Where that guess is wrong (an "@" in a path after a port), the mask
 * hides more than the password, never less. Linear in the text: each URL is cut at the next one.
 */
export function maskedUrl(text: string): string {
  const starts = [...text.matchAll(SCHEME)];
  let out = starts.length === 0 ? text : text.slice(0, starts[0]!.index);
  starts.forEach((m, k) => {
    const from = m.index! + m[0].length;
    out += m[0] + maskedUserinfo(text.slice(from, k + 1 < starts.length ? starts[k + 1]!.index : text.length));
  });
  return maskedQueries(out);
}

// A scheme and "//", not preceded by a scheme character (so a long run of letters is tried once).
const SCHEME = /(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*:\/\//g;
// A parameter's name runs to the next separator, so each is scanned once; its value, read only
// where the name is a credential's, to the next "&", "#", space or "|" (a webhook entry's event
// filter follows it; a raw "|" is not a URL character).
const QUERY_NAME = /[?&;]([^=&#\s|?;]*)=/g;
const QUERY_VALUE = /[^&#\s|]*/y;
const CREDENTIAL_NAME = /token|key|secret|pass|pwd|sig|auth/i;

/** The value of each query parameter named like a credential replaced by ***. */
function maskedQueries(text: string): string {
  let out = '';
  let done = 0;
  for (const m of text.matchAll(QUERY_NAME)) {
    if (m.index! < done || !CREDENTIAL_NAME.test(m[1]!)) continue;
    const from = m.index! + m[0].length;
    QUERY_VALUE.lastIndex = from;
    QUERY_VALUE.exec(text);
    out += `${text.slice(done, from)}***`;
    done = QUERY_VALUE.lastIndex;
  }
  return out + text.slice(done);
}

/** What follows a URL's "scheme://", its password (if any) replaced by ***. */
function maskedUserinfo(rest: string): string {
  const stop = rest.search(/[/?#]/);
  let at = (stop === -1 ? rest : rest.slice(0, stop)).lastIndexOf('@');
  if (at === -1) at = rest.lastIndexOf('@');
  const colon = rest.indexOf(':');
  if (at === -1 || colon === -1 || colon > at) return rest;
  return `${rest.slice(0, colon)}:***${rest.slice(at)}`;
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
