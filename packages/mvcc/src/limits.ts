import { MvccError } from './errors.js'
import { keyString } from './kv.js'
import type { Bytes, RangeOptions } from './types.js'

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

export function toBytes(b: Bytes): Uint8Array {
  return typeof b === 'string' ? encoder.encode(b) : b
}

/** A validated key range as the index sees it: latin1 strings; `end` '' = to the end. */
export interface KeyRange {
  readonly key: string
  readonly end: string | undefined
}

/**
 * Validates a key and an optional range end. `end` undefined or empty: the single key;
 * `end` = one zero byte ('\0'): every key >= `key`; otherwise `[key, end)`.
 */
export function checkRange(limits: Limits, key: Bytes, end: Bytes | undefined): KeyRange {
  const k = toBytes(key)
  if (k.length === 0) throw new MvccError('ERR_EMPTY_KEY', 'mvcc: key is not provided')
  if (k.length > limits.maxKeyBytes) throw new MvccError('ERR_KEY_TOO_LARGE', `mvcc: key of ${k.length} bytes is over the maximum of ${limits.maxKeyBytes}`, { size: k.length, max: limits.maxKeyBytes })
  const ks = keyString(k)
  if (end === undefined) return { key: ks, end: undefined }
  const e = toBytes(end)
  if (e.length === 0) return { key: ks, end: undefined }
  if (e.length === 1 && e[0] === 0) return { key: ks, end: '' }
  if (e.length > limits.maxKeyBytes) throw new MvccError('ERR_KEY_TOO_LARGE', `mvcc: range end of ${e.length} bytes is over the maximum of ${limits.maxKeyBytes}`, { size: e.length, max: limits.maxKeyBytes })
  const es = keyString(e)
  if (es < ks) throw new MvccError('ERR_INVALID_RANGE', 'mvcc: range end is before the key', { key: ks, end: es })
  return { key: ks, end: es }
}

export function checkValue(limits: Limits, value: Bytes): Uint8Array {
  const v = toBytes(value)
  if (!(v instanceof Uint8Array)) throw new MvccError('ERR_INVALID_OPTION', 'mvcc: a value must be a string or a Uint8Array')
  if (v.length > limits.maxValueBytes) throw new MvccError('ERR_VALUE_TOO_LARGE', `mvcc: value of ${v.length} bytes is over the maximum of ${limits.maxValueBytes}`, { size: v.length, max: limits.maxValueBytes })
  return v
}

function checkCount(name: string, n: number | undefined): void {
  if (n === undefined) return
  if (!Number.isSafeInteger(n) || n < 0) throw new MvccError(name === 'revision' ? 'ERR_INVALID_REVISION' : 'ERR_INVALID_OPTION', `mvcc: ${name} must be a non-negative safe integer, got ${n}`, { [name]: n })
}

const SORT_ORDERS = new Set(['none', 'ascend', 'descend'])
const SORT_TARGETS = new Set(['key', 'version', 'create', 'mod', 'value'])

export function checkRangeOptions(o: RangeOptions): void {
  checkCount('revision', o.revision)
  checkCount('limit', o.limit)
  checkCount('minModRevision', o.minModRevision)
  checkCount('maxModRevision', o.maxModRevision)
  checkCount('minCreateRevision', o.minCreateRevision)
  checkCount('maxCreateRevision', o.maxCreateRevision)
  if (o.sortOrder !== undefined && !SORT_ORDERS.has(o.sortOrder)) throw new MvccError('ERR_INVALID_OPTION', `mvcc: unknown sort order ${String(o.sortOrder)}`)
  if (o.sortTarget !== undefined && !SORT_TARGETS.has(o.sortTarget)) throw new MvccError('ERR_INVALID_OPTION', `mvcc: unknown sort target ${String(o.sortTarget)}`)
}

export function checkLease(lease: number | undefined): number {
  if (lease === undefined) return 0
  if (!Number.isSafeInteger(lease) || lease < 0) throw new MvccError('ERR_INVALID_OPTION', `mvcc: lease must be a non-negative safe integer, got ${lease}`, { lease })
  return lease
}
