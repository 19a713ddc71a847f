// Protobuf codecs for etcd's messages, driven by the precompiled descriptor in etcd-proto.ts
// (generated from proto/*.proto at build time, so nothing parses .proto text when a server
// starts, and neither @grpc/proto-loader nor protobufjs is loaded: issue 15).
//
// Messages look in JavaScript exactly as they did through proto-loader with LOADER_OPTIONS
// (proto.ts), and encode to the same bytes; proto-descriptor.test.ts checks both against
// protobufjs on every message type. Decoded: snake_case names; int64/uint64 as numbers (beyond
// 2^53 rounded, as protobufjs's Number conversion does — the handlers refuse such values); bytes
// as Buffers viewing the request; enums as names (a number unknown to the enum stays a number);
// defaults filled in (messages null, repeated []), except for oneof members, which are present
// only when sent, with the oneof's name set to the member's. Encoded: a field is written when
// its value is neither undefined nor null (even a zero), in field-number order; repeated numeric
// fields packed; enum names or numbers; int64 from numbers (truncated, saturated at 64 bits) or
// decimal strings; bytes from a Uint8Array, an array of numbers, or base64 text.
import { ENUMS, MESSAGES } from './etcd-proto.js'

export type FieldKind = 'int64' | 'uint64' | 'int32' | 'uint32' | 'bool' | 'string' | 'bytes' | 'enum' | 'message'
/** A field as etcd-proto.ts lists it: number, name, kind, the enum or message's full name, flags (1 repeated, 2 packed), oneof name. */
export type FieldTuple = readonly [number, string, FieldKind, string, number, string]
export type EnumValues = readonly (readonly [string, number])[]
/** A method as etcd-proto.ts lists it: path, request and response message, client and server streaming. */
export type MethodTuple = readonly [string, string, string, boolean, boolean]

export interface MessageCodec {
  /** The message's bytes; TypeError when a message or repeated field holds something else. */
  encode(value: unknown): Buffer
  /** The message in `bytes`; RangeError when they are cut short, Error on an invalid wire type. */
  decode(bytes: Uint8Array): Record<string, unknown>
}

interface Field {
  readonly no: number
  readonly name: string
  readonly kind: FieldKind
  readonly repeated: boolean
  readonly packed: boolean
  readonly oneof: string
  /** The tag of one value: number and wire type. */
  readonly tag: number
  readonly type: Compiled | undefined
  readonly enumByName: ReadonlyMap<string, number> | undefined
  readonly enumById: ReadonlyMap<number, string> | undefined
  /** An enum field's default: its enum's first value's name. */
  readonly enumDefault: string | undefined
}

interface Compiled {
  readonly name: string
  readonly fields: readonly Field[]
  readonly byNo: ReadonlyMap<number, Field>
}

const compiled = new Map<string, Compiled>()

/** Nesting of messages beyond which decoding and encoding fail (protobufjs's and protoc's default). */
const MAX_DEPTH = 100

/** The codec of message `type` (a full name such as `etcdserverpb.RangeRequest`). */
export function messageCodec(type: string): MessageCodec {
  const t = compile(type)
  return {
    encode: (value) => {
      if (Array.isArray(value)) throw new TypeError(`${type}: expected an object, got an array`)
      const out = new Out()
      writeMessage(out, t, value, 0)
      return out.finish()
    },
    decode: (bytes) => {
      const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      return toObject(t, readMessage({ buf, pos: 0, len: buf.length }, t, 0))
    },
  }
}

const WIRE: Record<FieldKind, number> = { int64: 0, uint64: 0, int32: 0, uint32: 0, bool: 0, enum: 0, string: 2, bytes: 2, message: 2 }

function compile(type: string): Compiled {
  const done = compiled.get(type)
  if (done !== undefined) return done
  const tuples = MESSAGES[type]
  if (tuples === undefined) throw new TypeError(`pb-codec: no message ${type} in etcd-proto.ts`)
  const fields: Field[] = []
  const t: Compiled = { name: type, fields, byNo: new Map() }
  compiled.set(type, t) // before the fields: messages refer to themselves or each other
  for (const [no, name, kind, ref, flags, oneof] of tuples) {
    const values = kind === 'enum' ? ENUMS[ref] : undefined
    if (kind === 'enum' && values === undefined) throw new TypeError(`pb-codec: no enum ${ref} in etcd-proto.ts`)
    const f: Field = {
      no, name, kind, repeated: (flags & 1) !== 0, packed: (flags & 2) !== 0, oneof, tag: no * 8 + WIRE[kind],
      type: kind === 'message' ? compile(ref) : undefined,
      enumByName: values === undefined ? undefined : new Map(values),
      enumById: values === undefined ? undefined : new Map(values.map(([n, v]) => [v, n])),
      enumDefault: values?.[0]?.[0],
    }
    fields.push(f)
    ;(t.byNo as Map<number, Field>).set(no, f)
  }
  return t
}

