// Focused put-path measurement (not part of `pnpm bench`: no `.bench.ts` suffix). Runs only
// what the put-path work needs, each beside its baseline in the same process:
//   node --conditions=source --import tsx packages/embed/bench/put-focus.ts [put256|cpu256|three|txn128]...
// put256: one member, 256 in flight, beside lmdb-js direct (same durability; NO_LMDB=1 skips it);
// cpu256: the same puts over the memory backend and an in-memory file system (the CPU of the
//   path alone; the best and the median of ROUNDS windows, default 5);
// three: three in-process members, 256 in flight on the leader;
// txn128: txns of 128 puts, 16 in flight, keys/s.
// Each line gives ops/s, p50/p99 latency, the event loop's longest delay and the process's CPU
// per op (user + system, every thread: on a loaded machine the best comparison between runs).
// TIME_MS (default 3000) sets each window; a warm-up of TIME_MS/6 comes first. HEAP_SAMPLE=<file>
// writes an allocation profile of the measured windows. Profile with node --cpu-prof.
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { open as openLmdb } from 'lmdb'
import { SimFileSystem, tempDir } from '@strata/testkit'
import { InProcessNetwork, type Store, open } from '../src/index.js'

const TIME_MS = Number(process.env['TIME_MS'] ?? 3000)
const KEYS = 100_000
const value = new Uint8Array(32).fill(0x61)
const enc = new TextEncoder()
const keyText = (i: number): string => `key/${String(i).padStart(12, '0')}`
const keys: Uint8Array[] = Array.from({ length: KEYS }, (_, i) => enc.encode(keyText(i)))
const which = new Set(process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['put256', 'three', 'txn128'])

async function closedLoop(inflight: number, ms: number, op: (i: number) => Promise<unknown>): Promise<{ opsPerS: number; p50: number; p99: number; loopMax: number; cpuUsPerOp: number }> {
  let next = 0
  const lat: number[] = []
  const loop = monitorEventLoopDelay({ resolution: 1 })
  loop.enable()
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
  loop.disable()
  const s = Float64Array.from(lat).sort()
  return { opsPerS: lat.length / elapsed * 1000, p50: s[Math.floor(s.length / 2)]!, p99: s[Math.floor(s.length * 0.99)]!, loopMax: loop.max / 1e6, cpuUsPerOp: (cpu.user + cpu.system) / lat.length }
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
  await session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never)
  const r = await fn()
  const { profile } = await session.post('HeapProfiler.stopSampling')
  writeFileSync(file, JSON.stringify(profile))
  session.disconnect()
  return r
}
const run = async (inflight: number, op: (i: number) => Promise<unknown>) => { await closedLoop(inflight, TIME_MS / 6, op); return sampled(() => closedLoop(inflight, TIME_MS, op)) }
const fmt = (r: { opsPerS: number; p50: number; p99: number; loopMax: number; cpuUsPerOp: number }) => `${Math.round(r.opsPerS).toLocaleString('en')}/s p50 ${r.p50.toFixed(2)} p99 ${r.p99.toFixed(2)} loopmax ${r.loopMax.toFixed(1)} ms, process CPU ${r.cpuUsPerOp.toFixed(1)} us/op`

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
