// The README maps seed 003's flask-jwt-extended names to the toolkit with one example per row:
// each numbered example runs here, after the setup block, as its own module. A table row without
// an example, or an example without a row, fails.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const section = readme.split('<!-- toolkit-names:start -->')[1]!.split('<!-- toolkit-names:end -->')[0]!;
const rows = [...section.matchAll(/^\|.*\| (\d+) \|$/gm)].map((m) => Number(m[1]));
const blocks = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const setup = blocks.find((b) => b.startsWith('// setup'))!;
const examples = new Map(blocks.flatMap((b) => {
  const m = /^\/\/ (\d+)\. /.exec(b);
  return m ? [[Number(m[1]), b] as const] : [];
}));

// Inside the repository, so that '@warden/toolkit' and 'fastify' resolve as in a user's project.
const dir = mkdtempSync(join(new URL('.', import.meta.url).pathname, '.readme-examples-'));

/** headers.kid is the toolkit fix of the same issue; until it lands the kid example is a TODO, not a failure. */

describe('README: flask-jwt-extended\'s names in @warden/toolkit', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('every table row has exactly one example, numbered 1..n, and a setup block', () => {
    assert.ok(setup, 'a setup block');
    assert.ok(rows.length >= 18, `${rows.length} rows`);
    assert.deepEqual(rows, rows.map((_, i) => i + 1));
    assert.deepEqual([...examples.keys()].sort((a, b) => a - b), rows);
  });

  for (const n of rows) {
    it(`example ${n} runs`, async () => {
      const file = join(dir, `example-${n}.ts`);
      writeFileSync(file, `${setup}\n// ---- example ${n} ----\n{\n${examples.get(n) ?? 'throw new Error("missing")'}\n}\nexport {};\n`);
      await import(pathToFileURL(file).href);
    });
  }
});
