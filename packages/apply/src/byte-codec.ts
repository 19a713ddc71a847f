import { ApplyError } from './errors.js'

const utf8 = new TextEncoder()
const NO_BYTES = new Uint8Array(0)
const NO_VIEW = new DataView(NO_BYTES.buffer)
const fromUtf8 = new TextDecoder('utf-8', { fatal: true })

/** A key or value as callers pass it; a string is UTF-8. */
export function toBytes(v: string | Uint8Array, what: string): Uint8Array {
  if (typeof v === 'string') return utf8.encode(v)
  if (v instanceof Uint8Array) return v
  throw new ApplyError('ERR_APPLY_INVALID_ARGUMENT', `apply: ${what} must be a string or a Uint8Array, got ${typeof v}`)
}

/** A u64 big-endian, for bucket keys and meta values that must sort numerically (FORMAT.md §4). */
export function u64be(n: number): Uint8Array {
  const b = new Uint8Array(8)
  const v = new DataView(b.buffer)
  v.setUint32(0, Math.floor(n / 0x1_0000_0000))
  v.setUint32(4, n % 0x1_0000_0000)
  return b
}

function checkU64(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new ApplyError('ERR_APPLY_INVALID_ARGUMENT', `apply: ${what} must be a non-negative safe integer, got ${String(n)}`)
  }
  return n
}

/**
 * Appends little-endian fields to a growing buffer. Every field of the payload format
 * (FORMAT.md) is one of: u8, u64 (a safe integer), bytes (u32 length + bytes), string (bytes of
 * UTF-8), or a count (u32) followed by that many items.
 */
export class ByteWriter {
  /**
   * The buffer writers start in, lent to one writer at a time until its `finish` (encodes run
   * start to finish synchronously): a 256-byte array and its DataView per request were a tenth
   * of a put's encoding cost. A writer that finds it lent gets an array of its own; an encode
   * that may throw calls `release` in a `finally` so the buffer comes back.
   */
  static #free: { buf: Uint8Array; view: DataView } | undefined = ByteWriter.#newSpare(4096)
  #spare: { buf: Uint8Array; view: DataView } | undefined
  #buf: Uint8Array
  #view: DataView
  #at = 0

  constructor() {
    const spare = ByteWriter.#free
    if (spare !== undefined) {
      ByteWriter.#free = undefined
      this.#spare = spare
      this.#buf = spare.buf
      this.#view = spare.view
    } else {
      this.#buf = new Uint8Array(256)
      this.#view = new DataView(this.#buf.buffer)
    }
  }

