// Twenty concurrent refreshes of one refresh token over HTTP: exactly one 200, on every adapter.
// The others are reuse: the session ends, so even the winner's new tokens are refused afterwards.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { call, startServer } from './helpers/server.js';
import { storageFactories } from './helpers/storage.js';

const factories = await storageFactories();

for (const f of factories.filter((x) => x.name !== 'memory')) {
  describe(`refresh race on ${f.name}`, f.skip !== undefined ? { skip: f.skip } : {}, () => {
    after(() => f.cleanup());

    it('20 concurrent refreshes of one token: exactly one succeeds, and the session ends', async () => {
      const storage = await f.create();
      const s = await startServer({}, { storage });
      try {
        const signup = await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'racer', email: 'racer@example.com', password: 'password-123' } });
        assert.equal(signup.status, 201);
        const login = await call(`${s.url}/api/v1/auth/login`, { form: { username: 'racer@example.com', password: 'password-123' } });
        const r1 = login.json.data.refresh_token;

        const results = await Promise.all(Array.from({ length: 20 }, () =>
          call(`${s.url}/api/v1/auth/refresh?refresh_token=${r1}`, { method: 'POST' })));
        const winners = results.filter((r) => r.status === 200);
        assert.equal(winners.length, 1);
        assert.ok(results.every((r) => r.status === 200 || r.status === 401));

        const sid = JSON.parse(Buffer.from(r1.split('.')[1], 'base64url').toString()).sid;
        const session = await storage.sessions.get(sid);
        assert.equal(session!.endReason, 'reuse');
        const winner = winners[0]!.json.data;
        assert.equal((await call(`${s.url}/api/v1/auth/refresh?refresh_token=${winner.refresh_token}`, { method: 'POST' })).status, 401);
        assert.equal((await call(`${s.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${winner.access_token}` } })).status, 401);
      } finally {
        await s.close();
        await storage.close();
      }
    });
  });
}
