// etcd's v3 gRPC API served over the lean HTTP/2 framing of src/h2 instead of @grpc/grpc-js on
// node:http2: the same transport-agnostic handlers (src/api) and messages shaped as proto-loader
// shapes them (src/api/pb-codec.ts, from the descriptor precompiled from proto/*.proto, so
// neither grpc-js nor proto-loader is loaded), every service and method — unary calls, the
// Watch and LeaseKeepAlive bidirectional streams, the Snapshot server stream — with etcd's status codes and messages in
// grpc-status / grpc-message trailers. Plain TCP (h2c prior knowledge, etcd's http:// URLs) or
// TLS with ALPN h2 and optional client-certificate auth.
import { type Server as NetServer, type Socket, createServer as createNetServer } from 'node:net'
import { type TLSSocket, createServer as createTlsServer } from 'node:tls'
import type { Store } from '@strata/embed'
import type { CallContext } from '../api/context.js'
import { toRpcError } from '../api/errors.js'
import { type EtcdHandlers, createEtcdHandlers } from '../api/handlers.js'
import type { Req } from '../api/kv.js'
import { METHODS } from '../api/etcd-proto.js'
import { messageCodec } from '../api/pb-codec.js'
import type { GrpcServer, GrpcServerOptions } from '../grpc-server.js'
import { type GrpcMethodCounts, grpcType } from '../metrics.js'
import { H2Error } from './errors.js'
import { type Alloc, FAST_CODECS, type Slot } from './fast-codec.js'
import {
  DEFAULT_WINDOW, FRAME_SETTINGS, FRAME_WINDOW_UPDATE, H2_NO_ERROR, H2_REFUSED_STREAM, PREFACE,
  SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_CONCURRENT_STREAMS, frame, settingsPayload, windowUpdatePayload,
} from './frames.js'
import { type HeaderList, encodeHeaderBlock } from './hpack.js'
import { H2Session, type SessionLimits, type StreamState, intOption } from './session.js'

export interface H2ServerOptions extends GrpcServerOptions {
  /** Streams one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused. Default 10,000; 1 to 2^31-1. */
  readonly maxConcurrentStreams?: number
  /** Connections served at once; more are closed on arrival. Default 10,000; 1 to 1,000,000. */
  readonly maxConnections?: number
  /** The receive window advertised per stream, bytes. Default 1 MiB; 65,535 to 2^31-1. */
  readonly streamWindowBytes?: number
  /** The receive window of each connection, bytes. Default 16 MiB; 65,535 to 2^31-1. */
  readonly connectionWindowBytes?: number
  /** Bytes of incomplete request messages one connection may hold across its streams; more ends the connection. Default 64 MiB. */
  readonly maxBufferedBytes?: number
  /** A connection that has not sent the HTTP/2 preface within this long is closed, ms. Default 10,000. */
  readonly prefaceTimeoutMs?: number
  /** Hand-written codecs for KV Put, Range, DeleteRange, Txn and Watch responses (src/h2/fast-codec.ts) instead of the descriptor-driven ones. Default true. */
  readonly fastCodecs?: boolean
}

type Kind = 'unary' | 'watch' | 'keepalive' | 'snapshot'

interface Method {
  kind: Kind
  unary?: (r: Req, ctx: CallContext) => unknown
  /** Request decoding: the fast codec where there is one, else pb-codec's. */
  decode(bytes: Buffer): Req
  /** `alloc`: where a hand codec may write the response (pb-codec's ignores it). */
  encode(response: unknown, alloc?: Alloc): Buffer
  /** The method's grpc_server_* counts, with an observer. */
  counts: GrpcMethodCounts | undefined
}

interface ServerStream extends StreamState {
  method: Method | undefined
  ctx: CallContext
  headersSent: boolean
  halfClosed: boolean
  /** Its status was sent (counted as handled with it); a stream released otherwise was cancelled. */
  ended: boolean
  /** The request of a unary or server-streaming call. */
  request: Req | undefined
  /** Watch / keep-alive state. */
  onRequest?: (r: Req) => void
  onHalfClose?: () => void
  onClose?: () => void
}

