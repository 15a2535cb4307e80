// The storage contract of the email features (src/storage/types.ts: EmailTokenStore, OutboxStore,
// SignInDeviceStore, and users' emailVerified), checked against every adapter with the same test
// bodies; the races run on two handles of one database, as two instances would.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import type { NewEmailToken, NewOutboxMessage, NewUser, Storage, UserRecord } from '../src/storage/index.js';
import { storageFactories, type StorageFactory } from './helpers/storage.js';

const T = 1_700_000_000_000;
const HOUR = 3_600_000;

let n = 0;
function user(over: Partial<NewUser> = {}): NewUser {
  n++;
  return {
    id: randomUUID(), username: `mailuser${n}`, email: `mailuser${n}@example.com`, fullName: null,
    roles: ['user'], isActive: true, passwordHash: 'x', createdAt: T, ...over,
  };
}

function token(userId: string, over: Partial<NewEmailToken> = {}): NewEmailToken {
  return { hash: randomUUID().replace(/-/g, ''), userId, purpose: 'reset', email: 'a@example.com', createdAt: T, expiresAt: T + HOUR, ...over };
}

function mail(over: Partial<NewOutboxMessage> = {}): NewOutboxMessage {
  return { id: randomUUID(), template: 'password-changed', recipient: 'a@example.com', data: { name: 'A', n: 1 }, prepared: true, createdAt: T, deadline: T + 24 * HOUR, ...over };
}

