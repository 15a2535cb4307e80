// The fields a bulk import row may carry, as the import file's columns or keys name them. A module
// of its own so that the CLI can name them (usage, --map) without loading the importer's hashing.
// `disabled` is is_active's opposite: FastAPI's tutorial (OAuth2 with Password and JWT) keeps that.
// `legacy_id` is one Warden stored already (an earlier import's), carried over as it is: moving from
// one Warden database to another must not lose the old ids a claims hook puts in tokens.
export const IMPORT_FIELDS = ['id', 'username', 'email', 'password_hash', 'password', 'full_name', 'roles', 'is_active', 'disabled', 'email_verified', 'created_at', 'legacy_id'] as const;
export type ImportField = (typeof IMPORT_FIELDS)[number];
