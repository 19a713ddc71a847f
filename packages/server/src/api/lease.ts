import { hasCode } from '@strata/seams'
import type { ApiContext, CallContext } from './context.js'
import { type PbHeader, boolField, intField } from './codec.js'
import type { Req } from './kv.js'

export interface LeaseKeepAliveResponse { header: PbHeader; ID: number; TTL: number }

/** etcd's Lease service: LeaseGrant, LeaseRevoke, LeaseTimeToLive, LeaseLeases, and one LeaseKeepAlive message at a time. */
export function leaseHandlers(api: ApiContext) {
  return {
    LeaseGrant: (r: Req, ctx: CallContext): Promise<{ header: PbHeader; ID: number; TTL: number; error: string }> =>
      api.run(ctx, async (v) => {
        const id = intField(r.ID, 'ID')
        const res = await v.lease.grant(intField(r.TTL, 'TTL'), id === 0 ? {} : { id })
        return { header: api.header(res.header), ID: res.id, TTL: res.ttlSeconds, error: '' }
      }),

    LeaseRevoke: (r: Req, ctx: CallContext): Promise<{ header: PbHeader }> =>
      api.run(ctx, async (v) => ({ header: api.header((await v.lease.revoke(intField(r.ID, 'ID', 1))).header) })),

    /** A lease that is gone answers TTL -1, as etcd does (etcdctl prints "already expired"). */
    LeaseTimeToLive: (r: Req, ctx: CallContext): Promise<{ header: PbHeader; ID: number; TTL: number; grantedTTL: number; keys: Uint8Array[] }> =>
      api.run(ctx, async (v) => {
        const id = intField(r.ID, 'ID')
        const keys = boolField(r.keys)
        try {
          // A follower's lessor knows only the granted TTL: ask the leader when it can be reached, as etcd does.
          const st = api.forwarder === undefined ? undefined : v.maintenance.status()
          const urls = st === undefined || st.leader === st.header.memberId ? [] : (v.cluster.members().members.find((m) => m.id === st.leader)?.clientUrls ?? [])
          if (urls.length > 0) return { header: api.header(v.header()), ID: id, ...(await api.forwarder!.timeToLive(urls, id, keys)) }
          const t = await v.lease.timeToLive(id, { keys })
          return { header: api.header(t.header), ID: id, TTL: t.ttlSeconds, grantedTTL: t.grantedTtlSeconds, keys: [...(t.keys ?? [])] }
        } catch (err) {
          if (!hasCode(err, 'ERR_LEASE_NOT_FOUND')) throw err
          return { header: api.header(api.store.header()), ID: id, TTL: -1, grantedTTL: 0, keys: [] }
        }
      }),

    LeaseLeases: (_r: Req, ctx: CallContext): Promise<{ header: PbHeader; leases: { ID: number }[] }> =>
      api.run(ctx, async (v) => {
        const res = await v.lease.leases()
        return { header: api.header(res.header), leases: res.leases.map((l) => ({ ID: l.id })) }
      }),

    /**
     * One message of a LeaseKeepAlive stream (the transport answers each in order): renews the
     * lease; a lease that is gone answers TTL 0, as etcd does, so the client stops.
     */
    LeaseKeepAlive: (r: Req, ctx: CallContext): Promise<LeaseKeepAliveResponse> =>
      api.run(ctx, async (v) => {
        const id = intField(r.ID, 'ID')
        try {
          const k = await v.lease.keepAliveOnce(id)
          return { header: api.header(k.header), ID: id, TTL: k.ttlSeconds }
        } catch (err) {
          const urls = api.leaderUrls(err)
          if (urls !== undefined) return { header: api.header(api.store.header()), ID: id, TTL: await api.forwarder!.keepAlive(urls, id) }
          if (!hasCode(err, 'ERR_LEASE_NOT_FOUND') && !hasCode(err, 'ERR_LEASE_EXPIRED')) throw err
          return { header: api.header(api.store.header()), ID: id, TTL: 0 }
        }
      }),
  }
}
