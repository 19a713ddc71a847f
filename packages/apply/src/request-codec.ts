import type { Compare, CompareResult, CompareTarget, RangeOptions, SortOrder, SortTarget } from '@strata/mvcc'
import { ByteReader, ByteWriter } from './byte-codec.js'
import { ApplyError } from './errors.js'
import type { AlarmAction, AlarmType, Member, PermissionKind, Request, RequestBody, RequestKind, TxnBody, TxnOp } from './request.js'

/** The payload format's version byte (FORMAT.md §1). A newer one does not decode here. */
export const PAYLOAD_VERSION = 1
/** Deepest txn nesting the decoder follows (a bound against hostile payloads). */
export const MAX_DECODE_TXN_DEPTH = 64

/** Stable one-byte tags of the request kinds (FORMAT.md §2): never reuse one. */
const KIND_TAGS: Readonly<Record<RequestKind, number>> = {
  put: 1, range: 2, deleteRange: 3, txn: 4, compact: 5,
  leaseGrant: 16, leaseRevoke: 17, leaseCheckpoint: 18,
  authEnable: 32, authDisable: 33, authenticate: 34, userAdd: 35, userDelete: 36, userChangePassword: 37,
  userGrantRole: 38, userRevokeRole: 39, roleAdd: 40, roleDelete: 41, roleGrantPermission: 42, roleRevokePermission: 43,
  alarm: 48, memberAttrSet: 49,
}
const TAG_KINDS = new Map<number, RequestKind>(Object.entries(KIND_TAGS).map(([k, t]) => [t, k as RequestKind]))

const SORT_ORDERS: readonly SortOrder[] = ['none', 'ascend', 'descend']
const SORT_TARGETS: readonly SortTarget[] = ['key', 'version', 'create', 'mod', 'value']
const COMPARE_TARGETS: readonly CompareTarget[] = ['version', 'create', 'mod', 'value', 'lease']
const COMPARE_RESULTS: readonly CompareResult[] = ['equal', 'greater', 'less', 'notEqual']
const PERMISSIONS: readonly PermissionKind[] = ['read', 'write', 'readwrite']
const ALARM_TYPES: readonly AlarmType[] = ['none', 'nospace', 'corrupt']
const ALARM_ACTIONS: readonly AlarmAction[] = ['get', 'activate', 'deactivate']

function indexIn<T>(list: readonly T[], v: T, what: string): number {
  const i = list.indexOf(v)
  if (i < 0) throw new ApplyError('ERR_APPLY_INVALID_ARGUMENT', `apply: ${what} must be one of ${list.join(', ')}, got ${String(v)}`)
  return i
}

function pick<T>(r: ByteReader, list: readonly T[], what: string): T {
  const i = r.u8()
  const v = list[i]
  if (v === undefined) throw r.corrupt(`bad ${what} ${i}`)
  return v
}

/** Encodes one request as a raft entry's data (FORMAT.md). Bad fields: ERR_APPLY_INVALID_ARGUMENT. */
export function encodeRequest(request: Request): Uint8Array {
  const { header, body } = request
  return encodeRequestOf(header.id, header.username, header.authRevision, body)
}

/** {@link encodeRequest} of the header's fields and `body`, without the objects around them (a proposer's every request). */
export function encodeRequestOf(id: number, username: string, authRevision: number, body: RequestBody): Uint8Array {
  const tag = KIND_TAGS[body.kind]
  if (tag === undefined) throw new ApplyError('ERR_APPLY_INVALID_ARGUMENT', `apply: unknown request kind ${String(body.kind)}`)
  const w = new ByteWriter()
  try {
    w.u8(PAYLOAD_VERSION).u8(tag)
    w.u64(id, 'header.id').u64(authRevision, 'header.authRevision').string(username, 'header.username')
    writeBody(w, body)
    return w.finish()
  } finally {
    w.release() // after a refused field (finish released it already)
  }
}

/**
 * Decodes what {@link encodeRequest} made; anything else is ERR_APPLY_CORRUPT. Byte fields are
 * copies, except a put's key and value: views into `data`, valid while `data` is unchanged.
 */
export function decodeRequest(data: Uint8Array): Request {
  const r = new ByteReader(data)
  const version = r.u8()
  if (version !== PAYLOAD_VERSION) throw r.corrupt(`payload version ${version}, this build reads ${PAYLOAD_VERSION}`)
  const kind = TAG_KINDS.get(r.u8())
  if (kind === undefined) throw r.corrupt('unknown request tag')
  const header = { id: r.u64(), authRevision: r.u64(), username: r.string() }
  const body = readBody(r, kind)
  r.end()
  return { header, body }
}

