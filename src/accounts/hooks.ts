// Points in the account rules where other services join in (mail, today) without the rules knowing
// them: credentials and admin call these, account-email.ts provides them.
import type { UserRecord } from '../storage/types.js';
import type { Actor, ClientMeta } from './types.js';

export interface AccountHooks {
  /** A user was created (by sign-up, an administrator or the configuration). */
  signedUp?(user: UserRecord, actor: Actor | null): Promise<void>;
  /** The password was right and the user active; throws to refuse the sign-in all the same. */
  passwordChecked?(user: UserRecord): void;
  /** A session was opened for the user. */
  signedIn?(user: UserRecord, meta: ClientMeta): Promise<void>;
  /** The user's password was changed (by them, by a reset or by an administrator). */
  passwordChanged?(user: UserRecord): Promise<void>;
  /** The user deleted their own account (the record as it was). */
  deletedOwnAccount?(user: UserRecord): Promise<void>;
}
