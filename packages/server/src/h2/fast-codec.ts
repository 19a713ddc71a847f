// Hand-written protobuf codecs for the lean server's hottest calls (KV Put, Range, DeleteRange
// and Txn, nested txns included; the responses of Watch streams): the
// request decoded straight into the sparse object the api handlers read (an absent field is its
// default to them, as for proto-loader; bytes fields are views of the request, not copies), the
// response encoded from the handler's object in two passes (sizes, then bytes straight into the
// connection's output when the server offers it, else one Buffer). Anything outside what they handle — an unknown
// field, a wire type that does not fit, a negative or unsafe int64 — returns undefined and the
// call goes through pb-codec's (descriptor-driven) codec instead, so the wire behaviour is the same either way.
import type { PbEvent, PbHeader, PbKeyValue } from '../api/codec.js'
import type { Req } from '../api/kv.js'
import { FieldReader } from './protobuf.js'

/** Where an encoder writes a message of a size it knows: `buf[at, at + size)`. */
export interface Slot {
  readonly buf: Buffer
  readonly at: number
}
/** Room for a message of `size` bytes, asked for once its fields were checked (a fallback asks for none). */
export type Alloc = (size: number) => Slot
const heapAlloc: Alloc = (size) => ({ buf: Buffer.allocUnsafe(size), at: 0 })

export interface FastCodec {
  decode(bytes: Buffer): Req | undefined
  /** The response's bytes, written where `alloc` says (a Buffer of its own by default), or undefined to fall back. */
  encode(response: unknown, alloc?: Alloc): Buffer | undefined
}

/**
 * A bytes field as a view of the request message (no copy). The message is a view of the bytes
 * the socket delivered, which nothing writes again (each read is a new buffer; an incomplete
 * message is copied out); the handlers hand keys and values to embed, which encodes them into
 * its proposal at once, so a view keeps that read's buffer only for the call.
 */
const view = (r: FieldReader): Uint8Array => r.buf.subarray(r.start, r.end)

/** The written message: `slot.buf` itself when it is exactly that, else a view. */
const written = (slot: Slot, size: number): Buffer => (slot.at === 0 && slot.buf.length === size ? slot.buf : slot.buf.subarray(slot.at, slot.at + size))

/** A message decoder over `buf[from, to)`: the handlers' sparse object, or undefined to fall back. */
type Decode = (buf: Uint8Array, from: number, to: number) => Record<string, unknown> | undefined

/**
 * A field's kind: bytes (copied out of the receive buffer), a safe non-negative int, a bool, an
 * enum with `enum` values (its number: the handlers take a number or a name), a nested message
 * (appearing once: protobuf would merge a repeated one, proto-loader replaces it, so fall back),
 * or a repeated message.
 */
type Kind = 'bytes' | 'int' | 'bool' | { readonly enum: number } | { readonly msg: Decode } | { readonly repeated: Decode }
/** Field number -> [name, kind]. */
type Schema = Record<number, readonly [string, Kind]>

/** `oneof`: names of which at most one may be present (several on the wire: fall back). */
function messageDecoder(schema: Schema, oneof: readonly string[] = []): Decode {
  return (buf, from, to) => {
    const out: Record<string, unknown> = {}
    const r = new FieldReader(buf, from, to)
    while (r.next()) {
      const f = schema[r.field]
      if (f === undefined) return undefined
      const [name, kind] = f
      if (kind === 'bytes') {
        if (r.wire !== 2) return undefined
        out[name] = view(r)
      } else if (kind === 'int' || kind === 'bool') {
        if (r.wire !== 0 || !Number.isSafeInteger(r.num)) return undefined
        out[name] = kind === 'bool' ? r.num !== 0 : r.num
      } else if ('enum' in kind) {
        if (r.wire !== 0 || r.num >= kind.enum) return undefined
        out[name] = r.num
      } else {
        if (r.wire !== 2) return undefined
        const sub = 'msg' in kind ? kind.msg(buf, r.start, r.end) : kind.repeated(buf, r.start, r.end)
        if (sub === undefined) return undefined
        if ('msg' in kind) {
          if (name in out) return undefined
          out[name] = sub
        } else {
          const list = out[name] as Record<string, unknown>[] | undefined
          if (list === undefined) out[name] = [sub]
          else list.push(sub)
        }
      }
    }
    if (oneof.length > 1) {
      let n = 0
      for (const name of oneof) if (name in out) n++
      if (n > 1) return undefined
    }
    return out
  }
}

