// What defragment() costs (issue 17: the abort after the former defragment), the former way and
// the present way in the same run, on the same file: N pairs shaped like mvcc's key bucket
// (17-byte revision keys, 89-byte records) written in batches of 10,000, then every fourth pair
// deleted, so a quarter of the pages are free. Each round copies that file into place, then:
//   compacting copy   the former defragment's copy: lmdb-js's backup(path, true) (LMDB's
//                     MDB_CP_COMPACT), then an fsync of the copy (the former swap synced it too;
//                     its rename and reopen, a few ms, are left out)
//   defragment()      LmdbBackend#defragment as it is now: the copy in a child process (a fresh
//                     environment filled by appending puts), the structure check of the copy,
//                     the fsync, the rename and the reopen
// The two take turns, ROUNDS each; medians. Also the file sizes after each and the longest
// stretch the event loop went without running a 1 ms interval timer during each.
// Prints `RESULT backend.defragment.*` lines; BENCH_QUICK=1 uses 100k pairs.
import { copyFileSync, rmSync, statSync } from 'node:fs'
import { open as openFile } from 'node:fs/promises'
import { join } from 'node:path'
import { open as openLmdb } from 'lmdb'
import { printResult, quick, tempDir, withLoopWatch } from '@strata/testkit'
import { LmdbBackend } from '../src/index.js'
import { CLEAN_FILE, DATA_FILE, ENV_OPTIONS } from '../src/internal.js'

const N = quick ? 100_000 : 1_000_000
const LABEL = quick ? '100k' : '1M'
const ROUNDS = quick ? 2 : 3
const clock = { now: () => 0, setTimer: () => ({ cancel() {} }) }
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

function revisionKey(main: number, sub: number): Uint8Array {
  const k = new Uint8Array(17)
  const v = new DataView(k.buffer)
  v.setUint32(4, main)
  k[8] = 0x5f
  v.setUint32(13, sub)
  return k
}

const dir = await tempDir('strata-defragment-bench-')
const path = join(dir.path, 'db')
const fragmented = join(dir.path, 'fragmented.mdb')
{
  const backend = await LmdbBackend.open(path, { clock, batchLimit: 10_000 })
  const record = new Uint8Array(89).fill(0x61)
  for (let i = 0; i < N; i += 10_000) {
    backend.write((tx) => {
      for (let j = i; j < i + 10_000 && j < N; j++) tx.put('key', revisionKey(2 + Math.floor(j / 1000), j % 1000), record)
    })
  }
  await backend.commit()
  for (let i = 0; i < N; i += 40_000) {
    backend.write((tx) => {
      for (let j = i; j < i + 40_000 && j < N; j += 4) tx.delete('key', revisionKey(2 + Math.floor(j / 1000), j % 1000))
    })
  }
  await backend.commit()
  const s = backend.stats()
  await backend.close()
  copyFileSync(join(path, DATA_FILE), fragmented)
  console.log(`${N} pairs written, a quarter deleted: ${(s.sizeBytes / 2 ** 20).toFixed(1)} MiB file, ${(s.sizeInUseBytes / 2 ** 20).toFixed(1)} MiB in use`)
}

const put = (): void => {
  rmSync(join(path, CLEAN_FILE), { force: true })
  copyFileSync(fragmented, join(path, DATA_FILE))
}
type Way = 'compacting copy' | 'defragment()'
const ms: Record<Way, number[]> = { 'compacting copy': [], 'defragment()': [] }
const gaps: Record<Way, number[]> = { 'compacting copy': [], 'defragment()': [] }
const sizes: Record<Way, number> = { 'compacting copy': 0, 'defragment()': 0 }
for (let r = 0; r < ROUNDS; r++) {
  put()
  {
    const root = openLmdb({ path: join(path, DATA_FILE), ...ENV_OPTIONS })
    const copy = join(dir.path, 'copy.mdb')
    rmSync(copy, { force: true })
    const t0 = performance.now()
    const { maxGapMs } = await withLoopWatch(async () => {
      await root.backup(copy, true)
      const handle = await openFile(copy, 'r+')
      await handle.sync()
      await handle.close()
    })
    ms['compacting copy'].push(performance.now() - t0)
    gaps['compacting copy'].push(maxGapMs)
    sizes['compacting copy'] = statSync(copy).size
    await root.close()
    rmSync(copy, { force: true })
    rmSync(`${copy}-lock`, { force: true })
  }
  put()
  {
    const backend = await LmdbBackend.open(path, { clock, verifyStructure: false })
    const t0 = performance.now()
    const { maxGapMs } = await withLoopWatch(() => backend.defragment())
    ms['defragment()'].push(performance.now() - t0)
    gaps['defragment()'].push(maxGapMs)
    sizes['defragment()'] = backend.stats().sizeBytes
    const pairs = backend.read((tx) => { let n = 0; tx.forEach('key', new Uint8Array([0]), undefined, () => { n++ }); return n })
    if (pairs !== N - N / 4) throw new Error(`defragment() left ${pairs} pairs`)
    await backend.close()
  }
}
for (const way of ['compacting copy', 'defragment()'] as Way[]) console.log(`${way.padEnd(16)} ${ms[way].map((x) => x.toFixed(0).padStart(6)).join(' ')} ms; longest event-loop gap ${gaps[way].map((x) => x.toFixed(1)).join(' ')} ms; file ${(sizes[way] / 2 ** 20).toFixed(1)} MiB`)
printResult(`backend.defragment.${LABEL}.compacting_copy_ms`, median(ms['compacting copy']), 'ms')
printResult(`backend.defragment.${LABEL}.defragment_ms`, median(ms['defragment()']), 'ms')
printResult(`backend.defragment.${LABEL}.ratio_defragment_vs_compacting_copy`, median(ms['defragment()']) / median(ms['compacting copy']), 'ratio')
printResult(`backend.defragment.${LABEL}.max_event_loop_gap_ms`, Math.max(...gaps['defragment()']), 'ms')
printResult(`backend.defragment.${LABEL}.file_ratio_defragment_vs_compacting_copy`, sizes['defragment()'] / sizes['compacting copy'], 'ratio')
await dir.cleanup()
