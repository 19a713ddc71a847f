// The load generator behind `strata bench`: closed-loop clients over a few lean HTTP/2
// connections, every request encoded once and patched in place, latency and the client's own
// CPU per call measured. In the manner of etcd's tools/benchmark.
import { performance } from 'node:perf_hooks'
import { H2Connection, type GrpcStream } from '../h2/client.js'
import { H2Error } from '../h2/errors.js'
import {
  METHOD_AUTHENTICATE, METHOD_LEASE_GRANT, METHOD_LEASE_KEEPALIVE, METHOD_PUT, METHOD_RANGE, METHOD_TXN, METHOD_WATCH,
  type Template, authenticateRequest, keepAliveTtl, leaseGrantRequest, leaseKeepAliveRequest, putRequest, rangeRequest,
  readLeaseGrant, readToken, readWatchResponse, txnPutRequest, watchCreateRequest,
} from './proto.js'

export type BenchKind = 'put' | 'range' | 'txn-put' | 'watch' | 'lease-keepalive' | 'authenticate'
export const BENCH_KINDS: readonly BenchKind[] = ['put', 'range', 'txn-put', 'watch', 'lease-keepalive', 'authenticate']

export interface BenchOptions {
  /** gRPC endpoints, `host:port` or `http://host:port`; connections are spread over them. Default `['127.0.0.1:2379']`. */
  readonly endpoints?: readonly string[]
  /** HTTP/2 connections. Default 1; 1 to 1024. */
  readonly conns?: number
  /** Concurrent clients (requests in flight), spread over the connections. Default 1; 1 to 100,000. */
  readonly clients?: number
  /** Requests in all (for watch: puts; for lease-keepalive: keep-alive requests). Default 10,000. */
  readonly total?: number
  /** Key size, bytes (the key number is written as a zigzag varint, the rest zero, as etcd's benchmark does). Default 8; 1 to 65,536. */
  readonly keySize?: number
  /** Value size, bytes. Default 8; 0 to 16 MiB (watch needs at least 4: the put's sequence number). */
  readonly valSize?: number
  /** Distinct keys written (put, txn-put). Default 1. */
  readonly keySpaceSize?: number
  /** Keys 0, 1, 2, ... modulo keySpaceSize instead of random ones. Default false. */
  readonly sequentialKeys?: boolean
  /** range: the key (or first key) read. Default `foo`. */
  readonly key?: string
  /** range: the range end (etcd's range_end; `\0` is every key from `key`). Default: the single key. */
  readonly rangeEnd?: string
  /** range: `l` linearizable (default) or `s` serializable. */
  readonly consistency?: 'l' | 's'
  /** range: limit on keys returned, 0 = none. Default 0. */
  readonly limit?: number
  /** range: count only. Default false. */
  readonly countOnly?: boolean
  /** txn-put: puts per transaction. Default 1; 1 to 100,000. */
  readonly txnOps?: number
  /** watch: watchers, spread over the watch streams. Default 100. */
  readonly watchers?: number
  /** watch: watch streams (gRPC Watch calls), spread over the connections. Default 10. */
  readonly streams?: number
  /** watch: the key every watcher watches and every put writes. Default `bench-watch`. */
  readonly watchKey?: string
  /** watch and lease-keepalive: give up when nothing arrives for this long, ms. Default 10,000. */
  readonly idleTimeoutMs?: number
  /** lease-keepalive: TTL of the leases granted (one per client), seconds. Default 60. */
  readonly leaseTtlSeconds?: number
  /**
   * `name:password`: authenticate first and send the token with every call (etcd's --user). For
   * the `authenticate` kind, the credentials every Authenticate call sends (no token is sent).
   */
  readonly user?: string
  /** Seed of the key generator (random keys). Default 1. */
  readonly seed?: number
  /** A token got earlier (e.g. by an Authenticate call), sent with every call instead of authenticating with `user`. */
  readonly token?: string
  /** Unary kinds: once aborted, no new call is issued; the report covers the calls made until then. */
  readonly signal?: AbortSignal
  /** Called about every `progressEveryCalls` completions with (done, total). */
  readonly onProgress?: (done: number, total: number) => void
}

