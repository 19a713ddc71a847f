import assert from 'node:assert'
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

/** Bytes of the fixed header of a stored KeyValue (FORMAT.md). */
export const KV_HEADER_BYTES = 37
const FORMAT_VERSION = 1

/** Encodes a KeyValue as the value of its revision key in the `key` bucket. */
export function encodeKeyValue(kv: KeyValue): Uint8Array {
  const out = new Uint8Array(KV_HEADER_BYTES + kv.key.length + kv.value.length)
  out[0] = FORMAT_VERSION
  new DataView(out.buffer).setUint32(1, kv.key.length)
  writeU64(out, 5, kv.createRevision)
  writeU64(out, 13, kv.modRevision)
  writeU64(out, 21, kv.version)
  writeU64(out, 29, kv.lease)
  out.set(kv.key, KV_HEADER_BYTES)
  out.set(kv.value, KV_HEADER_BYTES + kv.key.length)
  return out
}

function keyLengthOf(bytes: Uint8Array): number {
  assert(bytes.length >= KV_HEADER_BYTES && bytes[0] === FORMAT_VERSION, 'stored KeyValue with a bad header')
  const keyLength = readU32(bytes, 1)
  assert(KV_HEADER_BYTES + keyLength <= bytes.length, 'stored KeyValue shorter than its key')
  return keyLength
}

/**
 * Decodes a stored KeyValue; key and value are plain Uint8Array copies the caller may keep and
 * modify (`new Uint8Array(view)`: a backend may hand out Buffers, whose `slice` is a view).
 */
export function decodeKeyValue(bytes: Uint8Array, keysOnly = false): KeyValue {
  const keyLength = keyLengthOf(bytes)
  return {
    key: new Uint8Array(bytes.subarray(KV_HEADER_BYTES, KV_HEADER_BYTES + keyLength)),
    createRevision: readU64(bytes, 5),
    modRevision: readU64(bytes, 13),
    version: readU64(bytes, 21),
    value: keysOnly ? new Uint8Array(0) : new Uint8Array(bytes.subarray(KV_HEADER_BYTES + keyLength)),
    lease: readU64(bytes, 29),
  }
}

/** Bytes → latin1 string key of the index (one char per byte, so order is preserved). */
export function keyString(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}

/** latin1 string key of the index → bytes. */
export function keyBytes(key: string): Uint8Array {
  return new Uint8Array(Buffer.from(key, 'latin1'))
}
