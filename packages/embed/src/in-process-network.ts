import type { MemberId, Transport } from '@strata/seams'

/**
 * Carries messages between members in one process: each member's transport delivers to the
 * others on a later turn of the event loop (never synchronously, as a network would). `cut`
 * isolates a member (messages to and from it are lost) until `heal`.
 */
export class InProcessNetwork {
  readonly #handlers = new Map<MemberId, (from: MemberId, message: Uint8Array) => void>()
  readonly #cut = new Set<MemberId>()

  transport(id: MemberId): Transport {
    return {
      send: (to, message) => {
        if (this.#cut.has(id) || this.#cut.has(to)) return
        const copy = message.slice()
        setImmediate(() => {
          if (this.#cut.has(id) || this.#cut.has(to)) return
          this.#handlers.get(to)?.(id, copy)
        })
      },
      onMessage: (fn) => void this.#handlers.set(id, fn),
    }
  }

  cut(id: MemberId): void {
    this.#cut.add(id)
  }

  heal(id: MemberId): void {
    this.#cut.delete(id)
  }
}
