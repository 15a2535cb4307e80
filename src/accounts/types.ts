// The plain values that go in and out of the account services (no HTTP here).
import type { IssuedToken } from '@warden/toolkit';
import type { SessionRecord, UserRecord } from '../storage/types.js';

/** Where a request came from: kept on the session, and on the events it writes. */
export interface ClientMeta {
  userAgent: string | null;
  ip: string | null;
}

/** A request whose origin is not known (or not a request: Warden itself). */
export const NO_META: ClientMeta = { userAgent: null, ip: null };

/** What a sign-in or a refresh hands back. */
export interface TokenPair {
  access: IssuedToken;
  refresh: IssuedToken;
  session: SessionRecord;
  user: UserRecord;
}

/** A person asking through a verified token, with the roles in force (overrides applied). */
export interface UserActor {
  kind: 'user';
  userId: string;
  roles: readonly string[];
}

/** Warden itself acting on its configuration (e.g. creating ADMIN_USERNAME at start); it may do what an administrator may. */
export interface SystemActor {
  kind: 'system';
  /** What Warden was doing, for logs and audits. */
  task: string;
  /**
   * The operator at the console (the `warden` command) rather than Warden's own configuration: its
   * events read as an administrator's (user.created via `admin`), with no acting user.
   */
  operator?: true;
}

/** Who asks for an action; null for an anonymous request. */
export type Actor = UserActor | SystemActor;

export type LogoutScope = 'local' | 'global' | 'others';

/** A sign-up or an administrator's create, as received: every field is checked by the service. */
export interface SignUpInput {
  username?: unknown;
  email?: unknown;
  password?: unknown;
  full_name?: unknown;
  roles?: unknown;
  is_active?: unknown;
}
