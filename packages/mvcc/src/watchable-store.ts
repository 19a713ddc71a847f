import assert from 'node:assert'
import type { Bytes } from '@strata/backend'
import { type Clock, type Timer, backgroundClock } from '@strata/seams'
import { MvccError, closedError, describe, invalidArgument, invalidOption } from './errors.js'
import { type KeyValue, decodeKeyValue, keyString } from './kv.js'
import { type MvccStore, attachStoreHooks } from './kvstore.js'
import { checkCount, checkFlag, checkOptionsArg, checkRange } from './limits.js'
import { encodeRevision, isTombstoneKey } from './revision.js'
import type { WatchEvent } from './types.js'
import { StoreWatcher, type Watcher } from './watcher.js'
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
  /** Responses a watcher buffers before it becomes a victim, an integer >= 1. Default 128 (etcd's chanBufLen). */
  readonly bufferLimit?: number
  /** Unsynced watchers handled per `syncWatchers` round, an integer >= 1. Default 512. */
  readonly maxWatchersPerSync?: number
  /** Distinct revisions read from the backend per catch-up batch, an integer >= 1. Default 1,000. */
  readonly batchMaxRevisions?: number
  /** Most live watchers, an integer >= 1; more is ERR_MVCC_TOO_MANY_WATCHERS. Default 100,000. */
  readonly maxWatchers?: number
  /**
   * The timers of the catch-up: a round right away (a 0 ms timer) whenever a watcher falls
   * behind and as long as rounds make progress, `syncWatchers` every 100 ms and `syncVictims`
   * every 10 ms. Default: `backgroundClock` (@strata/seams): Node timers, the periodic ones `unref`'d
   * (they never keep the process alive; a pending catch-up round does, for one turn of the
   * event loop). A clock whose timers never fire leaves the rounds to `sync()` (deterministic
   * tests do that).
   */
  readonly clock?: Clock
}

const SYNC_INTERVAL_MS = 100
const VICTIM_INTERVAL_MS = 10

function checkWatchableOptions(options: WatchableStoreOptions): Required<Omit<WatchableStoreOptions, 'clock'>> & { clock: Clock } {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalidOption(`WatchableStore.open options must be an object, got ${describe(options)}`)
  const positive = (name: string, n: unknown, dflt: number): number => {
    if (n === undefined) return dflt
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) throw invalidOption(`${name} must be a positive safe integer, got ${describe(n)}; leave it out for the default ${dflt}`, { [name]: n })
    return n
  }
  const clock = options.clock ?? backgroundClock
  if (typeof clock !== 'object' || clock === null || typeof clock.setTimer !== 'function') throw invalidOption(`clock must be a Clock ({ now, setTimer }), got ${describe(clock)}`)
  return {
    bufferLimit: positive('bufferLimit', options.bufferLimit, 128),
    maxWatchersPerSync: positive('maxWatchersPerSync', options.maxWatchersPerSync, 512),
    batchMaxRevisions: positive('batchMaxRevisions', options.batchMaxRevisions, 1000),
    maxWatchers: positive('maxWatchers', options.maxWatchers, 100_000),
    clock,
  }
}

/**
 * The event watchers are sent for a written one: its key and value copied, once per event. A
 * write's KeyValue holds the key and value as its caller gave them (the applier's are views into
 * the raft entry; a caller of `put` may reuse its arrays): a watcher keeps what it gets, which
 * must neither pin the entry's buffer nor change under it.
 */
