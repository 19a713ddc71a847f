import { type Bytes, type ReadTx, type WriteTx, compareBytes } from '@strata/backend'
import { StrataError } from '@strata/seams'
import { type MvccError, compactedError, futureRevError } from './errors.js'
import { type Totals, corruptError } from './integrity.js'
import { type KeyValue, decodeKeyValue, encodeKeyValueView, keyBytes, storedChecksum } from './kv.js'
import { type IndexRange, checkFlag, checkLease, checkOptionsArg, checkRange, checkRangeOptions, checkValue, toBytes } from './limits.js'
import { REVISION_BYTES, type Revision, TOMBSTONE_REVISION_BYTES, encodeRevision, encodeRevisionInto } from './revision.js'
import type { StoreState } from './store-state.js'
import type { DeleteOptions, DeleteResult, PutOptions, PutResult, RangeOptions, RangeResult, TxnRead, TxnWrite, WatchEvent } from './types.js'

const EMPTY = new Uint8Array(0)

type UndoEntry = string | Revision | boolean | (() => void) | undefined
/** The empty `changes` and undo journal every write txn starts with (never pushed onto: see StoreTxnWrite). */
const NO_CHANGES: WatchEvent[] = Object.freeze([]) as unknown as WatchEvent[]
const NO_UNDO: UndoEntry[] = Object.freeze([]) as unknown as UndoEntry[]

/**
 * The revision keys of the records a write stores, reused (one write at a time runs): the
 * backend copies every key it is given, and a fresh 17-byte array is ~225 bytes of V8's heap
 * per record.
 */
const putKeyScratch = new Uint8Array(REVISION_BYTES)
const tombstoneKeyScratch = new Uint8Array(TOMBSTONE_REVISION_BYTES)

function hasFilterOrSort(o: RangeOptions): boolean {
  return (o.sortOrder !== undefined && o.sortOrder !== 'none') || (o.sortTarget !== undefined && o.sortTarget !== 'key') ||
    (o.minModRevision ?? 0) > 0 || (o.maxModRevision ?? 0) > 0 || (o.minCreateRevision ?? 0) > 0 || (o.maxCreateRevision ?? 0) > 0
}

function passesFilters(kv: KeyValue, o: RangeOptions): boolean {
  if ((o.minModRevision ?? 0) > 0 && kv.modRevision < o.minModRevision!) return false
  if ((o.maxModRevision ?? 0) > 0 && kv.modRevision > o.maxModRevision!) return false
  if ((o.minCreateRevision ?? 0) > 0 && kv.createRevision < o.minCreateRevision!) return false
  if ((o.maxCreateRevision ?? 0) > 0 && kv.createRevision > o.maxCreateRevision!) return false
  return true
}

/** Sorts in place; the input is in key order and the sort is stable, so ties stay in key order. */
function sortKvs(kvs: KeyValue[], o: RangeOptions): void {
  const target = o.sortTarget ?? 'key'
  // etcd: a target other than key with order none means ascend.
  const order = o.sortOrder === undefined || o.sortOrder === 'none' ? (target === 'key' ? 'none' : 'ascend') : o.sortOrder
  if (order === 'none') return
  if (target === 'key') {
    if (order === 'descend') kvs.reverse()
    return
  }
  const field = (kv: KeyValue): number => (target === 'version' ? kv.version : target === 'create' ? kv.createRevision : kv.modRevision)
  const cmp = target === 'value' ? (a: KeyValue, b: KeyValue) => compareBytes(a.value, b.value) : (a: KeyValue, b: KeyValue) => field(a) - field(b)
  kvs.sort(order === 'ascend' ? cmp : (a, b) => cmp(b, a))
}

/**
 * A read view at a fixed revision (etcd's storeTxnRead): it sees the compact and current
 * revisions as they were when it began. Valid only inside the `read`/`write` call that made it.
 * Callers see it as the {@link TxnRead} interface; the `*Checked` methods are internal.
 */
export class StoreTxnRead implements TxnRead {
  protected readonly state: StoreState
  protected readonly tx: ReadTx
  /** Invariant: the current revision when the txn began. */
  readonly beginRev: number

  constructor(state: StoreState, tx: ReadTx) {
    this.state = state
    this.tx = tx
    this.beginRev = state.currentRev
  }

  /** The revision reads in this txn see. */
  get revision(): number {
    return this.beginRev
  }

  /** Reads `[key, end)` (see {@link checkRange} for `end`) with etcd's range semantics. */
  range(key: Bytes, end?: Bytes, options?: RangeOptions): RangeResult {
    const r = checkRange(this.state.limits, key, end)
    return this.rangeChecked(r, checkRangeOptions(options))
  }

