import { randomBytes } from 'node:crypto'
import type { MemberRecord } from './types.js'
import type { ApiContext, CallContext } from './context.js'
import { type PbHeader, boolField, intField } from './codec.js'
import { etcdError } from './errors.js'
import type { Req } from './kv.js'

export interface PbMember { ID: number; name: string; peerURLs: string[]; clientURLs: string[]; isLearner: boolean }

function urls(v: unknown): string[] {
  const list = Array.isArray(v) ? v : []
  for (const u of list) {
    if (typeof u !== 'string') throw etcdError('memberBadUrls')
    let parsed: URL
    try {
      parsed = new URL(u)
    } catch {
      throw etcdError('memberBadUrls')
    }
    if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.port === '' || parsed.pathname.length > 1) throw etcdError('memberBadUrls')
  }
  return list as string[]
}

/** etcd's Cluster service. Membership changes are root-only once auth is on. */
export function clusterHandlers(api: ApiContext) {
  const pb = (m: MemberRecord, self: number): PbMember => ({
    ID: m.id, name: m.name, peerURLs: [...m.peerUrls],
    clientURLs: m.clientUrls.length === 0 && m.id === self ? [...api.advertiseClientUrls] : [...m.clientUrls], isLearner: m.isLearner,
  })
  const list = (): { header: PbHeader; members: PbMember[] } => {
    const res = api.store.cluster.members()
    return { header: api.header(res.header), members: res.members.map((m) => pb(m, res.header.memberId)) }
  }
  const find = (id: number): MemberRecord => {
    const m = api.store.cluster.members().members.find((x) => x.id === id)
    if (m === undefined) throw etcdError('memberNotFound')
    return m
  }
  const peerUrlsFree = (peerUrls: readonly string[], except = 0): void => {
    for (const m of api.store.cluster.members().members) {
      if (m.id !== except && m.peerUrls.some((u) => peerUrls.includes(u))) throw etcdError('peerUrlExist')
    }
  }
  return {
    MemberList: (_r: Req, ctx: CallContext) =>
      api.run(ctx, async (v) => {
        if (boolField(_r.linearizable)) await v.get(Uint8Array.of(0), { countOnly: true, limit: 1 }).catch(() => undefined)
        return list()
      }),

    MemberAdd: (r: Req, ctx: CallContext): Promise<{ header: PbHeader; member: PbMember; members: PbMember[] }> =>
      api.run(ctx, async (v) => {
        v.maintenance.checkAdmin()
        const peerUrls = urls(r.peerURLs)
        if (peerUrls.length === 0) throw etcdError('memberBadUrls')
        peerUrlsFree(peerUrls)
        const taken = new Set(api.store.cluster.members().members.map((m) => m.id))
        let id = 0
        while (id === 0 || taken.has(id)) id = randomBytes(6).readUIntBE(0, 6)
        const isLearner = boolField(r.isLearner)
        await v.cluster.add({ id, name: '', peerUrls, isLearner })
        const all = list()
        return { header: all.header, member: { ID: id, name: '', peerURLs: peerUrls, clientURLs: [], isLearner }, members: all.members }
      }),

    MemberRemove: (r: Req, ctx: CallContext) =>
      api.run(ctx, async (v) => {
        v.maintenance.checkAdmin()
        const id = intField(r.ID, 'ID', 1)
        find(id)
        await v.cluster.remove(id)
        return list()
      }),

    MemberUpdate: (r: Req, ctx: CallContext) =>
      api.run(ctx, async (v) => {
        v.maintenance.checkAdmin()
        const id = intField(r.ID, 'ID', 1)
        find(id)
        const peerUrls = urls(r.peerURLs)
        peerUrlsFree(peerUrls, id)
        await v.cluster.update(id, peerUrls)
        return list()
      }),

    MemberPromote: (r: Req, ctx: CallContext) =>
      api.run(ctx, async (v) => {
        v.maintenance.checkAdmin()
        const id = intField(r.ID, 'ID', 1)
        if (!find(id).isLearner) throw etcdError('memberNotLearner')
        await v.cluster.promote(id)
        return list()
      }),
  }
}
