import type { Bytes, WriteTx } from '@strata/backend'
import { invalidArgument } from './errors.js'
import type { AuthInfo } from './token-provider.js'

/**
 * Checks of caller input (CONTRIBUTING.md, errors): a value of the wrong shape fails with
 * ERR_AUTH_INVALID_ARGUMENT before anything is read or written, never with Node's TypeError.
 */

const utf8 = new TextEncoder()

/** True for a key or value as callers pass them. */
export function isBytes(v: unknown): v is Bytes {
  return typeof v === 'string' || v instanceof Uint8Array
}

/** The bytes of `v` without a copy (for keys only looked at), or ERR_AUTH_INVALID_ARGUMENT. */
export function viewBytes(v: unknown, what: string): Uint8Array {
  if (typeof v === 'string') return utf8.encode(v)
  if (v instanceof Uint8Array) return v
  throw invalidArgument(what, 'a string or a Uint8Array', v)
}

/** A copy of the bytes of `v` (for keys the store keeps). */
export function copyBytes(v: unknown, what: string): Uint8Array {
  return typeof v === 'string' ? utf8.encode(v) : Uint8Array.from(viewBytes(v, what))
}

/** `v` as an object whose fields can be read, or ERR_AUTH_INVALID_ARGUMENT. */
export function requestObject<T extends object>(v: T | undefined, what: string): T {
  if (typeof v !== 'object' || v === null) throw invalidArgument(what, 'an object', v)
  return v
}

/**
 * A KeyRange's end as bytes (undefined when absent). A range that still carries `rangeEnd`
 * (the old auth name) is refused rather than checked as the single key: that was a permission
 * hole, since the whole range would have been allowed by a check on its first key.
 */
export function rangeEnd(range: { readonly end?: unknown; readonly rangeEnd?: unknown }, what: string): Uint8Array | undefined {
  if ('rangeEnd' in range && range.rangeEnd !== undefined) {
    throw invalidArgument(`${what}.rangeEnd`, 'absent: a KeyRange names its end `end` (from @strata/backend); rename rangeEnd to end', range.rangeEnd)
  }
  return range.end === undefined ? undefined : viewBytes(range.end, `${what}.end`)
}

/** A user or role name: a string (emptiness is the caller's etcd error). */
export function nameArgument(v: unknown, what: string): string {
  if (typeof v !== 'string') throw invalidArgument(what, 'a string', v)
  return v
}

/** An AuthInfo (or undefined: no user) of the right shape. */
export function authInfoArgument(info: AuthInfo | undefined): AuthInfo | undefined {
  if (info === undefined) return undefined
  if (typeof info !== 'object' || info === null || typeof info.username !== 'string' || !Number.isSafeInteger(info.revision) || info.revision < 0) {
    throw invalidArgument('the AuthInfo', 'undefined or { username: string, revision: a safe non-negative integer }', info)
  }
  return info
}

/** A revision or raft index: a safe non-negative integer. */
export function indexArgument(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw invalidArgument(what, 'a safe non-negative integer', v)
  return v
}

/** The `{ tx }` of a mutation: undefined, or an object whose `tx` (if any) is a WriteTx. */
export function mutationTx(options: { readonly tx?: WriteTx } | undefined): WriteTx | undefined {
  if (options === undefined) return undefined
  if (typeof options !== 'object' || options === null) throw invalidArgument('the mutation options', 'undefined or { tx }', options)
  const tx = options.tx
  if (tx === undefined) return undefined
  if (typeof tx !== 'object' || tx === null || typeof tx.put !== 'function' || typeof tx.get !== 'function' || typeof tx.delete !== 'function') {
    throw invalidArgument('options.tx', "a WriteTx (the argument of the driver's backend.write callback)", tx)
  }
  return tx
}
