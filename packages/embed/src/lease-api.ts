import type { ApplyOutcome } from '@strata/apply'
import { newLeaseId } from '@strata/lease'
import type { Timer } from '@strata/seams'
import { EmbedError } from './errors.js'
import type { Identity, Member } from './member.js'
import type { ResponseHeader } from './store.js'

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
  readonly #member: Member
  readonly #identity: () => Identity
  readonly #header: (o?: ApplyOutcome) => ResponseHeader

  constructor(member: Member, identity: () => Identity, header: (o?: ApplyOutcome) => ResponseHeader) {
    this.#member = member
    this.#identity = identity
    this.#header = header
  }

  /** Grants a lease of `ttlSeconds` (raised to the minimum TTL); `id` 0 or absent picks one. */
  async grant(ttlSeconds: number, options: { readonly id?: number } = {}): Promise<{ header: ResponseHeader; id: number; ttlSeconds: number }> {
    const id = options.id ?? newLeaseId(this.#member.o.rng)
    const outcome = await this.#member.propose({ kind: 'leaseGrant', id, ttlSeconds }, this.#identity())
    const r = outcome.response
    if (r?.kind !== 'leaseGrant') throw new Error('unreachable: a grant applied without its response')
    return { header: this.#header(outcome), id: r.id, ttlSeconds: r.ttlSeconds }
  }

  /** Revokes a lease and deletes every key attached to it, at one revision. */
  async revoke(id: number): Promise<{ header: ResponseHeader }> {
    const outcome = await this.#member.propose({ kind: 'leaseRevoke', id }, this.#identity())
    return { header: this.#header(outcome) }
  }

  /** Renews once (on the leader). ERR_EMBED_NOT_LEADER elsewhere; ERR_LEASE_NOT_FOUND when gone. */
  async keepAliveOnce(id: number): Promise<KeepAliveResponse> {
    if (!this.#member.isLeader) {
      throw new EmbedError('ERR_EMBED_NOT_LEADER', `embed: keep-alives run on the leader (member ${this.#member.leader}); send it there`, { leader: this.#member.leader })
    }
    await this.#member.readBarrier()
    const ttlSeconds = this.#member.sm.lessor.renew(id)
    return { header: this.#header(), id, ttlSeconds }
  }

  /** Keeps `id` alive until cancelled: one renewal now, then one every third of the TTL. */
  keepAlive(id: number, options: { readonly signal?: AbortSignal } = {}): KeepAlive {
    const clock = this.#member.o.clock
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
    await this.#member.readBarrier()
    const t = this.#member.sm.lessor.timeToLive(id, { keys: options.keys === true })
    return { header: this.#header(), id, ttlSeconds: t.ttl, grantedTtlSeconds: t.grantedTtl, keys: t.keys }
  }

  /** Every lease's id. */
  async leases(): Promise<{ header: ResponseHeader; leases: { id: number }[] }> {
    await this.#member.readBarrier()
    return { header: this.#header(), leases: this.#member.sm.lessor.leases().map((l) => ({ id: l.id })) }
  }
}
