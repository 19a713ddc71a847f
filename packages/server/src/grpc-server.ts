import {
  ResponderBuilder, Server, ServerCredentials, type ServerDuplexStream, ServerInterceptingCall, type ServerInterceptor, ServerListenerBuilder,
  type ServerUnaryCall, type ServerWritableStream, type ServiceDefinition, type UntypedServiceImplementation, type sendUnaryData,
} from '@grpc/grpc-js'
import type { Store } from '@strata/embed'
import { type ApiOptions, type CallContext, type LeaderForwarder } from './api/context.js'
import { toRpcError } from './api/errors.js'
import { createEtcdHandlers, type EtcdHandlers } from './api/handlers.js'
import { loadEtcdProto } from './api/proto.js'
import { bytesMembersOption, intOption } from './api/options.js'
import type { Req } from './api/kv.js'
import { ServerError } from './peer/errors.js'
import { grpcForwarder } from './forwarder.js'
import { type GrpcMethodCounts, type GrpcObserver, grpcType } from './metrics.js'

export interface GrpcServerOptions extends Omit<ApiOptions, 'store'> {
  /**
   * TLS for the client port (etcd's --cert-file, --key-file, --trusted-ca-file,
   * --client-cert-auth), as PEM bytes. Default: plaintext.
   */
  readonly tls?: {
    readonly cert: Uint8Array
    readonly key: Uint8Array
    /** CA bundle that client certificates are checked against. */
    readonly ca?: Uint8Array
    /** Refuse clients without a certificate signed by `ca`. Default false. */
    readonly clientCertAuth?: boolean
  }
  /** Largest request message accepted, in bytes. Default 2,097,152 (etcd's 1.5 MiB request limit plus 512 KiB). */
  readonly maxReceiveMessageBytes?: number
  /** How long `close()` lets calls in flight finish before cutting them, in ms. Default 2,000. */
  readonly closeGraceMs?: number
  /** Counts every call (grpc_server_* metrics: `ServerMetrics#grpc`). Default: none. */
  readonly observer?: GrpcObserver
}

export interface GrpcServer {
  /** Binds `host:port` (port 0: any free port) and starts serving; resolves with the bound port. Call at most once per address. */
  listen(host: string, port: number): Promise<number>
  /** The handlers the server calls (for another transport to share). */
  readonly handlers: EtcdHandlers
  /** Stops accepting calls, ends every watch and keep-alive stream, waits up to `closeGraceMs` for unary calls, then cuts the rest. Idempotent. */
  close(): Promise<void>
}

type Unary = (r: Req, ctx: CallContext) => Promise<unknown> | unknown

function callContext(call: { metadata: { get(key: string): unknown[] } }): CallContext {
  const t = call.metadata.get('token')[0]
  return typeof t === 'string' ? { token: t } : {}
}

function grpcError(err: unknown): { code: number; details: string } {
  const e = toRpcError(err)
  return { code: e.grpcCode, details: e.details }
}

/** Writes `msg`; resolves once the stream can take more (grpc-js buffers without bound otherwise). */
function write<T>(call: ServerWritableStream<unknown, T> | ServerDuplexStream<unknown, T>, msg: T): Promise<void> {
  if (call.cancelled || call.destroyed) return Promise.reject(new ServerError('ERR_SERVER_CLOSED', 'server: the stream is closed'))
  if (call.write(msg)) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const done = (): void => {
      call.off('drain', done)
      call.off('close', done)
      call.off('cancelled', done)
      if (call.cancelled || call.destroyed) reject(new ServerError('ERR_SERVER_CLOSED', 'server: the stream is closed'))
      else resolve()
    }
    call.on('drain', done)
    call.on('close', done)
    call.on('cancelled', done)
  })
}

/**
 * A grpc-js server interceptor that counts every call into `observer` (the lean server counts
 * in its own code): started when the call starts, each message received and sent, handled with
 * the status sent — or Canceled when the client goes away first.
 */
