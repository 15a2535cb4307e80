// Bulk import of users from the system Warden replaces (`warden import`). Each row is checked with
// the sign-up rules, matched against the users already stored (by id, by legacy id, or by email
// when the row has no id) and created, updated (only with `update`) or left as it is. A row that
// cannot be imported is rejected with its reason and nothing of it is written; the others go on.
// Rows come in batches; a batch's new users are inserted in one transaction. One UserImport is one
// run: it remembers which rows claimed which keys, so a duplicate later in the input is named.
import { createHash, randomUUID } from 'node:crypto';
import { WardenError } from '@warden/toolkit';
import type { Revoker } from '../revocation/revoker.js';
import { UniqueViolation, type NewUser, type Storage, type UserPatch, type UserRecord } from '../storage/types.js';
import { booleanValue, isBlank, rolesValue, textValue, timeValue, verifiedValue } from './import-values.js';
import { needsRehash, type PasswordHasher } from './password-hasher.js';
import type { Retention } from './retention.js';
import { roleOverrideWrite } from './role-override.js';
import type { EventLog } from '../events/log.js';
import type { Sessions } from './sessions.js';
import { fromSource, type DigestSource } from './hashes/fast-digest.js';
import { FLASK_SECURITY_PREFIX } from './hashes/flask-security.js';
import { isDoubleHashed } from './hashes/index.js';
import { describeStoredHash } from './stored-hash.js';
import { isUuid } from './users.js';
import {
  invalid, normaliseEmail, PASSWORD_MIN_LENGTH, requireString, validateFullName, validatePassword, validateRoles, validateUsername, type PasswordLengths,
} from './validate.js';
import type { ImportField } from './import-fields.js';

export { IMPORT_FIELDS, type ImportField } from './import-fields.js';

export interface ImportRow {
  /** Where the row is in the input, for the report ("line 12", "row 5"). */
  ref: string;
  fields: Partial<Record<ImportField, unknown>>;
  /** Roles from elsewhere than the row's own `roles` (a join table), added to them. */
  extraRoles?: readonly string[];
  /** Roles granted when a column is true (e.g. is_superuser as "admin"). */
  roleFlags?: readonly { role: string; value: unknown }[];
}

export type ImportAction = 'created' | 'updated' | 'unchanged' | 'rejected';

export interface ImportOutcome {
  ref: string;
  action: ImportAction;
  /** The Warden user id (absent for a rejected row that matched no user). */
  id?: string;
  /** The row's own id when it was not a UUID (kept as the user's legacy id). */
  legacyId?: string;
  /** Why the row was rejected. */
  reason?: string;
}

export interface UserImportDeps {
  storage: Pick<Storage, 'users'>;
  /** One user.imported per user written, in the transaction that writes it (a batch's bulk insert, or an update). */
  events: EventLog;
  hasher: PasswordHasher;
  sessions: Sessions;
  revoker: Revoker;
  retention: Retention;
  clock: () => number;
  defaultRoles: readonly string[];
  passwordMaxLength: number;
}

export interface UserImportOptions {
  /** Overwrite users that already exist (default: leave them as they are). */
  update: boolean;
  /** Check and match everything, write nothing, hash nothing. */
  dryRun: boolean;
  /**
   * Stores (and matches) a non-UUID id as `<prefix>:<id>`: the ids of a second application, whose
   * integer keys overlap the first one's, then never match the first one's users.
   */
  legacyPrefix?: string;
  /**
   * A row without a password (none given, or Django's mark of a user who has none: a social
   * sign-in) makes a user without one, who signs in after a password reset; by default such a row
   * is rejected (a column missed by the mapping would otherwise import everyone so).
   */
  allowNoPassword?: boolean;
  /**
   * Whose single fast digests the source's hashes are ("sha256$salt$hex" and the like), which are
   * otherwise refused: werkzeug < 2.3's or Django's (they wrote one layout with two functions).
   */
  fastDigests?: DigestSource;
  /**
   * The source is a Flask-Security application: the hashes it made twice (an HMAC under its
   * SECURITY_PASSWORD_SALT first) are stored as such, for sign-in to redo the HMAC.
   */
  flaskSecurity?: boolean;
}

