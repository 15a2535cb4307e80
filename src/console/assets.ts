// The console's static files (one ES module per page family, a shared helper, one stylesheet),
// read once at start-up from ./static and served by exact name. A route of our own rather than
// @fastify/static: the set is fixed and tiny, so a lookup in a map leaves no path to traverse and
// no file-system access per request, and needs no dependency; the ETag lets browsers revalidate.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

interface Asset { body: Buffer; type: string; etag: string }

/** Where the files are: beside this module (src/console/static; the build copies them to dist/console/static). */
export const STATIC_DIR = fileURLToPath(new URL('./static/', import.meta.url));

export function loadAssets(dir = STATIC_DIR): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (type === undefined) continue;
    const body = readFileSync(join(dir, name));
    assets.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  return assets;
}

export const ASSET_PREFIX = '/console/static/';

/** Serves the console's files; `without` names those not served (admin.js when the admin console is off). */
export function assetRoutes(app: FastifyInstance, without: readonly string[] = []): void {
  const assets = loadAssets();
  for (const name of without) assets.delete(name);
  app.get(`${ASSET_PREFIX}:name`, { schema: { hide: true } }, (req, reply) => {
    const asset = assets.get((req.params as { name: string }).name);
    if (asset === undefined) return reply.code(404).send({ detail: 'Not Found', code: 'ERR_NOT_FOUND' });
    void reply.header('etag', asset.etag).header('cache-control', 'no-cache');
    if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.type(asset.type).send(asset.body);
  });
}
