// The limit on passwordless sign-in options per client IP (PASSKEY_OPTIONS_LIMIT_PER_IP per 5
// minutes): each POST /api/v1/auth/passkey/options stores a challenge before anything is proved, so
// past the limit a client gets 429 with Retry-After and no row; other clients are not affected.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openSqlite, prepare } from '../src/storage/sqlite-driver.js';
import { call, startServer, type Running } from './helpers/server.js';

const freshIp = () => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;

describe('passwordless sign-in options per client IP', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-passkey-limit-'));
  const file = join(dir, 'warden.db');
  let s: Running;
  before(async () => {
    s = await startServer({ DATABASE_URL: `sqlite:${file}`, PASSKEY_OPTIONS_LIMIT_PER_IP: '3', TRUST_PROXY: '1' });
  });
  after(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const options = (ip: string) => call(`${s.url}/api/v1/auth/passkey/options`, { method: 'POST', headers: { 'x-forwarded-for': ip } });
  const challenges = () => {
    const db = openSqlite(file, { readonly: true });
    try {
      return (prepare(db, 'SELECT count(*) AS n FROM challenges').get() as { n: number }).n;
    } finally {
      db.close();
    }
  };

  it('past the limit: 429 with Retry-After, and no challenge stored; another client is not affected', async () => {
    const ip = freshIp();
    const before = challenges();
    for (let i = 0; i < 3; i++) {
      const r = await options(ip);
      assert.equal(r.status, 200, r.text);
      assert.equal(typeof r.json.data.challenge, 'string');
    }
    assert.equal(challenges(), before + 3);
    const r = await options(ip);
    assert.equal(r.status, 429, r.text);
    assert.equal(r.json.code, 'ERR_RATE_LIMITED');
    const wait = Number(r.headers.get('retry-after'));
    assert.ok(wait >= 1 && wait <= 300, `Retry-After ${r.headers.get('retry-after')}`);
    assert.equal(challenges(), before + 3, 'a refused request stores nothing');
    assert.equal((await options(freshIp())).status, 200, 'another client is not affected');
  });
});
