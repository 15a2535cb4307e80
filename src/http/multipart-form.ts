// multipart/form-data read as a form, for the sign-in routes whose FastAPI originals take
// OAuth2PasswordRequestForm (`/token`, seed 004's `/api/v1/auth/login`): FastAPI's Form fields
// accept both form encodings, and a browser's fetch() with a FormData body sends multipart.
// Registered only in the context of those routes; everywhere else multipart stays a 415.
import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import { WardenError } from '@warden/toolkit';

// A sign-in form is a handful of short text fields: anything larger is refused, not truncated.
const LIMITS = { fieldNameSize: 100, fieldSize: 8192, fields: 16, files: 1, fileSize: 1, parts: 16, headerPairs: 16 };

export const MULTIPART_FORM = 'multipart/form-data';

/** Makes the routes of this context read a multipart body's text fields as a form: `req.body` as @fastify/formbody leaves it. */
export async function readMultipartForms(app: FastifyInstance): Promise<void> {
  await app.register(multipart, { limits: LIMITS });
  app.addHook('preValidation', async (req) => {
    if (!req.isMultipart()) return;
    // No prototype: a field named __proto__ is just a field the route will not read.
    const body: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
    try {
      for await (const part of req.parts()) {
        if (part.type === 'file') throw new WardenError('ERR_BAD_REQUEST', `This form takes no files (part "${part.fieldname.slice(0, 100)}")`);
        if (part.valueTruncated || part.fieldnameTruncated) throw new WardenError('ERR_BODY_TOO_LARGE');
        const value = String(part.value);
        const prior = body[part.fieldname];
        // Repeated fields become a list, as @fastify/formbody reads `a=1&a=2`.
        body[part.fieldname] = prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value];
      }
    } catch (e) {
      if (e instanceof WardenError) throw e;
      // The plugin's limits are 413s; busboy's parse errors carry no status at all.
      if ((e as { statusCode?: unknown }).statusCode === 413) throw new WardenError('ERR_BODY_TOO_LARGE');
      throw new WardenError('ERR_BAD_REQUEST', 'Malformed multipart/form-data body');
    }
    req.body = body;
  });
}
