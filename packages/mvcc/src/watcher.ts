import assert from 'node:assert'
import type { IndexRange } from './limits.js'
import type { WatchEvent } from './types.js'

/** What a watcher receives (etcd's WatchResponse without the stream bookkeeping). */
export interface WatchResponse {
  readonly watchId: number
  /** Events of whole revisions, in revision order; empty for a progress notification. */
  readonly events: readonly WatchEvent[]
  /** The store revision when the response was made. */
  readonly revision: number
  /** Non-zero when the start revision was compacted: the watch is canceled; re-watch from here. */
  readonly compactRevision: number
  /** True on the last response of a canceled watch. */
  readonly canceled: boolean
}

/** Which group a watcher is in; exactly one at a time. */
export type WatcherState = 'synced' | 'unsynced' | 'victim' | 'canceled'

/**
 * One watch on a key or range, as `WatchableStore.watch` returns it. The store pushes
 * responses into a bounded buffer (`bufferLimit`); the consumer takes them with `take()` or
 * iterates with `for await`. A watcher whose buffer is full becomes a victim: it stops
 * receiving live events and catches up from the backend once the consumer made room.
 */
export interface Watcher extends AsyncIterable<WatchResponse> {
  /** Unique within its WatchableStore; the `watchId` of its responses. */
  readonly id: number
  /** The revision the watch asked to start from (0: the next one). */
  readonly startRevision: number
  /** The group it is in; 'canceled' once `cancel()` ran or the store canceled it. */
  readonly state: WatcherState
  /** Responses waiting to be taken. */
  readonly pending: number
  /** Takes every queued response; a victim then gets its held-back events queued. */
  take(): WatchResponse[]
  /** Stops the watch; queued responses can still be taken. Idempotent. */
  cancel(): void
}

/**
 * The store side of a {@link Watcher} (etcd's watcher): its group bookkeeping, filters and
 * buffer. Internal; callers see the Watcher interface.
 */
export class StoreWatcher implements Watcher {
  readonly id: number
  readonly range: IndexRange
  readonly prevKv: boolean
  readonly noPut: boolean
  readonly noDelete: boolean
  /** The revision the watch asked to start from (0: the next one). */
  readonly startRevision: number
  /** Invariant: every event below minRev was delivered or is in `victimEvents`. */
  minRev: number
  state: WatcherState = 'unsynced'
  /** Set by restore: the watcher may sit in unsynced with a minRev above the current revision. */
  restored = false
  /** Events held back while a victim (one write's worth, the revision they came with). */
  victimResponse: { events: WatchEvent[]; revision: number } | undefined
  readonly #bufferLimit: number
  /** Invariant: length <= #bufferLimit. */
  readonly #buffer: WatchResponse[] = []
  #wake: (() => void) | undefined
  readonly #onTake: (w: StoreWatcher) => void
  readonly #onCancel: (w: StoreWatcher) => void

  constructor(fields: { id: number; range: IndexRange; prevKv: boolean; noPut: boolean; noDelete: boolean; startRevision: number; minRev: number; bufferLimit: number; onTake: (w: StoreWatcher) => void; onCancel: (w: StoreWatcher) => void }) {
    this.id = fields.id
    this.range = fields.range
    this.prevKv = fields.prevKv
    this.noPut = fields.noPut
    this.noDelete = fields.noDelete
    this.startRevision = fields.startRevision
    this.minRev = fields.minRev
    this.#bufferLimit = fields.bufferLimit
    this.#onTake = fields.onTake
    this.#onCancel = fields.onCancel
  }

  /** True when the key (latin1) is in this watcher's range. */
  matches(key: string): boolean {
    const r = this.range
    if (r.end === undefined) return key === r.key
    return key >= r.key && (r.end === '' || key < r.end)
  }

  /** Keeps only the events this watcher's filters let through. */
  filter(events: readonly WatchEvent[]): WatchEvent[] {
    if (!this.noPut && !this.noDelete) return events as WatchEvent[]
    return events.filter((e) => (e.type === 'put' ? !this.noPut : !this.noDelete))
  }

  get full(): boolean {
    return this.#buffer.length >= this.#bufferLimit
  }

  /** Responses waiting for the consumer. */
  get pending(): number {
    return this.#buffer.length
  }

  /** Store side: queues a response; false (and nothing queued) when the buffer is full. */
  send(response: WatchResponse): boolean {
    assert(this.state !== 'canceled', 'send to a canceled watcher')
    if (this.full) return false
    this.#buffer.push(response)
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
    return true
  }

  /** Takes every queued response; a victim then gets its held-back events delivered. */
  take(): WatchResponse[] {
    const out = this.#buffer.splice(0)
    if (out.length > 0) this.#onTake(this)
    return out
  }

  /** Stops the watch; queued responses can still be taken. */
  cancel(): void {
    if (this.state === 'canceled') return
    this.#onCancel(this)
    this.state = 'canceled'
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  /** Store side: ends the watch after its last response. */
  markCanceled(): void {
    this.state = 'canceled'
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  /** Yields responses as they come until the watch is canceled and drained. */
  async *[Symbol.asyncIterator](): AsyncGenerator<WatchResponse> {
    for (;;) {
      const batch = this.take()
      for (const r of batch) yield r
      if (batch.length > 0) continue
      if (this.state === 'canceled') return
      await new Promise<void>((resolve) => (this.#wake = resolve))
    }
  }
}
