import { newLeaseId } from '@strata/lease'
import type { Timer } from '@strata/seams'
import { EmbedError } from './errors.js'
import type { ApiContext, ResponseHeader } from './api-context.js'

export interface KeepAliveResponse {
  readonly header: ResponseHeader
  readonly id: number
  /** Seconds until the lease expires if not kept alive again. */
  readonly ttlSeconds: number
}

/** A keep-alive stream: renews every third of the TTL until cancelled, the signal aborts, or the lease is gone. */
export interface KeepAlive extends AsyncIterable<KeepAliveResponse> {
  cancel(): void
}

/**
 * Leases (etcd's Lease service). Grant and revoke go through the log; keep-alives renew on the
 * leader only (not through the log), as in etcd; expiry is proposed by the leader's lessor.
 */
export class LeaseApi {
  readonly #c: ApiContext

  constructor(c: ApiContext) {
    this.#c = c
  }

  /** Grants a lease of `ttlSeconds` (raised to the minimum TTL); `id` 0 or absent picks one. */
  async grant(ttlSeconds: number, options: { readonly id?: number } = {}): Promise<{ header: ResponseHeader; id: number; ttlSeconds: number }> {
    const id = options.id ?? newLeaseId(this.#c.member.o.rng)
    const outcome = await this.#c.member.propose({ kind: 'leaseGrant', id, ttlSeconds }, this.#c.identity())
    const r = outcome.response
    if (r?.kind !== 'leaseGrant') throw new Error('unreachable: a grant applied without its response')
    return { header: this.#c.header(outcome), id: r.id, ttlSeconds: r.ttlSeconds }
  }

  /** Revokes a lease and deletes every key attached to it, at one revision. */
  async revoke(id: number): Promise<{ header: ResponseHeader }> {
    const outcome = await this.#c.member.propose({ kind: 'leaseRevoke', id }, this.#c.identity())
    return { header: this.#c.header(outcome) }
  }

  /** Renews once (on the leader). ERR_EMBED_NOT_LEADER elsewhere; ERR_LEASE_NOT_FOUND when gone. */
  async keepAliveOnce(id: number): Promise<KeepAliveResponse> {
    if (!this.#c.member.isLeader) {
      throw new EmbedError('ERR_EMBED_NOT_LEADER', `embed: keep-alives run on the leader (member ${this.#c.member.leader}); send it there`, { leader: this.#c.member.leader })
    }
    await this.#c.member.readBarrier()
    const ttlSeconds = this.#c.member.sm.lessor.renew(id)
    return { header: this.#c.header(), id, ttlSeconds }
  }

  /** Keeps `id` alive until cancelled: one renewal now, then one every third of the TTL. */
  keepAlive(id: number, options: { readonly signal?: AbortSignal } = {}): KeepAlive {
    const clock = this.#c.member.o.clock
    let timer: Timer | undefined
    let wake: (() => void) | undefined
    let cancelled = false
    const cancel = (): void => {
      cancelled = true
      timer?.cancel()
      wake?.()
    }
    options.signal?.addEventListener('abort', cancel, { once: true })
    const once = (): Promise<KeepAliveResponse> => this.keepAliveOnce(id)
    return {
      cancel,
      async *[Symbol.asyncIterator]() {
        try {
          while (!cancelled) {
            const r = await once()
            yield r
            await new Promise<void>((resolve) => {
              wake = resolve
              timer = clock.setTimer(Math.max(1, (r.ttlSeconds * 1000) / 3), resolve)
            })
          }
        } finally {
          cancel()
        }
      },
    }
  }

  /** Seconds left (on the leader; elsewhere the granted TTL, `authoritative: false`), with the keys if asked. */
  async timeToLive(id: number, options: { readonly keys?: boolean } = {}): Promise<{ header: ResponseHeader; id: number; ttlSeconds: number; grantedTtlSeconds: number; keys: readonly Uint8Array[] | undefined }> {
    await this.#c.member.readBarrier()
    const t = this.#c.member.sm.lessor.timeToLive(id, { keys: options.keys === true })
    return { header: this.#c.header(), id, ttlSeconds: t.ttl, grantedTtlSeconds: t.grantedTtl, keys: t.keys }
  }

  /** Every lease's id. */
  async leases(): Promise<{ header: ResponseHeader; leases: { id: number }[] }> {
    await this.#c.member.readBarrier()
    return { header: this.#c.header(), leases: this.#c.member.sm.lessor.leases().map((l) => ({ id: l.id })) }
  }
}
