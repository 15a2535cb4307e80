// The two field-error formats the seeds' clients parse, built by hand because they are wire
// formats of Python libraries (pydantic via FastAPI, marshmallow via Flask), not something a
// JavaScript library produces:
//   FastAPI:     422 {"detail": [{"type": "missing", "loc": ["body", "username"], "msg": "Field required", "input": null}]}
//   marshmallow: 422 {"email": ["Not a valid email address."]}
// Each reader returns the checked strings or throws ERR_VALIDATION carrying the list or the dict,
// which the FASTAPI and MARSHMALLOW error families send as the body.
import { WardenError } from '@warden/toolkit';
import { normaliseEmail } from '../accounts/validate.js';

/** One entry of FastAPI's validation error list (pydantic v2's error, as FastAPI serialises it). */
export interface PydanticError {
  type: string;
  loc: (string | number)[];
  msg: string;
  input: unknown;
  ctx?: Record<string, unknown>;
}

/** FastAPI's 422 body, for the OpenAPI document: `input` echoes whatever was sent (any JSON value). */
export const PYDANTIC_ERRORS_SCHEMA = {
  type: 'object',
  properties: {
    detail: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          type: { type: 'string' }, loc: { type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'integer' }] } }, msg: { type: 'string' },
          input: { description: 'what was sent there (secrets redacted); null when missing' }, ctx: { type: 'object', additionalProperties: true },
        },
        required: ['type', 'loc', 'msg', 'input'],
      },
    },
  },
  required: ['detail'],
};

/** marshmallow's 422 body (messages_dict), for the OpenAPI document: each field, or `_schema`, with its messages. */
export const MARSHMALLOW_ERRORS_SCHEMA = {
  type: 'object',
  description: 'field name (or `_schema` for the body as a whole) to its messages',
  additionalProperties: { type: 'array', items: { type: 'string' } },
};

/** Values of these fields are never echoed back in `input` (FastAPI would). */
const SECRET_FIELDS = new Set(['password', 'client_secret', 'current_password', 'new_password']);
const REDACTED = '[redacted]';

/** How deep `input` echoes a value; below, "[truncated]": a body nested thousands deep overflows JSON.stringify's stack. */
const ECHO_DEPTH = 8;

/** What `input` may show of a value: secret-named members redacted at every depth, and nesting cut at ECHO_DEPTH. */
function echo(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth >= ECHO_DEPTH) return '[truncated]';
  if (Array.isArray(value)) return value.map((v) => echo(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(k, v, depth + 1)]));
}

function redact(name: string, value: unknown, depth = 0): unknown {
  return SECRET_FIELDS.has(name) ? REDACTED : echo(value, depth);
}

export interface FieldSpec {
  name: string;
  required: boolean;
  /** A regular expression the value must match (pydantic's `pattern`). */
  pattern?: string;
}

/**
 * Reads form fields as FastAPI's Form() parameters do: an empty value counts as absent, a missing
 * required one is "missing" with input null. A repeated field (several values) is refused as not
 * a string; FastAPI would silently take the last one.
 */
export function pydanticForm(body: Record<string, unknown>, fields: readonly FieldSpec[]): Record<string, string | undefined> {
  const errors: PydanticError[] = [];
  const out: Record<string, string | undefined> = {};
  for (const f of fields) {
    const raw = body[f.name];
    const value = raw === '' ? undefined : raw;
    if (value === undefined || value === null) {
      if (f.required) errors.push({ type: 'missing', loc: ['body', f.name], msg: 'Field required', input: null });
      continue;
    }
    if (typeof value !== 'string') {
      errors.push({ type: 'string_type', loc: ['body', f.name], msg: 'Input should be a valid string', input: redact(f.name, value) });
      continue;
    }
    if (f.pattern !== undefined && !new RegExp(f.pattern).test(value)) {
      errors.push({
        type: 'string_pattern_mismatch', loc: ['body', f.name], msg: `String should match pattern '${f.pattern}'`,
        input: redact(f.name, value), ctx: { pattern: f.pattern },
      });
      continue;
    }
    out[f.name] = value;
  }
  if (errors.length > 0) throw pydanticError(errors);
  return out;
}

/**
 * Reads a JSON body as a FastAPI route with a pydantic model parameter does: the body must be an
 * object; a missing field's `input` is the whole body (secrets redacted), a wrong type's is the value.
 */
export function pydanticModel(body: unknown, fields: readonly FieldSpec[]): Record<string, string | undefined> {
  if (body === undefined) throw pydanticError([{ type: 'missing', loc: ['body'], msg: 'Field required', input: null }]);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw pydanticError([{
      type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from',
      input: echo(body),
    }]);
  }
  const b = body as Record<string, unknown>;
  const errors: PydanticError[] = [];
  const out: Record<string, string | undefined> = {};
  for (const f of fields) {
    const value = b[f.name];
    if (value === undefined) {
      if (f.required) errors.push({ type: 'missing', loc: ['body', f.name], msg: 'Field required', input: echo(b) });
    } else if (typeof value !== 'string') {
      errors.push({ type: 'string_type', loc: ['body', f.name], msg: 'Input should be a valid string', input: redact(f.name, value) });
    } else {
      out[f.name] = value;
    }
  }
  if (errors.length > 0) throw pydanticError(errors);
  return out;
}

function pydanticError(errors: PydanticError[]): WardenError {
  return new WardenError('ERR_VALIDATION', errors[0]!.msg, { errors });
}

export type MarshmallowKind = 'string' | 'email';

/**
 * Loads a JSON body as a marshmallow Schema with required String/Email fields and the default
 * unknown=RAISE: every problem is collected into messages_dict. Emails are checked with the
 * accounts rule (the one definition of a valid email) and returned as given.
 */
export function marshmallowLoad(body: unknown, fields: Readonly<Record<string, MarshmallowKind>>): Record<string, string> {
  if (body === null || body === undefined || typeof body !== 'object' || Array.isArray(body)) {
    throw marshmallowError({ _schema: ['Invalid input type.'] });
  }
  const b = body as Record<string, unknown>;
  const messages: Record<string, string[]> = {};
  const out: Record<string, string> = {};
  for (const [name, kind] of Object.entries(fields)) {
    const value = b[name];
    if (value === undefined) messages[name] = ['Missing data for required field.'];
    else if (value === null) messages[name] = ['Field may not be null.'];
    else if (typeof value !== 'string') messages[name] = ['Not a valid string.'];
    else if (kind === 'email' && !isEmail(value)) messages[name] = ['Not a valid email address.'];
    else out[name] = value;
  }
  for (const name of Object.keys(b)) if (!Object.hasOwn(fields, name)) messages[name] = ['Unknown field.'];
  if (Object.keys(messages).length > 0) throw marshmallowError(messages);
  return out;
}

function isEmail(v: string): boolean {
  try {
    normaliseEmail(v);
    return true;
  } catch {
    return false;
  }
}

function marshmallowError(messages: Record<string, string[]>): WardenError {
  return new WardenError('ERR_VALIDATION', 'Invalid field', { messages });
}
