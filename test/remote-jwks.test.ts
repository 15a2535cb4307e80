// The remote JWKS verifier against real sockets: a JWKS host that accepts and never answers is
// given up after timeoutMs (it held a start for Node's 300 s); a host that cannot be read is named;
// a failed background refresh is told.
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { createJwksVerifier, createTokenIssuer, generateKeyPem, keyRingFromPem, publicJwks, type KeyRing } from '@warden/toolkit';

/** A JWKS host publishing `keys` (replaceable), answering 500 while `failing`. */
async function jwksHost(keys: KeyRing): Promise<{ url: string; failing: boolean; keys: KeyRing; close(): Promise<void> }> {
  const state = { failing: false, keys };
  const host = createHttpServer((_req, res) => {
    if (state.failing) res.writeHead(500).end();
    else res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify(publicJwks(state.keys)));
  });
  await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
  return Object.assign(state, {
    url: `http://127.0.0.1:${(host.address() as { port: number }).port}/jwks`,
    close: () => new Promise<void>((resolve) => host.close(() => resolve())),
  });
}

describe('remote JWKS verifier over the network', () => {
  it('a host that accepts and never answers fails the fetch at timeoutMs', async () => {
    const held: Socket[] = [];
    const silent = createServer((socket) => void held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      await assert.rejects(createJwksVerifier({ url: `http://127.0.0.1:${port}/jwks`, timeoutMs: 300 }), /took longer than 300 ms/);
    } finally {
      for (const s of held) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('an empty JWKS (a server signing with HMAC) says so at once', async () => {
    const host = createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end('{"keys":[]}'));
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
    const { port } = host.address() as { port: number };
    try {
      await assert.rejects(createJwksVerifier({ url: `http://127.0.0.1:${port}/jwks` }), /holds no key: a server signing with an HMAC algorithm/);
    } finally {
      await new Promise((resolve) => host.close(resolve));
    }
  });

  it('a host that cannot be read is named in the error, with why (fetch\'s own errors name no URL)', async () => {
    // A port nothing listens on any more: the connection is refused.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port: refusedPort } = closed.address() as { port: number };
    await new Promise((resolve) => closed.close(resolve));
    const refused = `http://127.0.0.1:${refusedPort}/jwks`;
    await assert.rejects(createJwksVerifier({ url: refused }), (e: Error) => e.message === `JWKS fetch from ${refused} failed: connect ECONNREFUSED 127.0.0.1:${refusedPort}`);

    const bodies: Record<string, string> = { '/html': '<html>sign in</html>', '/null': 'null', '/bad-key': '{"keys":[{"kty":"OKP","x":"AA"}]}' };
    const host = createHttpServer((req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(bodies[req.url!]));
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(host.address() as { port: number }).port}`;
    try {
      await assert.rejects(createJwksVerifier({ url: `${base}/html` }), (e: Error) => e.message.startsWith(`JWKS from ${base}/html is not JSON: Unexpected token`));
      await assert.rejects(createJwksVerifier({ url: `${base}/null` }), (e: Error) => e.message === `JWKS from ${base}/null has no "keys" array`);
      await assert.rejects(createJwksVerifier({ url: `${base}/bad-key` }), (e: Error) => e.message === `JWKS from ${base}/bad-key: JWKS key #0: unsupported OKP curve undefined (Ed25519)`);
    } finally {
      await new Promise((resolve) => host.close(resolve));
    }
  });

  it('keys it cannot use are left out, the others verify (RFC 7517 §5); none usable names each reason', async () => {
    const keys = keyRingFromPem({ privateKeyPem: generateKeyPem('EdDSA').privateKeyPem, alg: 'EdDSA' });
    const good = publicJwks(keys).keys[0]!;
    const mixed = { keys: [
      { kty: 'RSA', use: 'enc', kid: 'enc-1', n: 'AQAB', e: 'AQAB' }, // for encryption, not signatures
      { kty: 'PQC', kid: 'future-1', alg: 'ML-DSA-65', pub: 'AA' }, // a key type this toolkit does not know
      { ...good, x: 'AA', kid: good.kid }, // broken, and under the good key's kid: the good one after it must still count
      good,
    ] };
    const bodies: Record<string, string> = { '/mixed': JSON.stringify(mixed), '/none': JSON.stringify({ keys: mixed.keys.slice(0, 2) }) };
    const host = createHttpServer((req, res) => res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(bodies[req.url!]));
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(host.address() as { port: number }).port}`;
    try {
      const remote = await createJwksVerifier({ url: `${base}/mixed` });
      try {
        assert.deepEqual(remote.keys.keys.map((k) => k.kid), [good.kid]);
        const token = createTokenIssuer({ keys, accessExpiresIn: 60, refreshExpiresIn: 60 }).createAccessToken('u1');
        assert.equal(remote.verify(token).claims.sub, 'u1');
      } finally {
        remote.close();
      }
      await assert.rejects(createJwksVerifier({ url: `${base}/none` }), (e: Error) =>
        e.message.startsWith(`JWKS from ${base}/none: JWKS key #0 (kid "enc-1"): "use" is "enc"`) && e.message.includes('JWKS key #1 (kid "future-1")'));
    } finally {
      await new Promise((resolve) => host.close(resolve));
    }
  });

  it('a background refresh that fails is told to onRefreshError, and the keys fetched before stay', async () => {
    const keys = keyRingFromPem({ privateKeyPem: generateKeyPem('EdDSA').privateKeyPem, alg: 'EdDSA' });
    const host = await jwksHost(keys);
    const errors: string[] = [];
    let told: () => void = () => undefined;
    const reported = new Promise<void>((resolve) => (told = resolve));
    const remote = await createJwksVerifier({
      url: host.url, refreshIntervalMs: 50,
      onRefreshError: (e) => {
        errors.push((e as Error).message);
        told();
      },
    });
    try {
      host.failing = true;
      await reported;
      assert.match(errors[0]!, /answered 500/);
      assert.equal(remote.keys.keys.length, 1, 'the keys fetched before are kept');
    } finally {
      remote.close();
      await host.close();
    }
  });

  it('algorithms naming no published key: refused at start, and a refresh to such a set keeps the keys in force', async () => {
    const keys = keyRingFromPem({ privateKeyPem: generateKeyPem('EdDSA').privateKeyPem, alg: 'EdDSA' });
    const host = await jwksHost(keys);
    try {
      await assert.rejects(createJwksVerifier({ url: host.url, algorithms: ['RS256'] }), (e: Error) =>
        e.message === `JWKS from ${host.url}: algorithms [RS256] name no key's alg (the ring's keys are EdDSA): every token would be refused`);
      const remote = await createJwksVerifier({ url: host.url, algorithms: ['EdDSA'] });
      try {
        host.keys = keyRingFromPem({ privateKeyPem: generateKeyPem('ES256').privateKeyPem, alg: 'ES256' });
        await assert.rejects(remote.refresh(), /every token would be refused/);
        assert.equal(remote.keys.keys[0]!.alg, 'EdDSA', 'the ring in force is the last usable one');
        const token = createTokenIssuer({ keys, accessExpiresIn: 60, refreshExpiresIn: 60 }).createAccessToken('u1');
        assert.equal(remote.verify(token).claims.sub, 'u1');
      } finally {
        remote.close();
      }
    } finally {
      await host.close();
    }
  });

  it('tokens naming an unknown kid refetch at most once per cooldownMs while the JWKS host fails, not once per token', async () => {
    const keys = keyRingFromPem({ privateKeyPem: generateKeyPem('EdDSA').privateKeyPem, alg: 'EdDSA' });
    // Anyone can write any kid in a header: a token signed by a key the host never published.
    const stranger = createTokenIssuer({
      keys: keyRingFromPem({ privateKeyPem: generateKeyPem('EdDSA').privateKeyPem, alg: 'EdDSA', kid: 'not-published' }),
      accessExpiresIn: 900, refreshExpiresIn: 3600,
    }).createAccessToken('u1');
    const host = await jwksHost(keys);
    let now = Date.now();
    let fetches = 0;
    let told: () => void = () => undefined;
    const remote = await createJwksVerifier({
      url: host.url, clock: () => now, cooldownMs: 30_000,
      fetch: (input, init) => {
        fetches++;
        return fetch(input, init);
      },
      onRefreshError: () => told(),
    });
    const refusedWithUnknownKid = () => assert.throws(() => remote.verify(stranger), { code: 'ERR_JWT_KEY_UNKNOWN' });
    try {
      assert.equal(fetches, 1);
      host.failing = true;
      now += 30_001;
      const reported = new Promise<void>((resolve) => (told = resolve));
      refusedWithUnknownKid();
      assert.equal(fetches, 2, 'past the cooldown, an unknown kid refetches');
      await reported;
      for (let i = 0; i < 5; i++) refusedWithUnknownKid();
      assert.equal(fetches, 2, 'a failed refetch starts the cooldown as a successful one does');
      now += 30_001;
      refusedWithUnknownKid();
      assert.equal(fetches, 3);
    } finally {
      remote.close();
      await host.close();
    }
  });
});
