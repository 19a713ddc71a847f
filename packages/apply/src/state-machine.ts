import type { Backend, WriteTx } from '@strata/backend'
import { AuthStore, type AuthStoreOptions } from '@strata/auth'
import { Lessor, type LessorOptions } from '@strata/lease'
import { MvccStore, type MvccStoreOptions, WatchableStore, type WatchableStoreOptions } from '@strata/mvcc'
import { type ConfChangeV2, type ConfState, ConfChangeType, type Entry, EntryType } from '@strata/raft'
import { type Clock, type Failpoint, StrataError, hasCode, noFailpoint, systemClock } from '@strata/seams'
import { Alarms } from './alarms.js'
import { type AppliedPoint, ConsistentIndex } from './consistent-index.js'
import { type ApplyResponse, type DispatchTarget, dispatch } from './dispatch.js'
import { ApplyError } from './errors.js'
import { Members } from './members.js'
import type { Member, RequestHeader } from './request.js'
import { decodeBatch, decodeMember, decodeRequest, isBatch } from './request-codec.js'

export interface StateMachineOptions {
  /** The lessor's and the watchers' clock. Default `systemClock`. */
  readonly clock?: Clock
  /** Called with `beforeApplyOne` before each entry applies and `apply.beforeBatchRequest` before each request of a batch entry but its first, and passed on to mvcc and the lessor. Default: nothing. */
  readonly failpoint?: Failpoint
  readonly mvcc?: Omit<MvccStoreOptions, 'onLeaseAttached' | 'onLeaseChanged' | 'failpoint'>
  readonly watch?: Omit<WatchableStoreOptions, 'clock'>
  readonly lessor?: Omit<LessorOptions, 'clock' | 'rangeDeleter' | 'failpoint'>
  readonly auth?: AuthStoreOptions
  /** Internal, for the cluster simulation only: deliberate bugs it must catch. Default none. */
  readonly plantedBugs?: { readonly appliedIndexApart?: boolean }
}

/** What applying one request (or one entry without a request) produced. */
export interface ApplyOutcome {
  readonly index: number
  /** The request's header; undefined for empty and conf change entries and for a payload that does not decode. */
  readonly header: RequestHeader | undefined
  /** Set when the request applied. */
  readonly response: ApplyResponse | undefined
  /** Set when the request was refused: its deterministic outcome on every member. */
  readonly error: StrataError | undefined
  /** The mvcc revision after the request (for a batch entry, after this one of its requests). */
  readonly revision: number
}

/**
 * Every state a member applies raft entries to, over one backend: the mvcc store (with its
 * watchable store), the lessor, the auth store, alarms and members, and the consistent index
 * that makes each entry apply at most once (README, the apply contract).
 *
 * One entry is one `backend.write`: its effects, in whichever stores, and the applied index
 * commit together or not at all. Entries at or below the applied index are skipped, so a
 * driver replays its whole log after a restart without double effects.
 */
export class StateMachine {
  readonly #backend: Backend
  readonly #ci: ConsistentIndex
  readonly #failpoint: Failpoint
  readonly alarms = new Alarms()
  readonly members = new Members()
  readonly mvcc: MvccStore
  readonly watchable: WatchableStore
  readonly lessor: Lessor
  readonly auth: AuthStore
  /** Invariant: the term whose first applied entry makes the lessor primary; undefined when not leader. */
  #leaderTerm: number | undefined
  #promoteExtendMs = 0
  #closed = false
  /** Planted bug (simulation only): the applied index commits in a batch of its own, before the effects. */
  readonly #indexApart: boolean

  private constructor(parts: { backend: Backend; ci: ConsistentIndex; mvcc: MvccStore; watchable: WatchableStore; lessor: Lessor; auth: AuthStore }, options: StateMachineOptions) {
    this.#backend = parts.backend
    this.#ci = parts.ci
    this.mvcc = parts.mvcc
    this.watchable = parts.watchable
    this.lessor = parts.lessor
    this.auth = parts.auth
    this.#failpoint = options.failpoint ?? noFailpoint
    this.#indexApart = options.plantedBugs?.appliedIndexApart === true
  }