function ownedEvent(ev: WatchEvent): WatchEvent {
  return { ...ev, kv: { ...ev.kv, key: new Uint8Array(ev.kv.key), value: new Uint8Array(ev.kv.value) } }
}

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
  readonly #victims = new Set<StoreWatcher>()
  readonly #bufferLimit: number
  readonly #maxPerSync: number
  readonly #maxRevs: number
  readonly #maxWatchers: number
  readonly #clock: Clock
  /** Invariant: at most one armed timer per loop (slot 0: sync, slot 1: victims, slot 2: the catch-up round). */
  readonly #timers: Array<Timer | undefined> = [undefined, undefined, undefined]
  #nextId = 1
  /** Invariant: watchers not canceled = synced + unsynced + victims; at most #maxWatchers. */
  #live = 0
  #closed = false
  /** Invariant: bumped whenever a catch-up round delivers, moves or cancels a watcher. */
  #progress = 0

  /** Holds nothing: {@link open} attaches it to the store and arms its timers. */
  private constructor(store: MvccStore, o: ReturnType<typeof checkWatchableOptions>) {
    this.#store = store
    this.#bufferLimit = o.bufferLimit
    this.#maxPerSync = o.maxWatchersPerSync
    this.#maxRevs = o.batchMaxRevisions
    this.#maxWatchers = o.maxWatchers
    this.#clock = o.clock
  }

  /**
   * Opens the watch side of `store`: from now on every write's events reach the synced
   * watchers, a `store.restore` resyncs them, and `store.close()` closes this too. One per
   * store: a second fails with ERR_MVCC_WATCHABLE_EXISTS.
   */
  static async open(store: MvccStore, options: WatchableStoreOptions = {}): Promise<WatchableStore> {
    const o = checkWatchableOptions(options)
    const ws = new WatchableStore(store, o)
    attachStoreHooks(store, {
      written: (rev, events) => ws.#notify(rev, events),
      restored: () => ws.#restored(),
      closing: () => ws.close(),
    })
    ws.#arm()
    return ws
  }

  get store(): MvccStore {
    return this.#store
  }

  /** Watcher counts per group, for tests and metrics. */
  get stats(): { synced: number; unsynced: number; victims: number } {
    return { synced: this.#synced.size, unsynced: this.#unsynced.size, victims: this.#victims.size }
  }

  /**
   * Watches `key` (or the range up to `options.end`). From an old start revision the watcher
   * catches up from the backend on the clock's timers (or `sync()`; see `WatchableStoreOptions.clock`).
   */
  watch(key: Bytes, options?: WatchOptions): Watcher {
    this.#checkOpen()
    const o = checkOptionsArg(options, 'watch') as WatchOptions
    const range = checkRange({ maxKeyBytes: Number.MAX_SAFE_INTEGER, maxValueBytes: 0, maxTxnOps: 0 }, key, o.end)
    checkCount('startRevision', o.startRevision)
    const start = o.startRevision ?? 0
    const flags = { prevKv: checkFlag('prevKv', o.prevKv), noPut: checkFlag('noPut', o.noPut), noDelete: checkFlag('noDelete', o.noDelete) }
    if (this.#live >= this.#maxWatchers) {
      throw new MvccError('ERR_MVCC_TOO_MANY_WATCHERS', `mvcc: ${this.#live} watchers, the maximum; cancel watchers you no longer need or raise maxWatchers`, { max: this.#maxWatchers })
    }
    const cur = this.#store.revision
    const synced = start === 0 || start > cur
    const w = new StoreWatcher({
      id: this.#nextId++, range, ...flags,
      startRevision: start, minRev: start === 0 ? cur + 1 : start, bufferLimit: this.#bufferLimit,
      onTake: (x) => this.#retryVictim(x), onCancel: (x) => this.#remove(x),
    })
    this.#live++
    w.state = synced ? 'synced' : 'unsynced'
    ;(synced ? this.#synced : this.#unsynced).add(w)
    if (!synced) this.#kick()
    return w
  }

  /**
   * Sends a progress notification (no events, the current revision) when the watcher is synced
   * and its start revision is not in the future; returns whether it was sent.
   */
  requestProgress(w: Watcher): boolean {
    this.#checkOpen()
    if (!(w instanceof StoreWatcher)) throw invalidArgument(`requestProgress takes a Watcher from watch(), got ${describe(w)}`)
    if (!this.#synced.has(w) || this.#store.revision < w.startRevision) return false
    return w.send({ watchId: w.id, events: [], revision: this.#store.revision, compactRevision: 0, canceled: false })
  }

  /** One round of victim retries and unsynced catch-up; returns the watchers still behind. */
  sync(): number {
    this.#checkOpen()
    this.syncVictims()
    return this.syncWatchers() + this.#victims.size
  }

  /** The write path: at the end of each write txn, every matching synced watcher gets one response. */
  #notify(rev: number, events: readonly WatchEvent[]): void {
    if (this.#synced.size === 0) return
    const perWatcher = new Map<StoreWatcher, WatchEvent[]>()
    for (const written of events) {
      let ev: WatchEvent | undefined
      this.#synced.forMatching(keyString(written.kv.key), (w) => {
        if (written.kv.modRevision < w.minRev) return
        ev ??= ownedEvent(written)
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
  #prepare(w: StoreWatcher, evs: readonly WatchEvent[]): WatchEvent[] {
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
    this.#checkOpen()
    if (this.#unsynced.size === 0) return 0
    // The store's contents are being replaced: the restore hook kicks a round when it is done.
    if (this.#store.restoring) return this.#unsynced.size
    const cur = this.#store.revision
    const compactRev = this.#store.compactRevision
    const chosen: StoreWatcher[] = []
    let minRev = Number.MAX_SAFE_INTEGER
    for (const w of [...this.#unsynced.all()]) {
      if (chosen.length >= this.#maxPerSync) break
      if (w.minRev > cur) {
        // Only a restored watcher can be ahead of the store; it waits in synced.
        assert(w.restored || w.startRevision > cur, 'an unsynced watcher ahead of the store')
        this.#move(w, this.#synced, 'synced')
        this.#progress++
        continue
      }
      if (w.minRev < compactRev) {
        // If the buffer is full the compacted response waits for the next round (etcd #17612).
        if (w.send({ watchId: w.id, events: [], revision: cur, compactRevision: compactRev, canceled: true })) {
          this.#unsynced.delete(w)
          this.#live--
          w.markCanceled()
          this.#progress++
        }
        continue
      }
      chosen.push(w)
      minRev = Math.min(minRev, w.minRev)
    }
    if (chosen.length > 0) this.#catchUp(chosen, minRev, Math.min(cur + 1, minRev + this.#maxRevs), cur)
    return this.#unsynced.size
  }

  #catchUp(chosen: readonly StoreWatcher[], minRev: number, windowEnd: number, cur: number): void {
    const events = this.#readEvents(minRev, windowEnd)
    for (const w of chosen) {
      // A watcher further ahead than this window waits for a later round.
      if (w.minRev >= windowEnd) continue
      const mine = events.filter((e) => e.kv.modRevision >= w.minRev && w.matches(keyString(e.kv.key)))
      const out = this.#prepare(w, mine)
      w.minRev = windowEnd
      this.#progress++
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
      kv: decodeKeyValue(pair.key, pair.value, false, this.#store.location),
    })))
  }

  /** Delivers held-back events of victims whose consumer made room; returns victims left. */
  syncVictims(): number {
    this.#checkOpen()
    for (const w of [...this.#victims]) this.#retryVictim(w)
    return this.#victims.size
  }

  #retryVictim(w: StoreWatcher): void {
    if (w.state !== 'victim' || w.full) return
    const held = w.victimResponse
    w.victimResponse = undefined
    if (held !== undefined) assert(w.send({ watchId: w.id, events: held.events, revision: held.revision, compactRevision: 0, canceled: false }))
    this.#victims.delete(w)
    if (w.minRev <= this.#store.revision) {
      this.#move(w, this.#unsynced, 'unsynced')
      this.#kick()
    } else this.#move(w, this.#synced, 'synced')
  }

  #move(w: StoreWatcher, to: WatcherGroup, state: 'synced' | 'unsynced'): void {
    this.#synced.delete(w)
    this.#unsynced.delete(w)
    to.add(w)
    w.state = state
  }

  #remove(w: StoreWatcher): void {
    if (w.state === 'canceled') return
    this.#synced.delete(w)
    this.#unsynced.delete(w)
    this.#victims.delete(w)
    this.#live--
  }

  /**
   * The store's restore hook: every synced watcher moves to unsynced, since the new state may
   * be behind or ahead of what it has seen; the catch-up then answers each from the new
   * contents (or with the compacted response when its next revision is gone).
   */
  #restored(): void {
    if (this.#closed) return
    for (const w of [...this.#synced.all()]) this.#move(w, this.#unsynced, 'unsynced')
    // Every watcher may now be ahead of the store (a snapshot older than what it has seen),
    // unsynced ones and victims too: syncWatchers parks such watchers in synced.
    for (const w of [...this.#unsynced.all(), ...this.#victims]) w.restored = true
    this.#kick()
  }

  /**
   * Arms one catch-up round on the clock (a 0 ms timer) while watchers are behind; a round
   * that made progress arms the next, so a watch from an old revision catches up batch by
   * batch without waiting for the 100 ms loop, yielding to other work between batches.
   */
  #kick(): void {
    if (this.#closed || this.#timers[2] !== undefined || this.#unsynced.size === 0) return
    this.#timers[2] = this.#clock.setTimer(0, () => {
      this.#timers[2] = undefined
      if (this.#closed) return
      const before = this.#progress
      this.syncWatchers()
      if (this.#progress !== before) this.#kick()
    })
  }

  #arm(): void {
    const clock = this.#clock
    if (this.#closed) return
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

  /**
   * Cancels every watcher (queued responses can still be taken), stops the timers and detaches
   * from the store, which stays open. Idempotent; `store.close()` calls it.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const t of this.#timers) t?.cancel()
    this.#timers.fill(undefined)
    for (const w of [...this.#synced.all(), ...this.#unsynced.all(), ...this.#victims]) w.cancel()
    attachStoreHooks(this.#store, undefined)
  }

  /** True once `close` was called (directly or by the store's close). */
  get closed(): boolean {
    return this.#closed
  }

  #checkOpen(): void {
    if (this.#closed) throw closedError('WatchableStore')
  }
}
