import { crc32 } from 'node:zlib'
import { BUCKETS } from './backend.js'
import type { BucketName } from './backend.js'
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
export type PairSource = (bucket: BucketName) => Iterable<readonly [Uint8Array, Uint8Array]>

/**
 * Encodes every pair `source` yields, bucket by bucket in {@link BUCKETS} order, into the
 * snapshot stream, lazily, in chunks of about 256 KiB. The caller keeps `source` a consistent
 * view (an LMDB read transaction, or a frozen copy) until the generator is done.
 */
export function* encodeSnapshot(source: PairSource): Generator<Uint8Array> {
  let crc = 0
  let parts: Uint8Array[] = []
  let partBytes = 0
  const take = (): Uint8Array => {
    const chunk = Buffer.concat(parts, partBytes)
    crc = crc32(chunk, crc)
    parts = []
    partBytes = 0
    return chunk
  }
  const header = new Uint8Array(HEADER_BYTES)
  header.set(MAGIC, 0)
  new DataView(header.buffer).setUint32(8, VERSION)
  parts.push(header)
  partBytes += header.length
  let count = 0
  for (let b = 0; b < BUCKETS.length; b++) {
    const name = BUCKET_NAMES[b]!
    for (const [key, value] of source(BUCKETS[b]!)) {
      const head = new Uint8Array(PAIR_HEAD_BYTES + name.length)
      const view = new DataView(head.buffer)
      view.setUint8(0, PAIR)
      view.setUint8(1, name.length)
      head.set(name, 2)
      view.setUint16(2 + name.length, key.length)
      view.setUint32(4 + name.length, value.length)
      // Copies: the source's buffers may be reused (lmdb-js reuses its read buffer).
      parts.push(head, key.slice(), value.slice())
      partBytes += head.length + key.length + value.length
      count++
      if (partBytes >= CHUNK_BYTES) yield take()
    }
  }
  const trailer = new Uint8Array(TRAILER_BYTES - 4)
  trailer[0] = END
  new DataView(trailer.buffer).setBigUint64(1, BigInt(count))
  parts.push(trailer)
  partBytes += trailer.length
  yield take()
  const sum = new Uint8Array(4)
  new DataView(sum.buffer).setUint32(0, crc)
  yield sum
}

/** Accumulates stream chunks and hands out exact byte counts, keeping a running CRC of what it handed out. */
class ByteReader {
  readonly #source: AsyncIterator<Uint8Array>
  #buf: Uint8Array = new Uint8Array(0)
  /** Invariant: 0 <= #at <= #buf.length. */
  #at = 0
  crc = 0

  constructor(stream: AsyncIterable<Uint8Array>) {
    const iterator = (stream as Partial<AsyncIterable<Uint8Array>> | null | undefined)?.[Symbol.asyncIterator]
    if (typeof iterator !== 'function') {
      throw backendError('ERR_BACKEND_INVALID_ARGUMENT', 'restore() takes an async iterable of Uint8Array chunks, such as what snapshot() returns')
    }
    this.#source = stream[Symbol.asyncIterator]()
  }

  /** Exactly `n` bytes, or ERR_BACKEND_CORRUPT when the stream ends first. */
  async take(n: number, checksummed = true): Promise<Uint8Array> {
    if (this.#buf.length - this.#at < n) {
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
      this.#buf = Buffer.concat(parts, have)
      this.#at = 0
    }
    // A plain Uint8Array copy: #buf may be a Buffer, whose slice() is a view a caller could alias.
    const out = new Uint8Array(this.#buf.subarray(this.#at, this.#at + n))
    this.#at += n
    if (checksummed) this.crc = crc32(out, this.crc)
    return out
  }

  /** True when no byte follows. */
  async atEnd(): Promise<boolean> {
    if (this.#at < this.#buf.length) return false
    for (;;) {
      const next = await this.#source.next()
      if (next.done === true) return true
      if (!(next.value instanceof Uint8Array)) throw backendError('ERR_BACKEND_INVALID_ARGUMENT', 'a snapshot stream must yield Uint8Array chunks, as snapshot() does')
      if (next.value.length > 0) {
        this.#buf = next.value
        this.#at = 0
        return false
      }
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
 * stage the pairs and apply them only once this resolves.
 */
export async function decodeSnapshot(stream: AsyncIterable<Uint8Array>, fn: (bucket: BucketName, key: Uint8Array, value: Uint8Array) => void | Promise<void>): Promise<number> {
  const r = new ByteReader(stream)
  const header = await r.take(HEADER_BYTES)
  if (Buffer.compare(header.subarray(0, 8), MAGIC) !== 0) throw corrupt('not a backend snapshot (bad magic)')
  const version = new DataView(header.buffer, header.byteOffset).getUint32(8)
  if (version !== VERSION) throw corrupt(`unsupported version ${version}`)
  let count = 0
  for (;;) {
    const type = (await r.take(1))[0]!
    if (type === END) break
    if (type !== PAIR) throw corrupt(`unknown record type ${type}`)
    const nameLength = (await r.take(1))[0]!
    const bucket = new TextDecoder().decode(await r.take(nameLength)) as BucketName
    if (!BUCKETS.includes(bucket)) throw corrupt(`unknown bucket ${bucket}`)
    const lengths = await r.take(6)
    const view = new DataView(lengths.buffer, lengths.byteOffset)
    const key = await r.take(view.getUint16(0))
    const value = await r.take(view.getUint32(2))
    try {
      checkKey(bucket, key)
      checkValue(bucket, value)
    } catch (err) {
      throw corrupt(`a pair breaks the backend's limits: ${(err as Error).message}`)
    }
    await fn(bucket, key, value)
    count++
  }
  const countBytes = await r.take(8)
  const expected = new DataView(countBytes.buffer, countBytes.byteOffset).getBigUint64(0)
  const crc = r.crc
  const sum = await r.take(4, false)
  if (new DataView(sum.buffer, sum.byteOffset).getUint32(0) !== crc) throw corrupt('checksum mismatch')
  if (expected !== BigInt(count)) throw corrupt(`holds ${count} pairs, its trailer says ${expected}`)
  if (!(await r.atEnd())) throw corrupt('bytes follow the trailer')
  return count
}
