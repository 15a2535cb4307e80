// A service that trusts Warden's tokens through Warden's JWKS endpoint (e.g. ALGORITHM=EdDSA):
// it holds no secret at all. In your project: import { ... } from '@warden/toolkit'.
//   WARDEN_JWKS_URL=http://localhost:8000/.well-known/jwks.json PORT=3001 npx tsx examples/jwks-service.ts
import Fastify, { type FastifyInstance } from 'fastify';
import { createJwksVerifier, wardenErrorHandler, wardenGuard } from '@warden/toolkit';

export async function buildJwksService(jwksUrl: string): Promise<FastifyInstance> {
  const remote = await createJwksVerifier({ url: jwksUrl, algorithms: ['EdDSA', 'ES256', 'RS256'] });
  const app = Fastify();
  app.setErrorHandler(wardenErrorHandler);
  await app.register(wardenGuard, { verify: remote.verify, locations: ['headers'] });
  app.addHook('onClose', async () => remote.close());

  app.get('/orders', { preHandler: app.jwtRequired() }, async (req) => ({ user: req.jwt!.claims.sub, roles: req.jwt!.roles }));
  app.get('/reports', { preHandler: app.jwtRequired({ roles: ['admin'] }) }, async () => ({ reports: [] }));
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const app = await buildJwksService(process.env.WARDEN_JWKS_URL ?? 'http://localhost:8000/.well-known/jwks.json');
  await app.listen({ port: Number(process.env.PORT ?? 3001) });
}