/**
 * The version byte of a batch entry (FORMAT.md §2a): one raft entry carrying several requests,
 * each a version-1 payload, applied in order as separate requests. An older build refuses it
 * by its version byte ("payload version 2") rather than misreading it.
 */
export const BATCH_PAYLOAD_VERSION = 2
/** Fixed bytes of a batch entry (version u8, count u32) and per request (its length, u32). */
export const BATCH_HEADER_BYTES = 5
export const BATCH_ITEM_HEADER_BYTES = 4

/**
 * One batch entry's data holding `payloads` (each made by {@link encodeRequest}) in order; the
 * bounds on count and bytes are the proposer's (embed's propose batches).
 */
export function encodeBatch(payloads: readonly Uint8Array[]): Uint8Array {
  const w = new ByteWriter().u8(BATCH_PAYLOAD_VERSION).u32(payloads.length)
  for (const p of payloads) w.bytes(p, 'a batched request')
  return w.finish()
}

/** True when `data` is a batch entry's (its version byte), whose framing {@link decodeBatch} checks. */
export function isBatch(data: Uint8Array): boolean {
  return data.length > 0 && data[0] === BATCH_PAYLOAD_VERSION
}

/**
 * The request payloads of a batch entry, in order, as views into `data` (not decoded: each
 * decodes, or fails to, on its own). A frame that does not add up is ERR_APPLY_CORRUPT for the
 * whole entry; a batch of no requests too.
 */
export function decodeBatch(data: Uint8Array): Uint8Array[] {
  const r = new ByteReader(data)
  const version = r.u8()
  if (version !== BATCH_PAYLOAD_VERSION) throw r.corrupt(`batch version ${version}, not ${BATCH_PAYLOAD_VERSION}`)
  const n = r.count(BATCH_ITEM_HEADER_BYTES + 1)
  if (n === 0) throw r.corrupt('empty batch')
  const out: Uint8Array[] = new Array(n)
  for (let i = 0; i < n; i++) out[i] = r.view()
  r.end()
  return out
}

function writeBody(w: ByteWriter, b: RequestBody): void {
  switch (b.kind) {
    case 'put':
      w.bytes(b.key, 'key').bytes(b.value, 'value').u64(b.lease ?? 0, 'lease')
      w.bool(b.prevKv).bool(b.ignoreValue).bool(b.ignoreLease)
      return
    case 'range': w.bytes(b.key, 'key').optBytes(b.end, 'end'); writeRangeOptions(w, b.options ?? {}); return
    case 'deleteRange': w.bytes(b.key, 'key').optBytes(b.end, 'end').bool(b.prevKv); return
    case 'txn': writeTxn(w, b.txn, 0); return
    case 'compact': w.u64(b.revision, 'revision').bool(b.physical); return
    case 'leaseGrant': w.u64(b.id, 'lease id').u64(b.ttlSeconds, 'ttlSeconds'); return
    case 'leaseRevoke': w.u64(b.id, 'lease id'); return
    case 'leaseCheckpoint':
      w.u32(b.checkpoints.length)
      for (const c of b.checkpoints) w.u64(c.id, 'lease id').u64(c.remainingTtlSeconds, 'remainingTtlSeconds')
      return
    case 'authEnable': case 'authDisable': return
    case 'authenticate': w.string(b.name, 'name').string(b.simpleToken, 'simpleToken'); return
    case 'userAdd': w.string(b.name, 'name').string(b.hashedPassword, 'hashedPassword').bool(b.noPassword); return
    case 'userDelete': case 'roleAdd': case 'roleDelete': w.string(b.name, 'name'); return
    case 'userChangePassword': w.string(b.name, 'name').string(b.hashedPassword, 'hashedPassword'); return
    case 'userGrantRole': case 'userRevokeRole': w.string(b.user, 'user').string(b.role, 'role'); return
    case 'roleGrantPermission':
      w.string(b.role, 'role').u8(indexIn(PERMISSIONS, b.permission.type, 'permission type'))
      w.bytes(b.permission.key, 'permission key').optBytes(b.permission.end, 'permission end')
      return
    case 'roleRevokePermission': w.string(b.role, 'role').bytes(b.key, 'key').optBytes(b.end, 'end'); return
    case 'alarm':
      w.u8(indexIn(ALARM_ACTIONS, b.action, 'alarm action')).u64(b.memberId, 'memberId').u8(indexIn(ALARM_TYPES, b.alarm, 'alarm'))
      return
    case 'memberAttrSet':
      w.u64(b.memberId, 'memberId').string(b.name, 'name').u32(b.clientUrls.length)
      for (const u of b.clientUrls) w.string(u, 'client URL')
      return
  }
}