// ------------------------------------------------------------------ encoding

/** A growing output buffer. */
class Out {
  buf = Buffer.allocUnsafe(256)
  pos = 0

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n))
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  /** A non-negative integer below 2^53 as a varint. */
  varint(v: number): void {
    this.ensure(10)
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80
      v = Math.floor(v / 0x80)
    }
    this.buf[this.pos++] = v
  }

  /** Any 64-bit pattern as a varint (up to 10 bytes). */
  varint64(v: bigint): void {
    this.ensure(10)
    let u = BigInt.asUintN(64, v)
    while (u >= 0x80n) {
      this.buf[this.pos++] = Number(u & 0x7fn) | 0x80
      u >>= 7n
    }
    this.buf[this.pos++] = Number(u)
  }

  bytes(b: Uint8Array): void {
    this.varint(b.length)
    this.ensure(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }

  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos))
  }
}

const TWO_63 = 2 ** 63
const TWO_64 = 2 ** 64

/**
 * An int64 or uint64 value as protobufjs's Long.fromValue(v, unsigned) takes it: a number is
 * truncated, NaN is 0, and it saturates (uint64: 0 below zero, 2^64-1 above; int64: at
 * -2^63 and 2^63-1); a decimal string wraps to 64 bits. A number result is a safe non-negative
 * integer; anything else comes as the bigint whose low 64 bits are written.
 */
function longOf(v: unknown, unsigned: boolean): bigint | number {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && v >= 0) return v
    if (Number.isNaN(v)) return 0
    if (unsigned) {
      if (v < 0) return 0
      if (v >= TWO_64) return 2n ** 64n - 1n
    } else {
      if (v <= -TWO_63) return -(2n ** 63n)
      if (v + 1 >= TWO_63) return 2n ** 63n - 1n
    }
    return BigInt(Math.trunc(v))
  }
  if (typeof v === 'string') return BigInt(v.trim() === '' ? '0' : v)
  if (typeof v === 'bigint') return v
  return 0
}

/** One scalar value, without its tag. */
function writeScalar(out: Out, f: Field, v: unknown): void {
  switch (f.kind) {
    case 'int64':
    case 'uint64': {
      const n = longOf(v, f.kind === 'uint64')
      if (typeof n === 'number') out.varint(n)
      else out.varint64(BigInt(n))
      return
    }
    case 'int32': {
      const n = Number(v) | 0
      if (n >= 0) out.varint(n)
      else out.varint64(BigInt(n))
      return
    }
    case 'enum': {
      // A number is kept as given (protobufjs's int32 writer then takes it), a name is looked
      // up; an unknown name in a list is the enum's first value, as protobufjs's switch falls through.
      const n = enumNumber(f, v) ?? f.enumByName!.get(f.enumDefault!)!
      if (!(n < 0)) out.varint(n >>> 0)
      else out.varint64(BigInt(Math.trunc(n)))
      return
    }
    case 'uint32':
      out.varint(Number(v) >>> 0)
      return
    case 'bool':
      out.varint(v ? 1 : 0)
      return
    case 'string':
      out.bytes(Buffer.from(String(v), 'utf8'))
      return
    default:
      out.bytes(bytesOf(v)!)
  }
}

function enumNumber(f: Field, v: unknown): number | undefined {
  if (typeof v === 'number') return v
  return typeof v === 'string' ? f.enumByName!.get(v) : undefined
}

function bytesOf(v: unknown): Uint8Array | undefined {
  if (v instanceof Uint8Array) return v
  if (typeof v === 'string') return Buffer.from(v, 'base64')
  if (Array.isArray(v)) return Uint8Array.from(v as number[])
  return undefined
}

/** Whether a single (not repeated) value is written: present, and for enums and bytes one they can take. */
function writable(f: Field, v: unknown): boolean {
  if (v === undefined || v === null) return false
  if (f.kind === 'enum') return enumNumber(f, v) !== undefined
  if (f.kind === 'bytes') return bytesOf(v) !== undefined
  return true
}

