// CORS for browser apps on other origins (@fastify/cors): only the exact origins of CORS_ORIGINS,
// with credentials (cookies) allowed, so a single-page app can use cookies + CSRF or a Bearer token.
// Never `*` (the configuration refuses it): with credentials that would let any page act as the user.
//
// @fastify/cors runs its hook on every request; for one without an Origin header (curl, servers,
// forward auth, a same-origin GET) it has nothing to decide but still copies its options and sets
// two headers, about 2 % of a forward-auth request's CPU. Its hook is therefore installed behind a
// check of that header: such requests pay one property read.
import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import type { Config } from '../config.js';

export async function registerCors(app: FastifyInstance, config: Pick<Config, 'cors' | 'guard'>): Promise<void> {
  const origins = config.cors.origins;
  if (origins === undefined) return; // no plugin, no hook: same-origin only
  const options: FastifyCorsOptions = {
    origin: origins,
    credentials: true,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    // What Warden's routes read: the token header, a JSON body, the CSRF double submit; and what
    // Swagger UI's Authorize sends to /token and /oauth/token from another origin (a FastAPI
    // service's /docs whose tokenUrl names Warden): X-Requested-With on every request, and
    // Authorization (HTTP Basic client credentials, its default) whatever JWT_HEADER_NAME is.
    allowedHeaders: distinct([config.guard.headerName, 'Authorization', 'Content-Type', config.guard.csrfHeaderName, 'X-Requested-With']),
    // What a page may read besides the simple headers: when to retry, and why a token was refused.
    exposedHeaders: ['Retry-After', 'WWW-Authenticate'],
    maxAge: 600,
  };
  // The plugin is given the application itself, except that the hooks it adds run only for
  // requests that carry an Origin header. (It skips encapsulation, as fastify-plugin would.)
  const addGatedHook = (name: 'onRequest', hook: onRequestHookHandler) => app.addHook(name, function corsIfOrigin(req, reply, done) {
    if (req.headers.origin === undefined) return done();
    return hook.call(this, req, reply, done);
  });
  const gated = new Proxy(app, {
    get(target, prop) {
      if (prop === 'addHook') return addGatedHook;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  await new Promise<void>((resolve, reject) => {
    (cors as unknown as (f: FastifyInstance, o: FastifyCorsOptions, done: (err?: Error) => void) => void)(gated, options, (err) => (err ? reject(err) : resolve()));
  });
}

/** Header names without repeats, compared as HTTP compares them (case-insensitively); the first spelling is kept. */
function distinct(names: string[]): string[] {
  const seen = new Set<string>();
  return names.filter((n) => !seen.has(n.toLowerCase()) && seen.add(n.toLowerCase()) !== undefined);
}
