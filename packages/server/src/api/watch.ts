import type { ResponseHeader, Watch } from '@strata/embed'
import type { WatchMessage as WatchResponse } from './types.js'
import type { ApiContext, CallContext } from './context.js'
import { type PbEvent, type PbHeader, boolField, bytesField, enumField, intField, pbEvent, rangeEndField } from './codec.js'
import { RpcError, Status, invalidArgument, toRpcError } from './errors.js'
import type { Req } from './kv.js'

export interface PbWatchResponse {
  header: PbHeader
  watch_id: number
  created?: boolean
  canceled?: boolean
  compact_revision?: number
  cancel_reason?: string
  fragment?: boolean
  events?: PbEvent[]
}

/** Sends one response on the stream; resolves when the transport can take the next (flow control). */
export type WatchSend = (response: PbWatchResponse) => Promise<void>

const FILTERS = ['NOPUT', 'NODELETE'] as const
/** etcd's clientv3.InvalidWatchID: the id of a failed create and of a stream-wide progress notification. */
const INVALID_WATCH_ID = -1

interface Active {
  readonly watch: Watch
  readonly fragment: boolean
}

/**
 * One Watch stream (etcd's serverWatchStream): creates, cancels and progress requests arrive
 * through `receive`; responses leave through `send`, one watch's responses in order, each watch
 * created before its first event. Watch ids are per stream: the client's `watch_id` when it gives
 * one (a duplicate is refused), otherwise the lowest unused id counting from 0. `close()` (the
 * stream ended) cancels every watch.
 */
export class WatchSession {
  readonly #api: ApiContext
  readonly #ctx: CallContext
  readonly #send: WatchSend
  readonly #watches = new Map<number, Active>()
  #nextId = 0
  #closed = false
  /** Watches still to report for a stream-wide progress request, and the lowest revision reported. */
  #progress: { waiting: Set<number>; revision: number } | undefined

  constructor(api: ApiContext, ctx: CallContext, send: WatchSend) {
    this.#api = api
    this.#ctx = ctx
    this.#send = send
  }

  get size(): number {
    return this.#watches.size
  }

