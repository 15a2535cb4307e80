// The same username, or the same address, signed up on two instances sharing PostgreSQL at the
// same moment: exactly one account, the other request 409 ERR_CONFLICT. Forced: a lock on the users
// table (SHARE: reads go on, inserts wait) is held until both sign-ups wait on it, i.e. both are
// past the look-up that refuses a taken name before hashing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { heldRace } from './helpers/instances.js';
import { call } from './helpers/server.js';
import { scratchSchema } from './helpers/storage.js';

describe('one username or address signed up on two instances at once', async () => {
  const db = await scratchSchema('warden_signup_race');
  it('exactly one account is created, the other sign-up is 409', db.skip !== undefined ? { skip: db.skip } : {}, async () => {
    const race = await heldRace(db, 2);
    const { servers, lock } = race;
    try {
      // A first account, so that neither racer is the bootstrapped administrator.
      assert.equal((await call(`${servers[0]!.url}/api/v1/auth/signup`, { json: { username: 'first', email: 'first@example.com', password: 'password-123' } })).status, 201);
      const pairs = [
        [{ username: 'same', email: 'one@example.com' }, { username: 'SAME', email: 'two@example.com' }],
        [{ username: 'three', email: 'same@example.com' }, { username: 'four', email: 'Same@Example.com' }],
      ];
      for (const [x, y] of pairs) {
        const done = await race.behind('LOCK TABLE users IN SHARE MODE', [],
          [x!, y!].map((body, i) => () => call(`${servers[i]!.url}/api/v1/auth/signup`, { json: { ...body, password: 'password-123' } })));
        assert.deepEqual(done.map((r) => r.status).sort(), [201, 409], done.map((r) => r.text).join(' / '));
        assert.equal(done.find((r) => r.status === 409)!.json.code, 'ERR_CONFLICT');
      }
      const { rows } = await lock.query('SELECT username, email FROM users ORDER BY username');
      assert.equal(rows.length, 3, JSON.stringify(rows));
    } finally {
      await race.close();
    }
  });
});
