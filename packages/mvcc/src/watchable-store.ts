import assert from 'node:assert'
import type { Backend } from '@strata/backend'
import type { Clock, Timer } from '@strata/seams'
import { MvccError } from './errors.js'
import { type KeyValue, decodeKeyValue, keyString } from './kv.js'
import type { MvccStore } from './kvstore.js'
import { checkRange } from './limits.js'
import { encodeRevision, isTombstoneKey } from './revision.js'
import type { Bytes, MvccEvent } from './types.js'
import { type WatchEvent, Watcher } from './watcher.js'
import { WatcherGroup } from './watcher-group.js'

export interface WatchOptions {
  /** Range end, as for range: undefined or empty = the key alone, '\0' = every key from `key` on. */
  readonly end?: Bytes
  /** First revision to deliver; 0 or undefined: the next write. Below the compact revision the watch is answered with the compact revision and canceled. */
  readonly startRevision?: number
  /** Attach each event's previous key-value (read at mod revision − 1). Default false. */
  readonly prevKv?: boolean
  /** Drop put events. Default false. */
  readonly noPut?: boolean
  /** Drop delete events. Default false. */
  readonly noDelete?: boolean
}

export interface WatchableStoreOptions {
  /** Responses a watcher buffers before it becomes a victim. Default 128 (etcd's chanBufLen). */
  readonly bufferLimit?: number
  /** Unsynced watchers handled per `syncWatchers` round. Default 512. */
  readonly maxWatchersPerSync?: number
  /** Distinct revisions read from the backend per catch-up batch. Default 1,000. */
  readonly batchMaxRevisions?: number
  /** Most live watchers; more is ERR_TOO_MANY_WATCHERS. Default 100,000. */
  readonly maxWatchers?: number
  /**
   * When given, `syncWatchers` runs every 100 ms and `syncVictims` every 10 ms on this clock's
   * timers. Without it the owner calls `sync()` (deterministic tests do).
   */
  readonly clock?: Clock
}

const SYNC_INTERVAL_MS = 100
const VICTIM_INTERVAL_MS = 10

/**
 * Watches over an {@link MvccStore} (etcd's watchableStore). A watcher is in exactly one group:
 * `synced` watchers get each write's events as the write ends; `unsynced` ones (old start
 * revision, restored, recovered victims) catch up from the backend in batches of at most
 * `batchMaxRevisions` revisions; `victims` had a full buffer and wait for their consumer.
 * Guarantees: events arrive in revision order, once each, a revision's events in one response,
 * with no gap from the start revision on (or a compacted/canceled response).
 */
export class WatchableStore {
  readonly #store: MvccStore
  /** Invariant: watchers with state 'synced': they have every event below their minRev. */
  readonly #synced = new WatcherGroup()
  /** Invariant: watchers with state 'unsynced': minRev <= the current revision, or restored. */
  readonly #unsynced = new WatcherGroup()
  /** Invariant: watchers with state 'victim': a full buffer, and at most one held response. */
  readonly #victims = new Set<Watcher>()
  readonly #bufferLimit: number
  readonly #maxPerSync: number
  readonly #maxRevs: number
  readonly #maxWatchers: number
  readonly #clock: Clock | undefined
  /** Invariant: at most one armed timer per loop (slot 0: sync, slot 1: victims). */
  readonly #timers: Array<Timer | undefined> = [undefined, undefined]
  #nextId = 1
  /** Invariant: watchers not canceled = synced + unsynced + victims; at most #maxWatchers. */
  #live = 0
  #closed = false

