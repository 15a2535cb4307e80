// The outbox worker's rules over the memory store, a capturing transport and a movable clock:
// sent once and marked so, retried with growing delays, given up at the deadline or on a permanent
// refusal, unprepared mails completed (or dropped) by their preparer, no message twice.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MailOutbox, MailTemplates } from '../../src/mail/index.js';
import { createMemoryStorage } from '../../src/storage/index.js';
import { testClock } from '../helpers/clock.js';
import { captureTransport, memoryLog } from '../helpers/mail.js';

function rig(o: { retryBaseMs?: number; retryMaxMs?: number } = {}) {
  const clock = testClock(Date.UTC(2030, 0, 1));
  const storage = createMemoryStorage();
  const transport = captureTransport();
  const log = memoryLog();
  const make = () => new MailOutbox({
    store: storage.outbox, transport, templates: MailTemplates.load(), from: 'Warden <w@warden.test>',
    common: { app_url: 'https://app.test' }, clock, log, retryBaseMs: o.retryBaseMs ?? 1000, retryMaxMs: o.retryMaxMs ?? 8000,
  });
  const outbox = make();
  const flush = async (o2 = outbox) => {
    o2.kick();
    await o2.idle();
  };
  return { clock, storage, transport, log, outbox, make, flush };
}

const notice = { template: 'password-changed' as const, to: 'a@example.com', data: { name: 'Ann', username: 'ann', time: 'now' } };
const smtpError = (responseCode: number, code: string) => Object.assign(new Error(`${responseCode} refused`), { responseCode, code, command: 'RCPT TO' });

