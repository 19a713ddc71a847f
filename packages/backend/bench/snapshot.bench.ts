// What a member catching up from a snapshot pays on the backend's side: snapshot() of N pairs
// shaped like mvcc's key bucket (17-byte revision keys, 89-byte records), gathered in memory, then
// restore() of that stream into another LmdbBackend (the staging file, its sync, the swap),
// beside the plain copy of the same data file with an fsync (what shipping the file itself would
// cost: etcd sends its bolt file). ROUNDS of each in turn; medians; and the longest stretch the
// event loop went without running a 1 ms interval timer during each restore.
// Prints `RESULT backend.snapshot.*` and `RESULT backend.restore.*`; BENCH_QUICK=1 uses 100k pairs.
import { copyFile, open as openFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { printResult, quick, tempDir, withLoopWatch } from '@strata/testkit'
import { LmdbBackend } from '../src/index.js'
import { DATA_FILE } from '../src/internal.js'

const N = quick ? 100_000 : 1_000_000
const LABEL = quick ? '100k' : '1M'
const ROUNDS = quick ? 1 : 3
const clock = { now: () => 0, setTimer: () => ({ cancel() {} }) }
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const dir = await tempDir('strata-snapshot-bench-')
const source = await LmdbBackend.open(join(dir.path, 'source'), { clock, batchLimit: 10_000 })
const record = new Uint8Array(89).fill(0x61)
for (let i = 0; i < N; i += 10_000) {
  source.write((tx) => {
    for (let j = i; j < Math.min(N, i + 10_000); j++) {
      const k = new Uint8Array(17)
      new DataView(k.buffer).setUint32(4, j + 1)
      k[8] = 0x5f
      tx.put('key', k, record)
    }
  })
  await source.commit()
}
const target = await LmdbBackend.open(join(dir.path, 'target'), { clock })
const snapshotMs: number[] = []
const restoreMs: number[] = []
const copyMs: number[] = []
const gaps: number[] = []
let bytes = 0
for (let r = 0; r < ROUNDS; r++) {
  let t0 = performance.now()
  const chunks: Uint8Array[] = []
  for await (const chunk of source.snapshot()) chunks.push(chunk)
  snapshotMs.push(performance.now() - t0)
  bytes = chunks.reduce((n, c) => n + c.length, 0)
  t0 = performance.now()
  const { maxGapMs } = await withLoopWatch(() => target.restore((async function* () { yield* chunks })()))
  restoreMs.push(performance.now() - t0)
  gaps.push(maxGapMs)
  const pairs = target.read((tx) => { let n = 0; tx.forEach('key', new Uint8Array([0]), undefined, () => { n++ }); return n })
  if (pairs !== N) throw new Error(`restore() left ${pairs} pairs`)
  const copy = join(dir.path, 'copy.mdb')
  t0 = performance.now()
  await copyFile(join(dir.path, 'source', DATA_FILE), copy)
  const handle = await openFile(copy, 'r+')
  await handle.sync()
  await handle.close()
  copyMs.push(performance.now() - t0)
  await rm(copy)
}
const mib = bytes / 2 ** 20
console.log(`${N} pairs, a ${mib.toFixed(1)} MiB stream: snapshot() ${snapshotMs.map((x) => x.toFixed(0)).join(' ')} ms; restore() ${restoreMs.map((x) => x.toFixed(0)).join(' ')} ms (longest event-loop gap ${gaps.map((x) => x.toFixed(1)).join(' ')} ms); copy + fsync of the data file ${copyMs.map((x) => x.toFixed(0)).join(' ')} ms`)
printResult(`backend.snapshot.${LABEL}.ms`, median(snapshotMs), 'ms')
printResult(`backend.restore.${LABEL}.ms`, median(restoreMs), 'ms')
printResult(`backend.restore.${LABEL}.mib_per_s`, mib / (median(restoreMs) / 1000), 'MiB/s')
printResult(`backend.restore.${LABEL}.ratio_vs_file_copy`, median(restoreMs) / median(copyMs), 'ratio')
printResult(`backend.restore.${LABEL}.max_event_loop_gap_ms`, Math.max(...gaps), 'ms')
await target.close()
await source.close()
await dir.cleanup()
