import type { ApplyOutcome, ApplyResponse, Member as MemberRecord, RequestBody, TxnBody, TxnOp } from '@strata/apply'
import { newLeaseId } from '@strata/lease'
import type { DeleteResult, KeyValue, RangeOptions, RangeResult, TxnResult, WatchResponse } from '@strata/mvcc'
import type { Bytes } from '@strata/backend'
import { EmbedError } from './errors.js'
import { type Identity, Member } from './member.js'
import { type OpenOptions, resolveOptions } from './options.js'
import { LeaseApi } from './lease-api.js'
import { AuthApi } from './auth-api.js'
import { MaintenanceApi } from './maintenance-api.js'
import { ClusterApi } from './cluster-api.js'

import type { ResponseHeader } from './api-context.js'
export type { ResponseHeader }

export interface GetOptions extends RangeOptions {
  /** Every key with `key` as a prefix. Default false. */
  readonly prefix?: boolean
  /** The end of the range `[key, end)` ('\0': every key from `key` on). */
  readonly end?: Bytes
  /** Read locally without a ReadIndex round: may be stale on a follower. Default false (linearizable). */
  readonly serializable?: boolean
}

export interface PutRequestOptions {
  readonly lease?: number
  readonly prevKv?: boolean
  readonly ignoreValue?: boolean
  readonly ignoreLease?: boolean
}

export interface DeleteRequestOptions {
  readonly prefix?: boolean
  readonly end?: Bytes
  readonly prevKv?: boolean
}

export interface WatchRequestOptions {
  readonly prefix?: boolean
  readonly end?: Bytes
  readonly startRevision?: number
  readonly prevKv?: boolean
  readonly noPut?: boolean
  readonly noDelete?: boolean
  /** Send a progress notification (an empty response with the current revision) every this many ms while idle. Default: none. */
  readonly progressNotifyMs?: number
  /** Cancels the watch when aborted. */
  readonly signal?: AbortSignal
}

/** A watch: an async iterable of responses, each with a header; `cancel()` ends it. */
export interface Watch extends AsyncIterable<WatchResponse & { readonly header: ResponseHeader }> {
  readonly id: number
  cancel(): void
  /** Asks for a progress notification now. */
  requestProgress(): void
}

/** The prefix range end: the key with its last byte below 0xff incremented (etcd's GetPrefixRangeEnd). */
export function prefixEnd(key: Bytes): Uint8Array {
  const k = typeof key === 'string' ? new TextEncoder().encode(key) : key
  for (let i = k.length - 1; i >= 0; i--) {
    if (k[i]! < 0xff) {
      const end = k.slice(0, i + 1)
      end[i]!++
      return end
    }
  }
  return Uint8Array.of(0)
}

function rangeEnd(key: Bytes, o: { readonly prefix?: boolean; readonly end?: Bytes }): Bytes | undefined {
  if (o.prefix === true && o.end !== undefined) throw new EmbedError('ERR_EMBED_INVALID_ARGUMENT', 'embed: pass either prefix or end, not both')
  return o.prefix === true ? prefixEnd(key) : o.end
}

// Buffer's latin1 decoder on the caller's bytes, without the copy Buffer.from(bytes) made.
const latin1Slice = Buffer.prototype.latin1Slice as (this: Uint8Array, start: number, end: number) => string
const ASCII = /^[\x00-\x7f]*$/

/** A key as the latin1 text of its UTF-8 bytes (one char per byte): an ASCII string is that already. */
const latin1 = (b: Bytes): string => (typeof b === 'string' ? (ASCII.test(b) ? b : Buffer.from(b).toString('latin1')) : latin1Slice.call(b, 0, b.length))

/** The keys a branch puts and the ranges it deletes, nested txns' branches included. */
function branchWrites(ops: readonly TxnOp[]): { puts: Set<string>; dels: [string, string | undefined][] } {
  const puts = new Set<string>()
  const dels: [string, string | undefined][] = []
  for (const op of ops) {
    if ('put' in op) {
      const k = latin1(op.put.key)
      if (puts.has(k)) throw duplicateKey()
      puts.add(k)
    } else if ('deleteRange' in op) {
      dels.push([latin1(op.deleteRange.key), op.deleteRange.end === undefined ? undefined : latin1(op.deleteRange.end)])
    } else if ('txn' in op) {
      // The then and else of a nested txn may reuse a key; each must not clash with this branch.
      const nested = [branchWrites(op.txn.success ?? []), branchWrites(op.txn.failure ?? [])]
      const union = new Set<string>()
      for (const n of nested) {
        for (const k of n.puts) {
          if (puts.has(k)) throw duplicateKey()
          union.add(k)
        }
        dels.push(...n.dels)
      }
      for (const k of union) puts.add(k)
    }
  }
  for (const k of puts) {
    for (const [from, to] of dels) {
      const inside = to === undefined ? k === from : to === '\0' ? k >= from : k >= from && k < to
      if (inside) throw duplicateKey()
    }
  }
  return { puts, dels }
}

