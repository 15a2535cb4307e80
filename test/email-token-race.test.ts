// One mailed link used twice at the same moment, on two instances sharing PostgreSQL: a password
// reset, an address verification, an address change. Exactly one use is answered 200 and writes
// its event; the other is 400 ERR_EMAIL_TOKEN_USED and changes nothing. Forced: another connection
// holds the token's row until both uses wait on it, i.e. both are past every check before it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newEmailToken } from '../src/accounts/email-tokens.js';
import type { EmailTokenPurpose } from '../src/storage/types.js';
import { heldRace } from './helpers/instances.js';
import { call } from './helpers/server.js';
import { scratchSchema } from './helpers/storage.js';

const PASSWORD = 'email-token-race-password-1';
const sidOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).sid;

const USES: { purpose: EmailTokenPurpose; path: string; body: (token: string, i: number) => Record<string, string>; event: string }[] = [
  { purpose: 'reset', path: '/api/v1/auth/password/reset', body: (token, i) => ({ token, new_password: `new-password-${i}-long` }), event: 'password.reset' },
  { purpose: 'verify', path: '/api/v1/auth/verify', body: (token) => ({ token }), event: 'email.verified' },
  { purpose: 'email', path: '/api/v1/auth/email/confirm', body: (token) => ({ token }), event: 'email.changed' },
];

describe('one mailed link used twice at once on two instances', async () => {
  const db = await scratchSchema('warden_email_token_race');
  it('exactly one use is 200 with one event; the other 400 ERR_EMAIL_TOKEN_USED', db.skip !== undefined ? { skip: db.skip } : {}, async () => {
    const race = await heldRace(db, 2);
    const { servers, lock } = race;
    try {
      for (const [i, use] of USES.entries()) {
        const made = await call(`${servers[0]!.url}/api/v1/auth/signup`, { json: { username: `user${i}`, email: `user${i}@example.com`, password: PASSWORD } });
        assert.equal(made.status, 201, made.text);
        const userId = made.json.data.id as string;
        const login = await call(`${servers[0]!.url}/api/v1/auth/login`, { form: { username: `user${i}`, password: PASSWORD } });
        const { token, hash } = newEmailToken();
        const now = Date.now();
        const email = use.purpose === 'email' ? `moved${i}@example.com` : `user${i}@example.com`;
        await race.servers[0]!.warden.storage.emailTokens.issue({
          hash, userId, purpose: use.purpose, email, createdAt: now, expiresAt: now + 3_600_000,
          ...(use.purpose === 'email' ? { sessionId: sidOf(login.json.data.access_token) } : {}),
        });
        const done = await race.behind('SELECT 1 FROM email_tokens WHERE hash = $1 FOR UPDATE', [hash],
          servers.map((s, n) => () => call(`${s.url}${use.path}`, { json: use.body(token, n) })), 'email_tokens');
        assert.deepEqual(done.map((r) => r.status).sort(), [200, 400], `${use.purpose}: ${done.map((r) => r.text).join(' / ')}`);
        assert.equal(done.find((r) => r.status === 400)!.json.code, 'ERR_EMAIL_TOKEN_USED', use.purpose);
        const { rows } = await lock.query('SELECT count(*)::int AS n FROM events WHERE type = $1 AND user_id = $2', [use.event, userId]);
        assert.equal(rows[0].n, 1, `${use.purpose}: ${use.event} events`);
        if (use.purpose === 'reset') {
          // The winner's password is the one that signs in.
          const winner = done.findIndex((r) => r.status === 200);
          const signIn = await call(`${servers[1]!.url}/api/v1/auth/login`, { form: { username: `user${i}`, password: `new-password-${winner}-long` } });
          assert.equal(signIn.status, 200, signIn.text);
        }
      }
    } finally {
      await race.close();
    }
  });
});
