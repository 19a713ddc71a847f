// The follower's way to the leader for lease keep-alive and time-to-live, on grpc-js as a client.
// grpc-js and etcd's protobuf definitions are imported at the first forwarded call, not when the
// module loads: a member that is leader, or alone, never forwards, and `strata serve` on the lean
// HTTP/2 server starts without them (issue 15: they were ~0.15 s of every start).
import type { Client, ServiceError } from '@grpc/grpc-js'
import type { LeaderForwarder } from './api/context.js'
import { RpcError } from './api/errors.js'
import type { GrpcServerOptions } from './grpc-server.js'

const FORWARD_TIMEOUT_MS = 5_000

type LeaseClient = Client & Record<string, any>

/** What the first forwarded call loads: grpc-js and a Lease client class. */
interface Loaded {
  readonly grpc: typeof import('@grpc/grpc-js')
  readonly Lease: new (address: string, creds: unknown) => LeaseClient
}

async function load(): Promise<Loaded> {
  const grpc = await import('@grpc/grpc-js')
  const { loadEtcdProto } = await import('./api/proto.js')
  const pkg = grpc.loadPackageDefinition(loadEtcdProto()) as unknown as { etcdserverpb: { Lease: Loaded['Lease'] } }
  return { grpc, Lease: pkg.etcdserverpb.Lease }
}

/**
 * Reaches the leader's client port with grpc-js for what only the leader answers (lease
 * keep-alive and time-to-live), one cached client per URL. Presents the server's own
 * certificate when the leader's URL is https (its client-cert auth then accepts it).
 */
export function grpcForwarder(tls: GrpcServerOptions['tls']): LeaderForwarder & { close(): void } {
  let loading: Promise<Loaded> | undefined
  let closed = false
  const clients = new Map<string, LeaseClient>()
  const leaseClient = async (urls: readonly string[]): Promise<{ client: LeaseClient; grpc: Loaded['grpc'] }> => {
    const { grpc, Lease } = await (loading ??= load())
    if (closed) throw new RpcError(14, 'etcdserver: the server is closing')
    const url = new URL(urls[0]!)
    let c = clients.get(url.origin)
    if (c === undefined) {
      const creds = url.protocol === 'https:'
        ? grpc.credentials.createSsl(tls?.ca === undefined ? null : Buffer.from(tls.ca), tls === undefined ? null : Buffer.from(tls.key), tls === undefined ? null : Buffer.from(tls.cert))
        : grpc.credentials.createInsecure()
      c = new Lease(url.host, creds)
      clients.set(url.origin, c)
    }
    return { client: c, grpc }
  }
  const failed = (e: ServiceError): RpcError => new RpcError(e.code, e.details)
  return {
    async keepAlive(urls, id) {
      const { client, grpc } = await leaseClient(urls)
      return new Promise((resolve, reject) => {
        const call = client.LeaseKeepAlive(new grpc.Metadata(), { deadline: Date.now() + FORWARD_TIMEOUT_MS })
        call.on('data', (r: { TTL: number }) => {
          resolve(Number(r.TTL))
          call.end()
        })
        call.on('error', (e: ServiceError) => reject(failed(e)))
        call.on('end', () => reject(new RpcError(14, 'etcdserver: the leader closed the keep-alive stream')))
        call.write({ ID: id })
      })
    },
    async timeToLive(urls, id, keys) {
      const { client, grpc } = await leaseClient(urls)
      return new Promise((resolve, reject) => {
        client.LeaseTimeToLive({ ID: id, keys }, new grpc.Metadata(), { deadline: Date.now() + FORWARD_TIMEOUT_MS }, (e: ServiceError | null, r: { TTL: number; grantedTTL: number; keys: Uint8Array[] }) => {
          if (e !== null) reject(failed(e))
          else resolve({ TTL: Number(r.TTL), grantedTTL: Number(r.grantedTTL), keys: r.keys })
        })
      })
    },
    close() {
      closed = true
      for (const c of clients.values()) c.close()
      clients.clear()
    },
  }
}
