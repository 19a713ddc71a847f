import { createHash } from 'node:crypto'
import type { ApiContext, CallContext } from './context.js'
import { type PbHeader, enumField, intField } from './codec.js'
import { etcdError, invalidArgument } from './errors.js'
import type { Req } from './kv.js'
import type { Alarm } from './types.js'

type AlarmName = 'NONE' | 'NOSPACE' | 'CORRUPT'
const ALARMS = ['NONE', 'NOSPACE', 'CORRUPT'] as const
const ACTIONS = ['GET', 'ACTIVATE', 'DEACTIVATE'] as const

export interface PbAlarmMember { memberID: number; alarm: AlarmName }
export interface SnapshotResponse { header: PbHeader; remaining_bytes: number; blob: Uint8Array }

/** Bytes per Snapshot message (etcd sends 32 KiB chunks). */
export const SNAPSHOT_CHUNK_BYTES = 32 * 1024
/** etcdctl accepts a saved snapshot only when its length minus the 32-byte SHA-256 is a multiple of this. */
const SNAPSHOT_ALIGN_BYTES = 512
const SHA256_BYTES = 32

function pbAlarm(a: Alarm): PbAlarmMember {
  return { memberID: a.memberId, alarm: a.alarm === 'nospace' ? 'NOSPACE' : 'CORRUPT' }
}

/** etcd's hash is a uint32: the low 32 bits of Strata's 64-bit xxhash (given as 16 hex digits). */
export function hash32(hex: string): number {
  return Number.parseInt(hex.slice(-8), 16) >>> 0
}

/** etcd's Maintenance service: Status, Alarm, Defragment, HashKV, Snapshot (a stream), MoveLeader. */
export function maintenanceHandlers(api: ApiContext) {
  return {
    Status: (_r: Req, ctx: CallContext) =>
      api.run(ctx, (v) => {
        const s = v.maintenance.status()
        return {
          header: api.header(s.header), version: api.version, dbSize: s.dbSizeBytes, leader: s.leader, raftIndex: s.raftIndex,
          raftTerm: s.raftTerm, raftAppliedIndex: s.raftAppliedIndex, errors: s.alarms.map((a) => `memberID:${a.memberId} alarm:${pbAlarm(a).alarm} `),
          dbSizeInUse: s.dbSizeInUseBytes, isLearner: s.isLearner,
        }
      }),

    /** GET lists the raised alarms (of one type, or all for NONE); DEACTIVATE clears one and answers it if it was raised. */
    Alarm: (r: Req, ctx: CallContext): Promise<{ header: PbHeader; alarms: PbAlarmMember[] }> =>
      api.run(ctx, async (v) => {
        const action = enumField(r.action, ACTIONS, 'action')
        const type = enumField(r.alarm, ALARMS, 'alarm')
        const raised = v.maintenance.alarms().map(pbAlarm)
        if (action === 'GET') return { header: api.header(v.header()), alarms: raised.filter((a) => type === 'NONE' || a.alarm === type) }
        if (action === 'ACTIVATE') throw invalidArgument('Strata raises alarms itself (NOSPACE on the quota, CORRUPT on a hash mismatch); a client cannot ACTIVATE one')
        const memberID = intField(r.memberID, 'memberID')
        if (type === 'NONE') return { header: api.header(v.header()), alarms: [] }
        const was = raised.filter((a) => a.memberID === memberID && a.alarm === type)
        const res = await v.maintenance.disarm({ memberId: memberID, alarm: type === 'NOSPACE' ? 'nospace' : 'corrupt' })
        return { header: api.header(res.header), alarms: was }
      }),

    Defragment: (_r: Req, ctx: CallContext) =>
      api.run(ctx, async (v) => {
        v.maintenance.checkAdmin()
        return { header: api.header((await v.maintenance.defragment()).header) }
      }),

    HashKV: (r: Req, ctx: CallContext) =>
      api.run(ctx, async (v) => {
        v.maintenance.checkAdmin()
        const h = await v.maintenance.hashKV(intField(r.revision, 'revision'))
        return { header: api.header({ ...h.header, revision: h.revision }), hash: hash32(h.hash), compact_revision: h.compactRevision }
      }),

    /** Hands leadership to `targetID` (run on the leader: "not leader" elsewhere; a target that is not a voter is a bad transferee). */
    MoveLeader: (r: Req, ctx: CallContext) =>
      api.run(ctx, (v) => {
        v.maintenance.checkAdmin()
        const target = intField(r.targetID, 'targetID')
        const m = v.cluster.members().members.find((x) => x.id === target)
        if (m === undefined || m.isLearner) throw etcdError('badLeaderTransferee')
        return { header: api.header(v.cluster.transferLeadership(target).header) }
      }),

    /**
     * The backend as a stream of messages, as etcd sends it: chunks of at most 32 KiB with
     * `remaining_bytes` counting down (estimated from the backend's size when the stream starts:
     * Strata's snapshot is generated, not a file), zero bytes up to a multiple of 512 (etcdctl
     * checks that alignment), then a last message whose blob is the SHA-256 of every byte before
     * it — so `etcdctl snapshot save` accepts the file. {@link snapshotFromSavedFile} takes the
     * backend stream back out of such a file.
     */
    Snapshot: async function* (_r: Req, ctx: CallContext): AsyncGenerator<SnapshotResponse> {
      const v = await api.view(ctx)
      v.maintenance.checkAdmin()
      const header = api.header(v.header())
      let remaining = v.maintenance.status().dbSizeBytes
      let sent = 0
      const sha = createHash('sha256')
      const chunk = (blob: Uint8Array): SnapshotResponse => {
        sha.update(blob)
        sent += blob.length
        remaining = Math.max(remaining - blob.length, 1)
        return { header, remaining_bytes: remaining, blob }
      }
      for await (const piece of v.maintenance.snapshot()) {
        for (let at = 0; at < piece.length; at += SNAPSHOT_CHUNK_BYTES) yield chunk(piece.subarray(at, at + SNAPSHOT_CHUNK_BYTES))
      }
      const pad = (SNAPSHOT_ALIGN_BYTES - (sent % SNAPSHOT_ALIGN_BYTES)) % SNAPSHOT_ALIGN_BYTES
      if (pad > 0) yield chunk(new Uint8Array(pad))
      yield { header, remaining_bytes: 0, blob: sha.digest() }
    },
  }
}

