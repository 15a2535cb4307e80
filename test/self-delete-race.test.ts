// A user deleting their own account while an administrator deletes it, on two instances sharing
// PostgreSQL: one deletion, answered 200, and the other 404 (it found nobody), as one after the
// other would be; the user's own was 200 (and ran the deletedOwnAccount hook) for a deletion the
// administrator made. Forced: another connection holds the user's row until both DELETEs wait on it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { heldRace } from './helpers/instances.js';
import { call } from './helpers/server.js';
import { scratchSchema } from './helpers/storage.js';

const PASSWORD = 'self-delete-race-password-1';

describe('one user deleted by themselves and by an administrator at once', async () => {
  const db = await scratchSchema('warden_self_delete_race');
  it('exactly one deletion is 200, the other 404, one user.deleted event', db.skip !== undefined ? { skip: db.skip } : {}, async () => {
    const race = await heldRace(db, 2, { env: { ACCOUNT_SELF_DELETE: 'true' } });
    const { servers, lock } = race;
    try {
      assert.equal((await call(`${servers[0]!.url}/api/v1/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: PASSWORD, roles: ['admin'] } })).status, 201);
      const admin = (await call(`${servers[0]!.url}/api/v1/auth/login`, { form: { username: 'root', password: PASSWORD } })).json.data.access_token;
      const made = await call(`${servers[0]!.url}/api/v1/auth/signup`, { json: { username: 'leaver', email: 'leaver@example.com', password: PASSWORD } });
      const id = made.json.data.id as string;
      const own = (await call(`${servers[1]!.url}/api/v1/auth/login`, { form: { username: 'leaver', password: PASSWORD } })).json.data.access_token;

      const done = await race.behind('SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE', [id], [
        () => call(`${servers[0]!.url}/api/v1/users/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` } }),
        () => call(`${servers[1]!.url}/api/v1/auth/me`, { method: 'DELETE', json: { current_password: PASSWORD }, headers: { authorization: `Bearer ${own}` } }),
      ], 'DELETE FROM users');
      assert.deepEqual(done.map((r) => r.status).sort(), [200, 404], done.map((r) => r.text).join(' / '));
      assert.equal(done.find((r) => r.status === 404)!.json.code, 'ERR_USER_NOT_FOUND');
      const { rows } = await lock.query("SELECT count(*)::int AS n FROM events WHERE type = 'user.deleted' AND user_id = $1", [id]);
      assert.equal(rows[0].n, 1);
    } finally {
      await race.close();
    }
  });
});
