// CSV as RFC 4180 writes it (what Python's csv module, spreadsheets and `COPY … CSV` produce):
// cells separated by commas, records by LF or CRLF; a cell in double quotes may hold commas, line
// breaks and doubled quotes. Read a chunk of text at a time. Written here rather than taken from a
// CSV package: a bulk import reads 100,000 rows, and a line without quotes (nearly all of them) is
// one split here, where a general parser walks it character by character (csv-parse took ten times
// as long). Empty lines are skipped; a malformed record is reported with its line and reading goes
// on at the next line. Another separator than the comma (Excel writes ";" where the decimal mark is a
// comma, and tabs) is the operator's to name: --delimiter.

export type CsvItem = { line: number; cells: string[] } | { line: number; error: string };

export class CsvReader {
  private rest = '';
  private line = 1; // the line `rest` starts on
  private started = false;

  constructor(private readonly delimiter: string = ',') {
    if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') throw new Error(`not a CSV delimiter: ${JSON.stringify(delimiter)}`);
  }

  /** The records that `chunk` completes; `last` says no text follows (a record may end without a line break). */
  push(chunk: string, last = false): CsvItem[] {
    let text = this.rest + chunk;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    const out: CsvItem[] = [];
    let at = 0;
    let quote = text.indexOf('"');
    while (at < text.length) {
      const end = text.indexOf('\n', at);
      if (end === -1 && !last) break;
      const lineEnd = end === -1 ? text.length : end;
      if (quote !== -1 && quote < at) quote = text.indexOf('"', at);
      if (quote === -1 || quote > lineEnd) {
        // The common case: a whole record on one line, no quotes.
        const line = text.charCodeAt(lineEnd - 1) === 13 ? text.slice(at, lineEnd - 1) : text.slice(at, lineEnd);
        if (line !== '') out.push({ line: this.line, cells: line.split(this.delimiter) });
        this.line++;
        at = lineEnd + 1;
        continue;
      }
      const r = quotedRecord(text, at, last, this.delimiter.charCodeAt(0));
      if (r === undefined) {
        // A quoted cell goes on in the next chunk; one that never ends would be read again and
        // again, to the end of the file: past MAX_RECORD it is taken for one left open.
        if (text.length - at <= MAX_RECORD) break;
        out.push({ line: this.line, error: `a record longer than ${MAX_RECORD / 1024} KiB (a quoted cell not closed?)` });
        this.line++;
        at = end + 1;
        continue;
      }
      if ('error' in r) {
        // A quote out of place can take the lines after it into its record: say so, or the rows on
        // them would be in neither the imported nor the rejected ones.
        const lastLine = this.line + countBreaks(text, at, r.next - 1);
        out.push({ line: this.line, error: lastLine > this.line ? `${r.error}; lines ${this.line} to ${lastLine} were read as this one record, none of them imported` : r.error });
      } else out.push({ line: this.line, cells: r.cells });
      this.line += countBreaks(text, at, r.next);
      at = r.next;
    }
    this.rest = text.slice(at);
    return out;
  }
}

type Parsed = { cells: string[]; next: number } | { error: string; next: number };

const MAX_RECORD = 1 << 20;

/** One record from `at`, which holds a quote, cells separated by the character `sep`; undefined when the text ends inside it and more may come. */
function quotedRecord(text: string, at: number, last: boolean, sep: number): Parsed | undefined {
  const cells: string[] = [];
  // A malformed record: reading goes on at the next line.
  const bad = (error: string, pos: number): Parsed | undefined => {
    const nl = text.indexOf('\n', pos);
    return nl !== -1 ? { error, next: nl + 1 } : last ? { error, next: text.length } : undefined;
  };
  let pos = at;
  for (;;) {
    let cell: string;
    if (text.charCodeAt(pos) === QUOTE) {
      cell = '';
      let from = pos + 1;
      for (;;) {
        const q = text.indexOf('"', from);
        // Not closed yet; or closed at the chunk's end, where a doubled quote may be cut in two.
        if (q === -1 || (q + 1 === text.length && !last)) return last ? { error: 'a quoted cell is not closed', next: text.length } : undefined;
        cell += text.slice(from, q);
        if (text.charCodeAt(q + 1) !== QUOTE) {
          pos = q + 1;
          break;
        }
        cell += '"';
        from = q + 2;
      }
      const c = text.charCodeAt(pos);
      const ends = pos === text.length || c === sep || c === LF || (c === CR && (pos + 1 === text.length || text.charCodeAt(pos + 1) === LF));
      if (!ends) return bad('text after a closing quote', pos);
    } else {
      let end = pos;
      while (end < text.length && text.charCodeAt(end) !== sep && text.charCodeAt(end) !== LF) end++;
      if (end === text.length && !last) return undefined;
      cell = text.slice(pos, end);
      if (end < text.length && text.charCodeAt(end) === LF && cell.endsWith('\r')) cell = cell.slice(0, -1);
      if (cell.includes('"')) return bad('a quote inside an unquoted cell', pos);
      pos = end;
    }
    cells.push(cell);
    if (text.charCodeAt(pos) === sep) {
      pos++;
      continue;
    }
    if (pos >= text.length) return { cells, next: text.length };
    const nl = text.indexOf('\n', pos); // the record ends at this line break (after a CR, perhaps)
    return nl !== -1 ? { cells, next: nl + 1 } : last ? { cells, next: text.length } : undefined;
  }
}

const QUOTE = 34;
const LF = 10;
const CR = 13;

function countBreaks(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = text.indexOf('\n', from); i !== -1 && i < to; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
