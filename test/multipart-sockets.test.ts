// multipart/form-data sign-ins (POST /token) on real sockets, with the body limit that reads the
// request beside @fastify/multipart (multipart-form.ts): a small body is read whole however it comes
// (one write with the next requests pipelined behind it, chunked a few bytes at a time), a refused
// one leaves the connection answering the next request, and one over BODY_LIMIT_BYTES is 413 with
// the connection closed. A bound on each exchange (5 s) turns a hung request into a failure.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { call, startServer, type Running } from './helpers/server.js';

const form = (pw: string, extra = '') => '--XyZ\r\nContent-Disposition: form-data; name="username"\r\n\r\njohndoe\r\n'
  + `--XyZ\r\nContent-Disposition: form-data; name="password"\r\n\r\n${pw}\r\n${extra}--XyZ--\r\n`;
const req = (body: string, chunked = false) => chunked
  ? `POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nTransfer-Encoding: chunked\r\n\r\n`
  : `POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const health = 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n';
const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));

function talk(port: number, send: (s: import('node:net').Socket) => Promise<void>, want: number): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    const timer = setTimeout(() => (s.destroy(), resolve({ text, closed })), 5000);
    s.on('data', (d) => { text += d.toString('latin1'); if (statuses(text).length >= want && text.endsWith('}')) { clearTimeout(timer); s.destroy(); resolve({ text, closed }); } });
    s.on('close', () => { closed = true; clearTimeout(timer); resolve({ text, closed }); });
    s.on('error', () => undefined);
    s.on('connect', () => send(s).catch(reject));
  });
}

describe('multipart sign-in bodies on real sockets: pipelined, chunked, slow, refused', () => {
  let s: Running; let port: number;
  before(async () => {
    s = await startServer({ BODY_LIMIT_BYTES: '2000' });
    port = Number(new URL(s.url).port);
    const r = await call(`${s.url}/api/auth/signup`, { json: { username: 'johndoe', email: 'johndoe@example.com', password: 'secret-password', full_name: 'John Doe' } });
    assert.equal(r.status, 201);
  });
  after(() => s.close());

  it('pipelined: two multipart sign-ins then /health, one write', async () => {
    const r = await talk(port, async (c) => { c.write(req(form('secret-password')) + req(form('wrong')) + health); }, 3);
    assert.deepEqual(statuses(r.text), [200, 401, 200], r.text.slice(0, 300));
  });
  it('chunked, slowly, byte by byte, then a pipelined /health', async () => {
    const body = form('secret-password');
    const r = await talk(port, async (c) => {
      c.write(req(body, true));
      for (let i = 0; i < body.length; i += 7) { const piece = body.slice(i, i + 7); c.write(`${piece.length.toString(16)}\r\n${piece}\r\n`); await new Promise((r) => setTimeout(r, 2)); }
      c.write('0\r\n\r\n' + health);
    }, 2);
    assert.deepEqual(statuses(r.text), [200, 200], r.text.slice(0, 300));
  });
  it('a file part (400) then a pipelined /health', async () => {
    const file = '--XyZ\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\n' + 'x'.repeat(1500) + '\r\n';
    const r = await talk(port, async (c) => { c.write(req(form('secret-password', file)) + health); }, 2);
    assert.deepEqual(statuses(r.text), [400, 200], r.text.slice(0, 300));
  });
  it('malformed (400) then a pipelined /health', async () => {
    const r = await talk(port, async (c) => { c.write(req('--XyZ\r\nContent-Disposition: form-data; name="username"\r\n\r\njohn') + health); }, 2);
    assert.deepEqual(statuses(r.text), [400, 200], r.text.slice(0, 400));
  });
  it('too many fields (413) then a pipelined /health', async () => {
    let body = '';
    for (let i = 0; i < 20; i++) body += `--XyZ\r\nContent-Disposition: form-data; name="f${i}"\r\n\r\nv\r\n`;
    body += '--XyZ--\r\n';
    const r = await talk(port, async (c) => { c.write(req(body) + health); }, 2);
    assert.deepEqual(statuses(r.text), [413, 200], r.text.slice(0, 400));
  });
  it('chunked over the limit: 413 and the connection closed, while the client keeps sending', async () => {
    const r = await talk(port, async (c) => {
      c.write(req('', true));
      for (let i = 0; i < 50 && !c.destroyed; i++) { c.write(`1000\r\n${'p'.repeat(4096)}\r\n`); await new Promise((r) => setTimeout(r, 5)); }
    }, 1);
    assert.deepEqual(statuses(r.text), [413], r.text.slice(0, 300));
    assert.match(r.text, /connection: close/i);
  });
});