/** A top-level decoder: malformed input (a FieldReader throw) falls back too, and the generic decoder reports it. */
function decoder(decode: Decode): (bytes: Buffer) => Req | undefined {
  return (bytes) => {
    try {
      return decode(bytes, 0, bytes.length) as Req | undefined
    } catch {
      return undefined
    }
  }
}

const PUT_REQUEST: Schema = { 1: ['key', 'bytes'], 2: ['value', 'bytes'], 3: ['lease', 'int'], 4: ['prev_kv', 'bool'], 5: ['ignore_value', 'bool'], 6: ['ignore_lease', 'bool'] }
const RANGE_REQUEST: Schema = {
  1: ['key', 'bytes'], 2: ['range_end', 'bytes'], 3: ['limit', 'int'], 4: ['revision', 'int'], 5: ['sort_order', { enum: 3 }], 6: ['sort_target', { enum: 5 }],
  7: ['serializable', 'bool'], 8: ['keys_only', 'bool'], 9: ['count_only', 'bool'], 10: ['min_mod_revision', 'int'], 11: ['max_mod_revision', 'int'],
  12: ['min_create_revision', 'int'], 13: ['max_create_revision', 'int'],
}
const DELETE_RANGE_REQUEST: Schema = { 1: ['key', 'bytes'], 2: ['range_end', 'bytes'], 3: ['prev_kv', 'bool'] }
/** Compare { result = 1, target = 2, key = 3, oneof target_union { version = 4, create_revision = 5, mod_revision = 6, value = 7, lease = 8 }, range_end = 64 }. */
const COMPARE: Schema = {
  1: ['result', { enum: 4 }], 2: ['target', { enum: 5 }], 3: ['key', 'bytes'], 4: ['version', 'int'], 5: ['create_revision', 'int'], 6: ['mod_revision', 'int'],
  7: ['value', 'bytes'], 8: ['lease', 'int'], 64: ['range_end', 'bytes'],
}
const decodePut = messageDecoder(PUT_REQUEST)
const decodeRange = messageDecoder(RANGE_REQUEST)
const decodeDeleteRange = messageDecoder(DELETE_RANGE_REQUEST)
const decodeCompare = messageDecoder(COMPARE, ['version', 'create_revision', 'mod_revision', 'value', 'lease'])
/** TxnRequest { compare = 1, success = 2, failure = 3 } with RequestOp { oneof request { range = 1, put = 2, delete_range = 3, txn = 4 } }. */
const TXN_REQUEST: Schema = {}
const decodeTxn = messageDecoder(TXN_REQUEST)
const decodeRequestOp = messageDecoder(
  { 1: ['request_range', { msg: decodeRange }], 2: ['request_put', { msg: decodePut }], 3: ['request_delete_range', { msg: decodeDeleteRange }], 4: ['request_txn', { msg: decodeTxn }] },
  ['request_range', 'request_put', 'request_delete_range', 'request_txn'],
)
TXN_REQUEST[1] = ['compare', { repeated: decodeCompare }]
TXN_REQUEST[2] = ['success', { repeated: decodeRequestOp }]
TXN_REQUEST[3] = ['failure', { repeated: decodeRequestOp }]

// ------------------------------------------------------------------ encoding

function varintSize(v: number): number {
  let n = 1
  while (v >= 128) {
    v = Math.floor(v / 128)
    n++
  }
  return n
}

function writeVarint(buf: Buffer, pos: number, v: number): number {
  while (v >= 128) {
    buf[pos++] = (v % 128) | 128
    v = Math.floor(v / 128)
  }
  buf[pos++] = v
  return pos
}

