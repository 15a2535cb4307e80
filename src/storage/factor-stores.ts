// The second-factor and challenge stores, written once for both SQL adapters (as sql-stores.ts is
// for users and sessions). Every check-then-act is one conditional statement, or a transaction that
// holds the user's row first, so several instances sharing the database cannot both use one TOTP
// step, one recovery code, one signature counter value or one challenge, nor both enrol a first
// authenticator app or a first set of recovery codes. The writes that enrol or remove a factor go
// through `write`, which runs them in one transaction with the events they are given
// (sql-stores.ts); those that check and then write, through `together`: always one transaction.
import { CHALLENGES, PASSKEYS, RECOVERY_CODES, TOTP_FACTORS, type Table } from './columns.js';
import type { Emit } from '../events/records.js';
import type { ChallengeStore, FactorStore } from './factor-types.js';
import {
  assignments, insertRow, join, param, raw, rowDecoder, sql, type Dialect, type Plan, type Result, type Row, type Script, type Sql,
} from './sql.js';

/**
 * Removes every second factor, recovery code and pending sign-in (challenge) of the user; returns
 * how many factors (authenticator apps, pending or not, and passkeys) went. A plan: run inside the
 * transaction of the write it is part of (deleteAllForUser's, or a reset's users.update).
 */
export function* deletingFactors(userId: string): Plan<number> {
  const totp = (yield sql`DELETE FROM totp_factors WHERE user_id = ${userId}`).changes;
  const passkeys = (yield sql`DELETE FROM passkeys WHERE user_id = ${userId}`).changes;
  yield sql`DELETE FROM recovery_codes WHERE user_id = ${userId}`;
  yield sql`DELETE FROM challenges WHERE user_id = ${userId}`;
  return totp + passkeys;
}