export interface BenchReport {
  readonly kind: BenchKind
  readonly endpoints: readonly string[]
  readonly conns: number
  readonly clients: number
  /** Calls completed (for watch: events delivered). */
  readonly calls: number
  readonly errors: number
  /** Error text -> count. */
  readonly errorCounts: Readonly<Record<string, number>>
  readonly seconds: number
  /** Calls (events for watch) per second. */
  readonly perSecond: number
  /** For txn-put: keys written per second. */
  readonly keysPerSecond: number
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number; readonly mean: number }
  /** This process's CPU (user + system) over the load, µs per call (per event for watch). */
  readonly clientCpuUsPerCall: number
  /** The system (kernel: socket reads and writes) part of clientCpuUsPerCall. */
  readonly clientSystemUsPerCall: number
  /** For watch: puts issued and their rate. */
  readonly puts?: number
}

function invalid(name: string, value: unknown, bounds: string): H2Error {
  return new H2Error('ERR_SERVER_INVALID_OPTION', `bench: ${name} is ${JSON.stringify(value)}; it must be ${bounds}`, { option: name, value })
}

function int(o: BenchOptions, name: keyof BenchOptions, def: number, min: number, max: number): number {
  const v = o[name]
  if (v === undefined) return def
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw invalid(name, v, `an integer from ${min} to ${max}`)
  return v
}

interface Resolved {
  endpoints: string[]
  conns: number
  clients: number
  total: number
  keySize: number
  valSize: number
  keySpaceSize: number
  sequentialKeys: boolean
  seed: number
}

function resolve(o: BenchOptions): Resolved {
  const endpoints = o.endpoints ?? ['127.0.0.1:2379']
  if (!Array.isArray(endpoints) || endpoints.length === 0 || endpoints.some((e) => typeof e !== 'string')) throw invalid('endpoints', endpoints, 'a non-empty list of host:port')
  const keySize = int(o, 'keySize', 8, 1, 65536)
  const keySpaceSize = int(o, 'keySpaceSize', 1, 1, Number.MAX_SAFE_INTEGER)
  if (varintLength(2 * (keySpaceSize - 1)) > keySize) throw invalid('keySize', keySize, `at least ${varintLength(2 * (keySpaceSize - 1))} bytes to hold ${keySpaceSize} distinct keys`)
  return {
    endpoints: [...endpoints],
    conns: int(o, 'conns', 1, 1, 1024),
    clients: int(o, 'clients', 1, 1, 100_000),
    total: int(o, 'total', 10_000, 1, 100_000_000),
    keySize,
    valSize: int(o, 'valSize', 8, 0, 16 << 20),
    keySpaceSize,
    sequentialKeys: o.sequentialKeys ?? false,
    seed: int(o, 'seed', 1, 1, 0xffffffff),
  }
}

function varintLength(v: number): number {
  let n = 1
  while (v >= 0x80) {
    v = Math.floor(v / 0x80)
    n++
  }
  return n
}

/** Writes key number `n` as etcd's benchmark does (binary.PutVarint: zigzag) and zeroes the rest. */
function writeKey(buf: Buffer, at: number, size: number, n: number): void {
  let v = 2 * n // zigzag of a non-negative number
  let p = at
  while (v >= 0x80) {
    buf[p++] = (v % 0x80) | 0x80
    v = Math.floor(v / 0x80)
  }
  buf[p++] = v
  if (p < at + size) buf.fill(0, p, at + size)
}