/** Stored for a user imported without a password: Django's own mark, which no password matches. */
export const NO_PASSWORD = '!';

/** A batch checked and matched, waiting to be written. */
export interface PreparedBatch {
  outcomes: ImportOutcome[];
  creates: { i: number; user: NewUser; password: string | undefined }[];
  updates: { i: number; before: UserRecord; patch: UserPatch; password: string | undefined }[];
}

/** A row that passed the field rules. */
interface Candidate {
  ref: string;
  id: string | undefined; // a UUID given by the row
  legacyId: string | undefined; // a non-UUID id given by the row, as stored (with the prefix), or its legacy_id
  sourceId: string | undefined; // that non-UUID id as the row gives it, for the report (undefined when legacyId came from legacy_id)
  username: string | undefined; // given by the row
  usernameKey: string | undefined; // the same, lower-cased (the key usernames are unique by)
  usernameChoices: string[]; // derived from the email when the row gives none: the plain one, then a suffixed one
  email: string;
  passwordHash: string | undefined;
  password: string | undefined;
  /** The row has no password (allowNoPassword): passwordHash is a mark no password matches, never written over a stored one. */
  noPassword: boolean;
  fullName: string | null;
  roles: string[];
  isActive: boolean;
  emailVerified: boolean | undefined; // undefined: the row does not say
  createdAt: number | undefined;
  /** What the row says, for --update: a field it does not name (no column, or a blank roles or is_active) is left as stored. */
  says: { fullName: boolean; roles: boolean; isActive: boolean };
}

const MAX_LEGACY_ID_LENGTH = 255;
const NONE: string[] = [];
const SLICE = 200;

export class UserImport {
  // What earlier rows of this run (kept, updated or created) claimed.
  private readonly refOf = new Map<string, string>(); // Warden id -> the row's ref
  private readonly claimedLegacy = new Map<string, string>(); // legacy id -> ref
  private readonly claimedEmails = new Map<string, string>(); // email -> Warden id
  private readonly claimedNames = new Map<string, string>(); // lower-cased username -> Warden id
  private startedEmpty: boolean | undefined;

  constructor(private readonly d: UserImportDeps, private readonly o: UserImportOptions) {}

  /** Imports one batch; one outcome per row, in order. */
  async batch(rows: readonly ImportRow[]): Promise<ImportOutcome[]> {
    return this.write(await this.prepare(rows));
  }

