// Run by test/client-address.test.ts inside a private network namespace (`unshare -n`), whose
// loopback holds the addresses the test gave it: a Warden listening on `::`, and sign-ups sent to
// it from chosen source addresses, each on a connection of its own (real sockets, no header).
// NETNS_SPEC (JSON): { env: loadConfig's input, server: the address to connect to, groups: source
// addresses to sign up from, group by group }. Prints one JSON line: each group's statuses.
import { request } from 'node:http';
import { loadConfig } from '../../src/config.js';
import { createWarden } from '../../src/server.js';

interface Spec {
  env: Record<string, string>;
  server: string;
  groups: string[][];
}

const spec = JSON.parse(process.env.NETNS_SPEC ?? '') as Spec;

function post(host: string, port: number, path: string, localAddress: string, json: unknown): Promise<number> {
  const body = JSON.stringify(json);
  return new Promise((resolve, reject) => {
    // Options, not a URL: a URL cannot carry a link-local address's zone.
    const req = request({
      host, port, path, method: 'POST', agent: false, localAddress,
      headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const warden = await createWarden(loadConfig(spec.env));
await warden.app.listen({ host: '::', port: 0 });
const address = warden.app.server.address();
const port = typeof address === 'object' && address ? address.port : 0;
const statuses: number[][] = [];
let n = 0;
try {
  for (const group of spec.groups) {
    const got: number[] = [];
    for (const source of group) {
      n++;
      got.push(await post(spec.server, port, '/api/auth/signup', source, { username: `netns-${n}`, email: `netns-${n}@example.com`, password: 'password-123' }));
    }
    statuses.push(got);
  }
} finally {
  await warden.close();
}
process.stdout.write(`${JSON.stringify({ statuses })}\n`);
