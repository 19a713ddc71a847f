import { fail } from 'node:assert'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Describes a thrown value for a failure message: its class, code and message. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return `a non-Error value ${String(err)}`
  const code = (err as { code?: unknown }).code
  return `${err.name}${code === undefined ? ' without a code' : ` with code ${String(code)}`}: ${err.message}`
}

function check(err: unknown, code: string, what: string): Error {
  if (err instanceof Error && (err as { code?: unknown }).code === code) return err
  return fail(`expected ${what} with code ${code}, but got ${describe(err)}`)
}

/**
 * Asserts that `fn()` (or the promise itself) rejects with an Error whose `code` is `code`, and
 * returns that error so a test can check its context. Fails with both codes named otherwise.
 */
export async function rejectsWithCode(fn: (() => Promise<unknown>) | Promise<unknown>, code: string): Promise<Error> {
  let value: unknown
  try {
    value = await (typeof fn === 'function' ? fn() : fn)
  } catch (err) {
    return check(err, code, 'a rejection')
  }
  return fail(`expected a rejection with code ${code}, but it resolved with ${String(value)}`)
}

/** Asserts that `fn()` throws an Error whose `code` is `code`, and returns that error. */
export function throwsWithCode(fn: () => unknown, code: string): Error {
  let value: unknown
  try {
    value = fn()
  } catch (err) {
    return check(err, code, 'a throw')
  }
  return fail(`expected a throw with code ${code}, but it returned ${String(value)}`)
}

/** A fresh directory and the function that removes it (and everything in it). */
export interface TempDir {
  readonly path: string
  cleanup(): Promise<void>
}

/** Creates a fresh, empty directory under os.tmpdir() whose name starts with `prefix`. */
export async function tempDir(prefix = 'strata-'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) }
}
