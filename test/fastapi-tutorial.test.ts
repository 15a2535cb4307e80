// A FastAPI application written after FastAPI's tutorial moves to Warden as README's "Migrating
// from Flask/FastAPI" says: its SQLAlchemy users table (passlib's bcrypt hashes, `disabled`) is
// imported with `warden import --from sqlite:… --table users`, Warden runs with the README's
// legacy_id claims hook and the service's SECRET_KEY, and the service's get_current_user is the
// README's block (test/interop/fastapi_tutorial.py runs it with Debian's FastAPI and PyJWT): a
// Warden access token finds the user's row by legacy_id; a refresh token, and a user who signed
// up at Warden, get 401 "Could not validate credentials".
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { buildCli, warden } from './helpers/cli.js';
import { PYTHON, pythonMissing } from './helpers/python.js';
import { call, startServer, TEST_SECRET, type Running } from './helpers/server.js';

const run = promisify(execFile);
const script = new URL('./interop/fastapi_tutorial.py', import.meta.url).pathname;
const readmePath = new URL('../README.md', import.meta.url).pathname;
const readme = readFileSync(readmePath, 'utf8');
const hook = /`(export default \(\{ user \}\) => \(user\.legacy_id === null \? \{\} : \{ legacy_id: user\.legacy_id \}\);)`/.exec(readme)?.[1];

const skip = pythonMissing(
  'import fastapi, httpx, jwt, sqlalchemy, passlib, bcrypt; from fastapi.testclient import TestClient',
  'python3-fastapi python3-httpx python3-jwt python3-sqlalchemy python3-passlib python3-bcrypt',
  'the FastAPI tutorial\'s migration not checked',
);

describe('a FastAPI tutorial application\'s users, imported, and its get_current_user on Warden\'s tokens', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-fastapi-tutorial-'));
  const appDb = join(dir, 'app.db');
  const env = { DATABASE_URL: `sqlite:${join(dir, 'warden.db')}` };
  let s: Running;

  before(async () => {
    await buildCli();
    await run(PYTHON, [script, 'setup', appDb], { timeout: 30_000 });
    const imported = await warden(['import', '--from', `sqlite:${appDb}`, '--table', 'users', '--json'], { cwd: dir, env });
    assert.equal(imported.code, 0, imported.stdout + imported.stderr);
    assert.deepEqual([imported.json.created, imported.json.rejected], [2, 0]);
    assert.ok(hook, 'README step 3 has the legacy_id claims hook');
    writeFileSync(join(dir, 'legacy-id.mjs'), `${hook}\n`);
    s = await startServer({ ...env, CLAIMS_HOOK: join(dir, 'legacy-id.mjs') });
  }, { timeout: 300_000 });
  after(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const usersMe = async (tokens: string[]) => {
    const { stdout } = await run(PYTHON, [script, 'call', appDb, readmePath, ...tokens], { env: { ...process.env, SECRET_KEY: TEST_SECRET }, timeout: 30_000 });
    return JSON.parse(stdout) as { status: number; body: unknown }[];
  };

  it('the tutorial\'s users sign in at /token with their passwords; the service finds them by legacy_id', async () => {
    const token = await call(`${s.url}/token`, { form: { username: 'johndoe', password: 'secret' } });
    assert.equal(token.status, 200, token.text);
    const disabled = await call(`${s.url}/token`, { form: { username: 'alice', password: 'secret2' } });
    assert.deepEqual([disabled.status, disabled.json.detail], [400, 'Inactive user']);
    const newcomer = await call(`${s.url}/api/auth/signup`, { json: { username: 'newcomer', email: 'newcomer@example.com', password: 'newcomer-password' } });
    assert.equal(newcomer.status, 201, newcomer.text);
    const theirs = await call(`${s.url}/token`, { form: { username: 'newcomer', password: 'newcomer-password' } });
    const answers = await usersMe([token.json.access_token, token.json.refresh_token, theirs.json.access_token]);
    assert.deepEqual(answers[0], { status: 200, body: { id: 1, username: 'johndoe' } });
    const refused = { status: 401, body: { detail: 'Could not validate credentials' } };
    assert.deepEqual(answers[1], refused, 'a refresh token');
    assert.deepEqual(answers[2], refused, 'a user with no row in the service');
  });
});
