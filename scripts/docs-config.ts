// `npm run docs:config`: rewrites the README's configuration table from src/config/table.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { withConfigTable } from '../src/config/docs.js';

const file = new URL('../README.md', import.meta.url);
const before = readFileSync(file, 'utf8');
const after = withConfigTable(before);
if (after !== before) writeFileSync(file, after);
process.stdout.write(after === before ? 'README configuration table already up to date\n' : 'README configuration table rewritten\n');
