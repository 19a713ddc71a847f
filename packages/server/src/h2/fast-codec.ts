// Hand-written protobuf codecs for the lean server's hottest calls (KV Put and Range): the
// request decoded straight into the sparse object the api handlers read (an absent field is its
// default to them, as for proto-loader), the response encoded from the handler's object in two
// passes (sizes, then bytes into one Buffer). Anything outside what they handle — an unknown
// field, a wire type that does not fit, a negative or unsafe int64 — returns undefined and the
// call goes through proto-loader's codec instead, so the wire behaviour is the same either way.
import type { PbHeader, PbKeyValue } from '../api/codec.js'
import type { Req } from '../api/kv.js'
import { FieldReader } from './protobuf.js'

export interface FastCodec {
  decode(bytes: Buffer): Req | undefined
  encode(response: unknown): Buffer | undefined
}

const copy = (r: FieldReader): Buffer => Buffer.from(r.buf.subarray(r.start, r.end))

/** Field number -> [name, kind]: bytes fields are copied out of the receive buffer; ints must be safe. */
type Schema = Record<number, readonly [string, 'bytes' | 'int' | 'bool']>

function decoder(schema: Schema): (bytes: Buffer) => Req | undefined {
  return (bytes) => {
    const out: Record<string, unknown> = {}
    const r = new FieldReader(bytes)
    try {
      while (r.next()) {
        const f = schema[r.field]
        if (f === undefined) return undefined
        const [name, kind] = f
        if (kind === 'bytes') {
          if (r.wire !== 2) return undefined
          out[name] = copy(r)
        } else {
          if (r.wire !== 0 || !Number.isSafeInteger(r.num)) return undefined
          out[name] = kind === 'bool' ? r.num !== 0 : r.num
        }
      }
    } catch {
      return undefined // malformed: let the generic decoder report it
    }
    return out as Req
  }
}

const PUT_REQUEST: Schema = { 1: ['key', 'bytes'], 2: ['value', 'bytes'], 3: ['lease', 'int'], 4: ['prev_kv', 'bool'], 5: ['ignore_value', 'bool'], 6: ['ignore_lease', 'bool'] }
const RANGE_REQUEST: Schema = {
  1: ['key', 'bytes'], 2: ['range_end', 'bytes'], 3: ['limit', 'int'], 4: ['revision', 'int'], 5: ['sort_order', 'int'], 6: ['sort_target', 'int'],
  7: ['serializable', 'bool'], 8: ['keys_only', 'bool'], 9: ['count_only', 'bool'], 10: ['min_mod_revision', 'int'], 11: ['max_mod_revision', 'int'],
  12: ['min_create_revision', 'int'], 13: ['max_create_revision', 'int'],
}

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

function headerSize(h: PbHeader): number {
  return intSize(ok(h.cluster_id)) + intSize(ok(h.member_id)) + intSize(ok(h.revision)) + intSize(ok(h.raft_term))
}

function writeHeader(buf: Buffer, pos: number, h: PbHeader, size: number): number {
  buf[pos++] = (1 << 3) | 2
  pos = writeVarint(buf, pos, size)
  pos = writeInt(buf, pos, 1, h.cluster_id)
  pos = writeInt(buf, pos, 2, h.member_id)
  pos = writeInt(buf, pos, 3, h.revision)
  return writeInt(buf, pos, 4, h.raft_term)
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
const known = (o: object, keys: readonly string[]): boolean => Object.keys(o).every((k) => keys.includes(k))

function encodePut(resp: unknown): Buffer | undefined {
  const r = resp as { header?: PbHeader; prev_kv?: PbKeyValue }
  if (typeof r !== 'object' || r === null || r.header === undefined || !known(r, ['header', 'prev_kv'])) return undefined
  const hs = headerSize(r.header)
  const ps = r.prev_kv === undefined ? 0 : kvSize(r.prev_kv)
  const total = nested(hs) + (r.prev_kv === undefined ? 0 : nested(ps))
  if (Number.isNaN(total)) return undefined
  const buf = Buffer.allocUnsafe(total)
  let pos = writeHeader(buf, 0, r.header, hs)
  if (r.prev_kv !== undefined) pos = writeKv(buf, pos, 2, r.prev_kv, ps)
  return buf
}

function encodeRange(resp: unknown): Buffer | undefined {
  const r = resp as { header?: PbHeader; kvs?: PbKeyValue[]; more?: boolean; count?: number }
  if (typeof r !== 'object' || r === null || r.header === undefined || !known(r, ['header', 'kvs', 'more', 'count'])) return undefined
  const hs = headerSize(r.header)
  const kvs = r.kvs ?? []
  const sizes = kvs.map(kvSize)
  let total = nested(hs) + (r.more === true ? 2 : 0) + intSize(ok(r.count ?? 0))
  for (const s of sizes) total += nested(s)
  if (Number.isNaN(total)) return undefined
  const buf = Buffer.allocUnsafe(total)
  let pos = writeHeader(buf, 0, r.header, hs)
  for (let i = 0; i < kvs.length; i++) pos = writeKv(buf, pos, 2, kvs[i]!, sizes[i]!)
  if (r.more === true) {
    buf[pos++] = 3 << 3
    buf[pos++] = 1
  }
  writeInt(buf, pos, 4, r.count ?? 0)
  return buf
}

/** The fast codecs by gRPC path. */
export const FAST_CODECS: ReadonlyMap<string, FastCodec> = new Map([
  ['/etcdserverpb.KV/Put', { decode: decoder(PUT_REQUEST), encode: encodePut }],
  ['/etcdserverpb.KV/Range', { decode: decoder(RANGE_REQUEST), encode: encodeRange }],
])
