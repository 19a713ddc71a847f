import { createHash } from 'node:crypto'
import type { ResponseHeader, Store, StoreView } from '@strata/embed'
import { hasCode } from '@strata/seams'
import type { PbHeader } from './codec.js'
import { ServerError } from '../peer/errors.js'
import { intOption, objectOption, stringOption, stringsOption } from './options.js'

/** What a transport hands every handler besides the request: the caller's `token` metadata. */
export interface CallContext {
  /** The value of the `token` metadata key (from Authenticate), if the call carried one. */
  readonly token?: string | undefined
}

/**
 * Reaches the leader for the calls only it answers (etcd forwards lease renewals and lease
 * time-to-live to the leader). `urls` are the leader's published client URLs.
 */
export interface LeaderForwarder {
  /** Renews lease `id` on the leader; resolves with the seconds left (0: the lease is gone). */
  keepAlive(urls: readonly string[], id: number): Promise<number>
  /** The leader's view of lease `id`: TTL -1 when it is gone. */
  timeToLive(urls: readonly string[], id: number, keys: boolean): Promise<{ TTL: number; grantedTTL: number; keys: Uint8Array[] }>
}

export interface ApiOptions {
  /** The store the API serves. Required. */
  readonly store: Store
  /**
   * The cluster id put in every response header. Default: derived from the member ids the
   * store lists when the handlers are made (equal on every member started with the same
   * initial cluster).
   */
  readonly clusterId?: number
  /** Client URLs reported for this member in MemberList when its record has none. Default none. */
  readonly advertiseClientUrls?: readonly string[]
  /** The `version` Status reports (clients read it to pick features). Default '3.5.0'. */
  readonly version?: string
  /** Interval of a watch's progress notifications when it asked for them, in ms. Default 600,000 (etcd's 10 min). */
  readonly watchProgressNotifyIntervalMs?: number
  /** A fragmenting watch splits a response whose events exceed this many bytes. Default 1,572,864 (etcd's max request bytes). */
  readonly watchFragmentBytes?: number
  /** Watches one Watch stream may hold at once. Default 10,000. */
  readonly maxWatchesPerStream?: number
  /** Authenticated views kept for reuse (one per token). Default 1,024. */
  readonly maxCachedTokens?: number
  /** How a follower reaches the leader for keep-alives and time-to-live; without it a follower answers "etcdserver: not leader". */
  readonly forwarder?: LeaderForwarder
}

/** The state every handler shares: the store, the header it answers with, views per token. */
export class ApiContext {
  readonly store: Store
  readonly clusterId: number
  readonly version: string
  readonly advertiseClientUrls: readonly string[]
  readonly watchProgressNotifyIntervalMs: number
  readonly watchFragmentBytes: number
  readonly maxWatchesPerStream: number
  readonly forwarder: LeaderForwarder | undefined
  readonly #maxCachedTokens: number
  readonly #views = new Map<string, StoreView>()

  constructor(o: ApiOptions) {
    if (typeof o !== 'object' || o === null) throw new ServerError('ERR_SERVER_INVALID_OPTION', 'server: options must be an object with at least { store }')
    objectOption(o, 'store', ['as', 'get', 'put', 'watch'], true)
    intOption(o, 'clusterId', 0)
    stringsOption(o, 'advertiseClientUrls')
    stringOption(o, 'version')
    intOption(o, 'watchProgressNotifyIntervalMs', 1)
    intOption(o, 'watchFragmentBytes', 1)
    intOption(o, 'maxWatchesPerStream', 1)
    intOption(o, 'maxCachedTokens', 1)
    objectOption(o, 'forwarder', ['keepAlive', 'timeToLive'])
    this.store = o.store
    this.clusterId = o.clusterId ?? deriveClusterId(o.store.cluster.members().members.map((m) => m.id))
    this.version = o.version ?? '3.5.0'
    this.advertiseClientUrls = o.advertiseClientUrls ?? []
    this.watchProgressNotifyIntervalMs = o.watchProgressNotifyIntervalMs ?? 600_000
    this.watchFragmentBytes = o.watchFragmentBytes ?? 1_572_864
    this.maxWatchesPerStream = o.maxWatchesPerStream ?? 10_000
    this.#maxCachedTokens = o.maxCachedTokens ?? 1_024
    this.forwarder = o.forwarder
  }

  /**
   * The leader's client URLs when `err` is embed's "not leader" and a forwarder can reach the
   * leader; undefined otherwise (the caller rethrows).
   */
  leaderUrls(err: unknown): readonly string[] | undefined {
    if (this.forwarder === undefined || !hasCode(err, 'ERR_EMBED_NOT_LEADER')) return undefined
    const leader = (err as { context?: { leader?: unknown } }).context?.leader
    const urls = this.store.cluster.members().members.find((m) => m.id === leader)?.clientUrls
    return urls !== undefined && urls.length > 0 ? urls : undefined
  }

  /** etcd's ResponseHeader from embed's. */
  header(h: ResponseHeader): PbHeader {
    return { cluster_id: this.clusterId, member_id: h.memberId, revision: h.revision, raft_term: h.raftTerm }
  }

  /**
   * The store as the caller sees it: unauthenticated without a token, the token's user with
   * one. A token the store does not know fails with etcd's "invalid auth token" while auth is
   * on; with auth off a token is ignored, as etcd does.
   */
  async view(ctx: CallContext): Promise<StoreView> {
    const token = ctx.token
    if (token === undefined || token === '') return this.store
    const cached = this.#views.get(token)
    if (cached !== undefined) return cached
    try {
      const v = this.store.as(token)
      if (this.#views.size >= this.#maxCachedTokens) this.#views.delete(this.#views.keys().next().value!)
      this.#views.set(token, v)
      return v
    } catch (err) {
      if (hasCode(err, 'ERR_AUTH_INVALID_TOKEN') && !(await this.store.auth.status()).enabled) return this.store
      throw err
    }
  }

  /**
   * Runs `fn` on the caller's view. A cached token that turned invalid (expired, its user
   * changed, auth disabled) is dropped; with auth now off the call runs unauthenticated (it was
   * refused before anything was proposed, so running it again is safe).
   */
  run<T>(ctx: CallContext, fn: (view: StoreView) => Promise<T> | T): Promise<T> {
    const token = ctx.token
    if (token !== undefined && token !== '') return this.#runAs(ctx, token, fn)
    // No token (most calls): fn's own promise, without an async frame around it (two microtask
    // turns and a promise fewer per call); a synchronous throw still becomes a rejection.
    try {
      return Promise.resolve(fn(this.store))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  async #runAs<T>(ctx: CallContext, token: string, fn: (view: StoreView) => Promise<T> | T): Promise<T> {
    const view = this.#views.get(token) ?? (await this.view(ctx))
    try {
      return await fn(view)
    } catch (err) {
      if (view === this.store || !hasCode(err, 'ERR_AUTH_INVALID_TOKEN')) throw err
      this.#views.delete(ctx.token!)
      if ((await this.store.auth.status()).enabled) throw err
      return await fn(this.store)
    }
  }
}

/** A cluster id from the member ids: the first 6 bytes of a SHA-256 over them, sorted (a safe integer). */
export function deriveClusterId(ids: readonly number[]): number {
  const h = createHash('sha256').update(`strata-cluster:${[...ids].sort((a, b) => a - b).join(',')}`).digest()
  return h.readUIntBE(0, 6)
}
