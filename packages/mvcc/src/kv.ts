import { type RecordLayout, benchIntegrityChecks, checksum, corruptError, describeRevisionKey, recordIntegrity, recordSeed } from './integrity.js'
import { readU32, readU64, writeU64 } from './revision.js'

/** A key's value at one revision, as a range or a watch event returns it (etcd's mvccpb.KeyValue). */
export interface KeyValue {
  readonly key: Uint8Array
  /** Main revision of the put that created the key's current generation. */
  readonly createRevision: number
  /** Main revision of the put (or delete, in a DELETE event) that produced this value. */
  readonly modRevision: number
  /** 1 on creation, +1 per put, back to 1 after a delete and a put. 0 in a DELETE event. */
  readonly version: number
  readonly value: Uint8Array
  /** The lease the key is attached to; 0 for none. */
  readonly lease: number
}

/** Bytes of the fixed header of a stored KeyValue, format 2 (FORMAT.md). */
export const KV_HEADER_BYTES = 45
/** Offset of the u32 body length (key + value bytes): a head scan of `KV_HEADER_BYTES` plus it reads a whole record. */
export const BODY_LENGTH_AT = 9
export const FORMAT_VERSION = 2
/** The record format before checksums (FORMAT.md, "Format 1"), read only to migrate it. */
export const LEGACY_FORMAT_VERSION = 1
const LEGACY_HEADER_BYTES = 37
/** Offset of the u32 key length: a head scan of `KV_HEADER_BYTES` plus it reads a record without its value. */
export const KEY_LENGTH_AT = 5
const CHECKED_FROM = 5
const RECORD_LAYOUT: RecordLayout = { format: FORMAT_VERSION, header: KV_HEADER_BYTES, bodyLengthAt: BODY_LENGTH_AT, sumAt: 1, checkedFrom: CHECKED_FROM }

/**
 * The source of the check a head scan runs on each whole record where it reads it (the backend's
 * scan thread: `ValueHead.check`): integrity.ts's own functions, evaluated again there, so a
 * rebuild can take each record without its value once the checksum over the whole of it held.
 */
export const RECORD_CHECK_SOURCE = `((__name) => (${recordIntegrity.toString()})().soundRecords(${JSON.stringify(RECORD_LAYOUT)}))((f) => f)`
// The shim: a transform that keeps function names (esbuild's keepNames, as tsx runs the sources)
// wraps inner functions in __name(fn, name), a helper of the module the text is taken from.

/**
 * Encodes a KeyValue as the value of its revision key `revKey` (17 or 18 bytes) in the `key`
 * bucket: version 2, the xxh32 checksum of bytes 5.. seeded by the revision key, then the fields.
 */
export function encodeKeyValue(kv: KeyValue, revKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(KV_HEADER_BYTES + kv.key.length + kv.value.length)
  writeKeyValue(out, kv, revKey)
  return out
}

/** Records up to this size are encoded into one reused buffer by {@link encodeKeyValueView}. */
const SCRATCH_MAX_BYTES = 64 * 1024
let scratch = new Uint8Array(4096)
/**
 * scratch.subarray(0, n) at index n for records up to VIEW_CACHE_MAX bytes, made once per
 * length (a view per record was ~95 bytes of every put).
 */
const VIEW_CACHE_MAX = 1024
const noViews = (): Array<Uint8Array | undefined> => new Array<Uint8Array | undefined>(VIEW_CACHE_MAX + 1).fill(undefined)
let scratchViews = noViews()

/**
 * {@link encodeKeyValue} into a buffer this module reuses: the result is a view valid only until
 * the next call, for a `WriteTx.put` (every backend copies what it is given). A record over 64
 * bytes in an array of its own gets a backing store outside V8's heap, whose allocation and
 * release cost more than the encoding (the put path's hottest allocation).
 */
export function encodeKeyValueView(kv: KeyValue, revKey: Uint8Array): Uint8Array {
  const n = KV_HEADER_BYTES + kv.key.length + kv.value.length
  if (n > SCRATCH_MAX_BYTES) return encodeKeyValue(kv, revKey)
  if (n > scratch.length) {
    scratch = new Uint8Array(SCRATCH_MAX_BYTES)
    scratchViews = noViews()
  }
  const out = n <= VIEW_CACHE_MAX ? (scratchViews[n] ??= scratch.subarray(0, n)) : scratch.subarray(0, n)
  writeKeyValue(out, kv, revKey)
  return out
}

function writeKeyValue(out: Uint8Array, kv: KeyValue, revKey: Uint8Array): void {
  out[0] = FORMAT_VERSION
  // Byte by byte (writeU64's way): a DataView per record was a tenth of the encoding's cost.
  writeU32(out, KEY_LENGTH_AT, kv.key.length)
  writeU32(out, BODY_LENGTH_AT, kv.key.length + kv.value.length)
  writeU64(out, 13, kv.createRevision)
  writeU64(out, 21, kv.modRevision)
  writeU64(out, 29, kv.version)
  writeU64(out, 37, kv.lease)
  out.set(kv.key, KV_HEADER_BYTES)
  out.set(kv.value, KV_HEADER_BYTES + kv.key.length)
  writeU32(out, 1, benchIntegrityChecks.enabled ? checksum(out, CHECKED_FROM, out.length, recordSeed(revKey, 0, revKey.length)) : 0)
}

/** Writes `n` (0 <= n < 2^32) as u32 big-endian at `o`. */
function writeU32(b: Uint8Array, o: number, n: number): void {
  b[o] = n >>> 24
  b[o + 1] = n >>> 16
  b[o + 2] = n >>> 8
  b[o + 3] = n
}

