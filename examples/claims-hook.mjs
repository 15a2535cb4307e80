// A CLAIMS_HOOK module: adds the user's tenant and that tenant's permissions, read from the
// application's own database, to every access token Warden issues (sign-in and refresh).
//
//   CLAIMS_HOOK=./examples/claims-hook.mjs APP_DATABASE_URL=postgres://app@db:5432/app npm start
//
// The application's tables (its own, not Warden's):
//   CREATE TABLE memberships (user_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL);
//   CREATE TABLE tenant_permissions (tenant_id TEXT NOT NULL, role TEXT NOT NULL, permission TEXT NOT NULL);
//
// Warden calls the default export with { user, session, grant } and puts what it answers into the
// token. It waits at most CLAIMS_HOOK_TIMEOUT_MS; if this throws or is late, the sign-in or refresh
// gets 503 and no token is issued. Warden's own claims (sub, roles, sid, exp...) cannot be replaced.
import pg from 'pg';

// One small pool for the life of the process (a hook runs on every sign-in and refresh).
const pool = new pg.Pool({ connectionString: process.env.APP_DATABASE_URL, max: 4, connectionTimeoutMillis: 500, query_timeout: 500 });
pool.on('error', () => {}); // an idle connection's failure is not Warden's crash

/** @param {{ user: { id: string, roles: string[] }, session: { id: string }, grant: 'password' | 'refresh_token' }} ctx */
export default async function claims({ user }) {
  const { rows } = await pool.query(
    `SELECT m.tenant_id, coalesce(array_agg(DISTINCT p.permission) FILTER (WHERE p.permission IS NOT NULL), '{}') AS permissions
       FROM memberships m LEFT JOIN tenant_permissions p ON p.tenant_id = m.tenant_id AND p.role = ANY($2::text[])
      WHERE m.user_id = $1 GROUP BY m.tenant_id`,
    [user.id, user.roles],
  );
  if (rows.length === 0) return {}; // in no tenant: no extra claims
  return { tenant_id: rows[0].tenant_id, permissions: [...rows[0].permissions].sort() };
}
