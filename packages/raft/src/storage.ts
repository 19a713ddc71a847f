import assert from 'node:assert'
import { CompactedError, RaftInvalidArgumentError, SnapOutOfDateError, UnavailableError } from './errors.js'
import type { ConfState, Entry, HardState, Snapshot } from './types.js'
import { emptyHardState, emptySnapshot, EntryType, limitSize } from './types.js'
import { checkBytes, checkEntries, checkIndex, checkSnapshot } from './validate.js'

/**
 * What raft reads of the persisted log. Raft never writes through it: the driver persists what a
 * Ready hands it (e.g. into a MemoryStorage or a WAL-backed storage) before calling `advance`.
 *
 * Errors: `CompactedError` and `UnavailableError` as documented per method, and
 * `SnapshotTemporarilyUnavailableError` from `snapshot()`; any other error leaves raft inoperable.
 */
export interface Storage {
  /** The persisted hard state and the configuration at the time of the last persisted entry. */
  initialState(): { readonly hardState: HardState; readonly confState: ConfState }
  /**
   * Entries in [lo, hi), at most `maxSize` encoded bytes but at least one entry when any is in
   * range. Throws CompactedError when lo was compacted, UnavailableError when nothing is there.
   */
  entries(lo: number, hi: number, maxSize: number): readonly Entry[]
  /** The term of entry i, valid for [firstIndex()-1, lastIndex()]. */
  term(i: number): number
  lastIndex(): number
  /** The index of the first entry still available (older ones were folded into a snapshot). */
  firstIndex(): number
  snapshot(): Snapshot
}

/**
 * Storage in memory: a slice of entries behind a dummy entry that carries the (index, term) of the
 * latest snapshot or compaction point. The driver appends what each Ready persisted.
 */
export class MemoryStorage implements Storage {
  #hardState: HardState = emptyHardState
  #snapshot: Snapshot = emptySnapshot
  /** Invariant: `#ents[0]` is the dummy; `#ents[i].index === #ents[0].index + i`. */
  #ents: Entry[] = [{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }]

  initialState(): { readonly hardState: HardState; readonly confState: ConfState } {
    return { hardState: this.#hardState, confState: this.#snapshot.metadata.confState }
  }

  setHardState(hs: HardState): void {
    if (typeof hs !== 'object' || hs === null) throw new RaftInvalidArgumentError('hs', 'must be a HardState { term, vote, commit }')
    checkIndex('hs.term', hs.term); checkIndex('hs.vote', hs.vote); checkIndex('hs.commit', hs.commit)
    this.#hardState = hs
  }

  get hardState(): HardState {
    return this.#hardState
  }

  #offset(): number {
    return this.#ents[0]!.index
  }

  entries(lo: number, hi: number, maxSize: number): readonly Entry[] {
    const offset = this.#offset()
    if (lo <= offset) throw new CompactedError(lo)
    assert(hi <= this.lastIndex() + 1, `entries' hi(${hi}) is out of bound lastindex(${this.lastIndex()})`)
    if (this.#ents.length === 1) throw new UnavailableError(lo)
    return limitSize(this.#ents.slice(lo - offset, hi - offset), maxSize)
  }

  term(i: number): number {
    const offset = this.#offset()
    if (i < offset) throw new CompactedError(i)
    if (i - offset >= this.#ents.length) throw new UnavailableError(i)
    return this.#ents[i - offset]!.term
  }

  lastIndex(): number {
    return this.#offset() + this.#ents.length - 1
  }

  firstIndex(): number {
    return this.#offset() + 1
  }

  snapshot(): Snapshot {
    return this.#snapshot
  }

  /** Replaces the contents with a snapshot (received from a leader). */
  applySnapshot(snap: Snapshot): void {
    checkSnapshot('snap', snap)
    const cur = this.#snapshot.metadata.index
    if (cur !== 0 && cur >= snap.metadata.index) throw new SnapOutOfDateError(snap.metadata.index, cur)
    this.#snapshot = snap
    this.#ents = [{ term: snap.metadata.term, index: snap.metadata.index, type: EntryType.Normal, data: new Uint8Array(0) }]
  }

  /**
   * Records a snapshot of the application state at applied index `i` (the caller then usually
   * compacts). Throws SnapOutOfDateError if `i` is not newer than the current snapshot.
   */
  createSnapshot(i: number, options: { readonly confState?: ConfState; readonly data?: Uint8Array } = {}): Snapshot {
    checkIndex('i', i)
    if (options.data !== undefined) checkBytes('options.data', options.data)
    const cur = this.#snapshot.metadata.index
    if (i <= cur) throw new SnapOutOfDateError(i, cur)
    if (i > this.lastIndex()) throw new RaftInvalidArgumentError('i', `snapshot index ${i} is past the last index ${this.lastIndex()}; snapshot an applied index`, { lastIndex: this.lastIndex() })
    const term = this.#ents[i - this.#offset()]!.term
    this.#snapshot = {
      data: options.data ?? new Uint8Array(0),
      metadata: { index: i, term, confState: options.confState ?? this.#snapshot.metadata.confState },
    }
    return this.#snapshot
  }

  /** Discards entries up to `compactIndex`, which becomes the new dummy entry. */
  compact(compactIndex: number): void {
    checkIndex('compactIndex', compactIndex)
    const offset = this.#offset()
    if (compactIndex <= offset) throw new CompactedError(compactIndex)
    if (compactIndex > this.lastIndex()) throw new RaftInvalidArgumentError('compactIndex', `${compactIndex} is past the last index ${this.lastIndex()}; compact up to an applied index`, { lastIndex: this.lastIndex() })
    const i = compactIndex - offset
    const dummy = this.#ents[i]!
    this.#ents = [{ term: dummy.term, index: dummy.index, type: EntryType.Normal, data: new Uint8Array(0) }, ...this.#ents.slice(i + 1)]
  }

  /**
   * Appends entries that were persisted: a prefix already compacted is ignored, and entries from
   * the first new index on replace whatever was there. A gap is a broken invariant.
   */
  append(entries: readonly Entry[]): void {
    checkEntries('entries', entries)
    if (entries.length === 0) return
    const first = this.firstIndex()
    const last = entries[0]!.index + entries.length - 1
    if (last < first) return
    const ents = first > entries[0]!.index ? entries.slice(first - entries[0]!.index) : entries
    const offset = ents[0]!.index - this.#offset()
    if (offset > this.#ents.length) {
      throw new RaftInvalidArgumentError('entries', `missing log entry: the log ends at ${this.lastIndex()} and the entries start at ${ents[0]!.index}; append what each Ready hands out, in order`)
    }
    if (offset < this.#ents.length) this.#ents.length = offset
    for (const e of ents) this.#ents.push(e)
  }
}
