// TRUST_PROXY: the client IP is read from X-Forwarded-For right to left, past trusted proxies only,
// so an entry a client writes cannot choose its IP: rotating it does not escape the sign-in
// throttle and is never stored as a session's IP. `true` (believe the left-most entry) is refused.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';
import { call, startServer } from './helpers/server.js';

const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
    return [];
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.problems;
  }
};

/** A different made-up address every call: what an attacker rotates. */
let forged = 0;
const forgedIp = (): string => `198.18.${(++forged >> 8) & 255}.${forged & 255}`;

/** Signs up and in with `xff`; returns the IP the server stored on the session. */
async function sessionIp(url: string, user: string, xff: string): Promise<string> {
  await call(`${url}/api/auth/signup`, { json: { username: user, email: `${user}@example.com`, password: 'password-123' } });
  const signin = await call(`${url}/api/auth/signin`, { json: { username: user, password: 'password-123' }, headers: { 'x-forwarded-for': xff } });
  assert.equal(signin.status, 200);
  const sessions = await call(`${url}/api/v1/auth/sessions`, { headers: { authorization: `Bearer ${signin.json.access_token}` } });
  return sessions.json.data[0].ip;
}

describe('TRUST_PROXY', () => {
  it('takes false, a hop count, or proxy addresses/CIDRs; refuses true and what is not an address', () => {
    assert.equal(loadConfig({}).server.trustProxy, false);
    assert.equal(loadConfig({ TRUST_PROXY: 'false' }).server.trustProxy, false);
    assert.equal(loadConfig({ TRUST_PROXY: '0' }).server.trustProxy, false);
    assert.equal(loadConfig({ TRUST_PROXY: '2' }).server.trustProxy, 2);
    assert.deepEqual(loadConfig({ TRUST_PROXY: '10.0.0.0/8, loopback,::1' }).server.trustProxy, ['10.0.0.0/8', 'loopback', '::1']);
    for (const v of ['true', 'yes', 'nginx', '10.0.0.0/99', '10.0.0.300', ',']) {
      const p = problems({ TRUST_PROXY: v });
      assert.equal(p.length, 1, v);
      assert.match(p[0]!, /^TRUST_PROXY must be false, the number of proxies in front of Warden/);
    }
    assert.match(problems({ TRUST_PROXY: 'true' })[0]!, /true is refused because it believes any X-Forwarded-For a client writes/);
  });

  it('one proxy: rotating a forged X-Forwarded-For entry does not escape the sign-in throttle (300 guesses)', async () => {
    const s = await startServer({ TRUST_PROXY: '1' });
    try {
      await call(`${s.url}/api/auth/signup`, { json: { username: 'target', email: 'target@example.com', password: 'password-123' } });
      const statuses: number[] = [];
      for (let i = 0; i < 300; i++) {
        // What the attacker sends, with the address the proxy saw appended, as nginx's $proxy_add_x_forwarded_for does.
        const r = await call(`${s.url}/api/auth/signin`, {
          json: { username: 'target', password: `guess-${i}` }, headers: { 'x-forwarded-for': `${forgedIp()}, 203.0.113.7` },
        });
        statuses.push(r.status);
      }
      assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401), 'SIGNIN_MAX_FAILURES (10) guesses are tried');
      assert.deepEqual(statuses.slice(10), Array(290).fill(429), 'then every guess is refused');
      // The same login from another client address is not locked out by the attacker.
      const other = await call(`${s.url}/api/auth/signin`, {
        json: { username: 'target', password: 'password-123' }, headers: { 'x-forwarded-for': '203.0.113.8' },
      });
      assert.equal(other.status, 200);
    } finally {
      await s.close();
    }
  });

  it('a forged left-most entry is never stored as the session IP; the hop count or the CIDRs pick the right entry', async () => {
    const one = await startServer({ TRUST_PROXY: '1' });
    try {
      assert.equal(await sessionIp(one.url, 'hop1', '6.6.6.6, 203.0.113.7'), '203.0.113.7');
    } finally {
      await one.close();
    }
    const two = await startServer({ TRUST_PROXY: '2' });
    try {
      assert.equal(await sessionIp(two.url, 'hop2', '6.6.6.6, 198.51.100.1, 10.0.0.2'), '198.51.100.1');
    } finally {
      await two.close();
    }
    const cidrs = await startServer({ TRUST_PROXY: '127.0.0.1,10.0.0.0/8' });
    try {
      // Both proxies are in 10/8: the first address outside the trusted ranges is the client.
      assert.equal(await sessionIp(cidrs.url, 'cidr1', '6.6.6.6, 198.51.100.1, 10.0.0.2, 10.9.9.9'), '198.51.100.1');
    } finally {
      await cidrs.close();
    }
    const untrustedPeer = await startServer({ TRUST_PROXY: '10.0.0.0/8' });
    try {
      // The connection does not come from a trusted proxy: its X-Forwarded-For is ignored.
      assert.equal(await sessionIp(untrustedPeer.url, 'cidr2', '6.6.6.6, 10.0.0.2'), '127.0.0.1');
    } finally {
      await untrustedPeer.close();
    }
    const none = await startServer({});
    try {
      assert.equal(await sessionIp(none.url, 'noproxy', '6.6.6.6'), '127.0.0.1');
    } finally {
      await none.close();
    }
  });
});
