// @strata/embed benchmarks (issue 14), each beside a baseline in the same run:
// 1. durable single puts on one member (LMDB on real disk under os.tmpdir()), 1 / 16 / 256 in
//    flight, each awaited until it resolves (WAL fsynced, applied): ops/s, p50/p99 latency,
//    beside lmdb-js used directly with the same durability (`db.put` promises with
//    overlappingSync off and noSync off, so each resolves after its batch is committed and
//    fsynced, as LmdbBackend opens its environment), the same keys, values and in-flight count;
//    the host's event loop delay (perf_hooks.monitorEventLoopDelay) during the 256-in-flight
//    runs of both;
// 2. the same 256-in-flight puts on three in-process members (InProcessNetwork, one directory
//    each), proposed on the leader;
// 3. linearizable single-key gets (a ReadIndex round shared by the reads queued meanwhile),
//    256 in flight, beside serializable gets (local reads) on the same member;
// 4. restart of a member holding 1M keys (16-byte keys, 32-byte values), from `open` to the
//    first linearizable read, each in a new process (restart-child.ts), alternating with as many
//    bare scans of the same LMDB key bucket, each in a new process (medians of each); the
//    resident memory of that restarted member.
// Keys are 16 bytes and values 32 bytes everywhere. Prints `RESULT embed.*` lines;
// BENCH_QUICK=1 uses short windows and 20k keys for the restart.
import { spawnSync } from 'node:child_process'
import { statSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { open as openLmdb } from 'lmdb'
import { printResult, quick, tempDir } from '@strata/testkit'
import { InProcessNetwork, type Store, open } from '../src/index.js'

const TIME_MS = quick ? 300 : 3000
const WARMUP_MS = quick ? 50 : 500
const FILL = quick ? 20_000 : 1_000_000
const FILL_LABEL = quick ? '20k' : '1M'
const FILL_TXN = 128 // mvcc.maxTxnOps (etcd's --max-txn-ops default)
const FILL_INFLIGHT = 64
const RESTARTS = quick ? 1 : 3
const KEYS = 100_000
const value = new Uint8Array(32).fill(0x61)
const enc = new TextEncoder()
/** 16-byte keys: `key/` and 12 digits. */
const keyText = (i: number): string => `key/${String(i).padStart(12, '0')}`
const keys: Uint8Array[] = Array.from({ length: KEYS }, (_, i) => enc.encode(keyText(i)))

interface RunStats { ops: number; opsPerS: number; p50: number; p99: number; loopMaxMs: number; loopP99Ms: number; loopSamples: number }

const pct = (sorted: Float64Array, p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

/** `inflight` workers each issue `op` and await it, back to back, for `ms`; latencies per op. */
async function closedLoop(inflight: number, ms: number, op: (i: number) => Promise<unknown>): Promise<RunStats> {
  let next = 0
  const lat: number[] = []
  const loop = monitorEventLoopDelay({ resolution: 1 })
  loop.enable()
  const t0 = performance.now()
  const end = t0 + ms
  await Promise.all(Array.from({ length: inflight }, async () => {
    while (performance.now() < end) {
      const t = performance.now()
      await op(next++)
      lat.push(performance.now() - t)
    }
  }))
  const elapsed = performance.now() - t0
  loop.disable()
  const sorted = Float64Array.from(lat).sort()
  return { ops: lat.length, opsPerS: (lat.length / elapsed) * 1000, p50: pct(sorted, 0.5), p99: pct(sorted, 0.99), loopMaxMs: loop.max / 1e6, loopP99Ms: loop.percentile(99) / 1e6, loopSamples: loop.count }
}

async function measured(inflight: number, op: (i: number) => Promise<unknown>): Promise<RunStats> {
  await closedLoop(inflight, WARMUP_MS, op)
  return closedLoop(inflight, TIME_MS, op)
}

// A run whose every op resolves in microtasks (the gets) never lets the delay timer fire: the
// histogram then has no sample, and the whole run was one turn of the event loop.
const show = (s: RunStats): string =>
  `${Math.round(s.opsPerS).toLocaleString('en')} ops/s, p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, ${s.loopSamples > 0 ? `event loop max ${s.loopMaxMs.toFixed(1)} ms (p99 ${s.loopP99Ms.toFixed(1)} ms)` : 'no event-loop turn during the run (all in microtasks)'}, ${s.ops} ops`

const dir = await tempDir('strata-embed-bench-')
try {
  // 1. One member vs lmdb-js directly.
  const store = await open({ dir: join(dir.path, 'one') })
  const raw = openLmdb({ path: join(dir.path, 'raw'), overlappingSync: false, noSync: false, cache: false, compression: false, keyEncoding: 'binary', encoding: 'binary' })
  const rawDb = raw.openDB<Uint8Array, Uint8Array>('key', { keyEncoding: 'binary', encoding: 'binary', compression: false, cache: false })
  const putEmbed = (i: number) => store.put(keys[i % KEYS]!, value)
  const putRaw = (i: number) => rawDb.put(keys[i % KEYS]!, value)
  const puts = new Map<number, { embed: RunStats; lmdb: RunStats }>()
  for (const inflight of [1, 16, 256]) {
    const embed = await measured(inflight, putEmbed)
    const lmdb = await measured(inflight, putRaw)
    puts.set(inflight, { embed, lmdb })
    console.log(`put, ${inflight} in flight: embed ${show(embed)}\n${' '.repeat(`put, ${inflight} in flight: `.length)}lmdb  ${show(lmdb)}; ratio ${(embed.opsPerS / lmdb.opsPerS).toFixed(3)}`)
    printResult(`embed.put.${inflight}inflight.ops_per_s`, Math.round(embed.opsPerS), 'ops/s')
    printResult(`embed.put.${inflight}inflight.p50_ms`, embed.p50, 'ms')
    printResult(`embed.put.${inflight}inflight.p99_ms`, embed.p99, 'ms')
    printResult(`embed.put.${inflight}inflight.lmdb.ops_per_s`, Math.round(lmdb.opsPerS), 'ops/s')
    printResult(`embed.put.${inflight}inflight.lmdb.p50_ms`, lmdb.p50, 'ms')
    printResult(`embed.put.${inflight}inflight.lmdb.p99_ms`, lmdb.p99, 'ms')
    printResult(`embed.put.${inflight}inflight.ratio_vs_lmdb`, embed.opsPerS / lmdb.opsPerS, 'ratio')
  }
  const p256 = puts.get(256)!
  printResult('embed.eventloop.max_ms', p256.embed.loopMaxMs, 'ms')
  printResult('embed.eventloop.lmdb.max_ms', p256.lmdb.loopMaxMs, 'ms')

  // 3. Linearizable vs serializable gets on the same member (it holds the keys put above).
  const getLin = (i: number) => store.get(keys[(i * 7919) % KEYS]!)
  const getSer = (i: number) => store.get(keys[(i * 7919) % KEYS]!, { serializable: true })
  const lin = await measured(256, getLin)
  const ser = await measured(256, getSer)
  console.log(`get, 256 in flight: linearizable ${show(lin)}\n                    serializable ${show(ser)}; ratio ${(lin.opsPerS / ser.opsPerS).toFixed(3)}`)
  printResult('embed.get.256inflight.ops_per_s', Math.round(lin.opsPerS), 'ops/s')
  printResult('embed.get.256inflight.p99_ms', lin.p99, 'ms')
  printResult('embed.get.serializable.256inflight.ops_per_s', Math.round(ser.opsPerS), 'ops/s')
  printResult('embed.get.256inflight.ratio_vs_serializable', lin.opsPerS / ser.opsPerS, 'ratio')
  await store.close()
  raw.close()

  // 2. Three in-process members.
  const net = new InProcessNetwork()
  const cluster = [{ id: 1 }, { id: 2 }, { id: 3 }]
  const members = await Promise.all(cluster.map((m) => open({ dir: join(dir.path, `m${m.id}`), memberId: m.id, initialCluster: cluster, transport: net.transport(m.id) })))
  const tElect = performance.now()
  let leader: Store | undefined
  while ((leader = members.find((s) => { const st = s.maintenance.status(); return st.leader === st.header.memberId })) === undefined) {
    if (performance.now() - tElect > 10_000) throw new Error('no leader in 10 s')
    await new Promise((r) => setTimeout(r, 10))
  }
  console.log(`3 members: leader ${leader.maintenance.status().header.memberId} elected ${(performance.now() - tElect).toFixed(0)} ms after open`)
  const lead = leader
  const three = await measured(256, (i) => lead.put(keys[i % KEYS]!, value))
  console.log(`put, 3 members, 256 in flight: ${show(three)}; ratio vs lmdb (1 process, 256 in flight) ${(three.opsPerS / p256.lmdb.opsPerS).toFixed(3)}`)
  printResult('embed.put.3members.256inflight.ops_per_s', Math.round(three.opsPerS), 'ops/s')
  printResult('embed.put.3members.256inflight.p50_ms', three.p50, 'ms')
  printResult('embed.put.3members.256inflight.p99_ms', three.p99, 'ms')
  printResult('embed.put.3members.256inflight.ratio_vs_lmdb', three.opsPerS / p256.lmdb.opsPerS, 'ratio')
  printResult('embed.eventloop.3members.max_ms', three.loopMaxMs, 'ms')
  await Promise.all(members.map((s) => s.close()))

  // 4. Fill a member with FILL keys (txns of FILL_TXN puts, FILL_INFLIGHT in flight), then restart it in new processes.
  const fillDir = join(dir.path, 'fill')
  const filled = await open({ dir: fillDir })
  const tFill = performance.now()
  let nextTxn = 0
  await Promise.all(Array.from({ length: FILL_INFLIGHT }, async () => {
    for (let t = nextTxn++; t * FILL_TXN < FILL; t = nextTxn++) {
      const success = []
      for (let j = t * FILL_TXN; j < Math.min(FILL, (t + 1) * FILL_TXN); j++) success.push({ put: { key: keyText(j), value } })
      await filled.txn({ success })
    }
  }))
  const fillMs = performance.now() - tFill
  const count = (await filled.get('key/', { prefix: true, countOnly: true })).count
  if (count !== FILL) throw new Error(`filled ${count} keys, expected ${FILL}`)
  await filled.close()
  const size = (d: string): number => readdirSync(d).reduce((n, f) => n + statSync(join(d, f)).size, 0)
  console.log(`filled ${FILL} keys in ${(fillMs / 1000).toFixed(1)} s (${Math.round(FILL / (fillMs / 1000)).toLocaleString('en')} keys/s; txns of ${FILL_TXN} puts, ${FILL_INFLIGHT} in flight); on disk: db ${(size(join(fillDir, 'db')) / 2 ** 20).toFixed(0)} MiB, wal ${(size(join(fillDir, 'wal')) / 2 ** 20).toFixed(0)} MiB, snap ${(size(join(fillDir, 'snap')) / 2 ** 20).toFixed(0)} MiB`)
  printResult(`embed.fill.${FILL_LABEL}.s`, fillMs / 1000, 's')

  interface ChildRun { ms: number; openMs: number; keys: number; rssMb: number; heapMb: number; externalMb: number; arrayBuffersMb: number }
  const child = fileURLToPath(new URL('./restart-child.ts', import.meta.url))
  const runChild = (mode: 'restart' | 'scan'): ChildRun => {
    const r = spawnSync(process.execPath, [...process.execArgv, '--expose-gc', child, fillDir, mode], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`restart-child ${mode} failed (${r.status}): ${r.stderr}`)
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildRun
  }
  // Scans and restarts alternate, medians of each: one scan beside three restarts moved the ratio
  // with the machine's minute (the same scan took 300 ms, then 465 ms, within one hour).
  const scans: ChildRun[] = []
  const restarts: ChildRun[] = []
  for (let i = 0; i < RESTARTS; i++) {
    scans.push(runChild('scan'))
    restarts.push(runChild('restart'))
  }
  for (const r of restarts) if (r.keys !== FILL) throw new Error(`restart found ${r.keys} keys`)
  const median = <T>(xs: T[], f: (x: T) => number): number => xs.map(f).sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const restartMs = median(restarts, (r) => r.ms)
  const scan = { ms: median(scans, (r) => r.ms), keys: scans[0]!.keys }
  const rssMb = median(restarts, (r) => r.rssMb)
  console.log(`restart of a member holding ${FILL} keys, open to the first linearizable read, each in a new process: ${restarts.map((r) => `${r.ms.toFixed(0)} ms (open ${r.openMs.toFixed(0)})`).join(', ')}; bare scans of the key bucket: ${scans.map((r) => r.ms.toFixed(0)).join(', ')} ms (${scan.keys} revisions)`)
  console.log(`resident memory after the first read (after a gc): ${restarts.map((r) => `${r.rssMb.toFixed(0)} MB (heap ${r.heapMb.toFixed(0)} MB, external ${r.externalMb.toFixed(0)} MB)`).join(', ')}; the scan processes: ${scans.map((r) => r.rssMb.toFixed(0)).join(', ')} MB`)
  printResult(`embed.restart.${FILL_LABEL}.ms`, restartMs, 'ms')
  printResult(`embed.restart.${FILL_LABEL}.scan_ms`, scan.ms, 'ms')
  printResult(`embed.restart.${FILL_LABEL}.ratio_vs_scan`, restartMs / scan.ms, 'ratio')
  printResult(`embed.rss.${FILL_LABEL}.mb`, rssMb, 'MB')
} finally {
  await dir.cleanup()
}
