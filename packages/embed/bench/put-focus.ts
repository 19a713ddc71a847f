// Focused put-path measurement (not part of `pnpm bench`: no `.bench.ts` suffix). Runs only
// what the put-path work needs, each beside its baseline in the same process:
//   node --conditions=source --import tsx packages/embed/bench/put-focus.ts [put256|cpu256|three|txn128]...
// put256: one member, 256 in flight, beside lmdb-js direct (same durability; NO_LMDB=1 skips it);
// cpu256: the same puts over the memory backend and an in-memory file system (the CPU of the
//   path alone; the best and the median of ROUNDS windows, default 5);
// three: three in-process members, 256 in flight on the leader;
// txn128: txns of 128 puts, 16 in flight, keys/s.
// Each line gives ops/s, p50/p99 latency, the event loop's longest delay, the process's CPU
// per op (user + system, every thread) and the main thread's own CPU per op (Linux schedstat:
// what bounds the rate, and on a loaded machine the steadiest comparison between runs).
// TIME_MS (default 3000) sets each window; a warm-up of TIME_MS/6 comes first. HEAP_SAMPLE=<file>
// writes an allocation profile of the measured windows (HEAP_INTERVAL: bytes between samples,
// default 1024; HEAP_LIVE=1 keeps only what is alive at the end, HEAP_LIVE=promoted what survived
// the scavenges). Profile with node --cpu-prof.
// GAPS=<ms> prints every event-loop turn longer than that in the measured windows, with its start
// (ms since the process started, the clock of --trace-gc lines) to match against GC and phases.
// Every line also sums up the collector over its window (scavenges per 1,000 ops, their mean and
// longest pause, major GCs, old-space growth per op): per op, so steadier than wall time under load.
// full: one member at 1, 16, then 256 in flight on the same store, as embed.bench.ts runs it (its
//   256 window finds the keys' histories of the first two).
import { join } from 'node:path'
import { PerformanceObserver, constants as perfConstants, monitorEventLoopDelay } from 'node:perf_hooks'
import { getHeapSpaceStatistics } from 'node:v8'
import { open as openLmdb } from 'lmdb'
import { SimFileSystem, tempDir, threadSchedstat } from '@strata/testkit'
import { InProcessNetwork, type Store, open } from '../src/index.js'

const TIME_MS = Number(process.env['TIME_MS'] ?? 3000)
const KEYS = 100_000
const value = new Uint8Array(32).fill(0x61)
const enc = new TextEncoder()
const keyText = (i: number): string => `key/${String(i).padStart(12, '0')}`
const keys: Uint8Array[] = Array.from({ length: KEYS }, (_, i) => enc.encode(keyText(i)))
const which = new Set(process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['put256', 'three', 'txn128'])

interface Stats { opsPerS: number; p50: number; p99: number; loopMax: number; cpuUsPerOp: number; mainUsPerOp: number; gc: string }

const oldSpaceUsed = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')?.space_used_size ?? 0

/**
 * The collector's share of a window: scavenges per 1,000 ops with their mean and longest pause,
 * major GCs (incremental marking's finalize pauses), and old-space growth per op (what the
 * scavenges promoted minus what major GCs freed): per op, so less sensitive to the machine's load.
 */
function gcWatch(): (ops: number) => string {
  const minor: number[] = []
  const major: number[] = []
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind
      ;(kind === perfConstants.NODE_PERFORMANCE_GC_MINOR ? minor : major).push(e.duration)
    }
  })
  obs.observe({ entryTypes: ['gc'] })
  const old0 = oldSpaceUsed()
  return (ops) => {
    obs.disconnect()
    const mean = (a: number[]) => (a.length === 0 ? 0 : a.reduce((x, y) => x + y, 0) / a.length)
    return `gc: ${(minor.length / ops * 1000).toFixed(2)} scavenges/1k ops (mean ${mean(minor).toFixed(2)} ms, max ${Math.max(0, ...minor).toFixed(2)}), ${major.length} major (max ${Math.max(0, ...major).toFixed(2)} ms), old space ${Math.round((oldSpaceUsed() - old0) / ops)} B/op`
  }
}