/** A non-negative safe integer (what these messages' int64/uint64 fields hold here), else NaN to refuse. */
const ok = (v: unknown): number => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : NaN)
const intSize = (v: number): number => (Number.isNaN(v) ? NaN : v === 0 ? 0 : 1 + varintSize(v))
const bytesSize = (b: Uint8Array | undefined): number => (b === undefined || b.length === 0 ? 0 : 1 + varintSize(b.length) + b.length)

function writeInt(buf: Buffer, pos: number, field: number, v: number): number {
  if (v === 0) return pos
  buf[pos++] = field << 3
  return writeVarint(buf, pos, v)
}

function writeBytes(buf: Buffer, pos: number, field: number, b: Uint8Array | undefined): number {
  if (b === undefined || b.length === 0) return pos
  buf[pos++] = (field << 3) | 2
  pos = writeVarint(buf, pos, b.length)
  buf.set(b, pos)
  return pos + b.length
}

/** An optional int field: absent is 0 (not written), as proto-loader treats it. */
const opt = (v: unknown): number => (v === undefined ? 0 : ok(v))

/** A header's content size; the nested responses of a txn carry a partial header ({ revision }). */
function headerSize(h: Partial<PbHeader>): number {
  return intSize(opt(h.cluster_id)) + intSize(opt(h.member_id)) + intSize(opt(h.revision)) + intSize(opt(h.raft_term))
}

function writeHeader(buf: Buffer, pos: number, h: Partial<PbHeader>, size: number): number {
  buf[pos++] = (1 << 3) | 2
  pos = writeVarint(buf, pos, size)
  pos = writeInt(buf, pos, 1, h.cluster_id ?? 0)
  pos = writeInt(buf, pos, 2, h.member_id ?? 0)
  pos = writeInt(buf, pos, 3, h.revision ?? 0)
  return writeInt(buf, pos, 4, h.raft_term ?? 0)
}

function kvSize(kv: PbKeyValue): number {
  return bytesSize(kv.key) + intSize(ok(kv.create_revision)) + intSize(ok(kv.mod_revision)) + intSize(ok(kv.version)) + bytesSize(kv.value) + intSize(ok(kv.lease))
}

function writeKv(buf: Buffer, pos: number, field: number, kv: PbKeyValue, size: number): number {
  buf[pos++] = (field << 3) | 2
  pos = writeVarint(buf, pos, size)
  pos = writeBytes(buf, pos, 1, kv.key)
  pos = writeInt(buf, pos, 2, kv.create_revision)
  pos = writeInt(buf, pos, 3, kv.mod_revision)
  pos = writeInt(buf, pos, 4, kv.version)
  pos = writeBytes(buf, pos, 5, kv.value)
  return writeInt(buf, pos, 6, kv.lease)
}

const nested = (size: number): number => 1 + varintSize(size) + size
const RANGE_KEYS: ReadonlySet<string> = new Set(['header', 'kvs', 'more', 'count'])
const PUT_KEYS: ReadonlySet<string> = new Set(['header', 'prev_kv'])
const DELETE_KEYS: ReadonlySet<string> = new Set(['header', 'deleted', 'prev_kvs'])
const TXN_KEYS: ReadonlySet<string> = new Set(['header', 'succeeded', 'responses'])

/** Every own key of `o` is one of `keys` (a key outside them: fall back). */
function known(o: object, keys: ReadonlySet<string>): boolean {
  for (const k in o) if (!keys.has(k)) return false
  return true
}

function encodePut(resp: unknown, alloc: Alloc = heapAlloc): Buffer | undefined {
  const r = resp as { header?: PbHeader; prev_kv?: PbKeyValue }
  if (typeof r !== 'object' || r === null || r.header === undefined || !known(r, PUT_KEYS)) return undefined
  const hs = headerSize(r.header)
  const ps = r.prev_kv === undefined ? 0 : kvSize(r.prev_kv)
  const total = nested(hs) + (r.prev_kv === undefined ? 0 : nested(ps))
  if (Number.isNaN(total)) return undefined
  const slot = alloc(total)
  const buf = slot.buf
  let pos = writeHeader(buf, slot.at, r.header, hs)
  if (r.prev_kv !== undefined) pos = writeKv(buf, pos, 2, r.prev_kv, ps)
  if (pos !== slot.at + total) throw new Error(`fast-codec: PutResponse wrote ${pos - slot.at} bytes, sized ${total}`)
  return written(slot, total)
}