function writeMessage(out: Out, t: Compiled, value: unknown, depth: number): void {
  if (typeof value !== 'object' || value === null) throw new TypeError(`${t.name}: object expected`)
  if (depth > MAX_DEPTH) throw new Error('maximum nesting depth exceeded')
  const o = value as Record<string, unknown>
  for (const f of t.fields) {
    const v = o[f.name]
    if (f.repeated) writeRepeated(out, t, f, v, depth)
    else if (f.kind === 'message') {
      if (v === undefined || v === null) continue
      if (typeof v !== 'object') throw new TypeError(`${t.name}.${f.name}: object expected`)
      out.varint(f.tag)
      writeNested(out, f.type!, v, depth)
    } else if (writable(f, v)) {
      out.varint(f.tag)
      writeScalar(out, f, v)
    }
  }
}

function writeRepeated(out: Out, t: Compiled, f: Field, v: unknown, depth: number): void {
  if (!v) return // protobufjs skips any falsy value here, not only undefined and null
  if (!Array.isArray(v)) throw new TypeError(`${t.name}.${f.name}: array expected`)
  if (v.length === 0) return
  if (f.packed) {
    const body = new Out()
    for (const e of v) writeScalar(body, f, e)
    out.varint(f.no * 8 + 2)
    out.bytes(body.buf.subarray(0, body.pos))
    return
  }
  for (const e of v) {
    if (f.kind === 'message' && typeof e !== 'object') throw new TypeError(`${t.name}.${f.name}: object expected`)
    out.varint(f.tag)
    if (f.kind === 'message') writeNested(out, f.type!, e, depth)
    else writeScalar(out, f, f.kind === 'bytes' ? bytesOf(e) ?? new Uint8Array(0) : e)
  }
}

function writeNested(out: Out, t: Compiled, v: unknown, depth: number): void {
  const body = new Out()
  writeMessage(body, t, v, depth + 1)
  out.bytes(body.buf.subarray(0, body.pos))
}

// ------------------------------------------------------------------ decoding
//
// Read as protobufjs 7.6's Reader and generated decoders read, so the same bytes give the same
// message or fail alike: a field is read by its declared type whatever its wire type, except that
// repeated numeric fields take packed and unpacked values; unknown fields are skipped; a nested
// message bounds every read inside it and must end exactly at its length; nesting deeper than
// MAX_DEPTH fails; a string cut short is cut, not refused.

interface Reader {
  readonly buf: Buffer
  pos: number
  /** Where the innermost message being read ends. */
  len: number
}

function outOfRange(r: Reader, n = 1): RangeError {
  return new RangeError(`index out of range: ${r.pos} + ${n} > ${r.len}`)
}

function uint32(r: Reader): number {
  const b = r.buf
  if (r.len - r.pos < 5) {
    if (r.pos >= r.len) throw outOfRange(r)
    if (b[r.pos]! >= 0x80) {
      let v = 0
      for (let i = 0; i < 4; i++) {
        if (r.pos >= r.len) throw outOfRange(r)
        const x = b[r.pos++]!
        v = (v | ((x & 0x7f) << (7 * i))) >>> 0
        if (x < 0x80) return v
      }
      throw outOfRange(r)
    }
  }
  let v = 0
  for (let i = 0; i < 5; i++) {
    const x = b[r.pos++]!
    v = (v | ((i < 4 ? x & 0x7f : x & 0x0f) << (7 * i))) >>> 0
    if (x < 0x80) return v
  }
  if ((r.pos += 5) > r.len) {
    r.pos = r.len
    throw outOfRange(r, 10)
  }
  return v
}

/**
 * A varint of up to 64 bits as [low, high] 32-bit words. With 4 bytes or fewer left it reads as
 * protobufjs's readLongVarint does: 3 bytes checked, then a 4th taken as the last whatever it
 * holds (past the end, the enclosing message's length check then fails).
 */
function varint64(r: Reader): [number, number] {
  const b = r.buf
  let lo = 0
  let hi = 0
  if (r.len - r.pos <= 4) {
    for (let i = 0; i < 3; i++) {
      if (r.pos >= r.len) throw outOfRange(r)
      const x = b[r.pos++]!
      lo |= (x & 0x7f) << (7 * i)
      if (x < 0x80) return [lo >>> 0, 0]
    }
    lo |= ((b[r.pos++] ?? 0) & 0x7f) << 21
    return [lo >>> 0, 0]
  }
  for (let i = 0; i < 10; i++) {
    if (i >= 5 && r.pos >= r.len) throw outOfRange(r)
    const x = b[r.pos++]!
    if (i < 4) lo |= (x & 0x7f) << (7 * i)
    else if (i === 4) {
      lo |= (x & 0x0f) << 28
      hi |= (x & 0x7f) >> 4
    } else hi |= (x & 0x7f) << (7 * i - 32)
    if (x < 0x80) return [lo >>> 0, hi >>> 0]
  }
  throw new Error('invalid varint encoding')
}

