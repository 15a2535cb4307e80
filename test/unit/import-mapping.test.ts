// Which column of the old users table feeds which field (cli/import/mapping.ts), on the layouts the
// migration guide names, as their tables really are.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Mapper } from '../../src/cli/import/mapping.js';

describe('import mapping: names', () => {
  it('Django\'s first_name and last_name make "first last", whatever the order of the columns', () => {
    // auth_user as Django's migrations leave it on SQLite: first_name rebuilt as the last column.
    const sqlite = ['id', 'password', 'last_login', 'is_superuser', 'username', 'last_name', 'email', 'is_staff', 'is_active', 'date_joined', 'first_name'];
    const row = new Mapper([], 'database').row('row 1', sqlite, [1, 'x', null, 0, 'jdoe', 'Doe', 'j@example.com', 0, 1, '2020-01-01', 'Jane']);
    assert.equal(row.fields.full_name, 'Jane Doe');
    // On PostgreSQL the columns keep their order.
    const postgres = ['id', 'password', 'first_name', 'last_name', 'email'];
    assert.equal(new Mapper([], 'database').row('row 1', postgres, [1, 'x', 'Jane', 'Doe', 'j@example.com']).fields.full_name, 'Jane Doe');
    // Only one part: that part alone.
    assert.equal(new Mapper([], 'database').row('row 1', sqlite, [1, 'x', null, 0, 'jdoe', '', 'j@example.com', 0, 1, '2020-01-01', 'Jane']).fields.full_name, 'Jane');
  });

  it('columns mapped to full_name with --map are joined in their order', () => {
    const row = new Mapper([['given', { field: 'full_name' }], ['family', { field: 'full_name' }]], 'file').row('line 2', ['family', 'given', 'email'], ['Doe', 'Jane', 'j@example.com']);
    assert.equal(row.fields.full_name, 'Doe Jane');
  });
});

describe('import mapping: the FastAPI tutorial\'s users table', () => {
  it('its disabled column is read (the opposite of is_active), not left out', () => {
    const m = new Mapper([], 'database');
    const row = m.row('row 2', ['id', 'username', 'full_name', 'email', 'hashed_password', 'disabled'], [2, 'alice', 'Alice Wonderson', 'alice@example.com', '$2b$12$x', true]);
    assert.equal(row.fields.disabled, true);
    assert.equal(row.fields.password_hash, '$2b$12$x');
    assert.deepEqual([...m.unmapped], []);
  });
});

describe('import mapping: records with columns of their own (JSON Lines)', () => {
  it('a record is mapped by its own column names, whatever the records before it had', () => {
    // Plans were cached under the names joined with NUL, so {"username\u0000email", "password"}
    // took the plan of an earlier {"username", "email", "password"}: its password value was read
    // as the email. (Found by a coverage-guided fuzz of Mapper: a row must not depend on earlier rows.)
    const m = new Mapper([], 'file');
    m.row('line 1', ['username', 'email', 'password'], ['bob', 'bob@example.com', 'pw-bob-12345']);
    const row = m.row('line 2', ['username\u0000email', 'password'], ['mallory', 'secret-pw@example.com']);
    assert.deepEqual(row, new Mapper([], 'file').row('line 2', ['username\u0000email', 'password'], ['mallory', 'secret-pw@example.com']));
    assert.deepEqual(row.fields, { password: 'secret-pw@example.com' });
    assert.ok(m.unmapped.has('username\u0000email'));
  });
});