class KeyPicker {
  private state: number
  private next = 0
  constructor(private readonly r: Resolved) {
    this.state = r.seed >>> 0 || 1
  }
  pick(): number {
    if (this.r.sequentialKeys) {
      const n = this.next
      this.next = (this.next + 1) % this.r.keySpaceSize
      return n
    }
    if (this.r.keySpaceSize === 1) return 0
    // xorshift32: deterministic, cheap; the bench needs spread, not cryptographic quality
    let x = this.state
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.state = x >>> 0
    return this.state % this.r.keySpaceSize
  }
  /** Rewrites the template's keys: one pick, then the keys after it (a txn's keys must differ). */
  patch(t: Template): void {
    const offsets = t.keyOffsets
    if (offsets.length === 1) {
      writeKey(t.bytes, offsets[0]!, this.r.keySize, this.pick())
      return
    }
    let n = this.pick()
    for (const at of offsets) {
      writeKey(t.bytes, at, this.r.keySize, n)
      n = n + 1 === this.r.keySpaceSize ? 0 : n + 1
    }
    if (this.r.sequentialKeys) this.next = (this.next + offsets.length - 1) % this.r.keySpaceSize
  }
}

function valueBytes(size: number): Buffer {
  const v = Buffer.allocUnsafe(size)
  let x = 0x9e3779b9
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    v[i] = x & 0xff
  }
  return v
}

class Recorder {
  readonly lat: Float64Array
  n = 0
  errors = 0
  readonly errorCounts: Record<string, number> = {}
  constructor(capacity: number) {
    this.lat = new Float64Array(capacity)
  }
  ok(ms: number): void {
    if (this.n < this.lat.length) this.lat[this.n] = ms
    this.n++
  }
  error(err: Error, ms: number): void {
    this.errors++
    const key = err.message
    this.errorCounts[key] = (this.errorCounts[key] ?? 0) + 1
    this.ok(ms)
  }
}

async function connectAll(r: Resolved): Promise<H2Connection[]> {
  const conns: H2Connection[] = []
  try {
    for (let i = 0; i < r.conns; i++) conns.push(await H2Connection.open(r.endpoints[i % r.endpoints.length]!))
  } catch (e) {
    await Promise.all(conns.map((c) => c.close()))
    throw e
  }
  return conns
}

function unaryOnce(conn: H2Connection, block: Buffer, msg: Uint8Array): Promise<Buffer> {
  return new Promise((res, rej) => conn.unary(block, msg, (err, m) => (err === null ? res(m!) : rej(err))))
}

/** Authenticates as `name:password` at `endpoint` and returns the token (etcd's simple token). */
export async function authenticateOnce(endpoint: string, user: string): Promise<string> {
  const conns = await connectAll({ ...resolve({ endpoints: [endpoint] }), conns: 1 })
  try {
    return (await authenticate(conns, user))[0]![1]
  } finally {
    await Promise.all(conns.map((c) => c.close()))
  }
}

async function authenticate(conns: H2Connection[], user: string | undefined): Promise<[string, string][]> {
  if (user === undefined) return []
  const i = user.indexOf(':')
  if (i <= 0) throw invalid('user', user, 'name:password')
  const resp = await unaryOnce(conns[0]!, conns[0]!.requestHeaders(METHOD_AUTHENTICATE), authenticateRequest(user.slice(0, i), user.slice(i + 1)))
  return [['token', readToken(resp)]]
}

function summarize(kind: BenchKind, r: Resolved, rec: Recorder, seconds: number, cpu: NodeJS.CpuUsage, perCallDivisor: number, keysPerCall: number, puts?: number): BenchReport {
  const n = Math.min(rec.n, rec.lat.length)
  const sorted = rec.lat.slice(0, n).sort()
  const at = (q: number): number => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.ceil(q * n) - 1)]!)
  let sum = 0
  for (let i = 0; i < n; i++) sum += sorted[i]!
  return {
    kind,
    endpoints: r.endpoints,
    conns: r.conns,
    clients: r.clients,
    calls: rec.n,
    errors: rec.errors,
    errorCounts: rec.errorCounts,
    seconds,
    perSecond: rec.n / seconds,
    keysPerSecond: (rec.n * keysPerCall) / seconds,
    latencyMs: { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: n === 0 ? 0 : sorted[n - 1]!, mean: n === 0 ? 0 : sum / n },
    clientCpuUsPerCall: (cpu.user + cpu.system) / Math.max(1, perCallDivisor),
    clientSystemUsPerCall: cpu.system / Math.max(1, perCallDivisor),
    ...(puts === undefined ? {} : { puts }),
  }
}

