import { BUCKETS } from './backend.js'
import type { BucketName, RangeOptions } from './backend.js'
import { backendError } from './errors.js'

export { backendError } from './errors.js'

/**
 * The largest key, in bytes, either implementation accepts. LMDB (as lmdb-js 3.x builds it,
 * with 4 KiB pages) refuses keys over 1,978 bytes; the memory backend enforces the same bound so
 * that code tested against it cannot write a key LMDB would refuse.
 */
export const MAX_KEY_BYTES = 1978

/**
 * The largest value, in bytes: 64 MiB. LMDB itself allows ~4 GiB, but a value that large would
 * make one batch hold gigabytes in memory; etcd's own request limit is 1.5 MiB.
 */
export const MAX_VALUE_BYTES = 64 * 1024 * 1024

/** Defaults and bounds of the options every backend takes (backend.ts documents them). */
export const DEFAULT_BATCH_INTERVAL_MS = 100
export const DEFAULT_BATCH_LIMIT = 10_000
/** A day: a longer interval is a unit mistake (seconds or µs given as ms), not a setting. */
export const MAX_BATCH_INTERVAL_MS = 86_400_000
/** Writes a batch may hold before it commits; the whole batch lives in memory until then. */
export const MAX_BATCH_LIMIT = 10_000_000

const BUCKET_SET: ReadonlySet<string> = new Set(BUCKETS)

/** Throws ERR_BACKEND_INVALID_ARGUMENT unless `bucket` is one of {@link BUCKETS}. */
export function checkBucket(bucket: BucketName): void {
  if (!BUCKET_SET.has(bucket)) throw backendError('ERR_BACKEND_INVALID_ARGUMENT', `unknown bucket ${JSON.stringify(bucket)}; use one of ${BUCKETS.join(', ')}`, { bucket })
}

/** Throws ERR_BACKEND_INVALID_ARGUMENT unless `bytes` is a Uint8Array (a read's key or bound). */
export function checkBytes(what: string, bytes: unknown): void {
  if (!(bytes instanceof Uint8Array)) throw backendError('ERR_BACKEND_INVALID_ARGUMENT', `${what} must be a Uint8Array, got ${typeName(bytes)}; encode strings with TextEncoder`)
}

/** Throws ERR_BACKEND_INVALID_ARGUMENT for a non-byte or empty key and ERR_BACKEND_KEY_TOO_LARGE for one over {@link MAX_KEY_BYTES}. */
export function checkKey(bucket: BucketName, key: Uint8Array): void {
  if (!(key instanceof Uint8Array)) throw backendError('ERR_BACKEND_INVALID_ARGUMENT', `a key must be a Uint8Array, got ${typeName(key)}; encode strings with TextEncoder`, { bucket })
  if (key.length === 0) throw backendError('ERR_BACKEND_INVALID_ARGUMENT', 'a key must not be empty; use at least one byte', { bucket })
  if (key.length > MAX_KEY_BYTES) {
    throw backendError('ERR_BACKEND_KEY_TOO_LARGE', `key of ${key.length} bytes is over the maximum of ${MAX_KEY_BYTES}; use a shorter key`, { bucket, size: key.length, max: MAX_KEY_BYTES })
  }
}

/** Throws ERR_BACKEND_INVALID_ARGUMENT for a non-byte value and ERR_BACKEND_VALUE_TOO_LARGE for one over {@link MAX_VALUE_BYTES}. */
export function checkValue(bucket: BucketName, value: Uint8Array): void {
  if (!(value instanceof Uint8Array)) throw backendError('ERR_BACKEND_INVALID_ARGUMENT', `a value must be a Uint8Array, got ${typeName(value)}; encode strings with TextEncoder`, { bucket })
  if (value.length > MAX_VALUE_BYTES) {
    throw backendError('ERR_BACKEND_VALUE_TOO_LARGE', `value of ${value.length} bytes is over the maximum of ${MAX_VALUE_BYTES}; split it or store it elsewhere`, { bucket, size: value.length, max: MAX_VALUE_BYTES })
  }
}

/** Throws ERR_BACKEND_INVALID_ARGUMENT for a range's bad bounds or options. */
export function checkRange(start: Uint8Array, end: Uint8Array | undefined, options: RangeOptions | undefined): void {
  checkBytes('a range start', start)
  if (end !== undefined) checkBytes('a range end', end)
  if (options === undefined) return
  if (typeof options !== 'object' || options === null) throw backendError('ERR_BACKEND_INVALID_ARGUMENT', `range options must be an object, got ${typeName(options)}`)
  const { limit, reverse } = options
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
    throw backendError('ERR_BACKEND_INVALID_ARGUMENT', `a range limit must be an integer >= 0 (0: no limit), got ${String(limit)}`, { limit })
  }
  if (reverse !== undefined && typeof reverse !== 'boolean') throw backendError('ERR_BACKEND_INVALID_ARGUMENT', `a range's reverse must be a boolean, got ${typeName(reverse)}`)
}