const RESPONSE_HEADERS = encodeHeaderBlock([[':status', '200'], ['content-type', 'application/grpc']])
const TRAILERS_OK = encodeHeaderBlock([['grpc-status', '0']])
/** How often calls that carry a grpc-timeout are checked against it, ms (the deadline's resolution). */
export const DEADLINE_SWEEP_MS = 20

/**
 * A grpc-timeout header value (1 to 8 digits and a unit: H, M, S, m, u, n) in ms; undefined
 * when malformed (the call then runs without a deadline, as without the header).
 */
export function parseGrpcTimeout(value: string): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(value)
  if (m === null) return undefined
  const n = Number(m[1])
  switch (m[2]) {
    case 'H': return n * 3_600_000
    case 'M': return n * 60_000
    case 'S': return n * 1000
    case 'm': return n
    case 'u': return n / 1000
    default: return n / 1_000_000
  }
}

/** Bytes queued (flow control plus socket) above which a streaming write waits. */
const HIGH_WATER_BYTES = 1 << 20

/** grpc-message is percent-encoded UTF-8 (bytes outside printable ASCII, and `%`). */
function percentEncode(s: string): string {
  let out = ''
  for (const b of Buffer.from(s, 'utf8')) out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  return out
}

function header(headers: HeaderList, name: string): string | undefined {
  for (const [n, v] of headers) if (n === name) return v
  return undefined
}

function closedError(): H2Error {
  return new H2Error('ERR_SERVER_H2_CLOSED', 'h2: the stream is closed')
}

/** A request header block's meaning (kept per block: see `requestMeta`). */
interface RequestMeta {
  readonly ctx: CallContext
  /** POST with a gRPC content type: anything else is answered 415. */
  readonly grpc: boolean
  readonly method: Method | undefined
  /** The status of a call to a method not served. */
  readonly unknown: { code: number; details: string } | undefined
  readonly timeoutMs: number | undefined
}

/** The context of a call without a token (handlers only read it). */
const NO_TOKEN: CallContext = Object.freeze({})
const NOT_GRPC_HEADERS = encodeHeaderBlock([[':status', '415'], ['content-type', 'text/plain']])

class ServerSession extends H2Session<ServerStream> {
  /** Request meta by header list (the decoder hands out the same list for a repeated block). */
  private readonly metaOf = new WeakMap<HeaderList, RequestMeta>()
  private lastSid = 0
  private active = 0
  private prefaceLeft = PREFACE.length
  private waiters: (() => void)[] = []
  private closed = false

  constructor(socket: Socket | TLSSocket, limits: SessionLimits, private readonly server: LeanServer) {
    super(socket, limits)
    socket.setNoDelay?.(true)
    const timer = setTimeout(() => {
      if (this.prefaceLeft > 0) socket.destroy()
    }, server.prefaceTimeoutMs)
    timer.unref()
    socket.on('data', (chunk: Buffer) => {
      if (this.prefaceLeft > 0) {
        const n = Math.min(this.prefaceLeft, chunk.length)
        const at = PREFACE.length - this.prefaceLeft
        if (!chunk.subarray(0, n).equals(PREFACE.subarray(at, at + n))) {
          socket.destroy() // not HTTP/2 prior knowledge: nothing to answer in gRPC terms
          return
        }
        this.prefaceLeft -= n
        chunk = chunk.subarray(n)
        if (this.prefaceLeft > 0 || chunk.length === 0) return
      }
      this.onBytes(chunk)
    })
    socket.on('drain', () => this.wake())
    socket.on('error', () => socket.destroy())
    socket.on('close', () => this.fail(new H2Error('ERR_SERVER_H2_CLOSED', 'h2: the client connection closed')))
    this.raw(frame(FRAME_SETTINGS, 0, 0, settingsPayload([[SETTINGS_MAX_CONCURRENT_STREAMS, server.maxConcurrentStreams], [SETTINGS_INITIAL_WINDOW_SIZE, limits.streamWindowBytes]])))
    if (limits.connectionWindowBytes > DEFAULT_WINDOW) this.raw(frame(FRAME_WINDOW_UPDATE, 0, 0, windowUpdatePayload(limits.connectionWindowBytes - DEFAULT_WINDOW)))
  }

