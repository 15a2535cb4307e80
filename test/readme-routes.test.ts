// The README's route tables and the server agree: every route a table row names (`METHOD /path` in
// its first cell, relative to /api/v1 under a heading that names it) is served, and every operation
// of /openapi.json is named by some row: as `METHOD /path` anywhere in it, or its path in the first
// cell and its method elsewhere (`GET` with `?token=` is the link's page).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { call, startServer, type Running } from './helpers/server.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

interface Row { line: number; text: string; routes: Array<{ method: string; path: string }>; paths: string[]; mentions: string[] }

/** Table rows whose first cell names routes; cells split at unescaped pipes (`GET\|PATCH` is one cell). */
function routeRows(): Row[] {
  const rows: Row[] = [];
  let prefix = '';
  readme.split('\n').forEach((text, i) => {
    if (text.startsWith('#')) prefix = /`\/api\/v1[`/]/.test(text) ? '/api/v1' : '';
    if (!text.startsWith('| `')) return;
    const first = text.split(/(?<!\\)\|/)[1]!;
    const row: Row = { line: i + 1, text, routes: [], paths: [], mentions: [] };
    const named = (cell: string) => [...cell.matchAll(/`((?:[A-Z]+\\\|)*[A-Z]+) (\/[^`?\s]*)/g)].map((m) => ({
      methods: m[1]!.split('\\|').filter((x) => (METHODS as readonly string[]).includes(x)),
      path: m[2]!.startsWith('/api/') || !prefix ? m[2]! : prefix + m[2]!,
    }));
    for (const { methods, path } of named(first)) {
      row.paths.push(path);
      for (const method of methods) row.routes.push({ method, path });
    }
    for (const { methods, path } of named(text)) for (const method of methods) row.mentions.push(`${method} ${path}`);
    if (row.routes.length > 0) rows.push(row);
  });
  return rows;
}

describe('README: the route tables', () => {
  let s: Running;
  before(async () => { s = await startServer({ ACCOUNT_SELF_DELETE: 'true' }); });
  after(() => s.close());

  it('every route a row names is served', () => {
    const rows = routeRows();
    assert.ok(rows.length >= 50, `${rows.length} rows`);
    const missing = rows.flatMap((r) => r.routes
      .filter(({ method, path }) => !s.warden.app.hasRoute({ method, url: path.replace(/\{(\w+)\}/g, ':$1') }))
      .map(({ method, path }) => `README.md:${r.line} ${method} ${path}`));
    assert.deepEqual(missing, []);
  });

  it('every operation of /openapi.json is named by a row', async () => {
    const doc = (await call(`${s.url}/openapi.json`)).json as { paths: Record<string, Record<string, unknown>> };
    const rows = routeRows();
    const unnamed: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops).map((m) => m.toUpperCase())) {
        const named = rows.some((r) => r.mentions.includes(`${method} ${path}`) || (r.paths.includes(path) && new RegExp(`\\b${method}\\b`).test(r.text)));
        if (!named) unnamed.push(`${method} ${path}`);
      }
    }
    assert.deepEqual(unnamed, []);
  });
});
