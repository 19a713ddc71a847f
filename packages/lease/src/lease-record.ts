import { LeaseError } from './errors.js'

/** What a lease persists in the `lease` bucket (FORMAT.md). TTLs are in whole seconds. */
export interface LeaseRecord {
  readonly id: number
  readonly ttl: number
  /** The remaining TTL last checkpointed; 0 when none is set (renew clears it). */
  readonly remainingTtl: number
}

/** Version byte at the start of every record value. */
export const RECORD_VERSION = 1
/** Size in bytes of a record key (u64 BE lease id). */
export const RECORD_KEY_BYTES = 8
/** Size in bytes of a record value: version, id, ttl, remaining TTL. */
export const RECORD_VALUE_BYTES = 1 + 8 + 8 + 8

/** The bucket key of lease `id`: u64 big-endian, so bucket order is id order. */
export function encodeLeaseKey(id: number): Uint8Array {
  const key = new Uint8Array(RECORD_KEY_BYTES)
  writeU64(new DataView(key.buffer), 0, id)
  return key
}

export function encodeLeaseRecord(record: LeaseRecord): Uint8Array {
  const value = new Uint8Array(RECORD_VALUE_BYTES)
  const view = new DataView(value.buffer)
  view.setUint8(0, RECORD_VERSION)
  writeU64(view, 1, record.id)
  writeU64(view, 9, record.ttl)
  writeU64(view, 17, record.remainingTtl)
  return value
}

/**
 * Decodes one `lease` bucket pair. Any mismatch (size, version, key ≠ id, a u64 beyond 2^53)
 * is ERR_LEASE_CORRUPT: a lessor must not start from records it cannot trust.
 */
export function decodeLeaseRecord(key: Uint8Array, value: Uint8Array): LeaseRecord {
  const corrupt = (why: string): LeaseError =>
    new LeaseError('ERR_LEASE_CORRUPT', `lease bucket record is corrupt: ${why}`, { key: Buffer.from(key).toString('hex') })
  if (key.length !== RECORD_KEY_BYTES) throw corrupt(`key has ${key.length} bytes, expected ${RECORD_KEY_BYTES}`)
  if (value.length !== RECORD_VALUE_BYTES) throw corrupt(`value has ${value.length} bytes, expected ${RECORD_VALUE_BYTES}`)
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength)
  if (view.getUint8(0) !== RECORD_VERSION) throw corrupt(`unknown version ${view.getUint8(0)}`)
  const keyId = readU64(new DataView(key.buffer, key.byteOffset, key.byteLength), 0)
  const id = readU64(view, 1)
  const ttl = readU64(view, 9)
  const remainingTtl = readU64(view, 17)
  if (keyId === undefined || id === undefined || ttl === undefined || remainingTtl === undefined) throw corrupt('a field exceeds 2^53')
  if (keyId !== id || id === 0) throw corrupt(`key id ${keyId} does not match record id ${id}`)
  return { id, ttl, remainingTtl }
}

function writeU64(view: DataView, offset: number, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`lease record: ${n} is not a non-negative safe integer`)
  view.setUint32(offset, Math.floor(n / 2 ** 32))
  view.setUint32(offset + 4, n >>> 0)
}

/** The u64 at `offset`, or undefined when it is beyond Number.MAX_SAFE_INTEGER. */
function readU64(view: DataView, offset: number): number | undefined {
  const n = view.getUint32(offset) * 2 ** 32 + view.getUint32(offset + 4)
  return Number.isSafeInteger(n) ? n : undefined
}
