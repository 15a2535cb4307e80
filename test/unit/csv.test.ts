// The CSV reader of `warden import` (src/cli/import/csv.ts): RFC 4180 records, however the text is
// cut into chunks, with the line each starts on; checked against csv-parse on the same inputs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { CsvReader, type CsvItem } from '../../src/cli/import/csv.js';

function read(text: string, cuts: number[] = [], delimiter?: string): CsvItem[] {
  const r = new CsvReader(delimiter);
  const out: CsvItem[] = [];
  let from = 0;
  for (const c of [...cuts, text.length]) {
    for (const item of r.push(text.slice(from, c), c === text.length)) out.push(item);
    from = c;
  }
  return out;
}

/** The same records whatever the chunks: every cut into two and three pieces. */
function everyCut(text: string): CsvItem[] {
  const whole = read(text);
  for (let i = 0; i <= text.length; i++) {
    assert.deepEqual(read(text, [i]), whole, `cut at ${i}: ${JSON.stringify(text)}`);
    for (let j = i; j <= text.length; j += 3) assert.deepEqual(read(text, [i, j]), whole, `cut at ${i}, ${j}`);
  }
  return whole;
}

describe('CSV reader', () => {
  it('reads plain lines, LF or CRLF, skipping empty lines, with each record\'s line', () => {
    assert.deepEqual(everyCut('id,name\r\n1,ann\r\n\r\n2,ben\n3,\n'), [
      { line: 1, cells: ['id', 'name'] }, { line: 2, cells: ['1', 'ann'] }, { line: 4, cells: ['2', 'ben'] }, { line: 5, cells: ['3', ''] },
    ]);
    assert.deepEqual(read('a,b\n1,2'), [{ line: 1, cells: ['a', 'b'] }, { line: 2, cells: ['1', '2'] }], 'no line break at the end');
    assert.deepEqual(read('\uFEFFa,b\n'), [{ line: 1, cells: ['a', 'b'] }], 'a byte order mark is dropped');
  });

  it('reads quoted cells: commas, doubled quotes and line breaks inside; lines counted through them', () => {
    assert.deepEqual(everyCut('a,"b, c","say ""hi"""\r\n"multi\nline",x\n"",""\nlast,"q"'), [
      { line: 1, cells: ['a', 'b, c', 'say "hi"'] },
      { line: 2, cells: ['multi\nline', 'x'] },
      { line: 4, cells: ['', ''] },
      { line: 5, cells: ['last', 'q'] },
    ]);
  });

  it('another delimiter (--delimiter): Excel\'s ";" with a BOM and CRLF, tabs; commas then are text', () => {
    const excel = '\uFEFFid;email;full_name\r\n1;ann@example.com;"Ann; A., ""the"" first"\r\n2;ben@example.com;Ben, B.\r\n';
    const whole = read(excel, [], ';');
    assert.deepEqual(whole, [
      { line: 1, cells: ['id', 'email', 'full_name'] },
      { line: 2, cells: ['1', 'ann@example.com', 'Ann; A., "the" first'] },
      { line: 3, cells: ['2', 'ben@example.com', 'Ben, B.'] },
    ]);
    for (let i = 0; i <= excel.length; i++) assert.deepEqual(read(excel, [i], ';'), whole, `cut at ${i}`);
    assert.deepEqual(read('a\tb\n"x\ty"\t2\n', [], '\t'), [{ line: 1, cells: ['a', 'b'] }, { line: 2, cells: ['x\ty', '2'] }]);
    assert.deepEqual(read('a;b\n', []), [{ line: 1, cells: ['a;b'] }], 'by default only commas separate');
  });

  it('reports a malformed record with its line and goes on at the next line', () => {
    assert.deepEqual(everyCut('a,b\n"x"y,1\nc,d"e\nok,1\n"open,2\n'), [
      { line: 1, cells: ['a', 'b'] },
      { line: 2, error: 'text after a closing quote' },
      { line: 3, error: 'a quote inside an unquoted cell' },
      { line: 4, cells: ['ok', '1'] },
      { line: 5, error: 'a quoted cell is not closed' },
    ]);
  });

  it('a malformed record that took the lines after it names them, so that no row goes unmentioned', () => {
    assert.deepEqual(everyCut('a,b\n1,"open\n2,x\n3,"y"\n4,z\n'), [
      { line: 1, cells: ['a', 'b'] },
      { line: 2, error: 'text after a closing quote; lines 2 to 4 were read as this one record, none of them imported' },
      { line: 5, cells: ['4', 'z'] },
    ]);
    assert.deepEqual(everyCut('a,b\n1,"open\n2,x\n3,y'), [
      { line: 1, cells: ['a', 'b'] },
      { line: 2, error: 'a quoted cell is not closed; lines 2 to 4 were read as this one record, none of them imported' },
    ]);
  });

  it('a quote left open is given up on after 1 MiB, not carried to the end of the file', () => {
    const text = `a,b\n"open,1\n${'x,y\n'.repeat(300_000)}`;
    const cuts = Array.from({ length: Math.floor(text.length / 65_536) }, (_, i) => (i + 1) * 65_536);
    const items = read(text, cuts);
    assert.deepEqual(items.slice(0, 3), [{ line: 1, cells: ['a', 'b'] }, { line: 2, error: 'a record longer than 1024 KiB (a quoted cell not closed?)' }, { line: 3, cells: ['x', 'y'] }]);
    assert.equal(items.length, 300_002);
    assert.deepEqual(items.at(-1), { line: 300_002, cells: ['x', 'y'] });
  });

  it('agrees with csv-parse on well-formed CSV', () => {
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const pieces = ['a', 'bc', ' ', ',', '"', '\n', '\r\n', 'é', '€'];
    for (let round = 0; round < 300; round++) {
      const rows = Array.from({ length: 1 + rand(4) }, () => Array.from({ length: 3 }, () => {
        const cell = Array.from({ length: rand(5) }, () => pieces[rand(pieces.length)]).join('');
        return /[",\r\n]/.test(cell) || cell === '' ? `"${cell.replaceAll('"', '""')}"` : cell;
      }).join(','));
      const text = rows.join(rand(2) ? '\n' : '\r\n');
      const ours = read(text, [rand(text.length + 1)]).map((r) => ('cells' in r ? r.cells : r.error));
      assert.deepEqual(ours, parse(text, { relax_column_count: true }), JSON.stringify(text));
    }
  });
});
