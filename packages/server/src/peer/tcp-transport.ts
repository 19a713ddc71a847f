import { createServer as createNetServer, connect as netConnect, type Server, type Socket } from 'node:net'
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls'
import { type Clock, type MemberId, type Rng, type Timer, type Transport, cryptoRng, randomBelow, systemClock } from '@strata/seams'
import type { TlsMaterial } from '../tls.js'
import { clientTlsOptions, serverTlsOptions } from '../tls.js'
import { ServerError } from './errors.js'
import { FRAME_HELLO, FRAME_HELLO_OK, FRAME_MEMBERS, FRAME_MEMBERS_REQUEST, FRAME_MESSAGE, FRAME_REJECT, FrameDecoder, HEADER_BYTES, PROTOCOL_VERSION, decodeHello, encodeFrame, encodeHello } from './frame.js'
import { parseHostPort } from './url.js'

/** Something the transport noticed, for logs. Never carries message contents. */
export type PeerEvent =
  | { readonly type: 'connected'; readonly peer: MemberId; readonly url: string }
  | { readonly type: 'disconnected'; readonly peer: MemberId; readonly reason: string; readonly retryInMs: number }
  | { readonly type: 'rejected'; readonly peer: MemberId; readonly reason: string }
  | { readonly type: 'refused-inbound'; readonly remote: string; readonly reason: string }
  | { readonly type: 'bad-frame'; readonly remote: string; readonly reason: string }
  | { readonly type: 'dropped'; readonly peer: MemberId; readonly reason: 'queue-full' | 'oversized' | 'no-address' }

export interface TcpTransportOptions {
  /** This member's id (a positive safe integer); peers address their hello to it. */
  readonly memberId: number
  /** The cluster's id (a positive safe integer); a peer whose hello names another is refused. */
  readonly clusterId: number
  /** Where to accept peers: `http://host:port` (TCP) or `https://host:port` (TLS; needs `tls`). Port 0 picks a free port (see `address`). Undefined: dial only. */
  readonly listenUrl?: string
  /** The peers' URLs by member id; the first is dialed, the next on the next attempt. */
  readonly peers?: ReadonlyMap<MemberId, readonly string[]>
  /** Asked for a peer missing from `peers` at each dial (members added at run time). */
  readonly resolvePeer?: (id: MemberId) => readonly string[] | undefined
  /** Certificate, key, CA and client-cert auth for the listener and for dialing `https://` peers. */
  readonly tls?: TlsMaterial
  /** Largest message in bytes, in and out. Default 4 MiB (a 1 MiB snapshot chunk plus its envelope fits with room); bounds 64 KiB..256 MiB. A bigger outgoing message is dropped and counted; a bigger incoming frame closes the connection. */
  readonly maxFrameBytes?: number
  /** Messages queued per peer while it is slow or down. Default 4,096; bounds 1..1,000,000. The oldest is dropped (and counted) first. */
  readonly maxQueueMessages?: number
  /** Bytes queued per peer. Default 16 MiB; bounds 64 KiB..1 GiB, and at least `maxFrameBytes`. */
  readonly maxQueueBytes?: number
  /** First reconnect delay in ms, doubled per failed attempt up to `backoffMaxMs`, each drawn uniformly in [half, whole]. Default 50; bounds 1..60,000. */
  readonly backoffMinMs?: number
  /** Cap on the reconnect delay in ms. Default 2,000; bounds `backoffMinMs`..600,000. */
  readonly backoffMaxMs?: number
  /** A dial must reach HELLO_OK, and an accepted connection must send its hello, within this many ms. Default 5,000; bounds 10..600,000. */
  readonly handshakeTimeoutMs?: number
  /** Accepted connections open at once (hello pending or not); more are closed at once and counted. Default 1,024; bounds 1..100,000. */
  readonly maxInboundConnections?: number
  /** The membership this member has applied, answered to a MEMBERS_REQUEST (see `fetchMembers`). Default: refuse such requests. */
  readonly members?: () => readonly PeerMember[]
  readonly onEvent?: (event: PeerEvent) => void
  readonly clock?: Clock
  readonly rng?: Rng
}

/** A member as a MEMBERS answer lists it. */
export interface PeerMember {
  readonly id: MemberId
  readonly name: string
  readonly peerUrls: readonly string[]
  readonly isLearner: boolean
}

