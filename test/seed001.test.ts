// Seed 001: a FastAPI app with OAuth2PasswordBearer(tokenUrl="token") and get_current_user. Its
// clients post FastAPI's OAuth2PasswordRequestForm to /token (grant_type optional), then send the
// token as Authorization: Bearer. Replayed here with curl, as such a client would, against Warden.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { call, curl, startServer, type Running } from './helpers/server.js';

describe('seed 001: FastAPI\'s OAuth2 password flow at POST /token', () => {
  let s: Running;
  let base: string;
  before(async () => {
    s = await startServer();
    base = s.url;
    const r = await call(`${base}/api/auth/signup`, { json: { username: 'johndoe', email: 'johndoe@example.com', password: 'secret-password', full_name: 'John Doe' } });
    assert.equal(r.status, 201);
  });
  after(() => s.close());

  const claimsOf = (t: string) => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString());

  it('the form FastAPI clients post, without grant_type: 200 {access_token, token_type: "bearer"}', async () => {
    const r = await curl(`curl -X POST ${base}/token \\
  -H "Content-Type: application/x-www-form-urlencoded" \\
  -d "username=johndoe&password=secret-password"`);
    assert.equal(r.status, 200);
    assert.equal(r.json.token_type, 'bearer');
    assert.equal(r.json.expires_in, 900);
    assert.equal(typeof r.json.refresh_token, 'string');
    assert.equal(r.headers['cache-control']![0], 'no-store');
    // get_current_user reads payload.get("sub"): the user's id.
    const user = await s.warden.storage.users.findByLogin('johndoe');
    assert.equal(claimsOf(r.json.access_token).sub, user!.id);
  });

  it('with grant_type=password, scope and a client id (OAuth2 clients, Swagger UI): 200, and the token opens protected routes', async () => {
    const r = await curl(`curl -X POST ${base}/token \\
  -H "Content-Type: application/x-www-form-urlencoded" \\
  -d "grant_type=password&username=johndoe&password=secret-password&scope=items:read%20me&client_id=swagger"`);
    assert.equal(r.status, 200);
    const token = r.json.access_token;

    const me = await curl(`curl ${base}/api/v1/auth/me -H "Authorization: Bearer ${token}"`);
    assert.equal(me.status, 200);
    assert.equal(me.json.data.email, 'johndoe@example.com');
    assert.equal(me.json.data.full_name, 'John Doe');
    const verify = await curl(`curl ${base}/api/v1/auth/verify -H "Authorization: Bearer ${token}"`);
    assert.equal(verify.status, 200);
    assert.equal(verify.headers['x-auth-user']![0], claimsOf(token).sub);
    const sessions = await call(`${base}/api/v1/auth/sessions`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(sessions.status, 200);
  });

  it('the same form as multipart/form-data (FastAPI\'s Form fields take both; fetch() with a FormData body sends it): 200', async () => {
    const r = await curl(`curl -X POST ${base}/token -F username=johndoe -F password=secret-password`);
    assert.equal(r.status, 200);
    assert.equal(r.json.token_type, 'bearer');
    const viaFetch = new FormData();
    viaFetch.set('username', 'johndoe');
    viaFetch.set('password', 'secret-password');
    const f = await fetch(`${base}/token`, { method: 'POST', body: viaFetch });
    assert.equal(f.status, 200);
    assert.equal(claimsOf(((await f.json()) as { access_token: string }).access_token).type, 'access');
    // Missing fields are FastAPI's 422 in this encoding too.
    const missing = await curl(`curl -X POST ${base}/token -F username=johndoe`);
    assert.equal(missing.status, 422);
    assert.deepEqual(missing.json.detail.map((d: { loc: string[] }) => d.loc), [['body', 'password']]);
  });

  it('multipart bodies that are not a sign-in form: a clear 4xx, and no session begins', async () => {
    const user = await s.warden.storage.users.findByLogin('johndoe');
    const sessions = async () => (await s.warden.storage.sessions.listActive(user!.id, Date.now(), { limit: 100, offset: 0 })).total;
    const before = await sessions();
    const cases: [string, number, RegExp][] = [
      // a file where a field belongs
      [`curl -X POST ${base}/token -F username=johndoe -F password=@${import.meta.filename}`, 400, /takes no files/],
      // a field larger than any sign-in form needs: refused, never truncated into a valid one
      [`curl -X POST ${base}/token -F username=johndoe -F password=${'p'.repeat(9000)}`, 413, /too large/],
      // no boundary, and a body that is not multipart at all
      [`curl -X POST ${base}/token -H "Content-Type: multipart/form-data" --data-binary garbage`, 400, /Malformed multipart/],
      [`curl -X POST ${base}/token -H "Content-Type: multipart/form-data; boundary=zz" --data-binary garbage`, 400, /Malformed multipart/],
    ];
    for (const [command, status, detail] of cases) {
      const r = await curl(command);
      assert.equal(r.status, status, command.slice(0, 90));
      assert.match(r.json.detail, detail);
    }
    assert.equal(await sessions(), before);
  });

  it('a multipart body over BODY_LIMIT_BYTES is 413 however it is sent, its fields unread (before, only other bodies were held to it)', async () => {
    const user = await s.warden.storage.users.findByLogin('johndoe');
    const sessions = async () => (await s.warden.storage.sessions.listActive(user!.id, Date.now(), { limit: 100, offset: 0 })).total;
    const before = await sessions();
    const form = '--XyZ\r\nContent-Disposition: form-data; name="username"\r\n\r\njohndoe\r\n'
      + '--XyZ\r\nContent-Disposition: form-data; name="password"\r\n\r\nsecret-password\r\n--XyZ--\r\n';
    const padding = 'p'.repeat(100_000); // busboy reads past a preamble and an epilogue
    const post = (body: string, chunked: boolean) => new Promise<{ status: number; json: { detail: string } }>((resolve, reject) => {
      const r = request(`${base}/token`, { method: 'POST', headers: {
        'content-type': 'multipart/form-data; boundary=XyZ',
        ...(chunked ? {} : { 'content-length': Buffer.byteLength(body) }),
      } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(text) }));
      });
      // The server may answer and close before it has read everything sent.
      r.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e)));
      // Chunked: in pieces, so that no length is declared and the limit is met while reading.
      if (chunked) for (let i = 0; i < body.length; i += 4096) r.write(body.slice(i, i + 4096));
      else r.write(body);
      r.end();
    });
    for (const chunked of [false, true]) {
      for (const body of [padding + form, form + padding]) {
        const r = await post(body, chunked);
        assert.equal(r.status, 413, `${chunked ? 'chunked' : 'with a length'}, padding ${body.startsWith('p') ? 'before' : 'after'}`);
        assert.match(r.json.detail, /too large/);
      }
    }
    assert.equal(await sessions(), before, 'no sign-in went through');
    // A form within the limit still signs in.
    assert.equal((await curl(`curl -X POST ${base}/token -F username=johndoe -F password=secret-password`)).status, 200);
  });

  it('the email works as the username, as everywhere in Warden', async () => {
    const r = await call(`${base}/token`, { form: { username: 'JohnDoe@Example.com', password: 'secret-password' } });
    assert.equal(r.status, 200);
  });

  it('a wrong password and an unknown user: 401 {"detail": "Incorrect username or password"} with WWW-Authenticate: Bearer', async () => {
    const wrong = await curl(`curl -X POST ${base}/token -H "Content-Type: application/x-www-form-urlencoded" -d "username=johndoe&password=not-it"`);
    const nobody = await curl(`curl -X POST ${base}/token -H "Content-Type: application/x-www-form-urlencoded" -d "username=janedoe&password=not-it"`);
    for (const r of [wrong, nobody]) {
      assert.equal(r.status, 401);
      assert.equal(r.json.detail, 'Incorrect username or password');
      assert.deepEqual(r.headers['www-authenticate'], ['Bearer']);
    }
    assert.deepEqual(wrong.json, nobody.json);
  });

  it('422 as FastAPI writes it: missing fields, and a grant_type that is not "password"', async () => {
    const none = await call(`${base}/token`, { method: 'POST' });
    assert.equal(none.status, 422);
    assert.deepEqual(none.json, {
      detail: [
        { type: 'missing', loc: ['body', 'username'], msg: 'Field required', input: null },
        { type: 'missing', loc: ['body', 'password'], msg: 'Field required', input: null },
      ],
    });
    // An empty form value is absent, as FastAPI reads forms.
    const empty = await call(`${base}/token`, { form: { username: 'johndoe', password: '' } });
    assert.equal(empty.status, 422);
    assert.deepEqual(empty.json, { detail: [{ type: 'missing', loc: ['body', 'password'], msg: 'Field required', input: null }] });

    const grant = await call(`${base}/token`, { form: { grant_type: 'client_credentials', username: 'johndoe', password: 'secret-password' } });
    assert.equal(grant.status, 422);
    assert.deepEqual(grant.json, {
      detail: [{
        type: 'string_pattern_mismatch', loc: ['body', 'grant_type'], msg: 'String should match pattern \'^password$\'',
        input: 'client_credentials', ctx: { pattern: '^password$' },
      }],
    });
    // FastAPI reads only the form: a JSON body has none of the fields.
    const json = await call(`${base}/token`, { json: { username: 'johndoe', password: 'secret-password' } });
    assert.equal(json.status, 422);
    assert.deepEqual(json.json.detail.map((e: { loc: string[] }) => e.loc[1]), ['username', 'password']);
  });

  it('a repeated field is refused, and a password is never echoed back', async () => {
    const r = await call(`${base}/token`, {
      body: 'username=johndoe&password=secret-password&password=other-secret', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(r.status, 422);
    assert.deepEqual(r.json.detail, [{ type: 'string_type', loc: ['body', 'password'], msg: 'Input should be a valid string', input: '[redacted]' }]);
    assert.equal(r.text.includes('secret'), false);
  });

  it('/oauth/token stays strictly RFC 6749: grant_type required, a wrong password is 400 invalid_grant', async () => {
    const noGrant = await call(`${base}/oauth/token`, { form: { username: 'johndoe', password: 'secret-password' } });
    assert.equal(noGrant.status, 400);
    assert.equal(noGrant.json.error, 'invalid_request');
    const wrong = await call(`${base}/oauth/token`, { form: { grant_type: 'password', username: 'johndoe', password: 'not-it' } });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.json.error, 'invalid_grant');
  });

  it('hostile bodies get a 4xx and change nothing', async () => {
    const before = await s.warden.storage.users.count();
    const bodies: [string, string][] = [
      ['application/json', '{"username": "johndoe",'], ['application/json', '[]'], ['text/plain', 'username=johndoe&password=x'],
      ['application/x-www-form-urlencoded', '%%%'], ['application/x-www-form-urlencoded', 'username=a%00b&password=secret-password'],
      ['application/x-www-form-urlencoded', `username=${'x'.repeat(400)}&password=secret-password`],
    ];
    for (const [ct, body] of bodies) {
      const r = await call(`${base}/token`, { body, headers: { 'content-type': ct } });
      assert.ok(r.status >= 400 && r.status < 500, `${ct} ${body.slice(0, 30)} -> ${r.status}`);
    }
    assert.equal(await s.warden.storage.users.count(), before);
  });

  it('/openapi.json: an oauth2 password flow with tokenUrl /token; public routes carry no lock, protected ones name it', async () => {
    const doc = (await call(`${base}/openapi.json`)).json;
    assert.deepEqual(doc.components.securitySchemes.OAuth2PasswordBearer.flows, { password: { tokenUrl: '/token', scopes: {} } });
    assert.equal(doc.security, undefined, 'no global lock');
    for (const [path, method] of [['/token', 'post'], ['/login', 'post'], ['/api/login', 'post'], ['/api/auth/signin', 'post'], ['/api/v1/auth/login', 'post'], ['/oauth/token', 'post'], ['/health', 'get'], ['/.well-known/jwks.json', 'get']] as const) {
      assert.deepEqual(doc.paths[path][method].security, [], `${method} ${path}`);
    }
    for (const [path, method] of [['/api/v1/auth/me', 'get'], ['/api/users', 'get'], ['/api/v1/auth/sessions', 'get']] as const) {
      assert.deepEqual(doc.paths[path][method].security, [{ OAuth2PasswordBearer: [] }, { bearer: [] }], `${method} ${path}`);
    }
    const form = doc.paths['/token'].post.requestBody.content['application/x-www-form-urlencoded'].schema;
    assert.deepEqual(form.required, ['username', 'password']);
    assert.deepEqual(doc.paths['/token'].post.responses['422'].content['application/json'].examples.ERR_VALIDATION.value, {
      detail: [{ type: 'missing', loc: ['body', 'username'], msg: 'Field required', input: null }],
    });
  });
});
