// HPACK (RFC 7541) for the lean HTTP/2 client: a decoder complete enough for what grpc-go and
// nghttp2 (grpc-js, node:http2) servers send (indexed fields, the dynamic table with its size
// updates, literals with and without indexing, Huffman-coded strings), and an encoder that
// emits static-table references and plain literals only, so a request's header block can be
// encoded once and reused on every stream without tracking the peer's dynamic table.
import { H2Error } from './errors.js'

/** RFC 7541 Appendix A, index 1..61 (entry 0 unused). */
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  ['', ''],
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''],
  ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
]

// The Huffman code of RFC 7541 Appendix B is canonical: the code lengths of the 257 symbols
// (256 octets and EOS) determine every code, assigned in order of (length, symbol).
const HUFFMAN_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
]
const EOS = 256

/** `HUFFMAN_CODES[s]` is symbol s's code (right-aligned in `HUFFMAN_LENGTHS[s]` bits). */
export const HUFFMAN_CODES: readonly number[] = (() => {
  const order = HUFFMAN_LENGTHS.map((len, sym) => ({ len, sym })).sort((a, b) => a.len - b.len || a.sym - b.sym)
  const codes = new Array<number>(HUFFMAN_LENGTHS.length).fill(0)
  let code = 0
  let len = order[0]!.len
  for (let i = 0; i < order.length; i++) {
    const e = order[i]!
    if (i > 0) code = (code + 1) * 2 ** (e.len - len)
    len = e.len
    codes[e.sym] = code
  }
  return codes
})()

// A binary trie over the codes: node n's children are TRIE[2n] (bit 0) and TRIE[2n+1] (bit 1);
// a value < 0 is a leaf holding ~symbol, 0 is "no such code".
const TRIE: Int32Array = (() => {
  const t = new Int32Array(2 * 512)
  let nodes = 1
  for (let sym = 0; sym < HUFFMAN_LENGTHS.length; sym++) {
    const len = HUFFMAN_LENGTHS[sym]!
    const code = HUFFMAN_CODES[sym]!
    let n = 0
    for (let b = len - 1; b >= 0; b--) {
      const bit = Math.floor(code / 2 ** b) & 1
      const slot = 2 * n + bit
      if (b === 0) t[slot] = ~sym
      else {
        if (t[slot] === 0) t[slot] = nodes++
        n = t[slot]!
      }
    }
  }
  return t
})()

function protocolError(message: string): H2Error {
  return new H2Error('ERR_SERVER_H2_PROTOCOL', `hpack: ${message}`)
}

/** Decodes a Huffman-coded string (RFC 7541 5.2), as latin1. */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string {
  let out = ''
  let node = 0
  let depth = 0 // bits consumed since the last symbol
  let ones = true // those bits were all 1 (a valid padding is a prefix of EOS)
  for (let i = start; i < end; i++) {
    const byte = src[i]!
    for (let b = 7; b >= 0; b--) {
      const bit = (byte >> b) & 1
      const next = TRIE[2 * node + bit]!
      depth++
      if (bit === 0) ones = false
      if (next < 0) {
        const sym = ~next
        if (sym === EOS) throw protocolError('a Huffman string contains EOS')
        out += String.fromCharCode(sym)
        node = 0
        depth = 0
        ones = true
      } else if (next === 0) {
        throw protocolError('an invalid Huffman code')
      } else node = next
    }
  }
  if (depth > 7 || !ones) throw protocolError('a Huffman string ends with invalid padding')
  return out
}

/** Huffman-encodes a latin1 string (used by tests, and by peers that want the smaller form). */
export function huffmanEncode(s: string): Buffer {
  const bytes: number[] = []
  let acc = 0
  let bits = 0
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff
    let len = HUFFMAN_LENGTHS[sym]!
    const code = HUFFMAN_CODES[sym]!
    while (len > 0) {
      const take = Math.min(len, 8 - bits)
      const chunk = Math.floor(code / 2 ** (len - take)) & ((1 << take) - 1)
      acc = (acc << take) | chunk
      bits += take
      len -= take
      if (bits === 8) {
        bytes.push(acc)
        acc = 0
        bits = 0
      }
    }
  }
  if (bits > 0) bytes.push(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff)
  return Buffer.from(bytes)
}

/** Appends an HPACK integer with an N-bit prefix; `first` holds the pattern bits above the prefix. */
export function encodeInt(out: number[], value: number, prefixBits: number, first: number): void {
  const max = (1 << prefixBits) - 1
  if (value < max) {
    out.push(first | value)
    return
  }
  out.push(first | max)
  value -= max
  while (value >= 128) {
    out.push((value % 128) + 128)
    value = Math.floor(value / 128)
  }
  out.push(value)
}

function encodeString(out: number[], s: string): void {
  encodeInt(out, s.length, 7, 0)
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i) & 0xff)
}

/**
 * Encodes a header list with no dynamic-table state: a static entry that matches name and value
 * is indexed, a static name is referenced, everything else is a literal without indexing.
 */
export function encodeHeaderBlock(headers: readonly (readonly [string, string])[]): Buffer {
  const out: number[] = []
  for (const [name, value] of headers) {
    let nameIndex = 0
    let fullIndex = 0
    for (let i = 1; i < STATIC_TABLE.length; i++) {
      const [n, v] = STATIC_TABLE[i]!
      if (n !== name) continue
      if (nameIndex === 0) nameIndex = i
      if (v === value) {
        fullIndex = i
        break
      }
    }
    if (fullIndex !== 0) encodeInt(out, fullIndex, 7, 0x80)
    else if (nameIndex !== 0) {
      encodeInt(out, nameIndex, 4, 0x00)
      encodeString(out, value)
    } else {
      out.push(0x00)
      encodeString(out, name)
      encodeString(out, value)
    }
  }
  return Buffer.from(out)
}