  /**
   * Opens every store over `backend` in etcd's order (auth before mvcc, so a replayed auth
   * change can never meet a newer index; the lessor before mvcc, whose rebuild re-attaches
   * keys to leases) and reads the applied point.
   */
  static async open(backend: Backend, options: StateMachineOptions = {}): Promise<StateMachine> {
    const clock = options.clock ?? systemClock
    const failpoint = options.failpoint ?? noFailpoint
    const ci = ConsistentIndex.attach(backend)
    const auth = await AuthStore.open(backend, options.auth)
    const lessor = await Lessor.open(backend, { ...options.lessor, clock, failpoint })
    const mvcc = await MvccStore.open(backend, {
      ...options.mvcc,
      failpoint,
      onLeaseAttached: (key, lease) => lessor.attach(lease, [key]),
      onLeaseChanged: (key, from, to) => {
        if (from !== 0 && lessor.lookup(from) !== undefined) lessor.detach(from, [key])
        if (to !== 0) lessor.attach(to, [key])
      },
    })
    lessor.setRangeDeleter(mvcc)
    const watchable = await WatchableStore.open(mvcc, { ...options.watch, clock })
    const sm = new StateMachine({ backend, ci, mvcc, watchable, lessor, auth }, options)
    backend.read((tx) => {
      sm.alarms.load(tx)
      sm.members.load(tx)
    })
    return sm
  }

  /** The applied point: index, term and conf state of the last applied entry. */
  get applied(): AppliedPoint {
    return this.#ci.point
  }

  get backend(): Backend {
    return this.#backend
  }

