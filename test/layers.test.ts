// Imports run one way: cli/server -> http -> accounts -> (revocation | storage | @warden/toolkit),
// and the toolkit imports nothing of the server. This test parses every import of src/ and
// toolkit/src/ (static, re-exports, dynamic, type-only) and fails on any the table below does not
// allow. A new folder must be given a row: a file no row claims fails too.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface Layer {
  name: string;
  /** Files (exact) or folders (ending in '/'), relative to the repository; the first row that matches a file claims it. */
  files: string[];
  /** Layers this one may import; `{ layer, typeOnly }` allows only `import type`/`export type`. */
  mayImport: (string | { layer: string; typeOnly: true })[];
  /** Packages this layer must not import (by name or scope prefix). */
  forbiddenPackages?: string[];
  /** Exceptions to forbiddenPackages (a library that only shares the forbidden scope). */
  allowedPackages?: string[];
}

const NATIVE_OR_SERVER_PACKAGES = ['better-sqlite3', '@node-rs/argon2', 'pg', 'ioredis', 'pino', 'warden'];
const HTTP_PACKAGES = ['fastify', 'fastify-plugin', '@fastify/'];

const LAYERS: Layer[] = [
  { name: 'toolkit', files: ['toolkit/src/'], mayImport: ['toolkit'], forbiddenPackages: NATIVE_OR_SERVER_PACKAGES },
  {
    name: 'config', files: ['src/config.ts', 'src/config/'], mayImport: ['config', 'storage', 'event-records', 'toolkit'], forbiddenPackages: HTTP_PACKAGES,
    // TRUST_PROXY is validated by the address parser Fastify itself uses: a pure library, no server.
    allowedPackages: ['@fastify/proxy-addr'],
  },
  // UUIDv7 ids (events, sessions): a leaf any layer may import.
  { name: 'ids', files: ['src/ids/'], mayImport: [], forbiddenPackages: [...HTTP_PACKAGES, ...NATIVE_OR_SERVER_PACKAGES] },
  // The record types are what storage implements the revocation store with: a layer of their own.
  { name: 'revocation-records', files: ['src/revocation/records.ts'], mayImport: [], forbiddenPackages: HTTP_PACKAGES },
  { name: 'revocation', files: ['src/revocation/'], mayImport: ['revocation', 'revocation-records', 'ids', 'toolkit'], forbiddenPackages: HTTP_PACKAGES },
  // Likewise the event stream's vocabulary and store contracts, which storage implements.
  { name: 'event-records', files: ['src/events/records.ts'], mayImport: [], forbiddenPackages: HTTP_PACKAGES },
  {
    name: 'storage', files: ['src/storage/'],
    mayImport: ['storage', { layer: 'revocation-records', typeOnly: true }, { layer: 'event-records', typeOnly: true }],
    forbiddenPackages: HTTP_PACKAGES,
  },
  // Rate-limit counters (memory or Redis): nothing of Warden's below them.
  { name: 'limits', files: ['src/limits/'], mayImport: ['limits'], forbiddenPackages: HTTP_PACKAGES },
  // Mail out (templates, transport, the outbox worker): it stores through storage's contract and
  // knows neither accounts nor HTTP.
  { name: 'mail', files: ['src/mail/'], mayImport: ['mail', { layer: 'storage', typeOnly: true }], forbiddenPackages: HTTP_PACKAGES },
  // The event log (building events, webhook delivery, audit queries, retention): over storage.
  { name: 'events', files: ['src/events/'], mayImport: ['events', 'event-records', 'ids', 'storage', 'toolkit'], forbiddenPackages: HTTP_PACKAGES },
  // Prometheus metrics: prom-client and plain numbers handed in; no HTTP framework, no storage.
  { name: 'metrics', files: ['src/metrics/'], mayImport: ['metrics', 'event-records'], forbiddenPackages: [...HTTP_PACKAGES, ...NATIVE_OR_SERVER_PACKAGES] },
  {
    name: 'accounts', files: ['src/accounts/'],
    // Accounts queue mails through the MailQueue interface only; the server wires the outbox in.
    mayImport: [
      'accounts', 'events', 'event-records', 'revocation', 'revocation-records', 'storage', 'toolkit', 'limits', { layer: 'mail', typeOnly: true },
    ],
    forbiddenPackages: HTTP_PACKAGES,
  },
  // limits: the client address (limits/client-key.ts), which request.ip is read into and TRUST_PROXY judges entries by.
  { name: 'http', files: ['src/http/'], mayImport: ['http', 'accounts', 'events', 'event-records', 'metrics', 'storage', 'config', 'toolkit', 'limits'] },
  // The web console's pages: HTML shells and their assets. It reaches users through the public API
  // from the browser, so it takes only HTML helpers from http and its settings from config.
  { name: 'console', files: ['src/console/'], mayImport: ['console', 'http', 'config'], forbiddenPackages: NATIVE_OR_SERVER_PACKAGES },
  {
    name: 'server', files: ['src/server.ts', 'src/index.ts', 'src/keyring.ts', 'src/keygen.ts', 'src/key-file.ts', 'src/email.ts', 'src/password-policy.ts'],
    mayImport: [
      'server', 'console', 'http', 'accounts', 'events', 'event-records', 'metrics', 'revocation', 'revocation-records', 'storage', 'config', 'toolkit',
      'mail', 'limits',
    ],
  },
  // The `warden` command: wires accounts, storage and revocation as the server does, without HTTP.
  {
    name: 'cli', files: ['src/cli.ts', 'src/cli/'],
    mayImport: ['cli', 'server', 'accounts', 'events', 'event-records', 'revocation', 'revocation-records', 'storage', 'config', 'toolkit', 'mail'],
    forbiddenPackages: HTTP_PACKAGES,
  },
];

