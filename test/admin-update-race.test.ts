// Ten administrators making one change to one user at the same moment, on PostgreSQL: one change,
// so one event recording it. UserAdmin.update computed the events from the user as read before its
// write, so each of the ten wrote one (ten user.deactivated, ten user.roles_changed). Forced:
// another connection holds the user's row until all ten UPDATEs wait on it, i.e. past their reads.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { heldRace } from './helpers/instances.js';
import { call, type Running } from './helpers/server.js';
import { scratchSchema } from './helpers/storage.js';

const PASSWORD = 'admin-update-race-password-1';
const RACERS = 10;

const CASES: { name: string; body: Record<string, unknown>; event: string }[] = [
  { name: 'deactivate', body: { is_active: false }, event: 'user.deactivated' },
  { name: 'change the roles', body: { roles: ['user', 'editor'] }, event: 'user.roles_changed' },
];

describe('one user changed by ten administrators at once', async () => {
  const dbs = await Promise.all(CASES.map(() => scratchSchema('warden_admin_update_race')));
  for (const [i, c] of CASES.entries()) {
    const db = dbs[i]!;
    it(`${c.name}: all ten answered 200, exactly one ${c.event} event`, db.skip !== undefined ? { skip: db.skip } : {}, async () => {
      // A connection per request: all ten must reach the UPDATE, none wait for the pool.
      const race = await heldRace(db, 1, { max: RACERS + 5 });
      const [s] = race.servers as [Running];
      const { lock } = race;
      try {
        assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: PASSWORD, roles: ['admin'] } })).status, 201);
        const admin = (await call(`${s.url}/api/v1/auth/login`, { form: { username: 'root', password: PASSWORD } })).json.data.access_token;
        const made = await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'target', email: 'target@example.com', password: PASSWORD } });
        const id = made.json.data.id as string;

        const done = await race.behind('SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE', [id],
          Array.from({ length: RACERS }, () => () => call(`${s.url}/api/v1/users/${id}`, { method: 'PATCH', json: c.body, headers: { authorization: `Bearer ${admin}` } })),
          'UPDATE users SET');
        assert.deepEqual(done.map((r) => r.status), Array(RACERS).fill(200), done.map((r) => r.text).join(' / '));
        const { rows } = await lock.query('SELECT count(*)::int AS n FROM events WHERE type = $1 AND user_id = $2', [c.event, id]);
        assert.equal(rows[0].n, 1, `${rows[0].n} ${c.event} events for one change`);
        // The role change's override holds the roles as written.
        if (c.body.roles !== undefined) {
          const o = (await lock.query("SELECT value, expires_at FROM revocations WHERE kind = 'roles' AND key = $1", [id])).rows;
          assert.deepEqual(o.map((r) => r.value), [JSON.stringify(c.body.roles)]);
        }
      } finally {
        await race.close();
      }
    });
  }
});
