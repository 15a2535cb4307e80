// The fields a bulk import row may carry, as the import file's columns or keys name them. A module
// of its own so that the CLI can name them (usage, --map) without loading the importer's hashing.
// `disabled` is is_active's opposite: FastAPI's tutorial (OAuth2 with Password and JWT) keeps that.
export const IMPORT_FIELDS = ['id', 'username', 'email', 'password_hash', 'password', 'full_name', 'roles', 'is_active', 'disabled', 'email_verified', 'created_at'] as const;
export type ImportField = (typeof IMPORT_FIELDS)[number];
