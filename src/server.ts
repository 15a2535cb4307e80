// Assembles a Warden server from a Config: storage, keys, revocation, the guard and the route
// families. `createWarden` does not listen; cli.ts and the tests do.
import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import type { Server } from 'node:http';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createArgon2Hasher, hashQueue, legacyHashOptions } from './accounts/argon2-hasher.js';
import { claimsHook, createAccounts, deriveFromSigningKey, mfaTokenKeys, type Accounts, type ClaimsHookFunction } from './accounts/index.js';
import { createRedisCounters } from './accounts/redis-counters.js';
import { ClientIpLimit } from './accounts/client-ip-limit.js';
import { CEREMONY_TTL_MS } from './accounts/factors/passkeys.js';
import { namespacedCounters, SignInThrottle, type SharedCounters } from './accounts/throttle.js';
import { ConfigError, type Config } from './config.js';
import { setUpEmail, type EmailOptions } from './email.js';
import { consoleRoutes } from './console/index.js';
import { accountEmailRoutes } from './http/account-email.js';
import { wardenGuard } from '@warden/toolkit';
import { Audit } from './events/audit.js';
import { EventLog } from './events/log.js';
import { startEventRetention } from './events/retention.js';
import { webhookRouter } from './events/webhooks/endpoints.js';
import { WebhookWorker } from './events/webhooks/worker.js';
import { auditRoutes } from './http/audit.js';
import { registerCors } from './http/cors.js';
import { metricsRoute, metricsServer, recordRoutes, UNMATCHED_ROUTE } from './http/metrics.js';
import { fallbackCounter, memoryCounter, redisCounter, type WindowCounter } from './limits/window-counter.js';
import { createMetrics, type WardenMetrics } from './metrics/metrics.js';
import type { RevocationBus } from './revocation/bus.js';
import { RevocationIndex } from './revocation/index.js';
import { createRedisBus } from './revocation/redis-bus.js';
import { Revoker } from './revocation/revoker.js';
import { apiRoutes } from './http/api.js';
import { apiLoginRoutes } from './http/api-login.js';
import { openapiOptions } from './http/docs.js';
import { FORWARD_AUTH_OPTIONS, FORWARD_AUTH_PATH, forwardAuthAtEdge } from './http/forward-auth.js';
import { loginRoutes } from './http/login.js';
import { mfaRoutes } from './http/mfa.js';
import { passwordFormRoutes } from './http/password-form.js';
import { clientIp, readEmptyJsonAsNoBody, requestIdGenerator } from './http/request.js';
import { clientErrorHandler, frameworkErrors, notFoundHandler, rootErrorHandler } from './http/unmatched.js';
import type { RouteContext } from './http/context.js';
import { detailBody, errorHandler, redactUrl } from '@warden/toolkit';
import { metaRoutes } from './http/meta.js';
import { createHttpEdge } from './http/node-server.js';
import { oauthRoutes } from './http/oauth.js';
import { trustProxyOption } from './http/proxy-trust.js';
import { refuseFraming } from './http/security-headers.js';
import { closeHttp, cutConnectionsAfter } from './http/shutdown.js';
import { v1Routes } from './http/v1.js';
import { loadKeyRing } from './keyring.js';
import { configuredBlocklist } from './password-policy.js';
import { isConnectionFailure, openStorage, watchAvailability } from './storage/index.js';
import type { AppliedMigration, Storage } from './storage/types.js';
import { deleteInBatches, periodically } from './storage/batches.js';
import { latestVersion } from './storage/migrations.js';
import { maskedUrl } from './storage/database-url.js';
import { createTokenIssuer } from '@warden/toolkit';
import type { KeyRing } from '@warden/toolkit';
import { createTokenVerifier, isWardenError, type TokenVerifier } from '@warden/toolkit';
import { setFlagsFromString } from 'node:v8';