  /**
   * Checks and matches one batch and decides each row's fate (remembering what it claims), without
   * writing. Batches must be prepared in input order; their writing may overlap the preparing and
   * the writing of the next ones: no two batches of a run claim the same user (what each claims is
   * remembered here), so batches written side by side never collide with each other.
   */
  async prepare(rows: readonly ImportRow[]): Promise<PreparedBatch> {
    // Plain loops, no closure per row: a run checks 100,000 rows and more. Every few hundred rows
    // the event loop is let in: the answer to the batch being written meanwhile is read there, and
    // the next batch goes to the database only then.
    const outcomes: ImportOutcome[] = new Array(rows.length);
    const candidates: (Candidate | undefined)[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      if (i % SLICE === SLICE - 1) await new Promise((resolve) => setImmediate(resolve));
      const row = rows[i]!;
      const out: ImportOutcome = (outcomes[i] = { ref: row.ref, action: 'rejected' });
      try {
        candidates[i] = this.candidate(row);
      } catch (e) {
        out.reason = reasonOf(e);
        // The row's own id, to find it by: as id when a UUID, else as legacy id.
        const id = row.fields.id;
        if (!isBlank(id) && (typeof id === 'string' || typeof id === 'number')) out[isUuid(String(id).trim()) ? 'id' : 'legacyId'] = String(id).trim();
      }
    }

    const valid = candidates.filter((c): c is Candidate => c !== undefined);
    // Into a database that had no user when the run began, every stored user is one this run
    // created (and remembers) or one signed up meanwhile (the insert skips it): no lookups needed.
    this.startedEmpty ??= (await this.d.storage.users.count()) === 0;
    const stored = this.startedEmpty ? [] : await this.d.storage.users.findByKeys({
      ids: valid.flatMap((c) => (c.id ? [c.id] : [])),
      legacyIds: valid.flatMap((c) => (c.legacyId ? [c.legacyId] : [])),
      emails: valid.map((c) => c.email),
      usernames: valid.flatMap((c) => (c.username ? [c.username] : c.usernameChoices)),
    });
    const existing = new Index(stored);

    const creates: PreparedBatch['creates'] = [];
    const updates: PreparedBatch['updates'] = [];
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i];
      if (c) this.decide(c, i, outcomes[i]!, existing, creates, updates);
    }
    return { outcomes, creates, updates };
  }

  /** Whether a checked row creates a user, updates one or leaves it; or why it is rejected. */
  /**
   * An imported plain password is one its user already has (like a hash, whose length nobody
   * knows): held to NIST's floor, not to a PASSWORD_MIN_LENGTH raised since, so that its user keeps it.
   */
  private importedLengths(): PasswordLengths {
    return { minLength: PASSWORD_MIN_LENGTH, maxLength: this.d.passwordMaxLength };
  }

  private decide(c: Candidate, i: number, out: ImportOutcome, existing: Index, creates: PreparedBatch['creates'], updates: PreparedBatch['updates']): void {
    if (c.sourceId) out.legacyId = c.sourceId;
    try {
      const match = c.id ? existing.byId.get(c.id) : c.legacyId ? existing.byLegacy.get(c.legacyId) : existing.byEmail.get(c.email);
      this.checkNotClaimed(c, match?.id);
      if (match) {
        out.id = match.id;
        // No adapter changes a stored legacy id: a row whose legacy_id (sourceId unset: not from a
        // non-UUID id, which is what it was matched by) says another is refused, not half-applied.
        if (c.legacyId !== undefined && c.sourceId === undefined && match.legacyId !== c.legacyId) {
          throw invalid('legacy_id', `the user holds ${match.legacyId === null ? 'none' : match.legacyId}; an import gives a legacy id only to the users it creates`);
        }
        const patch = this.o.update ? this.patchFor(c, match, existing) : {};
        this.claim(c, match.id, patch.username ?? match.username);
        // A plain password may or may not be the stored one: applyUpdate checks (write() in a dry run).
        if (!this.o.update || (Object.keys(patch).length === 0 && c.password === undefined)) {
          out.action = 'unchanged';
        } else {
          out.action = 'updated';
          updates.push({ i, before: match, patch, password: c.password });
        }
        return;
      }
      const taken = existing.byEmail.get(c.email);
      if (taken) throw invalid('email', `already registered to another user (${taken.id})`);
      const holder = c.legacyId === undefined ? undefined : existing.byLegacy.get(c.legacyId);
      if (holder) throw invalid('legacy_id', `already held by another user (${holder.id})`);
      const username = this.pickUsername(c, existing, undefined);
      const user: NewUser = {
        id: c.id ?? randomUUID(), legacyId: c.legacyId ?? null, username, email: c.email, fullName: c.fullName,
        roles: c.roles, isActive: c.isActive, emailVerified: c.emailVerified ?? false, passwordHash: c.passwordHash ?? '', createdAt: c.createdAt,
      };
      out.id = user.id;
      out.action = 'created';
      creates.push({ i, user, password: c.password });
      this.claim(c, user.id, username);
    } catch (e) {
      out.action = 'rejected';
      out.reason = reasonOf(e);
    }
  }

  /** Writes a prepared batch (nothing in a dry run): new users in one transaction, then updates. */
  async write({ outcomes, creates, updates }: PreparedBatch): Promise<ImportOutcome[]> {
    if (this.o.dryRun) {
      // A row whose only change may be its plain password is checked against the stored hash, as
      // the real run checks it: else the dry run's counts would differ from the run's.
      await eachLimited(updates.filter((u) => u.password !== undefined && Object.keys(u.patch).length === 0), async (u) => {
        if (await this.d.hasher.verify(u.before.passwordHash, u.password!, { userId: u.before.id })) outcomes[u.i]!.action = 'unchanged';
      });
      return outcomes;
    }

    // Plain passwords are hashed now, a few at a time (the hasher bounds how many run at once).
    await eachLimited(creates, async (c) => {
      if (c.password !== undefined) c.user.passwordHash = await this.d.hasher.hash(c.password);
    });
    // One user.imported per user inserted, in the insert's transaction.
    const imported = new Map(creates.map((c) => [c.user.id, [this.d.events.make('user.imported', { userId: c.user.id }, { action: 'created' })]]));
    const inserted = new Set(await this.d.events.writeEach(imported, (eventsOf) => this.d.storage.users.insertMany(creates.map((c) => c.user), eventsOf)));
    for (const c of creates) {
      if (inserted.has(c.user.id)) continue;
      // Taken between the lookup and the insert (a sign-up meanwhile): nothing was written.
      Object.assign(outcomes[c.i]!, { action: 'rejected', reason: 'collides with a user stored meanwhile (id, username, email or legacy id); run the import again' });
    }
    for (const u of updates) {
      try {
        await this.applyUpdate(u.before, u.patch, u.password, outcomes[u.i]!);
      } catch (e) {
        Object.assign(outcomes[u.i]!, { action: 'rejected', reason: reasonOf(e) });
      }
    }
    return outcomes;
  }

  /** The row's fields, checked with the sign-up rules. Throws ERR_VALIDATION naming the field. */
  private candidate(row: ImportRow): Candidate {
    const f = row.fields;
    let id: string | undefined;
    let legacyId: string | undefined;
    let sourceId: string | undefined;
    if (!isBlank(f.id)) {
      const raw = textValue(f.id, 'id');
      if (isUuid(raw)) id = raw.toLowerCase();
      else {
        sourceId = legacyIdText(raw, 'id');
        legacyId = this.o.legacyPrefix === undefined ? raw : `${this.o.legacyPrefix}:${raw}`;
      }
    }
    if (!isBlank(f.legacy_id)) {
      if (legacyId !== undefined) throw invalid('legacy_id', 'cannot be given with an id that is not a UUID (that id becomes the legacy id)');
      // As Warden stored it, prefix and all: --legacy-prefix applies to the ids it makes legacy.
      legacyId = legacyIdText(textValue(f.legacy_id, 'legacy_id'), 'legacy_id');
    }
    if (isBlank(f.email)) throw invalid('email', 'is required');
    const email = normaliseEmail(f.email);
    const username = isBlank(f.username) ? undefined : validateUsername(f.username);

    let passwordHash: string | undefined;
    let password: string | undefined;
    let noPassword = false;
    const withoutOne = (field: string, what: string): void => {
      if (!this.o.allowNoPassword) throw invalid(field, `${what} (--allow-no-password imports such users without one: they sign in after a password reset)`);
      passwordHash = NO_PASSWORD;
      noPassword = true;
    };
    const storedHash = hashText(f.password_hash);
    if (!isBlank(storedHash)) {
      passwordHash = requireString(storedHash, 'password_hash').trim();
      const digest = this.o.fastDigests === undefined ? null : fromSource(passwordHash, this.o.fastDigests);
      if (digest !== null && 'plain' in digest) {
        // werkzeug's method="plain": the password itself, hashed here like a file's plain password.
        password = validatePassword(digest.plain, this.importedLengths());
        passwordHash = undefined;
      } else {
        if (digest !== null) passwordHash = digest.hash;
        else if (this.o.flaskSecurity && isDoubleHashed(passwordHash)) passwordHash = FLASK_SECURITY_PREFIX + passwordHash;
        const info = describeStoredHash(passwordHash);
        if (info.format === 'django-unusable') withoutOne('password_hash', "is Django's mark of a user without a password (set_unusable_password)");
        else if (!info.usable) {
          const hint = info.format === 'unknown' && fromSource(passwordHash, 'hex') !== null ? '; if it is a bare hex digest of the password, import with --fast-digests hex' : '';
          throw invalid('password_hash', `${info.format === 'unknown' ? 'not a password hash Warden can verify' : `${info.format} hash`} (${info.problem})${hint}`);
        }
      }
    } else if (!isBlank(f.password)) {
      // An export of the old users table (Django's auth_user, a Flask app's user) names its hash
      // "password": taken for a plain one, it would be hashed again and no one could sign in.
      const looks = describeStoredHash(String(f.password).trim());
      if (looks.format === 'django-unusable') withoutOne('password', "is Django's mark of a user without a password (set_unusable_password), not a password");
      else {
        password = validatePassword(f.password, this.importedLengths());
        if (looks.format !== 'unknown') throw invalid('password', `holds a ${looks.format} hash, not a plain password: name the column password_hash, or --map password=password_hash`);
      }
    } else {
      withoutOne('password_hash', 'is required (or a plain password in "password")');
    }

    let roles = isBlank(f.roles) ? [] : validateRoles(rolesValue(f.roles));
    if (row.extraRoles !== undefined || row.roleFlags !== undefined) {
      const more = [...roles, ...(row.extraRoles ?? [])];
      for (const flag of row.roleFlags ?? []) if (!isBlank(flag.value) && booleanValue(flag.value, `role:${flag.role}`)) more.push(flag.role);
      roles = validateRoles(more);
    }
    return {
      ref: row.ref, id, legacyId, sourceId, username, usernameKey: username?.toLowerCase(), usernameChoices: username ? NONE : usernamesFromEmail(email),
      email, passwordHash, password, noPassword,
      fullName: isBlank(f.full_name) ? null : validateFullName(textValue(f.full_name, 'full_name')),
      roles: roles.length > 0 ? roles : [...this.d.defaultRoles],
      isActive: activeValue(f),
      emailVerified: isBlank(f.email_verified) ? undefined : verifiedValue(f.email_verified, 'email_verified'),
      createdAt: isBlank(f.created_at) ? undefined : timeValue(f.created_at, 'created_at'),
      says: {
        fullName: f.full_name !== undefined, // a column there, even empty: the source's name is none
        roles: !isBlank(f.roles) || row.extraRoles !== undefined || row.roleFlags !== undefined,
        isActive: !isBlank(f.is_active) || !isBlank(f.disabled),
      },
    };
  }

  /** Refuses a row whose id, legacy id, email or username an earlier row of this run already claimed. */
  private checkNotClaimed(c: Candidate, matchedId: string | undefined): void {
    const byEmail = this.claimedEmails.get(c.email);
    const byName = c.usernameKey === undefined ? undefined : this.claimedNames.get(c.usernameKey);
    const refused = (c.id !== undefined && earlier(this.refOf.get(c.id), 'same id'))
      || (c.legacyId !== undefined && earlier(this.claimedLegacy.get(c.legacyId), 'same id'))
      || (matchedId !== undefined && earlier(this.refOf.get(matchedId), 'same user'))
      || (byEmail !== undefined && byEmail !== matchedId && earlier(this.refOf.get(byEmail), 'email: same email', ', compared in lower case'))
      || (byName !== undefined && byName !== matchedId && earlier(this.refOf.get(byName), 'username: same username', ', compared in any case'));
    if (refused) throw refused;
  }

  private claim(c: Candidate, id: string, username: string): void {
    this.refOf.set(id, c.ref);
    if (c.legacyId !== undefined) this.claimedLegacy.set(c.legacyId, c.ref);
    this.claimedEmails.set(c.email, id);
    this.claimedNames.set(username === c.username ? c.usernameKey! : username.toLowerCase(), id);
  }

  /** The row's username, or the first name derived from its email that no other user holds. */
  private pickUsername(c: Candidate, existing: Index, self: string | undefined): string {
    if (c.username !== undefined) {
      if (!this.isFree(c.usernameKey!, existing, self)) throw invalid('username', 'already registered to another user');
      return c.username;
    }
    const name = c.usernameChoices.find((n) => this.isFree(n.toLowerCase(), existing, self));
    if (name === undefined) throw invalid('username', `none given, and the ones made from the email (${c.usernameChoices.join(', ')}) are taken`);
    return name;
  }

  /** No user holds the name (lower-cased), other than `self`: neither a stored one nor one this run claimed it for. */
  private isFree(key: string, existing: Index, self: string | undefined): boolean {
    const holder = existing.byName.get(key)?.id ?? this.claimedNames.get(key);
    return holder === undefined || holder === self;
  }

  /** What --update changes on a stored user: only what differs. */
  private patchFor(c: Candidate, u: UserRecord, existing: Index): UserPatch {
    const patch: UserPatch = {};
    if (c.email !== u.email) {
      const holder = existing.byEmail.get(c.email);
      if (holder && holder.id !== u.id) throw invalid('email', `already registered to another user (${holder.id})`);
      patch.email = c.email;
    }
    if (c.username !== undefined && c.username !== u.username) patch.username = this.pickUsername(c, existing, u.id);
    // What the row does not say stays as Warden has it (a role granted, an account disabled there).
    if (c.says.fullName && c.fullName !== u.fullName) patch.fullName = c.fullName;
    if (c.says.roles && !sameSet(c.roles, u.roles)) patch.roles = c.roles;
    if (c.says.isActive && c.isActive !== u.isActive) patch.isActive = c.isActive;
    // As an administrator's change of address: the new one is not verified unless the row says so.
    // A row that does not say leaves the stored flag as it is.
    const verified = c.emailVerified ?? (patch.email !== undefined ? false : undefined);
    if (verified !== undefined && verified !== u.emailVerified) patch.emailVerified = verified;
    // Warden's own hash (a sign-in's upgrade, a reset, a change) is newer than any legacy export of
    // the source: a rerun does not downgrade it, nor end the sessions signed in with it.
    const downgrade = c.passwordHash !== undefined && needsRehash(this.d.hasher, c.passwordHash) && !needsRehash(this.d.hasher, u.passwordHash);
    // A row without a password leaves the stored one as it is (it may be one set in Warden since).
    if (c.passwordHash !== undefined && c.passwordHash !== u.passwordHash && !downgrade && !c.noPassword) patch.passwordHash = c.passwordHash;
    return patch;
  }

  /** Writes an update and refuses tokens as an administrator's change would. */
  private async applyUpdate(before: UserRecord, patch: UserPatch, password: string | undefined, out: ImportOutcome): Promise<void> {
    // A plain password that the stored hash already matches changes nothing (a rerun stays a no-op).
    if (password !== undefined && !(await this.d.hasher.verify(before.passwordHash, password, { userId: before.id }))) {
      patch.passwordHash = await this.d.hasher.hash(password);
    }
    if (Object.keys(patch).length === 0) {
      out.action = 'unchanged';
      return;
    }
    let after: UserRecord | null;
    // A deactivation or a new password refuses the user's tokens in the same transaction, as an
    // administrator's (admin.ts).
    const refusal = (patch.isActive === false && before.isActive) || patch.passwordHash !== undefined
      ? this.d.sessions.refusal(before.id, 'import', { all: true }) : undefined;
    // A role change's override in the same transaction, as an administrator's (admin.ts).
    const roles = patch.roles === undefined ? undefined : roleOverrideWrite(this.d.revoker, this.d.retention.roleOverride(this.d.clock()));
    try {
      const fields = Object.keys(patch).map((k) => (k === 'passwordHash' ? 'password' : k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)));
      const imported = (r: UserRecord | null) => (r ? [this.d.events.make('user.imported', { userId: before.id }, { action: 'updated', fields })] : []);
      // The password only over the hash it was decided on: a sign-in's upgrade, a reset or a change
      // made since is newer than the source's, and acknowledged to the user; it is not overwritten.
      const only = patch.passwordHash !== undefined ? { passwordHashWas: before.passwordHash } : {};
      after = await this.d.events.write<UserRecord | null>(imported, (emit) =>
        this.d.storage.users.update(before.id, patch, emit, only, roles?.override, refusal ? { sessions: refusal.sessions } : undefined));
    } catch (e) {
      if (e instanceof UniqueViolation) throw invalid(e.field, 'already registered to another user');
      throw e;
    }
    if (!after && patch.passwordHash !== undefined && (await this.d.storage.users.findById(before.id)) !== null) {
      throw invalid('password', 'changed in Warden during the import (a sign-in, a reset or a change): kept; run the import again');
    }
    if (!after) throw new WardenError('ERR_USER_NOT_FOUND', 'the user was deleted during the import');
    roles?.publish();
    refusal?.publish();
  }
}

