import assert from 'node:assert'
import { randomBelow, type Clock, type Rng } from '@strata/seams'
import { AuthError, invalidArgument, invalidOption } from './errors.js'
import { intOption, objectOption, optionsObject } from './options.js'
import type { AuthInfo, TokenProvider } from './token-provider.js'

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'
const PREFIX_LENGTH = 16
/** A token's TTL is pushed back at most once per this many ms of use (etcd's 1 s resolution). */
const REFRESH_RESOLUTION_MS = 1000
/** The longest TTL accepted: 10 years, in ms. */
const MAX_TTL_MS = 10 * 365 * 24 * 3600 * 1000

export interface SimpleTokenOptions {
  /** Source of the token's 16 random letters. Required (AuthStore passes its own `rng`). */
  readonly rng: Rng
  /** Time for TTLs, in ms (only `now()` is used). Required (AuthStore passes its own `clock`). */
  readonly clock: Pick<Clock, 'now'>
  /** A token unused for this many ms expires; an integer in [1, 10 years]. Default 300,000 ms (etcd's --auth-token-ttl 300 s). */
  readonly ttlMs?: number
  /** Most live tokens, in [1, 100,000,000]; assigning one more fails with ERR_AUTH_LIMIT. Default 1,000,000 tokens. */
  readonly maxTokens?: number
}

interface Entry {
  readonly username: string
  /** Invariant: now() < expiresAt while the entry is in the map, checked lazily on access. */
  readonly expiresAt: number
}

/**
 * Simple tokens (etcd's tokenSimple): `<16 random letters>.<raft index>`, held in memory on the
 * member that issued them, valid until unused for the TTL.
 *
 * Expiry needs no timer: the map is kept in order of last refresh, so with one TTL it is also
 * in order of expiry, and every call first drops the expired entries at its head.
 */
export class SimpleTokenProvider implements TokenProvider {
  readonly #rng: Rng
  readonly #clock: Pick<Clock, 'now'>
  readonly #ttlMs: number
  readonly #maxTokens: number
  /** Invariant: insertion order is non-decreasing expiresAt. */
  readonly #tokens = new Map<string, Entry>()
  /** Invariant: token t is in #byUser.get(u) exactly when #tokens.get(t)?.username === u. */
  readonly #byUser = new Map<string, Set<string>>()

  constructor(options: SimpleTokenOptions) {
    const o = optionsObject('SimpleTokenProvider', options)
    const rng = objectOption('SimpleTokenProvider', 'rng', o.rng, ['nextU32'])
    const clock = objectOption('SimpleTokenProvider', 'clock', o.clock, ['now'])
    if (rng === undefined) throw invalidOption('SimpleTokenProvider', 'rng', 'an Rng (cryptoRng() from @strata/seams)', rng)
    if (clock === undefined) throw invalidOption('SimpleTokenProvider', 'clock', 'a Clock (systemClock from @strata/seams)', clock)
    this.#rng = rng
    this.#clock = clock
    this.#ttlMs = intOption('SimpleTokenProvider', 'ttlMs', o.ttlMs, 300_000, 1, MAX_TTL_MS)
    this.#maxTokens = intOption('SimpleTokenProvider', 'maxTokens', o.maxTokens, 1_000_000, 1, 100_000_000)
  }

  /** Live (unexpired) tokens. */
  get size(): number {
    this.#sweep(this.#clock.now())
    return this.#tokens.size
  }

  assign(info: AuthInfo, options: { readonly index?: number } = {}): string {
    const index = options.index ?? 0
    if (!Number.isSafeInteger(index) || index < 0) throw invalidArgument('the token index', 'a safe non-negative integer (the raft index of the authenticate entry)', index)
    const now = this.#clock.now()
    this.#sweep(now)
    if (this.#tokens.size >= this.#maxTokens) {
      throw new AuthError('ERR_AUTH_LIMIT', `auth: ${this.#tokens.size} simple tokens are live (maxTokens)`, { maxTokens: this.#maxTokens })
    }
    let token: string
    do {
      let prefix = ''
      for (let i = 0; i < PREFIX_LENGTH; i++) prefix += LETTERS[randomBelow(this.#rng, LETTERS.length)]
      token = `${prefix}.${index}`
    } while (this.#tokens.has(token))
    this.#tokens.set(token, { username: info.username, expiresAt: now + this.#ttlMs })
    let set = this.#byUser.get(info.username)
    if (set === undefined) this.#byUser.set(info.username, (set = new Set()))
    set.add(token)
    return token
  }

  info(token: string, currentRevision: number): AuthInfo | undefined {
    const now = this.#clock.now()
    this.#sweep(now)
    const entry = this.#tokens.get(token)
    if (entry === undefined) return undefined
    // Refresh on use: move to the tail with a new expiry, which keeps the map in expiry order.
    if (now + this.#ttlMs - entry.expiresAt >= REFRESH_RESOLUTION_MS) {
      this.#tokens.delete(token)
      this.#tokens.set(token, { username: entry.username, expiresAt: now + this.#ttlMs })
    }
    return { username: entry.username, revision: currentRevision }
  }

  /** The raft index a simple token carries (the index of its authenticate entry), or undefined. */
  static indexOf(token: string): number | undefined {
    const m = /^[a-zA-Z]{16}\.(\d{1,16})$/.exec(token)
    if (m === null) return undefined
    const index = Number(m[1])
    return Number.isSafeInteger(index) ? index : undefined
  }

  invalidateUser(username: string): void {
    const set = this.#byUser.get(username)
    if (set === undefined) return
    for (const token of set) this.#tokens.delete(token)
    this.#byUser.delete(username)
  }

  invalidateAll(): void {
    this.#tokens.clear()
    this.#byUser.clear()
  }

  #sweep(now: number): void {
    for (const [token, entry] of this.#tokens) {
      if (entry.expiresAt > now) break
      this.#tokens.delete(token)
      const set = this.#byUser.get(entry.username)
      assert.ok(set !== undefined && set.delete(token), 'simple token missing from its user index')
      if (set.size === 0) this.#byUser.delete(entry.username)
    }
  }
}
