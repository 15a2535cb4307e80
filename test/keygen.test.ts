// `warden keygen`: private JWKs for JWKS_FILE, appended safely, loadable as the server loads them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { keygen } from '../src/keygen.js';
import { keyRingFromJwks, publicJwks } from '../toolkit/src/tokens/index.js';
import { buildCli, CLI } from './helpers/cli.js';

describe('keygen', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-keygen-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('appends keys of any algorithm to a 0600 JWKS the server can load; the first signs', () => {
    const file = join(dir, 'keys.json');
    assert.match(keygen(['EdDSA', '--jwks', file, '--kid', 'one']), /added key "one"/);
    assert.match(keygen(['RS256', '--jwks', file, '--kid', 'two']), /JWKS_SIGNING_KID=two/);
    assert.match(keygen(['HS512', '--jwks', file]), /hs512-/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const jwks = JSON.parse(readFileSync(file, 'utf8'));
    assert.deepEqual(jwks.keys.map((k: { alg: string }) => k.alg), ['EdDSA', 'RS256', 'HS512']);
    const ring = keyRingFromJwks(jwks);
    assert.equal(ring.signer.kid, 'one');
    assert.equal(keyRingFromJwks(jwks, { signingKid: 'two' }).signer.alg, 'RS256');
    assert.deepEqual(publicJwks(ring).keys.map((k) => k.kid), ['one', 'two'], 'the HMAC key is never published');
  });

  it('refuses a duplicate kid, an unknown algorithm, and no algorithm', () => {
    const file = join(dir, 'dup.json');
    keygen(['ES256', '--jwks', file, '--kid', 'k']);
    assert.throws(() => keygen(['ES256', '--jwks', file, '--kid', 'k']), /already has a key "k"/);
    assert.throws(() => keygen(['HS1']), /unknown algorithm/);
    assert.throws(() => keygen([]), /usage/);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).keys.length, 1, 'a refused call changes nothing');
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"keys": [');
    assert.throws(() => keygen(['ES256', '--jwks', broken]), (e: Error) => e.message.startsWith(`${broken} is not a JWKS file (`));
  });

  it('without --jwks prints a one-key JWKS', () => {
    const out = JSON.parse(keygen(['ES384', '--kid', 'printed']));
    assert.equal(out.keys[0].kid, 'printed');
    assert.equal(out.keys[0].crv, 'P-384');
    assert.ok(out.keys[0].d);
  });
});

describe('warden keygen > FILE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-keygen-cli-'));
  before(() => buildCli(), { timeout: 300_000 });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the file the shell made for the printed private key is left readable by its owner only', () => {
    const file = join(dir, 'new.json');
    const fd = openSync(file, 'w', 0o644); // as `> new.json` under umask 022
    try {
      const r = spawnSync(process.execPath, [CLI, 'keygen', 'EdDSA'], { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8', env: { ...process.env, SECRET_KEY: 'k'.repeat(32) } });
      assert.equal(r.status, 0, r.stderr);
    } finally {
      closeSync(fd);
    }
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(JSON.parse(readFileSync(file, 'utf8')).keys[0].d, 'the private key was written');
  });
});
