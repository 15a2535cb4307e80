// A service that trusts Warden's tokens by sharing Warden's SECRET_KEY (HS256).
//   SECRET_KEY=... PORT=3002 npx tsx examples/shared-secret-service.ts
import Fastify, { type FastifyInstance } from 'fastify';
import { createTokenVerifier, keyRingFromSecret, wardenErrorHandler, wardenGuard } from '@warden/toolkit';

export async function buildSharedSecretService(secret: string): Promise<FastifyInstance> {
  const verify = createTokenVerifier({ keys: keyRingFromSecret(secret, 'HS256'), algorithms: ['HS256'] });
  const app = Fastify();
  app.setErrorHandler(wardenErrorHandler);
  // Cookies work too: the guard checks the CSRF double submit on unsafe methods.
  await app.register(wardenGuard, { verify, locations: ['headers', 'cookies'] });

  app.get('/orders', { preHandler: app.jwtRequired() }, async (req) => ({ user: req.jwt!.claims.sub, roles: req.jwt!.roles }));
  app.post('/orders', { preHandler: app.jwtRequired({ fresh: true }) }, async (req, reply) => reply.code(201).send({ by: req.jwt!.claims.sub }));
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const secret = process.env.SECRET_KEY;
  if (!secret) throw new Error('Set SECRET_KEY to Warden\'s secret');
  const app = await buildSharedSecretService(secret);
  await app.listen({ port: Number(process.env.PORT ?? 3002) });
}
