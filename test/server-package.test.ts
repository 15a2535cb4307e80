// The server installs as a package: pack it as `npm pack` would for a release, install the tarball
// into an empty project (from the registry cache, nothing of this checkout linked), and run it as
// an operator following the README's "Installing the package" would: `warden --help`, `config
// check`, `migrate` and `serve` with NODE_ENV=production, on SQLite and PostgreSQL, the console's
// pages and their files, /docs, /openapi.json; and a program importing `warden` type-checks.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { buildCli } from './helpers/cli.js';
import { freePort, startChildWarden, type ChildWarden } from './helpers/child-warden.js';
import { scratchSchema } from './helpers/storage.js';
import { MIGRATIONS } from '../src/storage/migrations.js';

const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string; bin: Record<string, string>; main: string; types: string; exports: unknown;
  overrides: Record<string, string>; dependencies: Record<string, string>;
};
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
const pinned = (name: string) => `${name}@${lock.packages[`node_modules/${name}`]!.version}`;
const SECRET = 'a-production-secret-of-at-least-32-bytes!!';
// What `warden migrate` says of a new database: every migration of this checkout applied.
const APPLIED_ALL = new RegExp(`schema at version ${Math.max(...MIGRATIONS.map((m) => m.version))} \\(applied ${MIGRATIONS.length} migrations\\)`);

/** The README's install steps, between their markers. */
function readmeInstall(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = readme.split('<!-- server-install:start -->')[1]?.split('<!-- server-install:end -->')[0];
  assert.ok(block, 'README has the install steps between their markers');
  return block;
}

// Node 20.19 and later require() ES modules; 20.12 to 20.18 do not, as this flag makes them.
const withoutRequireEsm = process.allowedNodeEnvironmentFlags.has('--no-experimental-require-module')
  ? ['--no-experimental-require-module'] : [];