  get unaryInFlight(): number {
    let n = 0
    for (const s of this.streams.values()) if (s.method?.kind === 'unary') n++
    return n
  }

  /** Ends the streaming calls with status 0 and sends GOAWAY: no new streams. */
  shutdown(): void {
    if (this.closed) return
    this.closed = true
    for (const s of [...this.streams.values()]) if (s.method !== undefined && s.method.kind !== 'unary') this.finish(s, null)
    this.sendGoaway(H2_NO_ERROR)
  }

  destroy(): void {
    this.fail(new H2Error('ERR_SERVER_H2_CLOSED', 'h2: the server closed'))
    this.socket.destroy()
  }

  // ------------------------------------------------------------ session hooks

  protected lastStreamId(): number {
    return this.lastSid
  }

  protected onSettings(): void {}

  protected onGoaway(): void {
    // the client will open no more streams; the ones it has run to their end
  }

  protected onHeaderList(sid: number, endStream: boolean, headers: HeaderList): void {
    const existing = this.streams.get(sid)
    if (existing !== undefined) {
      if (!endStream) throw this.protocolError(`a second HEADERS without END_STREAM on stream ${sid}`)
      this.onDataEnd(existing)
      return
    }
    if (sid % 2 === 0 || sid <= this.lastSid) throw this.protocolError(`HEADERS on stream ${sid}, not a new client stream`)
    this.lastSid = sid
    if (this.closed) {
      this.sendReset(sid, H2_REFUSED_STREAM)
      return
    }
    if (this.active >= this.server.maxConcurrentStreams) {
      this.sendReset(sid, H2_REFUSED_STREAM)
      return
    }
    const meta = this.requestMeta(headers)
    const s: ServerStream = {
      id: sid, sendWindow: this.peerInitialWindow, recvUnacked: 0, partial: undefined, done: false,
      method: undefined, ctx: meta.ctx, headersSent: false, halfClosed: false, ended: false, request: undefined,
    }
    this.streams.set(sid, s)
    this.active++
    if (!meta.grpc) {
      this.sendHeaders(sid, NOT_GRPC_HEADERS, true)
      this.release(s)
      return
    }
    const method = meta.method
    if (method === undefined) {
      this.finish(s, meta.unknown!)
      return
    }
    s.method = method
    if (method.counts !== undefined) method.counts.started++
    if (meta.timeoutMs !== undefined) this.server.addDeadline(s, this, performance.now() + meta.timeoutMs)
    if (method.kind === 'watch') this.startWatch(s)
    else if (method.kind === 'keepalive') this.startKeepAlive(s)
    if (endStream) this.onDataEnd(s)
  }

  /**
   * What a request's header block asks for. A client sends the same block call after call, and
   * the decoder then hands out the same list (`HpackDecoder.decodeAt`): its meaning is kept with it.
   */
  private requestMeta(headers: HeaderList): RequestMeta {
    const cached = this.metaOf.get(headers)
    if (cached !== undefined) return cached
    const token = header(headers, 'token')
    const path = header(headers, ':path') ?? ''
    const contentType = header(headers, 'content-type') ?? ''
    const grpc = header(headers, ':method') === 'POST' && contentType.startsWith('application/grpc')
    const method = this.server.methods.get(path)
    let unknown: { code: number; details: string } | undefined
    if (method === undefined) {
      const m = /^\/([^/]+)\/([^/]+)$/.exec(path)
      const known = m !== null && [...this.server.methods.keys()].some((p) => p.startsWith(`/${m[1]}/`))
      unknown = { code: 12, details: m === null ? `malformed method name: ${JSON.stringify(path)}` : known ? `unknown method ${m[2]} for service ${m[1]}` : `unknown service ${m[1]}` }
    }
    const timeout = header(headers, 'grpc-timeout')
    const meta: RequestMeta = {
      ctx: token === undefined ? NO_TOKEN : { token }, grpc, method, unknown,
      timeoutMs: timeout === undefined ? undefined : parseGrpcTimeout(timeout),
    }
    this.metaOf.set(headers, meta)
    return meta
  }

