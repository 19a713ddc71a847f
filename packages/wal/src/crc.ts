import { crc32 } from 'node:zlib'

/**
 * CRC-32/IEEE (zlib's) tables for slicing by 8: table t maps a byte to its CRC contribution t
 * bytes further on. Table 0 alone is the classic byte-at-a-time table.
 */
const TABLES = (() => {
  const t = new Int32Array(8 * 256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c
  }
  for (let n = 0; n < 256; n++) for (let k = 1; k < 8; k++) t[k * 256 + n] = (t[(k - 1) * 256 + n]! >>> 8) ^ t[t[(k - 1) * 256 + n]! & 0xff]!
  return t
})()

/**
 * Up to this many bytes the CRC is computed in JavaScript: `zlib.crc32` costs ~0.3 µs a call
 * before its first byte (argument checks, a non-fast native call, a subarray to make), which is
 * more than slicing by 8 in JS takes for a hard state, a snapshot record or a 100-byte entry
 * (measured: 40 bytes 0.08 against 0.29 µs, 140 bytes 0.22 against 0.47; about even at 300).
 */
export const JS_CRC_MAX_BYTES = 256

/** CRC-32 of `buf[start..end)`, as `zlib.crc32(buf.subarray(start, end))` returns it. */
export function crc32Range(buf: Uint8Array, start: number, end: number): number {
  if (end - start > JS_CRC_MAX_BYTES) return crc32(buf.subarray(start, end))
  const t = TABLES
  let c = -1
  let i = start
  for (; i + 8 <= end; i += 8) {
    const a = c ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24))
    c = t[1792 + (a & 0xff)]! ^ t[1536 + ((a >>> 8) & 0xff)]! ^ t[1280 + ((a >>> 16) & 0xff)]! ^ t[1024 + (a >>> 24)]! ^
      t[768 + buf[i + 4]!]! ^ t[512 + buf[i + 5]!]! ^ t[256 + buf[i + 6]!]! ^ t[buf[i + 7]!]!
  }
  for (; i < end; i++) c = t[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8)
  return ~c >>> 0
}

/**
 * The chain step: `zlib.crc32(le32(word), prev)`, i.e. the CRC-32 of the frame checksum's four
 * little-endian bytes continued from the previous chain value.
 */
export function chainStep(word: number, prev: number): number {
  const t = TABLES
  let c = ~prev
  c = t[(c ^ word) & 0xff]! ^ (c >>> 8)
  c = t[(c ^ (word >>> 8)) & 0xff]! ^ (c >>> 8)
  c = t[(c ^ (word >>> 16)) & 0xff]! ^ (c >>> 8)
  c = t[(c ^ (word >>> 24)) & 0xff]! ^ (c >>> 8)
  return ~c >>> 0
}
