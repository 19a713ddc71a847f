import { StrataError } from '@strata/seams'

/**
 * The codes an {@link AuthError} carries. They mirror etcd's auth errors (server/auth/store.go)
 * one for one where etcd has one; the last group is Strata's own limits.
 */
export type AuthErrorCode =
  | 'ERR_USER_EMPTY'
  | 'ERR_USER_ALREADY_EXIST'
  | 'ERR_USER_NOT_FOUND'
  | 'ERR_ROLE_EMPTY'
  | 'ERR_ROLE_ALREADY_EXIST'
  | 'ERR_ROLE_NOT_FOUND'
  | 'ERR_ROLE_NOT_GRANTED'
  | 'ERR_PERMISSION_NOT_GIVEN'
  | 'ERR_PERMISSION_NOT_GRANTED'
  | 'ERR_PERMISSION_DENIED'
  | 'ERR_AUTH_FAILED'
  | 'ERR_AUTH_NOT_ENABLED'
  | 'ERR_AUTH_OLD_REVISION'
  | 'ERR_INVALID_AUTH_TOKEN'
  | 'ERR_INVALID_AUTH_MGMT'
  | 'ERR_ROOT_USER_NOT_EXIST'
  | 'ERR_ROOT_ROLE_NOT_EXIST'
  | 'ERR_NO_PASSWORD_USER'
  | 'ERR_PASSWORD_EMPTY'
  | 'ERR_INVALID_PASSWORD_HASH'
  | 'ERR_VERIFY_ONLY'
  | 'ERR_AUTH_CORRUPT'
  | 'ERR_AUTH_LIMIT'
  | 'ERR_AUTH_BUSY'

/** An operating failure of the auth store. `code` is stable; the message is for people. */
export class AuthError extends StrataError {
  declare readonly code: AuthErrorCode

  constructor(code: AuthErrorCode, message: string, context?: Record<string, unknown>, options?: ErrorOptions) {
    super(code, message, context, options)
  }
}

export function authFailed(): AuthError {
  return new AuthError('ERR_AUTH_FAILED', 'auth: authentication failed, invalid user name or password')
}

export function userEmpty(): AuthError {
  return new AuthError('ERR_USER_EMPTY', 'auth: request carries no user name')
}

export function permissionDenied(user: string): AuthError {
  return new AuthError('ERR_PERMISSION_DENIED', `auth: permission denied for user ${JSON.stringify(user)}`, { user })
}

export function oldRevision(given: number, current: number): AuthError {
  return new AuthError('ERR_AUTH_OLD_REVISION', 'auth: revision in request is older than the auth store', { given, current })
}