export interface WardenOptions {
  /** Use this storage instead of opening DATABASE_URL (tests, embedding). */
  storage?: Storage;
  /** Use this revocation bus instead of one on REDIS_URL (tests give each run its own channel). */
  bus?: RevocationBus;
  /** Where the log goes (default stdout). */
  logStream?: NodeJS.WritableStream;
  /** Epoch milliseconds (default Date.now): tokens, sessions, throttle, revocation and cookies all read it. */
  clock?: () => number;
  /** Mail transport and worker timings instead of the configured ones (tests). */
  email?: EmailOptions;
  /** Count the mail and sign-up limits here instead of in memory or on REDIS_URL (tests give each run its own keys). */
  limitCounter?: WindowCounter;
  /** The sign-in throttle's shared counters instead of Redis at REDIS_URL (tests give each run its own keys). */
  throttleCounters?: SharedCounters;
}

export interface Warden {
  app: FastifyInstance;
  accounts: Accounts;
  revoker: Revoker;
  storage: Storage;
  keys: KeyRing;
  /** The guard's token verifier (its cacheStats() tell how often the verify cache answers). */
  verify: TokenVerifier;
  log: Logger;
  /** The security event stream: every account service writes through it. */
  events: EventLog;
  /** Prometheus metrics (absent with METRICS=false). */
  metrics: WardenMetrics | undefined;
  /** The webhook outbox's worker (absent without WEBHOOK_URLS). */
  webhooks: WebhookWorker | undefined;
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
  const options = { level: config.log.level, redact: { paths: ['headers.authorization', 'headers.cookie'], censor: '[redacted]' } };
  return stream ? pino(options, stream as pino.DestinationStream) : pino(options);
}

/**
 * Called by `warden serve` once the server is built, before it takes traffic: turns off V8's
 * allocation-site pretenuring for the rest of the process. Under load, V8 sometimes judges a
 * per-request allocation site long-lived and allocates its objects in the old generation from then
 * on, where they die: seen with --trace-gc, the heap then climbs by tens of MB between full
 * collections and each scavenge takes 8–14 ms instead of 0.4. Measured with `npm run bench --
 * guard` (forward auth, one core): 3 of 9 fresh processes fell into that state, serving 0.42–0.62
 * of a bare Fastify route's requests per CPU-second instead of 0.84–1.24; with the flag, none of
 * 12. Start-up (the revocation index's load) keeps the default.
 */
export function tuneHeapForServing(): void {
  setFlagsFromString('--no-allocation-site-pretenuring');
}

