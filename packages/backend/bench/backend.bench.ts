// Backend benchmarks (issue 5), each side by side with a raw lmdb-js baseline on the same
// durability settings:
// 1. batched puts: 10,000 write() calls of one put each, committed as one batch (the batch limit),
//    against one raw `transactionSync` loop of the same 10,000 `putSync`s;
// 2. durable single-commit latency: one put + commit(), against one raw `transactionSync` of one put;
// 3. range scans of 1,000 keys out of 100,000 committed ones, against a raw `getRange`, and the
//    same scan with 5,000 pending writes in the overlay merged in.
// Prints `RESULT backend.*` lines; BENCH_QUICK=1 shortens every window.
import { join } from 'node:path'
import { open as openLmdb } from 'lmdb'
import { Bench } from 'tinybench'
import type { Clock } from '@strata/seams'
import { opsPerSecond, printResult, quick, runBench, tempDir } from '@strata/testkit'
import { LmdbBackend, MemoryBackend } from '../src/index.js'

/** The batch timer never fires: every commit here is the batch limit's or an explicit one. */
const benchClock: Clock = { now: () => 0, setTimer: () => ({ cancel() {} }) }
const TIME_MS = quick ? 300 : 3000
const BATCH = 10_000
const value = new Uint8Array(100).fill(0x61)

/** Big-endian u64-ish counter keys (8 bytes), like mvcc's revisions: always appended. */
function keyOf(i: number): Uint8Array {
  const k = new Uint8Array(8)
  new DataView(k.buffer).setUint32(4, i)
  new DataView(k.buffer).setUint32(0, Math.floor(i / 2 ** 32))
  return k
}

function latency(bench: Bench, name: string): { p50: number; p99: number } {
  const r = bench.getTask(name)?.result as { latency?: { p50?: number; p99?: number } } | undefined
  if (r?.latency?.p50 === undefined || r.latency.p99 === undefined) throw new Error(`no latency for ${name}`)
  return { p50: r.latency.p50, p99: r.latency.p99 }
}

const dir = await tempDir('strata-backend-bench-')
const backend = await LmdbBackend.open(join(dir.path, 'ours'), { clock: benchClock, batchLimit: BATCH })
const raw = openLmdb({ path: join(dir.path, 'raw.mdb'), noSubdir: true, overlappingSync: false, noSync: false, cache: false, compression: false, keyEncoding: 'binary', encoding: 'binary', maxDbs: 12 })
const rawDb = raw.openDB<Uint8Array, Uint8Array>('key', { keyEncoding: 'binary', encoding: 'binary', compression: false })
const memory = new MemoryBackend({ clock: benchClock, batchLimit: BATCH })

let oursNext = 0
let rawNext = 0
let memNext = 0
const puts = new Bench({ name: `10,000 puts per commit (${BATCH} x 100-byte values, appended keys)`, time: TIME_MS, warmup: true, warmupIterations: 2 })
puts.add('LmdbBackend: 10k write()s + commit', async () => {
  for (let i = 0; i < BATCH; i++) backend.write((tx) => tx.put('key', keyOf(oursNext++), value))
  await backend.commit()
})
puts.add('raw lmdb: transactionSync of 10k putSync', () => {
  raw.transactionSync(() => {
    for (let i = 0; i < BATCH; i++) rawDb.putSync(keyOf(rawNext++), value)
  })
})
puts.add('MemoryBackend: 10k write()s + commit', async () => {
  for (let i = 0; i < BATCH; i++) memory.write((tx) => tx.put('key', keyOf(memNext++), value))
  await memory.commit()
})
await runBench(puts)
const oursPuts = opsPerSecond(puts, 'LmdbBackend: 10k write()s + commit') * BATCH
const rawPuts = opsPerSecond(puts, 'raw lmdb: transactionSync of 10k putSync') * BATCH
printResult('backend.lmdb.put_batch10k.puts_per_s', Math.round(oursPuts), 'ops/s')
printResult('backend.lmdb.put_batch10k.raw_puts_per_s', Math.round(rawPuts), 'ops/s')
printResult('backend.lmdb.put_batch10k.ratio_vs_raw', oursPuts / rawPuts, 'ratio')
printResult('backend.memory.put_batch10k.puts_per_s', Math.round(opsPerSecond(puts, 'MemoryBackend: 10k write()s + commit') * BATCH), 'ops/s')

