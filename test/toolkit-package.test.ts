// The toolkit installs on its own: pack it as npm would publish it, install the tarball into an
// empty project (from the registry cache where it can), type-check the README's guard example and
// toolkit/README.md's there, and run them against a real Warden (EdDSA through JWKS; HS256 shared).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startServer, TEST_SECRET, type Running } from './helpers/server.js';

const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
const pinned = (name: string) => `${name}@${lock.packages[`node_modules/${name}`]!.version}`;

function readmeExample(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = readme.split('<!-- toolkit-example:start -->')[1]?.split('<!-- toolkit-example:end -->')[0];
  const code = block?.match(/```ts\n([\s\S]*?)```/)?.[1];
  assert.ok(code, 'README has the toolkit example between its markers');
  return code;
}

/** toolkit/README.md's examples, in order, verifying against `process.env.WARDEN_JWKS_URL` rather than auth.example.com. */
function toolkitReadmeExamples(): string[] {
  const readme = readFileSync(join(root, 'toolkit/README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.equal(blocks.length, 3, 'the toolkit README has its guard example, its core example and its shared-secret verify');
  return blocks.map((b) => b.replaceAll("'https://auth.example.com/.well-known/jwks.json'", 'process.env.WARDEN_JWKS_URL!'));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

describe('@warden/toolkit as a package', { timeout: 240_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-toolkit-pkg-'));
  let tarball = '';

  before(async () => {
    await run('npm', ['pack', '-w', '@warden/toolkit', '--pack-destination', dir, '--silent'], { cwd: root });
    tarball = readdirSync(dir).find((f) => f.endsWith('.tgz')) ?? '';
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /**
   * An empty ES module project at `app` holding `files`, type-checked strictly with skipLibCheck off
   * (compiled to out/), with the packed toolkit (or `toolkit`, npm install's arguments for it) and
   * `deps` installed from the registry.
   */
  async function project(app: string, files: Record<string, string>, deps: string[], toolkit = [join(dir, tarball)]): Promise<void> {
    await run('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: basename(app), private: true, type: 'module' }));
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out', types: ['node'], skipLibCheck: false },
      include: Object.keys(files),
    }));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(app, name), text);
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', ...toolkit, ...deps], { cwd: app, timeout: 180_000 });
  }

  it('the tarball holds the built JavaScript and its types, and no TypeScript sources or tests', async () => {
    assert.match(tarball, /^warden-toolkit-\d+\.\d+\.\d+\.tgz$/);
    const { stdout } = await run('tar', ['-tzf', join(dir, tarball)]);
    const files = stdout.trim().split('\n');
    assert.ok(files.includes('package/dist/index.js'));
    assert.ok(files.includes('package/dist/index.d.ts'));
    assert.ok(files.includes('package/package.json'));
    assert.ok(files.includes('package/README.md') && files.includes('package/LICENSE'), 'its README and licence travel with it');
    assert.deepEqual(files.filter((f) => f.startsWith('package/src/') || /\.test\.|\.map$/.test(f)), []);
  });

  it('its manifest names only files it holds, and runs nothing at install', async () => {
    const { stdout: listing } = await run('tar', ['-tzf', join(dir, tarball)]);
    const files = new Set(listing.trim().split('\n').map((f) => f.replace(/^package\//, '')));
    const { stdout } = await run('tar', ['-xOzf', join(dir, tarball), 'package/package.json']);
    const manifest = JSON.parse(stdout) as { exports: unknown; main: string; types: string; scripts?: Record<string, string> };
    // Every target of every condition a consumer may resolve with (TypeScript's customConditions,
    // node --conditions; `source` is a common one) must be in the package. `warden-source` is this
    // repository's own, for its tests to run the TypeScript: no one else names it.
    const targets: string[] = [manifest.main, manifest.types];
    const walk = (v: unknown): void => {
      if (typeof v === 'string') targets.push(v);
      else if (v && typeof v === 'object') for (const [k, w] of Object.entries(v)) if (k !== 'warden-source') walk(w);
    };
    walk(manifest.exports);
    assert.deepEqual(targets.map((t) => t.replace(/^\.\//, '')).filter((t) => !files.has(t)), []);
    const installScripts = Object.keys(manifest.scripts ?? {}).filter((k) => /^(pre|post)?install$|^prepare$/.test(k));
    assert.deepEqual(installScripts, [], 'npm warns about, and may refuse, install scripts');
  });

  describe('its core alone, in a project without fastify', () => {
    const app = join(dir, 'core-app');
    let warden: Running;
    before(async () => {
      // skipLibCheck off: every declaration the package ships is checked, with no fastify to lean on.
      await project(app, { 'verify.ts': [
        "import { createJwksVerifier, isWardenError } from '@warden/toolkit/core';",
        "const remote = await createJwksVerifier({ url: process.env.WARDEN_JWKS_URL!, algorithms: ['EdDSA'] });",
        'try {',
        '  console.log(remote.verify(process.argv[2] ?? \'\').claims.sub);',
        '} catch (e) {',
        "  console.log(isWardenError(e) ? e.code : 'unexpected');",
        '} finally {',
        '  remote.close();',
        '}',
      ].join('\n') }, [pinned('typescript'), pinned('@types/node')]);
      warden = await startServer({ ALGORITHM: 'EdDSA' });
    });
    after(async () => warden?.close());

    it('type-checks under strict TypeScript with nothing of fastify installed, and verifies a Warden token', async () => {
      const { stdout: tree } = await run('npm', ['ls', '--all', '--parseable'], { cwd: app });
      assert.ok(!tree.split('\n').some((p) => p.endsWith('/node_modules/fastify')), 'fastify is not in the project');
      await run(join(app, 'node_modules/.bin/tsc'), ['-p', app], { cwd: app });
      const body = JSON.stringify({ username: 'core-user', email: 'core@example.com', password: 'password-123' });
      const headers = { 'content-type': 'application/json' };
      const signup = await fetch(`${warden.url}/api/auth/signup`, { method: 'POST', headers, body });
      assert.equal(signup.status, 201);
      const signin = await fetch(`${warden.url}/api/auth/signin`, { method: 'POST', headers, body });
      const { access_token: token, id } = (await signin.json()) as { access_token: string; id: string };
      const env = { ...process.env, WARDEN_JWKS_URL: `${warden.url}/.well-known/jwks.json` };
      const verified = await run(process.execPath, [join(app, 'out/verify.js'), token], { cwd: app, env });
      assert.equal(verified.stdout.trim(), id);
      const cut = token.lastIndexOf('.') + 1; // another first character of the signature: still base64url, no longer the signature
      const forged = `${token.slice(0, cut)}${token[cut] === 'A' ? 'B' : 'A'}${token.slice(cut + 1)}`;
      const refused = await run(process.execPath, [join(app, 'out/verify.js'), forged], { cwd: app, env });
      assert.equal(refused.stdout.trim(), 'ERR_JWT_SIGNATURE_INVALID');
    });
  });

  describe('installed into an empty project', () => {
    const app = join(dir, 'app');
    let warden: Running;
    before(async () => {
      rmSync(app, { recursive: true, force: true });
      await project(app, { 'app.ts': readmeExample() }, [pinned('fastify'), pinned('typescript'), pinned('@types/node')]);
      warden = await startServer({ ALGORITHM: 'EdDSA' });
    });
    after(async () => warden?.close());

    it('has no native dependency in its tree', async () => {
      const { stdout } = await run('npm', ['ls', '--all', '--parseable', '--omit=dev'], { cwd: app });
      const native = stdout.split('\n').filter((p) => /better-sqlite3|argon2|node-gyp|bcrypt/.test(p));
      assert.deepEqual(native, []);
    });

    it('the README example type-checks under strict TypeScript and verifies a Warden token through JWKS', async () => {
      await run(join(app, 'node_modules/.bin/tsc'), ['-p', app], { cwd: app });
      const signup = await fetch(`${warden.url}/api/auth/signup`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'pkg-user', email: 'pkg@example.com', password: 'password-123' }),
      });
      assert.equal(signup.status, 201);
      const signin = await fetch(`${warden.url}/api/auth/signin`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'pkg-user', password: 'password-123' }),
      });
      const { access_token: token, id } = (await signin.json()) as { access_token: string; id: string };

      const port = await freePort();
      const child = spawn(process.execPath, [join(app, 'out/app.js')], {
        cwd: app, env: { ...process.env, PORT: String(port), WARDEN_JWKS_URL: `${warden.url}/.well-known/jwks.json` }, stdio: 'ignore',
      });
      try {
        const base = `http://127.0.0.1:${port}`;
        const deadline = Date.now() + 30_000;
        let res: Response | undefined;
        while (Date.now() < deadline) {
          res = await fetch(`${base}/orders`, { headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
          if (res) break;
          await new Promise((r) => setTimeout(r, 100)); // polling for the child to listen, bounded by the deadline
        }
        assert.ok(res, 'the example service started');
        assert.equal(res.status, 200);
        assert.deepEqual(await res.json(), { user: id });
        const anonymous = await fetch(`${base}/orders`);
        assert.equal(anonymous.status, 401);
        assert.equal(((await anonymous.json()) as { code: string }).code, 'ERR_JWT_MISSING');
      } finally {
        child.kill();
      }
    });
  });

  // What a team reading only toolkit/README.md writes: its examples, as they are, compile and do what they say.
  describe("the toolkit README's examples, installed into an empty project", () => {
    const app = join(dir, 'toolkit-readme-app');
    let warden: Running;
    before(async () => {
      const [guardExample, coreExample, secretExample] = toolkitReadmeExamples();
      await project(app, {
        'guard.ts': guardExample!,
        'core.ts': coreExample!,
        'secret.ts': secretExample!,
        'run-secret.ts': "import { verify } from './secret.js';\nconsole.log(verify(process.argv[2]!).claims.sub);",
        'run-core.ts': [
          "import { isWardenError } from '@warden/toolkit/core';",
          "import { userOf } from './core.js';",
          'for (const header of process.argv.slice(2)) {',
          '  try {',
          "    console.log(userOf(header === '-' ? undefined : header));",
          '  } catch (e) {',
          "    console.log(isWardenError(e) ? `${e.status} ${e.code}` : 'unexpected');",
          '  }',
          '}',
        ].join('\n'),
        // "a CommonJS service require()s it ... in TypeScript, with module nodenext"
        'service.cts': [
          "import { createJwksVerifier } from '@warden/toolkit/core';",
          "import { wardenGuard } from '@warden/toolkit';",
          'void createJwksVerifier({ url: process.env.WARDEN_JWKS_URL! }).then((remote) => {',
          '  console.log(typeof wardenGuard, remote.verify(process.argv[2]!).claims.sub);',
          '  remote.close();',
          '});',
        ].join('\n'),
      }, [pinned('fastify'), pinned('typescript'), pinned('@types/node')]);
      warden = await startServer({ ALGORITHM: 'EdDSA' });
    });
    after(async () => warden?.close());

    it("the shared-secret verify takes the tokens of a Warden signing with HS256, its default", async () => {
      await run(join(app, 'node_modules/.bin/tsc'), ['-p', app], { cwd: app });
      const hs = await startServer();
      try {
        const body = JSON.stringify({ username: 'secret-user', email: 'secret@example.com', password: 'password-123' });
        const headers = { 'content-type': 'application/json' };
        assert.equal((await fetch(`${hs.url}/api/auth/signup`, { method: 'POST', headers, body })).status, 201);
        const t = (await (await fetch(`${hs.url}/api/auth/signin`, { method: 'POST', headers, body })).json()) as { access_token: string; id: string };
        const { stdout } = await run(process.execPath, [join(app, 'out/run-secret.js'), t.access_token], { cwd: app, env: { ...process.env, SECRET_KEY: TEST_SECRET } });
        assert.equal(stdout.trim(), t.id);
      } finally {
        await hs.close();
      }
    });

    it('type-check under strict TypeScript, the core one takes an access token and refuses the rest, and CommonJS requires both entries', async () => {
      await run(join(app, 'node_modules/.bin/tsc'), ['-p', app], { cwd: app });
      const body = JSON.stringify({ username: 'readme-user', email: 'readme@example.com', password: 'password-123' });
      const headers = { 'content-type': 'application/json' };
      assert.equal((await fetch(`${warden.url}/api/auth/signup`, { method: 'POST', headers, body })).status, 201);
      const signin = await fetch(`${warden.url}/api/auth/signin`, { method: 'POST', headers, body });
      const t = (await signin.json()) as { access_token: string; refresh_token: string; id: string };
      const env = { ...process.env, WARDEN_JWKS_URL: `${warden.url}/.well-known/jwks.json` };
      const { stdout } = await run(process.execPath, [
        join(app, 'out/run-core.js'), `Bearer ${t.access_token}`, `Bearer ${t.refresh_token}`, '-', `Basic ${Buffer.from('a:b').toString('base64')}`,
      ], { cwd: app, env });
      assert.deepEqual(stdout.trim().split('\n'), [t.id, '401 ERR_JWT_WRONG_TYPE', '401 ERR_JWT_MISSING', '401 ERR_JWT_MISSING']);

      // "a CommonJS service require()s it on Node 20.19 or later": service.cts compiled to require() calls.
      assert.match(readFileSync(join(app, 'out/service.cjs'), 'utf8'), /require\("@warden\/toolkit\/core"\)/);
      const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
      if (major > 20 || minor >= 19) {
        const cjs = await run(process.execPath, [join(app, 'out/service.cjs'), t.access_token], { cwd: app, env });
        assert.equal(cjs.stdout.trim(), `function ${t.id}`);
      }
    });
  });

  // The README's other way: from a built checkout's toolkit/ folder. npm's default for a folder is a
  // link, through which the guard's declarations read the checkout's fastify: a service on another
  // fastify release then fails to type-check (FastifyRequest lacks `jwt`). --install-links copies it.
  describe("installed from the checkout's toolkit/ folder, with another fastify release than the checkout's", () => {
    const app = join(dir, 'app-from-folder');
    before(async () => {
      const other = `fastify@>=5.0.0 <${lock.packages['node_modules/fastify']!.version}`;
      await project(app, { 'app.ts': readmeExample() }, [other, pinned('typescript'), pinned('@types/node')], ['--install-links', join(root, 'toolkit')]);
    });

    it('the README example type-checks under strict TypeScript', async () => {
      const { stdout } = await run('npm', ['ls', 'fastify', '--depth=0', '--parseable', '--long'], { cwd: app });
      assert.ok(!stdout.includes(pinned('fastify')), `a fastify other than the checkout's: ${stdout}`);
      await run(join(app, 'node_modules/.bin/tsc'), ['-p', app], { cwd: app });
    });
  });

  // A service installs whatever @types/node is current, not the one this repository pins: 25 and
  // later no longer export node:crypto's JsonWebKey, which the declarations once imported.
  describe('type-checked with a current @types/node', () => {
    const app = join(dir, 'app-current-types');
    before(async () => {
      await project(app, {
        'app.ts': readmeExample(),
        'keys.ts': [
          "import { generateKeyPairSync } from 'node:crypto';",
          "import { keyRingFromPem, publicJwks } from '@warden/toolkit/core';",
          "const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();",
          "const kid: string | undefined = publicJwks(keyRingFromPem({ alg: 'EdDSA', privateKeyPem: pem })).keys[0]?.kid;",
          'console.log(kid);',
        ].join('\n'),
      }, [pinned('fastify'), pinned('typescript'), '@types/node@26.6.6']);
    });

    it('the README example and publicJwks type-check under strict TypeScript, skipLibCheck off', async () => {
      await run(join(app, 'node_modules/.bin/tsc'), ['-p', app], { cwd: app });
    });
  });
});
