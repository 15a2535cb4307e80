// Request shapes for the OpenAPI document (/openapi.json, /docs). They document only: the server
// compiles no validator from them (server.ts), because the accounts rules answer each bad field
// with the seeds' own statuses and texts (400 for missing credentials, 422 naming the field).
const str = (description?: string, extra: Record<string, unknown> = {}) => ({ type: 'string', ...(description ? { description } : {}), ...extra });

const credentials = {
  type: 'object',
  required: ['username', 'password'],
  properties: { username: str('username or email'), password: str(undefined, { format: 'password' }) },
};

const newUser = {
  type: 'object',
  required: ['username', 'email', 'password'],
  properties: {
    username: str('3–64 letters, digits, "_", "." or "-"'),
    email: str(undefined, { format: 'email' }),
    password: str('at least 8 characters', { format: 'password' }),
    full_name: str(),
    roles: { type: 'array', items: str(), description: 'beyond DEFAULT_ROLES only for an admin (or the first account)' },
  },
};

const refresh = { type: 'object', properties: { refresh_token: str() } };

export const SCHEMAS = {
  credentials: { consumes: ['application/json', 'application/x-www-form-urlencoded'], body: credentials },
  newUser: { consumes: ['application/json', 'application/x-www-form-urlencoded'], body: newUser },
  refreshBody: { body: refresh },
  password: {
    body: {
      type: 'object',
      required: ['current_password', 'new_password'],
      properties: { current_password: str(undefined, { format: 'password' }), new_password: str(undefined, { format: 'password' }) },
    },
  },
  userPatch: {
    body: {
      type: 'object',
      properties: {
        roles: { type: 'array', items: str() }, is_active: { type: 'boolean' }, full_name: str(),
        email: str(undefined, { format: 'email' }), password: str(undefined, { format: 'password' }),
      },
    },
  },
  oauthToken: {
    consumes: ['application/x-www-form-urlencoded'],
    body: {
      type: 'object',
      required: ['grant_type'],
      properties: {
        grant_type: str(undefined, { enum: ['password', 'refresh_token'] }),
        username: str(), password: str(undefined, { format: 'password' }), refresh_token: str(), scope: str(),
      },
    },
  },
  oauthRevoke: {
    consumes: ['application/x-www-form-urlencoded'],
    body: { type: 'object', required: ['token'], properties: { token: str(), token_type_hint: str() } },
  },
} as const;
