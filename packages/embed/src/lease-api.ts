import { LeaseError, type LeaseErrorCode, newLeaseId } from '@strata/lease'
import { type MemberId, StrataError, type Timer, hasCode } from '@strata/seams'
import { frame } from './corruption-check.js'
import { EmbedError, type EmbedErrorCode } from './errors.js'
import type { ApiContext, ResponseHeader } from './api-context.js'
import type { Member } from './member.js'

/** Transport frames of forwarded keep-alives (first byte; 0 raft, 1/2 hash check, 3/4 snapshot streams). */
export const FRAME_LEASE_RENEW = 5
export const FRAME_LEASE_RENEWED = 6
/** Forwarded renewals waiting for the leader's answer, and those a leader serves at once; more are refused. */
const MAX_FORWARDED = 1024
/** Errors after which a keep-alive stream tries again (the leader is changing), rather than ending. */
const TRANSIENT = ['ERR_EMBED_NO_LEADER', 'ERR_EMBED_NOT_LEADER', 'ERR_EMBED_TIMEOUT', 'ERR_LEASE_NOT_PRIMARY']

const enc = new TextEncoder()
const dec = new TextDecoder()

/**
 * Keep-alives renew on the leader, whose lessor owns every lease's expiry (etcd §5.6). On a
 * follower the renewal is forwarded: a request frame to the leader over the Transport, answered
 * with the TTL or the error, with a timeout on the member's Clock. etcd forwards LeaseKeepAlive
 * to the leader the same way (an HTTP request to its peer URL), not through the log: a renewal
 * changes only the leader's in-memory expiry, so writing it to every member's WAL would cost a
 * consensus round and a disk sync per keep-alive for nothing the followers use.
 */
export class LeaseRenewal {
  readonly #member: Member
  #nextRequest = 1
  readonly #pending = new Map<number, { resolve: (ttl: number) => void; reject: (e: Error) => void; timer: Timer }>()
  #serving = 0
  #closed = false

  constructor(member: Member) {
    this.#member = member
  }

  /** Renews lease `id` on the leader (here or forwarded); resolves with its TTL in seconds. */
  async renew(id: number): Promise<number> {
    const m = this.#member
    if (m.isLeader) return this.#renewHere(id)
    const leader = m.leader
    const transport = m.o.transport
    if (leader === 0 || transport === undefined) throw new EmbedError('ERR_EMBED_NO_LEADER', 'embed: no leader is known to renew the lease; retry after the election')
    if (this.#pending.size >= MAX_FORWARDED) throw new EmbedError('ERR_EMBED_TOO_MANY_REQUESTS', `embed: ${this.#pending.size} keep-alives wait for the leader; retry later`)
    const request = this.#nextRequest++
    const timeoutMs = Math.min(m.o.requestTimeoutMs, Math.max(200, 2 * m.o.tickMs * m.o.electionTicks))
    return new Promise<number>((resolve, reject) => {
      const timer = m.o.clock.setTimer(timeoutMs, () => {
        this.#pending.delete(request)
        reject(new EmbedError('ERR_EMBED_TIMEOUT', `embed: the leader (member ${leader}) did not answer the keep-alive within ${timeoutMs} ms; retry`, { leader }))
      })
      this.#pending.set(request, { resolve, reject, timer })
      transport.send(leader, frame(FRAME_LEASE_RENEW, enc.encode(JSON.stringify({ request, id }))))
    })
  }

  async #renewHere(id: number): Promise<number> {
    // As etcd's leader: wait until everything committed is applied, so a lease granted just
    // before is found.
    await this.#member.readBarrier()
    return this.#member.sm.lessor.renew(id)
  }

