// POST /login as the course's FastAPI app declares it: a JSON User model {username, email,
// password} answered with 201 {"message": "welcome user", "new_user"} — plus the token the course adds in its
// next lessons. Sign-in is by email; the username the model carries may come along and takes no part.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { WardenError } from '@warden/toolkit';
import type { RouteContext } from './context.js';
import { SIGNIN_ERRORS } from './api.js';
import { routeSchemas } from './docs.js';
import { familyErrorHandler, FASTAPI } from './error-families.js';
import { pydanticModel, type FieldSpec } from './field-errors.js';
import { clientMeta } from './request.js';
import { mfaRequiredView, MFA_REQUIRED } from './mfa-views.js';
import { noStore } from './security-headers.js';
import { COURSE_LOGIN, WELCOME } from './schemas.js';

const MODEL: FieldSpec[] = [
  { name: 'username', required: false },
  { name: 'email', required: true },
  { name: 'password', required: true },
];

/** The parsed body of a JSON or form request (a form reads as the same fields); anything else is 415. */
function modelBody(req: FastifyRequest): unknown {
  const ct = String(req.headers['content-type'] ?? '').toLowerCase();
  if (req.body !== undefined && !ct.startsWith('application/json') && !ct.startsWith('application/x-www-form-urlencoded')) {
    throw new WardenError('ERR_MEDIA_TYPE');
  }
  return req.body;
}

export async function loginRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { accounts, config } = ctx;
  app.setErrorHandler(familyErrorHandler(FASTAPI, ctx.log));
  const doc = routeSchemas(config);

  app.post('/login', {
    schema: doc({
      method: 'POST', tags: ['login'], family: FASTAPI, summary: 'Log in with {email, password} (the course\'s /login)',
      body: { schema: COURSE_LOGIN, media: ['json', 'form'] },
      ok: { status: 201, description: '"welcome user" and an access token', schema: WELCOME },
      extra: { 200: { status: 200, description: 'A user with a second factor: an MFA token (POST /api/v1/auth/mfa/verify completes it)', schema: MFA_REQUIRED } },
      errors: ['ERR_VALIDATION', ...SIGNIN_ERRORS.filter((c) => c !== 'ERR_MISSING_CREDENTIALS' && c !== 'ERR_BAD_REQUEST')],
    }),
  }, async (req, reply) => {
    const user = pydanticModel(modelBody(req), MODEL);
    // The model's str fields take "" as a value; no account has an empty email or password.
    if (user.email === '' || user.password === '') throw new WardenError('ERR_BAD_CREDENTIALS');
    const result = await accounts.credentials.signIn(user.email, user.password, clientMeta(req));
    noStore(reply);
    if (result.kind === 'mfa_required') return reply.code(200).send(mfaRequiredView(result));
    // new_user as the course's route answered it (it echoed the model's username): the account's.
    const { pair } = result;
    return reply.code(201).send({ message: 'welcome user', new_user: pair.user.username, access_token: pair.access.token, token_type: 'bearer' });
  });
}
