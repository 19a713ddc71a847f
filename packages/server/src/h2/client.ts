// A lean HTTP/2 + gRPC client over node:net for `strata bench`: many streams over one TCP
// connection, header blocks encoded once per method, request frames written into one slab per
// event-loop turn, responses parsed in place. It speaks to grpc-go (etcd) and grpc-js
// (node:http2 / nghttp2) servers: SETTINGS and their ACKs, HPACK with the peer's dynamic table
// and Huffman strings, DATA flow control in both directions, RST_STREAM, GOAWAY, PING.
import { type Socket, connect } from 'node:net'
import { H2Error } from './errors.js'
import {
  DEFAULT_MAX_FRAME, DEFAULT_WINDOW, FRAME_SETTINGS, FRAME_WINDOW_UPDATE, H2_CANCEL, H2_NO_ERROR, PREFACE, SETTINGS_ENABLE_PUSH,
  SETTINGS_INITIAL_WINDOW_SIZE, frame, settingsPayload, windowUpdatePayload,
} from './frames.js'
import { type HeaderList, encodeHeaderBlock } from './hpack.js'
import { H2Session, type StreamState, intOption, sessionLimits } from './session.js'

export interface H2ConnectOptions {
  /** The receive window this client advertises for each stream (SETTINGS_INITIAL_WINDOW_SIZE), bytes. Default 4 MiB; 65,535 to 2^31-1. */
  readonly streamWindowBytes?: number
  /** The connection's receive window, bytes. Default 64 MiB; 65,535 to 2^31-1. */
  readonly connectionWindowBytes?: number
  /** How long to wait for the TCP connection and the server's first SETTINGS, ms. Default 5000. */
  readonly connectTimeoutMs?: number
  /** The largest gRPC message accepted from the server, bytes (a larger prefix is a protocol error). Default 64 MiB. */
  readonly maxMessageBytes?: number
  /** Bytes of incomplete response messages held across all streams; more is a connection error. Default 256 MiB. */
  readonly maxBufferedBytes?: number
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

interface ClientStream extends StreamState {
  cb: UnaryCallback | undefined
  handlers: StreamHandlers | undefined
  message: Buffer | undefined
  headersSeen: boolean
}

interface WaitingCall {
  headerBlock: Buffer
  message: Buffer
  cb: UnaryCallback | undefined
  handlers: StreamHandlers | undefined
  handle: StreamHandle | undefined
}

const MAX_STREAM_ID = 0x7fffffff

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
  stream: ClientStream | undefined
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
    if (this.stream !== undefined && !this.stream.done) this.conn.cancelStream(this.stream)
  }
}

function header(headers: HeaderList, name: string): string | undefined {
  for (const [n, v] of headers) if (n === name) return v
  return undefined
}

/** One HTTP/2 connection to a gRPC server. `open` connects; `close` releases it. */
export class H2Connection extends H2Session<ClientStream> {
  readonly authority: string
  private readonly headerBlocks = new Map<string, Buffer>()
  private readonly waiting: WaitingCall[] = []
  private nextId = 1
  private active = 0
  private goawayLastId = -1
  private closing: Promise<void> | undefined
  private settingsSeen = false
  private onReady: ((err: H2Error | null) => void) | undefined

  private constructor(socket: Socket, authority: string, options: H2ConnectOptions) {
    super(socket, sessionLimits(options, 64 << 20))
    this.authority = authority
  }