  /**
   * Records the point a new member starts from — index 1, term 1 and the initial membership,
   * the metadata of its first raft snapshot — with the initial members, and commits it. Nothing happens if the backend
   * is already at or past that point, so a bootstrap interrupted by a crash can be run again.
   */
  async bootstrap(confState: ConfState, members: readonly Member[] = []): Promise<void> {
    this.#checkOpen()
    if (this.#ci.index >= 1) return
    this.#backend.write((tx) => {
      for (const m of members) this.members.put(tx, m)
      this.#ci.advance(1, 1, confState)
    })
    await this.#backend.commit()
  }

  /**
   * Tells the state machine its member's role. As leader of `term`, the lessor is promoted once
   * an entry of `term` applies (etcd: the leader has then applied everything committed before
   * it took office, so no revoke it proposes can race an earlier grant); `extendMs` (the
   * election timeout) is added to every lease. Anything else demotes at once.
   */
  setLeader(term: number | undefined, extendMs = 0): void {
    this.#leaderTerm = term
    this.#promoteExtendMs = extendMs
    if (term === undefined && this.lessor.isPrimary) this.lessor.demote()
  }

  /**
   * Applies one committed entry (normal or empty; conf changes go through `applyConfChange`).
   * Returns undefined for an entry at or below the applied index (already applied). For a batch
   * entry this is the last request's outcome: `applyEach` gives every request's.
   */
  apply(entry: Entry): ApplyOutcome | undefined {
    let last: ApplyOutcome | undefined
    return this.applyEach(entry, (o) => {
      last = o
    }) ? last : undefined
  }

  /**
   * Applies one committed normal entry — empty (raft's own), one request, or a batch of requests
   * (FORMAT.md §2a) — in one `backend.write` with the applied index, then calls `onOutcome` with
   * each request's outcome and its payload bytes, in order (once for an empty entry, header
   * undefined). Each request of a batch applies as it would alone: its own revision, its own
   * outcome; a refused one rolls back its own writes only. Returns false, calling nothing, for
   * an entry at or below the applied index: a batch applies whole or not at all.
   */
  applyEach(entry: Entry, onOutcome: (outcome: ApplyOutcome, payload: Uint8Array) => void): boolean {
    this.#checkOpen()
    if (entry.index <= this.#ci.index) return false
    if (entry.type !== EntryType.Normal) throw new ApplyError('ERR_APPLY_INVALID_ARGUMENT', `apply: entry ${entry.index} is a conf change; use applyConfChange`)
    this.#failpoint('beforeApplyOne')
    if (entry.data.length === 0) return this.#applyWithoutRequest(entry, undefined, onOutcome)
    let payloads: Uint8Array[]
    try {
      payloads = isBatch(entry.data) ? decodeBatch(entry.data) : [entry.data]
    } catch (err) {
      if (!(err instanceof StrataError)) throw err
      // A frame that does not add up is the whole entry's outcome, alike on every member.
      return this.#applyWithoutRequest(entry, err, onOutcome)
    }
    const outcomes = this.#applyRequests(entry, payloads)
    this.#maybePromote(entry.term)
    for (let i = 0; i < outcomes.length; i++) onOutcome(outcomes[i]!, payloads[i]!)
    return true
  }

  /** An entry that carries no request to apply (raft's empty one, or a batch frame that does not decode): its index alone. */
  #applyWithoutRequest(entry: Entry, error: StrataError | undefined, onOutcome: (outcome: ApplyOutcome, payload: Uint8Array) => void): true {
    this.#backend.write(() => this.#ci.advance(entry.index, entry.term))
    this.#maybePromote(entry.term)
    onOutcome({ index: entry.index, header: undefined, response: undefined, error, revision: this.mvcc.revision }, entry.data)
    return true
  }

  /** The requests of `entry` (its data as the one request, or a batch's payloads) and its index, in one write. */
  #applyRequests(entry: Entry, payloads: readonly Uint8Array[]): ApplyOutcome[] {
    if (this.#indexApart) {
      // The planted bug: the index is committed first, the effects land in a later batch; a
      // crash in between skips them on restart.
      this.#backend.write(() => this.#ci.advance(entry.index, entry.term))
      void this.#backend.commit().catch(() => {})
    }
    const outcomes: ApplyOutcome[] = []
    this.#backend.write((tx) => {
      // The mvcc record totals are written once, after the entry's last request.
      this.mvcc.writeTotalsOnce(tx, () => {
        for (let i = 0; i < payloads.length; i++) {
          // A crash between two requests of a batch: the write is undone whole, none of it commits.
          if (i > 0) this.#failpoint('apply.beforeBatchRequest')
          outcomes.push(this.#applyRequest(payloads[i]!, entry.index, tx))
        }
      })
      this.#ci.advance(entry.index, entry.term)
    })
    return outcomes
  }

  /** One request inside its entry's write (`tx`); a refusal (a typed error) rolls back its own writes only. */
  #applyRequest(data: Uint8Array, index: number, tx: WriteTx): ApplyOutcome {
    let header: RequestHeader | undefined
    let response: ApplyResponse | undefined
    let error: StrataError | undefined
    try {
      const request = decodeRequest(data)
      header = request.header
      const kind = request.body.kind
      // A nested write: a refusal rolls back this request's writes only, not the index. A put
      // or a range writes only through mvcc, whose own write is nested and undoes itself, after
      // checks that write nothing: no savepoint of their own (one nested write fewer per put).
      response = kind === 'put' || kind === 'range'
        ? dispatch(this.#target(), request.header, request.body, tx, index)
        : this.#backend.write((inner) => dispatch(this.#target(), request.header, request.body, inner, index))
    } catch (err) {
      if (!(err instanceof StrataError)) throw err
      error = err
    }
    return { index, header, response, error, revision: this.mvcc.revision }
  }

  /**
   * Applies a conf change entry whose change the driver has already given raft
   * (`RawNode.applyConfChange`), recording the resulting `confState` and the member change in
   * the same transaction as the applied index. The change's context holds the member record
   * for additions and updates.
   */
  applyConfChange(entry: Entry, change: ConfChangeV2, confState: ConfState): ApplyOutcome | undefined {
    this.#checkOpen()
    if (entry.index <= this.#ci.index) return undefined
    this.#failpoint('beforeApplyOne')
    const member = change.context.length > 0 ? decodeMember(change.context) : undefined
    this.#backend.write((tx) => {
      for (const c of change.changes) {
        if (c.type === ConfChangeType.RemoveNode) this.members.remove(tx, c.nodeId)
        else if (member !== undefined && member.id === c.nodeId) this.members.put(tx, withRole(member, c.type))
        else if (c.type === ConfChangeType.AddNode) this.#promoteMember(tx, c.nodeId)
      }
      this.#ci.advance(entry.index, entry.term, confState)
    })
    this.#maybePromote(entry.term)
    return { index: entry.index, header: undefined, response: undefined, error: undefined, revision: this.mvcc.revision }
  }

  /** A learner promoted to voter keeps its record with isLearner false. */
  #promoteMember(tx: Parameters<Parameters<Backend['write']>[0]>[0], id: number): void {
    const m = this.members.get(id)
    if (m !== undefined && m.isLearner) this.members.put(tx, { ...m, isLearner: false })
  }

  /** Leaseholders tick on the leader only: the expired leases and checkpoints to propose. */
  tick(): ReturnType<Lessor['tick']> {
    this.#checkOpen()
    return this.lessor.tick()
  }

  /** A consistent copy of the whole state (the backend's snapshot stream), for raft snapshots. */
  snapshot(): AsyncIterable<Uint8Array> {
    this.#checkOpen()
    return this.#backend.snapshot()
  }

  /**
   * The one restore: replaces the whole state with a snapshot stream and reloads every store
   * from it together — mvcc's compaction is stopped first (the #11817 lock order), then the
   * backend's contents are replaced, the applied point, the lessor and the auth store reload,
   * mvcc rebuilds its index (re-attaching keys to leases; reads wait on `mvcc.restored()`)
   * and resyncs its watchers, and alarms and members are read back. Nothing may apply meanwhile.
   */
  async restore(stream: AsyncIterable<Uint8Array>): Promise<void> {
    this.#checkOpen()
    this.#failpoint('snapBeforeApply')
    await this.mvcc.restore(async () => {
      await this.#backend.restore(stream)
      // At once: mvcc's rebuild lets the event loop turn (and its scan commits first), and every
      // commit's hook writes the point held here — the old one would overwrite the snapshot's.
      this.#ci.reload()
      this.lessor.recover()
      this.auth.recover()
    })
    this.#backend.read((tx) => {
      this.alarms.load(tx)
      this.members.load(tx)
    })
  }

  /** Closes every store (the backend stays open: the caller owns it). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    // Commit while the hook is still installed: detaching it first would let the backend's
    // closing commit persist the last entries' effects without their applied index, and a
    // restart would apply them twice.
    try {
      await this.#backend.commit()
    } catch (err) {
      if (!hasCode(err, 'ERR_BACKEND_CLOSED') && !hasCode(err, 'ERR_BACKEND_COMMIT')) throw err
    }
    await this.watchable.close()
    await this.mvcc.close()
    await this.lessor.close()
    await this.auth.close()
    this.#ci.detach()
  }

  #maybePromote(term: number): void {
    if (this.#leaderTerm !== undefined && term === this.#leaderTerm && !this.lessor.isPrimary) this.lessor.promote(this.#promoteExtendMs)
  }

  /** One object for every dispatch (the stores never change). */
  #dispatchTarget: DispatchTarget | undefined

  #target(): DispatchTarget {
    return this.#dispatchTarget ??= { mvcc: this.mvcc, lessor: this.lessor, auth: this.auth, alarms: this.alarms, members: this.members }
  }

  #checkOpen(): void {
    if (this.#closed) throw new ApplyError('ERR_APPLY_CLOSED', 'apply: the state machine is closed; open it again')
  }
}

function withRole(m: Member, type: number): Member {
  return { ...m, isLearner: type === ConfChangeType.AddLearnerNode }
}