function conformance(f: StorageFactory): void {
  let s: Storage;
  let u: UserRecord;
  const extra: Storage[] = [];
  const reopen = (of: Storage): Storage => {
    const o = f.reopen(of)!;
    extra.push(o);
    return o;
  };
  const concurrent = f.name === 'memory' ? 'one process only' : false;

  beforeEach(async () => {
    s = await f.create();
    u = await s.users.create(user());
  });
  afterEach(async () => {
    for (const o of extra.splice(0)) await o.close();
    await s.close();
  });
  after(() => f.cleanup());

  describe('users.emailVerified', () => {
    it('is false unless created verified, and round-trips through update', async () => {
      assert.equal(u.emailVerified, false);
      const v = await s.users.create(user({ emailVerified: true }));
      assert.equal((await s.users.findById(v.id))!.emailVerified, true);
      const patched = await s.users.update(u.id, { emailVerified: true });
      assert.equal(patched!.emailVerified, true);
      assert.deepEqual(await s.users.findById(u.id), patched);
      assert.equal((await s.users.update(u.id, { fullName: 'N' }))!.emailVerified, true, 'a patch without it keeps it');
    });
  });

  describe('emailTokens', () => {
    it('issue, find and consume once', async () => {
      const t = token(u.id, { purpose: 'verify', email: u.email });
      await s.emailTokens.issue(t);
      assert.deepEqual(await s.emailTokens.find(t.hash, 'verify'), { ...t, sessionId: null, usedAt: null, supersededAt: null });
      assert.equal(await s.emailTokens.find(t.hash, 'reset'), null, 'another purpose does not see it');
      assert.equal(await s.emailTokens.consume(t.hash, 'reset', T), null);
      assert.deepEqual(await s.emailTokens.consume(t.hash, 'verify', T + 5), { ...t, sessionId: null, usedAt: T + 5, supersededAt: null });
      assert.equal(await s.emailTokens.consume(t.hash, 'verify', T + 6), null);
      assert.equal((await s.emailTokens.find(t.hash, 'verify'))!.usedAt, T + 5);
    });

    it('keeps the session that asked for an address change', async () => {
      const sid = '0190a0b1-0000-7000-8000-00000000abcd';
      const t = token(u.id, { purpose: 'email', email: 'new@example.org', sessionId: sid });
      await s.emailTokens.issue(t);
      assert.equal((await s.emailTokens.find(t.hash, 'email'))!.sessionId, sid);
      assert.equal((await s.emailTokens.consume(t.hash, 'email', T + 1))!.sessionId, sid);
    });

    it('a newer token supersedes the user\'s earlier ones of the same purpose only', async () => {
      const other = await s.users.create(user());
      const old = token(u.id);
      const otherPurpose = token(u.id, { purpose: 'email' });
      const otherUser = token(other.id);
      for (const t of [old, otherPurpose, otherUser]) await s.emailTokens.issue(t);
      const newer = token(u.id, { createdAt: T + 1 });
      await s.emailTokens.issue(newer);
      assert.equal((await s.emailTokens.find(old.hash, 'reset'))!.supersededAt, T + 1);
      assert.equal(await s.emailTokens.consume(old.hash, 'reset', T + 2), null);
      for (const t of [otherPurpose, otherUser, newer]) assert.equal((await s.emailTokens.find(t.hash, t.purpose))!.supersededAt, null);
      assert.ok(await s.emailTokens.consume(newer.hash, 'reset', T + 2));
    });

    it('a new password hash supersedes the user\'s open reset, address-change and invitation links, and only those', async () => {
      const other = await s.users.create(user());
      const reset = token(u.id);
      const change = token(u.id, { purpose: 'email', email: 'elsewhere@example.com' });
      const invite = token(u.id, { purpose: 'invite' });
      const verify = token(u.id, { purpose: 'verify' });
      const otherUser = token(other.id);
      for (const t of [reset, change, invite, verify, otherUser]) await s.emailTokens.issue(t);
      const open = async (t: NewEmailToken) => (await s.emailTokens.find(t.hash, t.purpose))!.supersededAt === null;
      await s.users.update(u.id, { fullName: 'Renamed' });
      assert.ok(await s.users.replacePasswordHash(u.id, 'x', 'rehashed'), 'the same password, rehashed');
      assert.ok(await open(reset) && await open(change) && await open(invite), 'neither another change nor a rehash touches the links');
      assert.ok(await s.users.update(u.id, { passwordHash: 'changed' }));
      assert.equal(await open(reset), false);
      assert.equal(await open(change), false);
      assert.equal(await open(invite), false);
      assert.equal(await s.emailTokens.consume(invite.hash, 'invite', T + 1), null);
      assert.equal(await s.emailTokens.consume(reset.hash, 'reset', T + 1), null);
      assert.equal(await s.emailTokens.consume(change.hash, 'email', T + 1), null);
      assert.ok(await open(verify) && await open(otherUser));
      assert.equal(await s.users.update(randomUUID(), { passwordHash: 'nobody' }), null);
    });

    it('an expired token is not consumed (an expiry equal to now has passed)', async () => {
      const t = token(u.id, { expiresAt: T + 10 });
      await s.emailTokens.issue(t);
      assert.equal(await s.emailTokens.consume(t.hash, 'reset', T + 10), null);
      assert.ok(await s.emailTokens.consume(t.hash, 'reset', T + 9));
    });

    it('purge drops tokens expired before the cut-off; deleting the user drops theirs', async () => {
      const gone = token(u.id, { purpose: 'verify', expiresAt: T });
      const kept = token(u.id, { purpose: 'email', expiresAt: T + 2 * HOUR });
      await s.emailTokens.issue(gone);
      await s.emailTokens.issue(kept);
      assert.equal(await s.emailTokens.purge(T + 1, 100), 1);
      assert.equal(await s.emailTokens.find(gone.hash, 'verify'), null);
      assert.ok(await s.emailTokens.find(kept.hash, 'email'));
      await s.users.delete(u.id);
      assert.equal(await s.emailTokens.find(kept.hash, 'email'), null);
    });

    it('of concurrent consumers on several handles exactly one gets the token', { skip: concurrent }, async () => {
      const t = token(u.id);
      await s.emailTokens.issue(t);
      const handles = [s, reopen(s), reopen(s), reopen(s)];
      const got = await Promise.all(handles.flatMap((h) => [h.emailTokens.consume(t.hash, 'reset', T), h.emailTokens.consume(t.hash, 'reset', T)]));
      assert.equal(got.filter((x) => x !== null).length, 1);
    });

    it('of tokens issued concurrently for one user on several handles exactly one stays usable', { skip: concurrent }, async () => {
      const handles = [s, reopen(s), reopen(s), reopen(s)];
      const issued = handles.flatMap((h) => [token(u.id), token(u.id)].map((t) => ({ h, t })));
      await Promise.all(issued.map(({ h, t }) => h.emailTokens.issue(t)));
      const usable = [];
      for (const { t } of issued) if ((await s.emailTokens.find(t.hash, 'reset'))!.supersededAt === null) usable.push(t);
      assert.equal(usable.length, 1);
    });
  });

  describe('outbox', () => {
    it('add and get round-trip a pending message', async () => {
      const m = mail({ prepared: false, data: { user_id: u.id, nested: { a: [1, 'b'] } } });
      await s.outbox.add(m);
      assert.deepEqual(await s.outbox.get(m.id), {
        ...m, status: 'pending', attempts: 0, nextAttemptAt: T, claimedBy: null, claimedUntil: null, sentAt: null, lastError: null,
      });
      assert.equal(await s.outbox.get(randomUUID()), null);
    });

    it('claim takes due pending messages, oldest due first, up to the limit, and counts an attempt', async () => {
      const first = mail({ createdAt: T - 2 });
      const second = mail({ createdAt: T - 1 });
      const notDue = mail({ createdAt: T + 1 });
      for (const m of [notDue, second, first]) await s.outbox.add(m);
      const claimed = await s.outbox.claim('me', T, T + 100, 1);
      assert.deepEqual(claimed.map((m) => m.id), [first.id]);
      assert.deepEqual([claimed[0]!.claimedBy, claimed[0]!.claimedUntil, claimed[0]!.attempts], ['me', T + 100, 1]);
      assert.deepEqual((await s.outbox.claim('other', T, T + 100, 10)).map((m) => m.id), [second.id], 'a live claim is not taken');
      assert.deepEqual(await s.outbox.claim('other', T, T + 100, 10), []);
      // When the lease ends, another claimant may take it (a crashed instance's message is not lost).
      const again = await s.outbox.claim('other', T + 100, T + 200, 10);
      assert.deepEqual(again.map((m) => [m.id, m.attempts]).sort(), [[first.id, 2], [second.id, 2], [notDue.id, 1]].sort());
    });

    it('prepared, retry and finish act only for the claimant; sent marks it whoever claims it, and empties its data', async () => {
      const m = mail({ prepared: false, data: { user_id: 'u' } });
      await s.outbox.add(m);
      await s.outbox.claim('me', T, T + 100, 10);
      assert.equal(await s.outbox.prepared(m.id, 'someone else', { recipient: 'b@example.com', data: { link: 'x' }, deadline: T + 50 }), false);
      assert.equal(await s.outbox.prepared(m.id, 'me', { recipient: 'b@example.com', data: { link: 'x' }, deadline: T + 50 }), true);
      let row = (await s.outbox.get(m.id))!;
      assert.deepEqual([row.prepared, row.recipient, row.data, row.deadline], [true, 'b@example.com', { link: 'x' }, T + 50]);
      assert.equal(await s.outbox.retry(m.id, 'someone else', T + 10, 'x'), false);
      assert.equal(await s.outbox.retry(m.id, 'me', T + 10, 'ECONNREFUSED'), true);
      row = (await s.outbox.get(m.id))!;
      assert.deepEqual([row.status, row.claimedBy, row.claimedUntil, row.nextAttemptAt, row.lastError], ['pending', null, null, T + 10, 'ECONNREFUSED']);
      assert.deepEqual(await s.outbox.claim('me', T + 9, T + 100, 10), [], 'not due before its retry time');
      assert.equal((await s.outbox.claim('me', T + 10, T + 100, 10)).length, 1);
      await s.outbox.sent(m.id, T + 11);
      row = (await s.outbox.get(m.id))!;
      assert.deepEqual([row.status, row.sentAt, row.data, row.claimedBy, row.lastError], ['sent', T + 11, {}, null, null]);
      assert.deepEqual(await s.outbox.claim('me', T + 1000, T + 2000, 10), []);
      assert.equal(await s.outbox.finish(m.id, 'me', 'failed', 'x'), false, 'a sent message stays sent');

      const dropped = mail();
      await s.outbox.add(dropped);
      await s.outbox.claim('me', T, T + 100, 10);
      assert.equal(await s.outbox.finish(dropped.id, 'me', 'dropped', null), true);
      row = (await s.outbox.get(dropped.id))!;
      assert.deepEqual([row.status, row.data], ['dropped', {}]);
    });

    it('a finished message keeps no address: sent, dropped or failed, its recipient is emptied with its data', async () => {
      // Kept a week for the purge, a finished row held the address it went to: an account deleted
      // today was still in the outbox under its address (and every earlier one) for that week.
      const ids = { sent: mail({ recipient: 'gone-sent@example.com' }), dropped: mail({ recipient: 'gone-dropped@example.com' }), failed: mail({ recipient: 'gone-failed@example.com' }) };
      for (const m of Object.values(ids)) await s.outbox.add(m);
      await s.outbox.claim('me', T, T + 100, 10);
      await s.outbox.sent(ids.sent.id, T + 1);
      assert.equal(await s.outbox.finish(ids.dropped.id, 'me', 'dropped', null), true);
      assert.equal(await s.outbox.finish(ids.failed.id, 'me', 'failed', 'not delivered before its deadline'), true);
      for (const [status, m] of Object.entries(ids)) {
        const row = (await s.outbox.get(m.id))!;
        assert.deepEqual([row.status, row.recipient, row.data, row.template], [status, '', {}, m.template], status);
      }
    });

    it('renew extends only a claim still held; release gives a message back, due at once, its attempt uncounted', async () => {
      const m = mail();
      await s.outbox.add(m);
      await s.outbox.claim('me', T, T + 100, 10);
      assert.equal(await s.outbox.renew(m.id, 'me', T + 300), true);
      assert.deepEqual(await s.outbox.claim('other', T + 200, T + 400, 10), [], 'a renewed claim is not taken');
      // Lapsed and taken by another: neither renewed nor released by the first claimant.
      assert.equal((await s.outbox.claim('other', T + 300, T + 400, 10)).length, 1);
      assert.equal(await s.outbox.renew(m.id, 'me', T + 500), false);
      assert.equal(await s.outbox.release(m.id, 'me'), false);
      let row = (await s.outbox.get(m.id))!;
      assert.deepEqual([row.claimedBy, row.claimedUntil, row.attempts], ['other', T + 400, 2]);
      assert.equal(await s.outbox.release(m.id, 'other'), true);
      row = (await s.outbox.get(m.id))!;
      assert.deepEqual([row.status, row.claimedBy, row.claimedUntil, row.attempts], ['pending', null, null, 1]);
      assert.equal((await s.outbox.claim('me', T + 300, T + 400, 10)).length, 1, 'due at once');
      await s.outbox.sent(m.id, T + 301);
      assert.equal(await s.outbox.renew(m.id, 'me', T + 500), false, 'a sent message is held by no one');
    });

    it('purge deletes finished messages older than the cut-off, a batch at a time, never pending ones', async () => {
      const done = mail({ createdAt: T - 10 });
      const done2 = mail({ createdAt: T - 9 });
      const done3 = mail({ createdAt: T - 8 });
      const pending = mail({ createdAt: T - 10 });
      const recent = mail({ createdAt: T });
      for (const m of [done, done2, done3, pending, recent]) await s.outbox.add(m);
      await s.outbox.claim('me', T, T + 1, 10);
      for (const m of [done, done2, done3, recent]) await s.outbox.sent(m.id, T);
      await s.outbox.retry(pending.id, 'me', T + 1, 'x');
      assert.equal(await s.outbox.purge(T - 5, 2), 2, 'a batch of two');
      assert.equal(await s.outbox.purge(T - 5, 2), 1, 'the rest');
      assert.equal(await s.outbox.purge(T - 5, 2), 0);
      for (const m of [done, done2, done3]) assert.equal(await s.outbox.get(m.id), null);
      assert.ok(await s.outbox.get(pending.id));
      assert.ok(await s.outbox.get(recent.id));
    });

    it('claimants on several handles at once never share a message, and together take all', { skip: concurrent }, async () => {
      const all = Array.from({ length: 40 }, (_, i) => mail({ createdAt: T - i }));
      for (const m of all) await s.outbox.add(m);
      const handles = [s, reopen(s), reopen(s), reopen(s)];
      const rounds = await Promise.all(handles.flatMap((h, i) => [0, 1, 2].map((r) => h.outbox.claim(`c${i}.${r}`, T, T + HOUR, 5))));
      const ids = rounds.flat().map((m) => m.id);
      assert.equal(new Set(ids).size, ids.length, 'a message was claimed twice');
      // What the racing rounds left, a last one takes: nothing is lost.
      const rest = await s.outbox.claim('last', T, T + HOUR, 100);
      assert.deepEqual([...ids, ...rest.map((m) => m.id)].sort(), all.map((m) => m.id).sort());
    });
  });

  describe('a user\'s data export reads', () => {
    it('every session row, mailed link and remembered device of the user, newest first, and the mails pending for an address', async () => {
      const other = await s.users.create(user({ username: 'other', email: 'o@example.com' }));
      const sess = (userId: string, id: string, createdAt: number) => ({
        id, userId, refreshJti: randomUUID(), createdAt, expiresAt: T + 30 * 24 * HOUR, idleExpiresAt: T + 7 * 24 * HOUR, userAgent: `UA ${id}`, ip: '192.0.2.7',
      });
      const [s1, s2] = [randomUUID(), randomUUID()];
      await s.sessions.create(sess(u.id, s1, T));
      await s.sessions.create(sess(u.id, s2, T + 10));
      await s.sessions.create(sess(other.id, randomUUID(), T + 5));
      await s.sessions.end(s1, 'logout', T + 20);
      assert.deepEqual((await s.sessions.listForUser(u.id)).map((x) => [x.id, x.userAgent, x.endReason]), [[s2, `UA ${s2}`, null], [s1, `UA ${s1}`, 'logout']]);
      await s.emailTokens.issue(token(u.id, { purpose: 'verify', createdAt: T }));
      await s.emailTokens.issue(token(u.id, { purpose: 'reset', createdAt: T + 1 }));
      await s.emailTokens.issue(token(other.id));
      assert.deepEqual((await s.emailTokens.listForUser(u.id)).map((t) => t.purpose), ['reset', 'verify']);
      await s.devices.remember(u.id, 'd1', T);
      await s.devices.remember(u.id, 'd2', T + 1);
      await s.devices.remember(u.id, 'd1', T + 5);
      await s.devices.remember(other.id, 'd1', T);
      assert.deepEqual(await s.devices.listForUser(u.id), [{ firstSeen: T, lastSeen: T + 5 }, { firstSeen: T + 1, lastSeen: T + 1 }]);
      const sent = mail({ recipient: 'x@example.com', createdAt: T });
      await s.outbox.add(sent);
      await s.outbox.add(mail({ recipient: 'x@example.com', template: 'verify-email', createdAt: T + 1 }));
      await s.outbox.add(mail({ recipient: 'y@example.com', createdAt: T + 2 }));
      await s.outbox.sent(sent.id, T + 3);
      assert.deepEqual(await s.outbox.pendingTo('x@example.com'), [{ template: 'verify-email', createdAt: T + 1 }]);
    });
  });

  describe('devices', () => {
    it('remember tells a new device (and how many came before) from a known one', async () => {
      assert.deepEqual(await s.devices.remember(u.id, 'd1', T), { isNew: true, before: 0 });
      assert.deepEqual(await s.devices.remember(u.id, 'd1', T + 1), { isNew: false, before: 0 });
      assert.deepEqual(await s.devices.remember(u.id, 'd2', T + 2), { isNew: true, before: 1 });
      const other = await s.users.create(user());
      assert.deepEqual(await s.devices.remember(other.id, 'd1', T), { isNew: true, before: 0 }, 'per user');
    });

    it('purge forgets devices not seen since the cut-off; deleting the user forgets theirs', async () => {
      await s.devices.remember(u.id, 'old', T);
      await s.devices.remember(u.id, 'seen-again', T);
      await s.devices.remember(u.id, 'seen-again', T + 10);
      assert.equal(await s.devices.purge(T + 5, 100), 1);
      assert.deepEqual(await s.devices.remember(u.id, 'old', T + 20), { isNew: true, before: 1 });
      await s.users.delete(u.id);
      assert.equal(await s.devices.purge(T + 1000, 100), 0);
    });

    it('purge deletes at most `batch` tokens and devices a call (a backlog goes a batch per statement)', async () => {
      for (let i = 0; i < 5; i++) {
        await s.emailTokens.issue(token(u.id, { purpose: (['reset', 'verify', 'email'] as const)[i % 3], expiresAt: T }));
        await s.devices.remember(u.id, `d${i}`, T);
      }
      assert.deepEqual([await s.emailTokens.purge(T + 1, 2), await s.emailTokens.purge(T + 1, 2), await s.emailTokens.purge(T + 1, 2)], [2, 2, 1]);
      assert.deepEqual([await s.devices.purge(T + 1, 3), await s.devices.purge(T + 1, 3)], [3, 2]);
    });
  });
}

for (const f of await storageFactories()) {
  describe(`email storage conformance: ${f.name}`, f.skip !== undefined ? { skip: f.skip } : {}, () => conformance(f));
}