  /** Connects to `host:port` (plain TCP, prior knowledge h2c, as etcd's http:// client URLs). */
  static async open(endpoint: string, options: H2ConnectOptions = {}): Promise<H2Connection> {
    const { host, port } = parseEndpoint(endpoint)
    const timeoutMs = intOption(options, 'connectTimeoutMs', 5000, 1, 600_000)
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
      socket.on('data', (chunk: Buffer) => conn.onBytes(chunk))
      socket.on('error', (e) => conn.fail(new H2Error('ERR_SERVER_H2_CLOSED', `h2: connection to ${endpoint}: ${e.message}`, { endpoint }, { cause: e })))
      socket.on('close', () => conn.fail(new H2Error('ERR_SERVER_H2_CLOSED', `h2: the connection to ${endpoint} closed`, { endpoint })))
      socket.once('connect', () => {
        conn.raw(PREFACE)
        conn.raw(frame(FRAME_SETTINGS, 0, 0, settingsPayload([[SETTINGS_ENABLE_PUSH, 0], [SETTINGS_INITIAL_WINDOW_SIZE, conn.limits.streamWindowBytes]])))
        if (conn.limits.connectionWindowBytes > DEFAULT_WINDOW) conn.raw(frame(FRAME_WINDOW_UPDATE, 0, 0, windowUpdatePayload(conn.limits.connectionWindowBytes - DEFAULT_WINDOW)))
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
        this.sendGoaway(H2_NO_ERROR)
        this.socket.end()
      }
      this.fail(new H2Error('ERR_SERVER_H2_CLOSED', 'h2: the connection was closed by close()'))
      setTimeout(() => this.socket.destroy(), 1000).unref()
    })
    return this.closing
  }

  cancelStream(s: ClientStream): void {
    this.sendReset(s.id, H2_CANCEL)
    this.finish(s)
  }

  // ---------------------------------------------------------------- streams

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

  private startStream(headerBlock: Buffer, cb: UnaryCallback | undefined, handlers: StreamHandlers | undefined): ClientStream | undefined {
    if (this.nextId > MAX_STREAM_ID) {
      this.refuse(cb, handlers)
      return undefined
    }
    const id = this.nextId
    this.nextId += 2
    const s: ClientStream = { id, cb, handlers, message: undefined, partial: undefined, sendWindow: this.peerInitialWindow, recvUnacked: 0, headersSeen: false, done: false }
    this.streams.set(id, s)
    this.active++
    this.sendHeaders(id, headerBlock, false)
    return s
  }

  private finish(s: ClientStream): void {
    if (s.done) return
    this.dropPartial(s)
    s.done = true
    this.streams.delete(s.id)
    this.active--
    this.startWaiting()
  }

  private complete(s: ClientStream, err: H2Error | null): void {
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

  // ---------------------------------------------------------------- session hooks

  protected lastStreamId(): number {
    return 0 // this client accepts no server-initiated streams
  }

  protected onSettings(): void {
    if (!this.settingsSeen) {
      this.settingsSeen = true
      this.onReady?.(null)
    }
    this.startWaiting()
  }

  protected onHeaderList(sid: number, endStream: boolean, headers: HeaderList): void {
    const s = this.streams.get(sid)
    if (s === undefined) return
    if (!s.headersSeen) {
      s.headersSeen = true
      const status = header(headers, ':status')
      if (status !== '200') {
        this.complete(s, new H2Error('ERR_SERVER_GRPC_STATUS', `h2: HTTP status ${status ?? '(none)'} instead of 200`, { grpcStatus: 2, httpStatus: status }))
        if (!endStream) this.sendReset(sid, H2_CANCEL)
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

  protected onMessage(s: ClientStream, msg: Buffer): void {
    if (!s.headersSeen) throw this.protocolError(`DATA before HEADERS on stream ${s.id}`)
    if (s.handlers !== undefined) s.handlers.onMessage(msg)
    else if (s.message !== undefined) throw this.protocolError(`a second response message on unary stream ${s.id}`)
    else s.message = msg
  }

  protected onDataEnd(s: ClientStream): void {
    this.complete(s, new H2Error('ERR_SERVER_GRPC_STATUS', 'h2: the stream ended without grpc-status trailers', { grpcStatus: 2 }))
  }

  protected onReset(s: ClientStream, code: number): void {
    this.complete(s, new H2Error('ERR_SERVER_H2_STREAM_RESET', `h2: the server reset stream ${s.id} (HTTP/2 error ${code})`, { http2Code: code }))
  }

  protected onGoaway(last: number, code: number, debug: string): void {
    this.goawayLastId = last
    const err = new H2Error('ERR_SERVER_H2_GOAWAY', `h2: the server sent GOAWAY (HTTP/2 error ${code}${debug === '' ? '' : `: ${debug}`}); stream ${last} was its last`, { http2Code: code, lastStreamId: last })
    for (const s of [...this.streams.values()]) if (s.id > last || code !== H2_NO_ERROR) this.complete(s, err)
    for (const w of this.waiting.splice(0)) this.refuse(w.cb, w.handlers)
  }

  /** Fails every open and waiting call with `err`; the connection is unusable after it. */
  protected fail(err: H2Error): void {
    if (this.failure !== undefined) return
    this.failure = err
    this.onReady?.(err)
    for (const s of [...this.streams.values()]) this.complete(s, err)
    for (const w of this.waiting.splice(0)) {
      if (w.cb !== undefined) w.cb(err, undefined)
      else w.handlers?.onEnd(err)
    }
    this.dropQueued()
  }
}