/** protobufjs's LongBits.toNumber: exact below 2^53, rounded above. */
function longToNumber([lo, hi]: [number, number], unsigned: boolean): number {
  if (!unsigned && hi >>> 31 !== 0) {
    const l = (~lo + 1) >>> 0
    let h = ~hi >>> 0
    if (l === 0) h = (h + 1) >>> 0
    return -(l + h * 4294967296)
  }
  return lo + hi * 4294967296
}

function readBytes(r: Reader): Buffer {
  const len = uint32(r)
  const start = r.pos
  if (start + len > r.len) throw outOfRange(r, len)
  r.pos += len
  return len === 0 ? Buffer.alloc(0) : r.buf.subarray(start, start + len)
}

function readScalar(r: Reader, f: Field): unknown {
  switch (f.kind) {
    case 'int64': return longToNumber(varint64(r), false)
    case 'uint64': return longToNumber(varint64(r), true)
    case 'int32': return uint32(r) | 0
    case 'uint32': return uint32(r)
    case 'bool': return uint32(r) !== 0
    case 'enum': {
      const n = uint32(r) | 0
      return f.enumById!.get(n) ?? n
    }
    case 'string': {
      const len = uint32(r)
      const end = Math.min(r.pos + len, r.len)
      const s = r.buf.toString('utf8', r.pos, end)
      r.pos = end
      return s
    }
    default: return readBytes(r)
  }
}

function skip(r: Reader, wire: number, depth: number): void {
  if (depth > MAX_DEPTH) throw new Error('maximum nesting depth exceeded')
  const need = (n: number): void => {
    if (r.pos + n > r.len) throw outOfRange(r, n)
    r.pos += n
  }
  switch (wire) {
    case 0: // a varint of any length, as protobufjs skips one
      do {
        if (r.pos >= r.len) throw outOfRange(r)
      } while ((r.buf[r.pos++]! & 0x80) !== 0)
      return
    case 1: return need(8)
    case 2: return need(uint32(r))
    case 3:
      for (let w = uint32(r) & 7; w !== 4; w = uint32(r) & 7) skip(r, w, depth + 1)
      return
    case 5: return need(4)
    default: throw new Error(`invalid wire type ${wire} at offset ${r.pos}`)
  }
}

/** Reads `fn` within the next `end - r.pos` bytes; they must be read exactly. */
function within<T>(r: Reader, end: number, fn: () => T): T {
  if (end > r.len) throw new RangeError('index out of range')
  const outer = r.len
  r.len = end
  const v = fn()
  if (r.pos !== end) throw new RangeError('index out of range')
  r.len = outer
  return v
}

/** The fields sent until `r.len`, in their JavaScript form. */
function readMessage(r: Reader, t: Compiled, depth: number): Map<Field, unknown> {
  if (depth > MAX_DEPTH) throw new Error('maximum nesting depth exceeded')
  const got = new Map<Field, unknown>()
  while (r.pos < r.len) {
    const tag = uint32(r)
    const f = t.byNo.get(tag >>> 3)
    if (f === undefined) {
      skip(r, tag & 7, depth)
      continue
    }
    if (!f.repeated) {
      got.set(f, f.kind === 'message' ? readNested(r, f.type!, depth) : readScalar(r, f))
      continue
    }
    let list = got.get(f) as unknown[] | undefined
    if (list === undefined) got.set(f, (list = []))
    if (f.packed && (tag & 7) === 2) {
      const items = list
      within(r, uint32(r) + r.pos, () => {
        while (r.pos < r.len) items.push(readScalar(r, f))
      })
    } else list.push(f.kind === 'message' ? readNested(r, f.type!, depth) : readScalar(r, f))
  }
  return got
}

function readNested(r: Reader, t: Compiled, depth: number): Record<string, unknown> {
  return within(r, uint32(r) + r.pos, () => toObject(t, readMessage(r, t, depth + 1)))
}

/** The message as proto-loader's options shape it: repeated fields, then the other defaults, then what was sent. */
function toObject(t: Compiled, got: Map<Field, unknown>): Record<string, unknown> {
  const o: Record<string, unknown> = {}
  for (const f of t.fields) if (f.repeated) o[f.name] = []
  for (const f of t.fields) if (!f.repeated && f.oneof === '') o[f.name] = defaultOf(f)
  for (const f of t.fields) {
    if (!got.has(f)) continue
    o[f.name] = got.get(f)
    if (f.oneof !== '') o[f.oneof] = f.name
  }
  return o
}

function defaultOf(f: Field): unknown {
  switch (f.kind) {
    case 'message': return null
    case 'enum': return f.enumDefault
    case 'string': return ''
    case 'bool': return false
    case 'bytes': return Buffer.alloc(0)
    default: return 0
  }
}
