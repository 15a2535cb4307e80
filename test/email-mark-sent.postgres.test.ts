// A mail the SMTP server has accepted is marked sent in the outbox right after; if the database
// is unreachable at that moment, the worker must keep trying to mark it (its claim keeps other
// instances off the row meanwhile) rather than give up after a few seconds: a row left pending is
// sent again once its claim ends, and "nothing the server accepted is sent again" (README, Email)
// would not hold through an ordinary database outage. The database is made unreachable through a
// fault proxy right after the real SMTP server said 250; the test heals it only once the worker has
// tried more often than it used to before giving up, then waits for the row to be marked sent.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { openMail } from '../src/mail/index.js';
import { smtpTransport } from '../src/mail/transport.js';
import type { MailOutbox } from '../src/mail/outbox.js';
import { createPostgresStorage } from '../src/storage/index.js';
import type { OutboxStore, Storage } from '../src/storage/types.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { eventually, startSmtp, type TestSmtp } from './helpers/smtp.js';
import { postgresUrlOrSkip } from './helpers/storage.js';

const { url, skip } = await postgresUrlOrSkip();

describe('a mail accepted by the SMTP server while the database is unreachable', { skip }, () => {
  const schema = `warden_marksent_${randomBytes(4).toString('hex')}`;
  let smtp: TestSmtp;
  let db: FaultProxy;
  let storage: Storage;
  let outbox: MailOutbox;
  const lines: string[] = [];
  let markCalls = 0;

  before(async () => {
    smtp = await startSmtp();
    const target = new URL(url!);
    db = await startFaultProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const through = new URL(url!);
    through.host = db.address;
    storage = createPostgresStorage(through.toString(), { schema, connectTimeoutMs: 500, queryTimeoutMs: 1000 });
    await storage.migrate();
    // The store as the worker sees it, its `sent` calls counted (each is one attempt to mark a row).
    const store: OutboxStore = { ...storage.outbox, sent: (id, now) => (markCalls++, storage.outbox.sent(id, now)) };
    const real = smtpTransport({ url: smtp.url, requireTls: true, caFile: smtp.caFile });
    const log = { info() {}, warn: (_o: object, m: string) => void lines.push(m), error: (_o: object, m: string) => void lines.push(m) };
    outbox = openMail({ production: false, requireTls: true, from: 'Warden <no-reply@warden.test>', appUrl: 'http://localhost', dataDir: '/nonexistent' }, {
      store, clock: Date.now, log,
      // The database goes away the moment the server has accepted the message, before it is marked.
      transport: { description: 'SMTP, then the database cut', send: async (m) => (await real.send(m), await db.down()), close: () => real.close() },
      tuning: { pollMs: 50, retryBaseMs: 50, retryMaxMs: 200, leaseMs: 300_000 },
    })!;
  });
  after(async () => {
    await outbox.stop();
    await db.heal();
    await storage.close();
    await db.close();
    await smtp.close();
    const c = new pg.Client({ connectionString: url! });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  });

  it('is marked sent once the database is back, and delivered once', async () => {
    const id = await outbox.enqueue({ template: 'password-changed', to: 'someone@example.com', data: { name: 'Someone', username: 'someone' } });
    await smtp.waitFor((m) => m.messageId.startsWith(`<${id}@`));
    // More attempts than the worker made before it gave up (five, within eight seconds), or its give-up.
    await eventually(() => (markCalls >= 6 || lines.some((l) => l.includes('not marked so')) ? true : undefined), 'the worker trying to mark the mail sent', 60_000);
    assert.ok(!lines.some((l) => l.includes('not marked so')), `the worker gave up marking an accepted mail sent after ${markCalls} attempts; it will be sent again`);
    await db.heal();
    const row = await eventually(async () => {
      const r = await storage.outbox.get(id).catch(() => undefined);
      return r?.status === 'sent' ? r : undefined;
    }, 'the mail marked sent', 30_000);
    assert.equal(row.status, 'sent');
    assert.equal(smtp.delivered.filter((m) => m.messageId.startsWith(`<${id}@`)).length, 1);
  });
});
