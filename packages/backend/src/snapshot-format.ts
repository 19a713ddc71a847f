import { crc32 } from 'node:zlib'
import { BUCKETS } from './backend.js'
import type { BucketName, KeyValuePair } from './backend.js'
import { backendError, checkKey, checkValue } from './limits.js'

// The backend snapshot stream; FORMAT.md describes it byte by byte.

const MAGIC = new Uint8Array([0x53, 0x54, 0x52, 0x42, 0x4b, 0x53, 0x4e, 0x50]) // "STRBKSNP"
const VERSION = 1
const HEADER_BYTES = 16
const PAIR = 0x01
const END = 0xff
/** type(1) + bucket length(1) + key length(2) + value length(4). */
const PAIR_HEAD_BYTES = 8
/** type(1) + pair count(8) + crc(4). */
const TRAILER_BYTES = 13
/** Pairs are gathered into chunks of about this many bytes before they are yielded. */
const CHUNK_BYTES = 256 * 1024

const BUCKET_NAMES: readonly Uint8Array[] = BUCKETS.map((b) => new TextEncoder().encode(b))

/** One bucket's pairs in key order, as the snapshot writer takes them. */
export type PairSource = (bucket: BucketName) => Iterable<KeyValuePair>

/**
 * Encodes every pair `source` yields, bucket by bucket in {@link BUCKETS} order, into the
 * snapshot stream, lazily, in chunks of about 256 KiB: each pair is copied straight into the
 * chunk being filled (no object per pair) before the generator yields, so a pair may be views
 * of buffers reused by the next pair or by any read while the generator waits (lmdb-js hands
 * short values in one reused buffer). The caller keeps `source` a consistent
 * view (an LMDB read transaction, or a frozen copy) until the generator is done.
 */
export function* encodeSnapshot(source: PairSource): Generator<Uint8Array> {
  let crc = 0
  let chunk = new Uint8Array(CHUNK_BYTES)
  let pos = 0
  /** The chunk filled so far, into the CRC; a new one to fill. */
  const take = (): Uint8Array => {
    const full = chunk.subarray(0, pos)
    crc = crc32(full, crc)
    chunk = new Uint8Array(CHUNK_BYTES)
    pos = 0
    return full
  }
  chunk.set(MAGIC, 0)
  new DataView(chunk.buffer).setUint32(8, VERSION)
  pos = HEADER_BYTES
  let count = 0
  for (let b = 0; b < BUCKETS.length; b++) {
    const name = BUCKET_NAMES[b]!
    for (const { key, value } of source(BUCKETS[b]!)) {
      const need = PAIR_HEAD_BYTES + name.length + key.length + value.length
      // A full chunk is yielded after this pair is copied into the next one: while the
      // generator is suspended the host may read the backend, which overwrites the buffer a
      // view pair points into.
      let full: Uint8Array | undefined
      if (pos + need > chunk.length) {
        if (pos > 0) full = take()
        if (need > chunk.length) chunk = new Uint8Array(need)
      }
      const c = chunk
      let p = pos
      c[p++] = PAIR
      c[p++] = name.length
      for (let i = 0; i < name.length; i++) c[p++] = name[i]!
      c[p++] = key.length >>> 8
      c[p++] = key.length & 255
      const v = value.length
      c[p++] = v >>> 24
      c[p++] = (v >>> 16) & 255
      c[p++] = (v >>> 8) & 255
      c[p++] = v & 255
      c.set(key, p)
      p += key.length
      c.set(value, p)
      pos = p + v
      count++
      if (full !== undefined) yield full
    }
  }
  if (pos + TRAILER_BYTES > chunk.length) yield take()
  const view = new DataView(chunk.buffer, chunk.byteOffset)
  chunk[pos] = END
  view.setBigUint64(pos + 1, BigInt(count))
  const summed = pos + TRAILER_BYTES - 4
  view.setUint32(summed, crc32(chunk.subarray(0, summed), crc))
  yield chunk.subarray(0, summed + 4)
}