function readBody(r: ByteReader, kind: RequestKind): RequestBody {
  switch (kind) {
    case 'put': {
      // Views, not copies (a slice each was a fifth of the request's decoding): the store turns
      // the key into its index's string at once and keeps a copy of its own, and copies the
      // value into its record; a watch event that outlives the apply gets a copy of its own
      // from the watchable store, so nothing kept pins the entry's buffer.
      const key = r.view(), value = r.view(), lease = r.u64()
      return { kind, key, value, lease, prevKv: r.bool(), ignoreValue: r.bool(), ignoreLease: r.bool() }
    }
    case 'range': return { kind, key: r.bytes(), end: r.optBytes(), options: readRangeOptions(r) }
    case 'deleteRange': return { kind, key: r.bytes(), end: r.optBytes(), prevKv: r.bool() }
    case 'txn': return { kind, txn: readTxn(r, 0) }
    case 'compact': return { kind, revision: r.u64(), physical: r.bool() }
    case 'leaseGrant': return { kind, id: r.u64(), ttlSeconds: r.u64() }
    case 'leaseRevoke': return { kind, id: r.u64() }
    case 'leaseCheckpoint': {
      const n = r.count(16)
      const checkpoints = Array.from({ length: n }, () => ({ id: r.u64(), remainingTtlSeconds: r.u64() }))
      return { kind, checkpoints }
    }
    case 'authEnable': case 'authDisable': return { kind }
    case 'authenticate': return { kind, name: r.string(), simpleToken: r.string() }
    case 'userAdd': return { kind, name: r.string(), hashedPassword: r.string(), noPassword: r.bool() }
    case 'userDelete': case 'roleAdd': case 'roleDelete': return { kind, name: r.string() }
    case 'userChangePassword': return { kind, name: r.string(), hashedPassword: r.string() }
    case 'userGrantRole': case 'userRevokeRole': return { kind, user: r.string(), role: r.string() }
    case 'roleGrantPermission': {
      const role = r.string(), type = pick(r, PERMISSIONS, 'permission type')
      return { kind, role, permission: { type, key: r.bytes(), end: r.optBytes() } }
    }
    case 'roleRevokePermission': return { kind, role: r.string(), key: r.bytes(), end: r.optBytes() }
    case 'alarm': return { kind, action: pick(r, ALARM_ACTIONS, 'alarm action'), memberId: r.u64(), alarm: pick(r, ALARM_TYPES, 'alarm') }
    case 'memberAttrSet': {
      const memberId = r.u64(), name = r.string()
      return { kind, memberId, name, clientUrls: Array.from({ length: r.count(4) }, () => r.string()) }
    }
  }
}

function writeRangeOptions(w: ByteWriter, o: RangeOptions): void {
  w.u64(o.revision ?? 0, 'revision').u64(o.limit ?? 0, 'limit').bool(o.countOnly).bool(o.keysOnly)
  w.u8(indexIn(SORT_ORDERS, o.sortOrder ?? 'none', 'sortOrder')).u8(indexIn(SORT_TARGETS, o.sortTarget ?? 'key', 'sortTarget'))
  w.u64(o.minModRevision ?? 0, 'minModRevision').u64(o.maxModRevision ?? 0, 'maxModRevision')
  w.u64(o.minCreateRevision ?? 0, 'minCreateRevision').u64(o.maxCreateRevision ?? 0, 'maxCreateRevision')
}

function readRangeOptions(r: ByteReader): RangeOptions {
  const revision = r.u64(), limit = r.u64(), countOnly = r.bool(), keysOnly = r.bool()
  const sortOrder = pick(r, SORT_ORDERS, 'sortOrder'), sortTarget = pick(r, SORT_TARGETS, 'sortTarget')
  return {
    revision, limit, countOnly, keysOnly, sortOrder, sortTarget,
    minModRevision: r.u64(), maxModRevision: r.u64(), minCreateRevision: r.u64(), maxCreateRevision: r.u64(),
  }
}

function writeCompare(w: ByteWriter, c: Compare): void {
  w.bytes(c.key, 'compare key').optBytes(c.end, 'compare end')
  w.u8(indexIn(COMPARE_TARGETS, c.target, 'compare target')).u8(indexIn(COMPARE_RESULTS, c.result, 'compare result'))
  if (c.target === 'value') {
    if (typeof c.value === 'number') throw new ApplyError('ERR_APPLY_INVALID_ARGUMENT', 'apply: a value compare needs bytes, got a number')
    w.bytes(c.value, 'compare value')
  } else {
    if (typeof c.value !== 'number') throw new ApplyError('ERR_APPLY_INVALID_ARGUMENT', `apply: a ${c.target} compare needs a number, got ${typeof c.value}`)
    w.i64(c.value, 'compare value')
  }
}