  /** {@link range} on input already validated (txn requests check everything up front). */
  rangeChecked(r: IndexRange, o: RangeOptions): RangeResult {
    const curRev = this.revision
    let rev = o.revision ?? 0
    if (rev > curRev) throw futureRevError(rev, curRev)
    if (rev <= 0) rev = curRev
    if (rev < this.state.compactMainRev) throw compactedError(rev, this.state.compactMainRev)
    if (o.countOnly === true) {
      return { kvs: [], count: this.state.index.countRevisions(r.key, r.end, rev), more: false, revision: curRev }
    }
    const limit = o.limit ?? 0
    const filtered = hasFilterOrSort(o)
    // With filters or a sort every key must be read before the limit applies. Otherwise the
    // limit is pushed into the index walk: only `limit` values are read, and since the walk
    // counts the total anyway, `more` is simply total > limit.
    const found = this.state.index.revisions(r.key, r.end, rev, filtered ? 0 : limit)
    let kvs = found.revs.map((revision) => this.#read(revision, o.keysOnly === true))
    if (!filtered) return { kvs, count: found.total, more: limit > 0 && found.total > limit, revision: curRev }
    kvs = kvs.filter((kv) => passesFilters(kv, o))
    sortKvs(kvs, o)
    const more = limit > 0 && kvs.length > limit
    if (more) kvs.length = limit
    return { kvs, count: found.total, more, revision: curRev }
  }

  /**
   * Reads and checks one stored record. A record the index holds but the backend lacks, one
   * that fails its checks, or a backend read that fails with an error of its own (LMDB's
   * MDB_CORRUPTED, MDB_PAGE_NOTFOUND) is ERR_MVCC_CORRUPT, and the store refuses writes from then on.
   */
  #read(rev: Revision, keysOnly: boolean): KeyValue {
    const revKey = encodeRevision(rev)
    const location = this.state.location
    let bytes: Uint8Array | undefined
    try {
      // A view suffices: decodeKeyValue copies what the KeyValue keeps.
      bytes = this.tx.getView === undefined ? this.tx.get('key', revKey) : this.tx.getView('key', revKey)
    } catch (err) {
      if (err instanceof StrataError) throw err
      throw this.state.markCorrupt(corruptError(location, `the backend failed to read a record (${(err as Error).message})`, { revision: `${rev.main}.${rev.sub}` }, err))
    }
    if (bytes === undefined) throw this.state.markCorrupt(corruptError(location, 'a record the index holds is missing from the backend', { revision: `${rev.main}.${rev.sub}` }))
    try {
      return decodeKeyValue(revKey, bytes, keysOnly, location)
    } catch (err) {
      throw this.state.markCorrupt(err as MvccError)
    }
  }

  /** The stored key-value of an indexed put revision. */
  protected readRevision(rev: Revision): KeyValue {
    return this.#read(rev, false)
  }
}

/**
 * A write transaction (etcd's storeTxnWrite): every change gets main revision `beginRev + 1`
 * and sub 0, 1, 2, ...; reads see the txn's own earlier changes. The store bumps its revision
 * when the txn ends with at least one change.
 */
export class StoreTxnWrite extends StoreTxnRead implements TxnWrite {
  readonly #wtx: WriteTx
  /**
   * Invariant: changes[i] was written with sub revision i. Both arrays start empty and shared
   * (NO_CHANGES, NO_UNDO) and are made at their first push as literals of their exact size:
   * a push onto `[]` reserves 17 slots (~150 bytes), twice per put (most txns write once).
   */
  changes: WatchEvent[] = NO_CHANGES
  /**
   * Undoes the in-memory effects of each change, in order; run backwards by {@link rollback}.
   * Flat triples, no closure per change: (key, revision, tombstone) for an index change, or
   * (a function, undefined, undefined).
   */
  #undo: UndoEntry[] = NO_UNDO
  /**
   * The records this txn stored and the sum of their checksums (each < 2^32: exact for 2^21
   * records, far above a txn's limit): the store adds them to its totals when the txn ends
   * ({@link addTotalsTo}); a Totals copy per txn was ~50 bytes per put.
   */
  #stored = 0
  #storedSum = 0

  constructor(state: StoreState, tx: WriteTx) {
    super(state, tx)
    this.#wtx = tx
  }

  /** Adds this txn's records to `totals` (the store's, or a copy of them). */
  addTotalsTo(totals: Totals): void {
    totals.addMany(this.#stored, this.#storedSum)
  }

  #changed(ev: WatchEvent): void {
    if (this.changes === NO_CHANGES) this.changes = [ev]
    else this.changes.push(ev)
  }

  #undoLater(a: UndoEntry, b: UndoEntry, c: UndoEntry): void {
    if (this.#undo === NO_UNDO) this.#undo = [a, b, c]
    else this.#undo.push(a, b, c)
  }