/** Stored users by each key a row can match on. */
class Index {
  readonly byId = new Map<string, UserRecord>();
  readonly byLegacy = new Map<string, UserRecord>();
  readonly byEmail = new Map<string, UserRecord>();
  readonly byName = new Map<string, UserRecord>();
  constructor(users: readonly UserRecord[]) {
    for (const u of users) {
      this.byId.set(u.id, u);
      if (u.legacyId !== null) this.byLegacy.set(u.legacyId, u);
      this.byEmail.set(u.email, u);
      this.byName.set(u.username.toLowerCase(), u);
    }
  }
}

/**
 * Runs `work` on every item, HASHING_AT_ONCE at a time. The hasher's limiter is the process's and
 * sheds what waits past 512 per core (a sign-in storm's 503): a batch's passwords handed to it all
 * at once (1,000, two batches in flight) stopped the import there on a machine of two cores.
 */
async function eachLimited<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(HASHING_AT_ONCE, items.length) }, worker));
}

// Enough to keep every core of a large machine busy; two batches in flight stay far below the shedding.
const HASHING_AT_ONCE = 32;

/**
 * A stored hash as text. python-bcrypt's hashpw() returns bytes, which land in a BLOB (SQLite) or a
 * bytea (PostgreSQL) column as they are: their text is the hash.
 */
