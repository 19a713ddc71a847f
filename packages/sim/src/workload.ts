// Clients in the style of etcd's robustness tests: a handful of keys, unique values, reads
// (current and at an old revision, single keys and the whole range), writes, deletes,
// compare-and-swap and multi-key txns, lease grants, puts on leases, keep-alives and revokes,
// compactions, and watchers that reconnect to another member and resume where they stopped.
import type { Store } from '@strata/embed'
import type { Prng } from '@strata/testkit'
import type { Incarnation, SimCluster, Slot } from './cluster.js'
import type { History, KvCall, KvResult, KvValue, WatchEventRecord, WatchStream } from './history.js'

export const KEYS = ['k/0', 'k/1', 'k/2', 'k/3', 'k/4']
const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1')

/** Codes that say a write did not happen (refused before it reached the log, or applied as a refusal). */
const DEFINITE = new Set([
  'ERR_EMBED_NO_LEADER', 'ERR_EMBED_TOO_MANY_REQUESTS', 'ERR_EMBED_INVALID_ARGUMENT', 'ERR_EMBED_DUPLICATE_KEY',
  'ERR_EMBED_REQUEST_TOO_LARGE', 'ERR_LEASE_NOT_FOUND', 'ERR_MVCC_COMPACTED', 'ERR_MVCC_FUTURE_REVISION',
])

export interface WorkloadConfig {
  readonly clients: number
  readonly watchers: number
  /** Stop issuing new calls after this many. */
  readonly maxOps: number
  /** Greatest think time between a client's calls (ms). */
  readonly thinkMs: number
  /** A call with no answer after this long (ms) is given up as unknown. */
  readonly callTimeoutMs: number
  readonly leases: boolean
  readonly compactions: boolean
}

class Timeout extends Error {
  readonly code = 'ERR_SIM_CALL_TIMEOUT'
}

export class Workload {
  readonly #cluster: SimCluster
  readonly #history: History
  readonly #prng: Prng
  readonly #config: WorkloadConfig
  #issued = 0
  #stopped = false
  /** Highest revision any answer carried. */
  #maxRevision = 1
  #lastCompaction = 0
  #leaseIds: number[] = []
  readonly #running: Promise<void>[] = []

  constructor(cluster: SimCluster, history: History, prng: Prng, config: WorkloadConfig) {
    this.#cluster = cluster
    this.#history = history
    this.#prng = prng
    this.#config = config
  }

  get issued(): number { return this.#issued }
  get done(): boolean { return this.#issued >= this.#config.maxOps }

  start(): void {
    for (let c = 0; c < this.#config.clients; c++) this.#running.push(this.#client(c + 1, this.#prng.fork()))
    for (let w = 0; w < this.#config.watchers; w++) this.#running.push(this.#watcher(w + 1, this.#prng.fork()))
  }

  /** Stops issuing calls; clients finish (or time out) what they started. */
  stop(): void { this.#stopped = true }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => void this.#cluster.clock.setTimer(ms, resolve))
  }

  #pick(prng: Prng): Slot | undefined {
    const live = this.#cluster.live()
    return live.length === 0 ? undefined : live[prng.int(live.length)]
  }

  async #withTimeout<T>(p: Promise<T>): Promise<T> {
    let timer: { cancel(): void } | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = this.#cluster.clock.setTimer(this.#config.callTimeoutMs, () => reject(new Timeout('sim: no answer in time')))
    })
    try {
      return await Promise.race([p, timeout])
    } finally {
      timer?.cancel()
    }
  }

  #seen(revision: number): void {
    if (revision > this.#maxRevision) this.#maxRevision = revision
  }

