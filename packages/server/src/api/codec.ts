import type { KeyValue, WatchEvent } from './types.js'
import { invalidArgument } from './errors.js'

/** etcd's ResponseHeader as it goes on the wire. */
export interface PbHeader {
  cluster_id: number
  member_id: number
  revision: number
  raft_term: number
}

export interface PbKeyValue {
  key: Uint8Array
  create_revision: number
  mod_revision: number
  version: number
  value: Uint8Array
  lease: number
}

export interface PbEvent {
  type: 'PUT' | 'DELETE'
  kv: PbKeyValue
  prev_kv?: PbKeyValue
}

export function pbKeyValue(kv: KeyValue): PbKeyValue {
  return { key: kv.key, create_revision: kv.createRevision, mod_revision: kv.modRevision, version: kv.version, value: kv.value, lease: kv.lease }
}

export function pbEvent(e: WatchEvent): PbEvent {
  return e.prevKv === undefined
    ? { type: e.type === 'put' ? 'PUT' : 'DELETE', kv: pbKeyValue(e.kv) }
    : { type: e.type === 'put' ? 'PUT' : 'DELETE', kv: pbKeyValue(e.kv), prev_kv: pbKeyValue(e.prevKv) }
}

const EMPTY = new Uint8Array(0)

/** A bytes field as it arrived (Buffer from the loader, or any Uint8Array from another transport); absent is empty. */
export function bytesField(v: unknown, field: string): Uint8Array {
  if (v === undefined || v === null) return EMPTY
  if (v instanceof Uint8Array) return v
  if (typeof v === 'string') return Buffer.from(v)
  throw invalidArgument(`${field} must be bytes`)
}

/** An int64 field: a safe integer (a value beyond 2^53 is refused rather than rounded). */
export function intField(v: unknown, field: string, min = 0): number {
  if (v === undefined || v === null) return 0
  const n = typeof v === 'string' ? Number(v) : v
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw invalidArgument(`${field} must be an integer below 2^53, got ${String(v)}`)
  if (n < min) throw invalidArgument(`${field} must be >= ${min}, got ${n}`)
  return n
}

/** An optional range end: empty bytes mean none. */
export function rangeEndField(v: unknown, field = 'range_end'): Uint8Array | undefined {
  const b = bytesField(v, field)
  return b.length === 0 ? undefined : b
}

/** An enum field by name (or by number from another transport), checked against the names it may take. */
export function enumField<T extends string>(v: unknown, names: readonly T[], field: string): T {
  if (v === undefined || v === null) return names[0]!
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < names.length) return names[v]!
  if (typeof v === 'string' && (names as readonly string[]).includes(v)) return v as T
  throw invalidArgument(`${field} has an unknown value ${String(v)}`)
}

export function stringField(v: unknown, field: string): string {
  if (v === undefined || v === null) return ''
  if (typeof v !== 'string') throw invalidArgument(`${field} must be a string`)
  return v
}

export function boolField(v: unknown): boolean {
  return v === true
}
