import assert from 'node:assert'
import { dirname, join } from 'node:path'
import { type Backend, LmdbBackend, MemoryBackend } from '@strata/backend'
import { SCAN_THREAD_MIN_FILE_BYTES, prestartScanThread, stopPrestartedScanThread } from '@strata/backend/scan-thread'
import { type AppliedPoint, type ApplyOutcome, BATCH_HEADER_BYTES, BATCH_ITEM_HEADER_BYTES, type Member as MemberRecord, type RequestBody, StateMachine, type TxnOp, encodeBatch, encodeMember, encodeRequestOf, isBatch, readAppliedPoint } from '@strata/apply'
import {
  type ConfChange, type ConfChangeV2, type ConfState, type Entry, EntryType, type HardState, MemoryStorage, type Message, MessageType, RawNode, type Ready,
  type Snapshot, type SnapshotMetadata, SnapshotStatus, StateType, decodeConfChange, decodeConfChangeV2, decodeMessage, encodeMessage,
} from '@strata/raft'
import { type FileLock, hasCode, nextTurn, StrataError, type Timer } from '@strata/seams'
import { RAFT_PLANTED_BUGS } from '@strata/raft/internal'
import { type SnapshotMarkers, Snapshotter, Wal, repair, snapshotMarkers } from '@strata/wal'
import { CorruptionCheck, FRAME_RAFT } from './corruption-check.js'
import { EmbedError } from './errors.js'
import { IdTable } from './id-table.js'
import type { ResolvedOptions } from './options.js'
import { FRAME_LEASE_RENEW, FRAME_LEASE_RENEWED, LeaseRenewal } from './lease-api.js'
import { ProposalPacer } from './proposal-pacer.js'
import { FRAME_SNAP_ACK, FRAME_SNAP_DATA, SnapshotStream, receivedAt, receivedSnapshot, releaseReceived, snapshotStreamReady } from './snapshot-stream.js'

interface Waiter {
  /** The encoded request it proposed: only a request with these very bytes settles it. */
  readonly data: Uint8Array
  /**
   * Once its batch is encoded, the batch's data and where the request is in it: the leader's
   * own entry then matches by identity, with no byte comparison (and no view made per request).
   */
  batch: Uint8Array | undefined
  at: number
  /** What the proposal's promise resolves with: the outcome itself, or the caller's answer made from it. */
  readonly answer: ((o: ApplyOutcome) => unknown) | undefined
  readonly resolve: (v: unknown) => void
  readonly reject: (e: Error) => void
  /** Clock ms after which the sweep fails it with ERR_EMBED_TIMEOUT. */
  readonly deadline: number
}

/** The identity a request is proposed as: '' for none (auth off or internal work as root). */
export interface Identity {
  readonly username: string
  readonly authRevision: number
}

/** The identity of internal work and of a store without auth. */
const NO_IDENTITY: Identity = Object.freeze({ username: '', authRevision: 0 })

/** The greatest request counter whose id (counter * 1024 + 1023) is still a safe integer (the codec's u64). */
const MAX_REQUEST_COUNTER = Math.floor((Number.MAX_SAFE_INTEGER - 1023) / 1024)

/** The first request counter of an incarnation: the clock's ms (at least 1), wrapped into range. */
function firstRequestCounter(nowMs: number): number {
  const ms = Math.floor(nowMs)
  return ms >= 1 && ms <= MAX_REQUEST_COUNTER ? ms : 1 + (Math.abs(ms) % MAX_REQUEST_COUNTER)
}

/** Resolves `w` with its caller's answer made from `outcome`; an answer that throws rejects it (never the apply loop). */
function settleWithAnswer(w: Waiter, outcome: ApplyOutcome): void {
  let v: unknown
  try {
    v = w.answer!(outcome)
  } catch (err) {
    w.reject(err as Error)
    return
  }
  w.resolve(v)
}

/** Whether `payload` is the waiter's request where its batch's entry holds it (the leader's own entry, not a copy). */
function inBatchAt(w: Waiter, payload: Uint8Array): boolean {
  const b = w.batch
  return b !== undefined && payload.buffer === b.buffer && payload.byteOffset === b.byteOffset + w.at && payload.length === w.data.length
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  if (a.buffer === b.buffer && a.byteOffset === b.byteOffset) return true
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))
}

/**
 * Requests coalesced into one raft entry at most (FORMAT.md §2a of @strata/apply): one entry's
 * requests apply in one backend write, which the apply slice cannot cut, so its work is bounded
 * by count and by bytes.
 */
const BATCH_MAX_REQUESTS = 256
/**
 * Encoded bytes of one batch entry at most: far below raft's message size (1 MiB), and its
 * apply stays ~1-4 ms (a txn of 128 puts is ~8 KiB and ~1 ms). A request this large or larger
 * goes in an entry of its own, as every request did before batching.
 */
const BATCH_MAX_BYTES = 32 * 1024

/** Requests whose apply is bounded by their bytes (single keys), which a batch may carry. */
function batchable(body: RequestBody): boolean {
  if (body.kind === 'put') return true
  if (body.kind === 'deleteRange') return body.end === undefined
  if (body.kind === 'txn') return txnSingleKeys(body.txn)
  return false
}

function txnSingleKeys(t: { readonly success?: readonly TxnOp[]; readonly failure?: readonly TxnOp[]; readonly compare?: readonly { readonly end?: unknown }[] }): boolean {
  for (const c of t.compare ?? []) if (c.end !== undefined) return false
  for (const ops of [t.success, t.failure]) {
    for (const op of ops ?? []) {
      if ('put' in op) continue
      if ('txn' in op) {
        if (!txnSingleKeys(op.txn)) return false
        continue
      }
      if ((op as { range?: { end?: unknown } }).range?.end !== undefined) return false
      if ((op as { deleteRange?: { end?: unknown } }).deleteRange?.end !== undefined) return false
    }
  }
  return true
}

function asV2(cc: ConfChange | ConfChangeV2): ConfChangeV2 {
  if ('changes' in cc) return cc
  return { transition: 0, changes: [{ type: cc.type, nodeId: cc.nodeId }], context: cc.context }
}

/**
 * One raft member over the real layers: the Ready loop (persist → send → apply → advance),
 * the tick timer, proposals and their waiters, ReadIndex rounds shared by concurrent reads,
 * snapshots and WAL release, and etcd's restart rules. The public API is in store.ts.
 */
export class Member {
  readonly o: ResolvedOptions
  readonly sm: StateMachine
  readonly #lock: FileLock | undefined
  readonly #backend: Backend
  readonly #wal: Wal
  readonly #snaps: Snapshotter
  readonly #storage: MemoryStorage
  readonly #node: RawNode
  /** Streams the data of MsgSnaps to peers and receives theirs; undefined without a transport. */
  readonly #snapStream: SnapshotStream | undefined
  readonly #leaseRenewal: LeaseRenewal
  /** Invariant: the commit index found in the WAL at open while the replay has not reached it; 0 after. */
  #replayUntil = 0
  #snapIndex: number
  #raftApplied: number
  /**
   * The counter of request ids (id = counter * 1024 + memberId % 1024). It starts at the clock's
   * ms reading, as etcd's idutil generator does, so that a restarted member does not reuse the
   * ids of the entries its previous incarnation left in flight.
   */
  #nextId: number
  /** The proposals not yet settled, by request id (an IdTable, not a Map: see id-table.ts). */
  readonly #waiting = new IdTable<Waiter>()
  /**
   * Batchable requests proposed since the loop last ran, in order, with their ids: the loop
   * hands them to raft as one entry (#flushProposals). Invariant: every id is in #waiting or
   * was settled by the sweep; at most BATCH_MAX_REQUESTS, at most BATCH_MAX_BYTES encoded.
   */
  #batch: Uint8Array[] = []
  #batchIds: number[] = []
  #batchBytes = BATCH_HEADER_BYTES
  /** How many batched requests a sole member proposes per Ready, so that fsync and apply overlap. */
  readonly #pacer = new ProposalPacer()
  /** Requests answered by the state machine, ever (the pacer's count of work applied). */
  #answered = 0
  /** Whether the last Ready saved entries, which a sole member applies in the next one. */
  #nextApplies = false
  /**
   * A sole leader's saves not yet known durable, oldest first (see #handlePipelined), with the
   * index of the first entry each holds (0 for a save of the hard state alone).
   */
  readonly #saves: Array<{ readonly first: number; readonly saved: Promise<void> }> = []
  /** When the last save was seen durable (clock ms; see #timeSave). */
  #lastSavedAt = 0
  /** Proposals that failed to apply: timed out, dropped for want of a leader, or cut by a stop (etcd's proposals_failed_total). */
  #proposalsFailed = 0
  /** Invariant: resolved in applied order; each waits for the applied index to reach `index`. */
  #appliedWaiters: { index: number; resolve: () => void }[] = []
  /** Reads waiting for the next ReadIndex round, and the round in flight (its context). */
  #readQueue: { resolve: () => void; reject: (e: Error) => void }[] = []
  #readRound: { ctx: string; waiters: { resolve: () => void; reject: (e: Error) => void }[] } | undefined
  #readSeq = 0
  /** Ticks the read round in flight has waited; after an election timeout it is sent again. */
  #readRoundTicks = 0
  #loop: Promise<void> = Promise.resolve()
  /** This member's own snapshot while it is being taken (beside the Ready loop; see #maybeSnapshot). */
  #snapshotting: Promise<void> | undefined
  #loopQueued = false
  #tickTimer: Timer | undefined
  #sweepTimer: Timer | undefined
  readonly #corruption: CorruptionCheck
  #sizeBytes = 0
  #sizeAt = Number.NEGATIVE_INFINITY
  #closed = false
  #stopped: Error | undefined
  #leader = 0
  #term = 0

