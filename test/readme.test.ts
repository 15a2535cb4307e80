// The README must stay true to the code: its error table equals ERROR_CODES (its configuration table: config.test.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { ERROR_CODES } from '../toolkit/src/errors.js';

it('README lists every error code with its status and message, and no other', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const table = readme.split('<!-- error-codes:start -->')[1]!.split('<!-- error-codes:end -->')[0]!;
  const rows = [...table.matchAll(/^\| `(ERR_[A-Z_]+)` \| (\d+) \| (.+) \|$/gm)].map((m) => [m[1], Number(m[2]), m[3]]);
  const code = Object.entries(ERROR_CODES).map(([k, v]) => [k, v.status, v.message]);
  assert.ok(rows.length > 20);
  assert.deepEqual(rows, code);
});