function readCompare(r: ByteReader): Compare {
  const key = r.bytes(), end = r.optBytes()
  const target = pick(r, COMPARE_TARGETS, 'compare target'), result = pick(r, COMPARE_RESULTS, 'compare result')
  const value = target === 'value' ? r.bytes() : r.i64()
  return end === undefined ? { key, target, result, value } : { key, end, target, result, value }
}

function writeTxn(w: ByteWriter, t: TxnBody, depth: number): void {
  if (depth > MAX_DECODE_TXN_DEPTH) throw new ApplyError('ERR_APPLY_INVALID_ARGUMENT', `apply: txn nested deeper than ${MAX_DECODE_TXN_DEPTH}`)
  const compare = t.compare ?? [], success = t.success ?? [], failure = t.failure ?? []
  w.u32(compare.length)
  for (const c of compare) writeCompare(w, c)
  for (const ops of [success, failure]) {
    w.u32(ops.length)
    for (const op of ops) writeOp(w, op, depth)
  }
}

function readTxn(r: ByteReader, depth: number): TxnBody {
  if (depth > MAX_DECODE_TXN_DEPTH) throw r.corrupt(`txn nested deeper than ${MAX_DECODE_TXN_DEPTH}`)
  const compare = Array.from({ length: r.count(7) }, () => readCompare(r))
  const success = Array.from({ length: r.count(1) }, () => readOp(r, depth))
  const failure = Array.from({ length: r.count(1) }, () => readOp(r, depth))
  return { compare, success, failure }
}

function writeOp(w: ByteWriter, op: TxnOp, depth: number): void {
  if ('range' in op) {
    w.u8(1).bytes(op.range.key, 'key').optBytes(op.range.end, 'end')
    writeRangeOptions(w, op.range.options ?? {})
  } else if ('put' in op) {
    const o = op.put.options ?? {}
    w.u8(2).bytes(op.put.key, 'key').bytes(op.put.value, 'value').u64(o.lease ?? 0, 'lease').bool(o.prevKv)
  } else if ('deleteRange' in op) {
    w.u8(3).bytes(op.deleteRange.key, 'key').optBytes(op.deleteRange.end, 'end').bool(op.deleteRange.options?.prevKv)
  } else if ('txn' in op) {
    w.u8(4)
    writeTxn(w, op.txn, depth + 1)
  } else {
    throw new ApplyError('ERR_APPLY_INVALID_ARGUMENT', 'apply: a txn op must have one of range, put, deleteRange, txn')
  }
}

function readOp(r: ByteReader, depth: number): TxnOp {
  const tag = r.u8()
  switch (tag) {
    case 1: return { range: { key: r.bytes(), end: r.optBytes(), options: readRangeOptions(r) } }
    case 2: {
      const key = r.bytes(), value = r.bytes(), lease = r.u64()
      return { put: { key, value, options: { lease, prevKv: r.bool() } } }
    }
    case 3: return { deleteRange: { key: r.bytes(), end: r.optBytes(), options: { prevKv: r.bool() } } }
    case 4: return { txn: readTxn(r, depth + 1) }
    default: throw r.corrupt(`bad txn op tag ${tag}`)
  }
}

/** Encodes a member for the `members` bucket and a conf change's context (FORMAT.md §3). */
export function encodeMember(m: Member): Uint8Array {
  const w = new ByteWriter()
  try {
    w.u8(PAYLOAD_VERSION).u64(m.id, 'member id').string(m.name, 'member name')
    for (const urls of [m.peerUrls, m.clientUrls]) {
      w.u32(urls.length)
      for (const u of urls) w.string(u, 'URL')
    }
    return w.bool(m.isLearner).finish()
  } finally {
    w.release()
  }
}

export function decodeMember(data: Uint8Array): Member {
  const r = new ByteReader(data)
  const version = r.u8()
  if (version !== PAYLOAD_VERSION) throw r.corrupt(`member version ${version}`)
  const id = r.u64(), name = r.string()
  const peerUrls = Array.from({ length: r.count(4) }, () => r.string())
  const clientUrls = Array.from({ length: r.count(4) }, () => r.string())
  const member = { id, name, peerUrls, clientUrls, isLearner: r.bool() }
  r.end()
  return member
}
