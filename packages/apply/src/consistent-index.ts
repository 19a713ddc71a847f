import assert from 'node:assert'
import type { Backend, ReadTx, WriteTx } from '@strata/backend'
import { type ConfState, decodeConfState, encodeConfState } from '@strata/raft'
import { hasCode } from '@strata/seams'
import { u64be } from './byte-codec.js'
import { ApplyError } from './errors.js'

const enc = new TextEncoder()
/** The `meta` bucket keys this module owns (FORMAT.md §4). */
export const CONSISTENT_INDEX_KEY = enc.encode('consistent_index')
export const TERM_KEY = enc.encode('term')
export const CONF_STATE_KEY = enc.encode('confState')

function readU64be(b: Uint8Array | undefined, what: string): number {
  if (b === undefined) return 0
  if (b.length !== 8) throw new ApplyError('ERR_APPLY_CORRUPT', `apply: meta/${what} holds ${b.length} bytes, not 8; the backend is damaged: restore it from a snapshot`)
  const v = new DataView(b.buffer, b.byteOffset, 8)
  const n = v.getUint32(0) * 0x1_0000_0000 + v.getUint32(4)
  if (!Number.isSafeInteger(n)) throw new ApplyError('ERR_APPLY_CORRUPT', `apply: meta/${what} = ${n} is not a safe integer`)
  return n
}

/** The applied point a backend's state corresponds to. */
/** The conf state of a backend that never applied a conf change. */
export const EMPTY_CONF_STATE: ConfState = Object.freeze({ voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false })

export interface AppliedPoint {
  /** Raft index of the last entry whose effects are in the backend (etcd's consistent index). */
  readonly index: number
  /** Term of that entry. */
  readonly term: number
  /** The raft configuration after that entry. */
  readonly confState: ConfState
}

/** Reads the applied point a backend holds (zeros and an empty conf state for a new one). */
export function readAppliedPoint(tx: ReadTx): AppliedPoint {
  const cs = tx.get('meta', CONF_STATE_KEY)
  return {
    index: readU64be(tx.get('meta', CONSISTENT_INDEX_KEY), 'consistent_index'),
    term: readU64be(tx.get('meta', TERM_KEY), 'term'),
    confState: cs === undefined ? EMPTY_CONF_STATE : decodeConfState(cs),
  }
}

/**
 * Owns the applied (consistent) index, its term and the conf state of one backend, and writes
 * them in **every** commit through the backend's pre-commit hook (etcd's storage hooks).
 *
 * Why this is safe against the 3.5 data-inconsistency regression (reference §2.3): `advance` is
 * called only inside the `backend.write` callback that made the entry's effects, after them,
 * and a commit can never fall inside a synchronous write callback. So at every commit the
 * in-memory point covers exactly the effects in the batch: never more (no index ahead of its
 * effects), never less (no effects without their index).
 */
export class ConsistentIndex {
  #point: AppliedPoint
  /** Invariant: the backend whose hook writes `#point`; undefined once detached. */
  #backend: Backend | undefined

  private constructor(backend: Backend, point: AppliedPoint) {
    this.#backend = backend
    this.#point = point
  }

  /** Loads the point from `backend` and installs the pre-commit hook that persists it. */
  static attach(backend: Backend): ConsistentIndex {
    const ci = new ConsistentIndex(backend, backend.read(readAppliedPoint))
    backend.setPreCommitHook((tx) => ci.#persist(tx))
    return ci
  }

  get index(): number {
    return this.#point.index
  }

  get term(): number {
    return this.#point.term
  }

  get confState(): ConfState {
    return this.#point.confState
  }

  get point(): AppliedPoint {
    return this.#point
  }

  /**
   * Records that entry `index` of `term` is applied. Call it inside the `backend.write` that
   * holds the entry's effects, after them (the class comment says why).
   */
  advance(index: number, term: number, confState?: ConfState): void {
    assert(Number.isSafeInteger(index) && index > this.#point.index, `applied index must grow: ${this.#point.index} -> ${index}`)
    assert(Number.isSafeInteger(term) && term >= this.#point.term, `applied term must not shrink: ${this.#point.term} -> ${term}`)
    this.#point = { index, term, confState: confState ?? this.#point.confState }
  }

  /** Reads the point again after the backend's contents were replaced (a snapshot restore). */
  reload(backend?: Backend): void {
    if (backend !== undefined && backend !== this.#backend) {
      this.#backend?.setPreCommitHook(undefined)
      this.#backend = backend
      backend.setPreCommitHook((tx) => this.#persist(tx))
    }
    assert(this.#backend !== undefined, 'reload after detach')
    this.#point = this.#backend.read(readAppliedPoint)
  }

  /** Removes the hook (before the backend closes, or when handing it to another owner). */
  detach(): void {
    try {
      this.#backend?.setPreCommitHook(undefined)
    } catch (err) {
      // A closed or crashed backend runs no more commits: there is no hook left to remove.
      if (!hasCode(err, 'ERR_BACKEND_CLOSED')) throw err
    }
    this.#backend = undefined
  }

  #persist(tx: WriteTx): void {
    const p = this.#point
    if (p.index === 0) return
    tx.put('meta', CONSISTENT_INDEX_KEY, u64be(p.index))
    tx.put('meta', TERM_KEY, u64be(p.term))
    tx.put('meta', CONF_STATE_KEY, encodeConfState(p.confState))
  }
}