/** Closed-loop unary load: `clients` loops, each issuing its next call when the last completes. */
async function unaryLoad(
  conns: H2Connection[], r: Resolved, block: (c: H2Connection) => Buffer, next: () => Uint8Array, rec: Recorder, onProgress: BenchOptions['onProgress'], signal: AbortSignal | undefined,
): Promise<void> {
  let issued = 0
  let done = 0
  const every = Math.max(1, Math.floor(r.total / 100))
  await new Promise<void>((resolveAll) => {
    let running = r.clients
    const loop = (conn: H2Connection, hb: Buffer): void => {
      if (issued >= r.total || signal?.aborted === true) {
        if (--running === 0) resolveAll()
        return
      }
      issued++
      const t0 = performance.now()
      conn.unary(hb, next(), (err) => {
        const ms = performance.now() - t0
        if (err === null) rec.ok(ms)
        else rec.error(err, ms)
        done++
        if (onProgress !== undefined && done % every === 0) onProgress(done, r.total)
        loop(conn, hb)
      })
    }
    for (let c = 0; c < r.clients; c++) {
      const conn = conns[c % conns.length]!
      loop(conn, block(conn))
    }
  })
}

/** Runs one benchmark and returns its report (nothing is printed). */
export async function runWorkload(kind: BenchKind, options: BenchOptions = {}): Promise<BenchReport> {
  if (!BENCH_KINDS.includes(kind)) throw invalid('kind', kind, `one of ${BENCH_KINDS.join(', ')}`)
  const r = resolve(options)
  const conns = await connectAll(r)
  try {
    const metadata: [string, string][] = kind === 'authenticate' ? [] : options.token !== undefined ? [['token', options.token]] : await authenticate(conns, options.user)
    const headers = (method: string) => (c: H2Connection) => c.requestHeaders(method, metadata)
    const keys = new KeyPicker(r)
    const value = valueBytes(r.valSize)
    switch (kind) {
      case 'put':
      case 'range':
      case 'txn-put':
      case 'authenticate': {
        let t: Template
        let method: string
        let keysPerCall = 1
        let patch = true
        if (kind === 'put') {
          t = putRequest(Buffer.alloc(r.keySize), value)
          method = METHOD_PUT
        } else if (kind === 'txn-put') {
          keysPerCall = int(options, 'txnOps', 1, 1, 100_000)
          if (r.keySpaceSize < keysPerCall) throw invalid('keySpaceSize', r.keySpaceSize, `at least txnOps (${keysPerCall}): the keys of one txn must differ`)
          t = txnPutRequest(Array.from({ length: keysPerCall }, () => Buffer.alloc(r.keySize)), value)
          method = METHOD_TXN
        } else if (kind === 'authenticate') {
          const user = options.user
          const i = user === undefined ? -1 : user.indexOf(':')
          if (user === undefined || i <= 0) throw invalid('user', user, 'name:password (the credentials each Authenticate call sends)')
          t = { bytes: authenticateRequest(user.slice(0, i), user.slice(i + 1)), keyOffsets: [] }
          method = METHOD_AUTHENTICATE
          patch = false
        } else {
          const consistency = options.consistency ?? 'l'
          if (consistency !== 'l' && consistency !== 's') throw invalid('consistency', consistency, "'l' or 's'")
          t = rangeRequest(Buffer.from(options.key ?? 'foo'), {
            ...(options.rangeEnd === undefined ? {} : { end: Buffer.from(options.rangeEnd) }),
            limit: int(options, 'limit', 0, 0, Number.MAX_SAFE_INTEGER),
            serializable: consistency === 's',
            countOnly: options.countOnly ?? false,
          })
          method = METHOD_RANGE
          patch = false
        }
        const rec = new Recorder(r.total)
        const next = patch ? (): Uint8Array => (keys.patch(t), t.bytes) : (): Uint8Array => t.bytes
        const cpu0 = process.cpuUsage()
        const t0 = performance.now()
        await unaryLoad(conns, r, headers(method), next, rec, options.onProgress, options.signal)
        const seconds = (performance.now() - t0) / 1000
        return summarize(kind, r, rec, seconds, process.cpuUsage(cpu0), rec.n, keysPerCall)
      }
      case 'watch':
        return await watchLoad(conns, r, options, headers, value)
      case 'lease-keepalive':
        return await keepAliveLoad(conns, r, options, headers)
    }
  } finally {
    await Promise.all(conns.map((c) => c.close()))
  }
  throw invalid('kind', kind, `one of ${BENCH_KINDS.join(', ')}`)
}

