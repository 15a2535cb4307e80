// The revocation module on its own: the revoker persists before it applies, a broadcast failure
// loses nothing, a fresh index rebuilds from the store, and bus messages are checked.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JwtClaims } from '@warden/toolkit';
import type { BusStatus, RevocationBus } from '../../src/revocation/bus.js';
import { RevocationIndex } from '../../src/revocation/index.js';
import { parseRecord, roleOverride, userRevocation, userRevocationMs, type RevocationRecord, type RevocationStore } from '../../src/revocation/records.js';
import { newSessionId, sessionOpenedAt } from '../../src/revocation/session-id.js';
import { Revoker } from '../../src/revocation/revoker.js';
import { createMemoryStorage } from '../../src/storage/index.js';
import { testClock } from '../helpers/clock.js';

const T = Date.UTC(2030, 0, 1);
const claims = (over: Partial<JwtClaims> = {}): JwtClaims =>
  ({ sub: 'u1', jti: 'j1', type: 'access', fresh: false, iat: T / 1000, nbf: T / 1000, exp: T / 1000 + 900, ...over });

function recordingBus(fail = false): RevocationBus & { sent: RevocationRecord[] } {
  const sent: RevocationRecord[] = [];
  return {
    sent,
    publish: async (r) => {
      if (fail) throw new Error('redis is down');
      sent.push(r);
    },
    subscribe: async () => {},
    close: async () => {},
  };
}

describe('revoker', () => {
  it('stores, applies and broadcasts each record', async () => {
    const storage = createMemoryStorage();
    const index = new RevocationIndex();
    const bus = recordingBus();
    const revoker = new Revoker(index, storage.revocations, bus, testClock(T));
    await revoker.revokeToken('j1', T + 1000);
    await revoker.revokeSessions(['s1', 's2'], T + 1000);
    await revoker.revokeUserTokens('u2', T, T + 1000);
    // A role override is written with its role change by the store (users.update), then recorded.
    await storage.revocations.add(roleOverride('u1', ['user'], T + 1000));
    revoker.recorded(roleOverride('u1', ['user'], T + 1000));
    assert.equal((await storage.revocations.listLive(T)).length, 5);
    assert.deepEqual(bus.sent.map((r) => r.kind), ['jti', 'sid', 'sid', 'user', 'roles']);
    assert.equal(index.check(claims()), 'jti');
    assert.equal(index.check(claims({ jti: 'j2', sid: 's2' })), 'sid');
    assert.equal(index.check(claims({ jti: 'j2', sub: 'u2' })), 'user');
    assert.deepEqual(index.rolesOf(claims({ roles: ['admin'] })), ['user']);
  });

  it('start loads every live record through pages of the store, each one bounded', async () => {
    const storage = createMemoryStorage();
    for (let i = 0; i < 25_000; i++) await storage.revocations.add({ kind: i % 3 ? 'jti' : 'sid', key: `k${i}`, value: '', expiresAt: T + 1000 });
    await storage.revocations.add({ kind: 'jti', key: 'expired', value: '', expiresAt: T });
    const limits: (number | undefined)[] = [];
    const store: RevocationStore = {
      ...storage.revocations,
      listLive: (now, page) => (limits.push(page?.limit), storage.revocations.listLive(now, page)),
    };
    const index = new RevocationIndex();
    await new Revoker(index, store, undefined, testClock(T)).reload();
    assert.equal(index.size, 25_000);
    assert.equal(limits.length, 3, 'three pages of at most 10,000');
    assert.ok(limits.every((l) => l === 10_000));
  });

  it('a store failure rejects and applies nothing: no sign-out is acknowledged unless durable', async () => {
    const failing: RevocationStore = {
      add: async () => { throw new Error('database is down'); },
      listLive: async () => [],
      listRecordedSince: async () => [],
      purge: async () => 0,
    };
    const index = new RevocationIndex();
    const bus = recordingBus();
    const revoker = new Revoker(index, failing, bus, testClock(T));
    await assert.rejects(revoker.revokeToken('j1', T + 1000), /database is down/);
    assert.equal(index.size, 0);
    assert.deepEqual(bus.sent, []);
  });

  it('a failed broadcast still resolves: the store has the record and peers reload it', async () => {
    const storage = createMemoryStorage();
    const index = new RevocationIndex();
    await new Revoker(index, storage.revocations, recordingBus(true), testClock(T)).revokeToken('j1', T + 1000);
    assert.equal(index.check(claims()), 'jti');
    const peer = new RevocationIndex();
    const revoker = new Revoker(peer, storage.revocations, undefined, testClock(T));
    await revoker.start();
    try {
      assert.equal(peer.check(claims()), 'jti');
    } finally {
      await revoker.stop();
    }
  });

  it('a fresh instance loads only the live records', async () => {
    const storage = createMemoryStorage();
    const clock = testClock(T);
    const revoker = new Revoker(new RevocationIndex(), storage.revocations, undefined, clock);
    await revoker.revokeToken('old', T + 1000);
    await revoker.revokeToken('live', T + 5000);
    clock.advance(2000);
    const index = new RevocationIndex();
    await new Revoker(index, storage.revocations, undefined, clock).reload();
    assert.equal(index.size, 1);
    assert.equal(index.check(claims({ jti: 'live' })), 'jti');
  });
});