  /** Stores one record and adds its checksum to the totals; `revKey` is the backend's to copy, not to keep. */
  #store(kv: KeyValue, revKey: Uint8Array): void {
    const bytes = encodeKeyValueView(kv, revKey)
    this.#wtx.put('key', revKey, bytes)
    this.#stored++
    this.#storedSum += storedChecksum(bytes, 0)
  }

  override get revision(): number {
    return this.changes.length > 0 ? this.beginRev + 1 : this.beginRev
  }

  put(key: Bytes, value: Bytes, options?: PutOptions): PutResult {
    const k = toBytes(key, 'key')
    const r = checkRange(this.state.limits, k, undefined)
    const v = checkValue(this.state.limits, value)
    const o = checkOptionsArg(options, 'put') as PutOptions
    const lease = checkLease(o.lease)
    return this.putChecked(r.key, v, lease, checkFlag('prevKv', o.prevKv), k)
  }

  /**
   * A put of checked input. `bytes`: the key's bytes as the caller gave them, which the change's
   * KeyValue holds without a copy (it lives only until the txn ends: a watcher gets a copy, the
   * lease callback one of its own); undefined: made from `key`.
   */
  putChecked(key: string, value: Uint8Array, lease: number, wantPrev: boolean, bytes?: Uint8Array): PutResult {
    const rev: Revision = { main: this.beginRev + 1, sub: this.changes.length }
    // The index first (one lookup gives the key's state before and records the put), its undo
    // queued at once: a throw below (a corrupt previous record, a refused backend write) rolls
    // the txn back through #undo, the index included.
    const index = this.state.index
    const had = index.putAfterGet(key, rev)
    this.#undoLater(key, rev, false)
    const before = index.before
    const createRevision = had ? before.createdMain : rev.main
    const version = had ? before.version + 1 : 1
    const prevKv = wantPrev && had ? this.readRevision({ main: before.modMain, sub: before.modSub }) : undefined
    const kv: KeyValue = { key: bytes ?? keyBytes(key), createRevision, modRevision: rev.main, version, value, lease }
    this.#store(kv, encodeRevisionInto(putKeyScratch, rev))
    this.#changed({ type: 'put', kv })
    this.#setLease(key, lease)
    return prevKv === undefined ? { revision: rev.main } : { revision: rev.main, prevKv }
  }

  deleteRange(key: Bytes, end?: Bytes, options?: DeleteOptions): DeleteResult {
    const r = checkRange(this.state.limits, key, end)
    const o = checkOptionsArg(options, 'deleteRange') as DeleteOptions
    return this.deleteRangeChecked(r, checkFlag('prevKv', o.prevKv))
  }

  deleteRangeChecked(r: IndexRange, wantPrev: boolean): DeleteResult {
    const found = this.state.index.revisions(r.key, r.end, this.revision)
    const prevKvs = wantPrev ? found.revs.map((rev) => this.readRevision(rev)) : undefined
    for (const key of found.keys) this.#delete(key)
    const result = { deleted: found.keys.length, revision: this.revision }
    return prevKvs === undefined ? result : { ...result, prevKvs }
  }

  #delete(key: string): void {
    const rev: Revision = { main: this.beginRev + 1, sub: this.changes.length }
    const kv: KeyValue = { key: keyBytes(key), createRevision: 0, modRevision: rev.main, version: 0, value: EMPTY, lease: 0 }
    this.#store(kv, encodeRevisionInto(tombstoneKeyScratch, rev, true))
    this.state.index.tombstone(key, rev)
    this.#changed({ type: 'delete', kv })
    this.#undoLater(key, rev, true)
    this.#setLease(key, 0)
  }

  #setLease(key: string, lease: number): void {
    const old = this.state.keyLeases.get(key) ?? 0
    // Unchanged (most puts: no lease before or after): nothing to change, nothing to undo.
    if (old === lease) return
    // The callback may keep the key (the lessor's key sets): an array of its own.
    const bytes = keyBytes(key)
    if (lease === 0) this.state.keyLeases.delete(key)
    else this.state.keyLeases.set(key, lease)
    // The undo is queued before the callback runs: if it throws, the map is still put back,
    // but the callback is not told to take back a change it did not accept.
    let told = false
    this.#undoLater(() => {
      if (old === 0) this.state.keyLeases.delete(key)
      else this.state.keyLeases.set(key, old)
      if (told) this.state.onLeaseChanged?.(bytes, lease, old)
    }, undefined, undefined)
    if (this.state.onLeaseChanged !== undefined) {
      this.state.onLeaseChanged(bytes, old, lease)
      told = true
    }
  }

  /**
   * Takes back every change of this txn from the index and the lease map, newest first: the
   * backend undid the txn's writes because its callback threw.
   */
  rollback(): void {
    const u = this.#undo
    for (let i = u.length - 3; i >= 0; i -= 3) {
      const a = u[i]
      if (typeof a === 'function') a()
      else this.state.index.revert(a as string, u[i + 1] as Revision, u[i + 2] as boolean)
    }
    this.#undo = NO_UNDO
    this.changes = NO_CHANGES
  }
}