  static #newSpare(size: number): { buf: Uint8Array; view: DataView } {
    const buf = new Uint8Array(size)
    return { buf, view: new DataView(buf.buffer) }
  }

  #room(n: number): void {
    if (this.#at + n <= this.#buf.length) return
    let size = this.#buf.length * 2
    while (size < this.#at + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.#buf.subarray(0, this.#at))
    this.#buf = next
    this.#view = new DataView(next.buffer)
  }

  u8(v: number): this {
    this.#room(1)
    this.#buf[this.#at++] = v
    return this
  }

  bool(v: boolean | undefined): this {
    return this.u8(v === true ? 1 : 0)
  }

  u32(v: number): this {
    this.#room(4)
    this.#view.setUint32(this.#at, v, true)
    this.#at += 4
    return this
  }

  u64(v: number, what: string): this {
    checkU64(v, what)
    this.#room(8)
    this.#view.setUint32(this.#at, v % 0x1_0000_0000, true)
    this.#view.setUint32(this.#at + 4, Math.floor(v / 0x1_0000_0000), true)
    this.#at += 8
    return this
  }

  /** A signed safe integer (compare values may be negative in principle), as a two's-complement i64. */
  i64(v: number, what: string): this {
    if (!Number.isSafeInteger(v)) throw new ApplyError('ERR_APPLY_INVALID_ARGUMENT', `apply: ${what} must be a safe integer, got ${String(v)}`)
    this.#room(8)
    this.#view.setBigInt64(this.#at, BigInt(v), true)
    this.#at += 8
    return this
  }

  bytes(v: string | Uint8Array, what: string): this {
    const b = toBytes(v, what)
    this.u32(b.length)
    this.#room(b.length)
    this.#buf.set(b, this.#at)
    this.#at += b.length
    return this
  }

  string(v: string, what: string): this {
    if (typeof v !== 'string') throw new ApplyError('ERR_APPLY_INVALID_ARGUMENT', `apply: ${what} must be a string, got ${typeof v}`)
    if (v === '') return this.u32(0) // the header's username without auth: no encoder call
    return this.bytes(v, what)
  }

  /** An optional byte string: a presence byte, then the bytes. */
  optBytes(v: string | Uint8Array | undefined, what: string): this {
    if (v === undefined) return this.u8(0)
    return this.u8(1).bytes(v, what)
  }

  get length(): number {
    return this.#at
  }

  /** The bytes written, in an array of their own; the writer is done (its buffer is handed back). */
  finish(): Uint8Array {
    const out = copyOut(this.#buf, this.#at)
    this.release()
    return out
  }

  /** Hands the lent buffer back without a result (a failed encode); `finish` does it too. */
  release(): void {
    if (this.#spare === undefined) return
    // Grown past 64 KiB, the buffer goes rather than staying for every later request.
    if (this.#buf !== this.#spare.buf && this.#buf.length <= 65_536) this.#spare = { buf: this.#buf, view: this.#view }
    if (this.#spare.buf.length <= 65_536) ByteWriter.#free = this.#spare
    this.#spare = undefined
    this.#buf = NO_BYTES
    this.#view = NO_VIEW
  }
}

/** Results up to this size share slabs (see {@link copyOut}). */
const SLAB_ITEM_MAX_BYTES = 4096
const SLAB_BYTES = 64 * 1024
let slab = new ArrayBuffer(SLAB_BYTES)
let slabAt = 0

/**
 * A copy of buf[0, n) in an array of its own — a view into a shared 64 KiB slab for small
 * results, as Buffer's pool does (but a plain Uint8Array, whose `slice` copies). A result over
 * 64 bytes in an ArrayBuffer of its own costs a backing store outside V8's heap: ~2 µs to
 * allocate and free, once per proposal. A slab is freed when its last view is (the raft log
 * and the WAL release entries in order, so slabs go in order too).
 */
function copyOut(buf: Uint8Array, n: number): Uint8Array {
  if (n > SLAB_ITEM_MAX_BYTES) return buf.slice(0, n)
  if (slabAt + n > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES)
    slabAt = 0
  }
  const out = new Uint8Array(slab, slabAt, n)
  out.set(buf.subarray(0, n))
  slabAt += (n + 7) & ~7
  return out
}

/** Reads what {@link ByteWriter} wrote; any overrun or bad field is ERR_APPLY_CORRUPT. */
export class ByteReader {
  readonly #buf: Uint8Array
  /** Made on first use (only an i64 needs it): a DataView per decoded entry was ~1.5% of applying a put. */
  #view: DataView | undefined
  #at = 0

  constructor(buf: Uint8Array) {
    this.#buf = buf
  }

  /** The little-endian u32 at `at` (bounds checked by the caller). */
  #u32le(at: number): number {
    const b = this.#buf
    return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0
  }

  corrupt(detail: string): ApplyError {
    return new ApplyError('ERR_APPLY_CORRUPT', `apply: payload does not decode (${detail} at byte ${this.#at} of ${this.#buf.length})`)
  }

  #need(n: number): void {
    if (this.#at + n > this.#buf.length) throw this.corrupt(`needs ${n} more bytes`)
  }

  u8(): number {
    this.#need(1)
    return this.#buf[this.#at++]!
  }

  bool(): boolean {
    const v = this.u8()
    if (v > 1) throw this.corrupt(`bad boolean ${v}`)
    return v === 1
  }

  u32(): number {
    this.#need(4)
    const v = this.#u32le(this.#at)
    this.#at += 4
    return v
  }

  u64(): number {
    this.#need(8)
    const lo = this.#u32le(this.#at)
    const hi = this.#u32le(this.#at + 4)
    this.#at += 8
    const v = hi * 0x1_0000_0000 + lo
    if (!Number.isSafeInteger(v)) throw this.corrupt(`u64 ${v} is not a safe integer`)
    return v
  }

  i64(): number {
    this.#need(8)
    this.#view ??= new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength)
    const v = this.#view.getBigInt64(this.#at, true)
    this.#at += 8
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw this.corrupt(`i64 ${v} is not a safe integer`)
    return Number(v)
  }

  /** A copy, so the result outlives the entry's buffer. */
  bytes(): Uint8Array {
    const at = this.#field()
    return this.#buf.slice(at, this.#at)
  }

  /** `bytes` as a view into the payload, not a copy (for framing whose parts are decoded later). */
  view(): Uint8Array {
    const at = this.#field()
    return this.#buf.subarray(at, this.#at)
  }

  /** Reads a length-prefixed field's length, checks it, moves past the field; returns where it starts. */
  #field(): number {
    const n = this.u32()
    this.#need(n)
    const at = this.#at
    this.#at += n
    return at
  }

  string(): string {
    const n = this.u32()
    // The header's username without auth (every request then): no view, no decoder call.
    if (n === 0) return ''
    this.#need(n)
    try {
      return fromUtf8.decode(this.#buf.subarray(this.#at, this.#at + n))
    } catch {
      throw this.corrupt('bad UTF-8')
    } finally {
      this.#at += n
    }
  }

  optBytes(): Uint8Array | undefined {
    return this.bool() ? this.bytes() : undefined
  }

  /** A count of items that follow, each at least `minItemBytes` long (bounds a hostile count). */
  count(minItemBytes: number): number {
    const n = this.u32()
    if (n * minItemBytes > this.#buf.length - this.#at) throw this.corrupt(`count ${n} exceeds the payload`)
    return n
  }

  end(): void {
    if (this.#at !== this.#buf.length) throw this.corrupt(`${this.#buf.length - this.#at} trailing bytes`)
  }
}
