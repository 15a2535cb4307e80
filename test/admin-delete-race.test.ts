// Two administrators deleting one user at the same moment, on two instances sharing PostgreSQL:
// one deletion, answered 200, and the other 404 (it found nobody), as one after the other would
// be; both were 200. Forced: another connection holds the user's row until both DELETEs wait on it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { createPostgresStorage } from '../src/storage/index.js';
import { call, startServer } from './helpers/server.js';
import { scratchSchema } from './helpers/storage.js';

const PASSWORD = 'admin-delete-race-password-1';

describe('one user deleted by two administrators at once', async () => {
  const db = await scratchSchema('ha_admin_delete_race');
  it('exactly one deletion is 200, the other 404, one user.deleted event', db.skip !== undefined ? { skip: db.skip } : {}, async () => {
    const app = `${db.schema}_srv`;
    const url = `${db.url!}?application_name=${app}`;
    const storages = [createPostgresStorage(url, { schema: db.schema, queryTimeoutMs: 60_000 }), createPostgresStorage(url, { schema: db.schema, queryTimeoutMs: 60_000 })];
    await storages[0]!.migrate();
    const servers = [await startServer({}, { storage: storages[0]! }), await startServer({}, { storage: storages[1]! })];
    const lock = new pg.Client({ connectionString: db.url, options: `-c search_path=${db.schema}` });
    await lock.connect();
    try {
      assert.equal((await call(`${servers[0]!.url}/api/v1/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: PASSWORD, roles: ['admin'] } })).status, 201);
      const admin = (await call(`${servers[0]!.url}/api/v1/auth/login`, { form: { username: 'root', password: PASSWORD } })).json.data.access_token;
      const made = await call(`${servers[0]!.url}/api/v1/auth/signup`, { json: { username: 'target', email: 'target@example.com', password: PASSWORD } });
      const id = made.json.data.id as string;

      await lock.query('BEGIN');
      await lock.query('SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE', [id]);
      const answers: string[] = [];
      const racing = servers.map((s) => {
        const r = call(`${s.url}/api/v1/users/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` } });
        void r.then((a) => answers.push(`${a.status} ${a.text}`), () => {});
        return r;
      });
      for (;;) {
        // This transaction's view of pg_stat_activity is a snapshot taken at its first read: cleared
        // each time, it sees the DELETEs that began waiting since (kept, the loop could wait for ever).
        await lock.query('SELECT pg_stat_clear_snapshot()');
        const { rows } = await lock.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND cardinality(pg_blocking_pids(pid)) > 0', [app]);
        if (rows[0].n >= 2) break;
        assert.deepEqual(answers, [], 'a deletion was answered while the row was held');
      }
      await lock.query('COMMIT');
      const done = await Promise.all(racing);
      assert.deepEqual(done.map((r) => r.status).sort(), [200, 404], done.map((r) => r.text).join(' / '));
      assert.equal(done.find((r) => r.status === 404)!.json.code, 'ERR_USER_NOT_FOUND');
      const { rows } = await lock.query("SELECT count(*)::int AS n FROM events WHERE type = 'user.deleted' AND user_id = $1", [id]);
      assert.equal(rows[0].n, 1);
    } finally {
      await lock.end();
      for (const s of servers) await s.close();
      for (const s of storages) await s.close();
    }
  });
});
