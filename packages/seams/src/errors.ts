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