async function closedLoop(inflight: number, ms: number, op: (i: number) => Promise<unknown>): Promise<Stats> {
  let next = 0
  const lat: number[] = []
  const gc = gcWatch()
  const loop = monitorEventLoopDelay({ resolution: 1 })
  loop.enable()
  const main0 = threadSchedstat()[0]
  const cpu0 = process.cpuUsage()
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
  const cpu = process.cpuUsage(cpu0)
  const main = threadSchedstat()[0] - main0
  loop.disable()
  const s = Float64Array.from(lat).sort()
  return { opsPerS: lat.length / elapsed * 1000, p50: s[Math.floor(s.length / 2)]!, p99: s[Math.floor(s.length * 0.99)]!, loopMax: loop.max / 1e6, cpuUsPerOp: (cpu.user + cpu.system) / lat.length, mainUsPerOp: main / 1e3 / lat.length, gc: gc(lat.length) }
}
// HEAP_SAMPLE=<file>: samples every allocation of the measured windows (collected ones
// included) into a .heapprofile for DevTools.
async function sampled<T>(fn: () => Promise<T>): Promise<T> {
  const file = process.env['HEAP_SAMPLE']
  if (file === undefined) return fn()
  const { Session } = await import('node:inspector/promises')
  const { writeFileSync } = await import('node:fs')
  const session = new Session()
  session.connect()
  // HEAP_LIVE=1: only what is still alive when the window ends (what survives, not all garbage);
  // HEAP_LIVE=promoted: what survived the scavenges (promoted, even if a full GC took it later).
  const live = process.env['HEAP_LIVE']
  const all = live !== '1' && live !== 'promoted'
  await session.post('HeapProfiler.startSampling', { samplingInterval: Number(process.env['HEAP_INTERVAL'] ?? 1024), includeObjectsCollectedByMajorGC: live !== '1', includeObjectsCollectedByMinorGC: all } as never)
  const r = await fn()
  const { profile } = await session.post('HeapProfiler.stopSampling')
  writeFileSync(file, JSON.stringify(profile))
  session.disconnect()
  return r
}
const GAPS = Number(process.env['GAPS'] ?? 0)
/**
 * Event-loop turns longer than GAPS ms while `fn` runs (a check-phase probe), printed after it as
 * start+wall/cpu/wait ms: the main thread's own CPU in the turn (what the process held the loop
 * for) and its wait for a core (the machine's load), from /proc/thread-self/schedstat. The
 * summary: the longest turn by CPU, how many turns held the CPU over 5, 10 and 20 ms, and the
 * longest time a turn spent neither on a core nor waiting for one (blocked in the kernel).
 */
async function gaps<T>(fn: () => Promise<T>): Promise<T> {
  if (GAPS <= 0) return fn()
  const found: string[] = []
  let last = performance.now()
  let [lastCpu, lastWait] = threadSchedstat()
  let maxCpu = 0, over5 = 0, over10 = 0, over20 = 0, turns = 0, maxBlocked = 0
  let on = true
  const probe = (): void => {
    const now = performance.now()
    const [cpu, wait] = threadSchedstat()
    const c = (cpu - lastCpu) / 1e6
    turns++
    if (c > maxCpu) maxCpu = c
    // Neither on a core nor waiting for one: blocked in the kernel (a sync syscall, a lock, a GC join).
    const blocked = now - last - c - (wait - lastWait) / 1e6
    if (blocked > maxBlocked) maxBlocked = blocked
    if (c > 5) over5++
    if (c > 10) over10++
    if (c > 20) over20++
    if (now - last > GAPS) found.push(`${last.toFixed(0)}+${(now - last).toFixed(1)}/${c.toFixed(1)}/${((wait - lastWait) / 1e6).toFixed(1)}`)
    last = now; lastCpu = cpu; lastWait = wait
    if (on) setImmediate(probe)
  }
  setImmediate(probe)
  const r = await fn()
  on = false
  console.log(`turns ${turns}: longest by main-thread CPU ${maxCpu.toFixed(1)} ms, over 5 ms ${over5}, over 10 ms ${over10}, over 20 ms ${over20}; longest blocked ${maxBlocked.toFixed(1)} ms; gaps over ${GAPS} ms (start+wall/cpu/wait): ${found.slice(0, 40).join(' ')}`)
  return r
}
const run = async (inflight: number, op: (i: number) => Promise<unknown>) => { await closedLoop(inflight, TIME_MS / 6, op); return gaps(() => sampled(() => closedLoop(inflight, TIME_MS, op))) }
const fmt = (r: Stats) => `${Math.round(r.opsPerS).toLocaleString('en')}/s p50 ${r.p50.toFixed(2)} p99 ${r.p99.toFixed(2)} loopmax ${r.loopMax.toFixed(1)} ms, process CPU ${r.cpuUsPerOp.toFixed(1)} us/op, main thread ${r.mainUsPerOp.toFixed(1)} us/op; ${r.gc}`

