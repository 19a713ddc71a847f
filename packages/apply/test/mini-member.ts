// A minimal single-member driver over the real layers — wal (on a simulated disk), raft,
// backend (memory, with simulated durability), mvcc, lease, auth — wired through the apply
// contract. It follows the Ready contract and etcd's restart rules and nothing more: the
// cross-package crash test drives it; @strata/embed is the real driver.
import type { MemoryBackend } from '@strata/backend'
import { type ConfChange, type ConfChangeV2, type ConfState, type Entry, EntryType, MemoryStorage, RawNode, StateType, decodeConfChange, decodeConfChangeV2 } from '@strata/raft'
import { type Clock, type Failpoint, type FileSystem, type Rng, hasCode } from '@strata/seams'
import { Snapshotter, Wal, repair, validSnapshotEntries } from '@strata/wal'
import { type ApplyOutcome, type RequestBody, StateMachine, encodeRequest } from '../src/index.js'

export const VOTERS: ConfState = { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }
const WAL_DIR = '/m/wal'
const SNAP_DIR = '/m/snap'
/** Small segments: the simulated disk holds every byte in memory, and cuts get exercised. */
const SEGMENT_BYTES = 256 * 1024

export interface MiniEnv {
  readonly fs: FileSystem
  readonly backend: MemoryBackend
  readonly clock: Clock
  readonly rng: Rng
  readonly failpoint: Failpoint
  /** Take a raft snapshot (and release the WAL below it) every this many applied entries. */
  readonly snapshotEvery: number
  /** Receives every entry the state machine applied (not skipped), in order. */
  readonly onApplied: (entry: Entry) => void
}

export class MiniMember {
  readonly sm: StateMachine
  readonly #env: MiniEnv
  readonly #wal: Wal
  readonly #snaps: Snapshotter
  readonly #storage: MemoryStorage
  readonly #node: RawNode
  #snapIndex: number
  /** Invariant: the last committed entry raft handed over (applied now or skipped as applied before). */
  #raftApplied: number
  #nextId = 1
  readonly #waiting = new Map<number, (o: ApplyOutcome) => void>()

  private constructor(env: MiniEnv, sm: StateMachine, wal: Wal, snaps: Snapshotter, storage: MemoryStorage, node: RawNode, snapIndex: number) {
    this.#env = env
    this.sm = sm
    this.#wal = wal
    this.#snaps = snaps
    this.#storage = storage
    this.#node = node
    this.#snapIndex = snapIndex
    this.#raftApplied = snapIndex
  }

  /** Opens (bootstrapping a new member first) and replays the log. */
  static async open(env: MiniEnv): Promise<MiniMember> {
    const { fs, failpoint } = env
    const sm = await StateMachine.open(env.backend, { clock: env.clock, failpoint, lessor: {}, auth: {} })
    const snaps = await Snapshotter.open(SNAP_DIR, { fs, failpoint })
    let snap = await newestUsable(fs, snaps)
    if (snap === undefined) {
      // Bootstrap: the first snapshot point is index 1 with the initial membership.
      await sm.bootstrap(VOTERS)
      await snaps.save({ index: 1, term: 1, confState: VOTERS }, sm.snapshot())
      snap = (await snaps.loadNewest())!
    }
    const meta = snap.metadata
    // etcd's rule: a backend behind the snapshot is replaced by the snapshot's copy.
    if (sm.applied.index < meta.index) await sm.restore(snap.read())
    const { wal, hardState, entries } = await openWal(fs, env.rng, failpoint, meta)
    const storage = new MemoryStorage()
    storage.applySnapshot({ data: new Uint8Array(0), metadata: meta })
    storage.setHardState(hardState)
    storage.append(entries)
    const node = new RawNode({ id: 1, storage, rng: env.rng, applied: meta.index })
    const member = new MiniMember(env, sm, wal, snaps, storage, node, meta.index)
    node.campaign()
    await member.run()
    return member
  }

