// What the lean HTTP/2 client and server share: reading frames off a byte stream, HPACK-decoding
// header blocks (HEADERS + CONTINUATION), gRPC message framing (5-byte prefix), flow control in
// both directions (WINDOW_UPDATE as received data is consumed; DATA queued while the peer's
// windows are shut), SETTINGS and PING, and one output slab written with one socket write per
// event-loop turn (reused once the socket took it whole).
import type { Duplex } from 'node:stream'
import { TLSSocket } from 'node:tls'
import { H2Error } from './errors.js'
import {
  DEFAULT_MAX_FRAME, DEFAULT_WINDOW, FLAG_ACK, FLAG_END_HEADERS, FLAG_END_STREAM, FLAG_PADDED, FLAG_PRIORITY, FRAME_CONTINUATION,
  FRAME_DATA, FRAME_GOAWAY, FRAME_HEADERS, FRAME_PING, FRAME_PUSH_PROMISE, FRAME_RST_STREAM, FRAME_SETTINGS, FRAME_WINDOW_UPDATE,
  H2_PROTOCOL_ERROR, MAX_WINDOW, SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_MAX_FRAME_SIZE, frame,
  windowUpdatePayload, writeFrameHeader,
} from './frames.js'
import { type HeaderList, HpackDecoder } from './hpack.js'

/** The per-stream state the shared machinery keeps; client and server streams extend it. */
export interface StreamState {
  readonly id: number
  sendWindow: number
  recvUnacked: number
  /** Bytes of an incomplete gRPC message. */
  partial: Buffer | undefined
  done: boolean
}

interface PendingData<S extends StreamState> {
  stream: S
  bytes: Buffer
  offset: number
  end: boolean
}

const SLAB_BYTES = 64 * 1024
const MAX_HEADER_BLOCK_BYTES = 256 * 1024

export interface SessionLimits {
  /** The receive window advertised per stream (SETTINGS_INITIAL_WINDOW_SIZE), bytes. */
  readonly streamWindowBytes: number
  /** The connection's receive window, bytes. */
  readonly connectionWindowBytes: number
  /** The largest gRPC message accepted, bytes. */
  readonly maxMessageBytes: number
  /** Bytes of incomplete messages held across all streams of the connection; more is a connection error. */
  readonly maxBufferedBytes: number
}

export function intOption(options: object, name: string, def: number, min: number, max: number): number {
  const v = (options as Record<string, unknown>)[name]
  if (v === undefined) return def
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new H2Error('ERR_SERVER_INVALID_OPTION', `h2: option ${name} is ${String(v)}; it must be an integer from ${min} to ${max}`, { option: name, value: v })
  }
  return v
}

export function sessionLimits(options: object, maxMessageDefault: number): SessionLimits {
  return {
    streamWindowBytes: intOption(options, 'streamWindowBytes', 4 << 20, DEFAULT_WINDOW, MAX_WINDOW),
    connectionWindowBytes: intOption(options, 'connectionWindowBytes', 64 << 20, DEFAULT_WINDOW, MAX_WINDOW),
    maxMessageBytes: intOption(options, 'maxMessageBytes', maxMessageDefault, 1, MAX_WINDOW),
    maxBufferedBytes: intOption(options, 'maxBufferedBytes', 256 << 20, 1, Number.MAX_SAFE_INTEGER),
  }
}

export abstract class H2Session<S extends StreamState> {
  protected readonly decoder = new HpackDecoder()
  protected readonly streams = new Map<number, S>()
  protected peerMaxConcurrent = Number.MAX_SAFE_INTEGER
  protected peerInitialWindow = DEFAULT_WINDOW
  protected peerMaxFrame = DEFAULT_MAX_FRAME
  protected failure: H2Error | undefined
  private readonly blocked: PendingData<S>[] = []
  private blockedBytes = 0
  private partialBytes = 0
  private connSendWindow = DEFAULT_WINDOW
  private connRecvUnacked = 0
  private pending: Buffer | undefined
  private headerStream = 0
  private headerFlags = 0
  private headerParts: Buffer[] = []
  private headerBytes = 0
  /** The output slab: [0, slabStart) went to the socket, [slabStart, slabPos) waits for the flush. */
  private slab = Buffer.allocUnsafe(SLAB_BYTES)
  private slabStart = 0
  private slabPos = 0
  private chunks: Buffer[] = []
  private flushScheduled = false
  /** A plain TCP socket copies what it took into the kernel: a slab written out whole is reused (TLS keeps its own rules: never). */
  private readonly reuseSlab: boolean