export function sqlFactorStores(
  d: Dialect,
  exec: (s: Sql | Script) => Promise<Result>,
  write: <T>(plan: Plan<T>, events: Emit<T> | undefined) => Promise<T>,
  together: <T>(plan: Plan<T>, events: Emit<T> | undefined) => Promise<T>,
): { factors: FactorStore; challenges: ChallengeStore } {
  const totp = rowDecoder(d, TOTP_FACTORS);
  const passkey = rowDecoder(d, PASSKEYS);
  const challenge = rowDecoder(d, CHALLENGES);
  const rows = async (s: Sql): Promise<Row[]> => (await exec(s)).rows;
  const changes = async (s: Sql): Promise<number> => (await exec(s)).changes;
  const set = <R>(t: Table<R>, patch: Partial<R>): Sql => join(assignments(d, t, patch), ', ');
  const byCreation = raw(`created_at, ${d.ddl.binary('id')}`);

  /**
   * Takes the user's row lock for the rest of the transaction (SQLite's write transactions hold the
   * whole database already): on PostgreSQL's READ COMMITTED a check-then-write of two transactions
   * at once would each see the other's write not yet there (two active TOTP factors, two sets of
   * recovery codes). Statements after the lock see what the one before committed.
   */
  const lockUser = (userId: string): Sql => sql`SELECT id FROM users WHERE id = ${userId}${raw(d.forUpdate)}`;
  /**
   * The new set goes in first (one statement), then every other code of the user goes: should the
   * second statement fail, the old codes stay valid beside the new ones, never none at all (with
   * events, both and the events are one transaction).
   */
  function* replacingCodes(userId: string, hashes: readonly string[], now: number): Plan<void> {
    if (hashes.length > 0) {
      const values = hashes.map((h) => sql`(${userId}, ${h}, ${now}, ${null})`);
      yield sql`INSERT INTO recovery_codes (user_id, code_hash, created_at, used_at) VALUES ${join(values, ', ')}
        ON CONFLICT (user_id, code_hash) DO NOTHING`;
    }
    const keep = hashes.length > 0 ? sql` AND code_hash NOT IN (${join(hashes.map((h) => sql`${h}`), ', ')})` : sql``;
    yield sql`DELETE FROM recovery_codes WHERE user_id = ${userId}${keep}`;
  }

  const factors: FactorStore = {
    async addPendingTotp(f) {
      await exec(sql`DELETE FROM totp_factors WHERE user_id = ${f.userId} AND confirmed_at IS NULL`);
      const record = { ...f, confirmedAt: null, lastUsedStep: null, lastUsedAt: null };
      return totp((await rows(sql`${insertRow(d, TOTP_FACTORS, record)} RETURNING *`))[0]!);
    },
    async listTotp(userId) {
      return (await rows(sql`SELECT * FROM totp_factors WHERE user_id = ${userId} ORDER BY ${byCreation}`)).map(totp);
    },
    confirmTotp(userId, id, step, now, events) {
      return together((function* (): Plan<boolean> {
        yield lockUser(userId);
        return (yield sql`
          UPDATE totp_factors SET ${set(TOTP_FACTORS, { confirmedAt: now, lastUsedStep: step, lastUsedAt: now })}
          WHERE id = ${id} AND user_id = ${userId} AND confirmed_at IS NULL
            AND NOT EXISTS (SELECT 1 FROM totp_factors active WHERE active.user_id = ${userId} AND active.confirmed_at IS NOT NULL)`).changes === 1;
      })(), events);
    },
    async useTotpStep(id, step, now) {
      return (await changes(sql`
        UPDATE totp_factors SET ${set(TOTP_FACTORS, { lastUsedStep: step, lastUsedAt: now })}
        WHERE id = ${id} AND confirmed_at IS NOT NULL AND (last_used_step IS NULL OR last_used_step < ${step})`)) === 1;
    },
    async resealTotp(id, previous, next) {
      return (await changes(sql`UPDATE totp_factors SET ${set(TOTP_FACTORS, { sealedSecret: next })} WHERE id = ${id} AND sealed_secret = ${previous}`)) === 1;
    },
    deleteTotp: (userId, id, events) => write((function* (): Plan<boolean> {
      return (yield sql`DELETE FROM totp_factors WHERE id = ${id} AND user_id = ${userId}`).changes > 0;
    })(), events),

    replaceRecoveryCodes(userId, hashes, now, events) {
      return write(replacingCodes(userId, hashes, now), events);
    },
    issueRecoveryCodes(userId, hashes, now) {
      return together((function* (): Plan<boolean> {
        yield lockUser(userId);
        const unused = Number((yield sql`SELECT count(*) AS n FROM recovery_codes WHERE user_id = ${userId} AND used_at IS NULL`).rows[0]!.n);
        if (unused > 0) return false;
        yield* replacingCodes(userId, hashes, now);
        return true;
      })(), undefined);
    },
    async useRecoveryCode(userId, codeHash, now) {
      return (await changes(sql`
        UPDATE recovery_codes SET ${set(RECOVERY_CODES, { usedAt: now })}
        WHERE user_id = ${userId} AND code_hash = ${codeHash} AND used_at IS NULL`)) === 1;
    },
    async countRecoveryCodes(userId) {
      return Number((await rows(sql`SELECT count(*) AS n FROM recovery_codes WHERE user_id = ${userId} AND used_at IS NULL`))[0]!.n);
    },

    addPasskey(p, events) {
      return write((function* (): Plan<ReturnType<typeof passkey> | null> {
        const [row] = (yield sql`${insertRow(d, PASSKEYS, p)} ON CONFLICT (id) DO NOTHING RETURNING *`).rows;
        return row ? passkey(row) : null;
      })(), events);
    },
    async getPasskey(id) {
      const [row] = await rows(sql`SELECT * FROM passkeys WHERE id = ${id}`);
      return row ? passkey(row) : null;
    },
    async listPasskeys(userId) {
      return (await rows(sql`SELECT * FROM passkeys WHERE user_id = ${userId} ORDER BY ${byCreation}`)).map(passkey);
    },
    async usePasskey(id, previous, next, backedUp, now) {
      return (await changes(sql`
        UPDATE passkeys SET ${set(PASSKEYS, { signCount: next, backedUp, lastUsedAt: now })}
        WHERE id = ${id} AND sign_count = ${param(d, PASSKEYS, 'signCount', previous)}`)) === 1;
    },
    deletePasskey: (userId, id, events) => write((function* (): Plan<boolean> {
      return (yield sql`DELETE FROM passkeys WHERE id = ${id} AND user_id = ${userId}`).changes > 0;
    })(), events),

    deleteAllForUser: (userId, events) => write((function* (): Plan<void> {
      yield sql`DELETE FROM totp_factors WHERE user_id = ${userId}`;
      yield sql`DELETE FROM passkeys WHERE user_id = ${userId}`;
      yield sql`DELETE FROM recovery_codes WHERE user_id = ${userId}`;
    })(), events),
  };

  const challenges: ChallengeStore = {
    async put(c) {
      await exec(sql`${insertRow(d, CHALLENGES, c)}`);
    },
    async get(id, kind, now) {
      const [row] = await rows(sql`SELECT * FROM challenges WHERE kind = ${kind} AND id = ${id} AND expires_at > ${now}`);
      return row ? challenge(row) : null;
    },
    async take(id, kind, now) {
      // One DELETE … RETURNING: of concurrent takes exactly one sees the row.
      const [row] = await rows(sql`DELETE FROM challenges WHERE kind = ${kind} AND id = ${id} RETURNING *`);
      const taken = row ? challenge(row) : null;
      return taken !== null && taken.expiresAt > now ? taken : null;
    },
    deleteForUser: (userId) => changes(sql`DELETE FROM challenges WHERE user_id = ${userId}`),
    purge: (now) => changes(sql`DELETE FROM challenges WHERE expires_at <= ${now}`),
  };

  return { factors, challenges };
}
