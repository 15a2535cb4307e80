// PASSWORD_BLOCKLIST_FILE's reading and lookup: plain lines and SHA-1 digests (Pwned Passwords'
// form, with or without ":count", either case), NFKC as passwords are hashed, case-sensitive, and
// every file that cannot be used refused with the line that says why (never the line's text).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BlocklistError, loadPasswordBlocklist, PasswordBlocklist } from '../../src/accounts/password-blocklist.js';

const sha1hex = (s: string) => createHash('sha1').update(s, 'utf8').digest('hex');
const parse = (text: string | Buffer) => PasswordBlocklist.parse(Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8'));
const refusal = (text: string | Buffer) => {
  try {
    parse(text);
  } catch (e) {
    assert.ok(e instanceof BlocklistError, String(e));
    return e.message;
  }
  assert.fail('parsed');
};

describe('PasswordBlocklist', () => {
  it('plain lines, compared case-sensitively; CRLF, a byte order mark and blank lines are fine', () => {
    const list = parse('\ufeffpassword1\r\nletmein123\r\n\r\n\nqwertyuiop');
    assert.equal(list.size, 3);
    for (const p of ['password1', 'letmein123', 'qwertyuiop']) assert.equal(list.has(p), true, p);
    for (const p of ['Password1', 'PASSWORD1', 'password1 ', ' letmein123', 'qwertyuio', '']) assert.equal(list.has(p), false, p);
  });

  it('a line is normalised to NFKC, as a password is hashed: whichever way it or the password was typed', () => {
    const list = parse('ｐａｓｓｗｏｒｄ１２\ncafe\u0301-au-lait\n');
    assert.equal(list.has('password12'), true); // fullwidth letters are their ASCII ones in NFKC
    assert.equal(list.has('ｐａｓｓｗｏｒｄ１２'), true);
    assert.equal(list.has('café-au-lait'), true); // é as one character; the line had e + U+0301
    assert.equal(list.has('cafe\u0301-au-lait'), true);
    assert.equal(list.has('cafe-au-lait'), false);
  });

  it('a line of 40 hex digits is a SHA-1 digest, in either case, with or without Pwned Passwords\' ":count"', () => {
    const list = parse([
      sha1hex('correcthorse').toUpperCase(),
      `${sha1hex('batterystaple')}:1234`,
      `${sha1hex('Tr0ub4dor&3').toUpperCase()}:3`,
      `${sha1hex('cafe\u0301-typed')}`, // the digest of a form NFKC changes: matched as typed
    ].join('\n'));
    assert.equal(list.size, 4);
    for (const p of ['correcthorse', 'batterystaple', 'Tr0ub4dor&3', 'cafe\u0301-typed']) assert.equal(list.has(p), true, p);
    for (const p of ['CorrectHorse', 'tr0ub4dor&3', 'café-typed-not']) assert.equal(list.has(p), false, p);
  });

  it('a password listed both ways, or twice, is one entry', () => {
    assert.equal(parse(`dragon1234\n${sha1hex('dragon1234')}\ndragon1234\n${sha1hex('dragon1234').toUpperCase()}:9`).size, 1);
  });

  it('sorts many digests, those sharing their first bytes too', () => {
    const n = 30_000;
    const raw = randomBytes(n * 20);
    // A hundred that share their first 5 bytes (the sort's coarse key) and differ after.
    for (let i = 0; i < 100; i++) raw.copy(raw, (n - 1 - i) * 20, 0, 5);
    const copy = Buffer.from(raw);
    const list = PasswordBlocklist.fromDigests(raw);
    assert.equal(list.size, n);
    assert.equal(list.bytes, n * 20);
    // Every digest found (through its hex line, which is the digest itself), and nothing else.
    const lines = Array.from({ length: n }, (_, i) => copy.subarray(i * 20, i * 20 + 20).toString('hex'));
    const parsed = parse(lines.join('\n'));
    assert.equal(parsed.size, n);
    const words = Array.from({ length: 2000 }, (_, i) => `word-${i}-${randomBytes(4).toString('hex')}`);
    const mixed = parse([...words, ...lines.slice(0, 500)].join('\n'));
    for (const w of words) assert.equal(mixed.has(w), true, w);
    for (let i = 0; i < 2000; i++) assert.equal(mixed.has(`absent-${i}`), false);
  });

  it('a file that is not a list of passwords is refused, naming the line and never its text', () => {
    assert.match(refusal(''), /^holds no password/);
    assert.match(refusal('\n\r\n\n'), /^holds no password/);
    // Pwned Passwords as downloaded, still compressed (7z starts "7z\xBC\xAF\x27\x1C"), or gzip.
    assert.equal(refusal(Buffer.concat([Buffer.from('7z'), Buffer.from([0xbc, 0xaf, 0x27, 0x1c, 0, 4])])), 'line 1 is not UTF-8 text (a compressed file? unpack it first)');
    assert.equal(refusal(Buffer.concat([Buffer.from('ok-password\nsecond-one\n'), Buffer.from([0x1f, 0x8b, 0x08, 0x00])])), 'line 3 is not UTF-8 text (a compressed file? unpack it first)');
    assert.equal(refusal('fine-one\nsecret\u0000word\n'), 'line 2 holds a control character (is this a text file of passwords, one per line?)');
    // Pwned Passwords' NTLM file: 32 hex digits and a count.
    assert.match(refusal(`fine-one\n\n${'8846F7EAEE8FB117AD06BDD830B7586C'}:52\n`), /^line 3 looks like a hash with a count but not a SHA-1/);
    // A tab is not a control character here: some lists have passwords with one.
    assert.equal(parse('tab\there').has('tab\there'), true);
  });
});

describe('loadPasswordBlocklist', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-blocklist-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file in chunks: lines split across reads are whole', () => {
    const file = join(dir, 'big.txt');
    const words = Array.from({ length: 120_000 }, (_, i) => `pw-${i}-${'x'.repeat(i % 13)}`);
    writeFileSync(file, words.join('\n') + '\n');
    const list = loadPasswordBlocklist(file);
    assert.equal(list.size, words.length);
    for (let i = 0; i < words.length; i += 997) assert.equal(list.has(words[i]!), true, words[i]);
    assert.equal(list.has('pw-5-'), false);
  });

  it('a missing file, a folder, or an unreadable file is a BlocklistError', () => {
    assert.throws(() => loadPasswordBlocklist(join(dir, 'nope.txt')), (e) => e instanceof BlocklistError && e.message === 'cannot be opened (ENOENT)');
    const folder = join(dir, 'folder');
    mkdirSync(folder);
    assert.throws(() => loadPasswordBlocklist(folder), (e) => e instanceof BlocklistError && e.message === 'is not a file');
  });
});
