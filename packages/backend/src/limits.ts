import { StrataError } from '@strata/seams'
import { BUCKETS } from './backend.js'
import type { BackendErrorCode, BucketName } from './backend.js'

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

const BUCKET_SET: ReadonlySet<string> = new Set(BUCKETS)

/** An operating error of the backend with a stable code (see {@link BackendErrorCode}). */
export function backendError(code: BackendErrorCode, message: string, context?: Record<string, unknown>, cause?: unknown): StrataError & { readonly code: BackendErrorCode } {
  return new StrataError(code, message, context, cause === undefined ? undefined : { cause }) as StrataError & { readonly code: BackendErrorCode }
}

/** Throws ERR_BAD_REQUEST unless `bucket` is one of {@link BUCKETS}. */
export function checkBucket(bucket: BucketName): void {
  if (!BUCKET_SET.has(bucket)) throw backendError('ERR_BAD_REQUEST', `unknown bucket ${String(bucket)}`, { bucket })
}

/** Throws ERR_BAD_REQUEST for a non-byte or empty key and ERR_BACKEND_KEY_TOO_LARGE for one over {@link MAX_KEY_BYTES}. */
export function checkKey(bucket: BucketName, key: Uint8Array): void {
  if (!(key instanceof Uint8Array)) throw backendError('ERR_BAD_REQUEST', 'a key must be a Uint8Array', { bucket })
  if (key.length === 0) throw backendError('ERR_BAD_REQUEST', 'a key must not be empty', { bucket })
  if (key.length > MAX_KEY_BYTES) {
    throw backendError('ERR_BACKEND_KEY_TOO_LARGE', `key of ${key.length} bytes is over the maximum of ${MAX_KEY_BYTES}`, { bucket, size: key.length, max: MAX_KEY_BYTES })
  }
}

/** Throws ERR_BAD_REQUEST for a non-byte value and ERR_BACKEND_VALUE_TOO_LARGE for one over {@link MAX_VALUE_BYTES}. */
export function checkValue(bucket: BucketName, value: Uint8Array): void {
  if (!(value instanceof Uint8Array)) throw backendError('ERR_BAD_REQUEST', 'a value must be a Uint8Array', { bucket })
  if (value.length > MAX_VALUE_BYTES) {
    throw backendError('ERR_BACKEND_VALUE_TOO_LARGE', `value of ${value.length} bytes is over the maximum of ${MAX_VALUE_BYTES}`, { bucket, size: value.length, max: MAX_VALUE_BYTES })
  }
}

/** Validates the options every implementation takes and returns them with defaults filled in. */
export function batchOptions(options: { readonly batchInterval?: number; readonly batchLimit?: number }): { batchInterval: number; batchLimit: number } {
  const batchInterval = options.batchInterval ?? 100
  const batchLimit = options.batchLimit ?? 10_000
  if (!(Number.isFinite(batchInterval) && batchInterval >= 0)) throw backendError('ERR_BAD_REQUEST', `batchInterval must be a finite number of ms >= 0, got ${batchInterval}`)
  if (!(Number.isSafeInteger(batchLimit) && batchLimit >= 1)) throw backendError('ERR_BAD_REQUEST', `batchLimit must be an integer >= 1, got ${batchLimit}`)
  return { batchInterval, batchLimit }
}
