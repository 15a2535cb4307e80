// Two instances confirming a user's authenticator app at once, on PostgreSQL: only one may become
// the user's active factor. (Each confirmation checks that the user has none yet; under READ
// COMMITTED two at once each saw the other's not yet committed, and the user ended with two.
// SQLite's write transactions hold the whole database, and the memory store never waits.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createPostgresStorage } from '../src/storage/index.js';
import { scratchSchema } from './helpers/storage.js';

const T = 1_750_000_000_000;

describe('TOTP confirmation race (PostgreSQL)', async () => {
  const { url, skip, schema } = await scratchSchema('warden_test_totp_race');

  it('of two pending factors confirmed at once by two instances, one becomes active', { skip }, async () => {
    const a = createPostgresStorage(url!, { schema });
    await a.migrate();
    const b = createPostgresStorage(url!, { schema });
    const c = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
    await c.connect();
    try {
      const races = 12;
      for (let i = 0; i < races; i++) {
        const uid = randomUUID();
        await a.users.create({ id: uid, username: `u${uid.slice(0, 8)}`, email: `${uid}@example.com`, fullName: null, roles: ['user'], isActive: true, passwordHash: 'x' });
        const first = await a.factors.addPendingTotp({ id: randomUUID(), userId: uid, sealedSecret: 'v1.k.iv.one', createdAt: T });
        // A second pending factor beside it, as two enrolments started at once can leave.
        const second = randomUUID();
        await c.query('INSERT INTO totp_factors (id, user_id, sealed_secret, created_at) VALUES ($1, $2, $3, $4)', [second, uid, 'v1.k.iv.two', T + 1]);
        const won = await Promise.all([a.factors.confirmTotp(uid, first.id, 100, T + 2), b.factors.confirmTotp(uid, second, 100, T + 2)]);
        assert.equal(won.filter(Boolean).length, 1, `race ${i}: ${won}`);
        const active = (await a.factors.listTotp(uid)).filter((t) => t.confirmedAt !== null);
        assert.equal(active.length, 1, `race ${i}: active factors`);
      }
    } finally {
      await c.end();
      await a.close();
      await b.close();
    }
  });
});
