// Protobuf wire primitives (base-128 varints, a field scanner) for the hand-written codecs of the
// bench client and the lean server's fast paths.

import { H2Error } from './errors.js'

/** Appends a base-128 varint of a non-negative safe integer. */
export function pushVarint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
}

/** A scanner over one message's top-level fields; `next()` returns false at the end. */
export class FieldReader {
  pos: number
  field = 0
  wire = 0
  /** For wire type 0: the value (exact below 2^53). */
  num = 0
  /** For wire type 2: the bytes' bounds. */
  start = 0
  end = 0

  constructor(readonly buf: Uint8Array, from = 0, private readonly limit = buf.length) {
    this.pos = from
  }

  next(): boolean {
    if (this.pos >= this.limit) return false
    const tag = this.varint()
    this.field = Math.floor(tag / 8)
    this.wire = tag & 7
    switch (this.wire) {
      case 0:
        this.start = this.pos
        this.num = this.varint()
        this.end = this.pos
        break
      case 1:
        this.start = this.pos
        this.pos += 8
        this.end = this.pos
        break
      case 2: {
        const len = this.varint()
        this.start = this.pos
        this.pos += len
        this.end = this.pos
        break
      }
      case 5:
        this.start = this.pos
        this.pos += 4
        this.end = this.pos
        break
      default:
        throw new H2Error('ERR_SERVER_H2_PROTOCOL', `protobuf: wire type ${this.wire} at byte ${this.pos}`)
    }
    if (this.pos > this.limit) throw new H2Error('ERR_SERVER_H2_PROTOCOL', `protobuf: field ${this.field} runs past the end of its message`)
    return true
  }

  private varint(): number {
    let v = 0
    let mul = 1
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.limit) throw new H2Error('ERR_SERVER_H2_PROTOCOL', 'protobuf: a varint runs past the end of its message')
      const b = this.buf[this.pos++]!
      v += (b & 0x7f) * mul
      if (b < 0x80) return v
      mul *= 128
    }
    throw new H2Error('ERR_SERVER_H2_PROTOCOL', 'protobuf: a varint longer than 10 bytes')
  }
}