/** Waits for `done()` or fails when `progress()` stops moving for `idleMs`. */
function idleWatchdog(idleMs: number, progress: () => number, what: string): { promise: Promise<void>; stop: () => void } {
  let timer: NodeJS.Timeout | undefined
  let stop = (): void => {}
  const promise = new Promise<void>((_res, rej) => {
    let last = -1
    timer = setInterval(() => {
      const p = progress()
      if (p === last) rej(new H2Error('ERR_SERVER_H2_CLOSED', `bench: no ${what} for ${idleMs} ms (at ${p}); the server stalled`))
      last = p
    }, idleMs)
    stop = () => clearInterval(timer)
  })
  promise.catch(() => {})
  return { promise, stop: () => stop() }
}

async function watchLoad(conns: H2Connection[], r: Resolved, o: BenchOptions, headers: (m: string) => (c: H2Connection) => Buffer, value: Buffer): Promise<BenchReport> {
  const watchers = int(o, 'watchers', 100, 1, 1_000_000)
  const nStreams = int(o, 'streams', 10, 1, 100_000)
  const idleMs = int(o, 'idleTimeoutMs', 10_000, 10, 3_600_000)
  if (r.valSize < 4) throw invalid('valSize', r.valSize, 'at least 4 for watch (each put carries its sequence number)')
  const expected = r.total * watchers
  if (expected > 50_000_000) throw invalid('total', r.total, `such that total x watchers stays within 50,000,000 events (${expected})`)
  const key = Buffer.from(o.watchKey ?? 'bench-watch')
  const sentAt = new Float64Array(r.total)
  const rec = new Recorder(expected)
  let created = 0
  let failed: H2Error | undefined
  let onCreated: () => void = () => {}
  let onAll: () => void = () => {}
  const streams: GrpcStream[] = []
  for (let i = 0; i < nStreams; i++) {
    const conn = conns[i % conns.length]!
    const s = conn.stream(headers(METHOD_WATCH)(conn), {
      onMessage: (msg) => {
        const w = readWatchResponse(msg, true)
        if (w.created) {
          created++
          if (created === watchers) onCreated()
        }
        if (w.events > 0) {
          const now = performance.now()
          for (const [a, b] of w.values) {
            if (b - a < 4) continue
            const seq = msg.readUInt32BE(a)
            rec.ok(seq < sentAt.length ? now - sentAt[seq]! : 0)
          }
          if (rec.n >= expected) onAll()
        }
      },
      onEnd: (err) => {
        if (err !== null && failed === undefined) failed = err
      },
    })
    streams.push(s)
  }
  const create = watchCreateRequest(key)
  for (let w = 0; w < watchers; w++) streams[w % nStreams]!.send(create)
  const createdDog = idleWatchdog(idleMs, () => created, 'watch created')
  await Promise.race([new Promise<void>((res) => (onCreated = res)), createdDog.promise])
  createdDog.stop()
  if (failed !== undefined) throw failed
  // the puts: `clients` in flight, value = sequence number + filler
  const put = putRequest(key, value)
  const valueAt = put.bytes.length - value.length
  let issued = 0
  let putsDone = 0
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const all = new Promise<void>((res) => (onAll = res))
  const dog = idleWatchdog(idleMs, () => rec.n, 'watch events')
  await new Promise<void>((resolvePuts) => {
    let running = Math.min(r.clients, r.total)
    const loop = (conn: H2Connection, hb: Buffer): void => {
      if (issued >= r.total) {
        if (--running === 0) resolvePuts()
        return
      }
      const seq = issued++
      put.bytes.writeUInt32BE(seq, valueAt)
      sentAt[seq] = performance.now()
      conn.unary(hb, put.bytes, (err) => {
        putsDone++
        if (err !== null) {
          rec.errors++
          rec.errorCounts[err.message] = (rec.errorCounts[err.message] ?? 0) + 1
        }
        if (o.onProgress !== undefined && putsDone % Math.max(1, Math.floor(r.total / 100)) === 0) o.onProgress(putsDone, r.total)
        loop(conn, hb)
      })
    }
    for (let c = 0; c < running; c++) {
      const conn = conns[c % conns.length]!
      loop(conn, headers(METHOD_PUT)(conn))
    }
  })
  if (rec.errors === 0) {
    try {
      await Promise.race([all, dog.promise])
    } catch (e) {
      const err = e as H2Error
      rec.errorCounts[err.message] = (rec.errorCounts[err.message] ?? 0) + 1
      rec.errors++
    }
  }
  dog.stop()
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  for (const s of streams) s.cancel()
  return summarize('watch', r, rec, seconds, cpu, rec.n + putsDone, 1, putsDone)
}

