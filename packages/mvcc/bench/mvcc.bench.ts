// mvcc benchmarks (issue 5), each side by side with a baseline in the same run:
// 1. put ops/s, against the bare backend write of the same encoded bytes;
// 2. range of 1 key and of 1,000 keys, against raw backend reads of the same entries;
// 3. count-only over 1M keys at the current revision (rank queries), at an older revision (a
//    walk over the index), and with limit 10 (count stays the total), against a naive count
//    that materializes every key-value (what etcd did before #11771);
// 4. restart (index rebuild, the key bucket read on a backend thread) of a store of 1M keys on
//    LmdbBackend, each in a new process (restart-child.ts), against a bare scan of the key
//    bucket and the one-thread rebuild, also in new processes; then, in this process after
//    the other benchmarks, the restart of the same store grown by their writes, and the same
//    rebuild over a MemoryBackend holding the same entries (mvcc's own share);
// 5. physical compaction of 1M revisions with the p50/p99 latency of puts issued meanwhile,
//    against the same put loop with no compaction running.
// Prints `RESULT mvcc.*` lines; BENCH_QUICK=1 uses 100k keys and short windows.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { Bench } from 'tinybench'
import { LmdbBackend, MemoryBackend } from '@strata/backend'
import type { Clock } from '@strata/seams'
import { opsPerSecond, printResult, quick, runBench, tempDir } from '@strata/testkit'
import { MvccStore } from '../src/index.js'
import { encodeKeyValue, encodeRevision } from '../src/internal.js'

const N = quick ? 100_000 : 1_000_000
const LABEL = quick ? '100k' : '1M'
const TIME_MS = quick ? 300 : 2000
/** The batch timer never fires: commits come from the batch limit or explicit calls. */
const benchClock: Clock = { now: () => 0, setTimer: () => ({ cancel() {} }) }
const value = new Uint8Array(32).fill(0x61)
const keyOf = (i: number): string => `key/${String(i).padStart(8, '0')}`

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

function timeIt(runs: number, fn: () => unknown): number {
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    fn()
    times.push(performance.now() - t0)
  }
  return median(times)
}

const dir = await tempDir('strata-mvcc-bench-')
let backend = await LmdbBackend.open(join(dir.path, 'db'), { clock: benchClock, batchLimit: 10_000 })
let store = await MvccStore.open(backend)

// Load N keys in txns of 1,000 puts.
const tLoad = performance.now()
for (let i = 0; i < N; i += 1000) {
  store.write((txn) => {
    for (let j = i; j < i + 1000 && j < N; j++) txn.put(keyOf(j), value)
  })
}
await backend.commit()
console.log(`loaded ${N} keys in ${(performance.now() - tLoad).toFixed(0)} ms (${store.revision} revisions)`)

