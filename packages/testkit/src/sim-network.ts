import type { MemberId, Transport } from '@strata/seams'
import { StrataError } from '@strata/seams'
import { Prng } from './prng.js'
import type { SimClock } from './sim-clock.js'

/** The fault knobs; each is drawn from the network's Prng per message. */
export interface NetworkFaults {
  /** Chance a sent message is lost, in [0, 1]. Default 0. */
  readonly dropProbability?: number
  /** Chance a sent message is delivered twice, in [0, 1]. Default 0. */
  readonly duplicateProbability?: number
  /** Chance a delivery step takes a random ready message instead of the oldest, in [0, 1]. Default 0. */
  readonly reorderProbability?: number
  /** Least delay of a message, in SimClock ms. Default 0. Needs `clock` when above 0. */
  readonly minDelay?: number
  /** Greatest delay of a message, in SimClock ms (uniform in [minDelay, maxDelay]). Default minDelay. */
  readonly maxDelay?: number
}

export interface SimNetworkOptions extends NetworkFaults {
  /** Source of every fault decision. Default: `new Prng(0)`. */
  readonly prng?: Prng
  /** Virtual time for delays: a message is ready once `clock.now()` reaches its due time. Default: none (no delays). */
  readonly clock?: SimClock
  /** Most messages one `deliverAll` delivers before it gives up (members ping-ponging forever). Default 1000000. */
  readonly maxDeliveries?: number
  /**
   * Most messages waiting in the queue (ready or delayed). A send that finds it full is lost and
   * counted in `overflowed`, as a real network drops what its buffers cannot hold; raft tolerates
   * that like any other loss. Default 1000000.
   */
  readonly maxQueued?: number
}

/** Counters since the network was made. */
export interface NetworkStats {
  /** Calls to `send`. */
  sent: number
  /** Messages handed to a receiver (duplicates count each time). */
  delivered: number
  /** Messages lost to `dropProbability`. */
  dropped: number
  /** Messages lost because a partition or isolation separated the members at delivery time. */
  blocked: number
  /** Messages lost because nobody listens at the destination. */
  unroutable: number
  /** Extra copies queued by `duplicateProbability`. */
  duplicated: number
  /** Messages (or duplicate copies) lost because `maxQueued` were already waiting. */
  overflowed: number
}

interface Envelope {
  readonly from: MemberId
  readonly to: MemberId
  readonly message: Uint8Array
  /** Clock time the message is ready at (0 without a clock). */
  readonly due: number
  /** Invariant: unique and increasing in queue order; the tie-breaker of the delivery order. */
  readonly seq: number
}

type Handler = (from: MemberId, message: Uint8Array) => void

/** Size of the slabs small messages are copied into, and the largest message copied there. */
const slabBytes = 64 * 1024
const pooledMaxBytes = 4096

function probability(name: string, p: number | undefined): number {
  const value = p ?? 0
  if (!(value >= 0 && value <= 1)) throw new RangeError(`SimNetwork: ${name} must be in [0, 1], got ${value}`)
  return value
}

/**
 * An in-process network over the Transport seam. Sends are queued; the test decides when
 * messages move (`step`, `deliverAll`), so the delivery order is a function of the seed and the
 * test's calls alone. Partitions are checked at delivery: a message in flight when a partition
 * starts is lost, as on a real network.
 */
export class SimNetwork {
  readonly #prng: Prng
  readonly #clock: SimClock | undefined
  readonly #maxDeliveries: number
  readonly #maxQueued: number
  #drop = 0
  #duplicate = 0
  #reorder = 0
  #minDelay = 0
  #maxDelay = 0
  /**
   * Invariant: the undelivered messages are `#queue[#head..]`, sorted by (due, seq); the slots
   * before `#head` are delivered ones awaiting compaction (so taking the first is O(1)).
   */
  #queue: Envelope[] = []
  #head = 0
  /** Where copies of small messages go (see #copy); `#slabUsed` bytes of it are taken. */
  #slab = new Uint8Array(0)
  #slabUsed = 0
  #seq = 0
  readonly #endpoints = new Map<MemberId, { transport: Transport; handlers: Handler[] }>()
  /** Group of each member named by the current partition; unnamed members share the group -1. */
  #groups = new Map<MemberId, number>()
  readonly #isolated = new Set<MemberId>()
  readonly #stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, blocked: 0, unroutable: 0, duplicated: 0, overflowed: 0 }