export async function createWarden(config: Config, options: WardenOptions = {}): Promise<Warden> {
  const clock = options.clock ?? Date.now;
  const log = createLogger(config, options.logStream);
  const { ring: keys, generatedFile } = loadKeyRing(config);
  // Read whole before anything opens: a file that cannot be used stops the start (ConfigError).
  const passwordBlocklist = configuredBlocklist(config);
  const { connectTimeoutMs, queryTimeoutMs, preparedStatements, redisTimeoutMs, revocationPollMs } = config.storage;
  const migrated = (applied: AppliedMigration[]) => {
    if (applied.length > 0) log.info({ migrations: applied.map((m) => `${m.version} ${m.name}`) }, `database schema migrated to version ${applied.at(-1)!.version}`);
  };
  const opened = options.storage ?? (await openStorage(config.storage.databaseUrl, { clock, connectTimeoutMs, queryTimeoutMs, preparedStatements, migrated }));
  if (options.storage) migrated(await opened.migrate());
  const newer = await opened.newerMigrations();
  if (newer.length > 0) {
    // Served all the same: migrations only add, and during a rolling upgrade (or a rollback) the
    // instances not yet upgraded must keep answering on the schema the first upgraded one migrated.
    log.warn({ migrations: newer.map((m) => `${m.version} ${m.name}`) },
      `database schema is at version ${newer.at(-1)!.version}, newer than this Warden knows (${latestVersion()}): a newer Warden migrated it; upgrade this instance`);
  }
  // Outages are logged once each way; the requests that meet one get 503 without a log line each.
  // Shortages (a full disk, a read-only standby, a lock held elsewhere) are logged at most once a minute.
  const storage = watchAvailability(opened, {
    onChange(status, cause) {
      if (status === 'down') log.error({ reason: cause?.message }, 'database unreachable: requests that need it get 503 until it is back');
      else log.info('database back');
    },
    onShortage(cause, refused) {
      log.warn({ reason: cause.message, refused }, 'database refuses statements for want of a resource: those requests get 503 until it has it again');
    },
  });

  const index = new RevocationIndex();
  const bus = options.bus ?? (config.storage.redisUrl ? createRedisBus(config.storage.redisUrl, { timeoutMs: redisTimeoutMs, channel: config.storage.redisChannel }) : undefined);
  const revoker = new Revoker(index, storage.revocations, bus, clock, { pollEveryMs: revocationPollMs });
  // The throttle's counters connect while the bus does: the first sign-ins after a start count in
  // Redis whenever it answers, and the start waits for both no longer than for the bus (1.5 s).
  const ownCounters = !options.throttleCounters && config.storage.redisUrl
    ? createRedisCounters(config.storage.redisUrl, { readyWithinMs: Math.max(1000, 2 * redisTimeoutMs) + redisTimeoutMs }) : undefined;
  try {
    await Promise.all([revoker.start(), ownCounters?.ready()]);
  } catch (e) {
    await ownCounters?.close();
    throw e;
  }
  if (bus) {
    const redis = `REDIS_URL=${config.storage.redisUrl === undefined ? '(given)' : maskedUrl(config.storage.redisUrl)}`;
    const down = () => log.warn(`Redis unreachable (${redis}): serving without it; revocations made on other instances are read from the database every ${revocationPollMs} ms until it is back`);
    if (revoker.busStatus === 'down') down();
    bus.onStatus?.((status) => (status === 'down' ? down() : log.info(`Redis back (${redis}): revocations are broadcast again`)));
  }

  const route = webhookRouter(config.webhooks.endpoints ?? []);
  const events = new EventLog({ store: storage.events, clock, deliverTo: route });
  const webhooks = config.webhooks.endpoints && config.webhooks.key
    ? new WebhookWorker({
      store: storage.deliveries, endpoints: config.webhooks.endpoints.map((e) => e.url), key: config.webhooks.key, clock, log,
      pollMs: config.webhooks.pollMs, timeoutMs: config.webhooks.timeoutMs, backoffMs: config.webhooks.retryMs, loggedElsewhere: isConnectionFailure,
    })
    : undefined;
  if (webhooks) {
    // The instance that wrote an event sends it at once; the others find it on their next poll.
    events.onWritten((list) => list.some((e) => e.deliverTo.length > 0) && webhooks.nudge());
    webhooks.start();
  }
  const stopRetention = startEventRetention({ store: storage.events, clock, retentionMs: config.audit.retentionMs, log, loggedElsewhere: isConnectionFailure });

  const issuer = createTokenIssuer({
    keys,
    accessExpiresIn: config.tokens.accessTtlSeconds,
    refreshExpiresIn: config.tokens.refreshTtlSeconds,
    issuer: config.tokens.issuer,
    audience: config.tokens.audience,
    clock,
  });
  const verify = createTokenVerifier({
    keys, issuer: config.tokens.issuer, audience: config.tokens.audience, leeway: config.tokens.leewaySeconds, clock,
    cacheSize: config.tokens.verifyCacheSize,
    // The replaced application's refresh tokens may name their user by an integer (flask-jwt-extended's identity=42).
    numericLegacySubject: config.tokens.legacyRefreshTokens,
  });
  // TOTP secrets are sealed with MFA_ENCRYPTION_KEY, else with a key derived from the signing key's
  // own material. They open with the keys derived from every private key of the ring too: setting
  // MFA_ENCRYPTION_KEY later, or rotating JWKS_SIGNING_KID, keeps them readable while the key they
  // were sealed under is still in the ring.
  const derivedKeys = keys.keys.filter((k) => k.privateKey !== undefined).map((k) => deriveFromSigningKey(k.privateKey!));
  if (config.mfa.encryptionKey === undefined && config.keys.jwksFile) {
    log.warn('MFA_ENCRYPTION_KEY is unset: TOTP secrets are sealed with a key derived from the signing key, and stay readable only while that key is in JWKS_FILE; set MFA_ENCRYPTION_KEY');
  }
  // MFA tokens are signed with keys derived from these, which no other verifier holds (mfa-token-keys.ts).
  const mfaKeys = mfaTokenKeys(keys);
  const mfaIssuer = createTokenIssuer({
    keys: mfaKeys, accessExpiresIn: config.tokens.accessTtlSeconds, refreshExpiresIn: config.tokens.refreshTtlSeconds,
    issuer: config.tokens.issuer, audience: config.tokens.audience, clock,
  });
  const verifyOwnMfaToken = createTokenVerifier({
    keys: mfaKeys, issuer: config.tokens.issuer, audience: config.tokens.audience, leeway: config.tokens.leewaySeconds, clock, types: ['mfa'],
  });
  // Until 2026-11-25 MFA tokens were signed with the signing key itself: one an instance of that
  // release issued (they live 5 minutes) still finishes its sign-in here during a rolling upgrade.
  // Only this step takes it (type mfa), as that release did; nothing issues such tokens any more.
  const verifyPreviousMfaToken = createTokenVerifier({
    keys, issuer: config.tokens.issuer, audience: config.tokens.audience, leeway: config.tokens.leewaySeconds, clock, types: ['mfa'],
  });
  const verifyMfaToken = (token: string) => {
    try {
      return verifyOwnMfaToken(token);
    } catch (e) {
      if (!isWardenError(e) || (e.code !== 'ERR_JWT_KEY_UNKNOWN' && e.code !== 'ERR_JWT_SIGNATURE_INVALID')) throw e;
      return verifyPreviousMfaToken(token);
    }
  };
  // Owned (and closed) here only when made here.
  const sharedCounters = options.throttleCounters ?? ownCounters;
  const throttle = config.throttle.maxPerLogin > 0
    ? new SignInThrottle({
      ...config.throttle, clock, ipv6Prefix: config.server.ipv6Prefix,
      shared: sharedCounters,
      onSharedState: (up, err) => (up
        ? log.info('sign-in throttle: Redis answers again; counting there')
        // The message only: a Redis reply error carries the command's arguments (logins).
        : log.warn({ reason: err instanceof Error ? err.message : String(err) }, 'sign-in throttle: Redis is not answering; counting in this instance\'s memory meanwhile')),
    })
    : undefined;
  // Wrong second-factor codes per user, counted with the sign-in throttle's shared counters (own keys).
  const mfaThrottle = new SignInThrottle({
    maxPerLogin: config.mfa.maxFailures, maxPerIp: Number.POSITIVE_INFINITY, windowMs: config.throttle.windowMs, clock,
    shared: sharedCounters && namespacedCounters(sharedCounters, 'mfa:'),
  });
  // The mail and sign-up limits' counters: in Redis, so that every instance counts together, and in
  // this instance's memory while Redis does not answer (an outage must not refuse sign-ups and resets).
  const ownLimitCounter = options.limitCounter ? undefined : config.storage.redisUrl
    ? fallbackCounter(redisCounter(config.storage.redisUrl, { commandTimeoutMs: config.storage.redisTimeoutMs }), memoryCounter(clock), {
      onState: (up, err) => (up
        ? log.info('mail and sign-up limits: Redis answers again; counting there')
        : log.warn({ reason: err instanceof Error ? err.message : String(err) }, 'mail and sign-up limits: Redis is not answering; counting in this instance\'s memory meanwhile')),
    })
    : memoryCounter(clock);
  const limitCounter = options.limitCounter ?? ownLimitCounter!;
  const email = setUpEmail(config, { storage, clock, log, options: options.email, counter: limitCounter });
  // One line per refused check, naming the format and the user, never the hash.
  const hasher = createArgon2Hasher({
    onUnusableHash: (u) => log.warn({ userId: u.userId, hashFormat: u.format, problem: u.problem, reason: u.reason }, 'stored password hash cannot be verified; sign-in refused'),
    legacy: legacyHashOptions(config),
  });
  const claims = config.claims.hook ? claimsHook(await loadClaimsHook(config.claims.hook), config.claims.timeoutMs, log) : undefined;
  const accounts = createAccounts({
    storage, issuer, revoker, clock, hasher, pendingMails: (recipient) => storage.outbox.pendingTo(recipient),
    // The longest an access token may live (POST /api/login's outlives the default): revocations last that long.
    accessTtlSeconds: Math.max(config.tokens.accessTtlSeconds, config.tokens.loginTtlSeconds),
    refreshTtlSeconds: config.tokens.refreshTtlSeconds,
    idleTtlSeconds: config.tokens.sessionIdleSeconds,
    refreshGraceMs: config.tokens.refreshGraceMs,
    clockSkewMs: config.tokens.leewaySeconds * 1000,
    maxSessionsPerUser: config.tokens.maxSessionsPerUser,
    legacyRefresh: config.tokens.legacyRefreshTokens ? { prefix: config.tokens.legacyRefreshPrefix } : undefined,
    adminRoles: config.accounts.adminRoles,
    defaultRoles: config.accounts.defaultRoles,
    firstSignUpAdmin: config.accounts.firstSignUpAdmin,
    signUpOpen: config.signup.enabled,
    passwordMaxLength: config.accounts.passwordMaxLength,
    passwordMinLength: config.accounts.passwordMinLength,
    passwordBlocklist,
    passwordContextCheck: config.accounts.passwordContextCheck,
    throttle,
    ipv6Prefix: config.server.ipv6Prefix,
    signUpLimit: new ClientIpLimit(limitCounter, 'signup-ip', { max: config.signup.maxPerIp, windowMs: config.signup.windowMs }, 'Too many sign-ups from this address; try again later',
      config.server.ipv6Prefix),
    events,
    claims,
    email: email.accounts,
    mfa: {
      encryptionKey: config.mfa.encryptionKey ?? deriveFromSigningKey(keys.signer.privateKey!),
      olderEncryptionKeys: derivedKeys,
      issuerName: config.mfa.issuer,
      rpId: config.mfa.rpId,
      origins: config.mfa.origins,
      tokenIssuer: mfaIssuer,
      verifyMfaToken,
      throttle: mfaThrottle,
      optionsLimit: new ClientIpLimit(limitCounter, 'passkey-options-ip', { max: config.mfa.passkeyOptionsPerIp, windowMs: CEREMONY_TTL_MS },
        'Too many passkey sign-in attempts from this address; try again later', config.server.ipv6Prefix),
      warn: (message) => log.warn(message),
    },
  });
  email.start(async () => accounts.email?.purge());
  const metrics = config.metrics.enabled
    ? createMetrics({
      revocationEntries: () => index.size,
      verifyCache: () => (verify as { cacheStats?: () => { hits: number; misses: number } }).cacheStats?.(),
      passwordHashing: () => ({ running: hashQueue.running, waiting: hashQueue.waiting }),
      databaseUp: () => storage.status() === 'up',
      databaseRefusals: () => storage.refusals(),
      pool: storage.poolStats ? () => storage.poolStats!() : undefined,
      redis: bus ? () => revoker.busStatus : undefined,
      // Bounded by the storage's own timeouts; a scrape during an outage just leaves it out.
      webhookBacklog: webhooks ? () => storage.deliveries.backlog().catch(() => undefined) : undefined,
    })
    : undefined;
  const hashWaited = metrics ? (seconds: number) => metrics.hashWaited(seconds) : undefined;
  if (metrics) {
    events.onWritten((list) => metrics.events(list));
    hashQueue.waited.add(hashWaited!);
  }

  const { admin } = config;
  if (admin.username && admin.email && admin.password) {
    await accounts.credentials.ensureAdmin(admin.username, admin.email, admin.password).catch((e: unknown) => {
      // A value the rules refuse (an ADMIN_PASSWORD shorter than PASSWORD_MIN_LENGTH): named as the variable.
      const field = isWardenError(e) && e.code === 'ERR_VALIDATION' ? e.details?.field : undefined;
      if (!isWardenError(e) || typeof field !== 'string') throw e;
      throw new ConfigError([`ADMIN_${field.toUpperCase()}: ${e.message.replace(`${field}: `, '')}`]);
    });
  }

  const edge = createHttpEdge(config);
  // Requests no route takes are recorded under one label (their URLs are unbounded).
  const unmatched = metrics?.route(UNMATCHED_ROUTE);
  const app = Fastify({
    logger: false,
    bodyLimit: config.server.bodyLimitBytes,
    trustProxy: trustProxyOption(config.server.trustProxy),
    serverFactory: edge.serverFactory,
    return503OnClosing: true,
    genReqId: requestIdGenerator(),
    frameworkErrors: frameworkErrors(unmatched),
    clientErrorHandler,
  });
  const notFound = notFoundHandler(app, unmatched);
  app.setErrorHandler(rootErrorHandler(notFound, errorHandler(detailBody, log)));
  readEmptyJsonAsNoBody(app);
  // Route schemas document the API (see http/docs.ts); the accounts rules do the validating and
  // the views decide what is sent, so no schema may change a status or drop a member.
  app.setValidatorCompiler(() => () => true);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  if (log.isLevelEnabled('debug')) {
    app.addHook('onResponse', (req, reply, done) => {
      log.debug({ reqId: req.id, method: req.method, url: redactUrl(req.url), ip: clientIp(req), status: reply.statusCode, ms: reply.elapsedTime }, 'request completed');
      done();
    });
  }
  app.setNotFoundHandler(notFound);
  if (metrics) recordRoutes(app, metrics);
  await registerCors(app, config);

  await app.register(formbody, { bodyLimit: config.server.bodyLimitBytes });
  await app.register(swagger, openapiOptions());
  // The hook on a context of /docs's own (no other route has it): uiHooks reach the UI's routes but
  // not the static files it serves beside them, among them an HTML page (oauth2-redirect.html).
  await app.register(async (docs) => {
    docs.addHook('onRequest', refuseFraming);
    await docs.register(swaggerUi, { routePrefix: '/docs' });
  });
  await app.register(wardenGuard, {
    verify,
    revocations: index,
    clock,
    locations: config.guard.locations,
    settings: {
      accessCookieName: config.cookies.accessName, refreshCookieName: config.cookies.refreshName,
      headerName: config.guard.headerName, headerType: config.guard.headerType,
    },
    csrfHeaderName: config.guard.csrfHeaderName,
    mfaRequiredRoles: config.mfa.requiredRoles ?? [],
  });

  const readiness = async () => ({
    // Under a second whatever the database does (with room for the rest of the request): a probe
    // still hanging then counts as not ready.
    database: await storage.probe(750),
    degraded: revoker.busStatus === 'down' ? ['redis'] : [],
  });
  const audit = new Audit(storage.events, storage.deliveries);
  const ctx: RouteContext = { config, accounts, keys, issuer, storage, log, clock, readiness, audit };
  await app.register(async (i) => apiRoutes(i, ctx), { prefix: '/api' });
  await app.register(async (i) => v1Routes(i, ctx), { prefix: '/api/v1' });
  await app.register(async (i) => mfaRoutes(i, ctx), { prefix: '/api/v1' });
  await app.register(async (i) => accountEmailRoutes(i, ctx), { prefix: '/api/v1' });
  await app.register(async (i) => auditRoutes(i, ctx), { prefix: '/api/v1' });
  await app.register(async (i) => oauthRoutes(i, ctx), { prefix: '/oauth' });
  await app.register(async (i) => metaRoutes(i, ctx));
  await app.register(async (i) => passwordFormRoutes(i, ctx));
  await app.register(async (i) => loginRoutes(i, ctx));
  await app.register(async (i) => apiLoginRoutes(i, ctx));
  await app.register(async (i) => consoleRoutes(i, config));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  // Forward auth's 200 is answered at the HTTP edge (http/forward-auth.ts), with the guard's own
  // checks for the route; with debug request logging on, every request goes through Fastify to be logged.
  if (!log.isLevelEnabled('debug')) {
    edge.get(FORWARD_AUTH_PATH, forwardAuthAtEdge(app.jwtRequirement(FORWARD_AUTH_OPTIONS), metrics?.route(FORWARD_AUTH_PATH)));
  }
  // /metrics on the public port, or on METRICS_PORT once the app listens.
  let metricsListener: Server | undefined;
  if (metrics && config.metrics.port === undefined) metricsRoute(app, metrics);
  if (metrics && config.metrics.port !== undefined) {
    const port = config.metrics.port;
    app.addHook('onListen', async () => {
      metricsListener = metricsServer(metrics);
      await new Promise<void>((resolve, reject) => {
        metricsListener!.once('error', reject).listen(port, config.server.host, () => resolve());
      });
    });
  }

  // Ended and expired sessions are kept a week (GET /auth/sessions history, audits), then dropped,
  // SESSION_PURGE_BATCH at a time with requests let in between: one DELETE of an hour's worth kept
  // SQLite's only thread from every request (1.7 s for 20,000 of 410,000 sessions).
  const stopSessionPurge = periodically(() => {
    const before = clock() - 7 * 86400_000;
    return deleteInBatches((batch) => storage.sessions.purge(before, batch), SESSION_PURGE_BATCH).catch((err: unknown) => isConnectionFailure(err) || log.warn({ err }, 'session purge failed'));
  }, 3600_000, 30_000);
  // Challenges live minutes, and anyone may ask for a passwordless one: the dead ones go every minute.
  const challengeTimer = setInterval(() => {
    void storage.challenges.purge(clock()).catch((err: unknown) => isConnectionFailure(err) || log.warn({ err }, 'challenge purge failed'));
  }, 60_000);
  challengeTimer.unref();

  return {
    app, accounts, revoker, storage, keys, verify, log, events, metrics, webhooks,
    generatedKeyFile: generatedFile,
    async close() {
      stopSessionPurge();
      clearInterval(challengeTimer);
      stopRetention();
      if (hashWaited) hashQueue.waited.delete(hashWaited);
      // Webhook attempts in flight get the same time as requests in flight, no more.
      const webhooksStopped = webhooks?.stop(cutConnectionsAfter(config.connections.shutdownGraceMs));
      await closeHttp(app, edge, config.connections.shutdownGraceMs, log);
      if (metricsListener) {
        metricsListener.closeAllConnections();
        await new Promise((resolve) => metricsListener!.close(resolve));
      }
      await webhooksStopped;
      await email.close();
      await revoker.stop();
      await ownCounters?.close();
      await ownLimitCounter?.close();
      if (!options.storage) await storage.close();
    },
  };
}

/** Sessions deleted per statement by the hourly purge. */
const SESSION_PURGE_BATCH = 500;

/** The function a CLAIMS_HOOK module exports: `export default async (ctx) => claims` (or a named `claims`). */
async function loadClaimsHook(path: string): Promise<ClaimsHookFunction> {
  const mod = (await import(pathToFileURL(resolve(path)).href)) as { default?: unknown; claims?: unknown };
  const fn = typeof mod.default === 'function' ? mod.default : mod.claims;
  if (typeof fn !== 'function') throw new Error(`CLAIMS_HOOK ${path} must export a function (export default async (ctx) => ({ ... }))`);
  return fn as ClaimsHookFunction;
}
