// Telling an unreachable database from a refused statement, following its state once per outage,
// a readiness probe bounded whatever the database does, and the 503 the toolkit answers for it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isUnexpected, toHttpError } from '@warden/toolkit';
import { StorageUnavailable, isConnectionFailure, watchAvailability, type StorageStatus } from '../../src/storage/availability.js';
import { createMemoryStorage } from '../../src/storage/index.js';
import { UniqueViolation } from '../../src/storage/types.js';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('connection failures', () => {
  it('network errors, server shutdowns and the driver\'s timeouts are outages', () => {
    for (const e of [
      withCode('ECONNREFUSED'), withCode('ECONNRESET'), withCode('ETIMEDOUT'), withCode('57P01'), withCode('57P03'), withCode('08006'),
      withCode('53300'), withCode('57014'), new Error('Query read timeout'), new Error('timeout exceeded when trying to connect'),
      new Error('Connection terminated unexpectedly'), new Error('Connection terminated due to connection timeout'),
      new StorageUnavailable(new Error('x')),
    ]) assert.equal(isConnectionFailure(e), true, String(e));
  });

  it('a statement the database refuses is not', () => {
    for (const e of [withCode('23505'), withCode('42601', 'syntax error'), withCode('28P01', 'password authentication failed'), new Error('boom'), null, 'text']) {
      assert.equal(isConnectionFailure(e), false, String(e));
    }
  });
});

