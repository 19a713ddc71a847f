// Lessor benchmarks: grant+revoke throughput, tick cost with many live leases, the #11731
// follower queue, promote with 1M leases, recovery, and heap bytes per lease. Each figure runs
// next to a naive baseline (a plain Map, a lessor that scans every lease, and the pre-#11731
// lessor that queues every grant on every member). BENCH_QUICK=1 shortens everything but the
// 1M promote, whose headline figure is defined at 1M.
import { runInNewContext } from 'node:vm'
import { setFlagsFromString } from 'node:v8'
import { Bench } from 'tinybench'
import { MemoryBackend } from '@strata/backend'
import type { Backend } from '@strata/backend'
import type { Clock } from '@strata/seams'
import { opsPerSecond, printResult, quick, runBench } from '@strata/testkit'
import { Lessor } from '../src/index.js'
import { LeaseQueue, encodeLeaseKey, encodeLeaseRecord, spreadExpiries } from '../src/internal.js'
import type { QueueEntry } from '../src/internal.js'

const entry = (id: number): QueueEntry => ({ id, expiryPos: -1, checkpointPos: -1 })

/** Virtual time that a benchmark moves by hand; the backend's batch timer never fires. */
class BenchClock implements Clock {
  t = 0
  now(): number {
    return this.t
  }
  setTimer(): { cancel(): void } {
    return { cancel() {} }
  }
}

const gc: () => void = (globalThis as { gc?: () => void }).gc ?? (setFlagsFromString('--expose-gc'), runInNewContext('gc') as () => void)

