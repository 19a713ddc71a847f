// WAL benchmarks (issue 3), each against a raw baseline in the same run:
// 1. append: one save() of a batch of 1, 16 or 256 entries of 100 B, 1 KiB or 64 KiB, awaited
//    (write + fdatasync each), against a raw loop of fs.writeSync + fs.fdatasyncSync of the same
//    number of bytes into a preallocated file. Ratio = WAL saves/s ÷ raw loops/s (goal ≥ 0.9).
//    Also against the same write with an awaited fdatasync (the FileSystem seam alone).
// 2. replay: Wal.openForRead + readAll of a 1 GB log (BENCH_QUICK: 32 MB) of 4 KiB entries,
//    against reading the same segment files with fs.readFileSync.
// Prints `RESULT wal.*` lines; BENCH_QUICK=1 shortens every window.
// Timing is done here with performance.now in interleaved rounds rather than tinybench, which
// runs one task after the other: on this shared disk that turns drift into fake ratios.
import * as fs from 'node:fs'
import { join } from 'node:path'
import { nodeFileSystem } from '@strata/seams'
import { printResult, quick, tempDir } from '@strata/testkit'
import { Wal } from '../src/index.js'
import { ENTRY_FIXED_BYTES, HARD_STATE_BYTES, frameBytes } from '../src/internal.js'
import type { Entry } from '@strata/raft'

const TIME_MS = quick ? 400 : 6000
const SEGMENT = 64_000_000
const SIZES: Array<[string, number]> = [['100B', 100], ['1KiB', 1024], ['64KiB', 65536]]
const BATCHES = [1, 16, 256]
const dir = await tempDir('strata-wal-bench-')

/** Bytes one save of `batch` entries of `size` bytes puts on disk: entry frames + hard state frame. */
function batchBytes(size: number, batch: number): number {
  return batch * frameBytes(ENTRY_FIXED_BYTES + size) + frameBytes(HARD_STATE_BYTES)
}

/**
 * Runs one operation of each task per round, in rotating order, for TIME_MS: the shared disk's
 * fdatasync latency drifts by 10x within seconds here, and only fine interleaving cancels that
 * out. Returns the rounds and each task's total and worst time (ms).
 */
async function interleave(tasks: Record<string, () => unknown>): Promise<{ rounds: number; total: Record<string, number>; worst: Record<string, number> }> {
  const names = Object.keys(tasks)
  const total: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]))
  const worst: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]))
  for (let i = 0; i < 5; i++) for (const n of names) await tasks[n]!()
  let rounds = 0
  const deadline = performance.now() + TIME_MS
  while (performance.now() < deadline) {
    for (let k = 0; k < names.length; k++) {
      const n = names[(rounds + k) % names.length]!
      const t0 = performance.now()
      await tasks[n]!()
      const dt = performance.now() - t0
      total[n]! += dt
      worst[n] = Math.max(worst[n]!, dt)
    }
    rounds++
  }
  return { rounds, total, worst }
}

