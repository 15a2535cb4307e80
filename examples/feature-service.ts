// Seed 003's FeatureController (Flask-RESTX with @jwt_required()) as a Fastify service on the
// toolkit. It trusts the tokens of Warden's POST /api/login by sharing Warden's SECRET_KEY (HS256),
// and answers the seed's error table in flask-jwt-extended's body shape, {"msg": ...}.
// In your project: import { ... } from '@warden/toolkit'.
//   SECRET_KEY=... PORT=3003 npx tsx examples/feature-service.ts
import Fastify, { type FastifyInstance } from 'fastify';
import { createTokenVerifier, errorHandler, keyRingFromSecret, wardenGuard } from '@warden/toolkit';

export async function buildFeatureService(secret: string, clock: () => number = Date.now): Promise<FastifyInstance> {
  const verify = createTokenVerifier({ keys: keyRingFromSecret(secret, 'HS256'), algorithms: ['HS256'], clock });
  const app = Fastify();
  // Status, text and WWW-Authenticate come from the toolkit's one mapping; only the body is Flask's.
  app.setErrorHandler(errorHandler((e) => ({ msg: e.message, code: e.code })));
  await app.register(wardenGuard, { verify, locations: ['headers'], clock });

  // @jwt_required()
  app.get('/feature', { preHandler: app.jwtRequired() }, async (req) => ({ data: ['feature'], user: req.jwt!.claims.sub }));
  // @jwt_required(fresh=True): only a token from a password check, as the seed's "403 Fresh token required" row.
  app.post('/feature', { preHandler: app.jwtRequired({ fresh: true }) }, async (req, reply) => reply.code(201).send({ created_by: req.jwt!.claims.sub }));
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const secret = process.env.SECRET_KEY;
  if (!secret) throw new Error('Set SECRET_KEY to Warden\'s secret');
  const app = await buildFeatureService(secret);
  await app.listen({ port: Number(process.env.PORT ?? 3003) });
}