describe('mail outbox worker', () => {
  it('sends a queued mail once, with a Message-ID from its id, and marks it sent with its data emptied', async () => {
    const { outbox, transport, storage, flush } = rig();
    const id = await outbox.enqueue(notice);
    await flush();
    await flush();
    assert.equal(transport.sent.length, 1);
    assert.equal(transport.sent[0]!.id, id);
    assert.equal(transport.sent[0]!.subject, 'Your password was changed');
    assert.match(transport.sent[0]!.text, /Hello Ann,/);
    const row = (await storage.outbox.get(id))!;
    assert.deepEqual([row.status, row.data, row.attempts], ['sent', {}, 1]);
  });

  it('retries a failed send with a delay that doubles, and sends once the server takes it', async () => {
    const { outbox, transport, storage, clock, flush, log } = rig();
    transport.failWith = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ESOCKET' });
    const id = await outbox.enqueue(notice);
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      await flush();
      const row = (await storage.outbox.get(id))!;
      delays.push(row.nextAttemptAt - clock());
      await flush();
      assert.equal(transport.tries, i + 1, 'not tried again before its time');
      clock.advance(row.nextAttemptAt - clock());
    }
    // 1 s, 2 s, 4 s, each ±20%.
    delays.forEach((d, i) => assert.ok(d >= 800 * 2 ** i && d <= 1200 * 2 ** i, `delay ${i}: ${d}`));
    transport.failWith = undefined;
    await flush();
    assert.equal(transport.sent.length, 1);
    assert.equal((await storage.outbox.get(id))!.status, 'sent');
    const warned = log.entries.filter((e) => e.msg === 'mail delivery failed; will retry');
    assert.equal(warned.length, 3);
    assert.equal(warned[0]!.obj.mailId, id);
  });

  it('gives up on a permanent refusal (5xx for the envelope) at once, and logs the id, not the content', async () => {
    const { outbox, transport, storage, flush, log } = rig();
    transport.failWith = smtpError(550, 'EENVELOPE');
    const id = await outbox.enqueue({ ...notice, data: { ...notice.data, link: 'https://secret.test/?token=abc' } });
    await flush();
    const row = (await storage.outbox.get(id))!;
    assert.deepEqual([row.status, row.data], ['failed', {}]);
    // The recipient refused: the address's matter, a warning (an alert on errors stays asleep).
    assert.deepEqual(log.entries.filter((e) => e.level === 'error'), []);
    const logged = log.entries.find((e) => e.level === 'warn')!;
    assert.equal(logged.msg, 'mail refused for its address: not delivered');
    assert.equal(logged.obj.mailId, id);
    assert.doesNotMatch(JSON.stringify(log.entries), /secret\.test|token=/);
  });

  it('a failed mail keeps no address: the server\'s reply naming it is stored with the address replaced', async () => {
    const { outbox, transport, storage, flush } = rig();
    // As Postfix answers a closed mailbox; nodemailer puts the reply in the error's message.
    transport.failWith = Object.assign(smtpError(550, 'EENVELOPE'), { message: "Can't send mail - all recipients were rejected: 550 5.1.1 <a@example.com>: Recipient address rejected" });
    const id = await outbox.enqueue(notice);
    await flush();
    const row = (await storage.outbox.get(id))!;
    assert.deepEqual([row.status, row.recipient], ['failed', '']);
    assert.equal(row.lastError, "Can't send mail - all recipients were rejected: 550 5.1.1 <<recipient>>: Recipient address rejected");
  });

  it('a failure\'s log line names no address either: the server\'s reply is logged with it replaced, whether refused, retried or given up', async () => {
    const reply = (code: number, address: string) => `Can't send mail - all recipients were rejected: ${code} 5.1.1 <${address}>: Recipient address rejected`;
    const { outbox, transport, storage, flush, log } = rig();
    // Refused for good (a warning), refused for now (a warning, retried), then given up at its last attempt (an error).
    transport.failWith = Object.assign(smtpError(550, 'EENVELOPE'), { message: reply(550, 'a@example.com') });
    const refused = await outbox.enqueue(notice);
    await flush();
    transport.failWith = Object.assign(smtpError(450, 'EENVELOPE'), { message: reply(450, 'a@example.com') });
    const retried = await outbox.enqueue(notice);
    await flush();
    // A mail whose preparer names its recipient at send time (a user's current address): that address is the one replaced.
    outbox.prepareWith('password-reset', async () => ({ to: 'ann.new@example.com', data: { name: 'Ann', username: 'ann', link: 'https://app.test/r?token=t', minutes: 30 } }));
    transport.failWith = Object.assign(smtpError(550, 'EENVELOPE'), { message: reply(550, 'ann.new@example.com'), command: 'DATA' });
    const prepared = await outbox.enqueue({ template: 'password-reset', to: 'ann@example.com', data: {}, needsPreparing: true });
    await flush();
    assert.deepEqual(await Promise.all([refused, retried, prepared].map(async (id) => (await storage.outbox.get(id))!.status)), ['failed', 'pending', 'failed']);
    assert.equal((await storage.outbox.get(prepared))!.lastError, reply(550, '<recipient>'), 'the stored copy: the address it was sent to replaced');
    const lines = log.entries.filter((e) => e.obj.err !== undefined);
    assert.deepEqual(lines.map((e) => [e.level, e.msg]), [
      ['warn', 'mail refused for its address: not delivered'],
      ['warn', 'mail delivery failed; will retry'],
      ['error', 'mail could not be delivered'],
    ]);
    assert.deepEqual(lines.map((e) => (e.obj.err as { message: string }).message), [reply(550, '<recipient>'), reply(450, '<recipient>'), reply(550, '<recipient>')]);
    assert.doesNotMatch(JSON.stringify(log.entries), /@example\.com/);
  });

  it('a long reply is cut after the address is replaced: no part of it is left where the cut falls inside it', async () => {
    const { outbox, transport, storage, flush, log } = rig();
    // 290 characters of reply before the address: a cut at 300 falls inside 'a@example.com'.
    transport.failWith = Object.assign(smtpError(550, 'EENVELOPE'), { message: `${'x'.repeat(290)}<a@example.com>: Recipient address rejected` });
    const id = await outbox.enqueue(notice);
    await flush();
    const stored = (await storage.outbox.get(id))!.lastError ?? '';
    const logged = JSON.stringify(log.entries);
    for (const text of [stored, logged]) assert.doesNotMatch(text, /a@exa/);
    assert.equal(stored, `${'x'.repeat(290)}<<recipien`);
  });

  it('a permanent refusal of the sender or the message is logged as an error: the operator must act', async () => {
    for (const command of ['MAIL FROM', 'DATA']) {
      const { outbox, transport, storage, flush, log } = rig();
      transport.failWith = Object.assign(smtpError(550, 'EENVELOPE'), { command });
      const id = await outbox.enqueue(notice);
      await flush();
      assert.equal((await storage.outbox.get(id))!.status, 'failed');
      const logged = log.entries.find((e) => e.level === 'error')!;
      assert.equal(logged.msg, 'mail could not be delivered', command);
      assert.equal(logged.obj.mailId, id);
    }
  });

  it('a temporary refusal (4xx) and a refused login are retried', async () => {
    const { outbox, transport, storage, flush } = rig();
    for (const err of [smtpError(451, 'EENVELOPE'), Object.assign(new Error('535 auth'), { responseCode: 535, code: 'EAUTH' })]) {
      transport.failWith = err;
      const id = await outbox.enqueue(notice);
      await flush();
      assert.equal((await storage.outbox.get(id))!.status, 'pending');
    }
  });

  it('gives up at the deadline', async () => {
    const { outbox, transport, storage, clock, flush, log } = rig({ retryBaseMs: 60_000, retryMaxMs: 600_000 });
    transport.failWith = Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' });
    const id = await outbox.enqueue({ ...notice, deadline: clock() + 90_000 });
    await flush();
    clock.advance(80_000);
    await flush(); // a second failure: the next try (~2 min) would be past the deadline
    assert.equal((await storage.outbox.get(id))!.status, 'failed');
    assert.ok(log.entries.some((e) => e.level === 'error' && e.obj.mailId === id));
  });

  it('a preparer completes an unprepared mail once (retries send what it prepared), or drops it', async () => {
    const { outbox, transport, storage, clock, flush } = rig();
    let prepared = 0;
    outbox.prepareWith('password-reset', async ({ recipient }) => {
      if (recipient === 'nobody@example.com') return null;
      prepared++;
      return { to: recipient, data: { name: 'Ann', username: 'ann', link: `https://app.test/r?token=t${prepared}`, minutes: 30 } };
    });
    const dropped = await outbox.enqueue({ template: 'password-reset', to: 'nobody@example.com', data: {}, needsPreparing: true });
    transport.failWith = new Error('down');
    const id = await outbox.enqueue({ template: 'password-reset', to: 'ann@example.com', data: {}, needsPreparing: true });
    await flush();
    clock.advance(5000);
    transport.failWith = undefined;
    await flush();
    assert.equal(prepared, 1, 'prepared once, though sent twice');
    assert.equal(transport.sent.length, 1);
    assert.match(transport.sent[0]!.text, /token=t1/);
    assert.equal((await storage.outbox.get(id))!.status, 'sent');
    assert.equal((await storage.outbox.get(dropped))!.status, 'dropped');
  });

  it('two workers on one store send every message exactly once', async () => {
    const { outbox, make, transport, flush } = rig();
    const other = make();
    for (let i = 0; i < 25; i++) await (i % 2 ? outbox : other).enqueue({ ...notice, to: `u${i}@example.com` });
    await Promise.all([flush(outbox), flush(other)]);
    await Promise.all([flush(outbox), flush(other)]);
    assert.equal(transport.sent.length, 25);
    assert.equal(new Set(transport.sent.map((m) => m.id)).size, 25);
  });

  it('a store outage is said once; one the server already announces (loggedElsewhere) is not said again', async () => {
    const storage = createMemoryStorage();
    const outage = Object.assign(new Error('database unreachable: ECONNREFUSED'), { code: 'ERR_UNAVAILABLE' });
    let failWith: Error | undefined = outage;
    const claim = storage.outbox.claim.bind(storage.outbox);
    storage.outbox.claim = (...args) => (failWith ? Promise.reject(failWith) : claim(...args));
    const run = async (loggedElsewhere?: (e: unknown) => boolean) => {
      const log = memoryLog();
      const outbox = new MailOutbox({
        store: storage.outbox, transport: captureTransport(), templates: MailTemplates.load(), from: 'w@warden.test', common: {},
        clock: testClock(Date.UTC(2030, 0, 1)), log, ...(loggedElsewhere ? { loggedElsewhere } : {}),
      });
      failWith = outage;
      for (let i = 0; i < 3; i++) (outbox.kick(), await outbox.idle());
      failWith = undefined;
      outbox.kick();
      await outbox.idle();
      return log.entries.map((e) => e.msg);
    };
    assert.deepEqual(await run(), ['mail outbox unreachable; mails wait in the database', 'mail outbox reachable again']);
    assert.deepEqual(await run((e) => e === outage), []);
  });

  it('a message whose claim ended while it was being sent is not sent twice by the same worker', async () => {
    const { outbox, transport, clock, flush } = rig();
    await outbox.enqueue(notice);
    const send = transport.send.bind(transport);
    transport.send = async (m) => {
      clock.advance(10 * 60_000); // longer than the lease, mid-send
      outbox.kick(); // a poll arrives meanwhile
      await send(m);
    };
    await flush();
    await flush();
    assert.equal(transport.sent.length, 1);
  });
});