export function grpcJsInterceptor(observer: GrpcObserver): ServerInterceptor {
  const byPath = new Map<string, GrpcMethodCounts>()
  return (def, call) => {
    let c = byPath.get(def.path)
    if (c === undefined) {
      const m = /^\/([^/]+)\/([^/]+)$/.exec(def.path)
      c = observer.method(grpcType(def.requestStream, def.responseStream), m?.[1] ?? def.path, m?.[2] ?? '')
      byPath.set(def.path, c)
    }
    const counts = c
    let ended = false
    const end = (code: number): void => {
      if (ended) return
      ended = true
      counts.handled[code] = (counts.handled[code] ?? 0) + 1
    }
    return new ServerInterceptingCall(call, new ResponderBuilder()
      .withStart((next) => {
        counts.started++
        next(new ServerListenerBuilder()
          .withOnReceiveMessage((msg, go) => { counts.received++; go(msg) })
          .withOnCancel(() => end(1))
          .build())
      })
      .withSendMessage((msg, go) => { counts.sent++; go(msg) })
      .withSendStatus((status, go) => { end(status.code ?? 2); go(status) })
      .build())
  }
}

/**
 * etcd's v3 gRPC API over `store` on @grpc/grpc-js: the services KV, Watch, Lease, Cluster,
 * Maintenance and Auth of `proto/rpc.proto`, answering etcd's status codes and error strings.
 * The auth token is read from the `token` metadata key.
 */