/** Counters since open. */
export interface TransportStats {
  readonly sentMessages: number
  readonly sentBytes: number
  readonly receivedMessages: number
  readonly receivedBytes: number
  readonly droppedMessages: number
  readonly badFrames: number
  readonly refusedConnections: number
  readonly peers: readonly { readonly id: MemberId; readonly state: LinkState; readonly queuedMessages: number; readonly queuedBytes: number; readonly attempts: number }[]
}

type LinkState = 'idle' | 'connecting' | 'ready' | 'backoff'

interface Resolved {
  readonly memberId: number
  readonly clusterId: number
  readonly maxFrameBytes: number
  readonly maxQueueMessages: number
  readonly maxQueueBytes: number
  readonly backoffMinMs: number
  readonly backoffMaxMs: number
  readonly handshakeTimeoutMs: number
  readonly maxInboundConnections: number
}

function int(o: Record<string, unknown>, name: string, dflt: number, min: number, max: number): number {
  const v = o[name] ?? dflt
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new ServerError('ERR_SERVER_INVALID_OPTION', `server: ${name} must be an integer in ${min}..${max}, got ${String(v)}`, { option: name })
  }
  return v
}

function resolve(options: TcpTransportOptions): Resolved {
  if (typeof options !== 'object' || options === null) throw new ServerError('ERR_SERVER_INVALID_OPTION', 'server: TcpTransport.open takes an options object with { memberId, clusterId }')
  const o = options as unknown as Record<string, unknown>
  const maxFrameBytes = int(o, 'maxFrameBytes', 4 * 1024 * 1024, 64 * 1024, 256 * 1024 * 1024)
  const backoffMinMs = int(o, 'backoffMinMs', 50, 1, 60_000)
  return {
    memberId: int(o, 'memberId', 0, 1, Number.MAX_SAFE_INTEGER),
    clusterId: int(o, 'clusterId', 0, 1, Number.MAX_SAFE_INTEGER),
    maxFrameBytes,
    maxQueueMessages: int(o, 'maxQueueMessages', 4096, 1, 1_000_000),
    maxQueueBytes: int(o, 'maxQueueBytes', Math.max(16 * 1024 * 1024, maxFrameBytes + HEADER_BYTES), maxFrameBytes + HEADER_BYTES, 1024 ** 3),
    backoffMinMs,
    backoffMaxMs: int(o, 'backoffMaxMs', Math.max(2_000, backoffMinMs), backoffMinMs, 600_000),
    handshakeTimeoutMs: int(o, 'handshakeTimeoutMs', 5_000, 10, 600_000),
    maxInboundConnections: int(o, 'maxInboundConnections', 1024, 1, 100_000),
  }
}

/**
 * One peer's outgoing side: a bounded queue of encoded frames and at most one connection.
 * Invariant: `bytes` is the sum of the queued frames' lengths; `queue.length - head` ≤
 * maxQueueMessages and `bytes` ≤ maxQueueBytes after every enqueue.
 */
class Link {
  state: LinkState = 'idle'
  socket: Socket | undefined
  timer: Timer | undefined
  queue: Buffer[] = []
  head = 0
  bytes = 0
  attempts = 0
  urlIndex = 0
  blocked = false
  constructor(readonly id: MemberId) {}

  get length(): number {
    return this.queue.length - this.head
  }

  shift(): Buffer {
    const f = this.queue[this.head]!
    this.queue[this.head++] = undefined as unknown as Buffer
    this.bytes -= f.length
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
    return f
  }
}

/**
 * The {@link Transport} between member processes over TCP or TLS. Each member dials every
 * peer it sends to and keeps one connection per peer for its own messages; it accepts the
 * peers' connections on `listenUrl` for theirs. A peer that is down costs at most
 * `maxQueueBytes` (and `maxQueueMessages`) here: older messages are dropped first, which raft
 * tolerates (it resends what a follower lacks). Wire format: see `frame.ts`.
 */