const commits = new Bench({ name: 'durable single commit (one put, fdatasync + meta write)', time: TIME_MS, warmup: true })
commits.add('LmdbBackend: write() + commit()', async () => {
  backend.write((tx) => tx.put('meta', keyOf(oursNext++), value))
  await backend.commit()
})
commits.add('raw lmdb: transactionSync of one putSync', () => {
  raw.transactionSync(() => rawDb.putSync(keyOf(rawNext++), value))
})
await runBench(commits)
const ours = latency(commits, 'LmdbBackend: write() + commit()')
const base = latency(commits, 'raw lmdb: transactionSync of one putSync')
printResult('backend.lmdb.commit.p50_ms', ours.p50, 'ms')
printResult('backend.lmdb.commit.p99_ms', ours.p99, 'ms')
printResult('backend.lmdb.commit.raw_p50_ms', base.p50, 'ms')
printResult('backend.lmdb.commit.p50_ratio_vs_raw', ours.p50 / base.p50, 'ratio')

// Range scans over a bucket of exactly 100,000 committed keys.
const RANGE_KEYS = 100_000
const scanned = await LmdbBackend.open(join(dir.path, 'scan'), { clock: benchClock, batchLimit: 1_000_000 })
const rawScan = raw.openDB<Uint8Array, Uint8Array>('scan', { keyEncoding: 'binary', encoding: 'binary', compression: false })
scanned.write((tx) => { for (let i = 0; i < RANGE_KEYS; i++) tx.put('key', keyOf(i), value) })
await scanned.commit()
raw.transactionSync(() => { for (let i = 0; i < RANGE_KEYS; i++) rawScan.putSync(keyOf(i), value) })
let at = 0
const nextStart = (): number => (at = (at + 7919) % (RANGE_KEYS - 1000))
const scans = new Bench({ name: 'range of 1,000 keys out of 100,000', time: TIME_MS, warmup: true })
scans.add('LmdbBackend: range (committed only)', () => {
  const s = nextStart()
  if (scanned.read((tx) => tx.range('key', keyOf(s), keyOf(s + 1000))).length !== 1000) throw new Error('bad range')
})
scans.add('raw lmdb: getRange', () => {
  const s = nextStart()
  let n = 0
  for (const { key, value: v } of rawScan.getRange({ start: keyOf(s), end: keyOf(s + 1000) })) if (key.length > 0 && v !== undefined) n++
  if (n !== 1000) throw new Error('bad raw range')
})
await runBench(scans)
// 5,000 pending rewrites spread over the bucket: every scan merges ~50 of them.
scanned.write((tx) => { for (let i = 0; i < RANGE_KEYS; i += 20) tx.put('key', keyOf(i), value) })
const overlay = new Bench({ name: 'range of 1,000 keys with 5,000 pending writes in the overlay', time: TIME_MS, warmup: true })
overlay.add('LmdbBackend: range (overlay merged)', () => {
  const s = nextStart()
  if (scanned.read((tx) => tx.range('key', keyOf(s), keyOf(s + 1000))).length !== 1000) throw new Error('bad range')
})
await runBench(overlay)
const oursScan = opsPerSecond(scans, 'LmdbBackend: range (committed only)')
const rawScanHz = opsPerSecond(scans, 'raw lmdb: getRange')
printResult('backend.lmdb.range1k.ops_per_s', Math.round(oursScan), 'ops/s')
printResult('backend.lmdb.range1k.ratio_vs_raw', oursScan / rawScanHz, 'ratio')
printResult('backend.lmdb.range1k_overlay5k.ops_per_s', Math.round(opsPerSecond(overlay, 'LmdbBackend: range (overlay merged)')), 'ops/s')

await scanned.close()
await backend.close()
await raw.close()
await dir.cleanup()