/** Throws ERR_BACKEND_INVALID_ARGUMENT unless `fn` is a function. */
export function checkFunction(what: string, fn: unknown): void {
  if (typeof fn !== 'function') throw backendError('ERR_BACKEND_INVALID_ARGUMENT', `${what} must be a function, got ${typeName(fn)}`)
}

/** `typeof`, with null and arrays told apart, for messages. */
export function typeName(x: unknown): string {
  if (x === null) return 'null'
  if (Array.isArray(x)) return 'an array'
  if (x instanceof Uint8Array) return 'a Uint8Array'
  return typeof x === 'object' ? (x as object).constructor?.name ?? 'an object' : `${typeof x} ${String(x).slice(0, 40)}`
}

/** Options renamed once (CONTRIBUTING.md: units in names, one name per seam), with their new names. */
const RENAMED: Readonly<Record<string, string>> = { batchInterval: 'batchIntervalMs', fileSystem: 'fs' }

/** The options every implementation takes, validated, with defaults filled in. */
export interface CheckedOptions {
  readonly batchIntervalMs: number
  readonly batchLimit: number
}

/**
 * Validates the options object of a backend: known keys only (`known` lists them; a renamed or
 * misspelt one fails rather than being ignored), each of its type and within its bounds, else
 * ERR_BACKEND_INVALID_OPTION. Returns the batch settings with defaults filled in.
 */
export function checkOptions(options: unknown, known: readonly string[]): CheckedOptions {
  const bad = (message: string, context?: Record<string, unknown>): never => {
    throw backendError('ERR_BACKEND_INVALID_OPTION', message, context)
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) bad(`options must be an object, got ${typeName(options)}`)
  const o = options as Record<string, unknown>
  for (const key of Object.keys(o)) {
    if (known.includes(key) || o[key] === undefined) continue
    if (RENAMED[key] !== undefined) bad(`option ${key} was renamed ${RENAMED[key]}; pass ${RENAMED[key]} instead`, { option: key })
    bad(`unknown option ${key}; the options are ${known.join(', ')}`, { option: key })
  }
  const batchIntervalMs = o.batchIntervalMs ?? DEFAULT_BATCH_INTERVAL_MS
  const batchLimit = o.batchLimit ?? DEFAULT_BATCH_LIMIT
  if (!(typeof batchIntervalMs === 'number' && Number.isFinite(batchIntervalMs) && batchIntervalMs >= 0 && batchIntervalMs <= MAX_BATCH_INTERVAL_MS)) {
    bad(`batchIntervalMs must be a number of ms in [0, ${MAX_BATCH_INTERVAL_MS}], got ${typeName(batchIntervalMs)}`, { option: 'batchIntervalMs' })
  }
  if (!(typeof batchLimit === 'number' && Number.isSafeInteger(batchLimit) && batchLimit >= 1 && batchLimit <= MAX_BATCH_LIMIT)) {
    bad(`batchLimit must be an integer count of writes in [1, ${MAX_BATCH_LIMIT}], got ${typeName(batchLimit)}`, { option: 'batchLimit' })
  }
  const clock = o.clock as { now?: unknown; setTimer?: unknown } | undefined
  if (clock !== undefined && (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function' || typeof clock.setTimer !== 'function')) {
    bad(`clock must be a Clock (now() and setTimer()), got ${typeName(clock)}; pass systemClock from @strata/seams or leave it out`, { option: 'clock' })
  }
  if (o.failpoint !== undefined && typeof o.failpoint !== 'function') bad(`failpoint must be a function, got ${typeName(o.failpoint)}`, { option: 'failpoint' })
  return { batchIntervalMs: batchIntervalMs as number, batchLimit: batchLimit as number }
}

/** Throws ERR_BACKEND_INVALID_OPTION unless `fs` is undefined or has every FileSystem method the LMDB backend calls. */
export function checkFileSystemOption(fs: unknown): void {
  if (fs === undefined) return
  const methods = ['open', 'mkdir', 'rm', 'rename', 'stat', 'fsyncDir', 'lock']
  const missing = typeof fs === 'object' && fs !== null ? methods.filter((m) => typeof (fs as Record<string, unknown>)[m] !== 'function') : methods
  if (missing.length > 0) {
    throw backendError('ERR_BACKEND_INVALID_OPTION', `fs must be a FileSystem (lacks ${missing.join(', ')}); pass nodeFileSystem from @strata/seams or leave it out`, { option: 'fs' })
  }
}