function encodeRange(resp: unknown, alloc: Alloc = heapAlloc): Buffer | undefined {
  const r = resp as { header?: PbHeader; kvs?: PbKeyValue[]; more?: boolean; count?: number }
  if (typeof r !== 'object' || r === null || r.header === undefined || !known(r, RANGE_KEYS)) return undefined
  const hs = headerSize(r.header)
  const kvs = r.kvs ?? []
  const sizes = kvs.map(kvSize)
  let total = nested(hs) + (r.more === true ? 2 : 0) + intSize(ok(r.count ?? 0))
  for (const s of sizes) total += nested(s)
  if (Number.isNaN(total)) return undefined
  const slot = alloc(total)
  const buf = slot.buf
  let pos = writeHeader(buf, slot.at, r.header, hs)
  for (let i = 0; i < kvs.length; i++) pos = writeKv(buf, pos, 2, kvs[i]!, sizes[i]!)
  if (r.more === true) {
    buf[pos++] = 3 << 3
    buf[pos++] = 1
  }
  pos = writeInt(buf, pos, 4, r.count ?? 0)
  if (pos !== slot.at + total) throw new Error(`fast-codec: RangeResponse wrote ${pos - slot.at} bytes, sized ${total}`)
  return written(slot, total)
}

// DeleteRangeResponse { header = 1, deleted = 2, prev_kvs = 3 }; TxnResponse { header = 1,
// succeeded = 2, responses = 3 } with ResponseOp { oneof response { range = 1, put = 2,
// delete_range = 3, txn = 4 } }. A size pass records every nested message's size in pre-order
// (`sizes`); the write pass takes them back in the same order.

type Obj = Record<string, unknown>
const OP_KINDS = ['response_range', 'response_put', 'response_delete_range', 'response_txn'] as const
type OpKind = (typeof OP_KINDS)[number]
const OP_KIND_SET: ReadonlySet<string> = new Set(OP_KINDS)

/** The one key of a ResponseOp (its kind), or undefined when it has none, several, or another. */
function opKind(op: Obj): OpKind | undefined {
  let kind: string | undefined
  for (const k in op) {
    if (kind !== undefined) return undefined
    kind = k
  }
  return kind !== undefined && OP_KIND_SET.has(kind) ? (kind as OpKind) : undefined
}

/** The size of a header (when present) as field 1, its content size pushed: 0 when absent. */
function headerField(h: unknown, sizes: number[]): number {
  if (h === undefined || h === null) return 0
  if (typeof h !== 'object') return NaN
  const size = headerSize(h as Partial<PbHeader>)
  sizes.push(size)
  return nested(size)
}

function kvList(v: unknown, sizes: number[]): number {
  if (v === undefined) return 0
  if (!Array.isArray(v)) return NaN
  let total = 0
  for (const kv of v as PbKeyValue[]) {
    const k = kvSize(kv)
    sizes.push(k)
    total += nested(k)
  }
  return total
}

/** Content size of a Range/Put/DeleteRange/Txn response (nested or not), its nested sizes pushed in write order. */
function responseSize(kind: OpKind, r: Obj, sizes: number[]): number {
  if (typeof r !== 'object' || r === null) return NaN
  let total = headerField(r.header, sizes)
  switch (kind) {
    case 'response_range':
      if (!known(r, RANGE_KEYS)) return NaN
      total += kvList(r.kvs, sizes) + (r.more === true ? 2 : 0) + intSize(opt(r.count))
      break
    case 'response_put':
      if (!known(r, PUT_KEYS)) return NaN
      if (r.prev_kv !== undefined && r.prev_kv !== null) {
        const k = kvSize(r.prev_kv as PbKeyValue)
        sizes.push(k)
        total += nested(k)
      }
      break
    case 'response_delete_range':
      if (!known(r, DELETE_KEYS)) return NaN
      total += intSize(opt(r.deleted)) + kvList(r.prev_kvs, sizes)
      break
    case 'response_txn': {
      if (!known(r, TXN_KEYS)) return NaN
      total += r.succeeded === true ? 2 : 0
      const ops = r.responses ?? []
      if (!Array.isArray(ops)) return NaN
      for (const op of ops as Obj[]) {
        if (typeof op !== 'object' || op === null) return NaN
        const k = opKind(op)
        if (k === undefined) return NaN
        const at = sizes.length
        sizes.push(0)
        const inner = responseSize(k, op[k] as Obj, sizes)
        sizes[at] = inner
        total += nested(nested(inner))
      }
      break
    }
  }
  return total
}