function duplicateKey(): EmbedError {
  return new EmbedError('ERR_EMBED_DUPLICATE_KEY', 'embed: a txn branch writes the same key twice (two puts, or a put inside a deleted range); etcd: duplicate key given in txn request')
}

/** etcd's ErrDuplicateKey, checked before proposing: a branch may not write one key twice. */
function checkTxnDuplicates(t: TxnBody): void {
  branchWrites(t.success ?? [])
  branchWrites(t.failure ?? [])
}

function checkKey(key: unknown): asserts key is Bytes {
  if (typeof key !== 'string' && !(key instanceof Uint8Array)) throw new EmbedError('ERR_EMBED_INVALID_ARGUMENT', `embed: a key must be a string or a Uint8Array, got ${typeof key}`)
  if (key.length === 0) throw new EmbedError('ERR_EMBED_INVALID_ARGUMENT', 'embed: a key must not be empty (etcd: key is not provided)')
}

/**
 * The KV, watch, lease, auth, maintenance and cluster API as one identity sees it. `open()`
 * returns the unauthenticated view; `store.as(token)` one that acts as the token's user.
 */
export class StoreView {
  protected readonly member: Member
  readonly #identity: () => Identity
  readonly lease: LeaseApi
  readonly auth: AuthApi
  readonly maintenance: MaintenanceApi
  readonly cluster: ClusterApi

  protected constructor(member: Member, identity: () => Identity) {
    this.member = member
    this.#identity = identity
    const context = { member, identity, header: (o?: ApplyOutcome) => this.header(o) }
    this.lease = new LeaseApi(context)
    this.auth = new AuthApi(context)
    this.maintenance = new MaintenanceApi(context)
    this.cluster = new ClusterApi(context)
  }

  /** The header of a response answered now (or after `outcome` applied). */
  header(outcome?: ApplyOutcome): ResponseHeader {
    return { revision: outcome?.revision ?? this.member.sm.mvcc.revision, raftTerm: this.member.term, memberId: this.member.memberId }
  }

  async #propose<K extends ApplyResponse['kind']>(body: RequestBody, kind: K): Promise<{ outcome: ApplyOutcome; response: Extract<ApplyResponse, { kind: K }> }> {
    const outcome = await this.member.propose(body, this.#identity())
    return { outcome, response: outcome.response as Extract<ApplyResponse, { kind: K }> }
  }

