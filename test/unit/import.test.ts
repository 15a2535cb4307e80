// Bulk import rules (accounts/importer.ts) over memory storage and the fake hasher: sign-up
// validation per row, matching by id / legacy id / email, idempotence, --update with the same
// revocations as an administrator's change, duplicates within one run, dry runs that write nothing.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { WardenError } from '@warden/toolkit';
import { usernamesFromEmail, type ImportRow, type UserImportOptions } from '../../src/accounts/importer.js';
import { accountsFixture, PASSWORD } from '../helpers/accounts.js';

// A werkzeug hash from test/fixtures/legacy-hashes (the password is "correct horse battery staple").
const WERKZEUG = 'pbkdf2:sha256:1000$3T4W0pXq$97e31ef3dd9fd00a3cb79ae1b0fe7adc103e3054c3d2194c977245d366a3bca2';

let n = 0;
function row(fields: ImportRow['fields'], extra: Partial<ImportRow> = {}): ImportRow {
  return { ref: `line ${++n}`, fields, ...extra };
}

function run(f: ReturnType<typeof accountsFixture>, o: Partial<UserImportOptions> = {}) {
  return f.accounts.startImport({ update: false, dryRun: false, ...o });
}

describe('import: rows', () => {
  it('creates users from valid rows; a UUID id is kept, any other becomes the legacy id of a new UUID', async () => {
    const f = accountsFixture();
    const uuid = randomUUID();
    const out = await run(f).batch([
      row({ id: uuid, username: 'ann', email: 'Ann@Example.com', password_hash: WERKZEUG, full_name: ' Ann A ', roles: 'admin, user', is_active: 'false', created_at: '2021-03-04 05:06:07.123456' }),
      row({ id: 42, username: 'ben', email: 'ben@example.com', password: PASSWORD }),
    ]);
    assert.deepEqual(out.map((o) => o.action), ['created', 'created']);
    const ann = (await f.storage.users.findById(uuid))!;
    assert.deepEqual(
      { ...ann, updatedAt: 0 },
      { id: uuid, username: 'ann', email: 'ann@example.com', fullName: 'Ann A', roles: ['admin', 'user'], isActive: false, passwordHash: WERKZEUG, emailVerified: false, legacyId: null, createdAt: Date.UTC(2021, 2, 4, 5, 6, 7, 123), updatedAt: 0 },
    );
    const ben = (await f.storage.users.findByLogin('ben'))!;
    assert.equal(ben.legacyId, '42');
    assert.notEqual(ben.id, '42');
    assert.equal(out[1]!.id, ben.id);
    assert.equal(ben.passwordHash, await f.hasher.hash(PASSWORD), 'a plain password is hashed by the hasher');
    assert.deepEqual(ben.roles, ['user'], 'no roles: the default roles');
  });

  it('rejects each invalid row with the field and the reason, and writes nothing of it', async () => {
    const f = accountsFixture();
    const cases: [ImportRow['fields'], RegExp][] = [
      [{ username: 'ab', email: 'x1@example.com', password_hash: WERKZEUG }, /^username: must be 3 to 64/],
      [{ username: 'row2', email: 'not-an-email', password_hash: WERKZEUG }, /^email: must be a valid email/],
      [{ username: 'row3', password_hash: WERKZEUG }, /^email: is required/],
      [{ username: 'row4', email: 'x4@example.com' }, /^password_hash: is required/],
      [{ username: 'row5', email: 'x5@example.com', password: 'short' }, /^password: must be at least 8/],
      [{ username: 'row6', email: 'x6@example.com', password_hash: 'sha1$salt$abcdef' }, /^password_hash: legacy-digest hash \(unsupported/],
      [{ username: 'row7', email: 'x7@example.com', password_hash: 'plain text' }, /^password_hash: not a password hash Warden can verify/],
      [{ username: 'row8', email: 'x8@example.com', password_hash: '$5$rounds=999999999$salt$' + 'a'.repeat(43) }, /too costly/],
      [{ username: 'row9', email: 'x9@example.com', password_hash: WERKZEUG, roles: ['bad role!'] }, /^roles: each role/],
      [{ username: 'row10', email: 'x10@example.com', password_hash: WERKZEUG, is_active: 'maybe' }, /^is_active: must be true or false/],
      [{ username: 'row11', email: 'x11@example.com', password_hash: WERKZEUG, created_at: 'yesterday' }, /^created_at: must be a date/],
      [{ username: 'row11b', email: 'x11b@example.com', password_hash: WERKZEUG, created_at: '2020-02-30T00:00:00Z' }, /^created_at: must be a date/], // not rolled over to March 1st
      [{ id: 'x'.repeat(256), username: 'row12', email: 'x12@example.com', password_hash: WERKZEUG }, /^id: must be at most 255/],
      [{ username: 'row13', email: 'x13@example.com', password_hash: WERKZEUG, email_verified: 'soon' }, /^email_verified: must be true or false .*or the date it was verified$/],
      // An export whose "password" column holds the hash (Django, Flask): never hashed again as a plain password.
      [{ username: 'row14', email: 'x14@example.com', password: WERKZEUG }, /^password: holds a werkzeug-pbkdf2 hash, not a plain password: name the column password_hash/],
      [{ username: 'row15', email: 'x15@example.com', password: 'md5$salt$0123456789abcdef0123456789abcdef' }, /^password: holds a legacy-digest hash/],
      // Django's set_unusable_password() (a user made by a social sign-in): no password, never one made of the mark.
      [{ username: 'row16', email: 'x16@example.com', password: '!p9MUG5s4axyJW0qt5JTGut7Zr4168dA3rbAAbyw6' }, /^password: is Django's mark of a user without a password \(set_unusable_password\), not a password \(--allow-no-password imports such users/],
      [{ username: 'row17', email: 'x17@example.com', password_hash: '!p9MUG5s4axyJW0qt5JTGut7Zr4168dA3rbAAbyw6' }, /^password_hash: is Django's mark of a user without a password \(set_unusable_password\) \(--allow-no-password/],
    ];
    const out = await run(f).batch(cases.map(([fields]) => row(fields)));
    cases.forEach(([, reason], i) => {
      assert.equal(out[i]!.action, 'rejected', JSON.stringify(out[i]));
      assert.match(out[i]!.reason!, reason);
    });
    assert.equal(await f.storage.users.count(), 0);
  });

  it('a batch of many plain passwords is hashed without flooding the hasher, whose queue sheds as a sign-in storm\'s would', async () => {
    const f = accountsFixture();
    // As the server's limiter: past a bound of waiting hashes, ERR_UNAVAILABLE (503 at sign-in).
    const hash = f.hasher.hash.bind(f.hasher);
    let pending = 0;
    f.hasher.hash = async (password: string) => {
      if (pending >= 100) throw new WardenError('ERR_UNAVAILABLE', 'Too many password checks in progress; retry shortly');
      pending++;
      try {
        await new Promise((resolve) => setImmediate(resolve));
        return await hash(password);
      } finally {
        pending--;
      }
    };
    const rows = Array.from({ length: 600 }, (_, i) => row({ username: `plain${i}`, email: `plain${i}@example.com`, password: `plain-password-${i}` }));
    const out = await run(f).batch(rows);
    assert.equal(out.filter((o) => o.action === 'created').length, 600);
    assert.equal(await f.storage.users.count(), 600);
  });

  it('a hash stored as bytes (python-bcrypt\'s hashpw() into a BLOB or bytea column) is read as its text', async () => {
    const f = accountsFixture();
    const out = await run(f).batch([
      row({ id: 1, username: 'blobby', email: 'blobby@example.com', password_hash: Buffer.from(WERKZEUG) }),
      row({ id: 2, username: 'binary', email: 'binary@example.com', password_hash: new Uint8Array([0xff, 0xfe, 0x00]) }),
    ]);
    assert.deepEqual(out.map((o) => o.action), ['created', 'rejected'], JSON.stringify(out));
    assert.equal(out[1]!.reason, 'password_hash: is bytes that are not UTF-8 text');
    assert.equal((await f.storage.users.findByLogin('blobby'))!.passwordHash, WERKZEUG);
  });

  it('a plain password that merely starts with "!" is a password', async () => {
    const f = accountsFixture();
    const out = await run(f).batch([row({ username: 'bang', email: 'bang@example.com', password: '!Summer-2024-garden' })]);
    assert.equal(out[0]!.action, 'created', out[0]!.reason);
  });

  it('role flags grant a role when the column is true; a join table\'s roles are added', async () => {
    const f = accountsFixture();
    await run(f).batch([
      row({ username: 'root', email: 'root@example.com', password_hash: WERKZEUG }, { roleFlags: [{ role: 'admin', value: 't' }, { role: 'staff', value: 0 }], extraRoles: ['editor'] }),
    ]);
    assert.deepEqual((await f.storage.users.findByLogin('root'))!.roles, ['editor', 'admin']);
  });

  it('disabled, as FastAPI\'s tutorial keeps it, is is_active\'s opposite; both, disagreeing, are refused', async () => {
    const f = accountsFixture();
    const out = await run(f).batch([
      row({ id: 1, username: 'johndoe', email: 'johndoe@example.com', password_hash: WERKZEUG, disabled: 'f' }),
      row({ id: 2, username: 'alice', email: 'alice@example.com', password_hash: WERKZEUG, disabled: true }),
      row({ id: 3, username: 'both', email: 'both@example.com', password_hash: WERKZEUG, disabled: 1, is_active: 1 }),
      row({ id: 4, username: 'agree', email: 'agree@example.com', password_hash: WERKZEUG, disabled: 'yes', is_active: 'no' }),
      row({ id: 5, username: 'odd', email: 'odd@example.com', password_hash: WERKZEUG, disabled: 'banned' }),
    ]);
    assert.deepEqual(out.map((o) => o.action), ['created', 'created', 'rejected', 'created', 'rejected']);
    assert.equal(out[2]!.reason, 'disabled: says the opposite of is_active');
    assert.match(out[4]!.reason!, /^disabled: must be true or false/);
    assert.equal((await f.storage.users.findByLogin('johndoe'))!.isActive, true);
    assert.equal((await f.storage.users.findByLogin('alice'))!.isActive, false);
    assert.equal((await f.storage.users.findByLogin('agree'))!.isActive, false);
    // --update: a user disabled at the source since is deactivated, as with is_active.
    const again = await run(f, { update: true }).batch([row({ id: 1, username: 'johndoe', email: 'johndoe@example.com', password_hash: WERKZEUG, disabled: 't' })]);
    assert.equal(again[0]!.action, 'updated');
    assert.equal((await f.storage.users.findByLogin('johndoe'))!.isActive, false);
  });

  it('a row without a username gets one from its email, suffixed when that one is taken', async () => {
    const f = accountsFixture();
    await f.addUser('jane');
    const out = await run(f).batch([
      row({ email: 'jane@one.example', password_hash: WERKZEUG }),
      row({ email: 'jo+x@two.example', password_hash: WERKZEUG }),
    ]);
    assert.deepEqual(out.map((o) => o.action), ['created', 'created']);
    assert.equal((await f.storage.users.findByLogin('jane@one.example'))!.username, usernamesFromEmail('jane@one.example')[1]);
    assert.match(usernamesFromEmail('jane@one.example')[1]!, /^jane-[0-9a-f]{6}$/);
    assert.equal((await f.storage.users.findByLogin('jo+x@two.example'))!.username, 'jo_x');
  });
});

describe('import: email_verified', () => {
  it('a verified address stays verified: true/false in any spelling, or the date it was; absent, blank or null is not verified', async () => {
    const f = accountsFixture();
    const cases: [unknown, boolean][] = [
      [true, true], ['yes', true], [1, true], ['t', true], ['2021-05-06 07:08:09', true], [new Date('2021-05-06T07:08:09Z'), true],
      [false, false], ['false', false], [0, false], [undefined, false], ['', false], [null, false],
    ];
    const out = await run(f).batch(cases.map(([v], i) => row({ username: `ver${i}`, email: `ver${i}@example.com`, password_hash: WERKZEUG, email_verified: v })));
    assert.deepEqual(out.map((o) => o.action), cases.map(() => 'created'));
    for (const [i, [v, verified]] of cases.entries()) {
      assert.equal((await f.storage.users.findByLogin(`ver${i}`))!.emailVerified, verified, `email_verified ${String(v)}`);
    }
  });

  it('--update: the row\'s flag overwrites the stored one; a row that does not say leaves it; a new address is unverified unless the row says', async () => {
    const f = accountsFixture();
    const base = { id: 20, username: 'uma', email: 'uma@example.com', password_hash: WERKZEUG };
    await run(f).batch([row({ ...base, email_verified: true })]);
    const uma = () => f.storage.users.findByLogin('uma').then((u) => u!.emailVerified);
    assert.equal(await uma(), true);
    assert.equal((await run(f, { update: true }).batch([row(base)]))[0]!.action, 'unchanged', 'a row without the field changes nothing');
    assert.equal(await uma(), true);
    assert.equal((await run(f, { update: true }).batch([row({ ...base, email_verified: 'no' })]))[0]!.action, 'updated');
    assert.equal(await uma(), false);
    await run(f, { update: true }).batch([row({ ...base, email_verified: 'yes' })]);
    await run(f, { update: true }).batch([row({ ...base, email: 'uma@example.org' })]);
    assert.equal(await uma(), false, 'a changed address is not verified');
    await run(f, { update: true }).batch([row({ ...base, email: 'uma@example.net', email_verified: true })]);
    assert.equal(await uma(), true, 'unless the row says it is');
  });
});

describe('import: events', () => {
  it('one user.imported per user created, written with it; none for a row the insert had to skip', async () => {
    let before: (() => Promise<unknown>) | undefined;
    const f = accountsFixture({
      wrapStorage: (s) => ({ ...s, users: { ...s.users, insertMany: async (users, events) => (await before?.(), s.users.insertMany(users, events)) } }),
    });
    before = () => f.addUser('nina'); // signs up between the import's lookup and its insert
    const out = await run(f).batch([
      row({ username: 'nina', email: 'nina@example.com', password_hash: WERKZEUG }),
      row({ username: 'otto', email: 'otto@example.com', password_hash: WERKZEUG }),
    ]);
    assert.deepEqual(out.map((o) => o.action), ['rejected', 'created']);
    assert.match(out[0]!.reason!, /collides with a user stored meanwhile/);
    const events = await f.storage.events.list({ limit: 10, types: ['user.imported'] });
    assert.deepEqual(events.map((e) => [e.userId, e.details]), [[out[1]!.id, { action: 'created' }]]);
  });
});

describe('import: matching and idempotence', () => {
  const rows = () => [
    row({ id: 7, username: 'gil', email: 'gil@example.com', password_hash: WERKZEUG, roles: 'user' }),
    row({ id: randomUUID(), username: 'hal', email: 'hal@example.com', password: PASSWORD }),
    row({ username: 'ida', email: 'ida@example.com', password_hash: WERKZEUG }),
  ];

  it('a second run changes nothing: every row is matched (legacy id, UUID, email) and left as it is', async () => {
    const f = accountsFixture();
    const input = rows();
    assert.deepEqual((await run(f).batch(input)).map((o) => o.action), ['created', 'created', 'created']);
    const before = (await f.storage.users.list({ limit: 10, offset: 0 })).users;
    f.clock.advance(60_000);
    const again = await run(f).batch(input.map((r) => ({ ...r, fields: { ...r.fields, full_name: 'Changed' } })));
    assert.deepEqual(again.map((o) => o.action), ['unchanged', 'unchanged', 'unchanged']);
    assert.deepEqual(again.map((o) => o.id).sort(), before.map((u) => u.id).sort());
    assert.deepEqual((await f.storage.users.list({ limit: 10, offset: 0 })).users, before);
  });

  it('--update overwrites what differs; a deactivation or a new hash refuses tokens, a role change overrides them', async () => {
    const f = accountsFixture();
    await run(f).batch([row({ id: 8, username: 'kim', email: 'kim@example.com', password: PASSWORD, roles: 'user' })]);
    const kim = (await f.storage.users.findByLogin('kim'))!;
    const pair = await f.signIn('kim');
    const same = await run(f, { update: true }).batch([row({ id: 8, username: 'kim', email: 'kim@example.com', password: PASSWORD, roles: 'user' })]);
    assert.equal(same[0]!.action, 'unchanged', 'the stored hash already matches the plain password');
    assert.equal(f.guard(pair.access.token), 'ok');

    f.clock.advance(1000);
    const out = await run(f, { update: true }).batch([row({ id: 8, username: 'Kimberly', email: 'kim@example.org', password: PASSWORD, roles: 'user,editor', full_name: 'Kim' })]);
    assert.equal(out[0]!.action, 'updated');
    const after = (await f.storage.users.findById(kim.id))!;
    assert.deepEqual([after.username, after.email, after.fullName, after.roles], ['Kimberly', 'kim@example.org', 'Kim', ['user', 'editor']]);
    assert.deepEqual(f.rolesOf(pair.access.token), ['user', 'editor'], 'live tokens carry the new roles');
    assert.equal(f.guard(pair.access.token), 'ok');

    await run(f, { update: true }).batch([row({ id: 8, username: 'Kimberly', email: 'kim@example.org', password: PASSWORD, roles: 'user,editor', full_name: 'Kim', is_active: false })]);
    assert.equal(f.guard(pair.access.token), 'ERR_JWT_REVOKED', 'a deactivation refuses tokens');
  });

  it('--update leaves what the row does not say as Warden has it: a role granted and an account disabled there, the name', async () => {
    const f = accountsFixture();
    await run(f).batch([row({ id: 11, username: 'dave', email: 'dave@example.com', password: PASSWORD, full_name: 'Dave', roles: 'user', is_active: true })]);
    const dave = (await f.storage.users.findByLogin('dave'))!;
    await f.storage.users.update(dave.id, { roles: ['admin'], isActive: false }); // as an administrator did in Warden
    const slim = await run(f, { update: true }).batch([row({ id: 11, username: 'dave', email: 'dave@example.com', password: PASSWORD })]);
    assert.equal(slim[0]!.action, 'unchanged');
    const blanks = await run(f, { update: true }).batch([row({ id: 11, username: 'dave', email: 'dave@example.com', password: PASSWORD, roles: '', is_active: '' })]);
    assert.equal(blanks[0]!.action, 'unchanged', 'a blank roles or is_active says nothing either');
    const after = (await f.storage.users.findById(dave.id))!;
    assert.deepEqual([after.roles, after.isActive, after.fullName], [['admin'], false, 'Dave']);
    // A column the row has, even empty, is the source's value: no name there.
    await run(f, { update: true }).batch([row({ id: 11, username: 'dave', email: 'dave@example.com', password: PASSWORD, full_name: '', is_active: 'true' })]);
    const named = (await f.storage.users.findById(dave.id))!;
    assert.deepEqual([named.roles, named.isActive, named.fullName], [['admin'], true, null]);
  });

  it('--update: a new legacy hash replaces a legacy one; it never downgrades Warden\'s own hash (nor ends its sessions)', async () => {
    const f = accountsFixture();
    const OTHER = 'pbkdf2:sha256:1000$Zq9X1pAb$0b2f0c8e1d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c';
    await run(f).batch([row({ id: 9, username: 'lou', email: 'lou@example.com', password_hash: WERKZEUG })]);
    const lou = (await f.storage.users.findByLogin('lou'))!;
    // Lou signs in, and the legacy hash is upgraded to today's, as a sign-in does (the fake hasher cannot read werkzeug's).
    const upgraded = await f.hasher.hash(PASSWORD);
    await f.storage.users.replacePasswordHash(lou.id, WERKZEUG, upgraded);
    const pair = await f.signIn('lou');
    // A rerun of the same export after that sign-in: Warden's hash stands, and so does the session.
    const rerun = await run(f, { update: true }).batch([row({ id: 9, username: 'lou', email: 'lou@example.com', password_hash: WERKZEUG })]);
    assert.equal(rerun[0]!.action, 'unchanged');
    assert.equal((await f.storage.users.findById(lou.id))!.passwordHash, upgraded);
    assert.equal(f.guard(pair.access.token), 'ok');

    // A user who never signed in to Warden still holds the legacy hash: a changed one at the source replaces it.
    await run(f).batch([row({ id: 10, username: 'max', email: 'max@example.com', password_hash: WERKZEUG })]);
    const changed = await run(f, { update: true }).batch([row({ id: 10, username: 'max', email: 'max@example.com', password_hash: OTHER })]);
    assert.equal(changed[0]!.action, 'updated');
    assert.equal((await f.storage.users.findByLogin('max'))!.passwordHash, OTHER);
  });

  it('--update: a password changed in Warden between the run\'s read and its write is kept, the row rejected to run again', async () => {
    const f = accountsFixture();
    const OTHER = 'pbkdf2:sha256:1000$Zq9X1pAb$0b2f0c8e1d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c';
    await run(f).batch([row({ id: 11, username: 'ned', email: 'ned@example.com', password_hash: WERKZEUG })]);
    const ned = (await f.storage.users.findByLogin('ned'))!;
    // The run reads Ned with his legacy hash and decides to replace it with the source's newer one…
    const imp = run(f, { update: true });
    const prepared = await imp.prepare([row({ id: 11, username: 'ned', email: 'ned@example.com', full_name: 'Ned', password_hash: OTHER })]);
    assert.deepEqual(prepared.updates.map((u) => Object.keys(u.patch).sort()), [['fullName', 'passwordHash']]);
    // …and before it writes, Ned signs in (his hash upgraded to Warden's) and is answered.
    const upgraded = await f.hasher.hash(PASSWORD);
    assert.equal(await f.storage.users.replacePasswordHash(ned.id, WERKZEUG, upgraded), true);
    const pair = await f.signIn('ned');
    const [out] = await imp.write(prepared);
    assert.equal(out!.action, 'rejected');
    assert.match(out!.reason!, /changed in Warden during the import.*run the import again/);
    const after = (await f.storage.users.findById(ned.id))!;
    assert.deepEqual([after.passwordHash, after.fullName], [upgraded, null], 'nothing of the row written');
    assert.equal(f.guard(pair.access.token), 'ok', 'his session stands');
    // Run again, the row sees Warden's hash and does not downgrade it.
    const again = await run(f, { update: true }).batch([row({ id: 11, username: 'ned', email: 'ned@example.com', full_name: 'Ned', password_hash: OTHER })]);
    assert.equal(again[0]!.action, 'updated');
    assert.deepEqual([(await f.storage.users.findById(ned.id))!.passwordHash, (await f.storage.users.findById(ned.id))!.fullName], [upgraded, 'Ned']);
  });

  it('--update refuses to take another user\'s email or username', async () => {
    const f = accountsFixture();
    await f.addUser('owner');
    await run(f).batch([row({ id: 9, username: 'lee', email: 'lee@example.com', password_hash: WERKZEUG })]);
    const out = await run(f, { update: true }).batch([
      row({ id: 9, username: 'lee', email: 'owner@example.com', password_hash: WERKZEUG }),
      row({ id: 9, username: 'OWNER', email: 'lee@example.com', password_hash: WERKZEUG }),
    ]);
    assert.match(out[0]!.reason!, /^email: already registered to another user/);
    assert.match(out[1]!.reason!, /^username: already registered to another user/);
    assert.equal((await f.storage.users.findByLogin('lee'))!.email, 'lee@example.com');
  });

  it('a new row whose email or username another user holds is rejected', async () => {
    const f = accountsFixture();
    await f.addUser('taken');
    const out = await run(f).batch([
      row({ id: 10, username: 'fresh', email: 'TAKEN@example.com', password_hash: WERKZEUG }),
      row({ id: 11, username: 'Taken', email: 'fresh@example.com', password_hash: WERKZEUG }),
    ]);
    assert.match(out[0]!.reason!, /^email: already registered/);
    assert.match(out[1]!.reason!, /^username: already registered/);
    assert.equal(await f.storage.users.count(), 1);
  });

  it('duplicates within one run are rejected with the row they repeat, across batches too', async () => {
    const f = accountsFixture();
    const imp = run(f);
    const first = row({ id: 12, username: 'max', email: 'max@example.com', password_hash: WERKZEUG });
    await imp.batch([first, row({ id: 12, username: 'max2', email: 'max2@example.com', password_hash: WERKZEUG })]);
    const out = await imp.batch([
      row({ id: 13, username: 'max3', email: 'MAX@example.com', password_hash: WERKZEUG }),
      row({ id: 14, username: 'MAX', email: 'max4@example.com', password_hash: WERKZEUG }),
    ]);
    assert.deepEqual(out.map((o) => o.reason), [`email: same email as ${first.ref}, compared in lower case`, `username: same username as ${first.ref}, compared in any case`]);
    assert.equal(await f.storage.users.count(), 1);
  });

  it('a dry run reports what would happen and writes and hashes nothing', async () => {
    const f = accountsFixture();
    let hashed = 0;
    const hash = f.hasher.hash;
    f.hasher.hash = async (p) => (hashed++, hash(p));
    const out = await run(f, { dryRun: true }).batch([...rows(), row({ username: 'bad', email: 'bad' })]);
    assert.deepEqual(out.map((o) => o.action), ['created', 'created', 'created', 'rejected']);
    assert.equal(await f.storage.users.count(), 0);
    assert.equal(hashed, 0);
  });

  it('a dry run of --update counts a plain password the stored hash already matches as unchanged, as the run does', async () => {
    const f = accountsFixture();
    await run(f).batch([row({ id: 21, username: 'pat', email: 'pat@example.com', password: PASSWORD })]);
    const same = row({ id: 21, username: 'pat', email: 'pat@example.com', password: PASSWORD });
    const changed = row({ id: 21, username: 'pat', email: 'pat@example.com', password: 'another-password-1' });
    assert.equal((await run(f, { update: true, dryRun: true }).batch([same]))[0]!.action, 'unchanged');
    assert.equal((await run(f, { update: true, dryRun: true }).batch([changed]))[0]!.action, 'updated');
    // The runs themselves agree.
    assert.equal((await run(f, { update: true }).batch([same]))[0]!.action, 'unchanged');
    assert.equal((await run(f, { update: true }).batch([changed]))[0]!.action, 'updated');
  });
});
