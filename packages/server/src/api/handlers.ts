import { ApiContext, type ApiOptions, type CallContext } from './context.js'
import { kvHandlers } from './kv.js'
import { leaseHandlers } from './lease.js'
import { authHandlers } from './auth.js'
import { clusterHandlers } from './cluster.js'
import { maintenanceHandlers } from './maintenance.js'
import { WatchSession, type WatchSend } from './watch.js'

/**
 * etcd's v3 API over a store, independent of any transport: per service, per method, a
 * function `(request, { token }) => Promise<response>` taking and returning messages as
 * `@grpc/proto-loader` decodes them with {@link LOADER_OPTIONS} (snake_case names, Buffers,
 * numbers, enum names). Streams: `Watch.Watch(ctx, send)` makes a {@link WatchSession};
 * `Lease.LeaseKeepAlive` answers one message of its stream; `Maintenance.Snapshot` is an async
 * generator of messages. Errors are thrown as anything; `toRpcError` gives etcd's status.
 */
export function createEtcdHandlers(options: ApiOptions) {
  const api = new ApiContext(options)
  const maintenance = maintenanceHandlers(api)
  return {
    api,
    KV: kvHandlers(api),
    Lease: leaseHandlers(api),
    Auth: authHandlers(api),
    Cluster: clusterHandlers(api),
    Maintenance: maintenance,
    Watch: { Watch: (ctx: CallContext, send: WatchSend): WatchSession => new WatchSession(api, ctx, send) },
  }
}

export type EtcdHandlers = ReturnType<typeof createEtcdHandlers>