/**
 * Accumulates stream chunks and hands out views of exact byte counts, keeping a running CRC of
 * what it handed out. {@link need} is the only await: the decoder parses every pair a chunk holds
 * synchronously (an await and a CRC call per field made a 1M-pair restore spend ~18 s here).
 */
class ByteReader {
  readonly #source: AsyncIterator<Uint8Array>
  #buf: Uint8Array = new Uint8Array(0)
  /** Invariant: 0 <= #crcFrom <= #at <= #buf.length; #buf[#crcFrom, #at) is handed out but not yet in #crc. */
  #at = 0
  #crcFrom = 0
  #crc = 0

  constructor(stream: AsyncIterable<Uint8Array>) {
    const iterator = (stream as Partial<AsyncIterable<Uint8Array>> | null | undefined)?.[Symbol.asyncIterator]
    if (typeof iterator !== 'function') {
      throw backendError('ERR_BACKEND_INVALID_ARGUMENT', 'restore() takes an async iterable of Uint8Array chunks, such as what snapshot() returns')
    }
    this.#source = stream[Symbol.asyncIterator]()
  }

  /** Bytes buffered and not yet handed out. */
  get available(): number {
    return this.#buf.length - this.#at
  }

  /** Waits until `n` bytes are available, or fails with ERR_BACKEND_CORRUPT when the stream ends first. */
  async need(n: number): Promise<void> {
    if (this.available >= n) return
    this.#foldCrc()
    // Gather whole chunks first and concatenate once: a large value spanning many chunks is
    // copied once, not once per chunk.
    const parts = [this.#buf.subarray(this.#at)]
    let have = parts[0]!.length
    while (have < n) {
      const next = await this.#source.next()
      if (next.done === true) throw corrupt('the snapshot stream ends early (truncated)')
      if (!(next.value instanceof Uint8Array)) throw backendError('ERR_BACKEND_INVALID_ARGUMENT', 'a snapshot stream must yield Uint8Array chunks, as snapshot() does')
      parts.push(next.value)
      have += next.value.length
    }
    const joined = parts.length === 2 && parts[0]!.length === 0 ? parts[1]! : Buffer.concat(parts, have)
    // A plain Uint8Array over the same bytes: a Buffer's (a concat, or a chunk from gRPC)
    // subarray is a Buffer, whose construction costs more than the view itself.
    this.#buf = Buffer.isBuffer(joined) ? new Uint8Array(joined.buffer, joined.byteOffset, joined.length) : joined
    this.#at = 0
    this.#crcFrom = 0
  }

  /** The next byte; {@link need} made it available. */
  byte(): number {
    return this.#buf[this.#at++]!
  }

  /** The next big-endian u16 / u32; {@link need} made them available. */
  u16(): number {
    const b = this.#buf
    const at = this.#at
    this.#at = at + 2
    return (b[at]! << 8) | b[at + 1]!
  }

  u32(): number {
    const b = this.#buf
    const at = this.#at
    this.#at = at + 4
    return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0
  }

  /** The bucket whose name is the next `n` bytes, then past them; undefined (and not past them) for none. {@link need} made them available. */
  bucket(n: number): BucketName | undefined {
    const b = this.#buf
    const at = this.#at
    for (let k = 0; k < BUCKETS.length; k++) {
      const name = BUCKET_NAMES[k]!
      if (name.length !== n) continue
      let i = 0
      while (i < n && name[i] === b[at + i]) i++
      if (i === n) {
        this.#at = at + n
        return BUCKETS[k]
      }
    }
    return undefined
  }

  /** A view of the next `n` bytes, valid until the next {@link need}; {@link need} made them available. */
  view(n: number): Uint8Array {
    const at = this.#at
    this.#at = at + n
    return this.#buf.subarray(at, at + n)
  }

  /** The CRC of everything handed out so far. */
  get crc(): number {
    this.#foldCrc()
    return this.#crc
  }

  #foldCrc(): void {
    if (this.#at > this.#crcFrom) this.#crc = crc32(this.#buf.subarray(this.#crcFrom, this.#at), this.#crc)
    this.#crcFrom = this.#at
  }

  /** True when no byte follows. */
  async atEnd(): Promise<boolean> {
    if (this.available > 0) return false
    for (;;) {
      const next = await this.#source.next()
      if (next.done === true) return true
      if (!(next.value instanceof Uint8Array)) throw backendError('ERR_BACKEND_INVALID_ARGUMENT', 'a snapshot stream must yield Uint8Array chunks, as snapshot() does')
      if (next.value.length > 0) return false
    }
  }
}

function corrupt(message: string): Error {
  return backendError('ERR_BACKEND_CORRUPT', `bad backend snapshot: ${message}`)
}

/**
 * Decodes a snapshot stream, calling `fn` for each pair in stream order. Throws
 * ERR_BACKEND_CORRUPT on a bad magic or version, an unknown bucket, a truncated stream, a pair
 * count or CRC mismatch, or trailing bytes. The CRC is checked only at the end, so a caller must
 * stage the pairs and apply them only once this resolves. Key and value are views of the
 * stream's bytes (plain Uint8Arrays), valid only until `fn` returns: a caller copies what it
 * keeps (a copy of each made here was ~40% of a 1M-pair LMDB restore, which needs none).
 */
export async function decodeSnapshot(stream: AsyncIterable<Uint8Array>, fn: (bucket: BucketName, key: Uint8Array, value: Uint8Array) => void | Promise<void>): Promise<number> {
  const r = new ByteReader(stream)
  await r.need(HEADER_BYTES)
  const header = r.view(HEADER_BYTES)
  if (Buffer.compare(header.subarray(0, 8), MAGIC) !== 0) throw corrupt('not a backend snapshot (bad magic)')
  const version = new DataView(header.buffer, header.byteOffset).getUint32(8)
  if (version !== VERSION) throw corrupt(`unsupported version ${version}`)
  let count = 0
  // `if (r.available < n) await r.need(n)`: need() checks too, but an await always costs a
  // microtask; the guard keeps a chunk's pairs to one synchronous pass.
  for (;;) {
    if (r.available < 1) await r.need(1)
    const type = r.byte()
    if (type === END) break
    if (type !== PAIR) throw corrupt(`unknown record type ${type}`)
    if (r.available < 1) await r.need(1)
    const nameLength = r.byte()
    if (r.available < nameLength + 6) await r.need(nameLength + 6)
    const bucket = r.bucket(nameLength)
    if (bucket === undefined) throw corrupt(`unknown bucket ${Buffer.from(r.view(nameLength)).toString('latin1')}`)
    const keyLength = r.u16()
    const valueLength = r.u32()
    if (r.available < keyLength + valueLength) await r.need(keyLength + valueLength)
    const key = r.view(keyLength)
    const value = r.view(valueLength)
    try {
      checkKey(bucket, key)
      checkValue(bucket, value)
    } catch (err) {
      throw corrupt(`a pair breaks the backend's limits: ${(err as Error).message}`)
    }
    const applied = fn(bucket, key, value)
    if (applied !== undefined) await applied
    count++
  }
  await r.need(8)
  const countBytes = r.view(8)
  const expected = new DataView(countBytes.buffer, countBytes.byteOffset).getBigUint64(0)
  const crc = r.crc
  await r.need(4)
  if (r.u32() !== crc) throw corrupt('checksum mismatch')
  if (expected !== BigInt(count)) throw corrupt(`holds ${count} pairs, its trailer says ${expected}`)
  if (!(await r.atEnd())) throw corrupt('bytes follow the trailer')
  return count
}
