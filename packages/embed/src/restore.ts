import { dirname, join } from 'node:path'
import { CONF_STATE_KEY, CONSISTENT_INDEX_KEY, type Member as MemberRecord, StateMachine, TERM_KEY, encodeMember } from '@strata/apply'
import { LmdbBackend } from '@strata/backend'
import { type ConfState, encodeConfState } from '@strata/raft'
import { type FileSystem, nodeFileSystem } from '@strata/seams'
import { Snapshotter, Wal } from '@strata/wal'
import { EmbedError } from './errors.js'
import type { InitialMember, Progress } from './options.js'

export interface RestoreOptions {
  /**
   * The members of the new cluster (ids, names, peer URLs), as `open`'s `initialCluster`:
   * every member of it restores the same snapshot with the same list, then opens with it.
   */
  readonly members: readonly InitialMember[]
  /** The stream's length in bytes when known (for `onProgress`'s total). */
  readonly totalBytes?: number
  /** `{ phase: 'restore', done, total }` in bytes of the stream read, at most once per MiB and at the end. */
  readonly onProgress?: (progress: Progress) => void
  readonly fs?: FileSystem
}

/** What {@link restoreSnapshot} wrote. */
export interface RestoreResult {
  /** The raft index the new cluster's log starts after (the snapshot's applied index is kept). */
  readonly index: number
  /** The newest revision in the restored key space (kept: revisions go on from it). */
  readonly revision: number
  /** Bytes of the backend stream read. */
  readonly bytes: number
}

const MIB = 1024 * 1024

function u64be(n: number): Uint8Array {
  const b = new Uint8Array(8)
  const v = new DataView(b.buffer)
  v.setUint32(0, Math.floor(n / 0x1_0000_0000))
  v.setUint32(4, n >>> 0)
  return b
}

/**
 * Creates a data directory from a backend snapshot stream (what `store.maintenance.snapshot()`
 * yields), as `etcdutl snapshot restore` does: the key space, leases, users and roles are kept
 * (revisions too), the membership is replaced by `options.members` — a new cluster — and a raft
 * log is written that starts there (a snap file and a WAL with its marker and a hard state of
 * term 1), so `open({ dir, memberId, initialCluster: members })` starts serving the snapshot's
 * keys. Alarms of the old members are dropped. The directory is built beside `dir`
 * (`<dir>.restoring`, removed first if a previous attempt left it) and renamed into place once
 * complete and synced, so a failed restore leaves no half-made member. Refuses a `dir` that
 * exists and is not empty (ERR_EMBED_INVALID_ARGUMENT); a damaged stream fails as the backend's
 * restore does (ERR_BACKEND_* / ERR_MVCC_CORRUPT), writing nothing at `dir`.
 */
export async function restoreSnapshot(stream: AsyncIterable<Uint8Array>, dir: string, options: RestoreOptions): Promise<RestoreResult> {
  const fs = options.fs ?? nodeFileSystem
  const members = options.members
  if (!Array.isArray(members) || members.length === 0) throw new EmbedError('ERR_EMBED_INVALID_ARGUMENT', 'embed: restoreSnapshot needs the new cluster\'s members (options.members)')
  const ids = new Set<number>()
  for (const m of members) {
    if (!Number.isSafeInteger(m.id) || m.id < 1) throw new EmbedError('ERR_EMBED_INVALID_ARGUMENT', `embed: a member id must be a positive safe integer, got ${m.id}`)
    if (ids.has(m.id)) throw new EmbedError('ERR_EMBED_INVALID_ARGUMENT', `embed: member id ${m.id} is listed twice`)
    ids.add(m.id)
  }
  const st = await fs.stat(dir)
  if (st !== undefined && (!st.isDirectory || (await fs.readdir(dir)).length > 0)) {
    throw new EmbedError('ERR_EMBED_INVALID_ARGUMENT', `embed: ${dir} exists and is not an empty directory; restore into a new one (a member's data is never overwritten)`, { dir })
  }
  const work = `${dir}.restoring`
  await fs.rm(work)
  await fs.mkdir(work)
  let bytes = 0
  let reported = 0
  const total = options.totalBytes
  const report = (): void => {
    try {
      options.onProgress?.({ phase: 'restore', done: bytes, ...(total === undefined ? {} : { total }) })
    } catch {
      // What onProgress throws is ignored, as open's.
    }
  }
  const counted = (async function* () {
    for await (const chunk of stream) {
      bytes += chunk.length
      if (bytes - reported >= MIB) {
        reported = bytes
        report()
      }
      yield chunk
    }
  })()
  const cs: ConfState = { voters: [...ids].sort((a, b) => a - b), learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }
  let index: number
  let revision: number
  try {
    const backend = await LmdbBackend.open(join(work, 'db'), { fs })
    try {
      const sm = await StateMachine.open(backend)
      try {
        await sm.restore(counted)
        report()
        index = Math.max(1, sm.applied.index)
        revision = sm.mvcc.revision
      } finally {
        await sm.close()
      }
      // The state machine is closed (its pre-commit hook detached): the new membership and the
      // applied point are written here once, as etcdutl rewrites its members and consistent index.
      backend.write((tx) => {
        const drop = (bucket: 'members' | 'alarm'): void => {
          const keys: Uint8Array[] = []
          tx.forEach(bucket, new Uint8Array(0), undefined, (k) => { keys.push(k.slice()) })
          for (const k of keys) tx.delete(bucket, k)
        }
        drop('members')
        drop('alarm')
        for (const m of members) {
          const record: MemberRecord = { id: m.id, name: m.name ?? `member-${m.id}`, peerUrls: [...(m.peerUrls ?? [])], clientUrls: [...(m.clientUrls ?? [])], isLearner: false }
          tx.put('members', u64be(m.id), encodeMember(record))
        }
        tx.put('meta', CONSISTENT_INDEX_KEY, u64be(index))
        tx.put('meta', TERM_KEY, u64be(1))
        tx.put('meta', CONF_STATE_KEY, encodeConfState(cs))
      })
      await backend.commit()
    } finally {
      await backend.close()
    }
    // The raft side: a snapshot point at the applied index of term 1 with the new membership, the
    // WAL's marker of it and a hard state committing it (etcd's restore writes the same three).
    const meta = { index, term: 1, confState: cs }
    const snaps = await Snapshotter.open(join(work, 'snap'), { fs })
    try {
      await snaps.save(meta, [])
    } finally {
      await snaps.close()
    }
    const wal = await Wal.create(join(work, 'wal'), new Uint8Array(0), { fs })
    try {
      await wal.saveSnapshot(meta)
      await wal.save({ term: 1, vote: 0, commit: index })
    } finally {
      await wal.close()
    }
    await fs.fsyncDir(work)
    if (st !== undefined) await fs.rm(dir)
    await fs.rename(work, dir)
    await fs.fsyncDir(dirname(dir))
  } catch (err) {
    await fs.rm(work).catch(() => {})
    throw err
  }
  return { index, revision, bytes }
}