export function createGrpcServer(options: { readonly store: Store } & GrpcServerOptions): GrpcServer {
  if (typeof options !== 'object' || options === null) throw new ServerError('ERR_SERVER_INVALID_OPTION', 'server: createGrpcServer takes an options object with at least { store }')
  bytesMembersOption(options, 'tls', ['cert', 'key'], ['ca'])
  if (options.tls?.clientCertAuth === true && options.tls.ca === undefined) throw new ServerError('ERR_SERVER_INVALID_OPTION', 'server: tls.clientCertAuth needs tls.ca to check client certificates against')
  intOption(options, 'maxReceiveMessageBytes', 1024, 2 ** 31 - 1)
  intOption(options, 'closeGraceMs', 0, 3_600_000)
  const forwarder = options.forwarder === undefined ? grpcForwarder(options.tls) : undefined
  const handlers = createEtcdHandlers({ ...options, forwarder: options.forwarder ?? forwarder })

  const def = loadEtcdProto()
  const server = new Server({
    'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? 2 * 1024 * 1024,
    'grpc.max_send_message_length': -1,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
    ...(options.observer === undefined ? {} : { interceptors: [grpcJsInterceptor(options.observer)] }),
  })
  const streams = new Set<{ end(): void }>()
  let closed = false
  let publishTimer: ReturnType<typeof setTimeout> | undefined

  /**
   * Records `advertiseClientUrls` as this member's client URLs through the log once serving (etcd
   * publishes its attributes at start), so MemberList shows them on every member and followers
   * can forward to the leader. Retried every 500 ms (no leader yet, ...) for up to a minute.
   */
  const publish = (attempt = 0): void => {
    const urls = options.advertiseClientUrls ?? []
    if (closed || urls.length === 0) return
    const retry = (): void => {
      if (closed || attempt >= 120) return
      publishTimer = setTimeout(() => publish(attempt + 1), 500)
      publishTimer.unref()
    }
    try {
      const self = options.store.cluster.members()
      const record = self.members.find((m) => m.id === self.header.memberId)
      if (record === undefined) return retry()
      if (record.clientUrls.length === urls.length && record.clientUrls.every((u, i) => u === urls[i])) return
      options.store.cluster.publish({ name: record.name, clientUrls: urls }).catch(retry)
    } catch {
      retry()
    }
  }

  const unary = (fn: Unary) => (call: ServerUnaryCall<Req, unknown>, callback: sendUnaryData<unknown>): void => {
    let p: Promise<unknown>
    try {
      p = Promise.resolve(fn(call.request, callContext(call)))
    } catch (err) {
      p = Promise.reject(err)
    }
    p.then((res) => callback(null, res), (err: unknown) => callback(grpcError(err)))
  }
  const service = (name: string, impl: UntypedServiceImplementation): void => {
    server.addService(def[`etcdserverpb.${name}`] as ServiceDefinition, impl)
  }
  const unaries = (fns: Record<string, Unary>): UntypedServiceImplementation =>
    Object.fromEntries(Object.entries(fns).map(([k, f]) => [k, unary(f)]))

  const { LeaseKeepAlive, ...leaseUnary } = handlers.Lease
  const { Snapshot, ...maintenanceUnary } = handlers.Maintenance
  service('KV', unaries(handlers.KV))
  service('Auth', unaries(handlers.Auth))
  service('Cluster', unaries(handlers.Cluster))
  service('Maintenance', {
    ...unaries(maintenanceUnary),
    Snapshot: (call: ServerWritableStream<Req, unknown>) => {
      const entry = { end: () => call.end() }
      streams.add(entry)
      void (async () => {
        try {
          for await (const msg of Snapshot(call.request, callContext(call))) {
            if (call.cancelled) return
            await write(call, msg)
          }
          call.end()
        } catch (err) {
          if (!call.cancelled) call.emit('error', grpcError(err))
        } finally {
          streams.delete(entry)
        }
      })()
    },
  })
  service('Lease', {
    ...unaries(leaseUnary),
    LeaseKeepAlive: (call: ServerDuplexStream<Req, unknown>) => {
      const ctx = callContext(call)
      const entry = { end: () => call.end() }
      streams.add(entry)
      void (async () => {
        try {
          for await (const req of call as AsyncIterable<Req>) {
            await write(call, await LeaseKeepAlive(req, ctx))
          }
          call.end()
        } catch (err) {
          if (!call.cancelled && !call.destroyed) call.emit('error', grpcError(err))
        } finally {
          streams.delete(entry)
        }
      })()
    },
  })
  service('Watch', {
    Watch: (call: ServerDuplexStream<Req, unknown>) => {
      const session = handlers.Watch.Watch(callContext(call), (msg) => write(call, msg))
      const entry = {
        end: () => {
          session.close()
          call.end()
        },
      }
      streams.add(entry)
      const stop = (): void => {
        session.close()
        streams.delete(entry)
      }
      call.on('cancelled', stop)
      call.on('close', stop)
      void (async () => {
        try {
          for await (const req of call as AsyncIterable<Req>) await session.receive(req)
          // The client half-closed: etcd keeps sending until the client goes away.
        } catch (err) {
          stop()
          if (!call.cancelled && !call.destroyed) call.emit('error', grpcError(err))
        }
      })()
    },
  })

  return {
    handlers,
    listen(host: string, port: number): Promise<number> {
      if (closed) return Promise.reject(new ServerError('ERR_SERVER_CLOSED', 'server: the gRPC server is closed'))
      if (!Number.isSafeInteger(port) || port < 0 || port > 65_535) return Promise.reject(new ServerError('ERR_SERVER_INVALID_ARGUMENT', `server: port must be 0..65535, got ${port}`))
      const tls = options.tls
      const creds = tls === undefined
        ? ServerCredentials.createInsecure()
        : ServerCredentials.createSsl(tls.ca === undefined ? null : Buffer.from(tls.ca), [{ cert_chain: Buffer.from(tls.cert), private_key: Buffer.from(tls.key) }], tls.clientCertAuth === true)
      const address = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`
      return new Promise((resolve, reject) => {
        server.bindAsync(address, creds, (err, bound) => {
          if (err !== null) reject(new ServerError('ERR_SERVER_INVALID_ARGUMENT', `server: cannot listen on ${address}: ${err.message}`, { address }, { cause: err }))
          else {
            resolve(bound)
            publish()
          }
        })
      })
    },
    async close(): Promise<void> {
      if (closed) return
      closed = true
      if (publishTimer !== undefined) clearTimeout(publishTimer)
      forwarder?.close()
      for (const s of [...streams]) s.end()
      streams.clear()
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown()
          resolve()
        }, options.closeGraceMs ?? 2_000)
        timer.unref()
        server.tryShutdown(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    },
  }
}
