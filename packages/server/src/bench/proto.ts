// The few etcd v3 protobuf messages `strata bench` sends and reads, encoded by hand once per run
// (field numbers as in etcd's api/etcdserverpb/rpc.proto and api/mvccpb/kv.proto). A template
// holds a whole request; only the key bytes are rewritten in place between calls.

import { FieldReader, pushVarint } from '../h2/protobuf.js'

export { FieldReader, pushVarint }

export const METHOD_PUT = '/etcdserverpb.KV/Put'
export const METHOD_RANGE = '/etcdserverpb.KV/Range'
export const METHOD_TXN = '/etcdserverpb.KV/Txn'
export const METHOD_WATCH = '/etcdserverpb.Watch/Watch'
export const METHOD_LEASE_GRANT = '/etcdserverpb.Lease/LeaseGrant'
export const METHOD_LEASE_KEEPALIVE = '/etcdserverpb.Lease/LeaseKeepAlive'
export const METHOD_AUTHENTICATE = '/etcdserverpb.Auth/Authenticate'

function pushBytesField(out: number[], field: number, bytes: Uint8Array): number {
  out.push((field << 3) | 2)
  pushVarint(out, bytes.length)
  const at = out.length
  for (const b of bytes) out.push(b)
  return at
}

function pushVarintField(out: number[], field: number, v: number): void {
  out.push(field << 3)
  pushVarint(out, v)
}

/** A request with the offsets of its key bytes, to be rewritten in place. */
export interface Template {
  readonly bytes: Buffer
  readonly keyOffsets: readonly number[]
}

/** PutRequest { key = 1, value = 2, lease = 3 }. */
export function putRequest(key: Uint8Array, value: Uint8Array, lease = 0): Template {
  const out: number[] = []
  const at = pushBytesField(out, 1, key)
  pushBytesField(out, 2, value)
  if (lease !== 0) pushVarintField(out, 3, lease)
  return { bytes: Buffer.from(out), keyOffsets: [at] }
}

export interface RangeOptions {
  readonly end?: Uint8Array
  readonly limit?: number
  readonly serializable?: boolean
  readonly countOnly?: boolean
  readonly keysOnly?: boolean
}

/** RangeRequest { key = 1, range_end = 2, limit = 3, serializable = 7, keys_only = 8, count_only = 9 }. */
export function rangeRequest(key: Uint8Array, o: RangeOptions = {}): Template {
  const out: number[] = []
  const at = pushBytesField(out, 1, key)
  if (o.end !== undefined && o.end.length > 0) pushBytesField(out, 2, o.end)
  if (o.limit !== undefined && o.limit > 0) pushVarintField(out, 3, o.limit)
  if (o.serializable === true) pushVarintField(out, 7, 1)
  if (o.keysOnly === true) pushVarintField(out, 8, 1)
  if (o.countOnly === true) pushVarintField(out, 9, 1)
  return { bytes: Buffer.from(out), keyOffsets: [at] }
}

/** TxnRequest { success = 2: RequestOp { request_put = 2: PutRequest } x ops } (no compares). */
export function txnPutRequest(keys: readonly Uint8Array[], value: Uint8Array): Template {
  const out: number[] = []
  const keyOffsets: number[] = []
  for (const key of keys) {
    const put = putRequest(key, value)
    const op: number[] = []
    const putAt = pushBytesField(op, 2, put.bytes)
    out.push(2 << 3 | 2)
    pushVarint(out, op.length)
    const opAt = out.length
    for (const b of op) out.push(b)
    keyOffsets.push(opAt + putAt + put.keyOffsets[0]!)
  }
  return { bytes: Buffer.from(out), keyOffsets }
}

/** WatchRequest { create_request = 1: WatchCreateRequest { key = 1, range_end = 2, start_revision = 3, prev_kv = 6 } }. */
export function watchCreateRequest(key: Uint8Array, o: { end?: Uint8Array; startRevision?: number; prevKv?: boolean } = {}): Buffer {
  const create: number[] = []
  pushBytesField(create, 1, key)
  if (o.end !== undefined && o.end.length > 0) pushBytesField(create, 2, o.end)
  if (o.startRevision !== undefined && o.startRevision > 0) pushVarintField(create, 3, o.startRevision)
  if (o.prevKv === true) pushVarintField(create, 6, 1)
  const out: number[] = []
  pushBytesField(out, 1, Uint8Array.from(create))
  return Buffer.from(out)
}

