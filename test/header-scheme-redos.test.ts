// An Authorization header of another scheme (HTTP Basic in front of a cookie) is told apart from an
// empty one by headerOfOtherScheme. Its check once stripped the header's outer commas with
// /^,+|,+$/g, which backtracks quadratically on "Basic ,,,,…x": a single 16 KB header (Node's
// limit) held the event loop about 0.3 s, so a few requests a second from anyone, no token needed,
// stopped every other request. The answer must stay the same, in time linear in the header.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { headerOfOtherScheme, DEFAULT_LOCATION_SETTINGS } from '../toolkit/src/guard/locations.js';
import { call, startServer, type Running } from './helpers/server.js';

const other = (authorization: string): boolean =>
  headerOfOtherScheme({ headers: { authorization }, method: 'GET' } as never, DEFAULT_LOCATION_SETTINGS);

describe('a header of another scheme full of commas', () => {
  let s: Running;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it('is answered as a missing token, as a short one is', async () => {
    const short = await call(`${s.url}/api/users`, { headers: { authorization: 'Basic ,,x' } });
    const long = await call(`${s.url}/api/users`, { headers: { authorization: `Basic ${','.repeat(15_000)}x` } });
    assert.equal(short.status, 401);
    assert.equal(long.status, 401);
    assert.equal(long.json.code, 'ERR_JWT_MISSING');
    assert.equal(long.json.detail, short.json.detail);
  });

  it('is judged in time linear in its length', () => {
    // Quadratic, 64,000 commas took seconds (16,000: 0.28 s); linear, well under a millisecond.
    const header = `Basic ${','.repeat(64_000)}x`;
    const started = performance.now();
    assert.equal(other(header), true);
    const ms = performance.now() - started;
    assert.ok(ms < 250, `took ${ms.toFixed(0)} ms`);
  });

  it('keeps its meaning: only commas and spaces are no header of another scheme', () => {
    for (const [h, expected] of [
      ['', false], ['  ', false], [',', false], [',,,', false], [' , ', false], ['Basic abc', true], [',Basic abc,', true],
      [', ,', true], ['x', true], [',x', true], ['x,', true],
    ] as const) {
      assert.equal(other(h), expected, JSON.stringify(h));
    }
  });
});