// 4 (first part, while the store holds exactly the N keys): restarts in new processes.
interface ChildRun { ms: number; backendMs: number; keys: number; revisions: number }
function restartChild(mode: 'restart' | 'one-thread' | 'scan'): ChildRun {
  const child = fileURLToPath(new URL('./restart-child.ts', import.meta.url))
  const run = spawnSync(process.execPath, [...process.execArgv, child, join(dir.path, 'db'), mode], { encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`restart-child ${mode} failed (${run.status}): ${run.stderr}`)
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as ChildRun
}
await store.close()
await backend.close()
const scanRun = restartChild('scan')
const syncRun = restartChild('one-thread')
const restartRuns = [restartChild('restart'), restartChild('restart'), restartChild('restart')]
for (const r of restartRuns) if (r.keys !== N) throw new Error(`restart found ${r.keys} keys`)
const restartMs = median(restartRuns.map((r) => r.ms))
console.log(`restart of ${N} keys (${scanRun.revisions} revisions), each in a new process: ${restartRuns.map((r) => r.ms.toFixed(0)).join(', ')} ms (backend open ${restartRuns.map((r) => r.backendMs.toFixed(1)).join(', ')} ms of it); bare scan of the key bucket: ${scanRun.ms.toFixed(0)} ms; one-thread rebuild: ${syncRun.ms.toFixed(0)} ms`)
printResult(`mvcc.restart.${LABEL}.ms`, restartMs, 'ms')
printResult(`mvcc.restart_scan_only.${LABEL}.ms`, scanRun.ms, 'ms')
printResult(`mvcc.restart_one_thread.${LABEL}.ms`, syncRun.ms, 'ms')
printResult('mvcc.restart.vs_one_thread', restartMs / syncRun.ms, 'ratio')
backend = await LmdbBackend.open(join(dir.path, 'db'), { clock: benchClock, batchLimit: 10_000 })
store = await MvccStore.open(backend)

// 1 + 2: put and range, side by side with the bare backend.
let putN = 0
let rawN = 0
const bench = new Bench({ name: 'mvcc put and range', time: TIME_MS })
bench.add('mvcc put (1 key, 32 B value)', () => {
  store.put(`put/${putN++ % 10_000}`, value)
})
bench.add('baseline: backend.write of the same encoded entry', () => {
  const rev = { main: 10_000_000 + rawN++, sub: 0 }
  const key = new TextEncoder().encode(`raw/${rawN % 10_000}`)
  const revKey = encodeRevision(rev)
  backend.write((tx) => tx.put('alarm', revKey, encodeKeyValue({ key, value, createRevision: rev.main, modRevision: rev.main, version: 1, lease: 0 }, revKey)))
})
let probe = 0
bench.add('mvcc range of 1 key', () => {
  store.range(keyOf((probe = (probe * 7 + 13) % N)))
})
bench.add('baseline: backend.get of 1 revision', () => {
  backend.read((tx) => tx.get('key', encodeRevision({ main: 2 + Math.floor((probe = (probe * 7 + 13) % N) / 1000), sub: probe % 1000 })))
})
bench.add('mvcc range of 1,000 keys', () => {
  const s = (probe = (probe * 7 + 13) % (N - 1000))
  store.range(keyOf(s), keyOf(s + 1000))
})
bench.add('baseline: backend.range of 1,000 entries', () => {
  const s = (probe = (probe * 7 + 13) % (N - 1000))
  backend.read((tx) => tx.range('key', encodeRevision({ main: 2 + Math.floor(s / 1000), sub: 0 }), undefined, { limit: 1000 }))
})
await runBench(bench)
await backend.commit()
const putOps = opsPerSecond(bench, 'mvcc put (1 key, 32 B value)')
printResult('mvcc.put.ops', Math.round(putOps), 'ops/s')
printResult('mvcc.put.vs_backend', putOps / opsPerSecond(bench, 'baseline: backend.write of the same encoded entry'), 'x')
printResult('mvcc.range.1key.ops', Math.round(opsPerSecond(bench, 'mvcc range of 1 key')), 'ops/s')
printResult('mvcc.range.1000keys.ops', Math.round(opsPerSecond(bench, 'mvcc range of 1,000 keys')), 'ops/s')
printResult('mvcc.range.1000keys.vs_backend', opsPerSecond(bench, 'mvcc range of 1,000 keys') / opsPerSecond(bench, 'baseline: backend.range of 1,000 entries'), 'x')

// 3: count over all N keys, count with a limit, and the naive count.
const countMs = timeIt(quick ? 5 : 15, () => {
  const r = store.range('key/', 'key0', { countOnly: true })
  if (r.count !== N) throw new Error(`count ${r.count}`)
})
const older = store.revision - 1
const walkMs = timeIt(quick ? 3 : 5, () => {
  if (store.range('key/', 'key0', { countOnly: true, revision: older }).count !== N) throw new Error('count at an older revision')
})
const limitMs = timeIt(quick ? 5 : 15, () => {
  const r = store.range('key/', 'key0', { limit: 10 })
  if (r.count !== N || r.kvs.length !== 10 || !r.more) throw new Error('bad limited range')
})
const naiveMs = timeIt(1, () => {
  if (store.range('key/', 'key0', { keysOnly: true }).kvs.length !== N) throw new Error('naive count')
})
console.log(`count of ${N} keys: ${countMs.toFixed(3)} ms; at an older revision (walk): ${walkMs.toFixed(1)} ms; with limit 10: ${limitMs.toFixed(3)} ms; naive (materializing): ${naiveMs.toFixed(0)} ms`)
printResult(`mvcc.count.${LABEL}.ms`, countMs, 'ms')
printResult(`mvcc.count_older_rev_walk.${LABEL}.ms`, walkMs, 'ms')
printResult(`mvcc.count_limit10.${LABEL}.ms`, limitMs, 'ms')
printResult(`mvcc.count_naive.${LABEL}.ms`, naiveMs, 'ms')
printResult('mvcc.count.speedup_vs_naive', naiveMs / countMs, 'x')

// 4 (second part): the restart in this process, of the store grown by the put benchmarks
// (more revisions, 10k keys rewritten many times). Drop the previous store's index (~1M
// KeyIndexes) and collect it first (scripts/bench.mjs passes --expose-gc), so the rebuild's
// garbage collections neither mark it again and again nor sweep it.
const collectGarbage = (globalThis as { gc?: () => void }).gc
await store.close()
await backend.close()
store = undefined as unknown as MvccStore
const grown = restartChild('scan').revisions
collectGarbage?.()
backend = await LmdbBackend.open(join(dir.path, 'db'), { clock: benchClock, batchLimit: 10_000 })
const tInProcess = performance.now()
store = await MvccStore.open(backend)
const inProcessMs = performance.now() - tInProcess
console.log(`restart in this process of the store grown to ${grown} revisions: ${inProcessMs.toFixed(0)} ms`)
printResult(`mvcc.restart_in_process_grown.${LABEL}.ms`, inProcessMs, 'ms')
// mvcc's own share of the restart: the same entries in a MemoryBackend.
const memory = new MemoryBackend({ clock: benchClock, batchLimit: 1_000_000 })
// (the meta bucket too: it holds the record totals the rebuild checks the key bucket against)
backend.read((tx) => memory.write((mtx) => {
  for (const bucket of ['key', 'meta'] as const) tx.forEach(bucket, new Uint8Array(0), undefined, (k, v) => { mtx.put(bucket, k, v) })
}))
await memory.commit()
const tMem = performance.now()
await MvccStore.open(memory)
const restartMemMs = performance.now() - tMem
console.log(`the same rebuild over a MemoryBackend: ${restartMemMs.toFixed(0)} ms`)
printResult(`mvcc.restart_memory_backend.${LABEL}.ms`, restartMemMs, 'ms')
await memory.close()
// The rebuilt index is laid out in key order; count again on it.
const countRebuiltMs = timeIt(quick ? 5 : 15, () => {
  if (store.range('key/', 'key0', { countOnly: true }).count !== N) throw new Error('count after restart')
})
console.log(`count of ${N} keys on the rebuilt index: ${countRebuiltMs.toFixed(1)} ms`)
printResult(`mvcc.count_after_restart.${LABEL}.ms`, countRebuiltMs, 'ms')

// 5: compaction of N revisions (every key overwritten once, compacted to before the overwrite)
// while a put loop runs; each put's latency is from when it was due to when it finished.
async function putLoop(durationOrUntil: () => boolean): Promise<number[]> {
  const lat: number[] = []
  let i = 0
  while (!durationOrUntil()) {
    const due = performance.now()
    await new Promise<void>((r) => setImmediate(r))
    store.put(`loop/${i++ % 1000}`, value)
    lat.push(performance.now() - due)
  }
  return lat
}
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!
const baseEnd = performance.now() + (quick ? 300 : 2000)
const baseLat = await putLoop(() => performance.now() > baseEnd)
const before = store.revision
for (let i = 0; i < N; i += 1000) {
  store.write((txn) => {
    for (let j = i; j < i + 1000 && j < N; j++) txn.put(keyOf(j), value)
  })
}
await backend.commit()
const tCompact = performance.now()
let finished = false
const handle = store.compact(before)
handle.done.then(() => (finished = true), () => (finished = true))
const compactLat = await putLoop(() => finished)
await handle.done
const compactMs = performance.now() - tCompact
console.log(`compaction of ${N} revisions: ${compactMs.toFixed(0)} ms; puts meanwhile: ${compactLat.length}, p50 ${pct(compactLat, 0.5).toFixed(2)} ms, p99 ${pct(compactLat, 0.99).toFixed(2)} ms; without compaction p50 ${pct(baseLat, 0.5).toFixed(2)} ms, p99 ${pct(baseLat, 0.99).toFixed(2)} ms`)
printResult(`mvcc.compact.${LABEL}.ms`, compactMs, 'ms')
printResult('mvcc.compact.put_p99.ms', pct(compactLat, 0.99), 'ms')
printResult('mvcc.idle.put_p99.ms', pct(baseLat, 0.99), 'ms')

await store.close()
await backend.close()
await dir.cleanup()
