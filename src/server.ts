// Assembles a Warden server from a Config: storage, keys, revocation, the guard and the route
// families. `createWarden` does not listen; cli.ts and the tests do.
import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { Accounts } from './accounts/service.js';
import { SignInThrottle } from './accounts/throttle.js';
import type { Config } from './config.js';
import { wardenGuard } from './guard/plugin.js';
import { RevocationIndex, Revoker, type RevocationBus } from './guard/revocation.js';
import { apiRoutes } from './http/api.js';
import type { RouteContext } from './http/context.js';
import { detailBody, errorHandler, redactUrl } from './http/errors.js';
import { metaRoutes } from './http/meta.js';
import { oauthRoutes } from './http/oauth.js';
import { v1Routes } from './http/v1.js';
import { loadKeyRing } from './keyring.js';
import { openStorage } from './storage/index.js';
import { createRedisBus } from './storage/redis-bus.js';
import type { Storage } from './storage/types.js';
import { createTokenIssuer } from './tokens/issue.js';
import type { KeyRing } from './tokens/keys.js';
import { createTokenVerifier } from './tokens/verify.js';

export interface WardenOptions {
  /** Use this storage instead of opening DATABASE_URL (tests, embedding). */
  storage?: Storage;
  /** Use this revocation bus instead of one on REDIS_URL (tests give each run its own channel). */
  bus?: RevocationBus;
  /** Where the log goes (default stdout). */
  logStream?: NodeJS.WritableStream;
  clock?: () => number;
}

export interface Warden {
  app: FastifyInstance;
  accounts: Accounts;
  revoker: Revoker;
  storage: Storage;
  keys: KeyRing;
  log: Logger;
  /** Set when a development key was generated into DATA_DIR. */
  generatedKeyFile: string | undefined;
  close(): Promise<void>;
}

/**
 * Warden's pino logger. Fastify's own logger is off: it builds a child logger for every request,
 * which cost ~10% of forward-auth throughput. Warden logs from its error handlers and, at debug,
 * from one onResponse hook, each line carrying the request id.
 */
export function createLogger(config: Config, stream?: NodeJS.WritableStream): Logger {
  const options = { level: config.logLevel, redact: { paths: ['headers.authorization', 'headers.cookie'], censor: '[redacted]' } };
  return stream ? pino(options, stream as pino.DestinationStream) : pino(options);
}

export async function createWarden(config: Config, options: WardenOptions = {}): Promise<Warden> {
  const clock = options.clock ?? Date.now;
  const log = createLogger(config, options.logStream);
  const { ring: keys, generatedFile } = loadKeyRing(config);
  const storage = options.storage ?? (await openStorage(config.databaseUrl));
  if (options.storage) await storage.migrate();

  const index = new RevocationIndex();
  const bus = options.bus ?? (config.redisUrl ? createRedisBus(config.redisUrl) : undefined);
  const revoker = new Revoker(index, storage.revocations, bus, clock);
  await revoker.start();

  const issuer = createTokenIssuer({
    keys,
    accessExpiresIn: config.accessTokenExpiresMinutes * 60,
    refreshExpiresIn: config.refreshTokenExpiresDays * 86400,
    issuer: config.issuer,
    audience: config.audience,
    clock,
  });
  const verify = createTokenVerifier({
    keys, issuer: config.issuer, audience: config.audience, leeway: config.leewaySeconds, clock, cacheSize: config.verifyCacheSize,
  });
  const accounts = new Accounts({
    storage, issuer, revoker, clock,
    accessTtlSeconds: config.accessTokenExpiresMinutes * 60,
    refreshTtlSeconds: config.refreshTokenExpiresDays * 86400,
    idleTtlSeconds: config.sessionIdleDays * 86400,
    adminRoles: config.adminRoles,
    defaultRoles: config.defaultRoles,
    passwordMaxLength: config.passwordMaxLength,
    throttle: config.signinMaxFailures > 0
      ? new SignInThrottle({
        maxPerLogin: config.signinMaxFailures,
        maxPerIp: config.signinMaxFailuresPerIp || Number.MAX_SAFE_INTEGER,
        windowMs: config.signinWindowMinutes * 60_000,
        clock,
      })
      : undefined,
  });
  if (config.adminUsername && config.adminEmail && config.adminPassword) {
    await accounts.ensureAdmin(config.adminUsername, config.adminEmail, config.adminPassword);
  }

  const app = Fastify({
    logger: false,
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    return503OnClosing: true,
  });
  app.setErrorHandler(errorHandler(detailBody, log));
  // Route schemas document the API (see http/schemas.ts); the accounts rules do the validating.
  app.setValidatorCompiler(() => () => true);
  if (log.isLevelEnabled('debug')) {
    app.addHook('onResponse', (req, reply, done) => {
      log.debug({ reqId: req.id, method: req.method, url: redactUrl(req.url), ip: req.ip, status: reply.statusCode, ms: reply.elapsedTime }, 'request completed');
      done();
    });
  }
  app.setNotFoundHandler((_req, reply) => void reply.code(404).send({ detail: 'Not Found', code: 'ERR_NOT_FOUND' }));

  await app.register(formbody, { bodyLimit: config.bodyLimitBytes });
  await app.register(swagger, {
    openapi: {
      info: { title: 'Warden', version: '0.1.0', description: 'JWT authentication server' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(wardenGuard, {
    verify,
    revocations: index,
    clock,
    locations: config.tokenLocations,
    settings: {
      accessCookieName: config.accessCookieName, refreshCookieName: config.refreshCookieName,
      headerName: config.headerName, headerType: config.headerType,
    },
    csrfHeaderName: config.csrfHeaderName,
  });

  const ctx: RouteContext = { config, accounts, keys, storage, log };
  await app.register(async (i) => apiRoutes(i, ctx), { prefix: '/api' });
  await app.register(async (i) => v1Routes(i, ctx), { prefix: '/api/v1' });
  await app.register(async (i) => oauthRoutes(i, ctx), { prefix: '/oauth' });
  await app.register(async (i) => metaRoutes(i, ctx));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  // Ended and expired sessions are kept a week (GET /auth/sessions history, audits), then dropped.
  const purgeTimer = setInterval(() => {
    void storage.sessions.purge(clock() - 7 * 86400_000).catch((err: unknown) => log.warn({ err }, 'session purge failed'));
  }, 3600_000);
  purgeTimer.unref();

  return {
    app, accounts, revoker, storage, keys, log,
    generatedKeyFile: generatedFile,
    async close() {
      clearInterval(purgeTimer);
      await app.close();
      await revoker.stop();
      if (!options.storage) await storage.close();
    },
  };
}
