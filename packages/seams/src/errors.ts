/**
 * The base of every operating error Strata throws: a stable machine-readable `code`
 * (`ERR_*`), a message a person can act on, and optional context fields.
 *
 * Broken invariants are not StrataErrors: they are `assert` failures and are never caught.
 */
export class StrataError extends Error {
  readonly code: string
  readonly context: Readonly<Record<string, unknown>> | undefined

  constructor(code: string, message: string, context?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
    this.code = code
    this.context = context
  }
}

/** True when `err` is an Error carrying the given `code` (a StrataError or a Node system error). */
export function hasCode(err: unknown, code: string): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === code
}

/**
 * The codes `@strata/seams` throws itself (the other packages' errors are their own subclasses
 * of StrataError):
 * - `ERR_SEAMS_LOCKED`: `FileSystem.lock` of a file another open holds locked.
 * - `ERR_SEAMS_LOCK_UNAVAILABLE`: `nodeFileSystem.lock` without the optional addon `fs-ext`.
 * - `ERR_SEAMS_INVALID_ARGUMENT`: a bad argument to a seams function (`randomBelow`).
 */
export type SeamsErrorCode = 'ERR_SEAMS_LOCKED' | 'ERR_SEAMS_LOCK_UNAVAILABLE' | 'ERR_SEAMS_INVALID_ARGUMENT'

/** An error of `@strata/seams` itself, with one of the {@link SeamsErrorCode}s. */
export class SeamsError extends StrataError {
  declare readonly code: SeamsErrorCode

  constructor(code: SeamsErrorCode, message: string, context?: Record<string, unknown>, options?: ErrorOptions) {
    super(code, message, context, options)
  }
}
