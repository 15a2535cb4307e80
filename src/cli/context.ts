// What a command that works on the database needs, built from the configuration exactly as the
// server builds it (same storage, same migrations, same revocation path), without the HTTP server
// and without signing keys: the CLI issues no tokens. A change it makes (deactivation, roles,
// revoked sessions) is stored and broadcast on REDIS_URL like the API's. Commands import this
// module when they run (it loads the database drivers and argon2), never at start.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { WardenError, type TokenIssuer } from '@warden/toolkit';
import { createArgon2Hasher, legacyHashOptions } from '../accounts/argon2-hasher.js';
import { createAccounts, type Accounts } from '../accounts/index.js';
import type { Config } from '../config/table.js';
import { EventLog } from '../events/log.js';
import { webhookRouter } from '../events/webhooks/endpoints.js';
import { RevocationIndex } from '../revocation/index.js';
import { createRedisBus } from '../revocation/redis-bus.js';
import { Revoker } from '../revocation/revoker.js';
import { MIGRATIONS } from '../storage/migrations.js';
import { openStorage, parseDatabaseUrl, type AppliedMigration, type Storage } from '../storage/index.js';
import { cliConfig } from './environment.js';
import { maskedUrl } from '../storage/database-url.js';
import { CliError } from './output.js';
import { configuredBlocklist } from '../password-policy.js';

export interface StorageOptions {
  /** Refuse to create a SQLite file that is not there (a read-only command on a mistyped path). */
  mustExist?: boolean;
  /** The command only reads: no connection to Redis (nothing to broadcast). */
  readOnly?: boolean;
  /** A SQLite file that is not there is read as an empty database, and not created (a dry run). */
  emptyIfMissing?: boolean;
  /** Told the migrations the opening applied. */
  migrated?: (applied: AppliedMigration[]) => void;
}

