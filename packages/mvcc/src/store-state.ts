import type { MvccError } from './errors.js'
import { Totals } from './integrity.js'
import type { Limits } from './limits.js'
import { TreeIndex } from './tree-index.js'

/** Called when a write changes the lease a key is attached to (0: none). */
export type LeaseChangeFn = (key: Uint8Array, from: number, to: number) => void

/**
 * The in-memory state a store and its transactions share. Not exported from the package:
 * only {@link MvccStore} and its transactions change it, always synchronously.
 */
export class StoreState {
  /** Invariant: holds every revision > compactMainRev that is in the backend's key bucket. */
  index: TreeIndex = new TreeIndex()
  /** Invariant: the main revision of the last write txn with changes; starts at 1 (etcd). */
  currentRev = 1
  /** Invariant: reads below it fail; 0 until the first compaction; never above currentRev. */
  compactMainRev = 0
  /** Invariant: key (latin1) → lease of its newest alive put, only for leases != 0. */
  keyLeases = new Map<string, number>()
  /** Invariant: the count and checksum sum of the records in the key bucket, as `meta` records them. */
  totals = new Totals()
  /** Invariant: once set, the first corruption met (ERR_MVCC_CORRUPT); every write is refused with it. */
  corrupt: MvccError | undefined
  readonly limits: Limits
  readonly onLeaseChanged: LeaseChangeFn | undefined
  /** The file (or backend) named in corruption errors. */
  readonly location: string

  constructor(limits: Limits, onLeaseChanged: LeaseChangeFn | undefined, location: string) {
    this.limits = limits
    this.onLeaseChanged = onLeaseChanged
    this.location = location
  }

  /** Called with every corruption met (MvccStore.onCorruption). */
  readonly corruptionListeners = new Set<(err: MvccError) => void>()

  /**
   * Records `err` as the store's corruption (the first one stays), tells the listeners (each
   * in a microtask of its own: a listener never runs inside the read that met the damage) and
   * returns it to throw.
   */
  markCorrupt(err: MvccError): MvccError {
    this.corrupt ??= err
    for (const fn of this.corruptionListeners) queueMicrotask(() => fn(err))
    return err
  }
}
