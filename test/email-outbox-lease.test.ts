// Two outbox workers (two instances) on one database, a slow mail server: a worker that claimed a
// batch reaches its last messages after their claim has lapsed and another worker has taken them.
// Each message must still be sent once: a worker sends only what it still holds.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { MailOutbox, MailTemplates, storeOnlyQueue } from '../src/mail/index.js';
import { smtpTransport } from '../src/mail/transport.js';
import type { Storage } from '../src/storage/types.js';
import { storageFactories, type StorageFactory } from './helpers/storage.js';
import { eventually, startSmtp, type TestSmtp } from './helpers/smtp.js';

const quiet = { info() {}, warn() {}, error() {} };

/** An outbox worker on `store`, sending through `smtp`. */
const worker = (smtp: TestSmtp, store: Storage, pollMs: number, leaseMs: number) => new MailOutbox({
  store: store.outbox,
  transport: smtpTransport({ url: smtp.url, requireTls: true, caFile: smtp.caFile }),
  templates: MailTemplates.load(undefined),
  from: 'Warden <no-reply@warden.test>',
  common: { app_url: 'http://warden.test' },
  clock: Date.now,
  log: quiet,
  pollMs,
  leaseMs,
  batch: 10,
});

/** A real SMTP server and two handles on one database (two instances); `close` stops the workers given, then all of it. */
async function twoInstances(f: StorageFactory) {
  const smtp: TestSmtp = await startSmtp();
  const first = await f.create();
  const second = f.reopen(first)!;
  const close = async (...workers: MailOutbox[]) => {
    for (const w of workers) await w.stop();
    await first.close();
    await second.close();
    await smtp.close();
  };
  return { smtp, first, second, close };
}

for (const f of (await storageFactories()).filter((x) => x.name !== 'memory')) {
  describe(`mail outbox claims on a slow mail server, two workers (${f.name})`, f.skip !== undefined ? { skip: f.skip } : {}, () => {
    after(() => f.cleanup());

    it('a message whose claim lapsed while its worker sent the ones before it is sent once, by the worker that took it', async () => {
      const { smtp, first, second, close } = await twoInstances(f);
      const outbox = (store: Storage, pollMs: number) => worker(smtp, store, pollMs, 2000);
      // A lease shorter than the batch takes to send on this server (10 × 400 ms), and long enough
      // for one send with a wide margin (a loaded machine must not lapse a send under way).
      const a = outbox(first, 600_000); // one round: the batch it claims at start
      const b = outbox(second, 50);
      try {
        const queue = storeOnlyQueue(first.outbox);
        const ids: string[] = [];
        for (let i = 0; i < 10; i++) ids.push(await queue.enqueue({ template: 'password-changed', to: `lease${i}@example.com`, data: { username: `lease${i}` } }));
        smtp.acceptDelayMs = 400;
        a.start();
        // A holds all ten before B starts looking.
        await eventually(async () => {
          const rows = await Promise.all(ids.map((id) => first.outbox.get(id)));
          return rows.every((r) => r?.claimedBy === a.instanceId) ? true : undefined;
        }, 'A to claim the ten messages');
        b.start();
        await eventually(async () => {
          const rows = await Promise.all(ids.map((id) => first.outbox.get(id)));
          return rows.every((r) => r?.status === 'sent') ? true : undefined;
        }, 'every message marked sent', 20_000);
        await a.idle();
        await b.idle();
        const sent = new Map<string, number>();
        for (const m of smtp.delivered) sent.set(m.to, (sent.get(m.to) ?? 0) + 1);
        assert.deepEqual(Object.fromEntries(sent), Object.fromEntries(ids.map((_, i) => [`lease${i}@example.com`, 1])),
          'each message accepted by the mail server exactly once');
      } finally {
        await close(a, b);
      }
    });

    it('a send that takes longer than the lease keeps its claim (renewed while it waits): another worker never takes it, and it goes once', async () => {
      const { smtp, first, second, close } = await twoInstances(f);
      // A 600 ms lease against a mail server that takes 2 s to accept: unrenewed, the claim would
      // lapse three times over while the message is on the wire.
      const a = worker(smtp, first, 600_000, 600);
      const b = worker(smtp, second, 50, 600);
      try {
        const id = await storeOnlyQueue(first.outbox).enqueue({ template: 'password-changed', to: 'slow@example.com', data: { username: 'slow' } });
        smtp.acceptDelayMs = 2000;
        a.start();
        await eventually(async () => ((await first.outbox.get(id))?.claimedBy === a.instanceId ? true : undefined), 'A to claim the message');
        b.start();
        await eventually(async () => ((await first.outbox.get(id))?.status === 'sent' ? true : undefined), 'the message marked sent', 20_000);
        await a.idle();
        await b.idle();
        assert.deepEqual(smtp.delivered.map((m) => m.to), ['slow@example.com'], 'accepted by the mail server once');
      } finally {
        await close(a, b);
      }
    });
  });
}
