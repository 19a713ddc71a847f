import { StrataError } from '@strata/seams'

/**
 * Codes of the errors the peer transport, the CLI and the HTTP status endpoint throw on purpose:
 * - `ERR_SERVER_INVALID_OPTION`: an option out of its bounds or of the wrong type.
 * - `ERR_SERVER_INVALID_ARGUMENT`: a bad argument to a call (a member id that is not a positive safe integer, a message that is not bytes).
 * - `ERR_SERVER_CLOSED`: a call after `close()`.
 * - `ERR_SERVER_BAD_URL`: a URL that is not `http://host:port` or `https://host:port`.
 * - `ERR_SERVER_TLS`: a certificate, key or CA file that cannot be read.
 * - `ERR_SERVER_UNAVAILABLE`: no peer answered (a joining member asking for the membership).
 */
export type ServerErrorCode =
  | 'ERR_SERVER_INVALID_OPTION'
  | 'ERR_SERVER_INVALID_ARGUMENT'
  | 'ERR_SERVER_CLOSED'
  | 'ERR_SERVER_BAD_URL'
  | 'ERR_SERVER_TLS'
  | 'ERR_SERVER_UNAVAILABLE'

export class ServerError extends StrataError {
  declare readonly code: ServerErrorCode

  constructor(code: ServerErrorCode, message: string, context?: Record<string, unknown>, options?: ErrorOptions) {
    super(code, message, context, options)
  }
}