  protected onMessage(s: ServerStream, msg: Buffer): void {
    const method = s.method
    if (method === undefined || s.halfClosed) return
    let req: Req
    try {
      req = method.decode(msg)
    } catch (e) {
      this.finish(s, { code: 13, details: `grpc: error unmarshalling request: ${(e as Error).message}` })
      return
    }
    if (method.counts !== undefined) method.counts.received++
    if (s.onRequest !== undefined) s.onRequest(req)
    else if (s.request !== undefined) this.finish(s, { code: 12, details: 'grpc: a unary call sent a second request message' })
    else s.request = req
  }

  protected onDataEnd(s: ServerStream): void {
    if (s.halfClosed) return
    s.halfClosed = true
    const method = s.method
    if (method === undefined || s.done) return
    if (s.onHalfClose !== undefined) {
      s.onHalfClose()
      return
    }
    if (s.request === undefined) {
      this.finish(s, { code: 12, details: 'grpc: the call ended without a request message' })
      return
    }
    if (method.kind === 'snapshot') this.runSnapshot(s, s.request)
    else this.runUnary(s, method, s.request)
  }

  protected onReset(s: ServerStream): void {
    this.release(s)
  }

  protected fail(err: H2Error): void {
    if (this.failure !== undefined) return
    this.failure = err
    for (const s of [...this.streams.values()]) this.release(s)
    this.dropQueued()
    this.wake()
    this.server.sessions.delete(this)
  }

  protected override afterTrailers(s: ServerStream): void {
    this.release(s)
  }

  protected override onDrained(): void {
    if (this.waiters.length > 0 && this.queuedBytes < HIGH_WATER_BYTES) this.wake()
  }

  // ------------------------------------------------------------ calls

  private runUnary(s: ServerStream, method: Method, req: Req): void {
    let p: Promise<unknown>
    try {
      p = Promise.resolve(method.unary!(req, s.ctx))
    } catch (e) {
      p = Promise.reject(e)
    }
    p.then(
      (resp) => {
        if (s.done) return
        let bytes: Buffer
        this.directStream = s
        this.directSent = false
        try {
          bytes = method.encode(resp, this.directAlloc)
        } catch (e) {
          if (this.directSent) this.connectionError(e) // half a response is in the output: nothing sane follows on this connection
          else this.finish(s, { code: 13, details: `grpc: error while marshaling: ${(e as Error).message}` })
          return
        } finally {
          this.directStream = undefined
        }
        if (method.counts !== undefined) method.counts.sent++
        if (this.directSent) {
          // headers, message and trailers went into the output in one piece (`directAlloc`)
          s.headersSent = true
          this.countEnd(s, 0)
          this.release(s)
          return
        }
        this.sendHeaders(s.id, RESPONSE_HEADERS, false)
        s.headersSent = true
        this.sendMessage(s, bytes, false)
        this.finish(s, null)
      },
      (err: unknown) => this.finishWithError(s, err),
    )
  }

  /** The unary call whose response is being encoded, and whether it went straight into the output. */
  private directStream: ServerStream | undefined
  private directSent = false
  /**
   * Where a hand codec writes a unary response: straight into the connection's output between
   * the response headers and OK trailers reserved with it (`reserveUnary`), or, while DATA waits
   * for the client's windows, a Buffer of its own.
   */
  private readonly directAlloc: Alloc = (size: number): Slot => {
    const s = this.directStream
    const at = s === undefined ? undefined : this.reserveUnary(s, RESPONSE_HEADERS, size, TRAILERS_OK)
    if (at === undefined) return { buf: Buffer.allocUnsafe(size), at: 0 }
    this.directSent = true
    return { buf: this.outputSlab, at }
  }