function heapUsed(): number {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

/**
 * The naive lessor: a Map of leases that finds expired leases by scanning all of them, and —
 * like etcd 3.4.0–3.4.5 — queues every grant on every member and never unqueues on revoke.
 */
class NaiveLessor {
  readonly leases = new Map<number, { ttl: number; expiry: number }>()
  readonly queue = new LeaseQueue<QueueEntry>('expiry')
  readonly #backend: Backend
  readonly #clock: Clock
  constructor(backend: Backend, clock: Clock) {
    this.#backend = backend
    this.#clock = clock
  }
  grant(id: number, ttl: number): void {
    this.#backend.write((tx) => tx.put('lease', encodeLeaseKey(id), encodeLeaseRecord({ id, ttl, remainingTtl: 0 })))
    const expiry = this.#clock.now() + ttl * 1000
    this.leases.set(id, { ttl, expiry })
    this.queue.push(entry(id), expiry) // the #11731 leak: registered on followers too, never removed
  }
  revoke(id: number): void {
    this.#backend.write((tx) => tx.delete('lease', encodeLeaseKey(id)))
    this.leases.delete(id)
  }
  expired(): number[] {
    const now = this.#clock.now()
    const out: number[] = []
    for (const [id, l] of this.leases) if (l.expiry <= now) out.push(id)
    return out
  }
}

async function grantRevokeThroughput(): Promise<void> {
  const clock = new BenchClock()
  const follower = await Lessor.open(new MemoryBackend({ clock }), { clock })
  const primary = await Lessor.open(new MemoryBackend({ clock }), { clock })
  primary.promote(0)
  const naive = new NaiveLessor(new MemoryBackend({ clock }), clock)
  let id = 1
  const bench = new Bench({ name: 'grant+revoke (one lease granted and revoked per op)', time: quick ? 200 : 1500 })
  bench.add('lessor, non-primary', () => { follower.grant(id, 60); follower.revoke(id++) })
  bench.add('lessor, primary (expiry queue)', () => { primary.grant(id, 60); primary.revoke(id++) })
  bench.add('naive Map lessor (baseline)', () => { naive.grant(id, 60); naive.revoke(id++) })
  await runBench(bench)
  const ours = opsPerSecond(bench, 'lessor, primary (expiry queue)')
  const base = opsPerSecond(bench, 'naive Map lessor (baseline)')
  printResult('lease.grant_revoke.primary.ops', Math.round(ours), 'ops/s')
  printResult('lease.grant_revoke.follower.ops', Math.round(opsPerSecond(bench, 'lessor, non-primary')), 'ops/s')
  printResult('lease.grant_revoke.vs_naive', ours / base, 'x')
}

async function tickWithManyLeases(): Promise<void> {
  const n = quick ? 20_000 : 100_000
  const clock = new BenchClock()
  const lessor = await Lessor.open(new MemoryBackend({ clock }), { clock })
  const naive = new NaiveLessor(new MemoryBackend({ clock }), clock)
  lessor.promote(0)
  for (let id = 1; id <= n; id++) { lessor.grant(id, 3600); naive.grant(id, 3600) }
  const bench = new Bench({ name: `expiry check with ${n} live leases, none due`, time: quick ? 200 : 1000 })
  bench.add('lessor.tick (heap peek)', () => { lessor.tick() })
  bench.add('naive scan of every lease (baseline)', () => { naive.expired() })
  await runBench(bench)
  printResult('lease.tick.vs_naive_scan', opsPerSecond(bench, 'lessor.tick (heap peek)') / opsPerSecond(bench, 'naive scan of every lease (baseline)'), 'x')
}

async function followerQueueAfter100k(): Promise<void> {
  const clock = new BenchClock()
  const lessor = await Lessor.open(new MemoryBackend({ clock }), { clock })
  const naive = new NaiveLessor(new MemoryBackend({ clock }), clock)
  const before = heapUsed()
  for (let id = 1; id <= 100_000; id++) { lessor.grant(id, 10); lessor.revoke(id) }
  const grown = heapUsed() - before
  for (let id = 1; id <= 100_000; id++) { naive.grant(id, 10); naive.revoke(id) }
  console.log(`\nfollower after 100,000 grant+revoke: lessor queue ${lessor.stats().expiryQueue} items, heap ${(grown / 1e6).toFixed(2)} MB; pre-#11731 baseline queue ${naive.queue.size} items`)
  printResult('lease.follower.heap_after_100k', lessor.stats().expiryQueue, 'items')
  printResult('lease.follower.naive_heap_after_100k', naive.queue.size, 'items')
}

/** A backend whose `lease` bucket holds `n` leases with TTLs 10..69 s, written in one batch. */
function backendWithLeases(n: number, clock: Clock): MemoryBackend {
  const backend = new MemoryBackend({ clock, batchLimit: n + 1 })
  backend.write((tx) => {
    for (let id = 1; id <= n; id++) tx.put('lease', encodeLeaseKey(id), encodeLeaseRecord({ id, ttl: 10 + (id % 60), remainingTtl: 0 }))
  })
  return backend
}

/**
 * The etcd-shaped promote as a baseline, over the naive lessor's Map of 1M leases: compute every
 * expiry, sort the leases by it, spread, then register one freshly allocated queue item per
 * lease with a sift-up each.
 */
function naivePromote(n: number, now: number): number {
  const leases = new Map<number, { ttl: number; expiry: number }>()
  for (let id = 1; id <= n; id++) leases.set(id, { ttl: 10 + (id % 60), expiry: Infinity })
  gc()
  const t0 = performance.now()
  const all = [...leases].map(([id, l]) => { l.expiry = now + 1000 + l.ttl * 1000; return { id, l } })
  all.sort((a, b) => a.l.expiry - b.l.expiry)
  const times = Float64Array.from(all, (x) => x.l.expiry)
  spreadExpiries(times, 750)
  const queue = new LeaseQueue<QueueEntry>('expiry')
  for (let i = 0; i < all.length; i++) {
    all[i]!.l.expiry = times[i]!
    queue.push(entry(all[i]!.id), times[i]!)
  }
  return performance.now() - t0
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

async function promoteAndMemory(): Promise<void> {
  const n = 1_000_000
  const clock = new BenchClock()
  const backend = backendWithLeases(n, clock)
  const base = heapUsed()
  let t0 = performance.now()
  const lessor = await Lessor.open(backend, { clock })
  const recoverMs = performance.now() - t0
  const followerBytes = heapUsed() - base
  const runs = quick ? 1 : 3
  const promoteMs: number[] = []
  for (let r = 0; r < runs; r++) {
    lessor.demote()
    gc()
    t0 = performance.now()
    lessor.promote(1000)
    promoteMs.push(performance.now() - t0)
  }
  const primaryBytes = heapUsed() - base
  if (lessor.stats().expiryQueue !== n) throw new Error('promote did not queue every lease')
  const mid = median(promoteMs)
  console.log(`\n1M leases: recover ${recoverMs.toFixed(0)} ms; promote ${promoteMs.map((m) => m.toFixed(0)).join(', ')} ms (median ${mid.toFixed(0)})`)
  console.log(`heap per lease (lessor only, backend excluded): follower ${(followerBytes / n).toFixed(0)} B, primary ${(primaryBytes / n).toFixed(0)} B`)
  printResult('lease.promote.1M.ms', Math.round(mid), 'ms')
  printResult('lease.recover.1M.ms', Math.round(recoverMs), 'ms')
  printResult('lease.heap_bytes_per_lease.follower', Math.round(followerBytes / n), 'B')
  printResult('lease.heap_bytes_per_lease.primary', Math.round(primaryBytes / n), 'B')
  lessor.demote()
  printResult('lease.heap_bytes_per_lease.after_demote', Math.round((heapUsed() - base) / n), 'B')
  lessor.promote(1000) // keep it alive through the baseline, as a member would
  const naiveMs: number[] = []
  for (let r = 0; r < runs; r++) naiveMs.push(naivePromote(n, clock.now()))
  console.log(`naive etcd-shaped promote of 1M leases: ${naiveMs.map((m) => m.toFixed(0)).join(', ')} ms`)
  printResult('lease.promote.vs_naive', median(naiveMs) / mid, 'x')
}

await grantRevokeThroughput()
await tickWithManyLeases()
await followerQueueAfter100k()
await promoteAndMemory()