/**
 * A snapshot file as `etcdctl snapshot save` (or any client of Maintenance.Snapshot) wrote it:
 * the backend stream, zero padding to 512 bytes, the SHA-256 of both. Returns the backend stream
 * (to give `Backend.restore`) after checking the SHA-256; throws INVALID_ARGUMENT when the file
 * is not one. The stream's own framing (FORMAT.md of @strata/backend: 16-byte header, pairs,
 * 13-byte trailer) tells where it ends.
 */
export function snapshotFromSavedFile(file: Uint8Array): Uint8Array {
  const body = file.length - SHA256_BYTES
  if (body < 16 || body % SNAPSHOT_ALIGN_BYTES !== 0) throw invalidArgument(`snapshot file of ${file.length} bytes has no SHA-256 trailer at a 512-byte boundary`)
  const digest = createHash('sha256').update(file.subarray(0, body)).digest()
  if (!digest.equals(file.subarray(body))) throw invalidArgument('snapshot file SHA-256 mismatch: the file is damaged')
  const view = new DataView(file.buffer, file.byteOffset, body)
  let at = 16
  while (at < body) {
    const type = file[at]
    if (type === 0xff) {
      const end = at + 13
      if (end > body) break
      for (let i = end; i < body; i++) if (file[i] !== 0) throw invalidArgument('snapshot file has data after the stream trailer')
      return file.subarray(0, end)
    }
    if (type !== 0x01 || at + 2 > body) break
    const n = file[at + 1]!
    const lengths = at + 2 + n
    if (lengths + 6 > body) break
    at = lengths + 6 + view.getUint16(lengths) + view.getUint32(lengths + 2)
  }
  throw invalidArgument('snapshot file does not hold a complete Strata backend stream')
}