  /**
   * Not an async function (the hottest call): the member's promise is returned as it is,
   * resolving with the answer #putAnswer makes from the outcome; errors before the proposal
   * reject it, as an async function's would.
   */
  put(key: Bytes, value: Bytes, options?: PutRequestOptions): Promise<{ header: ResponseHeader; prevKv?: KeyValue }> {
    try {
      this.member.ensureOpen()
      checkKey(key)
      if (typeof value !== 'string' && !(value instanceof Uint8Array)) throw new EmbedError('ERR_EMBED_INVALID_ARGUMENT', `embed: a value must be a string or a Uint8Array, got ${typeof value}`)
      this.#checkQuota(key.length + value.length + 256)
      // A put without options builds its body as one literal (no empty default object, no spread).
      const body: RequestBody = options === undefined ? { kind: 'put', key, value } : { kind: 'put', key, value, ...options }
      return this.member.propose(body, this.#identity(), this.#putAnswer)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  readonly #putAnswer = (outcome: ApplyOutcome): { header: ResponseHeader; prevKv?: KeyValue } => {
    const r = (outcome.response as Extract<ApplyResponse, { kind: 'put' }>).result
    return r.prevKv === undefined ? { header: this.header(outcome) } : { header: this.header(outcome), prevKv: r.prevKv }
  }

  /**
   * Reads a key or a range: linearizable by default (a ReadIndex round shared with concurrent
   * reads, then a local read), or `serializable` (local, possibly stale on a follower).
   */
  async get(key: Bytes, options: GetOptions = {}): Promise<Omit<RangeResult, 'revision'> & { header: ResponseHeader }> {
    this.member.ensureOpen()
    checkKey(key)
    const { prefix, end, serializable, ...range } = options
    const stop = rangeEnd(key, { prefix, end })
    if (serializable !== true && this.member.o.plantedBugs.readWithoutReadIndex !== true) await this.member.readBarrier()
    if (this.member.sm.mvcc.restoring) await this.member.restoreBarrier()
    this.#checkRead(key, stop)
    const r = this.member.sm.mvcc.range(key, stop, range)
    return { kvs: r.kvs, count: r.count, more: r.more, header: this.header() }
  }

  async delete(key: Bytes, options: DeleteRequestOptions = {}): Promise<{ header: ResponseHeader; deleted: number; prevKvs?: KeyValue[] }> {
    checkKey(key)
    const { outcome, response } = await this.#propose({ kind: 'deleteRange', key, end: rangeEnd(key, options), prevKv: options.prevKv === true }, 'deleteRange')
    const r: DeleteResult = response.result
    return r.prevKvs === undefined ? { header: this.header(outcome), deleted: r.deleted } : { header: this.header(outcome), deleted: r.deleted, prevKvs: r.prevKvs }
  }

  /** A transaction: compares, then the success or the failure branch, atomically (etcd's Txn). */
  async txn(request: TxnBody): Promise<{ header: ResponseHeader } & Omit<TxnResult, 'revision'>> {
    if (typeof request !== 'object' || request === null) throw new EmbedError('ERR_EMBED_INVALID_ARGUMENT', 'embed: txn takes { compare?, success?, failure? }')
    checkTxnDuplicates(request)
    const { outcome, response } = await this.#propose({ kind: 'txn', txn: request }, 'txn')
    const r: TxnResult = response.result
    return { header: this.header(outcome), succeeded: r.succeeded, responses: r.responses }
  }

  /** Compacts history up to `revision`; with `physical`, waits until the old revisions are gone. */
  async compact(revision: number, options: { readonly physical?: boolean } = {}): Promise<{ header: ResponseHeader }> {
    const { outcome, response } = await this.#propose({ kind: 'compact', revision, physical: options.physical === true }, 'compact')
    if (options.physical === true) await response.done
    return { header: this.header(outcome) }
  }

  /** Watches a key or a range from `startRevision` (default: the next change). */
  watch(key: Bytes, options: WatchRequestOptions = {}): Watch {
    this.member.ensureOpen()
    checkKey(key)
    const end = rangeEnd(key, options)
    this.#checkRead(key, end)
    const w = this.member.sm.watchable.watch(key, {
      end, startRevision: options.startRevision, prevKv: options.prevKv, noPut: options.noPut, noDelete: options.noDelete,
    })
    const member = this.member
    const header = (): ResponseHeader => this.header()
    let progressTimer: { cancel(): void } | undefined
    const armProgress = (): void => {
      if (options.progressNotifyMs === undefined) return
      progressTimer = member.o.clock.setTimer(options.progressNotifyMs, () => {
        member.sm.watchable.requestProgress(w)
        armProgress()
      })
    }
    const cancel = (): void => {
      progressTimer?.cancel()
      w.cancel()
    }
    options.signal?.addEventListener('abort', cancel, { once: true })
    armProgress()
    return {
      id: w.id,
      cancel,
      requestProgress: () => void member.sm.watchable.requestProgress(w),
      async *[Symbol.asyncIterator]() {
        try {
          for await (const r of w) yield { ...r, header: header() }
        } finally {
          cancel()
        }
      },
    }
  }

  /** Permission to read `[key, end)` for this view's identity (auth on). */
  #checkRead(key: Bytes, end: Bytes | undefined): void {
    const id = this.#identity()
    if (!this.member.sm.auth.enabled) return
    this.member.sm.auth.checkPermission(id.username === '' ? undefined : { username: id.username, revision: id.authRevision }, { type: 'read', key, end })
  }

  /** etcd's API-layer quota check: a write that would grow the backend past the quota raises NOSPACE. */
  #checkQuota(cost: number): void {
    const quota = this.member.o.quotaBackendBytes
    if (quota === 0) return
    if (this.member.backendSizeBytes() + cost < quota) return
    void this.member.propose({ kind: 'alarm', action: 'activate', memberId: this.member.memberId, alarm: 'nospace' }).catch(() => {})
    throw new EmbedError('ERR_EMBED_NO_SPACE', `embed: the backend would grow past quotaBackendBytes (${quota}); compact, defragment, then disarm the NOSPACE alarm`)
  }
}

/** An open store: the unauthenticated view plus `as(token)` and `close()`. */
export class Store extends StoreView {
  private constructor(member: Member) {
    super(member, () => ({ username: '', authRevision: member.sm.auth.revision }))
  }

  /** @internal */
  static create(member: Member): Store {
    return new Store(member)
  }

  /** A view that acts as the user of `token` (from `auth.authenticate`); checked on every call. */
  as(token: string): StoreView {
    const member = this.member
    member.sm.auth.authInfoFromToken(token)
    return new TokenView(member, () => {
      const info = member.sm.auth.authInfoFromToken(token)
      return { username: info.username, authRevision: info.revision }
    })
  }

  /** Waits for the work in flight, then releases the directory, files and timers. Idempotent. */
  async close(): Promise<void> {
    await this.member.close()
  }
}

class TokenView extends StoreView {
  constructor(member: Member, identity: () => Identity) {
    super(member, identity)
  }
}

/** Opens (or creates) a store in `options.dir`: one member, or one of a cluster. */
export async function open(options: OpenOptions): Promise<Store> {
  const member = await Member.open(resolveOptions(options))
  return Store.create(member)
}

export { newLeaseId }
export type { MemberRecord }
