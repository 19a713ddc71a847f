import { MvccError, describe, invalidArgument } from './errors.js'
import { keyString } from './kv.js'
import type { RangeOptions } from './types.js'

/** Largest key, in bytes, by default (`maxKeyBytes`). */
export const DEFAULT_MAX_KEY_BYTES = 32 * 1024
/** Largest value, in bytes, by default (`maxValueBytes`): etcd's 1.5 MiB request limit. */
export const DEFAULT_MAX_VALUE_BYTES = 1.5 * 1024 * 1024
/** Most operations in one branch of a txn, and most compares, by default (`maxTxnOps`; etcd's --max-txn-ops). */
export const DEFAULT_MAX_TXN_OPS = 128

export interface Limits {
  readonly maxKeyBytes: number
  readonly maxValueBytes: number
  readonly maxTxnOps: number
}

const encoder = new TextEncoder()

/** A key or value as bytes; anything but a string or a Uint8Array is ERR_MVCC_INVALID_ARGUMENT. */
export function toBytes(b: unknown, what: string): Uint8Array {
  if (typeof b === 'string') return encoder.encode(b)
  if (b instanceof Uint8Array) return b
  throw invalidArgument(`a ${what} must be a string or a Uint8Array, got ${describe(b)}; convert it first (e.g. String(x))`, { what })
}

/**
 * A validated key range as the index sees it: latin1 strings (one char per byte), `end`
 * undefined for the single key, '' for every key from `key` on.
 */
export interface IndexRange {
  readonly key: string
  readonly end: string | undefined
}

/**
 * Validates a key and an optional range end (a `KeyRange`). `end` undefined or empty: the
 * single key; `end` = one zero byte ('\0'): every key >= `key`; otherwise `[key, end)`.
 */
export function checkRange(limits: Limits, key: unknown, end: unknown): IndexRange {
  const k = toBytes(key, 'key')
  if (k.length === 0) throw new MvccError('ERR_MVCC_EMPTY_KEY', 'mvcc: the key is empty; give a key of at least one byte')
  if (k.length > limits.maxKeyBytes) throw new MvccError('ERR_MVCC_KEY_TOO_LARGE', `mvcc: a key of ${k.length} bytes is over the maximum of ${limits.maxKeyBytes}; use a shorter key or raise maxKeyBytes`, { size: k.length, max: limits.maxKeyBytes })
  const ks = keyString(k)
  if (end === undefined) return { key: ks, end: undefined }
  const e = toBytes(end, 'range end')
  if (e.length === 0) return { key: ks, end: undefined }
  if (e.length === 1 && e[0] === 0) return { key: ks, end: '' }
  if (e.length > limits.maxKeyBytes) throw new MvccError('ERR_MVCC_KEY_TOO_LARGE', `mvcc: a range end of ${e.length} bytes is over the maximum of ${limits.maxKeyBytes}; use '\\0' for "to the end"`, { size: e.length, max: limits.maxKeyBytes })
  const es = keyString(e)
  if (es < ks) throw new MvccError('ERR_MVCC_INVALID_RANGE', 'mvcc: the range end sorts before the key; give an end above the key, \'\\0\' for every key from it on, or none for the key alone', { key: ks, end: es })
  return { key: ks, end: es }
}

export function checkValue(limits: Limits, value: unknown): Uint8Array {
  const v = toBytes(value, 'value')
  if (v.length > limits.maxValueBytes) throw new MvccError('ERR_MVCC_VALUE_TOO_LARGE', `mvcc: a value of ${v.length} bytes is over the maximum of ${limits.maxValueBytes}; store it in parts or raise maxValueBytes`, { size: v.length, max: limits.maxValueBytes })
  return v
}

/** What {@link checkOptionsArg} returns for no options: one shared, frozen empty object. */
const NO_OPTIONS: Record<string, never> = Object.freeze({})

/** An options argument of a call: undefined or a plain object (read only). */
export function checkOptionsArg<T>(o: T | undefined, what: string): T | Record<string, never> {
  if (o === undefined) return NO_OPTIONS
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw invalidArgument(`the options of ${what} must be an object, got ${describe(o)}`)
  return o
}

/** A boolean option of a call (undefined: false). */
export function checkFlag(name: string, v: unknown): boolean {
  if (v === undefined) return false
  if (typeof v !== 'boolean') throw invalidArgument(`${name} must be true or false, got ${describe(v)}`, { [name]: v })
  return v
}

/** A revision, limit or count argument: undefined or a safe integer >= 0. */
export function checkCount(name: string, n: unknown): void {
  if (n === undefined) return
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw invalidArgument(`${name} must be a non-negative safe integer, got ${describe(n)}`, { [name]: n })
}

const SORT_ORDERS = new Set<unknown>(['none', 'ascend', 'descend'])
const SORT_TARGETS = new Set<unknown>(['key', 'version', 'create', 'mod', 'value'])

export function checkRangeOptions(options: RangeOptions | undefined): RangeOptions {
  const o = checkOptionsArg(options, 'range') as RangeOptions
  checkCount('revision', o.revision)
  checkCount('limit', o.limit)
  checkCount('minModRevision', o.minModRevision)
  checkCount('maxModRevision', o.maxModRevision)
  checkCount('minCreateRevision', o.minCreateRevision)
  checkCount('maxCreateRevision', o.maxCreateRevision)
  checkFlag('countOnly', o.countOnly)
  checkFlag('keysOnly', o.keysOnly)
  if (o.sortOrder !== undefined && !SORT_ORDERS.has(o.sortOrder)) throw invalidArgument(`unknown sortOrder ${String(o.sortOrder)}; use 'none', 'ascend' or 'descend'`)
  if (o.sortTarget !== undefined && !SORT_TARGETS.has(o.sortTarget)) throw invalidArgument(`unknown sortTarget ${String(o.sortTarget)}; use 'key', 'version', 'create', 'mod' or 'value'`)
  return o
}

export function checkLease(lease: unknown): number {
  if (lease === undefined) return 0
  if (typeof lease !== 'number' || !Number.isSafeInteger(lease) || lease < 0) throw invalidArgument(`lease must be a non-negative safe integer (0 for none), got ${describe(lease)}`, { lease })
  return lease
}