export class TcpTransport implements Transport {
  readonly #o: Resolved
  readonly #clock: Clock
  readonly #rng: Rng
  readonly #tls: TlsMaterial | undefined
  readonly #peers = new Map<MemberId, readonly string[]>()
  readonly #resolvePeer: ((id: MemberId) => readonly string[] | undefined) | undefined
  readonly #onEvent: (event: PeerEvent) => void
  readonly #members: (() => readonly PeerMember[]) | undefined
  readonly #links = new Map<MemberId, Link>()
  readonly #inbound = new Map<Socket, MemberId | undefined>()
  #server: Server | undefined
  #handler: ((from: MemberId, message: Uint8Array) => void) | undefined
  #closed = false
  #port = 0
  #sentMessages = 0
  #sentBytes = 0
  #receivedMessages = 0
  #receivedBytes = 0
  #dropped = 0
  #badFrames = 0
  #refused = 0

  private constructor(options: TcpTransportOptions, o: Resolved) {
    this.#o = o
    this.#clock = options.clock ?? systemClock
    this.#rng = options.rng ?? cryptoRng()
    this.#tls = options.tls
    for (const [id, urls] of options.peers ?? []) this.setPeer(id, urls)
    this.#resolvePeer = options.resolvePeer
    this.#onEvent = options.onEvent ?? (() => {})
    this.#members = options.members
  }

  /** Checks the options (ERR_SERVER_INVALID_OPTION) and starts listening on `listenUrl`. */
  static async open(options: TcpTransportOptions): Promise<TcpTransport> {
    const t = new TcpTransport(options, resolve(options))
    if (options.listenUrl !== undefined) await t.#listen(options.listenUrl)
    return t
  }

  /** The port the listener is bound to (the real one when `listenUrl` asked for port 0); 0 without a listener. */
  get port(): number {
    return this.#port
  }

  /** Sets (or replaces) the URLs a peer is dialed at; used from the next dial on. */
  setPeer(id: MemberId, urls: readonly string[]): void {
    checkId(id)
    for (const u of urls) parseHostPort(u, 'peer URL')
    this.#peers.set(id, [...urls])
  }

  /** Forgets a peer (a removed member): its queue is dropped and its connection closed. */
  removePeer(id: MemberId): void {
    this.#peers.delete(id)
    const link = this.#links.get(id)
    if (link === undefined) return
    this.#links.delete(id)
    this.#shutLink(link)
  }

  onMessage(fn: (from: MemberId, message: Uint8Array) => void): void {
    this.#handler = fn
  }

