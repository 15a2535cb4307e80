// DATABASE_URL's one set of rules: which adapter a URL selects and with what argument. The
// configuration validates with it at start and openStorage() opens with it, so both agree.
import { fileURLToPath } from 'node:url';

export type DatabaseTarget =
  | { kind: 'memory' }
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; url: string };

const ACCEPTED = 'sqlite:<path> (or sqlite://<path>, file:<path>), postgres://user@host:port/db (or postgresql://) or memory:';

/** The URL with any password or user hidden, for error messages. */
function masked(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
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
  if (path === undefined) throw new Error(`DATABASE_URL must be ${ACCEPTED} (got "${masked(url)}")`);
  if (path === '') throw new Error(`DATABASE_URL names no SQLite file (got "${url}"); expected ${ACCEPTED}`);
  return { kind: 'sqlite', path };
}
