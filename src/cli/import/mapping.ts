// Which column of the old users table (or of the file) feeds which Warden field. By default a
// column named like a field feeds it, and the names the usual layouts use are recognised:
//   fastapi-users (SQLAlchemy)  hashed_password, is_verified
//   Django auth_user            password (a hash), date_joined, first_name + last_name
//   Flask-Security              active, confirmed_at
//   Flask-User                  email_confirmed_at
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

const COMMON: Record<string, ImportField> = {
  hashed_password: 'password_hash', active: 'is_active', date_joined: 'created_at', first_name: 'full_name', last_name: 'full_name', name: 'full_name',
  is_verified: 'email_verified', confirmed_at: 'email_verified', email_confirmed_at: 'email_verified',
};

const ALIASES: Record<SourceKind, Record<string, ImportField>> = {
  file: COMMON,
  database: { ...COMMON, password: 'password_hash' },
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
  private readonly plans = new Map<string, Plan>();
  private last: { columns: readonly string[]; plan: Plan } | undefined;
  readonly unmapped = new Set<string>();

  constructor(explicit: readonly [string, Target][], private readonly kind: SourceKind) {
    this.explicit = new Map(explicit);
    this.explicitFields = new Set(explicit.flatMap(([, t]) => (typeof t === 'object' && 'field' in t ? [t.field] : [])));
    const fields = explicit.flatMap(([, t]) => (typeof t === 'object' && 'field' in t && t.field !== 'full_name' ? [t.field] : []));
    const twice = fields.find((f, i) => fields.indexOf(f) !== i);
    if (twice) throw new InvalidArgumentError(`two columns are mapped to ${twice}.`);
  }

  /** The position of the column that feeds `field` in records with these columns, if any (e.g. the id, for --roles-query). */
  columnOf(columns: readonly string[], field: ImportField): number | undefined {
    const i = this.plan(columns).targets.findIndex((t) => typeof t === 'object' && 'field' in t && t.field === field);
    return i === -1 ? undefined : i;
  }

  row(ref: string, columns: readonly string[], values: readonly unknown[], extraRoles?: readonly string[]): ImportRow {
    const fields: ImportRow['fields'] = {};
    let roleFlags: { role: string; value: unknown }[] | undefined;
    let names: string[] | undefined;
    let notAName: unknown; // a structure where a name belongs: left for validation to refuse
    const { targets, names: nameColumns } = this.plan(columns);
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i]!;
      if (target === 'skip') continue;
      const value = values[i];
      if ('role' in target) (roleFlags ??= []).push({ role: target.role, value });
      else if (target.field !== 'full_name') fields[target.field] = value;
    }
    for (const i of nameColumns) {
      const value = values[i];
      if (value !== null && typeof value === 'object' && !(value instanceof Date)) notAName = value;
      else if (value !== null && value !== undefined && String(value).trim() !== '') (names ??= []).push(String(value).trim());
    }
    if (notAName !== undefined) fields.full_name = notAName;
    else if (names) fields.full_name = names.join(' ');
    return { ref, fields, ...(roleFlags ? { roleFlags } : {}), ...(extraRoles ? { extraRoles } : {}) };
  }

  /**
   * Targets of a record's columns, by position; computed once per distinct set of columns (JSON
   * Lines may vary), and found at once for the records of a file or a table, which share theirs.
   */
  private plan(columns: readonly string[]): Plan {
    if (this.last?.columns === columns) return this.last.plan;
    // JSON's text of the names, which no two lists share (a JSON Lines key may hold any character,
    // NUL or a separator too: joined, ["a\u0000b"] and ["a", "b"] were one plan).
    const key = JSON.stringify(columns);
    let plan = this.plans.get(key);
    if (!plan) this.plans.set(key, (plan = this.makePlan(columns)));
    this.last = { columns, plan };
    return plan;
  }

  private makePlan(columns: readonly string[]): Plan {
    const present = new Set(columns.map((c) => c.toLowerCase()));
    const aliases = ALIASES[this.kind];
    const taken = new Set<ImportField>(this.explicitFields);
    const targets: Target[] = columns.map(() => 'skip');
    // A column named like a field; in a database "password" holds a hash, so it is only an alias.
    const exact = (c: string): ImportField | undefined => {
      const lower = c.toLowerCase();
      return (IMPORT_FIELDS as readonly string[]).includes(lower) && !(this.kind === 'database' && lower === 'password') ? (lower as ImportField) : undefined;
    };
    // Exact names first, then aliases, so that "password_hash" wins over "password" in a database.
    const ordered = columns.map((c, i) => i).sort((a, b) => (exact(columns[a]!) ? 0 : 1) - (exact(columns[b]!) ? 0 : 1));
    for (const i of ordered) {
      const column = columns[i]!;
      const explicit = this.explicit.get(column);
      if (explicit !== undefined) {
        targets[i] = explicit;
        continue;
      }
      const lower = column.toLowerCase();
      let field: ImportField | undefined = exact(column) ?? aliases[lower];
      // Django's first/last name only when there is no full name column; "name" only when neither.
      if (field === 'full_name' && lower !== 'full_name' && (present.has('full_name') || (lower === 'name' && (present.has('first_name') || present.has('last_name'))))) field = undefined;
      if (field !== undefined && (field === 'full_name' ? this.explicitFields.has('full_name') : taken.has(field))) field = undefined;
      if (field === undefined) {
        this.unmapped.add(column);
        continue;
      }
      taken.add(field);
      targets[i] = { field };
    }
    // The name's parts in reading order: Django's table on SQLite has last_name before first_name
    // (its migrations rebuild the table with the altered first_name last), yet the name is "Jane Doe".
    const rank = (c: string) => (c.toLowerCase() === 'first_name' ? 0 : c.toLowerCase() === 'last_name' ? 2 : 1);
    const names = columns.flatMap((c, i) => (isName(targets[i]!) ? [i] : [])).sort((a, b) => rank(columns[a]!) - rank(columns[b]!) || a - b);
    return { targets, names };
  }
}

const isName = (t: Target) => typeof t === 'object' && 'field' in t && t.field === 'full_name';

/** What each column of a record feeds, by position; and the columns of the full name, in the order they are joined. */
interface Plan {
  readonly targets: readonly Target[];
  readonly names: readonly number[];
}