  /**
   * Queues `message` for `to` and writes it as soon as the connection allows. Never throws for
   * a peer that is down or unknown: the message is dropped and counted, as a network would lose it.
   */
  send(to: MemberId, message: Uint8Array): void {
    if (this.#closed) throw new ServerError('ERR_SERVER_CLOSED', 'server: the peer transport is closed')
    checkId(to)
    if (!(message instanceof Uint8Array)) throw new ServerError('ERR_SERVER_INVALID_ARGUMENT', `server: a peer message must be a Uint8Array, got ${typeof message}`)
    if (to === this.#o.memberId) return
    if (message.length > this.#o.maxFrameBytes) return this.#drop(to, 'oversized')
    let link = this.#links.get(to)
    if (link === undefined) {
      link = new Link(to)
      this.#links.set(to, link)
    }
    const frame = encodeFrame(FRAME_MESSAGE, message)
    while (link.length > 0 && (link.length >= this.#o.maxQueueMessages || link.bytes + frame.length > this.#o.maxQueueBytes)) {
      link.shift()
      this.#drop(to, 'queue-full')
    }
    link.queue.push(frame)
    link.bytes += frame.length
    if (link.state === 'ready') this.#flush(link)
    else if (link.state === 'idle') this.#dial(link)
  }

  stats(): TransportStats {
    return {
      sentMessages: this.#sentMessages, sentBytes: this.#sentBytes,
      receivedMessages: this.#receivedMessages, receivedBytes: this.#receivedBytes,
      droppedMessages: this.#dropped, badFrames: this.#badFrames, refusedConnections: this.#refused,
      peers: [...this.#links.values()].map((l) => ({ id: l.id, state: l.state, queuedMessages: l.length, queuedBytes: l.bytes, attempts: l.attempts })),
    }
  }

  /** Stops listening, closes every connection, cancels every timer and drops every queue. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const link of this.#links.values()) this.#shutLink(link)
    this.#links.clear()
    for (const s of this.#inbound.keys()) s.destroy()
    this.#inbound.clear()
    const server = this.#server
    if (server !== undefined) await new Promise<void>((done) => server.close(() => done()))
  }

  #drop(peer: MemberId, reason: 'queue-full' | 'oversized' | 'no-address'): void {
    this.#dropped++
    this.#onEvent({ type: 'dropped', peer, reason })
  }

  #shutLink(link: Link): void {
    link.timer?.cancel()
    link.timer = undefined
    link.socket?.destroy()
    link.socket = undefined
    link.queue = []
    link.head = 0
    link.bytes = 0
    link.state = 'idle'
  }

  #urlsOf(id: MemberId): readonly string[] | undefined {
    const known = this.#peers.get(id)
    if (known !== undefined && known.length > 0) return known
    const found = this.#resolvePeer?.(id)
    return found !== undefined && found.length > 0 ? found : undefined
  }

  #dial(link: Link): void {
    const urls = this.#urlsOf(link.id)
    if (urls === undefined) {
      // Nobody knows where this member is yet: drop what is queued, try again on the next send.
      while (link.length > 0) { link.shift(); this.#drop(link.id, 'no-address') }
      return
    }
    const url = urls[link.urlIndex++ % urls.length]!
    let target
    try {
      target = parseHostPort(url, 'peer URL')
    } catch {
      return this.#retry(link, `bad peer URL ${url}`)
    }
    if (target.tls && this.#tls === undefined) return this.#retry(link, `peer URL ${url} is https but no --peer-cert-file/--peer-key-file were given`)
    link.state = 'connecting'
    const socket = target.tls
      ? tlsConnect({ host: target.host, port: target.port, ...clientTlsOptions(this.#tls!) })
      : netConnect({ host: target.host, port: target.port })
    link.socket = socket
    socket.setNoDelay(true)
    const timer = this.#clock.setTimer(this.#o.handshakeTimeoutMs, () => socket.destroy(new Error(`no hello answer within ${this.#o.handshakeTimeoutMs} ms`)))
    const decoder = new FrameDecoder(64 * 1024)
    let why = 'connection closed'
    socket.once(target.tls ? 'secureConnect' : 'connect', () => {
      socket.write(encodeHello({ version: PROTOCOL_VERSION, clusterId: this.#o.clusterId, from: this.#o.memberId, to: link.id }))
    })
    socket.on('data', (chunk: Buffer) => {
      const bad = decoder.push(chunk, (f) => {
        if (f.type === FRAME_HELLO_OK && link.state === 'connecting') {
          timer.cancel()
          link.state = 'ready'
          link.attempts = 0
          this.#onEvent({ type: 'connected', peer: link.id, url })
          this.#flush(link)
          return true
        }
        if (f.type === FRAME_REJECT) {
          why = `refused by the peer: ${f.payload.toString('utf8')}`
          this.#onEvent({ type: 'rejected', peer: link.id, reason: why })
          socket.destroy()
        } else {
          socket.destroy(new Error(`unexpected frame type ${f.type} from the peer`))
        }
        return false
      })
      if (bad !== undefined) socket.destroy(new Error(bad))
    })
    socket.on('drain', () => {
      link.blocked = false
      this.#flush(link)
    })
    socket.on('error', (err) => { why = err.message })
    socket.on('close', () => {
      timer.cancel()
      if (link.socket !== socket) return
      link.socket = undefined
      link.blocked = false
      if (this.#closed || this.#links.get(link.id) !== link) return
      this.#retry(link, why)
    })
  }

  #retry(link: Link, reason: string): void {
    const ceiling = Math.min(this.#o.backoffMaxMs, this.#o.backoffMinMs * 2 ** Math.min(link.attempts, 30))
    const delay = Math.ceil(ceiling / 2) + randomBelow(this.#rng, Math.floor(ceiling / 2) + 1)
    link.attempts++
    link.state = 'backoff'
    this.#onEvent({ type: 'disconnected', peer: link.id, reason, retryInMs: delay })
    link.timer = this.#clock.setTimer(delay, () => {
      link.timer = undefined
      if (this.#closed || this.#links.get(link.id) !== link) return
      link.state = 'idle'
      // Idle with nothing to say: dial again on the next send rather than hold a connection open.
      if (link.length > 0) this.#dial(link)
    })
  }

  #flush(link: Link): void {
    const socket = link.socket
    if (socket === undefined) return
    while (!link.blocked && link.length > 0) {
      const f = link.shift()
      this.#sentMessages++
      this.#sentBytes += f.length - HEADER_BYTES
      // Node buffers whatever write() is given; stop at its high-water mark so the bound on
      // memory stays ours (the queue) rather than the socket's unbounded buffer.
      if (!socket.write(f)) link.blocked = true
    }
  }

  async #listen(url: string): Promise<void> {
    const at = parseHostPort(url, '--listen-peer-urls')
    if (at.tls && this.#tls === undefined) throw new ServerError('ERR_SERVER_INVALID_OPTION', `server: ${url} is https: give --peer-cert-file and --peer-key-file`, { option: 'tls' })
    const onSocket = (s: Socket): void => this.#accept(s)
    const server = at.tls ? createTlsServer(serverTlsOptions(this.#tls!), onSocket) : createNetServer(onSocket)
    if (at.tls) {
      server.on('tlsClientError', (err, s) => {
        this.#refused++
        this.#onEvent({ type: 'refused-inbound', remote: `${s.remoteAddress}:${s.remotePort}`, reason: `TLS handshake failed: ${err.message}` })
      })
    }
    this.#server = server
    await new Promise<void>((done, fail) => {
      server.once('error', fail)
      server.listen(at.port, at.host, () => {
        server.off('error', fail)
        done()
      })
    })
    const addr = server.address()
    this.#port = typeof addr === 'object' && addr !== null ? addr.port : at.port
  }

  #accept(socket: Socket): void {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`
    if (this.#closed || this.#inbound.size >= this.#o.maxInboundConnections) {
      this.#refused++
      this.#onEvent({ type: 'refused-inbound', remote, reason: `${this.#inbound.size} connections already open (maxInboundConnections)` })
      socket.destroy()
      return
    }
    this.#inbound.set(socket, undefined)
    socket.setNoDelay(true)
    const timer = this.#clock.setTimer(this.#o.handshakeTimeoutMs, () => {
      if (this.#inbound.get(socket) === undefined) this.#refuse(socket, remote, `no hello within ${this.#o.handshakeTimeoutMs} ms`)
    })
    const decoder = new FrameDecoder(this.#o.maxFrameBytes)
    socket.on('data', (chunk: Buffer) => {
      const bad = decoder.push(chunk, (f) => {
        const from = this.#inbound.get(socket)
        if (from === undefined) {
          if (f.type === FRAME_MEMBERS_REQUEST) {
            timer.cancel()
            this.#answerMembers(socket, remote, f.payload)
            return false
          }
          if (f.type !== FRAME_HELLO) {
            this.#badFrame(socket, remote, `expected a hello, got frame type ${f.type}`)
            return false
          }
          timer.cancel()
          return this.#greet(socket, remote, f.payload)
        }
        if (f.type !== FRAME_MESSAGE) {
          this.#badFrame(socket, remote, `unexpected frame type ${f.type} after the hello`)
          return false
        }
        this.#receivedMessages++
        this.#receivedBytes += f.payload.length
        this.#handler?.(from, f.payload)
        return !socket.destroyed
      })
      if (bad !== undefined && !socket.destroyed) this.#badFrame(socket, remote, bad)
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      timer.cancel()
      this.#inbound.delete(socket)
    })
  }

  /** Checks a hello; answers HELLO_OK and records the sender, or REJECT and closes. */
  #greet(socket: Socket, remote: string, payload: Buffer): boolean {
    const h = decodeHello(payload)
    let reason: string | undefined
    if (typeof h === 'string') reason = h
    else if (h.version !== PROTOCOL_VERSION) reason = `protocol version ${h.version}, this member speaks ${PROTOCOL_VERSION}`
    else if (h.clusterId !== this.#o.clusterId) reason = `cluster id ${h.clusterId.toString(16)} is not this member's cluster ${this.#o.clusterId.toString(16)}`
    else if (h.to !== this.#o.memberId) reason = `addressed to member ${h.to.toString(16)}, this is ${this.#o.memberId.toString(16)}`
    else if (h.from < 1 || h.from === this.#o.memberId) reason = `sender id ${h.from} is not a peer's`
    if (reason !== undefined || typeof h === 'string') {
      this.#refuse(socket, remote, reason!)
      return false
    }
    // A peer that reconnects leaves its old connection half-open at worst: close it.
    for (const [other, from] of this.#inbound) if (from === h.from && other !== socket) other.destroy()
    this.#inbound.set(socket, h.from)
    socket.write(encodeFrame(FRAME_HELLO_OK, new Uint8Array(0)))
    return true
  }

  #answerMembers(socket: Socket, remote: string, payload: Buffer): void {
    const clusterId = payload.length === 8 ? payload.readBigUInt64BE(0) : -1n
    if (clusterId !== BigInt(this.#o.clusterId)) return this.#refuse(socket, remote, `members request for cluster ${clusterId.toString(16)}, this member's cluster is ${this.#o.clusterId.toString(16)}`)
    if (this.#members === undefined) return this.#refuse(socket, remote, 'this member does not answer members requests')
    let list: readonly PeerMember[]
    try {
      list = this.#members()
    } catch (err) {
      return this.#refuse(socket, remote, `members unavailable: ${(err as Error).message}`)
    }
    socket.end(encodeFrame(FRAME_MEMBERS, Buffer.from(JSON.stringify(list.map((m) => ({ id: m.id, name: m.name, peerUrls: m.peerUrls, isLearner: m.isLearner }))), 'utf8')))
  }

  #refuse(socket: Socket, remote: string, reason: string): void {
    this.#refused++
    this.#onEvent({ type: 'refused-inbound', remote, reason })
    socket.end(encodeFrame(FRAME_REJECT, Buffer.from(reason, 'utf8')))
    socket.destroySoon()
  }

  #badFrame(socket: Socket, remote: string, reason: string): void {
    this.#badFrames++
    this.#onEvent({ type: 'bad-frame', remote, reason })
    socket.destroy()
  }
}

function checkId(id: unknown): asserts id is number {
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) {
    throw new ServerError('ERR_SERVER_INVALID_ARGUMENT', `server: a member id must be a positive safe integer, got ${String(id)}`)
  }
}

/**
 * Asks the member listening at `url` for the membership it has applied (a MEMBERS_REQUEST on
 * the peer port, TLS for an https URL). Fails with ERR_SERVER_UNAVAILABLE when it cannot be
 * reached or refuses (another cluster, or it does not answer such requests) within `timeoutMs`.
 */
export function fetchMembers(url: string, options: { readonly clusterId: number; readonly tls?: TlsMaterial; readonly timeoutMs?: number }): Promise<PeerMember[]> {
  const at = parseHostPort(url, 'peer URL')
  if (at.tls && options.tls === undefined) return Promise.reject(new ServerError('ERR_SERVER_INVALID_OPTION', `server: ${url} is https: give --peer-cert-file and --peer-key-file`, { url }))
  return new Promise((resolve, reject) => {
    const fail = (why: string): void => reject(new ServerError('ERR_SERVER_UNAVAILABLE', `server: no membership from ${url}: ${why}`, { url }))
    const socket = at.tls ? tlsConnect({ host: at.host, port: at.port, ...clientTlsOptions(options.tls!) }) : netConnect({ host: at.host, port: at.port })
    const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${options.timeoutMs ?? 2_000} ms`)), options.timeoutMs ?? 2_000)
    let settled = false
    const settle = (f: () => void): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      f()
    }
    socket.once(at.tls ? 'secureConnect' : 'connect', () => {
      const id = Buffer.alloc(8)
      id.writeBigUInt64BE(BigInt(options.clusterId))
      socket.write(encodeFrame(FRAME_MEMBERS_REQUEST, id))
    })
    const decoder = new FrameDecoder(4 * 1024 * 1024)
    socket.on('data', (chunk: Buffer) => {
      const bad = decoder.push(chunk, (f) => {
        if (f.type === FRAME_MEMBERS) {
          let list: PeerMember[]
          try {
            list = JSON.parse(f.payload.toString('utf8')) as PeerMember[]
          } catch {
            settle(() => fail('the answer is not JSON'))
            return false
          }
          settle(() => resolve(list))
        } else {
          settle(() => fail(f.type === FRAME_REJECT ? `refused: ${f.payload.toString('utf8')}` : `unexpected frame type ${f.type}`))
        }
        return false
      })
      if (bad !== undefined) settle(() => fail(bad))
    })
    socket.on('error', (err) => settle(() => fail(err.message)))
    socket.on('close', () => settle(() => fail('connection closed')))
  })
}