  /** Takes a FRAME_LEASE_RENEW (served if this member leads) or a FRAME_LEASE_RENEWED (an answer). */
  receive(from: MemberId, bytes: Uint8Array): void {
    if (this.#closed) return
    let msg: { request?: unknown; id?: unknown; ttl?: unknown; code?: unknown; message?: unknown }
    try {
      msg = JSON.parse(dec.decode(bytes.subarray(1))) as typeof msg
    } catch {
      return // a damaged frame is dropped; the caller's timeout retries
    }
    if (typeof msg.request !== 'number') return
    if (bytes[0] === FRAME_LEASE_RENEW && typeof msg.id === 'number') {
      if (this.#serving >= MAX_FORWARDED) return
      this.#serving++
      void this.#serve(from, msg.request, msg.id).finally(() => this.#serving--)
      return
    }
    const waiter = this.#pending.get(msg.request)
    if (bytes[0] !== FRAME_LEASE_RENEWED || waiter === undefined) return
    this.#pending.delete(msg.request)
    waiter.timer.cancel()
    if (typeof msg.ttl === 'number') waiter.resolve(msg.ttl)
    else waiter.reject(remoteError(String(msg.code), String(msg.message)))
  }

  async #serve(to: MemberId, request: number, id: number): Promise<void> {
    const m = this.#member
    let answer: { request: number; ttl?: number; code?: string; message?: string }
    try {
      if (!m.isLeader) throw new EmbedError('ERR_EMBED_NOT_LEADER', `embed: member ${m.memberId} no longer leads (member ${m.leader} does); retry`, { leader: m.leader })
      answer = { request, ttl: await this.#renewHere(id) }
    } catch (err) {
      answer = { request, code: err instanceof StrataError ? err.code : 'ERR_EMBED_STOPPED', message: (err as Error).message }
    }
    if (!this.#closed) m.o.transport?.send(to, frame(FRAME_LEASE_RENEWED, enc.encode(JSON.stringify(answer))))
  }

  /** Fails every renewal still waiting (ERR_EMBED_CLOSED). */
  close(): void {
    this.#closed = true
    for (const w of this.#pending.values()) {
      w.timer.cancel()
      w.reject(new EmbedError('ERR_EMBED_CLOSED', 'embed: the store closed before the leader answered the keep-alive'))
    }
    this.#pending.clear()
  }
}

/** The leader's error, with its code, on this side. */
function remoteError(code: string, message: string): Error {
  if (code.startsWith('ERR_LEASE_')) return new LeaseError(code as LeaseErrorCode, message)
  if (code.startsWith('ERR_EMBED_')) return new EmbedError(code as EmbedErrorCode, message)
  return new StrataError(code, message)
}

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
 * leader only (not through the log), as in etcd, forwarded there from any member
 * ({@link LeaseRenewal}); expiry is proposed by the leader's lessor.
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

  /**
   * Renews once, on the leader (forwarded there from a follower). ERR_LEASE_NOT_FOUND when the
   * lease is gone; ERR_EMBED_NO_LEADER / ERR_EMBED_TIMEOUT / ERR_LEASE_NOT_PRIMARY while the
   * leader changes (retry).
   */
  async keepAliveOnce(id: number): Promise<KeepAliveResponse> {
    this.#c.member.ensureOpen()
    const ttlSeconds = await this.#c.member.leaseRenewal.renew(id)
    return { header: this.#c.header(), id, ttlSeconds }
  }

  /**
   * Keeps `id` alive until cancelled: one renewal now, then one every third of the TTL. While
   * the leader changes it retries (two ticks after each failed attempt; a forwarded attempt waits
   * at most two election timeouts for the leader's answer); it ends with
   * ERR_LEASE_NOT_FOUND once the lease is gone, or with the store's error when it closes.
   */
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
    const o = this.#c.member.o
    const retryMs = Math.max(1, o.tickMs * 2)
    const sleep = (ms: number): Promise<void> => new Promise<void>((resolve) => {
      wake = resolve
      timer = clock.setTimer(ms, resolve)
    })
    return {
      cancel,
      async *[Symbol.asyncIterator]() {
        try {
          while (!cancelled) {
            let r: KeepAliveResponse
            try {
              r = await once()
            } catch (err) {
              if (!TRANSIENT.some((code) => hasCode(err, code))) throw err
              await sleep(retryMs)
              continue
            }
            yield r
            await sleep(Math.max(1, (r.ttlSeconds * 1000) / 3))
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
