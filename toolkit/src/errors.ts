// Every failure Warden reports is a WardenError with a stable `code` (as jose's ERR_JWT_EXPIRED).
// The code decides the HTTP status and the default human text here, in one table, so routes,
// the guard and the toolkit all answer the same way. No message ever embeds a token or a password.

export const ERROR_CODES = {
  // token location and transport
  ERR_JWT_MISSING: { status: 401, message: 'Missing Authorization Header' },
  ERR_JWT_MALFORMED: { status: 401, message: 'Invalid token' },
  ERR_JWT_TOO_LARGE: { status: 401, message: 'Token is too large' },
  ERR_JWT_ALG_NOT_ALLOWED: { status: 401, message: 'The specified alg value is not allowed' },
  ERR_JWT_HEADER_NOT_ALLOWED: { status: 401, message: 'Token header is not allowed' },
  ERR_JWT_KEY_UNKNOWN: { status: 401, message: 'No key matches the token' },
  ERR_JWT_SIGNATURE_INVALID: { status: 401, message: 'Signature verification failed' },
  ERR_JWT_EXPIRED: { status: 401, message: 'Token has expired' },
  ERR_JWT_NOT_YET_VALID: { status: 401, message: 'Token is not yet valid' },
  ERR_JWT_CLAIM_INVALID: { status: 401, message: 'Token claims are invalid' },
  ERR_JWT_WRONG_TYPE: { status: 401, message: 'Wrong token type' },
  ERR_JWT_REVOKED: { status: 401, message: 'Token has been revoked' },
  ERR_FRESH_REQUIRED: { status: 403, message: 'Fresh token required' },
  ERR_ROLE_REQUIRED: { status: 403, message: 'Insufficient role' },
  ERR_MFA_REQUIRED: { status: 403, message: 'A second factor is required' },
  ERR_MFA_ENROLMENT_REQUIRED: { status: 403, message: 'Your role requires a second factor: enrol one first' },
  ERR_EMAIL_NOT_VERIFIED: { status: 403, message: 'Email address not verified' },
  ERR_CSRF_MISSING: { status: 401, message: 'Missing CSRF token' },
  ERR_CSRF_MISMATCH: { status: 401, message: 'CSRF double submit tokens do not match' },

  // request shape
  ERR_BAD_JSON: { status: 400, message: 'Malformed JSON body' },
  ERR_MEDIA_TYPE: {
    status: 415,
    message: 'Unsupported Media Type. Use either application/json or application/x-www-form-urlencoded.',
  },
  ERR_BODY_TOO_LARGE: { status: 413, message: 'Request body is too large' },
  ERR_MISSING_CREDENTIALS: { status: 400, message: 'Username and password are required.' },
  ERR_VALIDATION: { status: 422, message: 'Invalid field' },
  ERR_BAD_REQUEST: { status: 400, message: 'Bad request' },
  ERR_NOT_FOUND: { status: 404, message: 'Not found' },
  ERR_METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed' },
  ERR_REQUEST_TIMEOUT: { status: 408, message: 'Request timeout' },
  ERR_HEADERS_TOO_LARGE: { status: 431, message: 'Request header fields too large' },
  ERR_RATE_LIMITED: { status: 429, message: 'Too many requests' },
  ERR_CROSS_SITE: { status: 403, message: 'Cross-site request refused' },

  // accounts
  ERR_BAD_CREDENTIALS: { status: 401, message: 'Invalid username or password' },
  ERR_CONFLICT: { status: 409, message: 'Already exists' },
  ERR_ROLES_FORBIDDEN: { status: 403, message: 'Only an administrator may grant these roles' },
  ERR_SIGNUP_DISABLED: { status: 403, message: 'Sign-up is closed on this server: an administrator creates accounts' },
  ERR_USER_NOT_FOUND: { status: 404, message: 'User not found' },
  ERR_USER_INACTIVE: { status: 400, message: 'Inactive user' },
  ERR_REFRESH_INVALID: { status: 401, message: 'Invalid or expired refresh token' },
  ERR_REFRESH_REUSED: { status: 401, message: 'Refresh token reuse detected; the session has been ended' },
  ERR_SESSION_NOT_FOUND: { status: 404, message: 'Session not found' },

  // second factors
  ERR_MFA_TOKEN_INVALID: { status: 401, message: 'Invalid or expired MFA token' },
  ERR_MFA_CODE_INVALID: { status: 401, message: 'Invalid or already used code' },
  ERR_PASSKEY_INVALID: { status: 401, message: 'Passkey verification failed' },
  ERR_FACTOR_NOT_FOUND: { status: 404, message: 'Factor not found' },

  // mailed tokens (password reset, email verification, email change) and mail
  ERR_EMAIL_TOKEN_INVALID: { status: 400, message: 'This link is not valid' },
  ERR_EMAIL_TOKEN_USED: { status: 400, message: 'This link has already been used' },
  ERR_EMAIL_TOKEN_EXPIRED: { status: 400, message: 'This link has expired' },
  ERR_EMAIL_TOKEN_SUPERSEDED: { status: 400, message: 'This link has been replaced: a newer one was sent, or the account changed since; use the newest link or ask for another' },
  ERR_EMAIL_DISABLED: { status: 501, message: 'Email is not configured on this server' },

  // server side
  ERR_UNAVAILABLE: { status: 503, message: 'Service unavailable' },
  ERR_INTERNAL: { status: 500, message: 'Internal server error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class WardenError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra fields for the response (e.g. the invalid `field` of ERR_VALIDATION). Never secrets. */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>) {
    super(message ?? ERROR_CODES[code].message);
    this.name = 'WardenError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.details = details;
  }
}

export function isWardenError(e: unknown): e is WardenError {
  return e instanceof WardenError;
}

/** Token errors that mean "this credential is not acceptable" (401 + WWW-Authenticate invalid_token). */
export const INVALID_TOKEN_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'ERR_JWT_MALFORMED',
  'ERR_JWT_TOO_LARGE',
  'ERR_JWT_ALG_NOT_ALLOWED',
  'ERR_JWT_HEADER_NOT_ALLOWED',
  'ERR_JWT_KEY_UNKNOWN',
  'ERR_JWT_SIGNATURE_INVALID',
  'ERR_JWT_EXPIRED',
  'ERR_JWT_NOT_YET_VALID',
  'ERR_JWT_CLAIM_INVALID',
  'ERR_JWT_WRONG_TYPE',
  'ERR_JWT_REVOKED',
]);