  protected constructor(protected readonly socket: Duplex, protected readonly limits: SessionLimits) {
    this.reuseSlab = !(socket instanceof TLSSocket)
  }

  // ------------------------------------------------------------ hooks

  /** A complete header block arrived on `sid` (decoded with the connection's HPACK state). */
  protected abstract onHeaderList(sid: number, endStream: boolean, headers: HeaderList): void
  /** One whole gRPC message on stream `s`. */
  protected abstract onMessage(s: S, message: Buffer): void
  /** DATA with END_STREAM on `s` (after its messages were delivered). */
  protected abstract onDataEnd(s: S): void
  /** The peer reset `s`. */
  protected abstract onReset(s: S, code: number): void
  /** The peer sent GOAWAY. */
  protected abstract onGoaway(lastStreamId: number, code: number, debug: string): void
  /** The peer's SETTINGS were applied (and acknowledged). */
  protected abstract onSettings(): void
  /** A connection error: the session is unusable; fail everything. */
  protected abstract fail(err: H2Error): void

  // ------------------------------------------------------------ receiving

  /** Feeds bytes read from the socket. */
  protected onBytes(chunk: Buffer): void {
    let buf = chunk
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, chunk])
      this.pending = undefined
    }
    let pos = 0
    const n = buf.length
    try {
      while (n - pos >= 9) {
        const len = (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]!
        if (len > DEFAULT_MAX_FRAME) throw this.protocolError(`a frame of ${len} bytes, above the ${DEFAULT_MAX_FRAME} this end allows`)
        if (n - pos - 9 < len) break
        const type = buf[pos + 3]!
        const flags = buf[pos + 4]!
        const sid = buf.readUInt32BE(pos + 5) & 0x7fffffff
        pos += 9
        this.onFrame(type, flags, sid, buf, pos, pos + len)
        pos += len
        if (this.failure !== undefined) return
      }
    } catch (e) {
      this.connectionError(e)
      return
    }
    if (pos < n) this.pending = pos === 0 ? buf : buf.subarray(pos)
  }

  /** Ends the session on a protocol error: GOAWAY, fail everything, destroy the socket. */
  protected connectionError(e: unknown): void {
    const err = e instanceof H2Error ? e : new H2Error('ERR_SERVER_H2_PROTOCOL', `h2: ${(e as Error).message}`, undefined, { cause: e })
    this.sendGoaway(H2_PROTOCOL_ERROR, err.message)
    this.fail(err)
    this.socket.destroy()
  }

  protected protocolError(message: string): H2Error {
    return new H2Error('ERR_SERVER_H2_PROTOCOL', `h2: ${message}`)
  }

  private onFrame(type: number, flags: number, sid: number, buf: Buffer, start: number, end: number): void {
    if (this.headerStream !== 0 && type !== FRAME_CONTINUATION) throw this.protocolError(`a frame of type ${type} inside a header block`)
    switch (type) {
      case FRAME_DATA: {
        if (sid === 0) throw this.protocolError('DATA on stream 0')
        const len = end - start
        if ((flags & FLAG_PADDED) !== 0) {
          const pad = buf[start]!
          start++
          end -= pad
          if (end < start) throw this.protocolError('DATA padding longer than the frame')
        }
        this.connRecvUnacked += len
        if (this.connRecvUnacked >= this.limits.connectionWindowBytes / 2) {
          this.control(FRAME_WINDOW_UPDATE, 0, 0, windowUpdatePayload(this.connRecvUnacked))
          this.connRecvUnacked = 0
        }
        const s = this.streams.get(sid)
        if (s === undefined || s.done) return
        const endStream = (flags & FLAG_END_STREAM) !== 0
        s.recvUnacked += len
        if (!endStream && s.recvUnacked >= this.limits.streamWindowBytes / 2) {
          this.control(FRAME_WINDOW_UPDATE, 0, sid, windowUpdatePayload(s.recvUnacked))
          s.recvUnacked = 0
        }
        this.feed(s, buf, start, end)
        if (endStream && !s.done) this.onDataEnd(s)
        return
      }
      case FRAME_HEADERS: {
        if (sid === 0) throw this.protocolError('HEADERS on stream 0')
        if ((flags & FLAG_PADDED) !== 0) {
          const pad = buf[start]!
          start++
          end -= pad
          if (end < start) throw this.protocolError('HEADERS padding longer than the frame')
        }
        if ((flags & FLAG_PRIORITY) !== 0) start += 5
        if (start > end) throw this.protocolError('a HEADERS frame shorter than its priority fields')
        if ((flags & FLAG_END_HEADERS) !== 0) this.onHeaderList(sid, (flags & FLAG_END_STREAM) !== 0, this.decoder.decodeAt(buf, start, end))
        else {
          this.headerStream = sid
          this.headerFlags = flags
          this.headerParts = [Buffer.from(buf.subarray(start, end))]
          this.headerBytes = end - start
        }
        return
      }
      case FRAME_CONTINUATION: {
        if (this.headerStream === 0 || sid !== this.headerStream) throw this.protocolError(`CONTINUATION on stream ${sid} outside its header block`)
        this.headerBytes += end - start
        if (this.headerBytes > MAX_HEADER_BLOCK_BYTES) throw this.protocolError(`a header block above ${MAX_HEADER_BLOCK_BYTES} bytes`)
        this.headerParts.push(Buffer.from(buf.subarray(start, end)))
        if ((flags & FLAG_END_HEADERS) !== 0) {
          const block = Buffer.concat(this.headerParts)
          this.headerStream = 0
          this.headerParts = []
          this.onHeaderList(sid, (this.headerFlags & FLAG_END_STREAM) !== 0, this.decoder.decode(block))
        }
        return
      }
      case FRAME_RST_STREAM: {
        if (end - start !== 4) throw this.protocolError('RST_STREAM of a length other than 4')
        const s = this.streams.get(sid)
        if (s !== undefined && !s.done) this.onReset(s, buf.readUInt32BE(start))
        return
      }
      case FRAME_SETTINGS: {
        if (sid !== 0) throw this.protocolError('SETTINGS on a stream')
        if ((flags & FLAG_ACK) !== 0) return
        if ((end - start) % 6 !== 0) throw this.protocolError('SETTINGS of a length not a multiple of 6')
        for (let p = start; p < end; p += 6) {
          const id = buf.readUInt16BE(p)
          const value = buf.readUInt32BE(p + 2)
          if (id === SETTINGS_MAX_CONCURRENT_STREAMS) this.peerMaxConcurrent = value
          else if (id === SETTINGS_INITIAL_WINDOW_SIZE) {
            if (value > MAX_WINDOW) throw this.protocolError(`SETTINGS_INITIAL_WINDOW_SIZE ${value} above 2^31-1`)
            const delta = value - this.peerInitialWindow
            this.peerInitialWindow = value
            for (const s of this.streams.values()) s.sendWindow += delta
          } else if (id === SETTINGS_MAX_FRAME_SIZE) {
            if (value < DEFAULT_MAX_FRAME || value > 0xffffff) throw this.protocolError(`SETTINGS_MAX_FRAME_SIZE ${value} out of bounds`)
            this.peerMaxFrame = value
          }
          // HEADER_TABLE_SIZE: the encoder never indexes, so any size suits it. ENABLE_PUSH: never pushes.
        }
        this.control(FRAME_SETTINGS, FLAG_ACK, 0, Buffer.alloc(0))
        this.drain()
        this.onSettings()
        return
      }
      case FRAME_PING: {
        if (sid !== 0 || end - start !== 8) throw this.protocolError('PING on a stream or of a length other than 8')
        if ((flags & FLAG_ACK) === 0) this.control(FRAME_PING, FLAG_ACK, 0, Buffer.from(buf.subarray(start, end)))
        return
      }
      case FRAME_GOAWAY: {
        if (end - start < 8) throw this.protocolError('GOAWAY shorter than 8 bytes')
        this.onGoaway(buf.readUInt32BE(start) & 0x7fffffff, buf.readUInt32BE(start + 4), buf.subarray(start + 8, end).toString('utf8'))
        return
      }
      case FRAME_WINDOW_UPDATE: {
        if (end - start !== 4) throw this.protocolError('WINDOW_UPDATE of a length other than 4')
        const inc = buf.readUInt32BE(start) & 0x7fffffff
        if (inc === 0) throw this.protocolError('WINDOW_UPDATE of 0')
        if (sid === 0) this.connSendWindow += inc
        else {
          const s = this.streams.get(sid)
          if (s !== undefined) s.sendWindow += inc
        }
        this.drain()
        return
      }
      case FRAME_PUSH_PROMISE:
        throw this.protocolError('PUSH_PROMISE (push is disabled)')
      default:
        return // PRIORITY and unknown frame types are ignored (RFC 9113 4.1, 5.5)
    }
  }

  /** Splits DATA payload bytes into gRPC messages (5-byte prefix: flag, big-endian length). */
  private feed(s: S, buf: Buffer, start: number, end: number): void {
    if (s.partial !== undefined) {
      buf = Buffer.concat([s.partial, buf.subarray(start, end)])
      start = 0
      end = buf.length
      this.dropPartial(s)
    }
    let p = start
    while (end - p >= 5) {
      if (buf[p] !== 0) throw this.protocolError(`a compressed gRPC message on stream ${s.id} although no compression was offered`)
      const len = buf.readUInt32BE(p + 1)
      if (len > this.limits.maxMessageBytes) throw this.protocolError(`a gRPC message of ${len} bytes, above the ${this.limits.maxMessageBytes} allowed`)
      if (end - p - 5 < len) break
      const msg = buf.subarray(p + 5, p + 5 + len)
      p += 5 + len
      if (!s.done) this.onMessage(s, msg)
    }
    if (p < end && !s.done) {
      s.partial = Buffer.from(buf.subarray(p, end))
      this.partialBytes += s.partial.length
      if (this.partialBytes > this.limits.maxBufferedBytes) throw this.protocolError(`${this.partialBytes} bytes of incomplete messages held, above the ${this.limits.maxBufferedBytes} allowed`)
    }
  }

  /** Forgets the incomplete message of `s` (consumed, or the stream ended). */
  protected dropPartial(s: S): void {
    if (s.partial === undefined) return
    this.partialBytes -= s.partial.length
    s.partial = undefined
  }

  // ------------------------------------------------------------ sending

  /** Bytes of DATA waiting for the peer's flow-control windows. */
  protected get queuedBytes(): number {
    return this.blockedBytes
  }

  /** Writes a header block as one HEADERS frame (blocks are encoded by this end and kept under one frame). */
  protected sendHeaders(sid: number, block: Buffer, endStream: boolean): void {
    const at = this.reserve(9 + block.length)
    writeFrameHeader(this.slab, at, block.length, FRAME_HEADERS, FLAG_END_HEADERS | (endStream ? FLAG_END_STREAM : 0), sid)
    block.copy(this.slab, at + 9)
  }

  /**
   * A whole unary response in one reservation of the output: HEADERS `headers`, one DATA frame
   * holding a gRPC message of `size` bytes, then the trailers `trailers` (END_STREAM) — when no
   * DATA is queued and the flow-control windows take the message at once. Returns the offset in
   * `outputSlab` where the message's bytes go (the caller writes them before the turn ends), or
   * undefined: send the parts one by one.
   */
  protected reserveUnary(s: S, headers: Buffer, size: number, trailers: Buffer): number | undefined {
    const total = 5 + size
    if (this.blocked.length !== 0 || total > this.connSendWindow || total > s.sendWindow || total > this.peerMaxFrame) return undefined
    let p = this.reserve(27 + headers.length + total + trailers.length)
    const slab = this.slab
    writeFrameHeader(slab, p, headers.length, FRAME_HEADERS, FLAG_END_HEADERS, s.id)
    headers.copy(slab, p + 9)
    p += 9 + headers.length
    writeFrameHeader(slab, p, total, FRAME_DATA, 0, s.id)
    slab[p + 9] = 0
    slab.writeUInt32BE(size, p + 10)
    const at = p + 14
    p = at + size
    writeFrameHeader(slab, p, trailers.length, FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, s.id)
    trailers.copy(slab, p + 9)
    this.connSendWindow -= total
    s.sendWindow -= total
    return at
  }

  /** The buffer `reserveUnary`'s offset points into. */
  protected get outputSlab(): Buffer {
    return this.slab
  }

  /** Sends one gRPC message on `s` (copied at once), with END_STREAM when `end`. */
  sendMessage(s: S, message: Uint8Array, end: boolean): void {
    const total = 5 + message.length
    if (this.blocked.length === 0 && total <= this.connSendWindow && total <= s.sendWindow && total <= this.peerMaxFrame) {
      const at = this.reserve(9 + total)
      const slab = this.slab
      writeFrameHeader(slab, at, total, FRAME_DATA, end ? FLAG_END_STREAM : 0, s.id)
      slab[at + 9] = 0
      slab.writeUInt32BE(message.length, at + 10)
      slab.set(message, at + 14)
      this.connSendWindow -= total
      s.sendWindow -= total
      return
    }
    const bytes = Buffer.allocUnsafe(total)
    bytes[0] = 0
    bytes.writeUInt32BE(message.length, 1)
    bytes.set(message, 5)
    this.blocked.push({ stream: s, bytes, offset: 0, end })
    this.blockedBytes += total
    this.drain()
  }

  /** Half-closes `s` (an empty DATA frame with END_STREAM, behind any data still queued). */
  sendEnd(s: S): void {
    this.blocked.push({ stream: s, bytes: Buffer.alloc(0), offset: 0, end: true })
    this.drain()
  }

  /** Sends a header block that ends the stream after the DATA queued for it (trailers). */
  protected sendTrailers(s: S, block: Buffer): void {
    if (this.blocked.length === 0) {
      this.sendHeaders(s.id, block, true)
      this.afterTrailers(s)
    } else {
      this.blocked.push({ stream: s, bytes: block, offset: -1, end: true })
      this.drain()
    }
  }

  protected sendReset(sid: number, code: number): void {
    const p = Buffer.allocUnsafe(4)
    p.writeUInt32BE(code, 0)
    this.control(FRAME_RST_STREAM, 0, sid, p)
  }

  protected sendGoaway(code: number, debug = ''): void {
    if (this.socket.destroyed) return
    const d = Buffer.from(debug.slice(0, 200))
    const p = Buffer.allocUnsafe(8 + d.length)
    p.writeUInt32BE(this.lastStreamId(), 0)
    p.writeUInt32BE(code, 4)
    d.copy(p, 8)
    this.control(FRAME_GOAWAY, 0, 0, p)
    this.flush()
  }

  /** The GOAWAY last-stream-id this end reports. */
  protected abstract lastStreamId(): number

  /** Writes queued DATA (and trailers queued behind it) as the flow-control windows allow, in order. */
  protected drain(): void {
    while (this.blocked.length > 0) {
      const item = this.blocked[0]!
      const s = item.stream
      if (s.done && item.offset >= 0) {
        this.blocked.shift()
        this.blockedBytes -= item.bytes.length - Math.max(0, item.offset)
        continue
      }
      if (item.offset === -1) {
        // trailers: not flow-controlled
        this.blocked.shift()
        this.sendHeaders(s.id, item.bytes, true)
        this.afterTrailers(s)
        continue
      }
      const left = item.bytes.length - item.offset
      const n = Math.min(left, this.connSendWindow, s.sendWindow, this.peerMaxFrame)
      if (n <= 0 && left > 0) return
      const last = n === left
      const at = this.reserve(9 + n)
      writeFrameHeader(this.slab, at, n, FRAME_DATA, last && item.end ? FLAG_END_STREAM : 0, s.id)
      item.bytes.copy(this.slab, at + 9, item.offset, item.offset + n)
      item.offset += n
      this.blockedBytes -= n
      this.connSendWindow -= n
      s.sendWindow -= n
      if (last) this.blocked.shift()
    }
    this.onDrained()
  }

  /** Trailers queued behind DATA went out on `s`. */
  protected afterTrailers(_s: S): void {}

  /** The DATA queue emptied (or shrank as far as the windows allow). */
  protected onDrained(): void {}

  protected dropQueued(): void {
    this.blocked.length = 0
    this.blockedBytes = 0
  }

  /** Room for `n` bytes in the slab; returns the offset to write at and schedules a flush. */
  private reserve(n: number): number {
    if (this.slabPos + n > this.slab.length) {
      this.takeSlab()
      this.slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, n))
      this.slabStart = 0
      this.slabPos = 0
    }
    const at = this.slabPos
    this.slabPos += n
    this.scheduleFlush()
    return at
  }

  /** Moves the slab's unflushed bytes to the output chunks (a view: the slab's later bytes stay free to fill). */
  private takeSlab(): void {
    if (this.slabPos === this.slabStart) return
    this.chunks.push(this.slab.subarray(this.slabStart, this.slabPos))
    this.slabStart = this.slabPos
  }

  /** Queues a control frame (in order with everything written before it). */
  protected control(type: number, flags: number, streamId: number, payload: Uint8Array): void {
    this.takeSlab()
    this.chunks.push(frame(type, flags, streamId, payload))
    this.scheduleFlush()
  }

  /** Queues raw bytes (the client's connection preface). */
  protected raw(bytes: Buffer): void {
    this.takeSlab()
    this.chunks.push(bytes)
    this.scheduleFlush()
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    process.nextTick(() => this.flush())
  }

  protected flush(): void {
    this.flushScheduled = false
    this.takeSlab()
    if (this.chunks.length === 0) return
    const out = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks)
    this.chunks = []
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(out)
    // Written through to the kernel (nothing left in the stream or libuv): no view of the slab
    // is held anywhere, so it is filled again from its start instead of allocating another.
    if (this.reuseSlab && this.socket.writableLength === 0) this.slabStart = this.slabPos = 0
  }
}