async function appendCase(label: string, size: number, batch: number): Promise<void> {
  const where = join(dir.path, `${label}-${batch}`)
  const wal = await Wal.create(join(where, 'wal'), new Uint8Array(8))
  const data = new Uint8Array(size).fill(0x5a)
  let next = 1
  const rawBuf = new Uint8Array(batchBytes(size, batch)).fill(0x5a)
  const rawFd = fs.openSync(join(where, 'raw'), 'w+')
  fs.writeSync(rawFd, new Uint8Array(SEGMENT), 0, SEGMENT, 0)
  fs.fsyncSync(rawFd)
  let rawPos = 0
  // The seam alone (nodeFileSystem write + promise datasync), to split the gap between the
  // FileSystem seam's promise/thread-pool cost and the WAL's own work.
  const seamFile = await nodeFileSystem.open(join(where, 'seam'), 'create')
  await seamFile.allocate(SEGMENT)
  await seamFile.sync()
  let seamPos = 0
  const tasks: Record<string, () => unknown> = {
    'wal.save': async () => {
      const es: Entry[] = []
      for (let i = 0; i < batch; i++) es.push({ index: next + i, term: 1, type: 0, data })
      next += batch
      await wal.save({ term: 1, vote: 1, commit: next - 1 }, es)
      // Steady state: a snapshot lets old segments go, and they are recycled.
      wal.releaseTo(next - 1)
    },
    'raw writeSync + fdatasyncSync': () => {
      if (rawPos + rawBuf.length > SEGMENT) rawPos = 0
      fs.writeSync(rawFd, rawBuf, 0, rawBuf.length, rawPos)
      fs.fdatasyncSync(rawFd)
      rawPos += rawBuf.length
    },
    'seam write + await datasync': async () => {
      if (seamPos + rawBuf.length > SEGMENT) seamPos = 0
      await seamFile.write(rawBuf, seamPos)
      await seamFile.datasync()
      seamPos += rawBuf.length
    },
  }
  // Let the WAL's file pipeline finish preallocating its next segment (64 MB of zeros written
  // in the background); otherwise its writes land inside the first measured operations.
  await new Promise((r) => setTimeout(r, quick ? 500 : 2000))
  const { rounds, total, worst } = await interleave(tasks)
  const names = Object.keys(tasks)
  console.log(`\nappend ${batch} x ${label} per save (write + fdatasync), ${rounds} interleaved rounds`)
  console.table(names.map((n) => ({ task: n, 'ops/s': Math.round((rounds * 1000) / total[n]!), 'mean ms': (total[n]! / rounds).toFixed(3), 'max ms': worst[n]!.toFixed(2) })))
  const raw = total['raw writeSync + fdatasyncSync']!
  const seam = total['seam write + await datasync']!
  printResult(`wal.append.${label}.batch${batch}.ratio_vs_raw`, raw / total['wal.save']!, 'ratio')
  printResult(`wal.append.${label}.batch${batch}.seam_ratio_vs_raw`, raw / seam, 'ratio')
  // The WAL against the same write with its fdatasync awaited rather than blocked on: what the
  // WAL's own work costs, without the hand-off to the thread pool that any awaited sync pays.
  printResult(`wal.append.${label}.batch${batch}.ratio_vs_awaited_raw`, seam / total['wal.save']!, 'ratio')
  printResult(`wal.append.${label}.batch${batch}.saves_per_s`, (rounds * 1000) / total['wal.save']!, 'ops/s')
  await wal.close()
  await seamFile.close()
  fs.closeSync(rawFd)
  fs.rmSync(where, { recursive: true, force: true })
}

async function replayCase(): Promise<void> {
  const target = quick ? 32 * 1024 * 1024 : 1024 * 1024 * 1024
  const where = join(dir.path, 'replay')
  const wal = await Wal.create(where, new Uint8Array(8))
  const data = new Uint8Array(4096).fill(0x33)
  let next = 1
  for (let written = 0; written < target; written += 256 * 4096) {
    const es: Entry[] = []
    for (let i = 0; i < 256; i++) es.push({ index: next + i, term: 1, type: 0, data })
    next += 256
    await wal.save({ term: 1, vote: 1, commit: next - 1 }, es)
  }
  await wal.close()
  const files = fs.readdirSync(where).filter((n) => n.endsWith('.wal'))
  const bytes = files.reduce((s, n) => s + fs.statSync(join(where, n)).size, 0)
  let best = Infinity
  let rawBest = Infinity
  for (let round = 0; round < 3; round++) {
    const t0 = performance.now()
    const r = await Wal.openForRead(where, { index: 0, term: 0 })
    const got = await r.readAll()
    await r.close()
    const t1 = performance.now()
    if (got.entries.length !== next - 1) throw new Error(`replay read ${got.entries.length} entries, wrote ${next - 1}`)
    best = Math.min(best, t1 - t0)
    const t2 = performance.now()
    for (const n of files) fs.readFileSync(join(where, n))
    rawBest = Math.min(rawBest, performance.now() - t2)
  }
  const mb = bytes / 1e6
  console.log(`\nreplay: ${files.length} segments, ${mb.toFixed(0)} MB, ${next - 1} entries: readAll ${best.toFixed(0)} ms, raw readFileSync ${rawBest.toFixed(0)} ms`)
  printResult('wal.replay.mb_per_s', mb / (best / 1000), 'MB/s')
  printResult('wal.replay.ratio_vs_raw_read', rawBest / best, 'ratio')
  fs.rmSync(where, { recursive: true, force: true })
}

try {
  for (const [label, size] of SIZES) for (const batch of BATCHES) await appendCase(label, size, batch)
  await replayCase()
} finally {
  await dir.cleanup()
}