/** The checksum stored in a format-2 record at b[o...] (the sum the meta totals add up). */
export function storedChecksum(b: Uint8Array, o: number): number {
  return readU32(b, o + 1)
}

/**
 * Why the record at vb[vo, vo + vLength] stored under the revision key kb[ko, ko + kLength] is
 * damaged, or undefined when it passes: the key's shape, the record's version and lengths, its
 * checksum, and its mod revision against the key's main revision. `sound`: the whole record
 * already passed RECORD_CHECK_SOURCE's check (a head scan's thread ran it) and vb holds its
 * header and key only: the body length and the checksum are not checked again.
 */
export function checkRecord(kb: Uint8Array, ko: number, kLength: number, vb: Uint8Array, vo: number, vLength: number, sound = false): string | undefined {
  if (!((kLength === 17 && kb[ko + 8] === 0x5f) || (kLength === 18 && kb[ko + 8] === 0x5f && kb[ko + 17] === 0x74))) return 'a malformed revision key'
  if (vLength < KV_HEADER_BYTES) return vLength >= LEGACY_HEADER_BYTES && vb[vo] === LEGACY_FORMAT_VERSION ? 'a record of format 1 in a store of format 2' : 'a record shorter than its header'
  if (vb[vo] !== FORMAT_VERSION) return `a record of unknown format ${vb[vo]}`
  if (!sound) {
    if (readU32(vb, vo + BODY_LENGTH_AT) !== vLength - KV_HEADER_BYTES) return 'a record whose length does not match its header'
    if (benchIntegrityChecks.enabled && checksum(vb, vo + CHECKED_FROM, vo + vLength, recordSeed(kb, ko, kLength)) !== readU32(vb, vo + 1)) return 'a record that fails its checksum'
  }
  if (readU32(vb, vo + KEY_LENGTH_AT) > vLength - KV_HEADER_BYTES) return 'a record shorter than its key'
  for (let i = 0; i < 8; i++) if (vb[vo + 21 + i] !== kb[ko + i]) return 'a record whose mod revision is not its revision key\'s'
  return undefined
}

/** The stored key of a record, as latin1 text for messages (at most 64 characters; never throws). */
export function describeRecordKey(vb: Uint8Array, vo: number, vLength: number): string | undefined {
  if (vLength < KV_HEADER_BYTES) return undefined
  const k = Math.min(readU32(vb, vo + KEY_LENGTH_AT), vLength - KV_HEADER_BYTES, 64)
  return Buffer.from(vb.buffer, vb.byteOffset + vo + KV_HEADER_BYTES, k).toString('latin1')
}

/**
 * Decodes a stored KeyValue after {@link checkRecord} (ERR_MVCC_CORRUPT naming the revision, the
 * key and `location` when it fails); key and value are plain Uint8Array copies the caller may
 * keep and modify (`new Uint8Array(view)`: a backend may hand out Buffers, whose `slice` is a view).
 */
export function decodeKeyValue(revKey: Uint8Array, bytes: Uint8Array, keysOnly = false, location = 'the backend'): KeyValue {
  const bad = checkRecord(revKey, 0, revKey.length, bytes, 0, bytes.length)
  if (bad !== undefined) throw corruptError(location, bad, { revision: describeRevisionKey(revKey, 0, revKey.length), key: describeRecordKey(bytes, 0, bytes.length) })
  const keyLength = readU32(bytes, KEY_LENGTH_AT)
  return {
    key: new Uint8Array(bytes.subarray(KV_HEADER_BYTES, KV_HEADER_BYTES + keyLength)),
    createRevision: readU64(bytes, 13),
    modRevision: readU64(bytes, 21),
    version: readU64(bytes, 29),
    value: keysOnly ? new Uint8Array(0) : new Uint8Array(bytes.subarray(KV_HEADER_BYTES + keyLength)),
    lease: readU64(bytes, 37),
  }
}

/** Decodes a record of format 1 (no checksum: only its shape is checked), to migrate it; undefined when it is not one. */
export function decodeLegacyKeyValue(bytes: Uint8Array): KeyValue | undefined {
  if (bytes.length < LEGACY_HEADER_BYTES || bytes[0] !== LEGACY_FORMAT_VERSION) return undefined
  const keyLength = readU32(bytes, 1)
  if (LEGACY_HEADER_BYTES + keyLength > bytes.length) return undefined
  for (const o of [5, 13, 21, 29]) if (readU32(bytes, o) >= 0x200000) return undefined
  return {
    key: new Uint8Array(bytes.subarray(LEGACY_HEADER_BYTES, LEGACY_HEADER_BYTES + keyLength)),
    createRevision: readU64(bytes, 5),
    modRevision: readU64(bytes, 13),
    version: readU64(bytes, 21),
    value: new Uint8Array(bytes.subarray(LEGACY_HEADER_BYTES + keyLength)),
    lease: readU64(bytes, 29),
  }
}

// Buffer's latin1 decoder, called on any Uint8Array: a Buffer view made per key (Buffer.from)
// cost more than the decoding itself (~3% of a put's CPU on the write path).
const latin1Slice = Buffer.prototype.latin1Slice as (this: Uint8Array, start: number, end: number) => string

/** Bytes → latin1 string key of the index (one char per byte, so order is preserved). */
export function keyString(bytes: Uint8Array): string {
  return latin1Slice.call(bytes, 0, bytes.length)
}

/** latin1 string key of the index → bytes (a new array the caller owns). */
export function keyBytes(key: string): Uint8Array {
  const n = key.length
  // Short keys char by char: Buffer.from(key, 'latin1') takes a slice of Buffer's pool, which
  // then had to be copied into an array of its own.
  if (n > 64) return new Uint8Array(Buffer.from(key, 'latin1'))
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = key.charCodeAt(i)
  return out
}
