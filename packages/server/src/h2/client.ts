// A lean HTTP/2 + gRPC client over node:net for `strata bench`: many streams over one TCP
// connection, header blocks encoded once per method, request frames written into one slab per
// event-loop turn, responses parsed in place. It speaks to grpc-go (etcd) and grpc-js
// (node:http2 / nghttp2) servers: SETTINGS and their ACKs, HPACK with the peer's dynamic table
// and Huffman strings, DATA flow control in both directions, RST_STREAM, GOAWAY, PING.
import { type Socket, connect } from 'node:net'
import { H2Error } from './errors.js'
import {
  DEFAULT_MAX_FRAME, DEFAULT_WINDOW, FLAG_ACK, FLAG_END_HEADERS, FLAG_END_STREAM, FLAG_PADDED, FLAG_PRIORITY, FRAME_CONTINUATION,
  FRAME_DATA, FRAME_GOAWAY, FRAME_HEADERS, FRAME_PING, FRAME_PUSH_PROMISE, FRAME_RST_STREAM, FRAME_SETTINGS, FRAME_WINDOW_UPDATE,
  H2_CANCEL, H2_NO_ERROR, H2_PROTOCOL_ERROR, MAX_WINDOW, PREFACE, SETTINGS_ENABLE_PUSH, SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_MAX_FRAME_SIZE, frame, settingsPayload, windowUpdatePayload, writeFrameHeader,
} from './frames.js'
import { type HeaderList, HpackDecoder, encodeHeaderBlock } from './hpack.js'

export interface H2ConnectOptions {
  /** The receive window this client advertises for each stream (SETTINGS_INITIAL_WINDOW_SIZE), bytes. Default 4 MiB; 65,535 to 2^31-1. */
  readonly streamWindowBytes?: number
  /** The connection's receive window, bytes. Default 64 MiB; 65,535 to 2^31-1. */
  readonly connectionWindowBytes?: number
  /** How long to wait for the TCP connection and the server's first SETTINGS, ms. Default 5000. */
  readonly connectTimeoutMs?: number
  /** The largest gRPC message accepted from the server, bytes (a larger prefix is a protocol error). Default 64 MiB. */
  readonly maxMessageBytes?: number
}

/** A unary call's completion: the response message, or an H2Error (a grpc-status, a reset, a closed connection). */
export type UnaryCallback = (err: H2Error | null, message: Buffer | undefined) => void

export interface StreamHandlers {
  /** One gRPC message from the server (a view into the receive buffer: copy it to keep it past the callback). */
  onMessage(message: Buffer): void
  /** The stream ended: `null` for grpc-status 0, else the error. Called once. */
  onEnd(err: H2Error | null): void
}

/** A bidirectional (or client-streaming) gRPC call. */
export interface GrpcStream {
  readonly id: number
  /** Sends one message (copied at once: the caller may reuse its buffer). */
  send(message: Uint8Array): void
  /** Half-closes the request side (the server may go on sending). */
  end(): void
  /** Resets the stream (RST_STREAM CANCEL); `onEnd` is not called after it. */
  cancel(): void
}

interface Stream {
  id: number
  cb: UnaryCallback | undefined
  handlers: StreamHandlers | undefined
  message: Buffer | undefined
  partial: Buffer | undefined
  sendWindow: number
  recvUnacked: number
  headersSeen: boolean
  done: boolean
}

interface PendingData {
  stream: Stream
  bytes: Buffer
  offset: number
  end: boolean
}

interface WaitingCall {
  headerBlock: Buffer
  message: Buffer
  cb: UnaryCallback | undefined
  handlers: StreamHandlers | undefined
  handle: StreamHandle | undefined
}

const SLAB_BYTES = 64 * 1024
const MAX_STREAM_ID = 0x7fffffff
const MAX_HEADER_BLOCK_BYTES = 256 * 1024

function invalidOption(name: string, value: unknown, bounds: string): H2Error {
  return new H2Error('ERR_SERVER_INVALID_OPTION', `h2: option ${name} is ${String(value)}; it must be ${bounds}`, { option: name, value })
}

function intOption(options: Record<string, unknown>, name: string, def: number, min: number, max: number): number {
  const v = options[name]
  if (v === undefined) return def
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw invalidOption(name, v, `an integer from ${min} to ${max}`)
  return v
}

