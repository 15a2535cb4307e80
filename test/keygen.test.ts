// `warden keygen`: private JWKs for JWKS_FILE, appended safely, loadable as the server loads them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, lstatSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { keygen } from '../src/keygen.js';
import { keyRingFromJwks, publicJwks } from '../toolkit/src/tokens/index.js';
import { loadKeyRing } from '../src/keyring.js';
import { buildCli, CLI, ROOT } from './helpers/cli.js';

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

  it('a JWKS reached through a symlink is replaced where the link points, the link kept', () => {
    const real = join(dir, 'real.json');
    const link = join(dir, 'link.json');
    keygen(['EdDSA', '--jwks', real, '--kid', 'first']);
    symlinkSync(real, link);
    keygen(['EdDSA', '--jwks', link, '--kid', 'second']);
    assert.ok(lstatSync(link).isSymbolicLink(), 'the link stays a link');
    assert.deepEqual(JSON.parse(readFileSync(real, 'utf8')).keys.map((k: { kid: string }) => k.kid), ['first', 'second']);
  });

  it('a JWKS bind-mounted on its own (docker -v ./jwks.json:/etc/warden/jwks.json), which no rename can replace, is rewritten in place', (t) => {
    const source = join(dir, 'mounted-source.json');
    const mountPoint = join(dir, 'mounted.json');
    keygen(['EdDSA', '--jwks', source, '--kid', 'first']);
    writeFileSync(mountPoint, '');
    if (spawnSync('mount', ['--bind', source, mountPoint]).status !== 0) {
      t.skip('mount --bind is not permitted here (needs root)');
      return;
    }
    try {
      keygen(['EdDSA', '--jwks', mountPoint, '--kid', 'second']);
      assert.deepEqual(JSON.parse(readFileSync(source, 'utf8')).keys.map((k: { kid: string }) => k.kid), ['first', 'second']);
    } finally {
      spawnSync('umount', [mountPoint]);
    }
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no leftover');
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

// Debian's strace kills the process at a chosen system call (fault injection), as an OOM kill or a
// power loss would stop it: no JavaScript runs after it.
const strace = spawnSync('strace', ['-V'], { encoding: 'utf8' }).status === 0 ? undefined : 'strace is not installed (Debian package strace)';

describe('warden keygen --jwks killed while it writes', { skip: strace }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-keygen-kill-'));
  before(() => buildCli(), { timeout: 300_000 });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /**
   * Runs `warden keygen EdDSA --kid second --jwks FILE`, SIGKILLed on entering its first call of
   * `syscalls` (of those naming FILE, with `onFile`); whether it was killed.
   */
  const killedAt = (file: string, syscalls: string, onFile: boolean): boolean => {
    const r = spawnSync('strace', [
      '-f', '-qq', ...(onFile ? ['-P', file] : []), '-e', `trace=${syscalls}`, '-e', `inject=${syscalls}:signal=KILL`,
      process.execPath, CLI, 'keygen', 'EdDSA', '--kid', 'second', '--jwks', file,
    ], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' } });
    assert.equal(r.status ?? 0, 0, r.stderr);
    return r.stderr.includes('killed by SIGKILL');
  };

  // Rewritten in place, the file was empty once the process died between truncating and writing
  // it: every key in it gone, the one the server signs with too, and the server refused to start.
  const cases = [
    { when: 'as it writes the file', syscalls: 'write,pwrite64,writev', onFile: true },
    { when: 'as it flushes what it wrote', syscalls: 'fsync,fdatasync', onFile: false },
    { when: 'as it gives the new file the name', syscalls: 'rename,renameat,renameat2', onFile: false },
  ];
  for (const [i, c] of cases.entries()) {
    it(`${c.when}: the file holds its keys as before, or the new key too; never less`, () => {
      const file = join(dir, `case${i}.json`);
      keygen(['EdDSA', '--jwks', file, '--kid', 'first']);
      const killed = killedAt(file, c.syscalls, c.onFile);
      const kids = JSON.parse(readFileSync(file, 'utf8')).keys.map((k: { kid: string }) => k.kid);
      assert.deepEqual(kids, killed ? ['first'] : ['first', 'second']);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      keyRingFromJwks(JSON.parse(readFileSync(file, 'utf8')));
    });
  }

  it('a leftover from a killed run does not stop the next one', () => {
    const file = join(dir, 'again.json');
    keygen(['EdDSA', '--jwks', file, '--kid', 'first']);
    assert.ok(killedAt(file, 'rename,renameat,renameat2', false), 'killed');
    assert.ok(readdirSync(dir).some((n) => n.startsWith('.again.json.')), 'the new file it made is left');
    assert.match(keygen(['EdDSA', '--jwks', file, '--kid', 'third']), /added key "third"/);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')).keys.map((k: { kid: string }) => k.kid), ['first', 'third']);
  });
});

describe('a development start killed while it writes the key it generated', { skip: strace }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-devkey-kill-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  // Written in place, the key file was left empty, and every later start failed on it (DATA_DIR:
  // the key is empty) until someone deleted it.
  it('leaves no key file, or a whole one: the next start signs', () => {
    const config = { keys: { algorithm: 'HS256' }, server: { dataDir: dir } };
    const load = `import { loadKeyRing } from './src/keyring.ts'; loadKeyRing(${JSON.stringify(config)});`;
    const file = join(dir, 'secret.key');
    const r = spawnSync('strace', [
      '-f', '-qq', '-P', file, '-e', 'trace=write,pwrite64,writev', '-e', 'inject=write,pwrite64,writev:signal=KILL',
      process.execPath, '--conditions=warden-source', '--import', 'tsx', '--input-type=module', '-e', load,
    ], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' } });
    assert.equal(r.status ?? 0, 0, r.stderr);
    const ring = loadKeyRing(config as Parameters<typeof loadKeyRing>[0]).ring;
    assert.equal(ring.signer.alg, 'HS256');
    assert.ok(readFileSync(file, 'utf8').trim().length >= 32);
  });
});