  /** The call's grpc-timeout passed: it ends with DEADLINE_EXCEEDED, as grpc-go's server ends it (its handler's answer, if any comes, is dropped). */
  expire(s: ServerStream): void {
    if (!s.done) this.finish(s, { code: 4, details: 'context deadline exceeded' })
  }

  private finishWithError(s: ServerStream, err: unknown): void {
    const e = toRpcError(err)
    this.finish(s, { code: e.grpcCode, details: e.details })
  }

  /** Writes one response message of a streaming call; resolves when the connection can take more. */
  private write(s: ServerStream, resp: unknown): Promise<void> {
    if (s.done || this.failure !== undefined) return Promise.reject(closedError())
    if (!s.headersSent) {
      this.sendHeaders(s.id, RESPONSE_HEADERS, false)
      s.headersSent = true
    }
    this.sendMessage(s, s.method!.encode(resp), false)
    const counts = s.method!.counts
    if (counts !== undefined) counts.sent++
    if (this.queuedBytes < HIGH_WATER_BYTES && this.socket.writableLength < HIGH_WATER_BYTES) return Promise.resolve()
    return new Promise((resolve, reject) => this.waiters.push(() => (s.done || this.failure !== undefined ? reject(closedError()) : resolve())))
  }

  private wake(): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  private startWatch(s: ServerStream): void {
    const session = this.server.handlers.Watch.Watch(s.ctx, (msg) => this.write(s, msg))
    let chain = Promise.resolve()
    s.onRequest = (req) => {
      chain = chain.then(() => session.receive(req)).catch((err: unknown) => this.finishWithError(s, err))
    }
    s.onHalfClose = () => {} // etcd keeps a watch stream sending after the client half-closes
    s.onClose = () => session.close()
  }

  private startKeepAlive(s: ServerStream): void {
    const keepAlive = this.server.handlers.Lease.LeaseKeepAlive
    let chain = Promise.resolve()
    s.onRequest = (req) => {
      chain = chain.then(async () => {
        if (s.done) return
        await this.write(s, await keepAlive(req, s.ctx))
      }).catch((err: unknown) => {
        if (!s.done) this.finishWithError(s, err)
      })
    }
    s.onHalfClose = () => {
      void chain.then(() => {
        if (!s.done) this.finish(s, null)
      })
    }
  }

  private runSnapshot(s: ServerStream, req: Req): void {
    void (async () => {
      try {
        for await (const msg of this.server.handlers.Maintenance.Snapshot(req, s.ctx)) {
          if (s.done) return
          await this.write(s, msg)
        }
        if (!s.done) this.finish(s, null)
      } catch (err) {
        if (!s.done) this.finishWithError(s, err)
      }
    })()
  }

  /** Ends `s` with grpc-status 0 (`null`) or an error, as trailers (or a trailers-only response). */
  private finish(s: ServerStream, status: { code: number; details: string } | null): void {
    if (s.done) return
    this.countEnd(s, status === null ? 0 : status.code)
    if (status === null) {
      if (!s.headersSent) this.sendHeaders(s.id, RESPONSE_HEADERS, false)
      s.headersSent = true
      this.sendTrailers(s, TRAILERS_OK)
      return
    }
    const fields: [string, string][] = [['grpc-status', String(status.code)], ['grpc-message', percentEncode(status.details)]]
    if (!s.headersSent) {
      s.headersSent = true
      this.sendTrailers(s, encodeHeaderBlock([[':status', '200'], ['content-type', 'application/grpc'], ...fields]))
    } else this.sendTrailers(s, encodeHeaderBlock(fields))
  }