/** Parses `host:port`, `http://host:port` or `[v6]:port`. */
export function parseEndpoint(endpoint: string): { host: string; port: number } {
  const m = /^(?:https?:\/\/)?(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(endpoint)
  const port = m === null ? NaN : Number(m[2])
  if (m === null || port < 1 || port > 65535) {
    throw new H2Error('ERR_SERVER_INVALID_ARGUMENT', `h2: endpoint ${JSON.stringify(endpoint)} is not host:port (e.g. 127.0.0.1:2379)`, { endpoint })
  }
  const host = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!
  return { host, port }
}

class StreamHandle implements GrpcStream {
  stream: Stream | undefined
  /** Messages sent before the stream could start (MAX_CONCURRENT_STREAMS reached). */
  early: Buffer[] = []
  endEarly = false
  cancelled = false
  constructor(private readonly conn: H2Connection) {}
  get id(): number {
    return this.stream?.id ?? 0
  }
  send(message: Uint8Array): void {
    if (this.cancelled) return
    if (this.stream === undefined) this.early.push(Buffer.from(message))
    else if (!this.stream.done) this.conn.sendMessage(this.stream, message, false)
  }
  end(): void {
    if (this.cancelled) return
    if (this.stream === undefined) this.endEarly = true
    else if (!this.stream.done) this.conn.sendEnd(this.stream)
  }
  cancel(): void {
    if (this.cancelled) return
    this.cancelled = true
    if (this.stream !== undefined && !this.stream.done) this.conn.reset(this.stream, H2_CANCEL)
  }
}

/** One HTTP/2 connection to a gRPC server. `open` connects; `close` releases it. */
export class H2Connection {
  readonly authority: string
  private readonly socket: Socket
  private readonly decoder = new HpackDecoder()
  private readonly streams = new Map<number, Stream>()
  private readonly headerBlocks = new Map<string, Buffer>()
  private readonly blocked: PendingData[] = []
  private readonly waiting: WaitingCall[] = []
  private readonly streamWindow: number
  private readonly connWindow: number
  private readonly maxMessageBytes: number
  private nextId = 1
  private active = 0
  private peerMaxConcurrent = Number.MAX_SAFE_INTEGER
  private peerInitialWindow = DEFAULT_WINDOW
  private peerMaxFrame = DEFAULT_MAX_FRAME
  private connSendWindow = DEFAULT_WINDOW
  private connRecvUnacked = 0
  private pending: Buffer | undefined
  private headerStream = 0
  private headerFlags = 0
  private headerParts: Buffer[] = []
  private headerBytes = 0
  private slab = Buffer.allocUnsafe(SLAB_BYTES)
  private slabPos = 0
  private chunks: Buffer[] = []
  private flushScheduled = false
  private goawayLastId = -1
  private failure: H2Error | undefined
  private closing: Promise<void> | undefined
  private settingsSeen = false
  private onReady: ((err: H2Error | null) => void) | undefined

  private constructor(socket: Socket, authority: string, options: H2ConnectOptions) {
    const o = options as Record<string, unknown>
    this.socket = socket
    this.authority = authority
    this.streamWindow = intOption(o, 'streamWindowBytes', 4 << 20, DEFAULT_WINDOW, MAX_WINDOW)
    this.connWindow = intOption(o, 'connectionWindowBytes', 64 << 20, DEFAULT_WINDOW, MAX_WINDOW)
    this.maxMessageBytes = intOption(o, 'maxMessageBytes', 64 << 20, 1, MAX_WINDOW)
  }

  /** Connects to `host:port` (plain TCP, prior knowledge h2c, as etcd's http:// client URLs). */
  static async open(endpoint: string, options: H2ConnectOptions = {}): Promise<H2Connection> {
    const { host, port } = parseEndpoint(endpoint)
    const timeoutMs = intOption(options as Record<string, unknown>, 'connectTimeoutMs', 5000, 1, 600_000)
    const socket = connect({ host, port, noDelay: true })
    const conn = new H2Connection(socket, `${host.includes(':') ? `[${host}]` : host}:${port}`, options)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => conn.fail(new H2Error('ERR_SERVER_H2_CLOSED', `h2: no HTTP/2 SETTINGS from ${endpoint} within ${timeoutMs} ms`, { endpoint })), timeoutMs)
      conn.onReady = (err) => {
        clearTimeout(timer)
        conn.onReady = undefined
        if (err === null) resolve()
        else {
          socket.destroy()
          reject(err)
        }
      }
      socket.on('data', (chunk: Buffer) => conn.onData(chunk))
      socket.on('error', (e) => conn.fail(new H2Error('ERR_SERVER_H2_CLOSED', `h2: connection to ${endpoint}: ${e.message}`, { endpoint }, { cause: e })))
      socket.on('close', () => conn.fail(new H2Error('ERR_SERVER_H2_CLOSED', `h2: the connection to ${endpoint} closed`, { endpoint })))
      socket.once('connect', () => {
        conn.chunks.push(PREFACE)
        conn.chunks.push(frame(FRAME_SETTINGS, 0, 0, settingsPayload([[SETTINGS_ENABLE_PUSH, 0], [SETTINGS_INITIAL_WINDOW_SIZE, conn.streamWindow]])))
        if (conn.connWindow > DEFAULT_WINDOW) conn.chunks.push(frame(FRAME_WINDOW_UPDATE, 0, 0, windowUpdatePayload(conn.connWindow - DEFAULT_WINDOW)))
        conn.flush()
      })
    })
    return conn
  }

  /** Streams open now. */
  get activeStreams(): number {
    return this.active
  }

  /** The HPACK block of a gRPC request to `path` (e.g. `/etcdserverpb.KV/Put`), encoded once per connection. */
  requestHeaders(path: string, metadata: readonly (readonly [string, string])[] = []): Buffer {
    const key = metadata.length === 0 ? path : `${path}\n${metadata.map(([k, v]) => `${k}:${v}`).join('\n')}`
    let block = this.headerBlocks.get(key)
    if (block === undefined) {
      block = encodeHeaderBlock([
        [':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', this.authority],
        ['content-type', 'application/grpc'], ['te', 'trailers'], ['user-agent', 'strata-bench/0.1'], ...metadata,
      ])
      if (block.length > DEFAULT_MAX_FRAME) throw new H2Error('ERR_SERVER_INVALID_ARGUMENT', `h2: the request headers of ${path} take ${block.length} bytes, above one frame (${DEFAULT_MAX_FRAME})`)
      this.headerBlocks.set(key, block)
    }
    return block
  }

  /** A unary call: sends `message` (copied at once) on a new stream; `cb` gets the response message. */
  unary(headerBlock: Buffer, message: Uint8Array, cb: UnaryCallback): void {
    if (this.refuse(cb, undefined)) return
    if (this.active >= this.peerMaxConcurrent) {
      this.waiting.push({ headerBlock, message: Buffer.from(message), cb, handlers: undefined, handle: undefined })
      return
    }
    const s = this.startStream(headerBlock, cb, undefined)
    if (s !== undefined) this.sendMessage(s, message, true)
  }

  /** A streaming call; messages go out with `send`, come back through `handlers`. */
  stream(headerBlock: Buffer, handlers: StreamHandlers): GrpcStream {
    const handle = new StreamHandle(this)
    if (this.refuse(undefined, handlers)) {
      handle.cancelled = true
      return handle
    }
    if (this.active >= this.peerMaxConcurrent) {
      this.waiting.push({ headerBlock, message: Buffer.alloc(0), cb: undefined, handlers, handle })
      return handle
    }
    this.attach(handle, headerBlock, handlers)
    return handle
  }

  /** Sends GOAWAY, fails the calls still open with ERR_SERVER_H2_CLOSED, closes the socket. Idempotent. */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing
    this.closing = new Promise<void>((resolve) => {
      if (this.socket.destroyed) {
        resolve()
        return
      }
      this.socket.once('close', () => resolve())
      if (this.failure === undefined && this.socket.writable) {
        const p = Buffer.alloc(8)
        p.writeUInt32BE(0, 0)
        this.chunks.push(frame(FRAME_GOAWAY, 0, 0, p))
        this.flush()
        this.socket.end()
      }
      this.fail(new H2Error('ERR_SERVER_H2_CLOSED', 'h2: the connection was closed by close()'))
      setTimeout(() => this.socket.destroy(), 1000).unref()
    })
    return this.closing
  }

  // ---------------------------------------------------------------- sending

  private refuse(cb: UnaryCallback | undefined, handlers: StreamHandlers | undefined): boolean {
    let err = this.failure
    if (err === undefined && this.goawayLastId >= 0) err = new H2Error('ERR_SERVER_H2_GOAWAY', 'h2: the server sent GOAWAY; open a new connection')
    if (err === undefined && this.closing !== undefined) err = new H2Error('ERR_SERVER_H2_CLOSED', 'h2: the connection is closed')
    if (err === undefined && this.nextId > MAX_STREAM_ID) err = new H2Error('ERR_SERVER_H2_STREAMS_EXHAUSTED', 'h2: this connection used all its stream ids; open another')
    if (err === undefined) return false
    const e = err
    queueMicrotask(() => {
      if (cb !== undefined) cb(e, undefined)
      else handlers?.onEnd(e)
    })
    return true
  }

  private attach(handle: StreamHandle, headerBlock: Buffer, handlers: StreamHandlers): void {
    if (handle.cancelled) return
    const s = this.startStream(headerBlock, undefined, handlers)
    if (s === undefined) return
    handle.stream = s
    for (const m of handle.early) this.sendMessage(s, m, false)
    handle.early = []
    if (handle.endEarly) this.sendEnd(s)
  }

  private startStream(headerBlock: Buffer, cb: UnaryCallback | undefined, handlers: StreamHandlers | undefined): Stream | undefined {
    if (this.nextId > MAX_STREAM_ID) {
      this.refuse(cb, handlers)
      return undefined
    }
    const id = this.nextId
    this.nextId += 2
    const s: Stream = { id, cb, handlers, message: undefined, partial: undefined, sendWindow: this.peerInitialWindow, recvUnacked: 0, headersSeen: false, done: false }
    this.streams.set(id, s)
    this.active++
    const at = this.reserve(9 + headerBlock.length)
    writeFrameHeader(this.slab, at, headerBlock.length, FRAME_HEADERS, FLAG_END_HEADERS, id)
    headerBlock.copy(this.slab, at + 9)
    return s
  }

  /** Sends one gRPC message on `s`, with END_STREAM when `end`. */
  sendMessage(s: Stream, message: Uint8Array, end: boolean): void {
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
    this.drain()
  }

  /** Half-closes `s` (an empty DATA frame with END_STREAM, behind any data still queued). */
  sendEnd(s: Stream): void {
    this.blocked.push({ stream: s, bytes: Buffer.alloc(0), offset: 0, end: true })
    this.drain()
  }

  reset(s: Stream, code: number): void {
    const p = Buffer.allocUnsafe(4)
    p.writeUInt32BE(code, 0)
    this.chunks.push(...this.takeSlab(), frame(FRAME_RST_STREAM, 0, s.id, p))
    this.scheduleFlush()
    this.finish(s)
  }

  /** Writes queued DATA as the flow-control windows allow, in order. */
  private drain(): void {
    while (this.blocked.length > 0) {
      const item = this.blocked[0]!
      const s = item.stream
      if (s.done) {
        this.blocked.shift()
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
      this.connSendWindow -= n
      s.sendWindow -= n
      if (last) this.blocked.shift()
    }
  }

  /** Room for `n` bytes in the slab; returns the offset to write at and schedules a flush. */
  private reserve(n: number): number {
    if (this.slabPos + n > this.slab.length) {
      this.chunks.push(...this.takeSlab())
      if (n > this.slab.length) this.slab = Buffer.allocUnsafe(n)
    }
    const at = this.slabPos
    this.slabPos += n
    this.scheduleFlush()
    return at
  }

  private takeSlab(): Buffer[] {
    if (this.slabPos === 0) return []
    const part = this.slab.subarray(0, this.slabPos)
    this.slab = Buffer.allocUnsafe(SLAB_BYTES)
    this.slabPos = 0
    return [part]
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    process.nextTick(() => this.flush())
  }

  private flush(): void {
    this.flushScheduled = false
    this.chunks.push(...this.takeSlab())
    if (this.chunks.length === 0 || this.socket.destroyed) {
      this.chunks = []
      return
    }
    const out = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks)
    this.chunks = []
    this.socket.write(out)
  }

  private control(type: number, flags: number, streamId: number, payload: Buffer): void {
    this.chunks.push(...this.takeSlab(), frame(type, flags, streamId, payload))
    this.scheduleFlush()
  }

  // ---------------------------------------------------------------- receiving

  private onData(chunk: Buffer): void {
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
        if (len > DEFAULT_MAX_FRAME) throw this.protocolError(`a frame of ${len} bytes, above the ${DEFAULT_MAX_FRAME} this client allows`)
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
      const err = e instanceof H2Error ? e : new H2Error('ERR_SERVER_H2_PROTOCOL', `h2: ${(e as Error).message}`, undefined, { cause: e })
      this.sendGoaway(H2_PROTOCOL_ERROR)
      this.fail(err)
      this.socket.destroy()
      return
    }
    if (pos < n) this.pending = pos === 0 ? buf : buf.subarray(pos)
  }

  private protocolError(message: string): H2Error {
    return new H2Error('ERR_SERVER_H2_PROTOCOL', `h2: ${message}`, { authority: this.authority })
  }

  private onFrame(type: number, flags: number, sid: number, buf: Buffer, start: number, end: number): void {
    if (this.headerStream !== 0 && type !== FRAME_CONTINUATION) throw this.protocolError(`a frame of type ${type} inside a header block`)
    switch (type) {
      case FRAME_DATA: {
        const len = end - start
        if ((flags & FLAG_PADDED) !== 0) {
          const pad = buf[start]!
          start++
          end -= pad
          if (end < start) throw this.protocolError('DATA padding longer than the frame')
        }
        this.connRecvUnacked += len
        if (this.connRecvUnacked >= this.connWindow / 2) {
          this.control(FRAME_WINDOW_UPDATE, 0, 0, windowUpdatePayload(this.connRecvUnacked))
          this.connRecvUnacked = 0
        }
        const s = this.streams.get(sid)
        if (s === undefined) return
        if (!s.headersSeen) throw this.protocolError(`DATA before HEADERS on stream ${sid}`)
        const endStream = (flags & FLAG_END_STREAM) !== 0
        s.recvUnacked += len
        if (!endStream && s.recvUnacked >= this.streamWindow / 2) {
          this.control(FRAME_WINDOW_UPDATE, 0, sid, windowUpdatePayload(s.recvUnacked))
          s.recvUnacked = 0
        }
        this.feed(s, buf, start, end)
        if (endStream && !s.done) this.complete(s, new H2Error('ERR_SERVER_GRPC_STATUS', 'h2: the stream ended without grpc-status trailers', { grpcStatus: 2 }))
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
        if ((flags & FLAG_END_HEADERS) !== 0) this.onHeaderBlock(sid, flags, buf.subarray(start, end))
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
          this.onHeaderBlock(sid, this.headerFlags, block)
        }
        return
      }
      case FRAME_RST_STREAM: {
        if (end - start !== 4) throw this.protocolError('RST_STREAM of a length other than 4')
        const code = buf.readUInt32BE(start)
        const s = this.streams.get(sid)
        if (s !== undefined) this.complete(s, new H2Error('ERR_SERVER_H2_STREAM_RESET', `h2: the server reset stream ${sid} (HTTP/2 error ${code})`, { http2Code: code }))
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
          // HEADER_TABLE_SIZE: this encoder never indexes, so any size suits it.
        }
        this.control(FRAME_SETTINGS, FLAG_ACK, 0, Buffer.alloc(0))
        if (!this.settingsSeen) {
          this.settingsSeen = true
          this.onReady?.(null)
        }
        this.drain()
        this.startWaiting()
        return
      }
      case FRAME_PING: {
        if (end - start !== 8) throw this.protocolError('PING of a length other than 8')
        if ((flags & FLAG_ACK) === 0) this.control(FRAME_PING, FLAG_ACK, 0, Buffer.from(buf.subarray(start, end)))
        return
      }
      case FRAME_GOAWAY: {
        if (end - start < 8) throw this.protocolError('GOAWAY shorter than 8 bytes')
        const last = buf.readUInt32BE(start) & 0x7fffffff
        const code = buf.readUInt32BE(start + 4)
        const debug = buf.subarray(start + 8, end).toString('utf8')
        this.goawayLastId = last
        const err = new H2Error('ERR_SERVER_H2_GOAWAY', `h2: the server sent GOAWAY (HTTP/2 error ${code}${debug === '' ? '' : `: ${debug}`}); stream ${last} was its last`, { http2Code: code, lastStreamId: last })
        for (const s of [...this.streams.values()]) if (s.id > last || code !== H2_NO_ERROR) this.complete(s, err)
        for (const w of this.waiting.splice(0)) this.refuse(w.cb, w.handlers)
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
        throw this.protocolError('PUSH_PROMISE although this client disabled push')
      default:
        return // PRIORITY and unknown frame types are ignored (RFC 9113 4.1, 5.5)
    }
  }

  private onHeaderBlock(sid: number, flags: number, block: Uint8Array): void {
    const headers = this.decoder.decode(block) // always: the HPACK state is the connection's
    const s = this.streams.get(sid)
    if (s === undefined) return
    const endStream = (flags & FLAG_END_STREAM) !== 0
    if (!s.headersSeen) {
      s.headersSeen = true
      const status = header(headers, ':status')
      if (status !== '200') {
        this.complete(s, new H2Error('ERR_SERVER_GRPC_STATUS', `h2: HTTP status ${status ?? '(none)'} instead of 200`, { grpcStatus: 2, httpStatus: status }))
        if (!endStream) this.reset(s, H2_CANCEL)
        return
      }
      if (!endStream) return
    } else if (!endStream) throw this.protocolError(`a second HEADERS without END_STREAM on stream ${sid}`)
    if (s.partial !== undefined) {
      this.complete(s, this.protocolError(`stream ${sid} ended inside a gRPC message`))
      return
    }
    const grpcStatus = header(headers, 'grpc-status')
    if (grpcStatus === '0') this.complete(s, null)
    else {
      const raw = header(headers, 'grpc-message') ?? ''
      let message = raw
      try {
        message = decodeURIComponent(raw)
      } catch {
        // not percent-encoded: keep it as sent
      }
      const code = grpcStatus === undefined ? 2 : Number(grpcStatus)
      this.complete(s, new H2Error('ERR_SERVER_GRPC_STATUS', message === '' ? `h2: grpc-status ${grpcStatus ?? '(none)'}` : message, { grpcStatus: code, grpcMessage: message }))
    }
  }

  /** Splits DATA payload bytes into gRPC messages (5-byte prefix: flag, big-endian length). */
  private feed(s: Stream, buf: Buffer, start: number, end: number): void {
    if (s.partial !== undefined) {
      buf = Buffer.concat([s.partial, buf.subarray(start, end)])
      start = 0
      end = buf.length
      s.partial = undefined
    }
    let p = start
    while (end - p >= 5) {
      if (buf[p] !== 0) throw this.protocolError(`a compressed gRPC message on stream ${s.id} although none was accepted`)
      const len = buf.readUInt32BE(p + 1)
      if (len > this.maxMessageBytes) throw this.protocolError(`a gRPC message of ${len} bytes, above maxMessageBytes ${this.maxMessageBytes}`)
      if (end - p - 5 < len) break
      const msg = buf.subarray(p + 5, p + 5 + len)
      p += 5 + len
      if (s.handlers !== undefined) {
        if (!s.done) s.handlers.onMessage(msg)
      } else if (s.message !== undefined) throw this.protocolError(`a second response message on unary stream ${s.id}`)
      else s.message = msg
    }
    if (p < end) s.partial = Buffer.from(buf.subarray(p, end))
  }

  private finish(s: Stream): void {
    if (s.done) return
    s.done = true
    this.streams.delete(s.id)
    this.active--
    this.startWaiting()
  }

  private complete(s: Stream, err: H2Error | null): void {
    if (s.done) return
    this.finish(s)
    if (s.cb !== undefined) s.cb(err, err === null ? (s.message ?? Buffer.alloc(0)) : undefined)
    else s.handlers?.onEnd(err)
  }

  private startWaiting(): void {
    while (this.waiting.length > 0 && this.active < this.peerMaxConcurrent && this.failure === undefined) {
      const w = this.waiting.shift()!
      if (w.handle !== undefined) this.attach(w.handle, w.headerBlock, w.handlers!)
      else {
        const s = this.startStream(w.headerBlock, w.cb, undefined)
        if (s !== undefined) this.sendMessage(s, w.message, true)
      }
    }
  }

  private sendGoaway(code: number): void {
    if (this.socket.destroyed) return
    const p = Buffer.alloc(8)
    p.writeUInt32BE(Math.max(0, this.nextId - 2), 0)
    p.writeUInt32BE(code, 4)
    this.chunks.push(frame(FRAME_GOAWAY, 0, 0, p))
    this.flush()
  }

  /** Fails every open and waiting call with `err`; the connection is unusable after it. */
  private fail(err: H2Error): void {
    if (this.failure !== undefined) return
    this.failure = err
    this.onReady?.(err)
    for (const s of [...this.streams.values()]) this.complete(s, err)
    for (const w of this.waiting.splice(0)) {
      if (w.cb !== undefined) w.cb(err, undefined)
      else w.handlers?.onEnd(err)
    }
    this.blocked.length = 0
  }
}

function header(headers: HeaderList, name: string): string | undefined {
  for (const [n, v] of headers) if (n === name) return v
  return undefined
}