/** A decoded header list, in order; names are lower case (HTTP/2 requires it). Read-only to its receivers: `decodeAt` may hand the same list out again. */
export type HeaderList = [string, string][]

/** Header blocks up to this size are remembered by `decodeAt` (a request's block is ~50–150 bytes). */
const CACHED_BLOCK_BYTES = 512

/** The decoder side of one HTTP/2 connection's HPACK state. */
export class HpackDecoder {
  /** Newest entry last. */
  private readonly entries: [string, string][] = []
  private size = 0
  private maxSize: number
  /** Bumped whenever the dynamic table changes (an insertion, a size update). */
  private generation = 0
  /**
   * The last two distinct blocks `decodeAt` decoded that left the table as they found it, newest
   * first: their bytes, lists, and the table's generation then (two: a client's responses
   * alternate response headers and trailers).
   */
  private readonly recent: { block: Buffer; list: HeaderList; generation: number }[] = []

  /** `maxTableSizeBytes`: the SETTINGS_HEADER_TABLE_SIZE this endpoint advertised (4096 by default). */
  constructor(private readonly maxTableSizeBytes = 4096) {
    this.maxSize = maxTableSizeBytes
  }

  /**
   * `decode(buf[start, end))`, remembering the last two blocks that did not change the dynamic
   * table: the same bytes again, with the table as it was, decode to the same list, which is
   * returned without decoding (a client sends one header block per call, the same bytes call after call —
   * literals, or nghttp2's and grpc-go's dynamic-table references once indexed).
   */
  decodeAt(buf: Buffer, start: number, end: number): HeaderList {
    const len = end - start
    const generation = this.generation
    for (const r of this.recent) {
      if (r.generation === generation && r.block.length === len && buf.compare(r.block, 0, len, start, end) === 0) return r.list
    }
    const block = buf.subarray(start, end)
    const list = this.decode(block)
    if (this.generation === generation && len <= CACHED_BLOCK_BYTES) {
      this.recent.unshift({ block: Buffer.from(block), list, generation })
      if (this.recent.length > 2) this.recent.length = 2
    }
    return list
  }

  /** Decodes one complete header block (HEADERS plus its CONTINUATIONs). */
  decode(block: Uint8Array): HeaderList {
    const out: HeaderList = []
    let pos = 0
    const end = block.length
    const readInt = (prefixBits: number): number => {
      const max = (1 << prefixBits) - 1
      let value = block[pos++]! & max
      if (value < max) return value
      let shift = 1
      for (;;) {
        if (pos >= end) throw protocolError('an integer runs past the end of the header block')
        const b = block[pos++]!
        value += (b & 0x7f) * shift
        if ((b & 0x80) === 0) break
        shift *= 128
        if (shift > 2 ** 28) throw protocolError('an integer is too large')
      }
      return value
    }
    const readString = (): string => {
      if (pos >= end) throw protocolError('a string runs past the end of the header block')
      const huffman = (block[pos]! & 0x80) !== 0
      const len = readInt(7)
      if (pos + len > end) throw protocolError('a string runs past the end of the header block')
      const s = huffman ? huffmanDecode(block, pos, pos + len) : Buffer.from(block.buffer, block.byteOffset + pos, len).toString('latin1')
      pos += len
      return s
    }
    let fieldSeen = false
    while (pos < end) {
      const b = block[pos]!
      if ((b & 0x80) !== 0) {
        const index = readInt(7)
        out.push(this.lookup(index))
        fieldSeen = true
      } else if ((b & 0xc0) === 0x40) {
        const index = readInt(6)
        const name = index === 0 ? readString() : this.lookup(index)[0]
        const value = readString()
        out.push([name, value])
        this.insert(name, value)
        fieldSeen = true
      } else if ((b & 0xe0) === 0x20) {
        if (fieldSeen) throw protocolError('a dynamic table size update after a header field')
        const size = readInt(5)
        if (size > this.maxTableSizeBytes) throw protocolError(`a dynamic table size update to ${size} above the ${this.maxTableSizeBytes} bytes allowed`)
        this.maxSize = size
        this.generation++
        this.evict(0)
      } else {
        // 0000xxxx literal without indexing, 0001xxxx never indexed: both 4-bit prefix.
        const index = readInt(4)
        const name = index === 0 ? readString() : this.lookup(index)[0]
        out.push([name, readString()])
        fieldSeen = true
      }
    }
    return out
  }

  /** The dynamic table's current size in bytes (RFC 7541 4.1). */
  get tableSizeBytes(): number {
    return this.size
  }

  private lookup(index: number): [string, string] {
    if (index === 0) throw protocolError('index 0')
    if (index < STATIC_TABLE.length) {
      const e = STATIC_TABLE[index]!
      return [e[0], e[1]]
    }
    const e = this.entries[this.entries.length - 1 - (index - STATIC_TABLE.length)]
    if (e === undefined) throw protocolError(`index ${index} is past the dynamic table (${this.entries.length} entries)`)
    return e
  }

  private insert(name: string, value: string): void {
    this.generation++
    const entrySize = name.length + value.length + 32
    if (entrySize > this.maxSize) {
      this.entries.length = 0
      this.size = 0
      return
    }
    this.evict(entrySize)
    this.entries.push([name, value])
    this.size += entrySize
  }

  /** Evicts the oldest entries until `room` more bytes fit. */
  private evict(room: number): void {
    let drop = 0
    while (this.size + room > this.maxSize && drop < this.entries.length) {
      const [n, v] = this.entries[drop]!
      this.size -= n.length + v.length + 32
      drop++
    }
    if (drop > 0) this.entries.splice(0, drop)
  }
}
