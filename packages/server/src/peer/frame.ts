import { crc32 } from 'node:zlib'

/**
 * The peer wire format (FORMAT.md-style, in prose). Every frame is
 *
 *   u32 BE  length   bytes of the payload (the header is not counted)
 *   u32 BE  crc      CRC-32/IEEE (zlib.crc32) of the type byte followed by the payload
 *   u8      type     HELLO 1, HELLO_OK 2, REJECT 3, MESSAGE 4, MEMBERS_REQUEST 5, MEMBERS 6
 *   bytes   payload
 *
 * A connection is opened by the dialing member with one HELLO (version u8 = 1, cluster id
 * u64 BE, sender member id u64 BE, intended receiver member id u64 BE). The listener answers
 * HELLO_OK, or REJECT (a UTF-8 reason) and closes. After HELLO_OK the dialer sends MESSAGE
 * frames only, one raft/embed message each; the listener never sends anything else. A frame
 * longer than the receiver's maximum, a CRC mismatch or an unexpected type closes the
 * connection: nothing of a bad frame is delivered.
 *
 * Instead of a HELLO, a process may open with MEMBERS_REQUEST (cluster id u64 BE): the listener
 * answers MEMBERS (UTF-8 JSON: `[{ id, name, peerUrls, isLearner }]`, the membership it has
 * applied) or REJECT, and closes. A member started with `--initial-cluster-state existing`
 * asks this of its peers to learn the id `member add` gave it (etcd asks GET /members on a
 * peer URL for the same reason).
 */
export const FRAME_HELLO = 1
export const FRAME_HELLO_OK = 2
export const FRAME_REJECT = 3
export const FRAME_MESSAGE = 4
export const FRAME_MEMBERS_REQUEST = 5
export const FRAME_MEMBERS = 6
export const HEADER_BYTES = 9
export const PROTOCOL_VERSION = 1
const HELLO_BYTES = 25

/** One frame: header and payload in one buffer, ready to write. */
export function encodeFrame(type: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length)
  out.writeUInt32BE(payload.length, 0)
  out[8] = type
  out.set(payload, HEADER_BYTES)
  out.writeUInt32BE(crc32(out.subarray(8)), 4)
  return out
}

export interface Hello {
  readonly version: number
  readonly clusterId: number
  readonly from: number
  readonly to: number
}

export function encodeHello(h: Hello): Buffer {
  const b = Buffer.alloc(HELLO_BYTES)
  b[0] = h.version
  b.writeBigUInt64BE(BigInt(h.clusterId), 1)
  b.writeBigUInt64BE(BigInt(h.from), 9)
  b.writeBigUInt64BE(BigInt(h.to), 17)
  return encodeFrame(FRAME_HELLO, b)
}

/** The hello in `payload`, or a reason it is not one. Ids above 2^53 are refused (not safe integers). */
export function decodeHello(payload: Buffer): Hello | string {
  if (payload.length !== HELLO_BYTES) return `a hello is ${HELLO_BYTES} bytes, got ${payload.length}`
  const ids = [1, 9, 17].map((at) => payload.readBigUInt64BE(at))
  if (ids.some((v) => v > BigInt(Number.MAX_SAFE_INTEGER))) return 'an id in the hello is above 2^53'
  return { version: payload[0]!, clusterId: Number(ids[0]), from: Number(ids[1]), to: Number(ids[2]) }
}

/** A decoded frame. `payload` is a view into a buffer the decoder no longer uses. */
export interface Frame {
  readonly type: number
  readonly payload: Buffer
}

/**
 * Cuts a byte stream into frames. Incoming chunks are kept in a list and joined once a whole
 * frame is present, so a 1 MiB frame arriving in 64 KiB chunks is copied once, not sixteen
 * times. Invariant: `#buffered` is the sum of the chunks' lengths and never exceeds
 * HEADER_BYTES + maxFrameBytes + one chunk.
 */
export class FrameDecoder {
  readonly #maxFrameBytes: number
  #chunks: Buffer[] = []
  #buffered = 0

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes
  }

  /**
   * Adds `chunk` and hands each complete frame to `onFrame`, in order; stops early when
   * `onFrame` returns false. Returns a string saying why the stream is bad (the frames before
   * the bad one were handed over; nothing after it is), else undefined.
   */
  push(chunk: Buffer, onFrame: (frame: Frame) => boolean): string | undefined {
    this.#chunks.push(chunk)
    this.#buffered += chunk.length
    for (;;) {
      if (this.#buffered < HEADER_BYTES) return undefined
      const head = this.#peekHeader()
      const length = head.readUInt32BE(0)
      if (length > this.#maxFrameBytes) return `frame of ${length} bytes is above the maximum of ${this.#maxFrameBytes}`
      if (this.#buffered < HEADER_BYTES + length) return undefined
      const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#buffered)
      const frame = all.subarray(0, HEADER_BYTES + length)
      if (crc32(frame.subarray(8)) !== frame.readUInt32BE(4)) return 'frame checksum mismatch'
      const rest = all.subarray(HEADER_BYTES + length)
      this.#chunks = rest.length > 0 ? [rest] : []
      this.#buffered = rest.length
      if (!onFrame({ type: frame[8]!, payload: frame.subarray(HEADER_BYTES) })) return undefined
    }
  }

  #peekHeader(): Buffer {
    const first = this.#chunks[0]!
    if (first.length >= HEADER_BYTES) return first
    const joined = Buffer.concat(this.#chunks, this.#buffered)
    this.#chunks = [joined]
    return joined
  }
}