/** A bus the test takes down and up; publishing fails while it is down. */
function switchableBus() {
  let status: BusStatus = 'up';
  const listeners: ((s: BusStatus) => void)[] = [];
  const sent: RevocationRecord[] = [];
  const bus: RevocationBus = {
    publish: async (r) => {
      if (status === 'down') throw new Error('redis is down');
      sent.push(r);
    },
    subscribe: async () => {},
    close: async () => {},
    status: () => status,
    onStatus: (l) => listeners.push(l),
  };
  const set = (s: BusStatus) => {
    status = s;
    for (const l of listeners) l(s);
  };
  return { bus, sent, set };
}

async function until(what: string, ms: number, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('revoker and an unreliable bus', () => {
  it('a broadcast that never settles does not hold up the revocation', async () => {
    const stuck: RevocationBus = { publish: () => new Promise(() => {}), subscribe: async () => {}, close: async () => {} };
    const index = new RevocationIndex();
    await new Revoker(index, createMemoryStorage().revocations, stuck, testClock(T)).revokeToken('j1', T + 1000);
    assert.equal(index.check(claims()), 'jti');
  });

  it('while the bus is down, the store is polled for other instances\' records; once it is up, no longer', async () => {
    const storage = createMemoryStorage();
    const reads = { n: 0 };
    const listRecordedSince = storage.revocations.listRecordedSince.bind(storage.revocations);
    storage.revocations.listRecordedSince = (since) => (reads.n++, listRecordedSince(since));
    const { bus, set } = switchableBus();
    const index = new RevocationIndex();
    const revoker = new Revoker(index, storage.revocations, bus, Date.now, { pollEveryMs: 10 });
    await revoker.start();
    try {
      const peer = new Revoker(new RevocationIndex(), storage.revocations, undefined);
      await peer.revokeToken('before', Date.now() + 60_000);
      assert.equal(index.check(claims({ jti: 'before' })), null, 'nothing polled while the bus is up');
      assert.equal(reads.n, 0);
      set('down');
      assert.equal(revoker.busStatus, 'down');
      await peer.revokeToken('during', Date.now() + 60_000);
      await until('the record polled', 2000, () => index.check(claims({ jti: 'during' })) === 'jti');
      assert.equal(index.check(claims({ jti: 'before' })), 'jti', 'a record written just before the bus went down is read too');
      set('up');
      const after = reads.n;
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(reads.n <= after + 1, 'polling stopped');
    } finally {
      await revoker.stop();
    }
  });

  it('without a bus, a record stamped by a writer whose clock is behind (more than the poll overlap) is read by the periodic reload', async () => {
    // One database, two clocks: the writer (another instance, or the CLI on another host) is a
    // minute behind, so its record's recorded_at is older than anything the poller asks for.
    const behind = createMemoryStorage({ clock: () => Date.now() - 60_000 });
    const index = new RevocationIndex();
    const revoker = new Revoker(index, behind.revocations, undefined, Date.now, { pollEveryMs: 10 });
    await revoker.start(20);
    try {
      await new Revoker(new RevocationIndex(), behind.revocations, undefined).revokeToken('skewed', Date.now() + 60_000);
      await until('the skewed writer\'s record read', 2000, () => index.check(claims({ jti: 'skewed' })) === 'jti');
    } finally {
      await revoker.stop();
    }
  });

  it('the bus back before the store: polling goes on until the store answers, so what peers revoked meanwhile is read', async () => {
    const storage = createMemoryStorage();
    let storeDown = false;
    const listRecordedSince = storage.revocations.listRecordedSince.bind(storage.revocations);
    const store: RevocationStore = { ...storage.revocations, listRecordedSince: (since) => (storeDown ? Promise.reject(new Error('database down')) : listRecordedSince(since)) };
    const { bus, set } = switchableBus();
    const index = new RevocationIndex();
    const revoker = new Revoker(index, store, bus, Date.now, { pollEveryMs: 10 });
    await revoker.start();
    try {
      set('down');
      storeDown = true;
      // A peer with a working database signs someone out; its broadcast is lost to this instance.
      await new Revoker(new RevocationIndex(), storage.revocations, undefined).revokeToken('meanwhile', Date.now() + 60_000);
      set('up'); // Redis is back; this instance's database is not, yet
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(index.check(claims({ jti: 'meanwhile' })), null, 'nothing to read from a database that is down');
      storeDown = false;
      await until('the peer\'s record read once the database is back', 2000, () => index.check(claims({ jti: 'meanwhile' })) === 'jti');
    } finally {
      await revoker.stop();
    }
  });

  it('records not broadcast while the bus was down are broadcast when it is back', async () => {
    const { bus, sent, set } = switchableBus();
    const revoker = new Revoker(new RevocationIndex(), createMemoryStorage().revocations, bus, testClock(T), { pollEveryMs: 60_000 });
    await revoker.start();
    try {
      set('down');
      await revoker.revokeToken('j1', T + 1000);
      await revoker.revokeSessions(['s1'], T + 1000);
      await new Promise((r) => setImmediate(r));
      assert.equal(sent.length, 0);
      set('up');
      await until('the backlog broadcast', 1000, () => sent.length === 2);
      assert.deepEqual(sent.map((r) => r.key).sort(), ['j1', 's1']);
    } finally {
      await revoker.stop();
    }
  });
});

describe('revocation index', () => {
  it('a user rule refuses sessionless tokens issued up to its time, not later ones nor session-bound ones', () => {
    const index = new RevocationIndex();
    index.apply({ kind: 'user', key: 'u1', value: String(T / 1000), expiresAt: T + 1000 });
    assert.equal(index.check(claims()), 'user');
    assert.equal(index.check(claims({ iat: undefined as unknown as number })), 'user', 'no iat counts as before');
    assert.equal(index.check(claims({ iat: T / 1000 + 1 })), null);
    assert.equal(index.check(claims({ sid: 's1' })), null);
    // An older rule arriving later (a late broadcast) does not move the cut-off back.
    index.apply({ kind: 'user', key: 'u1', value: String(T / 1000 - 100), expiresAt: T + 1000 });
    assert.equal(index.check(claims()), 'user');
  });

  it('a user rule refuses session-bound tokens whose session opened up to its moment (read from the sid), not later ones', () => {
    const index = new RevocationIndex();
    const at = T + 123; // a moment with a millisecond fraction
    index.apply(userRevocation('u1', at, T + 1000));
    assert.equal(index.check(claims({ sid: newSessionId(at - 5000) })), 'user');
    assert.equal(index.check(claims({ sid: newSessionId(at) })), 'user', 'up to and including the moment');
    assert.equal(index.check(claims({ sid: newSessionId(at + 1) })), null);
    assert.equal(index.check(claims({ sid: '6f1c2b1e-8c1d-4a55-9d1a-2b3c4d5e6f70' })), null, 'a v4 id carries no time: its own sid record covers it');
    assert.equal(index.check(claims({ sub: 'u2', sid: newSessionId(at - 5000) })), null, 'another user');
    // Sessionless tokens: by iat, whole seconds (issued in the second of the moment counts as before).
    assert.equal(index.check(claims({ iat: T / 1000 })), 'user');
    assert.equal(index.check(claims({ iat: T / 1000 + 1 })), null);
  });

  it('session ids carry their opening time to the millisecond; the user rule\'s value round-trips it', () => {
    for (const ms of [0, T, T + 1, T + 999, 2 ** 48 - 1]) {
      const id = newSessionId(ms);
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(sessionOpenedAt(id), ms);
      assert.equal(userRevocationMs(userRevocation('u', ms, 0)), ms);
    }
    assert.notEqual(newSessionId(T), newSessionId(T));
    assert.equal(userRevocation('u', T, 0).value, String(T / 1000), 'whole seconds as older versions wrote them');
    assert.equal(userRevocation('u', T + 7, 0).value, `${T / 1000}.007`);
    assert.equal(sessionOpenedAt('not-a-uuid'), undefined);
  });

  it('of two role overrides the later (by deadline) stays, whichever is applied last: a late broadcast or a stale reload changes nothing', () => {
    const index = new RevocationIndex();
    index.apply(roleOverride('u1', ['user'], T + 1001));
    index.apply(roleOverride('u1', ['user', 'admin'], T + 1000));
    assert.deepEqual(index.rolesOf(claims({ roles: ['user'] })), ['user']);
    index.apply(roleOverride('u1', ['user'], T + 1001)); // the same record again
    index.apply(roleOverride('u1', ['editor'], T + 1002));
    assert.deepEqual(index.rolesOf(claims({ roles: ['user'] })), ['editor']);
  });

  it('a malformed role override grants no role (fails closed); sweep drops what has expired', () => {
    const index = new RevocationIndex();
    index.apply({ kind: 'roles', key: 'u1', value: 'not json', expiresAt: T + 1000 });
    assert.deepEqual(index.rolesOf(claims({ roles: ['admin'] })), []);
    index.apply({ kind: 'jti', key: 'j1', value: '', expiresAt: T + 2000 });
    index.sweep(T + 1000);
    assert.deepEqual(index.rolesOf(claims({ roles: ['admin'] })), ['admin']);
    assert.equal(index.size, 1);
  });
});

describe('bus messages', () => {
  it('only well-formed records are accepted', () => {
    const good = { kind: 'sid', key: 's1', value: '', expiresAt: T };
    assert.deepEqual(parseRecord(good), good);
    assert.deepEqual(parseRecord({ ...good, extra: 1 }), good, 'extra fields are dropped');
    for (const bad of [null, 'sid', [], { ...good, kind: 'everything' }, { ...good, key: 1 }, { ...good, expiresAt: '1' }, { kind: 'roles', key: 'u' }]) {
      assert.equal(parseRecord(bad), null, JSON.stringify(bad));
    }
  });
});