/** LeaseGrantRequest { TTL = 1 }. */
export function leaseGrantRequest(ttlSeconds: number): Buffer {
  const out: number[] = []
  pushVarintField(out, 1, ttlSeconds)
  return Buffer.from(out)
}

/** LeaseKeepAliveRequest { ID = 1 } from the ID's raw varint bytes (lease ids may exceed 2^53). */
export function leaseKeepAliveRequest(idVarint: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([1 << 3]), idVarint])
}

/** AuthenticateRequest { name = 1, password = 2 }. */
export function authenticateRequest(name: string, password: string): Buffer {
  const out: number[] = []
  pushBytesField(out, 1, Buffer.from(name))
  pushBytesField(out, 2, Buffer.from(password))
  return Buffer.from(out)
}

// ------------------------------------------------------------------ reading

/** The value of the first varint field `field` in `buf[from, to)`, or undefined. */
export function readVarintField(buf: Uint8Array, field: number, from = 0, to = buf.length): number | undefined {
  const r = new FieldReader(buf, from, to)
  while (r.next()) if (r.field === field && r.wire === 0) return r.num
  return undefined
}

/** The bounds of the first length-delimited field `field` in `buf[from, to)`, or undefined. */
export function readBytesField(buf: Uint8Array, field: number, from = 0, to = buf.length): [number, number] | undefined {
  const r = new FieldReader(buf, from, to)
  while (r.next()) if (r.field === field && r.wire === 2) return [r.start, r.end]
  return undefined
}

/** ResponseHeader.revision (header = 1, revision = 3) of any etcd response; 0 when absent. */
export function headerRevision(msg: Uint8Array): number {
  const h = readBytesField(msg, 1)
  return h === undefined ? 0 : (readVarintField(msg, 3, h[0], h[1]) ?? 0)
}

/** RangeResponse.count (field 4). */
export function rangeCount(msg: Uint8Array): number {
  return readVarintField(msg, 4) ?? 0
}

/** What a WatchResponse says (watch_id = 2, created = 3, canceled = 4, events = 11). */
export interface WatchResponseSummary {
  watchId: number
  created: boolean
  canceled: boolean
  events: number
  /** For each event, its KeyValue.value bounds (event kv = 2, KeyValue value = 5), in order. */
  values: [number, number][]
}

export function readWatchResponse(msg: Uint8Array, wantValues: boolean): WatchResponseSummary {
  const out: WatchResponseSummary = { watchId: 0, created: false, canceled: false, events: 0, values: [] }
  const r = new FieldReader(msg)
  while (r.next()) {
    if (r.field === 2 && r.wire === 0) out.watchId = r.num
    else if (r.field === 3 && r.wire === 0) out.created = r.num !== 0
    else if (r.field === 4 && r.wire === 0) out.canceled = r.num !== 0
    else if (r.field === 11 && r.wire === 2) {
      out.events++
      if (wantValues) {
        const kv = readBytesField(msg, 2, r.start, r.end)
        const v = kv === undefined ? undefined : readBytesField(msg, 5, kv[0], kv[1])
        if (v !== undefined) out.values.push(v)
      }
    }
  }
  return out
}

/** LeaseGrantResponse: the ID's raw varint bytes (field 2), TTL (3) and error (4). */
export function readLeaseGrant(msg: Uint8Array): { idVarint: Uint8Array | undefined; ttl: number; error: string } {
  const r = new FieldReader(msg)
  let idVarint: Uint8Array | undefined
  let ttl = 0
  let error = ''
  while (r.next()) {
    if (r.field === 2 && r.wire === 0) idVarint = msg.slice(r.start, r.end)
    else if (r.field === 3 && r.wire === 0) ttl = r.num
    else if (r.field === 4 && r.wire === 2) error = Buffer.from(msg.subarray(r.start, r.end)).toString()
  }
  return { idVarint, ttl, error }
}

/** LeaseKeepAliveResponse.TTL (field 3); 0 or absent means the lease is gone. */
export function keepAliveTtl(msg: Uint8Array): number {
  return readVarintField(msg, 3) ?? 0
}

/** AuthenticateResponse.token (field 2). */
export function readToken(msg: Uint8Array): string {
  const b = readBytesField(msg, 2)
  return b === undefined ? '' : Buffer.from(msg.subarray(b[0], b[1])).toString()
}