  #genCall(client: number, seq: number, prng: Prng): KvCall | 'lease' | 'compact' {
    const key = KEYS[prng.int(KEYS.length)]!
    const value = `${client}.${seq}`
    const r = prng.int(100)
    if (r < 22) return { kind: 'get', key }
    if (r < 30) return { kind: 'range' }
    if (r < 36 && this.#maxRevision > this.#lastCompaction + 1) {
      const from = this.#lastCompaction + 1
      return { kind: 'get', key, revision: from + prng.int(this.#maxRevision - from + 1) }
    }
    if (r < 62) return { kind: 'put', key, value }
    if (r < 70) return { kind: 'delete', key }
    if (r < 84) return { kind: 'cas', key, expect: prng.bool(0.2) ? null : `${1 + prng.int(this.#config.clients)}.${Math.max(0, seq - 1 - prng.int(4))}`, value }
    if (r < 90) {
      const other = KEYS[(KEYS.indexOf(key) + 1 + prng.int(KEYS.length - 1)) % KEYS.length]!
      return { kind: 'txn', puts: [[key, value], [other, `${value}b`]] }
    }
    if (r < 98 && this.#config.leases) return 'lease'
    if (this.#config.compactions) return 'compact'
    return { kind: 'get', key }
  }

  async #client(client: number, prng: Prng): Promise<void> {
    for (let seq = 1; !this.#stopped && this.#issued < this.#config.maxOps; seq++) {
      await this.#sleep(prng.int(this.#config.thinkMs + 1))
      if (this.#stopped) return
      const slot = this.#pick(prng)
      if (slot === undefined) {
        await this.#sleep(20)
        continue
      }
      const inc = slot.run!
      const store = inc.store!
      const call = this.#genCall(client, seq, prng)
      this.#issued++
      if (call === 'lease') await this.#leaseCall(store, inc, prng)
      else if (call === 'compact') await this.#compact(store, inc)
      else await this.#kvCall(client, slot.id, store, inc, call)
    }
  }

  async #kvCall(client: number, member: number, store: Store, inc: Incarnation, call: KvCall): Promise<void> {
    const op = this.#history.begin(client, member, call, this.#cluster.clock.now())
    try {
      const result = await this.#withTimeout(this.#invoke(store, call))
      if (!inc.alive) return // answered by a process that is already dead: the client never hears it
      op.returned = this.#cluster.clock.now()
      op.status = 'ok'
      op.result = result
      this.#seen(result.revision)
    } catch (err) {
      const code = (err as { code?: string }).code ?? String(err)
      op.error = code
      const isRead = call.kind === 'get' || call.kind === 'range'
      if (isRead || DEFINITE.has(code)) {
        op.status = 'fail'
        op.returned = this.#cluster.clock.now()
      }
      // No leader: back off for about an election instead of failing call after call.
      if (code === 'ERR_EMBED_NO_LEADER') await this.#sleep(50)
    }
  }

  async #invoke(store: Store, call: KvCall): Promise<KvResult> {
    const kv = (k: { value: Uint8Array; modRevision: number } | undefined): KvValue | null => (k === undefined ? null : { value: text(k.value), modRevision: k.modRevision })
    switch (call.kind) {
      case 'get': {
        const r = await store.get(call.key, call.revision === undefined ? {} : { revision: call.revision })
        return { kind: 'get', kv: kv(r.kvs[0]), revision: r.header.revision }
      }
      case 'range': {
        const r = await store.get('k/', { prefix: true })
        const kvs = new Map<string, KvValue>()
        for (const k of r.kvs) kvs.set(text(k.key), kv(k)!)
        return { kind: 'range', kvs, revision: r.header.revision }
      }
      case 'put': {
        const r = await store.put(call.key, call.value)
        return { kind: 'put', revision: r.header.revision }
      }
      case 'delete': {
        const r = await store.delete(call.key)
        return { kind: 'delete', deleted: r.deleted, revision: r.header.revision }
      }
      case 'cas': {
        const compare = call.expect === null
          ? [{ key: call.key, target: 'version' as const, result: 'equal' as const, value: 0 }]
          : [{ key: call.key, target: 'value' as const, result: 'equal' as const, value: call.expect }]
        const r = await store.txn({ compare, success: [{ put: { key: call.key, value: call.value } }], failure: [{ range: { key: call.key } }] })
        let current: KvValue | null = null
        if (!r.succeeded) {
          const resp = r.responses[0] as { range?: { kvs: { value: Uint8Array; modRevision: number }[] } } | undefined
          current = kv(resp?.range?.kvs[0])
        }
        return { kind: 'cas', succeeded: r.succeeded, revision: r.header.revision, current }
      }
      case 'txn': {
        const r = await store.txn({ success: call.puts.map(([key, value]) => ({ put: { key, value } })) })
        return { kind: 'txn', revision: r.header.revision }
      }
    }
  }

  async #leaseCall(store: Store, inc: Incarnation, prng: Prng): Promise<void> {
    const now = (): number => this.#cluster.clock.now()
    const r = prng.int(10)
    const ids = this.#leaseIds
    try {
      if (r < 4 || ids.length === 0) {
        const at = now()
        const ttl = 1 + prng.int(2)
        const g = await this.#withTimeout(store.lease.grant(ttl))
        if (!inc.alive) return
        ids.push(g.id)
        if (ids.length > 4) ids.shift()
        this.#history.leases.set(g.id, { id: g.id, ttlMs: g.ttlSeconds * 1000, renewedAt: [at], revokedAt: [] })
        await this.#withTimeout(store.put(`l/${g.id}`, `${g.id}`, { lease: g.id }))
        return
      }
      const id = ids[prng.int(ids.length)]!
      const rec = this.#history.leases.get(id)!
      if (r < 8) {
        const at = now()
        await this.#withTimeout(store.lease.keepAliveOnce(id))
        if (inc.alive) rec.renewedAt.push(at)
      } else {
        rec.revokedAt.push(now())
        await this.#withTimeout(store.lease.revoke(id))
      }
    } catch {
      // Lease calls are judged by their effects on the watched keys, not by their answers.
    }
  }