function hashText(v: unknown): unknown {
  if (!(v instanceof Uint8Array)) return v;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(v);
  } catch {
    throw invalid('password_hash', 'is bytes that are not UTF-8 text');
  }
}

/** A legacy id as given (an id that is not a UUID, or legacy_id): text, without NUL, of bounded length. */
function legacyIdText(raw: string, field: string): string {
  requireString(raw, field);
  if (raw.length > MAX_LEGACY_ID_LENGTH) throw invalid(field, `must be at most ${MAX_LEGACY_ID_LENGTH} characters`);
  return raw;
}

/** is_active, or the opposite of `disabled`; active when the row says neither. Both, disagreeing: refused. */
function activeValue(f: ImportRow['fields']): boolean {
  const active = isBlank(f.is_active) ? undefined : booleanValue(f.is_active, 'is_active');
  const disabled = isBlank(f.disabled) ? undefined : booleanValue(f.disabled, 'disabled');
  if (active !== undefined && disabled !== undefined && active === disabled) throw invalid('disabled', 'says the opposite of is_active');
  return active ?? (disabled === undefined ? true : !disabled);
}

/**
 * Usernames for a row without one (fastapi-users keeps only emails): the email's local part made to
 * fit the username rule, then the same with a suffix from the email's hash, used when the first is
 * taken. Deterministic, so a rerun makes the same choice.
 */
export function usernamesFromEmail(email: string): string[] {
  const base = email.slice(0, email.lastIndexOf('@')).replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 57);
  const suffixed = `${base}-${createHash('sha256').update(email).digest('hex').slice(0, 6)}`;
  return base.length >= 3 ? [base, suffixed] : [suffixed];
}

/** The refusal of a row that claims what the row `ref` claimed before it, if there is one. */
function earlier(ref: string | undefined, what: string, how = ''): WardenError | false {
  // `how`: the two rows' texts may differ (Erin@ and erin@), which "same" alone leaves a puzzle.
  return ref !== undefined && new WardenError('ERR_VALIDATION', `${what} as ${ref}${how}`);
}

function reasonOf(e: unknown): string {
  if (e instanceof WardenError) return e.message;
  throw e; // not a row's fault: the import stops (storage down, say)
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
