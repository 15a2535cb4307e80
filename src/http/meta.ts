// Health, readiness and the public keys.
import type { FastifyInstance } from 'fastify';
import { publicJwks } from '../tokens/keys.js';
import type { RouteContext } from './context.js';
import { detailBody, errorHandler } from './errors.js';

export async function metaRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  app.setErrorHandler(errorHandler(detailBody, ctx.log));
  // Keys change only on restart (rotation = new JWKS_FILE + restart), so the document is built once.
  const jwks = JSON.stringify(publicJwks(ctx.keys));

  app.get('/.well-known/jwks.json', { schema: { tags: ['meta'], summary: 'Public signing keys (RFC 7517); never an HMAC secret' } }, (_req, reply) => {
    void reply
      .header('content-type', 'application/jwk-set+json; charset=utf-8')
      .header('cache-control', 'public, max-age=300, stale-while-revalidate=60')
      .send(jwks);
  });

  app.get('/health', { schema: { tags: ['meta'], summary: 'Liveness' } }, async () => ({ status: 'ok' }));

  app.get('/ready', { schema: { tags: ['meta'], summary: 'Readiness: the database answers' } }, async (_req, reply) => {
    try {
      await ctx.storage.ping();
      return { status: 'ready', storage: ctx.storage.kind };
    } catch {
      return reply.code(503).send({ status: 'unavailable', storage: ctx.storage.kind });
    }
  });
}