function writeKvList(buf: Buffer, pos: number, field: number, v: unknown, sizes: number[], at: { i: number }): number {
  if (v === undefined) return pos
  for (const kv of v as PbKeyValue[]) pos = writeKv(buf, pos, field, kv, sizes[at.i++]!)
  return pos
}

/** Writes a response's content (the fields, not its own tag and length). */
function writeResponse(buf: Buffer, pos: number, kind: OpKind, r: Obj, sizes: number[], at: { i: number }): number {
  if (r.header !== undefined && r.header !== null) pos = writeHeader(buf, pos, r.header as Partial<PbHeader>, sizes[at.i++]!)
  switch (kind) {
    case 'response_range':
      pos = writeKvList(buf, pos, 2, r.kvs, sizes, at)
      if (r.more === true) {
        buf[pos++] = 3 << 3
        buf[pos++] = 1
      }
      return writeInt(buf, pos, 4, opt(r.count))
    case 'response_put':
      return r.prev_kv !== undefined && r.prev_kv !== null ? writeKv(buf, pos, 2, r.prev_kv as PbKeyValue, sizes[at.i++]!) : pos
    case 'response_delete_range':
      pos = writeInt(buf, pos, 2, opt(r.deleted))
      return writeKvList(buf, pos, 3, r.prev_kvs, sizes, at)
    case 'response_txn': {
      if (r.succeeded === true) {
        buf[pos++] = 2 << 3
        buf[pos++] = 1
      }
      for (const op of (r.responses ?? []) as Obj[]) {
        const k = opKind(op)!
        const inner = sizes[at.i++]!
        buf[pos++] = (3 << 3) | 2 // TxnResponse.responses
        pos = writeVarint(buf, pos, nested(inner))
        buf[pos++] = ((OP_KINDS.indexOf(k) + 1) << 3) | 2 // the ResponseOp's member
        pos = writeVarint(buf, pos, inner)
        pos = writeResponse(buf, pos, k, op[k] as Obj, sizes, at)
      }
      return pos
    }
  }
}

/** A top-level response of `kind` (its header required), or undefined to fall back. */
function responseEncoder(kind: OpKind): (resp: unknown, alloc?: Alloc) => Buffer | undefined {
  return (resp, alloc = heapAlloc) => {
    const r = resp as Obj
    if (typeof r !== 'object' || r === null || r.header === undefined) return undefined
    const sizes: number[] = []
    const total = responseSize(kind, r, sizes)
    if (Number.isNaN(total)) return undefined
    const slot = alloc(total)
    const end = writeResponse(slot.buf, slot.at, kind, r, sizes, { i: 0 })
    if (end !== slot.at + total) throw new Error(`fast-codec: ${kind} wrote ${end - slot.at} bytes, sized ${total}`)
    return written(slot, total)
  }
}

// WatchResponse { header = 1, watch_id = 2, created = 3, canceled = 4, compact_revision = 5,
// cancel_reason = 6, fragment = 7, events = 11 } with Event { type = 1 (PUT 0, DELETE 1), kv = 2,
// prev_kv = 3 }: what a watch stream sends for every batch of events to every watcher.
const WATCH_KEYS: ReadonlySet<string> = new Set(['header', 'watch_id', 'created', 'canceled', 'compact_revision', 'cancel_reason', 'fragment', 'events'])
const EVENT_KEYS: ReadonlySet<string> = new Set(['type', 'kv', 'prev_kv'])

