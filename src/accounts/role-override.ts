// A role change's override of the user's live tokens' roles: users.update writes it in the
// change's own transaction (OverrideRoles, storage/types.ts), and once that write has resolved it
// is applied here and told to the other instances. Shared by an administrator's change and an
// import's.
import { roleOverride, type RoleOverride } from '../revocation/records.js';
import type { Revoker } from '../revocation/revoker.js';
import type { OverrideRoles } from '../storage/types.js';

/** The override to hand users.update (lasting until `until`), and publish(), to call once it resolved. */
export function roleOverrideWrite(revoker: Revoker, until: number): { override: OverrideRoles; publish(): void } {
  let stored: RoleOverride | undefined;
  return {
    override: { record: (u) => roleOverride(u.id, u.roles, until), stored: (r) => (stored = r) },
    publish: () => {
      if (stored) revoker.recorded(stored);
    },
  };
}
