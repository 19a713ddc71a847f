import type { Message } from './types.js'

/** How ReadIndex confirms leadership. */
export const ReadOnlyOption = { Safe: 0, LeaseBased: 1 } as const
export type ReadOnlyOption = (typeof ReadOnlyOption)[keyof typeof ReadOnlyOption]

/** A read request answered with the commit index it may be served at. */
export interface ReadState {
  readonly index: number
  readonly requestCtx: Uint8Array
}

interface ReadIndexStatus {
  readonly req: Message
  readonly index: number
  /** Followers (and self) that acknowledged the heartbeat round carrying this request. */
  readonly acks: Map<number, boolean>
}

/** A request context as a map key (contexts are opaque bytes). */
function key(ctx: Uint8Array): string {
  return Buffer.from(ctx.buffer, ctx.byteOffset, ctx.byteLength).toString('latin1')
}

/**
 * Pending ReadOnlySafe requests of a leader, in arrival order. Each waits for a quorum of
 * heartbeat acknowledgements carrying its context (or a later one).
 */
export class ReadOnly {
  readonly option: ReadOnlyOption
  #pending = new Map<string, ReadIndexStatus>()
  /** Invariant: every key of `#pending` appears here once, oldest first. */
  #queue: string[] = []

  constructor(option: ReadOnlyOption) {
    this.option = option
  }

  get pendingCount(): number {
    return this.#queue.length
  }

  /** Records a request to be answered at `index` once a quorum acks its context. */
  addRequest(index: number, m: Message): void {
    const ctx = key(m.entries[0]!.data)
    if (this.#pending.has(ctx)) return
    this.#pending.set(ctx, { index, req: m, acks: new Map() })
    this.#queue.push(ctx)
  }

  /** Records an ack of `context` from `id`; returns the acks so far, or undefined if unknown. */
  recvAck(id: number, context: Uint8Array): ReadonlyMap<number, boolean> | undefined {
    const rs = this.#pending.get(key(context))
    if (rs === undefined) return undefined
    rs.acks.set(id, true)
    return rs.acks
  }

  /**
   * The context `m` was confirmed by a quorum: releases it and every request queued before it
   * (a quorum acking a later heartbeat confirms leadership for earlier requests too).
   */
  advance(m: Message): { readonly req: Message; readonly index: number }[] {
    const ctx = key(m.context ?? new Uint8Array(0))
    const at = this.#queue.indexOf(ctx)
    if (at < 0) return []
    const released = this.#queue.splice(0, at + 1)
    const out: { req: Message; index: number }[] = []
    for (const k of released) {
      const rs = this.#pending.get(k)!
      this.#pending.delete(k)
      out.push({ req: rs.req, index: rs.index })
    }
    return out
  }

  /** The context of the newest pending request (sent with heartbeats), if any. */
  lastPendingRequestCtx(): Uint8Array | undefined {
    const last = this.#queue[this.#queue.length - 1]
    return last === undefined ? undefined : this.#pending.get(last)!.req.entries[0]!.data
  }

  reset(): void {
    this.#pending.clear()
    this.#queue = []
  }
}
