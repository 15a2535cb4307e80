// multipart/form-data read as a form, for the sign-in routes whose FastAPI originals take
// OAuth2PasswordRequestForm (`/token`, seed 004's `/api/v1/auth/login`): FastAPI's Form fields
// accept both form encodings, and a browser's fetch() with a FormData body sends multipart.
// Registered only in the context of those routes; everywhere else multipart stays a 415.
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { WardenError } from '@warden/toolkit';

// A sign-in form is a handful of short text fields: anything larger is refused, not truncated.
const LIMITS = { fieldNameSize: 100, fieldSize: 8192, fields: 16, files: 1, fileSize: 1, parts: 16, headerPairs: 16 };

export const MULTIPART_FORM = 'multipart/form-data';

/** Makes the routes of this context read a multipart body's text fields as a form: `req.body` as @fastify/formbody leaves it. */
export async function readMultipartForms(app: FastifyInstance): Promise<void> {
  await app.register(multipart, { limits: LIMITS });
  // The plugin reads the request itself, so Fastify's bodyLimit (BODY_LIMIT_BYTES) never saw these
  // bodies: a 1 GB body whose parts were all in its preamble was read through (7 s of the event
  // loop) and a sign-in's fields after 300 MB of epilogue were checked. It is held here instead.
  const limit = app.initialConfig.bodyLimit ?? LIMITS.fieldSize;
  app.addHook('preValidation', async (req, reply) => {
    if (!req.isMultipart()) return;
    // The client may send more: close the connection after the answer, as Fastify does after a 413.
    const tooLarge = () => (reply.header('connection', 'close'), new WardenError('ERR_BODY_TOO_LARGE'));
    if (Number(req.headers['content-length']) > limit) throw tooLarge();
    const over = overLimit(req.raw, limit);
    const reading = readFields(req);
    try {
      const body = await Promise.race([reading, over.reached]);
      if (body === undefined) {
        reading.catch(() => undefined); // settles, if ever, once the connection closes
        req.raw.unpipe();
        throw tooLarge();
      }
      req.body = body;
    } finally {
      over.stop();
    }
  });
}

/** Resolves `reached` once more than `limit` bytes have come (a chunked body declares no length). */
function overLimit(raw: FastifyRequest['raw'], limit: number): { reached: Promise<undefined>; stop(): void } {
  let received = 0;
  let count: (chunk: Buffer) => void = () => undefined;
  const reached = new Promise<undefined>((resolve) => {
    count = (chunk) => {
      received += chunk.length;
      if (received > limit) resolve(undefined);
    };
  });
  raw.on('data', count);
  return { reached, stop: () => raw.removeListener('data', count) };
}

async function readFields(req: FastifyRequest): Promise<Record<string, string | string[]>> {
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
  return body;
}