  /** Proposes one request and resolves with its applied outcome. */
  async propose(body: RequestBody, username = 'root'): Promise<ApplyOutcome> {
    const id = this.#nextId++
    const data = encodeRequest({ header: { id, username, authRevision: this.sm.auth.revision }, body })
    const done = new Promise<ApplyOutcome>((resolve) => this.#waiting.set(id, resolve))
    this.#node.propose(data)
    await this.run()
    return done
  }

  /** Proposes the revokes of expired leases (the primary lessor's tick), as root. */
  async expireLeases(): Promise<void> {
    for (const id of this.sm.tick().expired) await this.propose({ kind: 'leaseRevoke', id })
  }

  /** Handles Readies until there is none. */
  async run(): Promise<void> {
    while (this.#node.hasReady()) await this.#handleReady()
  }

  async #handleReady(): Promise<void> {
    const { failpoint } = this.#env
    const rd = this.#node.ready()
    if (rd.softState !== undefined) {
      this.sm.setLeader(rd.softState.raftState === StateType.Leader ? this.#node.status().hardState.term : undefined, 1000)
    }
    if (rd.entries.length > 0 || rd.hardState !== undefined) {
      failpoint('raftBeforeSave')
      await this.#wal.save(rd.hardState ?? this.#storage.initialState().hardState, rd.entries)
      failpoint('raftAfterSave')
    }
    this.#storage.append(rd.entries)
    if (rd.hardState !== undefined) this.#storage.setHardState(rd.hardState)
    for (const e of rd.committedEntries) this.#apply(e)
    this.#node.advance()
    await this.#maybeSnapshot()
  }

  #apply(e: Entry): void {
    this.#raftApplied = e.index
    if (e.type === EntryType.Normal) {
      const outcome = this.sm.apply(e)
      if (outcome === undefined) return
      this.#env.onApplied(e)
      const id = outcome.header?.id
      if (id !== undefined) this.#waiting.get(id)?.(outcome)
      this.#waiting.delete(id ?? -1)
      return
    }
    const cc = asV2(e.type === EntryType.ConfChange ? decodeConfChange(e.data) : decodeConfChangeV2(e.data))
    const cs = this.#node.applyConfChange(cc)
    if (this.sm.applyConfChange(e, cc, cs) !== undefined) this.#env.onApplied(e)
  }

  /** etcd's order: the snapshot file, then the WAL marker, then the WAL is released below it. */
  async #maybeSnapshot(): Promise<void> {
    const point = this.sm.applied
    if (point.index - this.#snapIndex < this.#env.snapshotEvery) return
    // After a restart the backend may be ahead of the commit index the WAL kept (a commit-only
    // hard state is not synced, as in etcd); snapshot only once raft has caught up with it.
    if (this.#raftApplied < point.index) return
    await this.#snaps.save({ index: point.index, term: point.term, confState: point.confState }, this.sm.snapshot())
    await this.#wal.saveSnapshot({ index: point.index, term: point.term, confState: point.confState })
    this.#storage.compact(point.index)
    this.#wal.releaseTo(point.index)
    this.#snapIndex = point.index
  }

  async close(): Promise<void> {
    await this.sm.close()
    await this.#wal.close()
    await this.#snaps.close()
    await this.#env.backend.close()
  }
}

/**
 * etcd's rule at restart: the newest snapshot file that the WAL also has a marker for (a crash
 * between the two leaves a file the WAL does not know); a new member has neither.
 */
async function newestUsable(fs: FileSystem, snaps: Snapshotter) {
  const hasWal = (await fs.readdir(WAL_DIR).catch(() => [] as string[])).some((n) => n.endsWith('.wal'))
  if (!hasWal) return snaps.loadNewest()
  const marked = await validSnapshotEntries(WAL_DIR, { fs })
  for (const m of await snaps.list()) {
    if (marked.some((w) => w.index === m.index && w.term === m.term)) return snaps.loadAt(m.index, m.term)
  }
  return undefined
}

function asV2(cc: ConfChange | ConfChangeV2): ConfChangeV2 {
  if ('changes' in cc) return cc
  return { transition: 0, changes: [{ type: cc.type, nodeId: cc.nodeId }], context: cc.context }
}

/** Opens the WAL at the snapshot point (creating it for a new member), repairing a torn tail. */
async function openWal(fs: FileSystem, rng: Rng, failpoint: Failpoint, snap: { index: number; term: number; confState: ConfState }) {
  const exists = (await fs.readdir(WAL_DIR).catch(() => [] as string[])).some((n) => n.endsWith('.wal'))
  if (!exists) {
    const wal = await Wal.create(WAL_DIR, new Uint8Array(0), { fs, rng, failpoint, segmentSizeBytes: SEGMENT_BYTES })
    await wal.saveSnapshot(snap)
    return { wal, hardState: { term: 0, vote: 0, commit: 0 }, entries: [] as Entry[] }
  }
  // A crash between Wal.create and its first marker leaves a log with no marker: reopen it from
  // the start and write the bootstrap marker again.
  const marked = await validSnapshotEntries(WAL_DIR, { fs })
  const interrupted = snap.index === 1 && !marked.some((w) => w.index === 1)
  for (let attempt = 0; ; attempt++) {
    const wal = await Wal.open(WAL_DIR, interrupted ? { index: 0, term: 0 } : snap, { fs, rng, failpoint, segmentSizeBytes: SEGMENT_BYTES })
    if (interrupted) {
      await wal.readAll()
      await wal.saveSnapshot(snap)
      return { wal, hardState: { term: 0, vote: 0, commit: 0 }, entries: [] as Entry[] }
    }
    try {
      return { wal, ...(await wal.readAll()) }
    } catch (err) {
      await wal.close()
      if (!hasCode(err, 'ERR_WAL_TORN_TAIL') || attempt > 0) throw err
      await repair(WAL_DIR, { fs })
    }
  }
}
