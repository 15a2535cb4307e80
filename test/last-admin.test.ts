// The last active administrator stays one through the API: demoting, deactivating or deleting them
// (themselves, or by the only other administrator once that one is demoted) is 409 and changes
// nothing; with another active administrator it goes through; the operator's CLI may still do it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, startServer, type Running } from './helpers/server.js';

const PASSWORD = 'last-admin-password-1';

describe('the last active administrator', () => {
  let s: Running;
  const ids: Record<string, string> = {};
  const tokens: Record<string, string> = {};
  before(async () => {
    s = await startServer({ ACCOUNT_SELF_DELETE: 'true' });
    for (const [name, roles] of [['ada', ['admin']], ['bea', ['admin']], ['cyd', ['user']]] as const) {
      const made = await call(`${s.url}/api/v1/auth/signup`, { json: { username: name, email: `${name}@example.com`, password: PASSWORD, roles }, headers: tokens.ada ? { authorization: `Bearer ${tokens.ada}` } : {} });
      assert.equal(made.status, 201, made.text);
      ids[name] = made.json.data.id;
      tokens[name] = (await call(`${s.url}/api/v1/auth/login`, { form: { username: name, password: PASSWORD } })).json.data.access_token;
    }
  });
  after(() => s.close());
  const as = (who: string, method: string, path: string, json?: unknown) =>
    call(`${s.url}/api/v1${path}`, { method, ...(json === undefined ? {} : { json }), headers: { authorization: `Bearer ${tokens[who]}` } });

  it('with another active administrator, one may be demoted; then the last is refused demotion, deactivation, deletion and self-deletion', async () => {
    assert.equal((await as('ada', 'PATCH', `/users/${ids.bea}`, { roles: ['user'] })).status, 200, 'bea demoted: ada is still an administrator');
    for (const [method, body] of [['PATCH', { roles: ['user'] }], ['PATCH', { is_active: false }], ['DELETE', undefined]] as const) {
      const r = await as('ada', method, `/users/${ids.ada}`, body);
      assert.deepEqual([r.status, r.json.code], [409, 'ERR_CONFLICT'], `${method} ${JSON.stringify(body)}`);
      assert.match(r.json.message, /last active administrator/);
    }
    const self = await as('ada', 'DELETE', '/auth/me', { current_password: PASSWORD });
    assert.deepEqual([self.status, self.json.code], [409, 'ERR_CONFLICT']);
    const ada = (await s.warden.storage.users.findById(ids.ada!))!;
    assert.deepEqual([ada.roles, ada.isActive], [['admin'], true], 'nothing changed');
    // Changes that keep them an administrator still go through.
    assert.equal((await as('ada', 'PATCH', `/users/${ids.ada}`, { roles: ['admin', 'user'], full_name: 'Ada' })).status, 200);
  });

  it('once another is active, the former last one may go', async () => {
    assert.equal((await as('ada', 'PATCH', `/users/${ids.cyd}`, { roles: ['admin'] })).status, 200);
    assert.equal((await as('ada', 'PATCH', `/users/${ids.ada}`, { is_active: false })).status, 200);
    assert.equal((await s.warden.storage.users.findById(ids.ada!))!.isActive, false);
  });

  it('the operator at the command line is not stopped (it is how an administrator is made again)', async () => {
    const cy = (await s.warden.storage.users.findById(ids.cyd!))!;
    await s.warden.accounts.admin.update(cy.id, { roles: ['user'] }, null);
    assert.deepEqual((await s.warden.storage.users.findById(ids.cyd!))!.roles, ['user']);
  });
});