/** Opens (and migrates) the configured storage, runs `fn`, closes it. */
export async function withStorage<T>(config: Config, o: StorageOptions, fn: (storage: Storage) => Promise<T>): Promise<T> {
  let url = config.storage.databaseUrl;
  const target = parseDatabaseUrl(url);
  if (target.kind === 'sqlite' && !existsSync(target.path)) {
    if (o.mustExist) throw new CliError(`no database at ${target.path}: set DATABASE_URL, or create it with "warden migrate"`);
    if (o.emptyIfMissing) url = 'memory:';
  }
  let storage: Storage;
  const cannotOpen = (e: unknown) => new CliError(`cannot open the database at ${maskedUrl(url)}: ${(e as Error).message}`);
  try {
    // Only "warden migrate" changes an existing schema: a migration is the operator's to run at an
    // hour of their choosing (migration 11 locks the sessions table), never a side effect of
    // another command, reading or writing.
    storage = await openStorage(url, o.migrated ? { migrated: o.migrated } : { migrate: false });
  } catch (e) {
    throw cannotOpen(e);
  }
  try {
    if (!o.migrated) {
      const behind = await storage.pendingMigrations();
      if (behind.length === MIGRATIONS.length && o.emptyIfMissing) {
        // No Warden schema at all: read as the empty database it is (a dry run before anything).
        await storage.close();
        storage = await openStorage('memory:');
      } else if (behind.length === MIGRATIONS.length && !o.readOnly) {
        // No Warden schema at all: a command that writes (users create, import) makes it.
        await storage.migrate().catch((e: unknown) => {
          throw cannotOpen(e);
        });
      } else if (behind.length > 0) {
        throw new CliError(`the database at ${maskedUrl(url)} needs ${behind.length === 1 ? 'a migration' : `${behind.length} migrations`} this command does not apply (${behind.map((m) => `${m.version} ${m.name}`).join('; ')}): run "warden migrate" first`);
      }
    }
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

// The CLI never signs a token; the account services want an issuer for the paths that do.
const noIssuer: TokenIssuer = {
  issue: () => {
    throw new Error('the warden CLI issues no tokens');
  },
  createAccessToken: () => {
    throw new Error('the warden CLI issues no tokens');
  },
  createRefreshToken: () => {
    throw new Error('the warden CLI issues no tokens');
  },
};

/** How long the CLI waits for Redis before going on without the broadcast. */
const REDIS_WAIT_MS = 5000;

export interface AccountsContext {
  config: Config;
  storage: Storage;
  accounts: Accounts;
  revoker: Revoker;
  /** Unusable stored hashes met while verifying (import --update with plain passwords). */
  warnings: string[];
}

/**
 * The account services over the configured storage, with a revoker that stores each revocation
 * and publishes it on REDIS_URL. If Redis cannot be reached the change is still stored (running
 * instances reload it on their next resync) and a warning says so on stderr.
 */
export async function withAccounts<T>(o: StorageOptions, fn: (c: AccountsContext) => Promise<T>): Promise<T> {
  const config = cliConfig();
  return withStorage(config, o, async (storage) => {
    const revoker = await startRevoker(o.readOnly ? { ...config, storage: { ...config.storage, redisUrl: undefined } } : config, storage);
    const warnings: string[] = [];
    const hasher = createArgon2Hasher({
      onUnusableHash: (u) => warnings.push(`user ${u.userId}: stored ${u.format} hash cannot be verified (${u.problem})`),
      legacy: legacyHashOptions(config),
    });
    const accounts = createAccounts({
      storage, issuer: noIssuer, revoker, hasher, clock: Date.now,
      // The command line's changes are security events like the API's (actor: none, i.e. the
      // operator); their webhook deliveries wait in the outbox for a running server to send.
      events: new EventLog({ store: storage.events, clock: Date.now, deliverTo: webhookRouter(config.webhooks.endpoints ?? []) }),
      accessTtlSeconds: config.tokens.accessTtlSeconds,
      refreshTtlSeconds: config.tokens.refreshTtlSeconds,
      idleTtlSeconds: config.tokens.sessionIdleSeconds,
      adminRoles: config.accounts.adminRoles,
      defaultRoles: config.accounts.defaultRoles,
      refreshGraceMs: config.tokens.refreshGraceMs,
      maxSessionsPerUser: config.tokens.maxSessionsPerUser,
      passwordMaxLength: config.accounts.passwordMaxLength,
      passwordMinLength: config.accounts.passwordMinLength,
      // warden users create and set-password hold a password to the same rules as the API.
      passwordBlocklist: configuredBlocklist(config),
      passwordContextCheck: config.accounts.passwordContextCheck,
      // The CLI lists and resets factors; it never opens a sealed TOTP secret nor takes an MFA token,
      // so it needs neither the signing key (it holds none) nor, without MFA_ENCRYPTION_KEY, the real sealing key.
      mfa: {
        encryptionKey: config.mfa.encryptionKey ?? randomBytes(32),
        issuerName: config.mfa.issuer,
        rpId: config.mfa.rpId,
        origins: config.mfa.origins,
        tokenIssuer: noIssuer,
        verifyMfaToken: () => {
          throw new WardenError('ERR_MFA_TOKEN_INVALID');
        },
      },
    });
    try {
      return await fn({ config, storage, accounts, revoker, warnings });
    } finally {
      await revoker.stop();
    }
  });
}

async function startRevoker(config: Config, storage: Storage): Promise<Revoker> {
  const url = config.storage.redisUrl;
  if (url !== undefined) {
    const revoker = new Revoker(new RevocationIndex(), storage.revocations, createRedisBus(url, config.storage.redisChannel));
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        revoker.start(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${REDIS_WAIT_MS / 1000} s`)), REDIS_WAIT_MS))),
      ]);
      // A refused connection is known at once: the start resolves with the bus down, and what the
      // command would publish reaches no one.
      if (revoker.busStatus !== 'down') return revoker;
      throw new Error('no connection');
    } catch (e) {
      await revoker.stop().catch(() => undefined);
      process.stderr.write(`warden: warning: Redis at ${maskedUrl(url)} unreachable (${(e as Error).message}); changes are stored but not broadcast: running instances see them at their next reload\n`);
    } finally {
      clearTimeout(timer);
    }
  }
  const revoker = new Revoker(new RevocationIndex(), storage.revocations, undefined);
  await revoker.start();
  return revoker;
}
