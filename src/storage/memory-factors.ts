// The second-factor and challenge stores of the in-process adapter (memory.ts). Same semantics as
// the SQL ones (factor-stores.ts): each method reads and writes without an await in between, which
// makes its check-then-act atomic on one event loop; records are copied in and out. A write given
// events writes them (through `record`, which checks them all first) before it changes anything.
import type { Emit, NewEvent } from '../events/records.js';
import { eventsOf } from './rules.js';
import type {
  ChallengeRecord, ChallengeStore, FactorStore, PasskeyRecord, RecoveryCodeRecord, TotpFactorRecord,
} from './factor-types.js';

const byCreation = (a: { createdAt: number; id: string }, b: { createdAt: number; id: string }): number =>
  a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const copyPasskey = (p: PasskeyRecord): PasskeyRecord => ({ ...p, transports: [...p.transports] });

export interface MemoryFactorStores {
  factors: FactorStore;
  challenges: ChallengeStore;
  /** ON DELETE CASCADE from users; also a reset's removal of every factor (users.update's effects). */
  deleteUser(userId: string): void;
  /** How many factors (authenticator apps, pending or not, and passkeys) the user has. */
  countFactors(userId: string): number;
}

/** `userExists` mirrors the foreign keys to users; `record` inserts events or throws, inserting none. */
export function createMemoryFactorStores(userExists: (id: string) => boolean, record: (events: readonly NewEvent[]) => void = () => {}): MemoryFactorStores {
  /** The events of a write whose result is `result`, written before the write changes anything. */
  const first = <T>(emit: Emit<T> | undefined, result: T): T => (record(eventsOf(emit, result)), result);
  const totp = new Map<string, TotpFactorRecord>();
  const codes = new Map<string, RecoveryCodeRecord>(); // userId \0 codeHash
  const passkeys = new Map<string, PasskeyRecord>();
  const challenges = new Map<string, ChallengeRecord>(); // kind \0 id

  const mustExist = (userId: string, what: string): void => {
    if (!userExists(userId)) throw new Error(`${what}: user ${userId} does not exist`);
  };
  const deleteWhere = <V>(map: Map<string, V>, pred: (v: V) => boolean): number => {
    let n = 0;
    for (const [k, v] of map) if (pred(v)) (map.delete(k), n++);
    return n;
  };

  const factors: FactorStore = {
    async addPendingTotp(f) {
      mustExist(f.userId, 'addPendingTotp');
      if (totp.has(f.id)) throw new Error(`addPendingTotp: id ${f.id} already exists`);
      deleteWhere(totp, (t) => t.userId === f.userId && t.confirmedAt === null);
      const record: TotpFactorRecord = { ...f, confirmedAt: null, lastUsedStep: null, lastUsedAt: null };
      totp.set(f.id, record);
      return { ...record };
    },
    async listTotp(userId) {
      return [...totp.values()].filter((t) => t.userId === userId).sort(byCreation).map((t) => ({ ...t }));
    },
    async confirmTotp(userId, id, step, now, emit) {
      const t = totp.get(id);
      if (!t || t.userId !== userId || t.confirmedAt !== null) return first(emit, false);
      if ([...totp.values()].some((x) => x.userId === userId && x.confirmedAt !== null)) return first(emit, false);
      first(emit, true);
      Object.assign(t, { confirmedAt: now, lastUsedStep: step, lastUsedAt: now });
      return true;
    },
    async useTotpStep(id, step, now) {
      const t = totp.get(id);
      if (!t || t.confirmedAt === null || (t.lastUsedStep !== null && t.lastUsedStep >= step)) return false;
      Object.assign(t, { lastUsedStep: step, lastUsedAt: now });
      return true;
    },
    async resealTotp(id, previous, next) {
      const t = totp.get(id);
      if (!t || t.sealedSecret !== previous) return false;
      t.sealedSecret = next;
      return true;
    },
    async deleteTotp(userId, id, emit) {
      const t = totp.get(id);
      return first(emit, t !== undefined && t.userId === userId) && totp.delete(id);
    },

    async replaceRecoveryCodes(userId, hashes, now, emit) {
      mustExist(userId, 'replaceRecoveryCodes');
      first(emit, undefined);
      deleteWhere(codes, (c) => c.userId === userId);
      for (const codeHash of hashes) codes.set(`${userId}\u0000${codeHash}`, { userId, codeHash, createdAt: now, usedAt: null });
    },
    async issueRecoveryCodes(userId, hashes, now) {
      // No await between the check and the write: a call at the same time must see this one's codes.
      if ([...codes.values()].some((c) => c.userId === userId && c.usedAt === null)) return false;
      await factors.replaceRecoveryCodes(userId, hashes, now); // its writes happen at the call: it never awaits
      return true;
    },
    async useRecoveryCode(userId, codeHash, now) {
      const c = codes.get(`${userId}\u0000${codeHash}`);
      if (!c || c.usedAt !== null) return false;
      c.usedAt = now;
      return true;
    },
    async countRecoveryCodes(userId) {
      return [...codes.values()].filter((c) => c.userId === userId && c.usedAt === null).length;
    },

    async addPasskey(p, emit) {
      mustExist(p.userId, 'addPasskey');
      if (passkeys.has(p.id)) return first(emit, null);
      first(emit, copyPasskey(p));
      passkeys.set(p.id, copyPasskey(p));
      return copyPasskey(p);
    },
    async getPasskey(id) {
      const p = passkeys.get(id);
      return p ? copyPasskey(p) : null;
    },
    async listPasskeys(userId) {
      return [...passkeys.values()].filter((p) => p.userId === userId).sort(byCreation).map(copyPasskey);
    },
    async usePasskey(id, previous, next, backedUp, now) {
      const p = passkeys.get(id);
      if (!p || p.signCount !== previous) return false;
      Object.assign(p, { signCount: next, backedUp, lastUsedAt: now });
      return true;
    },
    async deletePasskey(userId, id, emit) {
      const p = passkeys.get(id);
      return first(emit, p !== undefined && p.userId === userId) && passkeys.delete(id);
    },

    async deleteAllForUser(userId, emit) {
      first(emit, undefined);
      deleteWhere(totp, (t) => t.userId === userId);
      deleteWhere(passkeys, (p) => p.userId === userId);
      deleteWhere(codes, (c) => c.userId === userId);
    },
  };

  const challengeStore: ChallengeStore = {
    async put(c) {
      if (c.userId !== null) mustExist(c.userId, 'challenges.put');
      const k = `${c.kind}\u0000${c.id}`;
      if (challenges.has(k)) throw new Error(`challenges.put: ${c.kind} ${c.id} already exists`);
      challenges.set(k, { ...c });
    },
    async get(id, kind, now) {
      const c = challenges.get(`${kind}\u0000${id}`);
      return c && c.expiresAt > now ? { ...c } : null;
    },
    async take(id, kind, now) {
      const k = `${kind}\u0000${id}`;
      const c = challenges.get(k);
      if (!c) return null;
      challenges.delete(k);
      return c.expiresAt > now ? { ...c } : null;
    },
    deleteForUser: async (userId) => deleteWhere(challenges, (c) => c.userId === userId),
    purge: async (now) => deleteWhere(challenges, (c) => c.expiresAt <= now),
  };

  return {
    factors,
    challenges: challengeStore,
    deleteUser(userId) {
      void factors.deleteAllForUser(userId);
      deleteWhere(challenges, (c) => c.userId === userId);
    },
    countFactors(userId) {
      return [...totp.values()].filter((t) => t.userId === userId).length + [...passkeys.values()].filter((p) => p.userId === userId).length;
    },
  };
}
