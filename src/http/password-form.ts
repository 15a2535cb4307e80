// POST /token as FastAPI's security tutorial answers it (OAuth2PasswordRequestForm behind
// OAuth2PasswordBearer(tokenUrl="token")): the form FastAPI clients and Swagger UI's Authorize
// dialog post, with grant_type optional. /oauth/token stays strictly RFC 6749; this is the
// permissive form FastAPI users know, with FastAPI's 401 and 422 bodies.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RouteContext } from './context.js';
import { DEPENDENCY_ERRORS } from './api.js';
import { routeSchemas } from './docs.js';
import { familyErrorHandler, FASTAPI } from './error-families.js';
import { pydanticForm, type FieldSpec } from './field-errors.js';
import { clientMeta, objectBody } from './request.js';
import { mfaRequiredView, MFA_REQUIRED } from './mfa-views.js';
import { MULTIPART_FORM, readMultipartForms } from './multipart-form.js';
import { PASSWORD_FORM, PASSWORD_FORM_RESPONSE } from './schemas.js';

// OAuth2PasswordRequestForm's fields, in its order (pydantic reports errors in this order).
const FORM: FieldSpec[] = [
  { name: 'grant_type', required: false, pattern: '^password$' },
  { name: 'username', required: true },
  { name: 'password', required: true },
  { name: 'scope', required: false },
  { name: 'client_id', required: false },
  { name: 'client_secret', required: false },
];

/** A form body, either encoding; anything else reads as no fields at all, as Starlette's request.form() does. */
function formFields(req: FastifyRequest): Record<string, unknown> {
  const ct = String(req.headers['content-type'] ?? '').toLowerCase();
  return ct.startsWith('application/x-www-form-urlencoded') || ct.startsWith(MULTIPART_FORM) ? objectBody(req) : {};
}

export async function passwordFormRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { accounts, config } = ctx;
  app.setErrorHandler(familyErrorHandler(FASTAPI, ctx.log));
  await readMultipartForms(app);
  const doc = routeSchemas(config);

  app.post('/token', {
    schema: doc({
      method: 'POST', tags: ['oauth2'], family: FASTAPI,
      summary: 'FastAPI\'s OAuth2 password form (Swagger UI\'s Authorize dialog): username and password, grant_type optional',
      body: { schema: PASSWORD_FORM, media: ['form', 'multipart'] },
      ok: {
        status: 200, description: 'The token (Cache-Control: no-store); or, for a user with a second factor, an MFA token',
        schema: { oneOf: [PASSWORD_FORM_RESPONSE, MFA_REQUIRED] },
      },
      errors: ['ERR_VALIDATION', 'ERR_BAD_CREDENTIALS', 'ERR_USER_INACTIVE', 'ERR_RATE_LIMITED', ...DEPENDENCY_ERRORS],
    }),
  }, async (req, reply) => {
    const form = pydanticForm(formFields(req), FORM);
    // scope, client_id and client_secret are accepted and ignored: a token carries the user's roles.
    const result = await accounts.credentials.signIn(form.username, form.password, clientMeta(req));
    void reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    if (result.kind === 'mfa_required') return mfaRequiredView(result);
    const { pair } = result;
    return {
      access_token: pair.access.token,
      token_type: 'bearer',
      refresh_token: pair.refresh.token,
      expires_in: Math.max(0, pair.access.claims.exp - pair.access.claims.iat),
    };
  });
}