  private constructor(o: ResolvedOptions, parts: { lock: FileLock | undefined; backend: Backend; sm: StateMachine; wal: Wal; snaps: Snapshotter; storage: MemoryStorage; node: RawNode; snapIndex: number }) {
    this.o = o
    this.#lock = parts.lock
    this.#backend = parts.backend
    this.sm = parts.sm
    this.#wal = parts.wal
    this.#snaps = parts.snaps
    this.#storage = parts.storage
    this.#node = parts.node
    this.#snapIndex = parts.snapIndex
    this.#raftApplied = parts.snapIndex
    this.#nextId = firstRequestCounter(o.clock.now())
    this.#corruption = new CorruptionCheck(this)
    this.#leaseRenewal = new LeaseRenewal(this)
    const electionMs = o.tickMs * o.electionTicks
    this.#snapStream = o.transport === undefined ? undefined : new SnapshotStream({
      dir: o.dir, fs: o.fs, clock: o.clock, rng: o.rng, transport: o.transport, onProgress: o.onProgress,
      snapshot: () => this.sm.snapshot(),
      reportSnapshot: (to, ok) => {
        if (this.closed) return
        this.#node.reportSnapshot(to, ok ? SnapshotStatus.Finish : SnapshotStatus.Failure)
        this.#schedule()
      },
      stepSnapshot: (m) => this.#stepSnapshot(m),
    }, { resendMs: Math.max(20, electionMs / 5), stallMs: Math.max(1000, electionMs * 10) })
  }

  /** Opens (bootstrapping a new member first), replays the log, starts ticking. */
  static async open(o: ResolvedOptions): Promise<Member> {
    const prestarted = await prestartIndexScan(o)
    try {
      return await Member.#openPrestarted(o)
    } finally {
      // The open's index rebuild took the thread, or the store was too small for it.
      if (prestarted) await stopPrestartedScanThread()
    }
  }

  static async #openPrestarted(o: ResolvedOptions): Promise<Member> {
    const { fs } = o
    await fs.mkdir(o.dir)
    // The directory entry itself must survive a power loss, or the whole member would vanish
    // while an outside backend (or a later recreation) still holds its state.
    await fs.fsyncDir(dirname(o.dir))
    let lock: FileLock | undefined
    try {
      lock = await fs.lock(join(o.dir, 'LOCK'))
    } catch (err) {
      if (hasCode(err, 'ERR_SEAMS_LOCKED')) throw new EmbedError('ERR_EMBED_LOCKED', `embed: ${o.dir} is in use by another open store (in this process or another); close it first`, { dir: o.dir }, { cause: err })
      throw err
    }
    try {
      return await Member.#openLocked(o, lock)
    } catch (err) {
      await lock.release()
      throw err
    }
  }

  static async #openLocked(o: ResolvedOptions, lock: FileLock): Promise<Member> {
    const { fs, failpoint, rng } = o
    const walDir = join(o.dir, 'wal')
    // The log side does not depend on the backend: it reads the snap files and the WAL's markers
    // while the backend opens. The WAL itself is read while mvcc rebuilds its index (earlyWalRead),
    // once the backend's applied point says which entries' data are needed.
    const logSide = openLogSide(o, walDir)
    let early: Promise<EarlyWal | undefined> = Promise.resolve(undefined)
    // Whatever fails before the member exists (the backend's or the state machine's open, a
    // snapshot's restore, the WAL read, a check that refuses to start) closes what the open
    // holds, so a caller may repair the directory and open it again in the same process.
    let backend: Backend | undefined
    let sm: StateMachine | undefined
    let reread: Wal | undefined
    let member: Member
    let hardState: HardState
    let meta: SnapshotMetadata
    let node: RawNode
    try {
      backend = typeof o.backend === 'object' ? o.backend
        : o.backend === 'memory' ? new MemoryBackend({ clock: o.clock, failpoint })
          : await LmdbBackend.open(join(o.dir, 'db'), { clock: o.clock, failpoint, fs, batchLimit: BACKEND_BATCH_LIMIT })
      early = earlyWalRead(o, walDir, logSide, backend.read(readAppliedPoint))
      const onProgress = o.onProgress
      const mvcc = onProgress === undefined ? {} : { onCompactionProgress: (done: number, total: number) => onProgress({ phase: 'compact', done, total }) }
      sm = await StateMachine.open(backend, { clock: o.clock, failpoint, auth: { bcryptCost: o.bcryptCost }, mvcc, plantedBugs: o.plantedBugs })
      const { snaps, markers, snap } = await logSide
      if (snap !== undefined) {
        meta = snap.metadata
        if (sm.applied.index < meta.index) {
          // Only a snapshot received from a leader carries data (the member's own snapshots are
          // metadata: the backend, committed first, is the state): streamed ones are kept beside it
          // (snap-db/) until restored, as etcd keeps `<index>.snap.db`; without data there is nothing
          // to restore from, as with etcd's "database file does not match with snapshot".
          const received = await receivedSnapshot(o, sm.applied.index, meta.index)
          if (received !== undefined) {
            await sm.restore(received)
            await releaseReceived(fs, o.dir, meta.index)
          } else if (snap.dataBytes === 0) {
            throw new EmbedError('ERR_EMBED_STOPPED', `embed: the backend in ${o.dir} applied up to index ${sm.applied.index} but the snapshot is at ${meta.index}: the backend lost committed state; restore it from a backup, or (in a cluster) discard this member's data and rejoin`, { applied: sm.applied.index, snapshot: meta.index })
          } else {
            o.onProgress?.({ phase: 'restore', done: 0, total: meta.index })
            await sm.restore(snap.read())
            o.onProgress?.({ phase: 'restore', done: meta.index, total: meta.index })
          }
        } else {
          await receivedSnapshot(o, sm.applied.index, 0) // a stream cut by a crash, or one already restored
        }
      } else if (o.initialClusterState === 'existing') {
        // Joining a running cluster: no configuration of our own; the leader's log or snapshot
        // brings the cluster's.
        await receivedSnapshot(o, sm.applied.index, 0) // a first snapshot stream cut by a crash
        meta = { index: 0, term: 0, confState: { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } }
      } else {
        const voters = o.initialCluster.map((m) => m.id).sort((a, b) => a - b)
        const cs: ConfState = { voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }
        const members: MemberRecord[] = o.initialCluster.map((m) => ({ id: m.id, name: m.name ?? `member-${m.id}`, peerUrls: [...(m.peerUrls ?? [])], clientUrls: [...(m.clientUrls ?? [])], isLearner: false }))
        await sm.bootstrap(cs, members)
        await snaps.save({ index: 1, term: 1, confState: cs }, [])
        meta = { index: 1, term: 1, confState: cs }
      }
      const alone = soleMember(o.memberId, sm.applied.confState)
      const applied = sm.applied.index
      // Which entries' data the restart needs (dataAfterFor). Either way the WAL copies each kept
      // entry's data once and holds no segment-sized buffer.
      const needed = dataAfterFor(alone, applied, markers, meta)
      // The early read is used when it kept the data of every entry past `needed`: always, unless
      // the state machine's open or a restore moved the applied point below the one it was read
      // for (nothing does today). Otherwise the WAL is read again, in series. A failed early read
      // fails the open as the read in series would have.
      const read = await early
      let opened: OpenedWal
      let dataAfter: number
      if (read !== undefined && read.snapIndex === meta.index && read.dataAfter <= needed) {
        opened = read.opened
        dataAfter = read.dataAfter
      } else {
        await read?.opened.wal.close()
        opened = await openWal(o, walDir, meta, markers?.valid, needed)
        reread = opened.wal
        dataAfter = needed
      }
      const { wal, entries } = opened
      hardState = opened.hardState
      // Its snapshots are metadata only (etcd v3's model: the backend is the state); a MsgSnap to a
      // lagging member has its data streamed beside it (snapshot-stream.ts).
      const storage = new MemoryStorage()
      if (meta.index > 0) storage.applySnapshot({ data: new Uint8Array(0), metadata: meta })
      if (hardState.term > 0) storage.setHardState(hardState)
      storage.append(entries)
      // The backend may be ahead of the log's commit index (a commit-only hard state is not
      // synced), never ahead of the log itself: entries it applied that the log lost would be
      // skipped as applied when new ones reuse their indexes — silent loss. Refuse to start.
      if (storage.lastIndex() < sm.applied.index) {
        throw new EmbedError('ERR_EMBED_STOPPED', `embed: the WAL in ${walDir} ends at index ${storage.lastIndex()} but the backend applied up to ${sm.applied.index}: the log lost entries; restore this member from a snapshot or backup, or (in a cluster) discard its data and rejoin`, { walLastIndex: storage.lastIndex(), applied: sm.applied.index })
      }
      const kept = alone ? startAtApplied(storage, meta, hardState.commit, sm.applied) : meta.index
      // The markers' pass and readAll end at the same last record, so they agree on the commit.
      assert(kept >= dataAfter, 'raft never applies an entry whose data were not read')
      node = new RawNode({
        id: o.memberId, storage, rng, applied: kept,
        electionTick: o.electionTicks, heartbeatTick: 1, checkQuorum: true, preVote: true,
        ...(o.simTuning.raftMaxSizePerMsgBytes === undefined ? {} : { maxSizePerMsgBytes: o.simTuning.raftMaxSizePerMsgBytes }),
        ...(o.plantedBugs.commitPreviousTerm === true ? { [RAFT_PLANTED_BUGS]: o.plantedBugs } : {}),
      })
      if (o.transport !== undefined) await snapshotStreamReady()
      member = new Member(o, { lock, backend, sm, wal, snaps, storage, node, snapIndex: kept })
    } catch (err) {
      await quietly(() => closeEarlyWal(early))
      await quietly(() => reread?.close())
      await quietly(() => sm?.close())
      await quietly(() => backend?.close())
      await quietly(() => closeLogSide(logSide))
      throw err
    }
    openMembers++
    if (hardState.commit > meta.index) member.#replayUntil = hardState.commit
    o.transport?.onMessage((from, bytes) => member.#receive(from, bytes))
    if (o.initialCluster.length === 1 && meta.confState.voters.length <= 1) node.campaign()
    member.#schedule()
    member.#armTick()
    member.#corruption.start()
    await member.#loop
    return member
  }

  get memberId(): number {
    return this.o.memberId
  }

  get leader(): number {
    return this.#leader
  }

  get term(): number {
    return this.#term
  }

  get isLeader(): boolean {
    return this.#leader === this.o.memberId
  }

  get raftStatus(): ReturnType<RawNode['status']> {
    return this.#node.status()
  }

  /** Lease renewals on the leader, forwarded there from a follower. */
  get leaseRenewal(): LeaseRenewal {
    return this.#leaseRenewal
  }

  /** The snapshot streams' counters (undefined without a transport). */
  get snapshotStream(): SnapshotStream | undefined {
    return this.#snapStream
  }

  /** Runs one corruption-check round now (on the leader; elsewhere nothing). */
  checkCorruption(): void {
    this.#checkOpen()
    this.#corruption.check()
  }

  /** Every other member of the applied configuration (voters and learners). */
  get peers(): number[] {
    const cs = this.sm.applied.confState
    return [...cs.voters, ...cs.learners, ...cs.votersOutgoing].filter((id, i, all) => id !== this.o.memberId && all.indexOf(id) === i)
  }

  get closed(): boolean {
    return this.#closed || this.#stopped !== undefined
  }

  /**
   * The backend's size for the quota check, read at most every 100 ms: LMDB's stats call costs
   * ~0.3 ms, which once per put was a third of the write path's CPU.
   */
  backendSizeBytes(): number {
    const now = this.o.clock.now()
    if (now - this.#sizeAt >= 100 || now < this.#sizeAt) {
      this.#sizeBytes = this.#backend.stats().sizeBytes
      this.#sizeAt = now
    }
    return this.#sizeBytes
  }

  get backend(): Backend {
    return this.#backend
  }

  /** Proposals waiting to apply, and the running count of those that failed (read-only, for metrics). */
  get proposals(): { readonly pending: number; readonly failed: number } {
    return { pending: this.#waiting.size, failed: this.#proposalsFailed }
  }

  /**
   * Proposes `body` and resolves with its applied outcome (rejects with its refusal), or with
   * `answer(outcome)` when given. Not an async function: the waiter settles the very promise
   * returned (a refusal rejects it), so a put costs one promise here rather than an async frame
   * awaiting another; with `answer` (store.put's response) the caller needs no frame either.
   */
  propose(body: RequestBody, identity?: Identity): Promise<ApplyOutcome>
  propose<T>(body: RequestBody, identity: Identity, answer: (o: ApplyOutcome) => T): Promise<T>
  propose<T>(body: RequestBody, identity: Identity = NO_IDENTITY, answer?: (o: ApplyOutcome) => T): Promise<T | ApplyOutcome> {
    try {
      return this.#propose(body, identity, answer)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * The executor of every proposal's promise, made once: it leaves the promise's functions in
   * #captured / #capturedReject for #propose to take at once (no closure per request).
   */
  readonly #capture = (resolve: (v: never) => void, reject: (e: Error) => void): void => {
    this.#captured = resolve as (v: unknown) => void
    this.#capturedReject = reject
  }
  #captured: ((v: unknown) => void) | undefined
  #capturedReject: ((e: Error) => void) | undefined

  #propose<T>(body: RequestBody, identity: Identity, answer: ((o: ApplyOutcome) => T) | undefined): Promise<T | ApplyOutcome> {
    this.#checkOpen()
    if (this.#waiting.size >= this.o.maxPendingRequests) throw new EmbedError('ERR_EMBED_TOO_MANY_REQUESTS', `embed: ${this.#waiting.size} requests are waiting to apply; retry later`)
    if (this.#nextId > MAX_REQUEST_COUNTER) this.#nextId = 1
    const id = this.#nextId++ * 1024 + (this.o.memberId % 1024)
    const data = encodeRequestOf(id, identity.username, identity.authRevision, body)
    if (data.length > this.o.maxRequestBytes) {
      throw new EmbedError('ERR_EMBED_REQUEST_TOO_LARGE', `embed: the request is ${data.length} bytes, over maxRequestBytes (${this.o.maxRequestBytes})`, { bytes: data.length })
    }
    const outcome = new Promise<T | ApplyOutcome>(this.#capture)
    this.#waiting.set(id, { data, batch: undefined, at: 0, answer, resolve: this.#captured!, reject: this.#capturedReject!, deadline: this.o.clock.now() + this.o.requestTimeoutMs })
    this.#captured = undefined
    this.#capturedReject = undefined
    this.#armSweep()
    const bytes = BATCH_ITEM_HEADER_BYTES + data.length
    if (BATCH_HEADER_BYTES + bytes <= BATCH_MAX_BYTES && batchable(body)) {
      // Coalesced with the requests proposed until the loop runs (in this turn, or while a
      // Ready is saved and applied): one raft entry, one WAL record, one log slot for all.
      if (this.#batchBytes + bytes > BATCH_MAX_BYTES || this.#batch.length >= BATCH_MAX_REQUESTS) this.#flushProposals()
      this.#batch.push(data)
      this.#batchIds.push(id)
      this.#batchBytes += bytes
      this.#schedule()
      return outcome
    }
    // Alone, after the requests proposed before it (proposal order is kept).
    this.#flushProposals()
    try {
      this.#node.propose(data)
    } catch (err) {
      this.#settle(id)
      this.#proposalsFailed++
      if (hasCode(err, 'ERR_RAFT_PROPOSAL_DROPPED')) throw new EmbedError('ERR_EMBED_NO_LEADER', 'embed: no leader is known; retry after the election', {}, { cause: err })
      throw err
    }
    this.#schedule()
    return outcome
  }

  /** Proposes a membership change (the member record rides in its context). */
  async proposeConfChange(cc: ConfChangeV2): Promise<void> {
    this.#checkOpen()
    const target = this.sm.applied.index
    this.#node.proposeConfChange(cc)
    this.#schedule()
    const deadline = this.o.clock.now() + this.o.requestTimeoutMs
    // Conf change entries carry no request id: wait until an entry past the proposal applies
    // with the change visible in the applied conf state.
    while (this.o.clock.now() < deadline) {
      await this.waitApplied(target + 1)
      const cs = this.sm.applied.confState
      const all = [...cs.voters, ...cs.learners]
      if (cc.changes.every((c) => (c.type === 1 ? !all.includes(c.nodeId) : all.includes(c.nodeId)))) return
      await nextTurn()
    }
    throw new EmbedError('ERR_EMBED_TIMEOUT', 'embed: the membership change did not apply in time; check members() before retrying')
  }

  /** Resolves once the applied index reaches `index`. */
  waitApplied(index: number): Promise<void> {
    if (this.sm.applied.index >= index) return Promise.resolve()
    return new Promise((resolve) => {
      this.#appliedWaiters.push({ index, resolve })
      this.#appliedWaiters.sort((a, b) => a.index - b.index)
    })
  }

  /**
   * Waits while the state machine restores a snapshot (its index is rebuilt then, and mvcc
   * refuses reads meanwhile), as etcd's reads wait on its store's lock during a restore.
   */
  async restoreBarrier(): Promise<void> {
    while (this.sm.mvcc.restoring) {
      await this.sm.mvcc.restored()
      this.#checkOpen()
    }
  }

  /**
   * A linearizable read barrier (ReadIndex): confirms leadership with a quorum, then waits
   * until this member applied up to the read index. Reads queued while a round is in flight
   * share the next round.
   */
  async readBarrier(): Promise<void> {
    this.#checkOpen()
    await new Promise<void>((resolve, reject) => {
      this.#readQueue.push({ resolve, reject })
      this.#startReadRound()
    })
  }

  #startReadRound(): void {
    if (this.#readRound !== undefined || this.#readQueue.length === 0) return
    const ctx = `${this.o.memberId}:${++this.#readSeq}`
    this.#readRound = { ctx, waiters: this.#readQueue }
    this.#readQueue = []
    this.#readRoundTicks = 0
    try {
      this.#node.readIndex(new TextEncoder().encode(ctx))
    } catch (err) {
      const round = this.#readRound
      this.#readRound = undefined
      const e = hasCode(err, 'ERR_RAFT_PROPOSAL_DROPPED') ? new EmbedError('ERR_EMBED_NO_LEADER', 'embed: no leader is known; retry after the election') : (err as Error)
      for (const w of round.waiters) w.reject(e)
      return
    }
    this.#schedule()
  }

  transferLeadership(to: number): void {
    this.#checkOpen()
    this.#node.transferLeader(to)
    this.#schedule()
  }

  /** The conf change that adds `m` (as a learner if `m.isLearner`). */
  static addChange(m: MemberRecord): ConfChangeV2 {
    return { transition: 0, changes: [{ type: m.isLearner ? 3 : 0, nodeId: m.id }], context: encodeMember(m) }
  }

  // ---- the loop ------------------------------------------------------------------------

  /**
   * Hands the requests batched since the last call to raft: one alone as its own entry (the
   * single-request payload), several as one batch entry. A refusal (no leader) fails each of
   * them as it would have failed alone; never throws. `count`: the first so many only (the
   * pacer's); the rest stay batched, in order, for the next Ready.
   */
  #flushProposals(count = this.#batch.length): void {
    if (count === 0) return
    const whole = count === this.#batch.length
    const payloads = whole ? this.#batch : this.#batch.splice(0, count)
    const ids = whole ? this.#batchIds : this.#batchIds.splice(0, count)
    if (whole) this.#dropBatch()
    else for (const d of payloads) this.#batchBytes -= BATCH_ITEM_HEADER_BYTES + d.length
    const n = payloads.length
    let data = payloads[0]!
    if (n > 1) {
      data = encodeBatch(payloads)
      // Each waiter learns where its bytes are in the entry: the leader's own entry settles
      // its waiters by identity (#answer).
      let at = BATCH_HEADER_BYTES
      for (let i = 0; i < n; i++) {
        const w = this.#waiting.get(ids[i]!)
        if (w !== undefined && w.data === payloads[i]) {
          w.batch = data
          w.at = at + BATCH_ITEM_HEADER_BYTES
        }
        at += BATCH_ITEM_HEADER_BYTES + payloads[i]!.length
      }
    }
    try {
      this.#node.propose(data)
    } catch (err) {
      const e = hasCode(err, 'ERR_RAFT_PROPOSAL_DROPPED') ? new EmbedError('ERR_EMBED_NO_LEADER', 'embed: no leader is known; retry after the election', {}, { cause: err }) : (err as Error)
      for (const id of ids) {
        const w = this.#settle(id)
        if (w === undefined) continue
        this.#proposalsFailed++
        w.reject(e)
      }
    }
  }

  /** How many batched requests to propose now: all, unless this member leads alone (ProposalPacer). */
  #paced(): number {
    const pending = this.#batch.length
    if (pending === 0 || !this.#leadsAlone()) return pending
    return this.#pacer.take(pending, this.#nextApplies)
  }

  #schedule(): void {
    if (this.#loopQueued || this.#closed) return
    this.#loopQueued = true
    this.#loop = this.#loop.then(async () => {
      this.#loopQueued = false
      let sliceStart = this.o.clock.now()
      try {
        while (!this.#closed && this.#stopped === undefined) {
          this.#flushProposals(this.#paced())
          if (!this.#node.hasReady()) {
            if (this.#batch.length === 0) break
            this.#flushProposals() // held for a Ready that did not come
            continue
          }
          await this.#handleReady(this.#node.ready())
          // Readies back to back may never leave the microtask queue (a save and an apply that
          // complete without I/O: the memory backend over an in-memory file system, a closed
          // loop of callers): hand the event loop back between them as within one.
          if (this.#sliceUsed(sliceStart)) sliceStart = await this.#nextSlice()
        }
      } catch (err) {
        this.#stop(err as Error)
      }
    })
  }

  /**
   * One timer for every request's deadline (a timer per request cost ~1.6 µs and garbage per
   * put): it runs while requests wait, every tenth of the timeout, and fails the overdue ones.
   */
  #armSweep(): void {
    if (this.#sweepTimer !== undefined || this.#closed) return
    const every = Math.max(1, Math.min(100, Math.floor(this.o.requestTimeoutMs / 10)))
    this.#sweepTimer = this.o.clock.setTimer(every, () => {
      this.#sweepTimer = undefined
      const now = this.o.clock.now()
      for (const [, w] of this.#waiting.takeAll((w) => w.deadline <= now)) {
        this.#proposalsFailed++
        w.reject(new EmbedError('ERR_EMBED_TIMEOUT', `embed: the request did not apply within ${this.o.requestTimeoutMs} ms; it may still apply`))
      }
      if (this.#waiting.size > 0) this.#armSweep()
    })
  }

  #armTick(): void {
    if (this.#closed) return
    this.#tickTimer = this.o.clock.setTimer(this.o.tickMs, () => {
      if (this.#closed || this.#stopped !== undefined) return
      this.#node.tick()
      this.#retryReads()
      this.#expireLeases()
      this.#schedule()
      this.#armTick()
    })
  }

  /** The primary lessor's expired leases are revoked through the log, as root (etcd §5.6). */
  #expireLeases(): void {
    if (!this.isLeader || !this.sm.lessor.isPrimary) return
    const { expired, checkpoints } = this.sm.tick()
    const root = { username: this.sm.auth.enabled ? 'root' : '', authRevision: this.sm.auth.revision }
    if (expired.length > 0) void this.#revokeExpired(expired, this.#node.status().hardState.term, root)
    if (checkpoints.length > 0) {
      this.propose({ kind: 'leaseCheckpoint', checkpoints: checkpoints.map((c) => ({ id: c.id, remainingTtlSeconds: c.remainingTtl })) }, root).catch(() => {})
    }
  }

  /**
   * Proposes the revokes of `expired` only once leadership in `term` is confirmed (etcd's fix of
   * #15247: a stale leader must not revoke). A leader that was paused, or whose loop waited on a
   * slow fsync, still believes it leads while a newer leader has promoted and renewed the leases;
   * its countdowns ran out meanwhile, and its revoke (appended in its old term, or forwarded as a
   * proposal to the new leader once raft stepped down before this member's view caught up) would
   * delete a lease that was kept alive. A ReadIndex round confirms that a quorum still follows this
   * member; then it must still lead in `term` (raft's view and ours) and each lease must still be
   * expired here. A lease skipped is handed out again by a later tick while this member is primary.
   */
  async #revokeExpired(expired: readonly number[], term: number, root: { username: string; authRevision: number }): Promise<void> {
    try {
      await this.readBarrier()
    } catch {
      return
    }
    if (this.#closed || this.#stopped !== undefined || !this.isLeader || !this.sm.lessor.isPrimary) return
    if (this.#node.state !== StateType.Leader || this.#node.status().hardState.term !== term) return
    const now = this.o.clock.now()
    for (const id of expired) {
      const expiry = this.sm.lessor.lookup(id)?.expiry
      if (expiry !== undefined && expiry <= now) this.propose({ kind: 'leaseRevoke', id }, root).catch(() => {})
    }
  }

  /**
   * One Ready, in the contract's order, with one overlap (etcd-io/raft's asynchronous storage
   * writes are the model): the committed entries that were already durable before this Ready
   * are applied while its own entries are being written and fsynced, so the disk's sync and
   * the CPU's apply run side by side. Messages still leave only after the save; an entry is
   * never applied before it is durable here (the restart rule "the log never ends below the
   * backend's applied index" depends on it).
   */
  async #handleReady(rd: Ready): Promise<void> {
    const { failpoint } = this.o
    if (rd.softState !== undefined) this.#onSoftState(rd.softState.lead, rd.softState.raftState)
    if (rd.hardState !== undefined) this.#term = rd.hardState.term
    if (this.#pipelines(rd)) return this.#handlePipelined(rd)
    // A sole leader's saves still in flight land before its log is shared or replaced: from
    // here on the in-memory log holds only durable entries.
    if (this.#saves.length > 0) await this.#durable(Number.MAX_SAFE_INTEGER)
    if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) {
      await this.#snapshotting // a snapshot of our own in flight finishes before the leader's replaces the state
      await this.#applySnapshot(rd.snapshot, rd.hardState)
    }
    const durable = this.#storage.lastIndex()
    const committed = rd.committedEntries
    let early = 0
    while (early < committed.length && committed[early]!.index <= durable) early++
    // A leader's appends leave before its own save, as etcd's leader sends them (etcdserver
    // raft.go: "the leader can write to its disk in parallel with replicating to the followers
    // and then writing to their disks", Raft thesis §10.2.1): the followers' fsyncs overlap the
    // leader's. Safe: an entry commits on durable acknowledgements only (the leader's own is
    // stepped on advance, after its save), and nothing applies here before it is durable here.
    // Every other message (acknowledgements, votes) still leaves after the save.
    const appsFirst = this.isLeader && rd.messages.some((m) => m.type === MessageType.MsgApp)
    if (appsFirst) for (const m of rd.messages) if (m.type === MessageType.MsgApp) this.o.transport?.send(m.to, encodeMessage(m, FRAME_RAFT))
    const saved = this.#save(rd)
    if (saved !== undefined) {
      try {
        await this.#applyBesideSync(committed, 0, early)
      } finally {
        // The planted bug (simulation only) goes on before the entries are durable.
        if (this.o.plantedBugs.ackBeforeFsync === true) saved.catch((err: Error) => this.#stop(err))
        else await saved
      }
      failpoint('raftAfterSave')
    } else {
      await this.#applyMeasured(committed, 0, early)
    }
    this.#storage.append(rd.entries)
    if (rd.hardState !== undefined) this.#storage.setHardState(rd.hardState)
    for (const m of rd.messages) {
      if (appsFirst && m.type === MessageType.MsgApp) continue
      if (m.type === MessageType.MsgSnap && this.#snapStream !== undefined) {
        // As etcd's merged snapshot message: the point sent is the applied one now (the stored
        // raft snapshot may predate the peer joining), and the backend streamed is at least there.
        const { index, term, confState } = this.sm.applied
        this.#snapStream.send({ ...m, snapshot: { data: new Uint8Array(0), metadata: { index, term, confState } } })
      } else this.o.transport?.send(m.to, encodeMessage(m, FRAME_RAFT))
    }
    for (const rs of rd.readStates) this.#onReadState(new TextDecoder().decode(rs.requestCtx), rs.index)
    await this.#applyMeasured(committed, early, committed.length)
    this.#endReady(rd)
  }

  /** True while this member leads a cluster of one (no one to send its log to). */
  #leadsAlone(): boolean {
    return this.isLeader && soleMember(this.o.memberId, this.sm.applied.confState)
  }

  /** Whether `rd` is a sole leader's with nothing to send or install: #handlePipelined's case. */
  #pipelines(rd: Ready): boolean {
    return rd.messages.length === 0 && (rd.snapshot === undefined || rd.snapshot.metadata.index === 0) && this.#leadsAlone()
  }

  /**
   * Hands `rd`'s entries and hard state to the WAL (failpoint raftBeforeSave first), timed for the
   * pacer; undefined when the Ready has nothing to save.
   */
  #save(rd: Ready): Promise<void> | undefined {
    if (rd.entries.length === 0 && rd.hardState === undefined) return undefined
    this.o.failpoint('raftBeforeSave')
    const calledAt = this.o.clock.now()
    const saved = this.#wal.save(rd.hardState ?? this.#hardState(), rd.entries)
    this.#timeSave(saved, calledAt, rd.entries.length > 0)
    return saved
  }

  /**
   * Applies entries[from, to) once the saves before were written and their fsync started: those
   * run in the WAL's microtasks, which the apply would otherwise hold back, so the disk syncs
   * while the CPU applies.
   */
  async #applyBesideSync(entries: readonly Entry[], from: number, to: number): Promise<void> {
    if (from >= to) return
    await this.#wal.written()
    await this.#applyMeasured(entries, from, to)
  }

  /** Every Ready's end: raft advanced, the applied log released, waiters woken, a snapshot when due. */
  #endReady(rd: Ready): void {
    this.#nextApplies = rd.entries.length > 0
    this.#node.advance()
    this.#releaseAppliedLog()
    this.#wakeApplied()
    this.#maybeSnapshot()
  }

  /**
   * A sole leader's Ready (etcd-io/raft's asynchronous storage writes are the model): its entries
   * are handed to the WAL and the Ready is advanced without waiting for their fsync, and each
   * committed entry is applied once the save that holds it is durable. raft then commits the
   * entries at once (the leader's own acknowledgement is its only one), the next Ready's save is
   * queued while this one's fsync runs, and the WAL writes and syncs it as soon as that fsync
   * completes: the fsyncs follow one another with nothing but the WAL's own work between them,
   * instead of the member's Ready work after each. Nothing is applied, so nothing acknowledged,
   * before it is durable here; raft's commit index may run ahead of the durable log only while
   * no other member exists (the first Ready with a message to send, or a snapshot, waits for every
   * save in flight first). A crash loses only saves not yet durable, which nothing was told of;
   * the hard state's commit index is written after the entries it covers.
   */
  async #handlePipelined(rd: Ready): Promise<void> {
    const saved = this.#save(rd)
    if (saved !== undefined) {
      // The planted bug (simulation only): the entries apply without waiting for their save.
      if (this.o.plantedBugs.ackBeforeFsync === true) saved.catch((err: Error) => this.#stop(err))
      else {
        saved.catch(() => {}) // #durable awaits it; its failure stops the loop there
        this.#saves.push({ first: rd.entries[0]?.index ?? 0, saved })
      }
    }
    this.#storage.append(rd.entries)
    if (rd.hardState !== undefined) this.#storage.setHardState(rd.hardState)
    for (const rs of rd.readStates) this.#onReadState(new TextDecoder().decode(rs.requestCtx), rs.index)
    const committed = rd.committedEntries
    if (committed.length > 0) {
      await this.#durable(committed[committed.length - 1]!.index)
      await this.#applyBesideSync(committed, 0, committed.length)
    }
    this.#endReady(rd)
  }

  /**
   * Tells the pacer how long `saved` took to sync, once it is durable: from its call, or from
   * the previous save's durability when it was queued behind that one's fsync (a sole leader
   * queues the next save while one syncs): the pacer weighs an fsync, not a wait for another.
   */
  #timeSave(saved: Promise<void>, calledAt: number, withEntries: boolean): void {
    saved.then(() => {
      const now = this.o.clock.now()
      if (withEntries) this.#pacer.saved(now - Math.max(calledAt, this.#lastSavedAt))
      this.#lastSavedAt = now
    }, () => {})
  }

  /** Waits until every save in #saves holding an entry at or below `index` is durable (failpoint raftAfterSave after each). */
  async #durable(index: number): Promise<void> {
    while (this.#saves.length > 0 && this.#saves[0]!.first <= index) {
      await this.#saves[0]!.saved
      this.#saves.shift()
      this.o.failpoint('raftAfterSave')
    }
  }

  /**
   * A sole member sends its log to no one: the entries it applied are dropped from the
   * in-memory log every SOLE_LOG_RELEASE_ENTRIES rather than kept until the next snapshot
   * (snapshotCount, 10,000 by default), so they die young instead of being promoted and
   * collected by a full GC. A member added later catches up from a snapshot, as it does after
   * a sole member's snapshot already. The WAL and the snap files do not move.
   */
  #releaseAppliedLog(): void {
    const to = this.#raftApplied
    if (to - (this.#storage.firstIndex() - 1) < SOLE_LOG_RELEASE_ENTRIES || to > this.#storage.lastIndex()) return
    if (!soleMember(this.o.memberId, this.sm.applied.confState)) return
    this.#storage.compact(to)
  }

  /**
   * Applies entries[from, to) in order, handing the event loop back every APPLY_SLICE_MS / n (read
   * on the Clock every 16 entries, and after each batch entry): a Ready may commit thousands of
   * entries (a txn of 128 puts is ~1 ms), and the host's event loop must not stall on them.
   * Nothing else applies meanwhile (the Ready loop is serial); raft takes proposals and messages
   * between ready() and advance() as it does while the WAL saves. A simulated clock does not move inside one
   * Ready, so the simulation applies a Ready in one go as before.
   */
  async #applyEntries(entries: readonly Entry[], from: number, to: number): Promise<void> {
    let sliceStart = to - from > 1 ? this.o.clock.now() : 0
    for (let i = from; i < to; i++) {
      const e = entries[i]!
      this.#apply(e)
      // A batch entry is up to BATCH_MAX_REQUESTS requests: the clock is read after each.
      if (((i - from) % 16 === 15 || isBatch(e.data)) && i + 1 < to && this.#sliceUsed(sliceStart)) sliceStart = await this.#nextSlice()
    }
  }

  /** #applyEntries, timed for the pacer with what the answered callers did in its microtasks. */
  async #applyMeasured(entries: readonly Entry[], from: number, to: number): Promise<void> {
    if (from >= to) return
    const t0 = this.o.clock.now()
    const answered = this.#answered
    await this.#applyEntries(entries, from, to)
    this.#pacer.applied(this.o.clock.now() - t0, this.#answered - answered)
  }

  /**
   * Whether this member's slice of the event loop, begun at `sliceStart`, is used up:
   * APPLY_SLICE_MS / n, since the members of one process share its event loop and their slices
   * in one turn add up.
   */
  #sliceUsed(sliceStart: number): boolean {
    return this.o.clock.now() - sliceStart >= APPLY_SLICE_MS / Math.max(1, openMembers)
  }

  /** Hands the event loop a turn (setImmediate); resolves with the next slice's start. */
  async #nextSlice(): Promise<number> {
    await nextTurn()
    return this.o.clock.now()
  }

  #hardState(): HardState {
    return this.#storage.initialState().hardState
  }

  /**
   * A ReadIndex round whose request or answer was lost (a follower forwarded it to a leader
   * that then died) never completes: like etcd's read loop, send it again after an election
   * timeout, and start the round for reads queued while none could start.
   */
  #retryReads(): void {
    if (this.#readRound !== undefined && ++this.#readRoundTicks >= this.o.electionTicks) {
      this.#readQueue.unshift(...this.#readRound.waiters)
      this.#readRound = undefined
    }
    if (this.#readRound === undefined && this.#readQueue.length > 0) this.#startReadRound()
  }

  #onSoftState(lead: number, state: number): void {
    const leaderChanged = lead !== this.#leader
    this.#leader = lead
    const leading = state === StateType.Leader
    this.sm.setLeader(leading ? this.#node.status().hardState.term : undefined, this.o.tickMs * this.o.electionTicks)
    if ((!leading || leaderChanged) && this.#readRound !== undefined) {
      // A round may never complete once the leader changed (a follower that forwarded it and
      // then won the election waits for an answer no one sends): retry it with the new leader.
      this.#readQueue.unshift(...this.#readRound.waiters)
      this.#readRound = undefined
    }
  }

  #onReadState(ctx: string, index: number): void {
    const round = this.#readRound
    if (round === undefined || round.ctx !== ctx) return
    this.#readRound = undefined
    void this.waitApplied(index).then(() => {
      for (const w of round.waiters) w.resolve()
    })
    this.#startReadRound()
  }

  #apply(e: Entry): void {
    this.#raftApplied = e.index
    if (this.#replayUntil > 0 && (e.index % 1000 === 0 || e.index >= this.#replayUntil)) {
      this.o.onProgress?.({ phase: 'replay', done: e.index, total: this.#replayUntil })
      if (e.index >= this.#replayUntil) this.#replayUntil = 0
    }
    if (e.type === EntryType.Normal) {
      this.sm.applyEach(e, this.#answer)
      return
    }
    const cc = asV2(e.type === EntryType.ConfChange ? decodeConfChange(e.data) : decodeConfChangeV2(e.data))
    const cs = this.#node.applyConfChange(cc)
    this.sm.applyConfChange(e, cc, cs)
    if (cc.changes.some((c) => c.type === 1 && c.nodeId === this.o.memberId)) {
      this.#stop(new EmbedError('ERR_EMBED_REMOVED', `embed: member ${this.o.memberId} was removed from the cluster`))
    }
  }

  /** Settles the waiter of an applied request (one per request of a batch entry). */
  readonly #answer = (outcome: ApplyOutcome, payload: Uint8Array): void => {
    const id = outcome.header?.id
    if (id === undefined) return
    // An id alone does not say the request is ours: one a previous incarnation of this member
    // proposed (committed only now), or one from a member whose id has the same low bits, may
    // carry it. Answering our request with its outcome acknowledged a write that was not (yet,
    // or ever) committed.
    this.#answered++
    const w = this.#waiting.get(id)
    if (w === undefined || !(inBatchAt(w, payload) || sameBytes(w.data, payload))) return
    this.#waiting.take(id)
    if (outcome.error !== undefined) w.reject(outcome.error)
    else if (w.answer === undefined) w.resolve(outcome)
    else settleWithAnswer(w, outcome)
  }

  #settle(id: number): Waiter | undefined {
    return this.#waiting.take(id)
  }

  #wakeApplied(): void {
    const applied = this.sm.applied.index
    let n = 0
    while (n < this.#appliedWaiters.length && this.#appliedWaiters[n]!.index <= applied) this.#appliedWaiters[n++]!.resolve()
    if (n > 0) this.#appliedWaiters = this.#appliedWaiters.slice(n)
  }

  /** A snapshot from the leader: the state machine restores from it, then the log restarts past it. */
  async #applySnapshot(snap: Snapshot, hardState: HardState | undefined): Promise<void> {
    const { metadata } = snap
    await this.#snaps.save(metadata, [snap.data])
    await this.#wal.saveSnapshot(metadata)
    // The hard state (its commit ≥ the snapshot's index) is durable before the restore, as etcd
    // saves it with the snapshot and syncs (etcd 3.5's storage.Sync): a WAL marker above the
    // last durable commit is not valid at restart, and a crash after the restore would find the
    // backend ahead of the log. A commit-only save is not fsynced by itself: ask for it (a
    // learner that joined and lost power 20 ms after its first snapshot refused to restart).
    await this.#wal.save(hardState ?? this.#hardState(), [], { sync: true })
    this.#storage.applySnapshot(snap)
    if (snap.data.length > 0) await this.sm.restore((async function* () { yield snap.data })())
    else {
      await this.sm.restore(receivedAt(this.o, metadata.index))
      await releaseReceived(this.o.fs, this.o.dir, metadata.index)
    }
    this.#snapIndex = metadata.index
    this.#raftApplied = metadata.index
  }

  /**
   * etcd's order: the backend committed, the snapshot file, then the WAL marker, then the log is
   * released below it. It runs beside the Ready loop, as etcd's snapshot runs beside its apply
   * loop (one at a time): awaited in the loop, its three syncs (the backend's commit, the snap
   * file, the marker: 30-40 ms together at load 6) held every proposal back every
   * snapshotCount entries. The loop waits for it only before it restores a snapshot from the
   * leader, and close() before it closes the layers. The in-memory log is compacted when the
   * marker is durable, between two of the loop's steps (everything here is one thread).
   */
  #maybeSnapshot(): void {
    if (this.#snapshotting !== undefined) return
    const point = this.sm.applied
    const due = point.index - this.#snapIndex >= this.o.snapshotCount
    if (!due || this.#raftApplied < point.index) return
    const meta: SnapshotMetadata = { index: point.index, term: point.term, confState: point.confState }
    this.#snapshotting = this.#snapshot(meta).then(() => {
      this.#snapshotting = undefined
    }, (err: unknown) => {
      this.#snapshotting = undefined
      this.#stop(err as Error)
    })
  }

  async #snapshot(meta: SnapshotMetadata): Promise<void> {
    // etcd v3's model: the backend is the snapshot. Commit it (the WAL below this point is about
    // to be released), then record the point; the state is copied only for a follower that
    // needs it. Writing the whole backend into every snapshot file cost a full copy every
    // snapshotCount entries (17% of a busy member's CPU, 90-210 ms stalls).
    await this.#backend.commit()
    await this.#snaps.save(meta, [])
    await this.#wal.saveSnapshot(meta)
    if (this.#closed || this.#stopped !== undefined || this.#snapIndex >= meta.index) return
    // A lagging follower gets the backend's state streamed at send time (snapshot-stream.ts).
    // A sole member's log may be compacted past this point already (#releaseAppliedLog): its
    // in-memory snapshot then stays where it was, as it does between two snapshots.
    if (meta.index >= this.#storage.firstIndex() - 1) this.#storage.createSnapshot(meta.index, { confState: meta.confState, data: new Uint8Array(0) })
    // Keep some entries so a slightly lagging follower catches up from the log, not a snapshot.
    // A sole member sends its log to no one: it keeps no catch-up entries.
    const keepFrom = Math.max(this.#snapIndex, meta.index - (soleMember(this.o.memberId, meta.confState) ? 0 : this.o.snapshotCatchUpEntries))
    if (keepFrom > this.#storage.firstIndex() - 1) this.#storage.compact(keepFrom)
    this.#wal.releaseTo(meta.index)
    this.#snapIndex = meta.index
  }

  #receive(from: number, bytes: Uint8Array): void {
    if (this.#closed || this.#stopped !== undefined || bytes.length === 0) return
    if (bytes[0] === FRAME_SNAP_DATA || bytes[0] === FRAME_SNAP_ACK) {
      this.#snapStream?.receive(from, bytes)
      return
    }
    if (bytes[0] === FRAME_LEASE_RENEW || bytes[0] === FRAME_LEASE_RENEWED) {
      this.#leaseRenewal.receive(from, bytes)
      return
    }
    if (bytes[0] !== FRAME_RAFT) {
      this.#corruption.receive(from, bytes)
      return
    }
    try {
      const m = decodeMessage(bytes.subarray(1))
      // A snapshot's data comes by its own stream (snapshot-stream.ts), never as a bare message.
      if (m.type === MessageType.MsgSnap && m.snapshot?.data.length === 0) return
      this.#node.step(m)
    } catch (err) {
      // A malformed or stale message from a peer is dropped; raft recovers by retrying.
      if (!(err instanceof StrataError)) throw err
      void from
      return
    }
    this.#schedule()
  }

  /** A streamed snapshot's data is durable here: raft takes its MsgSnap (and restores through the next Ready). */
  #stepSnapshot(m: Message): void {
    if (this.closed) return
    try {
      this.#node.step(m)
    } catch (err) {
      if (!(err instanceof StrataError)) throw err
      return
    }
    this.#schedule()
  }

  #stop(err: Error): void {
    if (this.#stopped !== undefined) return
    this.#stopped = err
    this.#dropBatch()
    const stopped = hasCode(err, 'ERR_EMBED_REMOVED') ? err : new EmbedError('ERR_EMBED_STOPPED', `embed: member ${this.o.memberId} stopped: ${err.message}; reopen it (after repairing its disk if the cause is one)`, {}, { cause: err })
    for (const [, w] of this.#waiting.takeAll()) {
      w.reject(stopped)
      this.#proposalsFailed++
    }
    for (const w of [...this.#readQueue, ...(this.#readRound?.waiters ?? [])]) w.reject(stopped)
    this.#readQueue = []
    this.#readRound = undefined
  }

  /** Empties the batch of requests not yet proposed (at close, their waiters fail with the rest). */
  #dropBatch(): void {
    this.#batch = []
    this.#batchIds = []
    this.#batchBytes = BATCH_HEADER_BYTES
  }

  /** Throws ERR_EMBED_CLOSED / ERR_EMBED_STOPPED / ERR_EMBED_REMOVED when the member cannot serve. */
  ensureOpen(): void {
    this.#checkOpen()
  }

  #checkOpen(): void {
    if (this.#closed) throw new EmbedError('ERR_EMBED_CLOSED', 'embed: the store is closed; open it again')
    if (this.#stopped !== undefined) {
      if (hasCode(this.#stopped, 'ERR_EMBED_REMOVED')) throw this.#stopped
      throw new EmbedError('ERR_EMBED_STOPPED', `embed: member ${this.o.memberId} stopped: ${this.#stopped.message}`, {}, { cause: this.#stopped })
    }
  }

  /** Stops ticking, waits for the loop, fails what still waits, closes every layer. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    openMembers--
    this.#tickTimer?.cancel()
    this.#corruption.stop()
    await this.#loop
    await Promise.allSettled(this.#saves.map((x) => x.saved)) // a sole leader's saves in flight
    await this.#snapshotting
    await this.#snapStream?.close()
    this.#leaseRenewal.close()
    const closed = new EmbedError('ERR_EMBED_CLOSED', 'embed: the store closed before the request applied')
    this.#sweepTimer?.cancel()
    this.#dropBatch()
    for (const [, w] of this.#waiting.takeAll()) w.reject(closed)
    for (const w of [...this.#readQueue, ...(this.#readRound?.waiters ?? [])]) w.reject(closed)
    await this.sm.close()
    await this.#wal.close()
    await this.#snaps.close()
    await this.#backend.close()
    await this.#lock?.release()
  }
}

/** Applied entries a sole member keeps in its in-memory raft log at most (see #releaseAppliedLog). */
const SOLE_LOG_RELEASE_ENTRIES = 1024

/**
 * The longest the apply loops of this process's members run, together, before they hand the
 * event loop back (issue 14: no stall over a few ms in the host): each of n open members runs
 * APPLY_SLICE_MS / n. The waiters a slice resolves run their continuations in the same turn
 * (each resolved put's caller issues its next request: about as long again as the apply), so
 * a turn takes about twice the slice.
 */
const APPLY_SLICE_MS = 2

/** Members open in this process (opened and not closed): they share one event loop. */
let openMembers = 0

/**
 * Writes after which the backend commits without waiting for its 100 ms interval. The commit and
 * its fsync run on lmdb-js's writer thread, but the batch's pairs are queued on the event loop
 * (~0.3-1 us each; ~1-1.5 us when this was measured, before the backend queued them with
 * lmdb-js batch() rather than writing them into a child transaction): 1,000 bounds that to
 * about a millisecond (etcd's 10,000 ~3-15 ms), and a batch's pending copies die younger
 * (fewer survive a scavenge). Measured
 * turn about at load 6-7 (put-focus put256): 25,166-28,407 puts/s against 19,499-21,988 with
 * 2,500, CPU per put 19.6-22.2 against 21.7-24.2 us.
 */
const BACKEND_BATCH_LIMIT = 1_000

/** True when `cs` has no member but `id` (nobody to send the log to). */
function soleMember(id: number, cs: ConfState): boolean {
  return [...cs.voters, ...cs.learners, ...cs.votersOutgoing].every((m) => m === id)
}

/**
 * A sole member's in-memory log restarts at the backend's applied index: a snapshot point in
 * memory only (the snap file and the WAL stay where they are, so the next restart reads the
 * same log; they move at the next snapshot), and raft applies from there. Returns the index
 * raft starts after: `meta.index` when the log's commit index is below the applied one (raft
 * cannot start past its commit index).
 */
function startAtApplied(storage: MemoryStorage, meta: SnapshotMetadata, commit: number, applied: { readonly index: number; readonly confState: ConfState }): number {
  if (applied.index <= meta.index || applied.index > commit || applied.index > storage.lastIndex()) return meta.index
  storage.createSnapshot(applied.index, { confState: applied.confState, data: new Uint8Array(0) })
  storage.compact(applied.index)
  return applied.index
}

/**
 * The first index whose entry's data a restart reads from the WAL. A sole member whose log's
 * commit index has reached its applied index restarts its log there (startAtApplied): the
 * entries up to there are never applied again, so their data are not read (at 1M keys, the
 * whole 64 MB segment). A member with peers keeps every entry with its data, for followers.
 */
function dataAfterFor(alone: boolean, applied: number, markers: SnapshotMarkers | undefined, meta: SnapshotMetadata): number {
  return alone && markers !== undefined && applied <= markers.hardState.commit ? Math.max(applied, meta.index) : meta.index
}

type OpenedWal = Awaited<ReturnType<typeof openWal>>

/** The WAL as earlyWalRead opened and read it. */
interface EarlyWal {
  readonly opened: OpenedWal
  /** The snapshot it was opened at. */
  readonly snapIndex: number
  /** Entries at or below this index were read without their data. */
  readonly dataAfter: number
}

/**
 * Opens and reads the WAL as the restart will need it, beside mvcc's index rebuild (on a 1M-key
 * member the read took 70-95 ms in series after the rebuild, which leaves this thread idle while
 * the scan thread starts and between its chunks). `point` is the backend's applied point read
 * before the rebuild; the snapshot is the log side's. Undefined (the WAL is then read after the
 * state machine's open, as before) when there is no WAL or usable snapshot yet, when the log
 * needs its bootstrap marker written again, or when the backend is behind the snapshot (a
 * restore comes first).
 */
function earlyWalRead(o: ResolvedOptions, walDir: string, logSide: Promise<LogSide>, point: AppliedPoint): Promise<EarlyWal | undefined> {
  const read = (async (): Promise<EarlyWal | undefined> => {
    const { markers, snap } = await logSide
    if (markers === undefined || snap === undefined) return undefined
    const meta = snap.metadata
    if (point.index < meta.index || (meta.index === 1 && !markers.valid.some((w) => w.index === 1))) return undefined
    const dataAfter = dataAfterFor(soleMember(o.memberId, point.confState), point.index, markers, meta)
    return { opened: await openWal(o, walDir, meta, markers.valid, dataAfter), snapIndex: meta.index, dataAfter }
  })()
  read.catch(() => {})
  return read
}

/** Runs `close`, ignoring its failure: cleaning up after an error must not hide that error. */
async function quietly(close: () => Promise<unknown> | undefined): Promise<void> {
  try {
    await close()
  } catch {
    // The open's own error is what the caller gets.
  }
}

/** Closes the WAL earlyWalRead opened, when the open fails before using it. */
async function closeEarlyWal(early: Promise<EarlyWal | undefined>): Promise<void> {
  await (await early.catch(() => undefined))?.opened.wal.close()
}

/**
 * A restart whose LMDB file may hold enough revisions for the index rebuild's scan thread starts
 * that thread first thing (@strata/backend's prestartScanThread): its start (~60 ms quiet, a
 * thread and lmdb-js loaded again in it) then overlaps the backend's open and the WAL's markers
 * instead of following them. The thread maps no file until the rebuild hands it one. Returns
 * whether it asked for one (the caller stops a thread no scan took).
 */
async function prestartIndexScan(o: ResolvedOptions): Promise<boolean> {
  if (o.backend !== 'lmdb') return false
  const size = (await o.fs.stat(join(o.dir, 'db', 'data.mdb')).catch(() => undefined))?.size ?? 0
  if (size < SCAN_THREAD_MIN_FILE_BYTES) return false
  prestartScanThread()
  return true
}

/** The WAL's snapshot markers and last hard state, read once per open (each read scans the whole log); undefined when there is no WAL yet. */
async function walMarkers(o: ResolvedOptions, walDir: string): Promise<SnapshotMarkers | undefined> {
  const hasWal = (await o.fs.readdir(walDir).catch(() => [] as string[])).some((n) => n.endsWith('.wal'))
  return hasWal ? snapshotMarkers(walDir, { fs: o.fs }) : undefined
}

/** etcd's restart rule: the newest snapshot file that the WAL also has a marker for. */
async function newestUsable(snaps: Snapshotter, marked: readonly SnapshotMetadata[] | undefined) {
  if (marked === undefined) return snaps.loadNewest()
  for (const m of await snaps.list()) {
    if (marked.some((w) => w.index === m.index && w.term === m.term)) return snaps.loadAt(m.index, m.term)
  }
  return undefined
}

interface LogSide {
  readonly snaps: Snapshotter
  /** Undefined when there is no WAL yet. */
  readonly markers: SnapshotMarkers | undefined
  readonly snap: Awaited<ReturnType<typeof newestUsable>>
}

/** The snap files, the WAL's markers and the usable snapshot. */
function openLogSide(o: ResolvedOptions, walDir: string): Promise<LogSide> {
  const side = (async (): Promise<LogSide> => {
    const snaps = await Snapshotter.open(join(o.dir, 'snap'), { fs: o.fs, failpoint: o.failpoint })
    try {
      const markers = await walMarkers(o, walDir)
      return { snaps, markers, snap: await newestUsable(snaps, markers?.valid) }
    } catch (err) {
      await snaps.close()
      throw err
    }
  })()
  side.catch(() => {})
  return side
}

/** Releases what the log side opened, when the open fails before using it. */
async function closeLogSide(side: Promise<LogSide>): Promise<void> {
  const opened = await side.catch(() => undefined)
  await opened?.snaps.close()
}

/**
 * Opens the WAL at the snapshot point (creating it for a new member), repairing a torn tail
 * once, and reads it: entries at or below `dataAfter` without their data.
 */
async function openWal(o: ResolvedOptions, dir: string, snap: SnapshotMetadata, marked: readonly SnapshotMetadata[] | undefined, dataAfter: number) {
  const { fs, rng, failpoint } = o
  const options = { fs, rng, failpoint, segmentSizeBytes: o.walSegmentSizeBytes }
  if (marked === undefined) {
    const wal = await Wal.create(dir, new Uint8Array(0), options)
    if (snap.index > 0) await wal.saveSnapshot(snap)
    return { wal, hardState: { term: 0, vote: 0, commit: 0 }, entries: [] as Entry[] }
  }
  // A crash between Wal.create and its first marker leaves a log with no marker: reopen it from
  // the start and write the bootstrap marker again.
  const interrupted = snap.index === 1 && !marked.some((w) => w.index === 1)
  for (let attempt = 0; ; attempt++) {
    const wal = await Wal.open(dir, interrupted ? { index: 0, term: 0 } : snap, options)
    try {
      if (interrupted) {
        await wal.readAll()
        await wal.saveSnapshot(snap)
        return { wal, hardState: { term: 0, vote: 0, commit: 0 }, entries: [] as Entry[] }
      }
      return { wal, ...(await wal.readAll({ dataAfter })) }
    } catch (err) {
      await wal.close()
      if (!hasCode(err, 'ERR_WAL_TORN_TAIL') || attempt > 0) throw err
      await repair(dir, { fs })
    }
  }
}