  /** Counts `s` as handled with status `code`, once. */
  private countEnd(s: ServerStream, code: number): void {
    if (s.ended) return
    s.ended = true
    const counts = s.method?.counts
    if (counts !== undefined) counts.handled[code] = (counts.handled[code] ?? 0) + 1
  }

  /** Forgets `s` (its end was sent, or the client reset it, or the connection went). */
  private release(s: ServerStream): void {
    if (s.done) return
    if (!s.ended) {
      s.ended = true
      const counts = s.method?.counts
      if (counts !== undefined) counts.handled[1] = (counts.handled[1] ?? 0) + 1 // Canceled: reset by the client, or its connection went
    }
    this.dropPartial(s)
    s.done = true
    this.server.deadlines.delete(s)
    this.streams.delete(s.id)
    this.active--
    s.onClose?.()
    this.server.onStreamReleased()
  }
}

/** The gRPC server on the lean HTTP/2 framing; `createH2GrpcServer` makes one. */
class LeanServer implements GrpcServer {
  readonly handlers: EtcdHandlers
  readonly methods = new Map<string, Method>()
  readonly sessions = new Set<ServerSession>()
  /** Calls with a grpc-timeout, and when it passes (performance.now() ms). */
  readonly deadlines = new Map<ServerStream, { readonly at: number; readonly session: ServerSession }>()
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined
  readonly maxConcurrentStreams: number
  readonly prefaceTimeoutMs: number
  private readonly maxConnections: number
  private readonly limits: SessionLimits
  private readonly listeners: NetServer[] = []
  private closing: Promise<void> | undefined
  private drained: (() => void) | undefined

  constructor(private readonly options: { readonly store: Store } & H2ServerOptions) {
    this.handlers = createEtcdHandlers(options)
    this.maxConcurrentStreams = intOption(options, 'maxConcurrentStreams', 10_000, 1, 0x7fffffff)
    this.maxConnections = intOption(options, 'maxConnections', 10_000, 1, 1_000_000)
    this.prefaceTimeoutMs = intOption(options, 'prefaceTimeoutMs', 10_000, 1, 3_600_000)
    this.limits = {
      streamWindowBytes: intOption(options, 'streamWindowBytes', 1 << 20, DEFAULT_WINDOW, 0x7fffffff),
      connectionWindowBytes: intOption(options, 'connectionWindowBytes', 16 << 20, DEFAULT_WINDOW, 0x7fffffff),
      maxMessageBytes: intOption(options, 'maxReceiveMessageBytes', 2 * 1024 * 1024, 1, 0x7fffffff),
      maxBufferedBytes: intOption(options, 'maxBufferedBytes', 64 << 20, 1, Number.MAX_SAFE_INTEGER),
    }
    intOption(options, 'closeGraceMs', 2000, 0, 3_600_000)
    if (options.fastCodecs !== undefined && typeof options.fastCodecs !== 'boolean') {
      throw new H2Error('ERR_SERVER_INVALID_OPTION', `h2: option fastCodecs is ${String(options.fastCodecs)}; it must be true or false`, { option: 'fastCodecs' })
    }
    const h = this.handlers as unknown as Record<string, Record<string, (r: Req, ctx: CallContext) => unknown>>
    for (const [path, requestType, responseType, requestStream, responseStream] of METHODS) {
      const [, pkgService, name] = path.split('/') as [string, string, string]
      const service = pkgService.slice('etcdserverpb.'.length)
      const kind: Kind = service === 'Watch' ? 'watch' : name === 'LeaseKeepAlive' ? 'keepalive' : name === 'Snapshot' ? 'snapshot' : 'unary'
      const unary = kind === 'unary' ? h[service]?.[name] : undefined
      if (kind === 'unary' && unary === undefined) continue // not served: answered as an unknown method
      const request = messageCodec(requestType)
      const response = messageCodec(responseType)
      const fast = options.fastCodecs === false ? undefined : FAST_CODECS.get(path)
      const decode = fast === undefined ? (b: Buffer) => request.decode(b) as Req : (b: Buffer) => fast.decode(b) ?? (request.decode(b) as Req)
      const encode = fast === undefined ? (v: unknown) => response.encode(v) : (v: unknown, alloc?: Alloc) => fast.encode(v, alloc) ?? response.encode(v)
      const counts = options.observer?.method(grpcType(requestStream, responseStream), pkgService, name)
      this.methods.set(path, { kind, decode, encode, counts, ...(unary === undefined ? {} : { unary }) })
    }
  }

