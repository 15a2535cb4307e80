// Custom claims: an application's own function (CLAIMS_HOOK) adds claims to every access token
// Warden issues — at sign-in and at each refresh, whichever route or grant asked. It is given the
// user, the session and the grant type and answers an object of claims. It never replaces a claim
// Warden writes itself; a hook that throws, answers something else than an object or takes longer
// than CLAIMS_HOOK_TIMEOUT_MS fails the issuance with 503: a token is never issued without the
// claims the application relies on.
import { RESERVED_CLAIMS, WardenError } from '@warden/toolkit';
import type { UserRecord } from '../storage/types.js';

/** What the hook is given. Plain JSON values: it may be logged or sent on by the application. */
export interface ClaimsContext {
  /** legacy_id: the id the user had in the application `warden import` brought them from (null for others), which its services may still key their data by. */
  user: { id: string; username: string; email: string; full_name: string | null; roles: string[]; is_active: boolean; legacy_id: string | null };
  session: { id: string; ip: string | null; user_agent: string | null };
  /**
   * How the token is being obtained: a password (any sign-in route, the OAuth password grant, then
   * any second factor), a passkey alone, or a refresh token.
   */
  grant: 'password' | 'passkey' | 'refresh_token';
}

/** The function a CLAIMS_HOOK module exports (as default, or as `claims`). */
export type ClaimsHookFunction = (ctx: ClaimsContext) => Promise<Record<string, unknown>> | Record<string, unknown>;

/** The claims to add to one access token (already checked), or the 503 explaining why not. */
export type ClaimsHook = (ctx: ClaimsContext) => Promise<Record<string, unknown>>;

/** Claims Warden writes itself besides the toolkit's reserved ones: roles, session, verified email, how (amr, acr). */
const WARDEN_CLAIMS: ReadonlySet<string> = new Set(['roles', 'sid', 'email_verified', 'amr', 'acr']);
/** Tokens over 8 KiB are refused by verifiers (toolkit/src/tokens/jws.ts): the hook's share is bounded well below. */
const MAX_CLAIMS_BYTES = 4096;

export interface HookLog {
  warn(obj: object, msg: string): void;
}

const unavailable = () => new WardenError('ERR_UNAVAILABLE', 'Custom claims are unavailable; try again shortly', { retryAfter: 5 });

/** Wraps the application's function: the time limit, the checks, the reserved claims left out. */
export function claimsHook(fn: ClaimsHookFunction, timeoutMs: number, log: HookLog): ClaimsHook {
  const warned = new Set<string>();
  return async (ctx) => {
    let timer: NodeJS.Timeout | undefined;
    let result: unknown;
    try {
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`took longer than CLAIMS_HOOK_TIMEOUT_MS (${timeoutMs} ms)`)), timeoutMs);
      });
      result = await Promise.race([Promise.resolve().then(() => fn(ctx)), late]);
    } catch (e) {
      log.warn({ reason: e instanceof Error ? e.message : String(e), grant: ctx.grant }, 'custom claims hook failed: no token issued');
      throw unavailable();
    } finally {
      clearTimeout(timer);
    }
    if (result === null || typeof result !== 'object' || Array.isArray(result)) {
      log.warn({ got: result === null ? 'null' : Array.isArray(result) ? 'an array' : typeof result }, 'custom claims hook must answer an object: no token issued');
      throw unavailable();
    }
    // The answer as the JSON it makes, read once: a toJSON method would otherwise be called again
    // when the token is written, and replace the whole payload (Warden's claims, exp included).
    let plain: unknown;
    try {
      plain = JSON.parse(JSON.stringify(result) ?? 'null');
    } catch {
      plain = undefined; // a cycle or a BigInt: not JSON
    }
    if (plain === undefined || plain === null || typeof plain !== 'object' || Array.isArray(plain)) {
      log.warn({ bytes: null, max: MAX_CLAIMS_BYTES }, 'custom claims are not JSON or too large: no token issued');
      throw unavailable();
    }
    const claims: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(plain)) {
      if (RESERVED_CLAIMS.has(k) || WARDEN_CLAIMS.has(k)) {
        if (!warned.has(k)) (warned.add(k), log.warn({ claim: k }, 'custom claims hook set a claim Warden writes itself; it is left out'));
        continue;
      }
      if (v !== undefined) claims[k] = v;
    }
    const size = Buffer.byteLength(JSON.stringify(claims));
    if (size > MAX_CLAIMS_BYTES) {
      log.warn({ bytes: size, max: MAX_CLAIMS_BYTES }, 'custom claims are not JSON or too large: no token issued');
      throw unavailable();
    }
    return claims;
  };
}

export function claimsContext(user: UserRecord, session: ClaimsContext['session'], grant: ClaimsContext['grant']): ClaimsContext {
  return {
    user: { id: user.id, username: user.username, email: user.email, full_name: user.fullName, roles: [...user.roles], is_active: user.isActive, legacy_id: user.legacyId },
    session,
    grant,
  };
}
