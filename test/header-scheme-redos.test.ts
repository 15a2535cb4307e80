// An Authorization header of another scheme (HTTP Basic in front of a cookie) is told apart from an
// empty one by headerOfOtherScheme. Its check once stripped the header's outer commas with
// /^,+|,+$/g, which backtracks quadratically on "Basic ,,,,…x": a single 16 KB header (Node's
// limit) held the event loop about 0.3 s, so a few requests a second from anyone, no token needed,
// stopped every other request. The answer must stay the same, in time linear in the header.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { headerOfOtherScheme, DEFAULT_LOCATION_SETTINGS } from '../toolkit/src/guard/locations.js';
import { call, startServer, type Running } from './helpers/server.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

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

  it('is judged in time linear in its length: a million commas are a moment\'s work, where the backtracking took minutes', () => {
    // In a child process, so that the quadratic check (about 25 minutes for this header) is killed
    // at the bound rather than holding the test runner: the bound is a hang guard, not a timing.
    const script = [
      "import { headerOfOtherScheme, DEFAULT_LOCATION_SETTINGS } from './toolkit/src/guard/locations.ts';",
      "const authorization = 'Basic ' + ','.repeat(1_000_000) + 'x';",
      'process.stdout.write(String(headerOfOtherScheme({ headers: { authorization }, method: "GET" }, DEFAULT_LOCATION_SETTINGS)));',
    ].join('\n');
    const r = spawnSync(process.execPath, ['--conditions=warden-source', '--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT, encoding: 'utf8', timeout: 30_000,
    });
    assert.equal(r.signal, null, 'killed at the bound: the check did not finish');
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'true');
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