  listen(host: string, port: number): Promise<number> {
    if (this.closing !== undefined) return Promise.reject(new H2Error('ERR_SERVER_H2_CLOSED', 'h2: the gRPC server is closed'))
    if (!Number.isSafeInteger(port) || port < 0 || port > 65_535) return Promise.reject(new H2Error('ERR_SERVER_INVALID_ARGUMENT', `h2: port must be 0..65535, got ${port}`, { port }))
    const tls = this.options.tls
    const accept = (socket: Socket | TLSSocket): void => {
      if (this.closing !== undefined || this.sessions.size >= this.maxConnections) {
        socket.destroy()
        return
      }
      this.sessions.add(new ServerSession(socket, this.limits, this))
    }
    const server: NetServer = tls === undefined
      ? createNetServer(accept)
      : createTlsServer({
        cert: Buffer.from(tls.cert), key: Buffer.from(tls.key), ...(tls.ca === undefined ? {} : { ca: Buffer.from(tls.ca) }),
        requestCert: tls.clientCertAuth === true, rejectUnauthorized: tls.clientCertAuth === true, ALPNProtocols: ['h2'],
      }, accept)
    server.on('tlsClientError', () => {})
    this.listeners.push(server)
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new H2Error('ERR_SERVER_INVALID_ARGUMENT', `h2: cannot listen on ${host}:${port}: ${err.message}`, { host, port }, { cause: err })))
      server.listen(port, host, () => resolve((server.address() as { port: number }).port))
    })
  }

  addDeadline(s: ServerStream, session: ServerSession, at: number): void {
    this.deadlines.set(s, { at, session })
    this.armDeadlines()
  }

  /** One timer for every deadline, running while calls carry one (a timer per call costs ~1.6 µs and garbage). */
  private armDeadlines(): void {
    if (this.deadlineTimer !== undefined || this.deadlines.size === 0) return
    this.deadlineTimer = setTimeout(() => {
      this.deadlineTimer = undefined
      const now = performance.now()
      for (const [s, d] of this.deadlines) {
        if (d.at > now) continue
        this.deadlines.delete(s)
        d.session.expire(s)
      }
      this.armDeadlines()
    }, DEADLINE_SWEEP_MS)
    this.deadlineTimer.unref()
  }

  onStreamReleased(): void {
    if (this.drained !== undefined && [...this.sessions].every((s) => s.unaryInFlight === 0)) this.drained()
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const l of this.listeners) l.close()
      for (const s of this.sessions) s.shutdown()
      const grace = this.options.closeGraceMs ?? 2000
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, grace)
        timer.unref()
        this.drained = () => {
          clearTimeout(timer)
          resolve()
        }
        this.onStreamReleased()
      })
      for (const s of [...this.sessions]) s.destroy()
      this.sessions.clear()
      if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer)
      this.deadlineTimer = undefined
      this.deadlines.clear()
    })()
    return this.closing
  }
}

/**
 * etcd's v3 API over `store` on this package's own HTTP/2 framing (no grpc-js, no node:http2):
 * the same handlers, codecs, status codes and options as `createGrpcServer`, plus the
 * connection limits of {@link H2ServerOptions}. Protocol errors on a connection end that
 * connection (GOAWAY PROTOCOL_ERROR), never the process.
 */
export function createH2GrpcServer(options: { readonly store: Store } & H2ServerOptions): GrpcServer {
  return new LeanServer(options)
}

