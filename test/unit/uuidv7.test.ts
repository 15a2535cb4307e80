// The one UUIDv7 generator (src/ids/uuidv7.ts) that events and sessions share: the moment read
// back exactly, version and variant bits, and ids of one millisecond in increasing order however
// the two kinds of id interleave (the audit log's keyset paging relies on it).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { uuidv7, uuidv7Time } from '../../src/ids/uuidv7.js';
import { newSessionId, sessionOpenedAt } from '../../src/revocation/session-id.js';

const T = 1_700_000_000_123;
const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidv7', () => {
  it('carries its moment to the millisecond, with the version and variant bits', () => {
    for (const ms of [0, 1, T, 2 ** 48 - 1]) {
      const id = uuidv7(ms);
      assert.match(id, V7);
      assert.equal(uuidv7Time(id), ms);
    }
    assert.equal(uuidv7Time('6f1c2b1e-8c1d-4a55-9d1a-2b3c4d5e6f70'), undefined, 'a v4 id carries no time');
    assert.equal(uuidv7Time('not-a-uuid'), undefined);
  });

  it('ids of one millisecond increase, event and session ids alike; a later millisecond sorts after', () => {
    const ids: string[] = [];
    for (let i = 0; i < 500; i++) ids.push(i % 3 === 0 ? newSessionId(T) : uuidv7(T));
    assert.deepEqual([...ids].sort(), ids, 'in the order made');
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(ids.every((id) => sessionOpenedAt(id) === T));
    assert.ok(uuidv7(T + 1) > ids.at(-1)!);
    // A new millisecond starts its count afresh (random, in the lower half).
    const first = uuidv7(T + 2);
    assert.ok(Number.parseInt(first.slice(15, 18), 16) < 0x800);
  });

  it('ids of one millisecond increase while ids of the next one are made between them', () => {
    // A sign-in right after a sign-out everywhere opens its session a millisecond on (past the
    // logout's cut-off), while its events, and every other request's, are stamped with the clock:
    // ids of two milliseconds interleave. Each millisecond's ids must still increase (the audit
    // log and a user's events list them in id order within a millisecond).
    const U = T + 1000;
    const now: string[] = [];
    const next: string[] = [];
    for (let i = 0; i < 300; i++) {
      now.push(uuidv7(U));
      next.push(newSessionId(U + 1));
    }
    assert.deepEqual([...now].sort(), now, 'this millisecond\'s ids, in the order made');
    assert.deepEqual([...next].sort(), next, 'the next one\'s, in the order made');
    assert.ok(now.at(-1)! < next[0]!);
  });
});
