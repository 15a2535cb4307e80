// Health, readiness and the public keys.
import type { FastifyInstance } from 'fastify';
import { publicJwks } from '@warden/toolkit';
import { UNAVAILABLE_RETRY_AFTER_SECONDS } from '../storage/availability.js';
import type { RouteContext } from './context.js';
import { routeSchemas } from './docs.js';
import { DETAIL, familyErrorHandler } from './error-families.js';
import { JWKS } from './schemas.js';

const READY = {
  type: 'object',
  properties: { status: { type: 'string' }, storage: { type: 'string' }, degraded: { type: 'array', items: { type: 'string' } } },
  required: ['status', 'storage'],
};

export async function metaRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  app.setErrorHandler(familyErrorHandler(DETAIL, ctx.log));
  const doc = routeSchemas(ctx.config);
  // Keys change only on restart (rotation = new JWKS_FILE + restart), so the document is built once.
  const jwks = JSON.stringify(publicJwks(ctx.keys));

  app.get('/.well-known/jwks.json', {
    schema: doc({
      method: 'GET', tags: ['meta'], summary: 'Public signing keys (RFC 7517); never an HMAC secret', family: DETAIL,
      ok: { status: 200, description: 'The public keys, cacheable for 5 minutes', schema: JWKS, media: 'application/jwk-set+json' },
    }),
  }, (_req, reply) => {
    void reply
      .header('content-type', 'application/jwk-set+json; charset=utf-8')
      .header('cache-control', 'public, max-age=300, stale-while-revalidate=60')
      .send(jwks);
  });

  app.get('/health', {
    schema: doc({
      method: 'GET', tags: ['meta'], summary: 'Liveness', family: DETAIL,
      ok: { status: 200, description: 'Up', schema: { type: 'object', properties: { status: { type: 'string', enum: ['ok'] } }, required: ['status'] } },
    }),
  }, async () => ({ status: 'ok' }));

  app.get('/ready', {
    schema: doc({
      method: 'GET', tags: ['meta'], summary: 'Readiness: the database answers', family: DETAIL,
      ok: { status: 200, description: 'Ready', schema: READY },
      extra: {
        503: {
          status: 503, description: 'The database does not answer', schema: READY,
          headers: { 'retry-after': { type: 'string', description: 'seconds' } },
        },
      },
    }),
  }, async (_req, reply) => {
    // 200 while the database answers, listing what Warden is serving without (`degraded`); 503 when
    // it does not. Answered within a second either way: a hung probe is not waited for.
    const { database, degraded } = await ctx.readiness();
    const body = { status: database ? 'ready' : 'unavailable', storage: ctx.storage.kind, ...(degraded.length > 0 ? { degraded } : {}) };
    if (!database) void reply.code(503).header('retry-after', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
    return body;
  });
}