  constructor(options: SimNetworkOptions = {}) {
    this.#prng = options.prng ?? new Prng(0)
    this.#clock = options.clock
    this.#maxDeliveries = options.maxDeliveries ?? 1_000_000
    this.#maxQueued = options.maxQueued ?? 1_000_000
    if (!Number.isSafeInteger(this.#maxQueued) || this.#maxQueued < 1) throw new RangeError(`SimNetwork: maxQueued must be a positive integer, got ${this.#maxQueued}`)
    this.setFaults(options)
  }

  /** Changes the fault knobs (unnamed ones go back to their defaults). */
  setFaults(faults: NetworkFaults): void {
    this.#drop = probability('dropProbability', faults.dropProbability)
    this.#duplicate = probability('duplicateProbability', faults.duplicateProbability)
    this.#reorder = probability('reorderProbability', faults.reorderProbability)
    const min = faults.minDelay ?? 0
    const max = faults.maxDelay ?? min
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min < 0 || max < min) throw new RangeError(`SimNetwork: need integers 0 <= minDelay <= maxDelay, got ${min}, ${max}`)
    if (max > 0 && this.#clock === undefined) throw new RangeError('SimNetwork: delays need a clock')
    this.#minDelay = min
    this.#maxDelay = max
  }

  /** The Transport member `id` uses; the same object for the same id. */
  endpoint(id: MemberId): Transport {
    if (!Number.isSafeInteger(id) || id <= 0) throw new RangeError(`SimNetwork: member id must be a positive safe integer, got ${id}`)
    const existing = this.#endpoints.get(id)
    if (existing !== undefined) return existing.transport
    const handlers: Handler[] = []
    const transport: Transport = {
      send: (to, message) => this.#send(id, to, message),
      onMessage: (fn) => { handlers.push(fn) },
    }
    this.#endpoints.set(id, { transport, handlers })
    return transport
  }

  #send(from: MemberId, to: MemberId, message: Uint8Array): void {
    this.#stats.sent++
    if (this.#drop > 0 && this.#prng.bool(this.#drop)) {
      this.#stats.dropped++
      return
    }
    this.#enqueue(from, to, message)
    if (this.#duplicate > 0 && this.#prng.bool(this.#duplicate)) {
      this.#stats.duplicated++
      this.#enqueue(from, to, message)
    }
  }

  #enqueue(from: MemberId, to: MemberId, message: Uint8Array): void {
    if (this.pending >= this.#maxQueued) {
      this.#stats.overflowed++
      return
    }
    const delay = this.#maxDelay > this.#minDelay ? this.#minDelay + this.#prng.int(this.#maxDelay - this.#minDelay + 1) : this.#minDelay
    const due = (this.#clock?.now() ?? 0) + delay
    // The copy keeps a sender that reuses its buffer from changing a message in flight.
    const envelope: Envelope = { from, to, message: this.#copy(message), due, seq: this.#seq++ }
    // Due times are mostly non-decreasing, so the insertion point is almost always the end.
    let at = this.#queue.length
    while (at > this.#head && this.#queue[at - 1]!.due > due) at--
    if (at === this.#queue.length) this.#queue.push(envelope)
    else this.#queue.splice(at, 0, envelope)
  }

  /**
   * A copy of `message`: up to {@link pooledMaxBytes}, a view of a shared slab (a fresh
   * Uint8Array is an off-heap allocation, a cost every message paid, and work for the garbage
   * collector); larger ones get their own buffer. A receiver gets a view at any offset of its
   * buffer, as from any transport. A slab lives as long as a message copied into it.
   */
  #copy(message: Uint8Array): Uint8Array {
    const n = message.length
    if (n > pooledMaxBytes) return new Uint8Array(message)
    if (this.#slabUsed + n > this.#slab.length) {
      this.#slab = new Uint8Array(slabBytes)
      this.#slabUsed = 0
    }
    const out = this.#slab.subarray(this.#slabUsed, this.#slabUsed + n)
    out.set(message)
    // 8-byte aligned, so a receiver's DataView or typed array over the message starts aligned.
    this.#slabUsed += (n + 7) & ~7
    return out
  }

  /**
   * Splits the members into groups that can only talk within themselves. Members named in no
   * group form one more group together. Replaces any earlier partition (isolation stays).
   */
  partition(groups: readonly (readonly MemberId[])[]): void {
    const next = new Map<MemberId, number>()
    groups.forEach((group, i) => {
      for (const id of group) {
        if (next.has(id)) throw new RangeError(`SimNetwork.partition: member ${id} is in two groups`)
        next.set(id, i)
      }
    })
    this.#groups = next
  }

  /** Cuts member `id` off from everyone until `heal()`. */
  isolate(id: MemberId): void { this.#isolated.add(id) }

  /** Removes every partition and isolation. Messages already lost stay lost. */
  heal(): void {
    this.#groups = new Map()
    this.#isolated.clear()
  }

  /** Whether a message from `a` to `b` would be delivered now (partitions and isolation only). */
  connected(a: MemberId, b: MemberId): boolean {
    if (a === b) return true
    if (this.#isolated.has(a) || this.#isolated.has(b)) return false
    return (this.#groups.get(a) ?? -1) === (this.#groups.get(b) ?? -1)
  }

  /** Messages queued and not yet delivered or lost (ready or still delayed). */
  get pending(): number { return this.#queue.length - this.#head }

  get stats(): Readonly<NetworkStats> { return { ...this.#stats } }

  /** When the earliest queued message is due (clock ms; 0 without a clock), or undefined when none is queued. */
  nextDueAt(): number | undefined {
    return this.#head < this.#queue.length ? this.#queue[this.#head]!.due : undefined
  }

  /**
   * Takes one ready message off the queue — the earliest due (ties: the first sent), or with
   * `reorderProbability` a random ready one — and delivers it (or loses it to a partition).
   * Returns false when no message is ready.
   */
  step(): boolean {
    const ready = this.#readyCount()
    if (ready === 0) return false
    let envelope: Envelope
    if (this.#reorder > 0 && ready > 1 && this.#prng.bool(this.#reorder)) {
      envelope = this.#queue.splice(this.#head + this.#prng.int(ready), 1)[0]!
    } else {
      envelope = this.#queue[this.#head++]!
      if (this.#head === this.#queue.length) {
        this.#queue = []
        this.#head = 0
      } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head)
        this.#head = 0
      }
    }
    this.#deliver(envelope)
    return true
  }

  /** How many messages at the front of the queue are due now (binary search on due). */
  #readyCount(): number {
    const now = this.#clock?.now() ?? 0
    let lo = this.#head
    let hi = this.#queue.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.#queue[mid]!.due <= now) lo = mid + 1
      else hi = mid
    }
    return lo - this.#head
  }

  #deliver(e: Envelope): void {
    if (!this.connected(e.from, e.to)) {
      this.#stats.blocked++
      return
    }
    const handlers = this.#endpoints.get(e.to)?.handlers ?? []
    if (handlers.length === 0) {
      this.#stats.unroutable++
      return
    }
    this.#stats.delivered++
    for (const fn of handlers) fn(e.from, e.message)
  }

  /**
   * Delivers ready messages, including those the receivers send meanwhile, until none is
   * ready; returns how many were taken off the queue. Throws ERR_SIM_NETWORK_BUSY after
   * `maxDeliveries`.
   */
  deliverAll(): number {
    let taken = 0
    for (;;) {
      if (taken >= this.#maxDeliveries && this.#readyCount() > 0) {
        throw new StrataError('ERR_SIM_NETWORK_BUSY', `SimNetwork.deliverAll: still busy after ${taken} messages`, { taken, pending: this.pending })
      }
      if (!this.step()) return taken
      taken++
    }
  }
}