  async #compact(store: Store, inc: Incarnation): Promise<void> {
    const target = this.#maxRevision - 30
    if (target <= this.#lastCompaction + 10) return
    try {
      await this.#withTimeout(store.compact(target))
      if (!inc.alive) return
      this.#lastCompaction = Math.max(this.#lastCompaction, target)
      this.#history.compactions.push(target)
    } catch {
      // A compaction that failed or timed out changes nothing the checkers rely on.
    }
  }

  async #watcher(id: number, prng: Prng): Promise<void> {
    const stream: WatchStream = { id, start: 1, responses: [], compactedGaps: [], resumes: [] }
    this.#history.watches.push(stream)
    let next = 1
    while (!this.#stopped) {
      const slot = this.#pick(prng)
      if (slot === undefined) {
        await this.#sleep(20)
        continue
      }
      const inc = slot.run!
      stream.resumes.push([this.#cluster.clock.now(), next])
      let w: ReturnType<Store['watch']>
      try {
        w = inc.store!.watch('\0', { end: '\0', startRevision: next })
      } catch {
        await this.#sleep(20)
        continue
      }
      // A disconnect after a random time, or as soon as the member dies.
      const until = this.#cluster.clock.now() + 200 + prng.int(2000)
      let timer: { cancel(): void } | undefined
      const poll = (): void => {
        timer = this.#cluster.clock.setTimer(20, () => {
          if (!inc.alive || this.#stopped || this.#cluster.clock.now() >= until) w.cancel()
          else poll()
        })
      }
      poll()
      try {
        for await (const r of w) {
          if (!inc.alive) break
          if (r.compactRevision > 0) {
            stream.compactedGaps.push([next, r.compactRevision - 1])
            next = r.compactRevision
            break
          }
          if (r.events.length === 0) continue
          const events: WatchEventRecord[] = r.events.map((e) => ({ type: e.type, key: text(e.kv.key), value: text(e.kv.value), modRevision: e.kv.modRevision }))
          stream.responses.push({ at: this.#cluster.clock.now(), member: slot.id, revision: r.revision, events })
          next = events[events.length - 1]!.modRevision + 1
          this.#seen(r.revision)
        }
      } catch {
        // The member stopped or closed under the watch: reconnect elsewhere.
      } finally {
        timer?.cancel()
        w.cancel()
      }
    }
  }

  /** Waits for every client and watcher to finish. */
  async drain(): Promise<void> {
    await Promise.all(this.#running)
  }
}