const dir = await tempDir('strata-put-focus-')
try {
  if (which.has('put256')) {
    const store = await open({ dir: join(dir.path, 'one') })
    const raw = openLmdb({ path: join(dir.path, 'raw'), overlappingSync: false, noSync: false, cache: false, compression: false, keyEncoding: 'binary', encoding: 'binary' })
    const rawDb = raw.openDB<Uint8Array, Uint8Array>('key', { keyEncoding: 'binary', encoding: 'binary', compression: false, cache: false })
    const e = await run(256, (i) => store.put(keys[i % KEYS]!, value))
    const l = process.env['NO_LMDB'] === '1' ? e : await run(256, (i) => rawDb.put(keys[i % KEYS]!, value))
    console.log(`put256 embed ${fmt(e)}\nput256 lmdb  ${fmt(l)}\nput256 ratio ${(e.opsPerS / l.opsPerS).toFixed(3)}`)
    await store.close(); await raw.close()
  }
  if (which.has('full')) {
    const store = await open({ dir: join(dir.path, 'full') })
    for (const inflight of [1, 16, 256]) console.log(`full put${inflight} embed ${fmt(await run(inflight, (i) => store.put(keys[i % KEYS]!, value)))}`)
    await store.close()
  }
  if (which.has('cpu256')) {
    // The CPU of the put path alone: the memory backend and an in-memory file system (no disk
    // waits, so the loop runs flat out); process CPU per put, the best of ROUNDS windows.
    const store = await open({ dir: '/cpu', backend: 'memory', fs: new SimFileSystem() })
    await run(256, (i) => store.put(keys[i % KEYS]!, value))
    const rounds = Number(process.env['ROUNDS'] ?? 5)
    const rs = []
    for (let r = 0; r < rounds; r++) rs.push(await closedLoop(256, TIME_MS / rounds, (i) => store.put(keys[i % KEYS]!, value)))
    rs.sort((a, b) => a.cpuUsPerOp - b.cpuUsPerOp)
    console.log(`cpu256 (memory backend, in-memory fs) best ${fmt(rs[0]!)}; median ${rs[rs.length >> 1]!.cpuUsPerOp.toFixed(1)} us/op`)
    await store.close()
  }
  if (which.has('three')) {
    const net = new InProcessNetwork()
    const cluster = [{ id: 1 }, { id: 2 }, { id: 3 }]
    const members = await Promise.all(cluster.map((m) => open({ dir: join(dir.path, `m${m.id}`), memberId: m.id, initialCluster: cluster, transport: net.transport(m.id) })))
    let leader: Store | undefined
    while ((leader = members.find((s) => { const st = s.maintenance.status(); return st.leader === st.header.memberId })) === undefined) await new Promise((r) => setTimeout(r, 10))
    const lead = leader
    const r = await run(256, (i) => lead.put(keys[i % KEYS]!, value))
    console.log(`three put256 ${fmt(r)}`)
    // Snapshot streams sent during the run (a follower that fell behind the leader's kept log).
    console.log(`three snapshot streams: ${members.map((s) => JSON.stringify((s as unknown as { member: { snapshotStream?: { stats: unknown } } }).member.snapshotStream?.stats)).join(' ')}`)
    await Promise.all(members.map((s) => s.close()))
  }
  if (which.has('txn128')) {
    const store = await open({ dir: join(dir.path, 'txn') })
    const r = await run(16, async (t) => {
      const success = []
      for (let j = 0; j < 128; j++) success.push({ put: { key: keys[(t * 128 + j) % KEYS]!, value } })
      await store.txn({ success })
    })
    console.log(`txn128 (16 in flight) ${Math.round(r.opsPerS * 128).toLocaleString('en')} keys/s (${fmt(r)})`)
    await store.close()
  }
} finally {
  await dir.cleanup()
}