async function keepAliveLoad(conns: H2Connection[], r: Resolved, o: BenchOptions, headers: (m: string) => (c: H2Connection) => Buffer): Promise<BenchReport> {
  const ttl = int(o, 'leaseTtlSeconds', 60, 1, 9_000_000_000)
  const idleMs = int(o, 'idleTimeoutMs', 10_000, 10, 3_600_000)
  const requests: Buffer[] = []
  for (let c = 0; c < r.clients; c++) {
    const conn = conns[c % conns.length]!
    const g = readLeaseGrant(await unaryOnce(conn, headers(METHOD_LEASE_GRANT)(conn), leaseGrantRequest(ttl)))
    if (g.idVarint === undefined || g.error !== '') throw new H2Error('ERR_SERVER_GRPC_STATUS', `bench: LeaseGrant failed: ${g.error || 'no lease id'}`)
    requests.push(leaseKeepAliveRequest(g.idVarint))
  }
  const rec = new Recorder(r.total)
  let issued = 0
  const streams: GrpcStream[] = []
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const dog = idleWatchdog(idleMs, () => rec.n, 'keep-alive responses')
  const every = Math.max(1, Math.floor(r.total / 100))
  const finished = new Promise<void>((resolveAll) => {
    let running = r.clients
    const clientDone = (): void => {
      if (--running === 0) resolveAll()
    }
    for (let c = 0; c < r.clients; c++) {
      const conn = conns[c % conns.length]!
      const req = requests[c]!
      let sentAt = 0
      let ended = false
      const sendNext = (s: GrpcStream): void => {
        if (issued >= r.total) {
          ended = true
          s.end()
          clientDone()
          return
        }
        issued++
        sentAt = performance.now()
        s.send(req)
      }
      const s: GrpcStream = conn.stream(headers(METHOD_LEASE_KEEPALIVE)(conn), {
        onMessage: (msg) => {
          const ms = performance.now() - sentAt
          if (keepAliveTtl(msg) <= 0) rec.error(new Error('lease expired (keep-alive TTL 0)'), ms)
          else rec.ok(ms)
          if (o.onProgress !== undefined && rec.n % every === 0) o.onProgress(rec.n, r.total)
          sendNext(s)
        },
        onEnd: (err) => {
          if (ended) return
          ended = true
          if (err !== null) rec.error(err, 0)
          clientDone()
        },
      })
      streams.push(s)
      sendNext(s)
    }
  })
  try {
    await Promise.race([finished, dog.promise])
  } catch (e) {
    rec.error(e as Error, 0)
  }
  dog.stop()
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  for (const s of streams) s.cancel()
  return summarize('lease-keepalive', r, rec, seconds, cpu, rec.n, 1)
}