describe('watchAvailability', () => {
  function flaky() {
    const storage = createMemoryStorage();
    let mode: 'ok' | 'down' | 'refused' = 'ok';
    const count = storage.users.count.bind(storage.users);
    storage.users.count = async () => {
      if (mode === 'down') throw new StorageUnavailable(withCode('ECONNREFUSED', 'connect ECONNREFUSED'));
      if (mode === 'refused') throw new UniqueViolation('email');
      return count();
    };
    const changes: StorageStatus[] = [];
    const watched = watchAvailability(storage, { onChange: (s) => changes.push(s) });
    return { watched, changes, set: (m: typeof mode) => (mode = m) };
  }

  it('changes state once per outage however many requests meet it', async () => {
    const { watched, changes, set } = flaky();
    assert.equal(await watched.users.count(), 0);
    set('down');
    for (let i = 0; i < 5; i++) await assert.rejects(watched.users.count(), StorageUnavailable);
    assert.equal(watched.status(), 'down');
    set('ok');
    for (let i = 0; i < 3; i++) await watched.users.count();
    assert.deepEqual(changes, ['down', 'up']);
    assert.equal(watched.status(), 'up');
  });

  it('a refused statement proves the database reachable', async () => {
    const { watched, changes, set } = flaky();
    set('down');
    await assert.rejects(watched.users.count());
    set('refused');
    await assert.rejects(watched.users.count(), UniqueViolation);
    assert.deepEqual(changes, ['down', 'up']);
  });

  it('every store is watched: an outage met through any of them is noticed (second factors and mail stores too)', async () => {
    const names = Object.entries(createMemoryStorage()).filter(([, v]) => v !== null && typeof v === 'object').map(([k]) => k);
    for (const expected of ['users', 'sessions', 'revocations', 'emailTokens', 'outbox', 'devices', 'factors', 'challenges']) {
      assert.ok(names.includes(expected), expected);
    }
    for (const name of names) {
      const storage = createMemoryStorage();
      const store = (storage as unknown as Record<string, Record<string, unknown>>)[name]!;
      const method = Object.keys(store).find((k) => typeof store[k] === 'function')!;
      store[method] = async () => {
        throw new StorageUnavailable(withCode('ECONNREFUSED', 'connect ECONNREFUSED'));
      };
      const changes: StorageStatus[] = [];
      const watched = watchAvailability(storage, { onChange: (st) => changes.push(st) }) as unknown as Record<string, Record<string, () => Promise<unknown>>>;
      await assert.rejects(watched[name]![method]!(), StorageUnavailable);
      assert.deepEqual(changes, ['down'], `${name}.${method}`);
    }
  });

  it('a statement stuck since before the heal does not announce a second outage when it times out after it', async () => {
    const storage = createMemoryStorage();
    // Each call waits until the test settles it: `fail` with an outage, or `ok`.
    const pending: { ok(): void; fail(): void }[] = [];
    storage.users.count = () => new Promise<number>((resolve, reject) => {
      pending.push({ ok: () => resolve(0), fail: () => reject(new StorageUnavailable(withCode('ETIMEDOUT'))) });
    });
    const changes: StorageStatus[] = [];
    const watched = watchAvailability(storage, { onChange: (s) => changes.push(s) });
    const request = watched.users.count().catch(() => 'failed');
    const worker = watched.users.count().catch(() => 'failed'); // a background poll, begun during the partition
    pending[0]!.fail();
    assert.equal(await request, 'failed');
    assert.equal(watched.status(), 'down');
    const afterHeal = watched.users.count();
    pending[2]!.ok();
    await afterHeal;
    assert.equal(watched.status(), 'up');
    pending[1]!.fail(); // the poll's silenced connection times out only now
    assert.equal(await worker, 'failed');
    assert.equal(watched.status(), 'up');
    assert.deepEqual(changes, ['down', 'up']);
    // A statement begun since then still reports the next outage.
    const next = watched.users.count().catch(() => 'failed');
    pending[3]!.fail();
    await next;
    assert.deepEqual(changes, ['down', 'up', 'down']);
  });

  it('refusals for want of a resource are no outage: the state stays up, and they are reported at once, then at most once a window with their count', async () => {
    const storage = createMemoryStorage();
    let mode: 'ok' | 'full' | 'readonly' | 'down' = 'ok';
    const count = storage.users.count.bind(storage.users);
    storage.users.count = async () => {
      if (mode === 'down') throw new StorageUnavailable(withCode('ECONNREFUSED'));
      if (mode === 'full') throw new StorageUnavailable(withCode('SQLITE_FULL', 'database or disk is full'));
      if (mode === 'readonly') throw new StorageUnavailable(withCode('25006', 'cannot execute INSERT in a read-only transaction'));
      return count();
    };
    const changes: StorageStatus[] = [];
    const reports: { reason: string; refused: number }[] = [];
    let reported: () => void = () => {};
    const watched = watchAvailability(storage, {
      onChange: (s) => changes.push(s),
      onShortage: (cause, refused) => (reports.push({ reason: cause.message, refused }), reported()),
      shortageEveryMs: 30,
    });
    try {
      mode = 'full';
      // A write refused, a read served, in turn: neither flips the state.
      for (let i = 0; i < 4; i++) {
        await assert.rejects(watched.users.count(), (e: StorageUnavailable) => e.shortage && e.code === 'ERR_UNAVAILABLE');
        mode = 'ok';
        await watched.users.count();
        mode = 'full';
      }
      assert.equal(watched.status(), 'up');
      assert.deepEqual(changes, []);
      assert.deepEqual(reports, [{ reason: 'database refused for want of a resource: SQLITE_FULL database or disk is full', refused: 1 }]);
      mode = 'readonly';
      await assert.rejects(watched.users.count(), StorageUnavailable);
      // The window over, the three refused since the first are reported in one line, with the latest cause.
      const alive = setInterval(() => {}, 1000); // the report's timer is unref'd: it keeps no process alive
      await new Promise<void>((resolve) => (reported = resolve)).finally(() => clearInterval(alive));
      assert.deepEqual(reports[1], { reason: 'database refused for want of a resource: 25006 cannot execute INSERT in a read-only transaction', refused: 4 });
      assert.equal(reports.length, 2);
      // A real outage afterwards is still one.
      mode = 'down';
      await assert.rejects(watched.users.count(), (e: StorageUnavailable) => !e.shortage && /database unreachable/.test(e.message));
      assert.deepEqual(changes, ['down']);
    } finally {
      await watched.close();
    }
  });

  it('too many connections (53300) is an outage though its class is 53: the state goes down, no shortage is reported', async () => {
    const storage = createMemoryStorage();
    storage.users.count = async () => {
      throw new StorageUnavailable(withCode('53300', 'sorry, too many clients already'));
    };
    const changes: StorageStatus[] = [];
    const shortages: number[] = [];
    const watched = watchAvailability(storage, { onChange: (s) => changes.push(s), onShortage: (_c, n) => shortages.push(n) });
    await assert.rejects(watched.users.count(), (e: StorageUnavailable) => !e.shortage && /database unreachable/.test(e.message));
    assert.deepEqual(changes, ['down']);
    assert.deepEqual(shortages, []);
    assert.equal(watched.refusals(), 0);
    await watched.close();
  });

  it('the probe answers within its bound while the ping hangs, and callers share one ping', async () => {
    const storage = createMemoryStorage();
    let pings = 0;
    storage.ping = () => (pings++, new Promise<void>(() => {}));
    const watched = watchAvailability(storage, { onChange: () => {} });
    const t0 = performance.now();
    assert.deepEqual(await Promise.all([watched.probe(50), watched.probe(50), watched.probe(50)]), [false, false, false]);
    assert.ok(performance.now() - t0 < 1000);
    assert.equal(pings, 1);
    assert.equal(await watchAvailability(createMemoryStorage(), { onChange: () => {} }).probe(50), true);
  });
});

describe('the answer to an outage', () => {
  it('503 ERR_UNAVAILABLE with Retry-After, and no log line of its own', () => {
    const e = toHttpError(new StorageUnavailable(withCode('ECONNREFUSED')));
    assert.equal(e.status, 503);
    assert.equal(e.code, 'ERR_UNAVAILABLE');
    assert.equal(e.headers['retry-after'], '5');
    assert.equal(isUnexpected(e), false);
    assert.equal(isUnexpected(toHttpError(new Error('boom'))), true);
  });
});