describe('warden as a package', { timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-server-pkg-'));
  const tarball = join(dir, `warden-${manifest.version}.tgz`);
  const unpacked = join(dir, 'unpacked');
  let files: string[] = [];

  before(async () => {
    await buildCli();
    // --ignore-scripts: the build above is prepare's (npm pack runs prepare, which builds again).
    await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--silent'], { cwd: root, maxBuffer: 1 << 24 });
    const { stdout } = await run('tar', ['-tzf', tarball], { maxBuffer: 1 << 24 });
    files = stdout.trim().split('\n').map((f) => f.replace(/^package\//, ''));
    mkdirSync(unpacked);
    await run('tar', ['-xzf', tarball, '-C', unpacked]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('holds what runs, and nothing of the repository besides', () => {
    const need = [
      'package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/cli.js',
      ...readdirSync(join(root, 'src/console/static')).map((f) => `dist/console/static/${f}`),
    ];
    assert.deepEqual(need.filter((f) => !files.includes(f)), []);
    const stray = files.filter((f) => /^(src|test|bench|scripts|examples|docs|\.ci)\//.test(f) || /(^|\/)\.env|\.map$|\.tsbuildinfo$|\.test\./.test(f));
    assert.deepEqual(stray.filter((f) => !f.startsWith('node_modules/')), []);
    const targets = [manifest.main, manifest.types, ...Object.values(manifest.bin)];
    const walk = (v: unknown): void => {
      if (typeof v === 'string') targets.push(v);
      else if (v && typeof v === 'object') for (const [k, w] of Object.entries(v)) if (k !== 'warden-source') walk(w);
    };
    walk(manifest.exports);
    assert.deepEqual(targets.map((t) => t.replace(/^\.\//, '')).filter((t) => !files.includes(t)), []);
  });

  it('carries @warden/toolkit, which is on no registry, inside it', () => {
    // Without it, `npm install warden-<version>.tgz` asks the registry for @warden/toolkit: a 404,
    // or whatever someone else published under that name.
    assert.ok(files.includes('node_modules/@warden/toolkit/package.json'), 'the toolkit is bundled');
    assert.ok(files.includes('node_modules/@warden/toolkit/dist/index.js'), 'built');
    assert.deepEqual(files.filter((f) => f.startsWith('node_modules/@warden/toolkit/src/')), []);
  });

  it('names no source map it does not hold', () => {
    const dangling = files.filter((f) => f.endsWith('.js')).flatMap((f) => {
      const map = /^\/\/# sourceMappingURL=(.+)$/m.exec(readFileSync(join(unpacked, 'package', f), 'utf8'))?.[1];
      return map !== undefined && !files.includes(join(dirname(f), map)) ? [`${f} -> ${map}`] : [];
    });
    assert.deepEqual(dangling.slice(0, 5), [], `${dangling.length} files name a source map the package lacks`);
  });

  it('depends on what its JavaScript imports, and on nothing else', () => {
    // A package is what its code imports (from, import(), require(), createRequire().resolve()):
    // one only the tests or the benchmarks import is a devDependency.
    const name = String.raw`((?:@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*(?:\/[\w./-]*)?)`;
    const forms = [String.raw`\bfrom\s*'${name}'`, String.raw`\bimport\s*'${name}'`, String.raw`\bimport\(\s*'${name}'\s*\)`,
      String.raw`\brequire\(\s*'${name}'\s*\)`, String.raw`\)\.resolve\(\s*'${name}'\s*\)`].map((f) => new RegExp(f, 'g'));
    const imported = new Set<string>();
    for (const f of files.filter((x) => x.startsWith('dist/') && x.endsWith('.js'))) {
      const text = readFileSync(join(unpacked, 'package', f), 'utf8');
      for (const form of forms) {
        for (const m of text.matchAll(form)) {
          const spec = m[1]!;
          if (!spec.startsWith('node:')) imported.add(spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/'));
        }
      }
    }
    const declared = Object.keys(manifest.dependencies);
    assert.deepEqual(declared.filter((d) => !imported.has(d)), [], 'dependencies nothing in dist/ imports');
    assert.deepEqual([...imported].filter((d) => !declared.includes(d)).sort(), [], 'imports of packages not declared');
  });

  describe('installed into an empty project as the README says', () => {
    const app = join(dir, 'app');
    const env = (more: Record<string, string>) => ({ NODE_ENV: 'production', SECRET_KEY: SECRET, DATA_DIR: join(app, 'data'), ...more });
    const warden = async (args: string[], more: Record<string, string> = {}, input?: string) => {
      const p = run(process.execPath, [...withoutRequireEsm, join(app, 'node_modules/.bin/warden'), ...args], {
        cwd: app, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env(more) },
      });
      if (input !== undefined) p.child.stdin!.end(input);
      return p;
    };

    before(async () => {
      const steps = readmeInstall();
      assert.match(steps, /npm install --omit=dev \/path\/to\/warden-<version>\.tgz/);
      for (const [name, range] of Object.entries(manifest.overrides)) {
        assert.ok(steps.includes(`overrides.${name}=${range}`), `the README's steps set the override of ${name} that package.json sets`);
      }
      mkdirSync(app);
      // What `npm init -y` and the README's `npm pkg set overrides…` leave, and the packages the
      // type check below needs.
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'warden-deployment', private: true, type: 'module', overrides: manifest.overrides }));
      // better-sqlite3 at the checkout's release, so its compiled addon serves (no compiler run here:
      // --ignore-scripts); everything else as npm resolves it for anyone.
      await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball,
        pinned('better-sqlite3'), pinned('typescript'), pinned('@types/node')], { cwd: app, timeout: 300_000, maxBuffer: 1 << 24 });
      const addon = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node';
      mkdirSync(join(app, 'node_modules/better-sqlite3/build/Release'), { recursive: true });
      cpSync(join(root, addon), join(app, addon));
    });

    it('holds no copy of a devDependency, nor of this checkout', async () => {
      const { stdout } = await run('npm', ['ls', '--all', '--parseable', 'warden'], { cwd: app, maxBuffer: 1 << 24 });
      assert.ok(stdout.includes(join(app, 'node_modules/warden')), 'installed, not linked');
      assert.ok(!stdout.includes(root), 'nothing linked to the checkout');
      const { stdout: tree } = await run('npm', ['ls', '--all', '--parseable', '--omit=dev'], { cwd: app, maxBuffer: 1 << 24 });
      const devOnly = ['tsx', 'smtp-server', 'mailparser', 'playwright-core', 'autocannon', '@fastify/jwt'];
      assert.deepEqual(tree.split('\n').filter((p) => devOnly.some((d) => p.endsWith(`/node_modules/${d}`))), []);
    });

    it('warden --help, config check, migrate, users create; then serves on SQLite with NODE_ENV=production', async () => {
      const help = await warden(['--help']);
      assert.match(help.stdout, /Usage: warden/);
      const check = await warden(['config', 'check']);
      assert.match(check.stdout, /NODE_ENV\s+production/);
      const migrated = await warden(['migrate']);
      assert.match(migrated.stdout, APPLIED_ALL);
      await warden(['users', 'create', '--username', 'admin1', '--email', 'admin1@example.com', '--roles', 'admin', '--password-stdin'], {}, 'admin-password-123');
      const port = await freePort();
      const served = await serve(port, env({}));
      try {
        await signsInAndServesItsPages(served.url);
      } finally {
        await served.stop();
      }
    });

    describe('on PostgreSQL', async () => {
      const { url, skip, schema } = await scratchSchema('pkg');
      it('migrates a schema of its own and serves from it', { skip }, async () => {
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        await c.query(`CREATE SCHEMA ${schema}`);
        await c.end();
        const at = new URL(url!);
        at.searchParams.set('options', `-c search_path=${schema}`);
        const DATABASE_URL = at.toString();
        const migrated = await warden(['migrate'], { DATABASE_URL });
        assert.match(migrated.stdout, APPLIED_ALL);
        await warden(['users', 'create', '--username', 'admin1', '--email', 'admin1@example.com', '--roles', 'admin', '--password-stdin'], { DATABASE_URL }, 'admin-password-123');
        const served = await serve(await freePort(), env({ DATABASE_URL }));
        try {
          await signsInAndServesItsPages(served.url);
        } finally {
          await served.stop();
        }
      });
    });

    function serve(port: number, vars: Record<string, string>): Promise<ChildWarden> {
      return startChildWarden(port, { ...vars, COOKIE_SECURE: 'false' }, 60_000, [...withoutRequireEsm, join(app, 'node_modules/.bin/warden'), 'serve'], app);
    }

    async function signsInAndServesItsPages(base: string): Promise<void> {
      const signin = await fetch(`${base}/api/auth/signin`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin1', password: 'admin-password-123' }),
      });
      assert.equal(signin.status, 200);
      const { access_token: token } = (await signin.json()) as { access_token: string };
      const users = await fetch(`${base}/api/users`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(users.status, 200);
      const doc = await fetch(`${base}/openapi.json`);
      assert.equal(doc.status, 200);
      assert.equal(((await doc.json()) as { info: { version: string } }).info.version, manifest.version);
      const docs = await fetch(`${base}/docs`);
      assert.equal(docs.status, 200);
      assert.match(await docs.text(), /swagger-ui/i);
      for (const page of ['/account', '/admin']) {
        const res = await fetch(`${base}${page}`);
        assert.equal(res.status, 200, page);
        const html = await res.text();
        const assets = [...html.matchAll(/(?:src|href)="(\/console\/static\/[^"]+)"/g)].map((m) => m[1]!);
        assert.ok(assets.length >= 2, `${page} names its script and stylesheet`);
        for (const a of assets) assert.equal((await fetch(`${base}${a}`)).status, 200, a);
      }
    }

    it('a program importing `warden` type-checks (strict, skipLibCheck off) under nodenext and bundler, and runs', async () => {
      writeFileSync(join(app, 'main.ts'), [
        "import { createWarden, loadConfig, type Config, type Warden } from 'warden';",
        "const config: Config = loadConfig({ DATABASE_URL: 'memory:', SECRET_KEY: process.env.SECRET_KEY!, NODE_ENV: 'production', LOG_LEVEL: 'silent' });",
        'const warden: Warden = await createWarden(config);',
        "const res = await warden.app.inject({ method: 'GET', url: '/openapi.json' });",
        'console.log(res.statusCode);',
        'await warden.close();',
      ].join('\n'));
      for (const [module, moduleResolution] of [['NodeNext', 'NodeNext'], ['ESNext', 'Bundler']]) {
        writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
          compilerOptions: { target: 'ES2022', module, moduleResolution, strict: true, skipLibCheck: false, outDir: 'out', types: ['node'] },
          files: ['main.ts'],
        }));
        await run(join(app, 'node_modules/.bin/tsc'), ['-p', app], { cwd: app });
      }
      const { stdout } = await run(process.execPath, [...withoutRequireEsm, join(app, 'out/main.js')], { cwd: app, env: { ...process.env, SECRET_KEY: SECRET } });
      assert.equal(stdout.trim(), '200');
    });
  });
});
