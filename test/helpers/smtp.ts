// A real SMTP server for a test, in process on 127.0.0.1 (the smtp-server package): AUTH required,
// STARTTLS with a self-signed certificate made for the run (trusted by Warden through
// SMTP_TLS_CA_FILE, as a private CA would be), every accepted message parsed with mailparser.
// A test can make it refuse connections (421 at the greeting) or drop them in the middle of DATA.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { generate } from 'selfsigned';
import { SMTPServer } from 'smtp-server';

export interface Delivered {
  messageId: string;
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  /** The session had upgraded with STARTTLS and logged in. */
  secure: boolean;
  user: string;
}

export type SmtpMode = 'accept' | 'refuse' | 'drop';

export interface TestSmtp {
  readonly port: number;
  /** SMTP_URL with the credentials the server accepts. */
  readonly url: string;
  /** The certificate the server presents, for SMTP_TLS_CA_FILE. */
  readonly caFile: string;
  /** Every message accepted (answered 250), in order. */
  readonly delivered: Delivered[];
  /** Connections and DATA commands seen, accepted or not. */
  readonly attempts: { connections: number; data: number };
  mode: SmtpMode;
  /** How long the server waits, once a whole message has arrived, before answering 250 (a slow server; default 0). */
  acceptDelayMs: number;
  /** The first delivered message matching, waiting up to `timeoutMs` for it. */
  waitFor(match: (m: Delivered) => boolean, timeoutMs?: number): Promise<Delivered>;
  close(): Promise<void>;
}

export const SMTP_USER = 'warden';
export const SMTP_PASS = 'smtp-pass-for-tests';

/** Polls `check` until it returns a value (not undefined) or the deadline passes. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let certificate: Promise<{ key: string; cert: string }> | undefined;

export async function startSmtp(listenPort = 0): Promise<TestSmtp> {
  certificate ??= generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec', curve: 'P-256', algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] }],
  }).then((p) => ({ key: p.private, cert: p.cert }));
  const { key, cert } = await certificate;
  const dir = mkdtempSync(join(tmpdir(), 'warden-smtp-'));
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, cert);

  const delivered: Delivered[] = [];
  const attempts = { connections: 0, data: 0 };
  let mode: SmtpMode = 'accept';
  let acceptDelayMs = 0;
  const server: SMTPServer = new SMTPServer({
    key, cert,
    authMethods: ['PLAIN', 'LOGIN'],
    // AUTH only after STARTTLS (the package's default), so a delivery proves both happened.
    logger: false,
    disableReverseLookup: true,
    onConnect(_session, callback) {
      attempts.connections++;
      if (mode === 'refuse') return callback(Object.assign(new Error('Service not available, try again later'), { responseCode: 421 }));
      callback();
    },
    onAuth(auth, _session, callback) {
      if (auth.username === SMTP_USER && auth.password === SMTP_PASS) return callback(null, { user: auth.username });
      callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onData(stream, session, callback) {
      attempts.data++;
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (mode === 'drop') {
          // The whole message arrived, then the connection dies before the 250: not accepted.
          for (const c of server.connections) if (c.id === session.id) c._socket.destroy();
          return;
        }
        simpleParser(Buffer.concat(chunks)).then(async (m) => {
          if (acceptDelayMs > 0) await new Promise((r) => setTimeout(r, acceptDelayMs));
          delivered.push({
            messageId: m.messageId ?? '',
            from: m.from?.text ?? '',
            to: session.envelope.rcptTo.map((r) => r.address).join(','),
            subject: m.subject ?? '',
            text: m.text ?? '',
            html: typeof m.html === 'string' ? m.html : '',
            secure: session.secure && Boolean(session.user),
            user: String(session.user ?? ''),
          });
          callback();
        }, (err: Error) => callback(err));
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', () => resolve());
  });
  server.on('error', () => {});
  const port = (server.server.address() as { port: number }).port;

  return {
    port,
    url: `smtp://${SMTP_USER}:${SMTP_PASS}@127.0.0.1:${port}`,
    caFile,
    delivered,
    attempts,
    get mode() {
      return mode;
    },
    set mode(m) {
      mode = m;
    },
    get acceptDelayMs() {
      return acceptDelayMs;
    },
    set acceptDelayMs(ms) {
      acceptDelayMs = ms;
    },
    waitFor: (match, timeoutMs = 10_000) => eventually(() => delivered.find(match), 'a delivered mail', timeoutMs),
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The token in a mail's link. */
export function tokenIn(mail: { text: string }): string {
  const m = /[?&]token=([A-Za-z0-9_-]{43})\b/.exec(mail.text);
  if (!m) throw new Error(`no token in the mail:\n${mail.text}`);
  return m[1]!;
}

/** The link in a mail (the first http(s) address on a line of its own). */
export function linkIn(mail: { text: string }): string {
  const m = /^\s*(https?:\/\/\S+)\s*$/m.exec(mail.text);
  if (!m) throw new Error(`no link in the mail:\n${mail.text}`);
  return m[1]!;
}