function eventSize(e: PbEvent, sizes: number[]): number {
  if (typeof e !== 'object' || e === null || !known(e, EVENT_KEYS) || (e.type !== 'PUT' && e.type !== 'DELETE') || typeof e.kv !== 'object' || e.kv === null) return NaN
  const k = kvSize(e.kv)
  sizes.push(k)
  let total = (e.type === 'DELETE' ? 2 : 0) + nested(k)
  if (e.prev_kv !== undefined && e.prev_kv !== null) {
    const p = kvSize(e.prev_kv)
    sizes.push(p)
    total += nested(p)
  }
  return total
}

function encodeWatch(resp: unknown, alloc: Alloc = heapAlloc): Buffer | undefined {
  const r = resp as Obj
  if (typeof r !== 'object' || r === null || r.header === undefined || !known(r, WATCH_KEYS)) return undefined
  const events = r.events ?? []
  if (!Array.isArray(events)) return undefined
  if (r.cancel_reason !== undefined && typeof r.cancel_reason !== 'string') return undefined
  const reason = r.cancel_reason === undefined || r.cancel_reason === '' ? undefined : Buffer.from(r.cancel_reason)
  const hs = headerSize(r.header as Partial<PbHeader>)
  const sizes: number[] = []
  const eventSizes: number[] = []
  let total = nested(hs) + intSize(opt(r.watch_id)) + (r.created === true ? 2 : 0) + (r.canceled === true ? 2 : 0) + intSize(opt(r.compact_revision)) + bytesSize(reason) + (r.fragment === true ? 2 : 0)
  for (const e of events as PbEvent[]) {
    const es = eventSize(e, sizes)
    eventSizes.push(es)
    total += nested(es)
  }
  if (Number.isNaN(total)) return undefined
  const slot = alloc(total)
  const buf = slot.buf
  let pos = writeHeader(buf, slot.at, r.header as Partial<PbHeader>, hs)
  pos = writeInt(buf, pos, 2, opt(r.watch_id))
  if (r.created === true) {
    buf[pos++] = 3 << 3
    buf[pos++] = 1
  }
  if (r.canceled === true) {
    buf[pos++] = 4 << 3
    buf[pos++] = 1
  }
  pos = writeInt(buf, pos, 5, opt(r.compact_revision))
  pos = writeBytes(buf, pos, 6, reason)
  if (r.fragment === true) {
    buf[pos++] = 7 << 3
    buf[pos++] = 1
  }
  let at = 0
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as PbEvent
    buf[pos++] = (11 << 3) | 2
    pos = writeVarint(buf, pos, eventSizes[i]!)
    if (e.type === 'DELETE') {
      buf[pos++] = 1 << 3
      buf[pos++] = 1
    }
    pos = writeKv(buf, pos, 2, e.kv, sizes[at++]!)
    if (e.prev_kv !== undefined && e.prev_kv !== null) pos = writeKv(buf, pos, 3, e.prev_kv, sizes[at++]!)
  }
  if (pos !== slot.at + total) throw new Error(`fast-codec: WatchResponse wrote ${pos - slot.at} bytes, sized ${total}`)
  return written(slot, total)
}

/** The fast codecs by gRPC path. */
export const FAST_CODECS: ReadonlyMap<string, FastCodec> = new Map([
  ['/etcdserverpb.KV/Put', { decode: decoder(decodePut), encode: encodePut }],
  ['/etcdserverpb.KV/Range', { decode: decoder(decodeRange), encode: encodeRange }],
  ['/etcdserverpb.KV/DeleteRange', { decode: decoder(decodeDeleteRange), encode: responseEncoder('response_delete_range') }],
  ['/etcdserverpb.KV/Txn', { decode: decoder(decodeTxn), encode: responseEncoder('response_txn') }],
  // WatchRequests are few (create, cancel, progress): pb-codec decodes them
  ['/etcdserverpb.Watch/Watch', { decode: () => undefined, encode: encodeWatch }],
])
