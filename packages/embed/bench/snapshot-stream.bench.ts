// A snapshot streamed between two members in one process (snapshot-stream.ts over an
// InProcessNetwork, the receiver on this machine's disk), beside its baseline in the same run:
// writing the same bytes to a file in 1 MiB pieces with the same hash and a final fsync.
// Prints the throughput, the ratio, the most chunks the sender held unacknowledged, and the
// peak of Node's ArrayBuffer memory during the stream (both sides), which must stay bounded by
// the windows, not grow with the snapshot.
//   node scripts/bench.mjs embed        (BENCH_QUICK=1 for 16 MiB instead of 256 MiB)
import { join } from 'node:path'
import { type Message, MessageType } from '@strata/raft'
import { cryptoRng, nodeFileSystem, systemClock } from '@strata/seams'
import { printResult, tempDir } from '@strata/testkit'
import xxhash from 'xxhash-wasm'
import { InProcessNetwork } from '../src/index.js'
import { SnapshotStream } from '../src/snapshot-stream.js'

const MIB = 1024 * 1024
const total = (process.env.BENCH_QUICK === '1' ? 16 : 256) * MIB
const PIECE = 256 * 1024

/** The snapshot's bytes, made piece by piece as a backend streams them (never all in memory). */
async function* pieces(): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < total; at += PIECE) {
    const p = new Uint8Array(Math.min(PIECE, total - at))
    for (let i = 0; i < p.length; i += 4096) p[i] = (at + i) & 0xff
    yield p
  }
}

const msg: Message = {
  type: MessageType.MsgSnap, to: 2, from: 1, term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: undefined,
  snapshot: { data: new Uint8Array(0), metadata: { index: 100, term: 1, confState: { voters: [1, 2], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } } },
}

async function streamed(dir: string): Promise<{ ms: number; maxInFlight: number; peakMb: number }> {
  const net = new InProcessNetwork()
  const opts = { resendMs: 200, stallMs: 10_000 }
  let done: (ok: boolean) => void = () => {}
  const finished = new Promise<boolean>((r) => (done = r))
  const base = { fs: nodeFileSystem, clock: systemClock, rng: cryptoRng() }
  const sender = new SnapshotStream({ ...base, dir: join(dir, 'm1'), transport: net.transport(1), snapshot: pieces, reportSnapshot: (_to, ok) => done(ok), stepSnapshot: () => {} }, opts)
  const receiver = new SnapshotStream({ ...base, dir: join(dir, 'm2'), transport: net.transport(2), snapshot: pieces, reportSnapshot: () => {}, stepSnapshot: () => {} }, opts)
  net.transport(1).onMessage((from, b) => sender.receive(from, b))
  net.transport(2).onMessage((from, b) => receiver.receive(from, b))
  globalThis.gc?.()
  const before = process.memoryUsage().arrayBuffers
  let peak = before
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 5)
  const t0 = performance.now()
  sender.send(msg)
  const ok = await finished
  const ms = performance.now() - t0
  clearInterval(sampler)
  if (!ok) throw new Error('the stream failed')
  const maxInFlight = sender.stats.maxInFlight
  await sender.close()
  await receiver.close()
  return { ms, maxInFlight, peakMb: (peak - before) / MIB }
}

async function fileCopy(dir: string): Promise<number> {
  const h = await xxhash()
  await nodeFileSystem.mkdir(dir)
  const t0 = performance.now()
  const f = await nodeFileSystem.open(join(dir, 'copy'), 'create')
  const hash = h.create64()
  let at = 0
  let chunk = new Uint8Array(MIB)
  let n = 0
  for await (const p of pieces()) {
    chunk.set(p, n)
    n += p.length
    if (n === MIB) {
      hash.update(chunk)
      await f.write(chunk, at)
      at += n
      n = 0
      chunk = new Uint8Array(MIB)
    }
  }
  if (n > 0) await f.write(chunk.subarray(0, n), at)
  hash.digest()
  await f.sync()
  await f.close()
  return performance.now() - t0
}

const d = await tempDir('strata-snapbench-')
try {
  const copyMs = await fileCopy(join(d.path, 'copy'))
  const s = await streamed(d.path)
  const mbps = total / MIB / (s.ms / 1000)
  console.log(`${total / MIB} MiB: streamed in ${s.ms.toFixed(0)} ms (${mbps.toFixed(0)} MiB/s), file copy ${copyMs.toFixed(0)} ms; at most ${s.maxInFlight} chunks unacknowledged; ArrayBuffer peak +${s.peakMb.toFixed(1)} MiB`)
  printResult('embed.snapstream.mib_per_s', mbps, 'MiB/s')
  printResult('embed.snapstream.ratio_vs_file_copy', copyMs / s.ms, 'x')
  printResult('embed.snapstream.max_in_flight', s.maxInFlight, 'chunks')
  printResult('embed.snapstream.peak_arraybuffers_mb', s.peakMb, 'MiB')
} finally {
  await d.cleanup()
}
