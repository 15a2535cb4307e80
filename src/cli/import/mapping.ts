// Which column of the old users table (or of the file) feeds which Warden field. By default a
// column named like a field feeds it, and the names the usual layouts use are recognised:
//   fastapi-users (SQLAlchemy)  hashed_password
//   Django auth_user            password (a hash), date_joined, first_name + last_name
//   Flask-Security              active
//   Flask-SQLAlchemy apps       password or password_hash (a hash), name
// In a file, "password" is a plain password (hashed with argon2id on import); in a database it is
// the stored hash. `--map column=field,…` overrides: a field, `role:NAME` (the role when the column
// is true, e.g. is_superuser=role:admin) or nothing (`column=`) to leave a column out. Several
// columns mapped to full_name are joined with spaces.
import { InvalidArgumentError } from 'commander';
import { IMPORT_FIELDS, type ImportField } from '../../accounts/import-fields.js';
import type { ImportRow } from '../../accounts/importer.js';

export type Target = { field: ImportField } | { role: string } | 'skip';

export type SourceKind = 'file' | 'database';

const ALIASES: Record<SourceKind, Record<string, ImportField>> = {
  file: { hashed_password: 'password_hash', active: 'is_active', date_joined: 'created_at', first_name: 'full_name', last_name: 'full_name', name: 'full_name' },
  database: {
    password: 'password_hash', hashed_password: 'password_hash', active: 'is_active', date_joined: 'created_at',
    first_name: 'full_name', last_name: 'full_name', name: 'full_name',
  },
};

const ROLE = /^role:([A-Za-z0-9_:.-]{1,64})$/;

/** `--map a=b,c=d` as pairs; a usage error (exit 2) for anything else. */
export function parseMapOption(value: string, previous: [string, Target][] = []): [string, Target][] {
  const out = [...previous];
  for (const item of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`"${item}" is not column=field.`);
    const column = item.slice(0, eq).trim();
    const target = item.slice(eq + 1).trim();
    const role = ROLE.exec(target);
    if (target === '') out.push([column, 'skip']);
    else if (role) out.push([column, { role: role[1]! }]);
    else if ((IMPORT_FIELDS as readonly string[]).includes(target)) out.push([column, { field: target as ImportField }]);
    else throw new InvalidArgumentError(`"${target}" is not a field (${IMPORT_FIELDS.join(', ')}), role:NAME, or empty to leave the column out.`);
  }
  return out;
}

/** Turns records of the source into import rows, and remembers the columns it left out. */
export class Mapper {
  private readonly explicit: Map<string, Target>;
  private readonly explicitFields: Set<ImportField>;
  private readonly plans = new Map<string, [string, Target][]>();
  readonly unmapped = new Set<string>();

  constructor(explicit: readonly [string, Target][], private readonly kind: SourceKind) {
    this.explicit = new Map(explicit);
    this.explicitFields = new Set(explicit.flatMap(([, t]) => (typeof t === 'object' && 'field' in t ? [t.field] : [])));
    const fields = explicit.flatMap(([, t]) => (typeof t === 'object' && 'field' in t && t.field !== 'full_name' ? [t.field] : []));
    const twice = fields.find((f, i) => fields.indexOf(f) !== i);
    if (twice) throw new InvalidArgumentError(`two columns are mapped to ${twice}.`);
  }

  /** The column that feeds `field` in records with these columns, if any (e.g. the id, for --roles-query). */
  columnOf(columns: readonly string[], field: ImportField): string | undefined {
    return this.plan(columns).find(([, t]) => typeof t === 'object' && 'field' in t && t.field === field)?.[0];
  }

  row(ref: string, record: Record<string, unknown>, extraRoles?: readonly string[]): ImportRow {
    const fields: ImportRow['fields'] = {};
    const roleFlags: { role: string; value: unknown }[] = [];
    const names: string[] = [];
    for (const [column, target] of this.plan(Object.keys(record))) {
      if (target === 'skip') continue;
      const value = record[column];
      if ('role' in target) roleFlags.push({ role: target.role, value });
      else if (target.field === 'full_name') {
        if (value !== null && value !== undefined && String(value).trim() !== '') names.push(String(value).trim());
      } else fields[target.field] = value;
    }
    if (names.length > 0) fields.full_name = names.join(' ');
    return { ref, fields, roleFlags, ...(extraRoles ? { extraRoles } : {}) };
  }

  /** Targets of a record's columns; computed once per distinct set of columns (JSON Lines may vary). */
  private plan(columns: readonly string[]): [string, Target][] {
    const key = columns.join('\u0000');
    let plan = this.plans.get(key);
    if (plan) return plan;
    const present = new Set(columns.map((c) => c.toLowerCase()));
    const aliases = ALIASES[this.kind];
    const taken = new Set<ImportField>(this.explicitFields);
    plan = [];
    // A column named like a field; in a database "password" holds a hash, so it is only an alias.
    const exact = (c: string): ImportField | undefined => {
      const lower = c.toLowerCase();
      return (IMPORT_FIELDS as readonly string[]).includes(lower) && !(this.kind === 'database' && lower === 'password') ? (lower as ImportField) : undefined;
    };
    // Exact names first, then aliases, so that "password_hash" wins over "password" in a database.
    const ordered = [...columns].sort((a, b) => (exact(a) ? 0 : 1) - (exact(b) ? 0 : 1));
    for (const column of ordered) {
      const explicit = this.explicit.get(column);
      if (explicit !== undefined) {
        plan.push([column, explicit]);
        continue;
      }
      const lower = column.toLowerCase();
      let field: ImportField | undefined = exact(column) ?? aliases[lower];
      // Django's first/last name only when there is no full name column; "name" only when neither.
      if (field === 'full_name' && lower !== 'full_name' && (present.has('full_name') || (lower === 'name' && (present.has('first_name') || present.has('last_name'))))) field = undefined;
      if (field !== undefined && (field === 'full_name' ? this.explicitFields.has('full_name') : taken.has(field))) field = undefined;
      if (field === undefined) {
        this.unmapped.add(column);
        plan.push([column, 'skip']);
        continue;
      }
      taken.add(field);
      plan.push([column, { field }]);
    }
    this.plans.set(key, plan);
    return plan;
  }
}