/** Edges the code is known to have: if the parser stopped seeing imports, these would vanish. */
const KNOWN_EDGES = [
  'server -> http', 'server -> accounts', 'server -> revocation', 'http -> accounts', 'http -> config',
  'accounts -> revocation', 'accounts -> storage', 'accounts -> toolkit', 'storage -> revocation-records',
  'revocation -> revocation-records', 'toolkit -> toolkit', 'config -> toolkit',
  'accounts -> mail', 'accounts -> limits', 'mail -> storage', 'server -> mail', 'cli -> accounts', 'cli -> server',
  'server -> console', 'console -> http', 'console -> config', 'events -> ids', 'revocation -> ids',
];

interface Import {
  from: string; // repository-relative file
  specifier: string;
  typeOnly: boolean;
}

function importsOf(file: string, text: string): Import[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: Import[] = [];
  const add = (spec: ts.Expression | undefined, typeOnly: boolean) => {
    if (spec !== undefined && ts.isStringLiteralLike(spec)) out.push({ from: file, specifier: spec.text, typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const c = node.importClause;
      const named = c?.namedBindings;
      const allTypes = c !== undefined && (c.isTypeOnly || (c.name === undefined && named !== undefined &&
        ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier, allTypes);
    } else if (ts.isExportDeclaration(node)) {
      const e = node.exportClause;
      const allTypes = node.isTypeOnly || (e !== undefined && ts.isNamedExports(e) && e.elements.length > 0 && e.elements.every((x) => x.isTypeOnly));
      add(node.moduleSpecifier, allTypes);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node.arguments[0], false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal as ts.Expression, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function layerOf(file: string, layers: Layer[]): Layer | undefined {
  return layers.find((l) => l.files.some((f) => (f.endsWith('/') ? file.startsWith(f) : file === f)));
}

/** The repository file a relative specifier names (NodeNext: './x.js' is './x.ts'), or undefined. */
function resolveRelative(from: string, specifier: string, exists: (f: string) => boolean): string | undefined {
  const base = join(dirname(from), specifier);
  const candidates = [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, join(base, 'index.ts')];
  return candidates.find(exists);
}

const packageName = (s: string): string => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!);

interface Checked {
  violations: string[];
  edges: Set<string>;
  imports: number;
}

/** Checks every import of these files against the layer table. */
function check(files: Map<string, string>, layers: Layer[]): Checked {
  const violations: string[] = [];
  const edges = new Set<string>();
  let imports = 0;
  const exists = (f: string) => files.has(f);
  for (const [file, text] of files) {
    const layer = layerOf(file, layers);
    if (layer === undefined) {
      violations.push(`${file}: no layer claims this file; add it to the table in test/layers.test.ts`);
      continue;
    }
    for (const imp of importsOf(file, text)) {
      imports++;
      const at = `${file}: imports '${imp.specifier}'`;
      let target: Layer | undefined;
      if (imp.specifier.startsWith('.')) {
        const resolved = resolveRelative(file, imp.specifier, exists);
        if (resolved === undefined) {
          violations.push(`${at}, which names no file`);
          continue;
        }
        target = layerOf(resolved, layers);
        if (target?.name === 'toolkit' && layer.name !== 'toolkit') {
          violations.push(`${at}: the server reaches the toolkit as '@warden/toolkit', never by path`);
          continue;
        }
        if (target === undefined) {
          violations.push(`${at}, a file no layer claims`);
          continue;
        }
      } else if (imp.specifier === '@warden/toolkit' || imp.specifier.startsWith('@warden/toolkit/')) {
        target = layers.find((l) => l.name === 'toolkit');
      } else {
        if (imp.specifier.startsWith('node:')) continue;
        const pkg = packageName(imp.specifier);
        const banned = layer.allowedPackages?.includes(pkg) ? undefined : layer.forbiddenPackages?.find((p) => (p.endsWith('/') ? imp.specifier.startsWith(p) : pkg === p));
        if (banned !== undefined) violations.push(`${at}: the ${layer.name} layer must not depend on ${banned}`);
        continue;
      }
      if (target === undefined) continue;
      edges.add(`${layer.name} -> ${target.name}`);
      const rule = layer.mayImport.find((m) => (typeof m === 'string' ? m : m.layer) === target.name);
      if (rule === undefined) {
        violations.push(`${at}: ${layer.name} may not import ${target.name} (allowed: ${layer.mayImport.map((m) => (typeof m === 'string' ? m : `${m.layer} (types)`)).join(', ') || 'nothing'})`);
      } else if (typeof rule !== 'string' && !imp.typeOnly) {
        violations.push(`${at}: ${layer.name} may import only types from ${target.name} (use import type)`);
      }
    }
  }
  return { violations, edges, imports };
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const rel = `${dir}/${name}`;
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...sources(rel));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

describe('layers: imports run one way', () => {
  it('every import in src/ and toolkit/src/ goes down the table, and the test saw them', () => {
    const files = new Map<string, string>();
    for (const f of [...sources('src'), ...sources('toolkit/src')]) files.set(f, readFileSync(join(ROOT, f), 'utf8'));
    const { violations, edges, imports } = check(files, LAYERS);
    assert.deepEqual(violations, []);
    // Not vacuous: every row claims files, imports were found, and the known dependencies were seen.
    for (const l of LAYERS) assert.ok([...files.keys()].some((f) => layerOf(f, LAYERS) === l), `no file in layer ${l.name}`);
    assert.ok(files.size >= 30 && imports >= 100, `only ${files.size} files and ${imports} imports seen`);
    for (const e of KNOWN_EDGES) assert.ok(edges.has(e), `never saw ${e}; seen: ${[...edges].sort().join(', ')}`);
  });

  it('every module of src/ is reached from an entry point: no dead copy of a module lives on beside it', () => {
    // The entry points: the command and the package's exports; the SHA-crypt worker (started by its
    // URL) and the README's config table renderer (run by scripts/docs-config.ts).
    const entries = ['src/cli.ts', 'src/index.ts', 'src/accounts/hashes/sha-crypt-worker.ts', 'src/config/docs.ts'];
    const files = new Map<string, string>();
    for (const f of sources('src')) files.set(f, readFileSync(join(ROOT, f), 'utf8'));
    const reached = new Set<string>();
    const queue = [...entries];
    for (let f = queue.pop(); f !== undefined; f = queue.pop()) {
      if (reached.has(f)) continue;
      reached.add(f);
      for (const imp of importsOf(f, files.get(f)!)) {
        const target = imp.specifier.startsWith('.') ? resolveRelative(f, imp.specifier, (x) => files.has(x)) : undefined;
        if (target !== undefined) queue.push(target);
      }
    }
    assert.deepEqual([...files.keys()].filter((f) => !reached.has(f)), []);
  });

  it('the checker itself catches each kind of upward or forbidden import', () => {
    const cases: [string, string, RegExp][] = [
      ['src/storage/x.ts', "import { Accounts } from '../accounts/index.js';", /storage may not import accounts/],
      ['src/storage/x.ts', "import type { JwtClaims } from '@warden/toolkit';", /storage may not import toolkit/],
      ['src/storage/x.ts', "import { parseRecord } from '../revocation/records.js';", /only types from revocation-records/],
      ['src/storage/x.ts', "export * from '../http/views.js';", /storage may not import http/],
      ['src/revocation/y.ts', "import type { Storage } from '../storage/types.js';", /revocation may not import storage/],
      ['src/revocation/y.ts', "const m = await import('../accounts/index.js');", /revocation may not import accounts/],
      ['src/accounts/z.ts', "import type { FastifyInstance } from 'fastify';", /must not depend on fastify/],
      ['src/accounts/z.ts', "import { v1Routes } from '../http/views.js';", /accounts may not import http/],
      ['src/accounts/z.ts', "import { wardenGuard } from '../../toolkit/src/index.ts';", /never by path/],
      ['toolkit/src/t.ts', "import { createWarden } from '../../src/server.js';", /toolkit may not import server/],
      ['toolkit/src/t.ts', "import Database from 'better-sqlite3';", /must not depend on better-sqlite3/],
      ['src/newfolder/n.ts', "export {};", /no layer claims this file/],
      ['src/http/w.ts', "import { x } from './missing.js';", /names no file/],
    ];
    for (const [file, text, expected] of cases) {
      const files = new Map([
        [file, text],
        ['src/accounts/index.ts', ''], ['src/http/views.ts', ''], ['src/storage/types.ts', ''],
        ['src/revocation/records.ts', ''], ['src/server.ts', ''], ['toolkit/src/index.ts', ''],
      ]);
      const { violations } = check(files, LAYERS);
      assert.ok(violations.some((v) => expected.test(v)), `${file}: ${text} → ${JSON.stringify(violations)}`);
    }
    // ...and lets an allowed one through.
    const fine = new Map([
      ['src/storage/x.ts', "import type { RevocationRecord } from '../revocation/records.js';"],
      ['src/revocation/records.ts', ''],
    ]);
    assert.deepEqual(check(fine, LAYERS).violations, []);
  });
});