  /** Handles one WatchRequest. Errors in a create are answered as a canceled create, never thrown. */
  async receive(r: Req): Promise<void> {
    if (this.#closed) return
    if (r.create_request != null) return this.#create(r.create_request as Req)
    if (r.cancel_request != null) return this.#cancel(intField((r.cancel_request as Req).watch_id, 'watch_id'))
    if (r.progress_request != null) return this.#requestProgress()
    throw invalidArgument('a WatchRequest needs create_request, cancel_request or progress_request')
  }

  /** Cancels every watch of the stream. Idempotent. */
  close(): void {
    this.#closed = true
    for (const a of this.#watches.values()) a.watch.cancel()
    this.#watches.clear()
  }

  #header(h: ResponseHeader, revision = h.revision): PbHeader {
    return this.#api.header({ ...h, revision })
  }

  async #create(c: Req): Promise<void> {
    let id = INVALID_WATCH_ID
    try {
      const requested = intField(c.watch_id, 'watch_id')
      if (requested !== 0 && this.#watches.has(requested)) throw new RpcError(Status.INVALID_ARGUMENT, 'mvcc: duplicate watch ID provided on the WatchStream')
      if (this.#watches.size >= this.#api.maxWatchesPerStream) throw new RpcError(Status.RESOURCE_EXHAUSTED, `etcdserver: too many watches on one stream (${this.#api.maxWatchesPerStream}); open another stream`)
      const key = bytesField(c.key, 'key')
      const filters = (Array.isArray(c.filters) ? c.filters : []).map((f) => enumField(f, FILTERS, 'filters'))
      const startRevision = intField(c.start_revision, 'start_revision')
      const end = rangeEndField(c.range_end)
      const view = await this.#api.view(this.#ctx)
      const watch = view.watch(key.length === 0 ? Uint8Array.of(0) : key, {
        ...(end === undefined ? {} : { end }),
        ...(startRevision === 0 ? {} : { startRevision }),
        prevKv: boolField(c.prev_kv),
        noPut: filters.includes('NOPUT'),
        noDelete: filters.includes('NODELETE'),
        ...(boolField(c.progress_notify) ? { progressNotifyMs: this.#api.watchProgressNotifyIntervalMs } : {}),
      })
      if (this.#closed) {
        watch.cancel()
        return
      }
      id = requested !== 0 ? requested : this.#autoId()
      this.#watches.set(id, { watch, fragment: boolField(c.fragment) })
      await this.#send({ header: this.#header(this.#api.store.header()), watch_id: id, created: true })
      void this.#pump(id, watch)
    } catch (err) {
      const e = toRpcError(err)
      await this.#send({ header: this.#header(this.#api.store.header()), watch_id: id, created: true, canceled: true, cancel_reason: e.details })
    }
  }

  #autoId(): number {
    while (this.#watches.has(this.#nextId)) this.#nextId++
    return this.#nextId++
  }

  async #cancel(id: number): Promise<void> {
    const a = this.#watches.get(id)
    if (a === undefined) return
    this.#watches.delete(id)
    a.watch.cancel()
    this.#settleProgress(id, undefined)
    await this.#send({ header: this.#header(this.#api.store.header()), watch_id: id, canceled: true })
  }

  async #requestProgress(): Promise<void> {
    if (this.#watches.size === 0) {
      await this.#send({ header: this.#header(this.#api.store.header()), watch_id: INVALID_WATCH_ID })
      return
    }
    if (this.#progress !== undefined) return
    this.#progress = { waiting: new Set(this.#watches.keys()), revision: Number.MAX_SAFE_INTEGER }
    for (const a of this.#watches.values()) a.watch.requestProgress()
  }

  /** Counts a watch's progress response (or its end) toward a pending stream-wide request; true when it was swallowed. */
  #settleProgress(id: number, revision: number | undefined): boolean {
    const p = this.#progress
    if (p === undefined || !p.waiting.delete(id)) return false
    if (revision !== undefined) p.revision = Math.min(p.revision, revision)
    if (p.waiting.size === 0) {
      this.#progress = undefined
      const now = this.#api.store.header()
      void this.#send({ header: this.#header(now, Math.min(p.revision, now.revision)), watch_id: INVALID_WATCH_ID }).catch(() => {})
    }
    return revision !== undefined
  }

  async #pump(id: number, watch: Watch): Promise<void> {
    try {
      for await (const r of watch) {
        if (this.#watches.get(id)?.watch !== watch) break
        await this.#deliver(id, r, r.header)
        if (r.canceled || r.compactRevision !== 0) break
      }
    } catch (err) {
      if (this.#watches.get(id)?.watch === watch) {
        await this.#send({ header: this.#header(this.#api.store.header()), watch_id: id, canceled: true, cancel_reason: toRpcError(err).details }).catch(() => {})
      }
    } finally {
      if (this.#watches.get(id)?.watch === watch) this.#watches.delete(id)
      this.#settleProgress(id, undefined)
      watch.cancel()
    }
  }

  async #deliver(id: number, r: WatchResponse, h: ResponseHeader): Promise<void> {
    const header = this.#header(h, r.revision)
    if (r.compactRevision !== 0) {
      this.#watches.delete(id)
      await this.#send({ header, watch_id: id, canceled: true, compact_revision: r.compactRevision })
      return
    }
    if (r.canceled) {
      this.#watches.delete(id)
      await this.#send({ header, watch_id: id, canceled: true })
      return
    }
    if (r.events.length === 0) {
      if (this.#settleProgress(id, r.revision)) return
      await this.#send({ header, watch_id: id, events: [] })
      return
    }
    const events = r.events.map(pbEvent)
    if (this.#watches.get(id)?.fragment !== true) {
      await this.#send({ header, watch_id: id, events })
      return
    }
    // A fragmenting watch: cut the events into responses of at most watchFragmentBytes each
    // (a single larger event goes alone); every piece but the last says `fragment`.
    const limit = this.#api.watchFragmentBytes
    let piece: PbEvent[] = []
    let bytes = 0
    for (const e of events) {
      const size = eventBytes(e)
      if (piece.length > 0 && bytes + size > limit) {
        await this.#send({ header, watch_id: id, events: piece, fragment: true })
        piece = []
        bytes = 0
      }
      piece.push(e)
      bytes += size
    }
    await this.#send({ header, watch_id: id, events: piece })
  }
}

function eventBytes(e: PbEvent): number {
  return 48 + e.kv.key.length + e.kv.value.length + (e.prev_kv === undefined ? 0 : 48 + e.prev_kv.key.length + e.prev_kv.value.length)
}
