import { StrataError } from '@strata/seams'

/**
 * The codes an {@link AuthError} carries, each prefixed `ERR_AUTH_` (CONTRIBUTING.md, errors).
 * The first group mirrors etcd's auth errors (server/auth/store.go) one for one; the rest are
 * Strata's own. README.md lists what each means.
 */
export type AuthErrorCode =
  | 'ERR_AUTH_USER_EMPTY'
  | 'ERR_AUTH_USER_ALREADY_EXIST'
  | 'ERR_AUTH_USER_NOT_FOUND'
  | 'ERR_AUTH_ROLE_EMPTY'
  | 'ERR_AUTH_ROLE_ALREADY_EXIST'
  | 'ERR_AUTH_ROLE_NOT_FOUND'
  | 'ERR_AUTH_ROLE_NOT_GRANTED'
  | 'ERR_AUTH_PERMISSION_NOT_GIVEN'
  | 'ERR_AUTH_PERMISSION_NOT_GRANTED'
  | 'ERR_AUTH_PERMISSION_DENIED'
  | 'ERR_AUTH_FAILED'
  | 'ERR_AUTH_NOT_ENABLED'
  | 'ERR_AUTH_OLD_REVISION'
  | 'ERR_AUTH_INVALID_TOKEN'
  | 'ERR_AUTH_INVALID_MGMT'
  | 'ERR_AUTH_ROOT_USER_NOT_EXIST'
  | 'ERR_AUTH_ROOT_ROLE_NOT_EXIST'
  | 'ERR_AUTH_VERIFY_ONLY'
  // Strata's own.
  | 'ERR_AUTH_PASSWORD_EMPTY'
  | 'ERR_AUTH_INVALID_PASSWORD_HASH'
  | 'ERR_AUTH_CORRUPT'
  | 'ERR_AUTH_LIMIT'
  | 'ERR_AUTH_BUSY'
  | 'ERR_AUTH_CLOSED'
  | 'ERR_AUTH_INVALID_OPTION'
  | 'ERR_AUTH_INVALID_ARGUMENT'

/** An operating failure of the auth store. `code` is stable; the message is for people. */
export class AuthError extends StrataError {
  declare readonly code: AuthErrorCode

  constructor(code: AuthErrorCode, message: string, context?: Record<string, unknown>, options?: ErrorOptions) {
    super(code, message, context, options)
  }
}

export function authFailed(): AuthError {
  return new AuthError('ERR_AUTH_FAILED', 'auth: authentication failed, invalid user name or password; check both and retry')
}

export function userEmpty(): AuthError {
  return new AuthError('ERR_AUTH_USER_EMPTY', 'auth: the request carries no user (or revision 0) while auth is enabled; authenticate and stamp the request with the token\'s AuthInfo')
}

export function permissionDenied(user: string): AuthError {
  return new AuthError('ERR_AUTH_PERMISSION_DENIED', `auth: permission denied for user ${JSON.stringify(user)}; grant the user a role that covers the keys`, { user })
}

export function oldRevision(given: number, current: number): AuthError {
  return new AuthError(
    'ERR_AUTH_OLD_REVISION',
    `auth: the request was checked at auth revision ${given}, but the store is at ${current}; re-stamp it (or re-authenticate) and retry`,
    { given, current },
  )
}

export function closed(what = 'AuthStore'): AuthError {
  return new AuthError('ERR_AUTH_CLOSED', `auth: ${what} is closed; open a new one`)
}

export function invalidOption(owner: string, name: string, expected: string, got: unknown): AuthError {
  return new AuthError('ERR_AUTH_INVALID_OPTION', `auth: ${owner} option ${name} must be ${expected}, got ${describe(got)}`, { option: name })
}

export function invalidArgument(what: string, expected: string, got: unknown): AuthError {
  return new AuthError('ERR_AUTH_INVALID_ARGUMENT', `auth: ${what} must be ${expected}, got ${describe(got)}`, { argument: what })
}

/** A short description of a value for an error message (never its whole content). */
function describe(v: unknown): string {
  if (typeof v === 'string') return v.length > 40 ? `a string of ${v.length} characters` : JSON.stringify(v)
  if (typeof v === 'number' || typeof v === 'boolean' || v === undefined || v === null) return String(v)
  if (v instanceof Uint8Array) return `${v.length} bytes`
  return typeof v === 'object' ? 'an object' : typeof v
}
