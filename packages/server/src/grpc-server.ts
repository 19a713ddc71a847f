import {
  Server, ServerCredentials, type ServerDuplexStream, type ServerUnaryCall, type ServerWritableStream, type ServiceDefinition,
  type UntypedServiceImplementation, type sendUnaryData,
} from '@grpc/grpc-js'
import type { Store } from '@strata/embed'
import { type ApiOptions, type CallContext } from './api/context.js'
import { toRpcError } from './api/errors.js'
import { createEtcdHandlers, type EtcdHandlers } from './api/handlers.js'
import { loadEtcdProto } from './api/proto.js'
import type { Req } from './api/kv.js'
import { ServerError } from './peer/errors.js'

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
 * etcd's v3 gRPC API over `store` on @grpc/grpc-js: the services KV, Watch, Lease, Cluster,
 * Maintenance and Auth of `proto/rpc.proto`, answering etcd's status codes and error strings.
 * The auth token is read from the `token` metadata key.
 */
export function createGrpcServer(options: { readonly store: Store } & GrpcServerOptions): GrpcServer {
  const handlers = createEtcdHandlers(options)
  const def = loadEtcdProto()
  const server = new Server({
    'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? 2 * 1024 * 1024,
    'grpc.max_send_message_length': -1,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  })
  const streams = new Set<{ end(): void }>()
  let closed = false

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
          else resolve(bound)
        })
      })
    },
    async close(): Promise<void> {
      if (closed) return
      closed = true
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