  constructor(store: MvccStore, options: WatchableStoreOptions = {}) {
    this.#store = store
    this.#bufferLimit = options.bufferLimit ?? 128
    this.#maxPerSync = options.maxWatchersPerSync ?? 512
    this.#maxRevs = options.batchMaxRevisions ?? 1000
    this.#maxWatchers = options.maxWatchers ?? 100_000
    for (const n of [this.#bufferLimit, this.#maxPerSync, this.#maxRevs, this.#maxWatchers]) {
      if (!Number.isSafeInteger(n) || n < 1) throw new MvccError('ERR_INVALID_OPTION', `mvcc: watch limits must be positive integers, got ${n}`)
    }
    this.#clock = options.clock
    store.setWriteObserver((rev, events) => this.#notify(rev, events))
    this.#arm()
  }

  get store(): MvccStore {
    return this.#store
  }

  /** Watcher counts per group, for tests and metrics. */
  get stats(): { synced: number; unsynced: number; victims: number } {
    return { synced: this.#synced.size, unsynced: this.#unsynced.size, victims: this.#victims.size }
  }

  watch(key: Bytes, options: WatchOptions = {}): Watcher {
    assert(!this.#closed, 'watch on a closed WatchableStore')
    const range = checkRange({ maxKeyBytes: Number.MAX_SAFE_INTEGER, maxValueBytes: 0, maxTxnOps: 0 }, key, options.end)
    const start = options.startRevision ?? 0
    if (!Number.isSafeInteger(start) || start < 0) throw new MvccError('ERR_INVALID_REVISION', `mvcc: bad watch start revision ${start}`)
    if (this.#live >= this.#maxWatchers) throw new MvccError('ERR_TOO_MANY_WATCHERS', `mvcc: ${this.#live} watchers, the maximum`)
    const cur = this.#store.revision
    const synced = start === 0 || start > cur
    const w = new Watcher({
      id: this.#nextId++, range, prevKv: options.prevKv === true, noPut: options.noPut === true, noDelete: options.noDelete === true,
      startRevision: start, minRev: start === 0 ? cur + 1 : start, bufferLimit: this.#bufferLimit,
      onTake: (x) => this.#retryVictim(x), onCancel: (x) => this.#remove(x),
    })
    this.#live++
    w.state = synced ? 'synced' : 'unsynced'
    ;(synced ? this.#synced : this.#unsynced).add(w)
    return w
  }

  /**
   * Sends a progress notification (no events, the current revision) when the watcher is synced
   * and its start revision is not in the future; returns whether it was sent.
   */
  requestProgress(w: Watcher): boolean {
    if (w.state !== 'synced' || this.#store.revision < w.startRevision) return false
    return w.send({ watchId: w.id, events: [], revision: this.#store.revision, compactRevision: 0, canceled: false })
  }

  /** One round of victim retries and unsynced catch-up; returns the watchers still behind. */
  sync(): number {
    this.syncVictims()
    return this.syncWatchers() + this.#victims.size
  }

  /** The write path: at the end of each write txn, every matching synced watcher gets one response. */
  #notify(rev: number, events: readonly MvccEvent[]): void {
    if (this.#synced.size === 0) return
    const perWatcher = new Map<Watcher, MvccEvent[]>()
    for (const ev of events) {
      this.#synced.forMatching(keyString(ev.kv.key), (w) => {
        if (ev.kv.modRevision < w.minRev) return
        let list = perWatcher.get(w)
        if (list === undefined) perWatcher.set(w, (list = []))
        list.push(ev)
      })
    }
    for (const [w, evs] of perWatcher) {
      const out = this.#prepare(w, evs)
      w.minRev = rev + 1
      if (out.length === 0) continue
      if (!w.send({ watchId: w.id, events: out, revision: rev, compactRevision: 0, canceled: false })) {
        this.#synced.delete(w)
        w.state = 'victim'
        w.victimResponse = { events: out, revision: rev }
        this.#victims.add(w)
      }
    }
  }

  /** Applies the watcher's filters and attaches previous key-values when asked. */
  #prepare(w: Watcher, evs: readonly WatchEvent[]): WatchEvent[] {
    const kept = w.filter(evs)
    if (!w.prevKv) return kept
    return kept.map((e) => {
      const prev = this.#previous(e.kv)
      return prev === undefined ? e : { ...e, prevKv: prev }
    })
  }

  #previous(kv: KeyValue): KeyValue | undefined {
    const at = kv.modRevision - 1
    if (at < 1 || at < this.#store.compactRevision) return undefined
    return this.#store.range(kv.key, undefined, { revision: at }).kvs[0]
  }

  /**
   * Catch-up: answers compacted watchers, reads at most `batchMaxRevisions` revisions from the
   * backend from the smallest minRev of up to `maxWatchersPerSync` unsynced watchers, and sends
   * each its part; a watcher that reached the current revision moves to synced.
   */
  syncWatchers(): number {
    if (this.#unsynced.size === 0) return 0
    const cur = this.#store.revision
    const compactRev = this.#store.compactRevision
    const chosen: Watcher[] = []
    let minRev = Number.MAX_SAFE_INTEGER
    for (const w of [...this.#unsynced.all()]) {
      if (chosen.length >= this.#maxPerSync) break
      if (w.minRev > cur) {
        // Only a restored watcher can be ahead of the store; it waits in synced.
        assert(w.restored || w.startRevision > cur, 'an unsynced watcher ahead of the store')
        this.#move(w, this.#synced, 'synced')
        continue
      }
      if (w.minRev < compactRev) {
        // If the buffer is full the compacted response waits for the next round (etcd #17612).
        if (w.send({ watchId: w.id, events: [], revision: cur, compactRevision: compactRev, canceled: true })) {
          this.#unsynced.delete(w)
          this.#live--
          w.markCanceled()
        }
        continue
      }
      chosen.push(w)
      minRev = Math.min(minRev, w.minRev)
    }
    if (chosen.length > 0) this.#catchUp(chosen, minRev, Math.min(cur + 1, minRev + this.#maxRevs), cur)
    return this.#unsynced.size
  }

  #catchUp(chosen: readonly Watcher[], minRev: number, windowEnd: number, cur: number): void {
    const events = this.#readEvents(minRev, windowEnd)
    for (const w of chosen) {
      // A watcher further ahead than this window waits for a later round.
      if (w.minRev >= windowEnd) continue
      const mine = events.filter((e) => e.kv.modRevision >= w.minRev && w.matches(keyString(e.kv.key)))
      const out = this.#prepare(w, mine)
      w.minRev = windowEnd
      if (out.length > 0 && !w.send({ watchId: w.id, events: out, revision: cur, compactRevision: 0, canceled: false })) {
        this.#unsynced.delete(w)
        w.state = 'victim'
        w.victimResponse = { events: out, revision: cur }
        this.#victims.add(w)
        continue
      }
      if (windowEnd > cur) {
        w.restored = false
        this.#move(w, this.#synced, 'synced')
      }
    }
  }

  /** Events of main revisions [from, to) from the backend, tombstones as deletes. */
  #readEvents(from: number, to: number): WatchEvent[] {
    return this.#store.backend.read((tx) => tx.range('key', encodeRevision({ main: from, sub: 0 }), encodeRevision({ main: to, sub: 0 })).map((pair) => ({
      type: isTombstoneKey(pair.key) ? ('delete' as const) : ('put' as const),
      kv: decodeKeyValue(pair.value),
    })))
  }

  /** Delivers held-back events of victims whose consumer made room; returns victims left. */
  syncVictims(): number {
    for (const w of [...this.#victims]) this.#retryVictim(w)
    return this.#victims.size
  }

  #retryVictim(w: Watcher): void {
    if (w.state !== 'victim' || w.full) return
    const held = w.victimResponse
    w.victimResponse = undefined
    if (held !== undefined) assert(w.send({ watchId: w.id, events: held.events, revision: held.revision, compactRevision: 0, canceled: false }))
    this.#victims.delete(w)
    if (w.minRev <= this.#store.revision) this.#move(w, this.#unsynced, 'unsynced')
    else this.#move(w, this.#synced, 'synced')
  }

  #move(w: Watcher, to: WatcherGroup, state: 'synced' | 'unsynced'): void {
    this.#synced.delete(w)
    this.#unsynced.delete(w)
    to.add(w)
    w.state = state
  }

  #remove(w: Watcher): void {
    if (w.state === 'canceled') return
    this.#synced.delete(w)
    this.#unsynced.delete(w)
    this.#victims.delete(w)
    this.#live--
  }

  /**
   * Restores the store (see {@link MvccStore.restore}); every synced watcher
   * moves to unsynced, since the new state may be behind or ahead of what it has seen.
   */
  async restore(source?: Backend | (() => Promise<Backend | void>)): Promise<void> {
    await this.#store.restore(source)
    for (const w of [...this.#synced.all()]) {
      w.restored = true
      this.#move(w, this.#unsynced, 'unsynced')
    }
  }

  #arm(): void {
    const clock = this.#clock
    if (clock === undefined || this.#closed) return
    const every = (slot: number, ms: number, fn: () => void): void => {
      const tick = (): void => {
        if (this.#closed) return
        fn()
        this.#timers[slot] = clock.setTimer(ms, tick)
      }
      this.#timers[slot] = clock.setTimer(ms, tick)
    }
    every(0, SYNC_INTERVAL_MS, () => this.syncWatchers())
    every(1, VICTIM_INTERVAL_MS, () => this.syncVictims())
  }

  /** Cancels every watcher and stops the timers; the store stays open. */
  close(): void {
    this.#closed = true
    for (const t of this.#timers) t?.cancel()
    for (const w of [...this.#synced.all(), ...this.#unsynced.all(), ...this.#victims]) w.cancel()
    this.#store.setWriteObserver(undefined)
  }
}
