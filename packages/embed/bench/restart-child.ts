// One restart as a new process sees it, run by embed.bench.ts in a child process of its own (a
// restarted service starts with an empty heap and a cold JIT):
//   restart-child.ts <member dir> restart   open({ dir }) up to the first linearizable get
//   restart-child.ts <member dir> scan      LmdbBackend.open(<dir>/db) + a bare scan of the key bucket
// Prints one JSON line: {"ms": total, "openMs": open() alone (restart), "keys": the keys the
// member holds (restart) or the revisions scanned (scan), "rssMb"/"heapMb"/"externalMb"/
// "arrayBuffersMb": process.memoryUsage() after a gc, "cpuMs": the CPU time of all its threads up to
// the first read (or the end of the scan), "rssAnonMb"/"rssFileMb": the RSS split (Linux), "loopMaxMs": the longest event-loop delay
// from open() to the first read (restart; perf_hooks.monitorEventLoopDelay, 1 ms resolution),
// "mainCpuMs"/"mainWaitMs": the main thread's own CPU time and its time waiting for a CPU up to the
// same point (Linux schedstat; what bounds the restart, and how much the machine's load held it back)}.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { LmdbBackend } from '@strata/backend'
import { threadSchedstat } from '@strata/testkit'
import { open } from '../src/index.js'

const [dir, mode] = process.argv.slice(2)
if (dir === undefined || !['restart', 'scan'].includes(mode ?? '')) throw new Error('usage: restart-child.ts <member dir> restart|scan')
const gc = (globalThis as { gc?: () => void }).gc

const main0 = threadSchedstat()
const cpu0 = process.cpuUsage()
const t0 = performance.now()
if (mode === 'restart') {
  const loop = monitorEventLoopDelay({ resolution: 1 })
  loop.enable()
  const store = await open({ dir })
  const openMs = performance.now() - t0
  await store.get('key/000000000000')
  const ms = performance.now() - t0
  loop.disable()
  const keys = (await store.get('key/', { prefix: true, countOnly: true, serializable: true })).count
  report(ms, openMs, keys, loop.max / 1e6)
  await store.close()
} else {
  const backend = await LmdbBackend.open(join(dir, 'db'))
  let revisions = 0
  backend.read((tx) => tx.forEachView!('key', new Uint8Array(0), undefined, () => {
    revisions++
  }))
  report(performance.now() - t0, 0, revisions)
  await backend.close()
}

function report(ms: number, openMs: number, keys: number, loopMaxMs?: number): void {
  // CPU time of every thread of the process from t0 on (less at the mercy of other processes on a loaded machine than `ms`).
  const cpu = process.cpuUsage(cpu0)
  const cpuMs = (cpu.user + cpu.system) / 1000
  const main = threadSchedstat()
  const mainCpuMs = (main[0] - main0[0]) / 1e6
  const mainWaitMs = (main[1] - main0[1]) / 1e6
  gc?.()
  const m = process.memoryUsage()
  const mb = (n: number): number => n / 2 ** 20
  // Linux: how much of the RSS is anonymous memory (heaps, malloc) and how much mapped files (LMDB's data file).
  const status = (() => { try { return readFileSync('/proc/self/status', 'utf8') } catch { return '' } })()
  const kb = (name: string): number | undefined => { const v = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]; return v === undefined ? undefined : Number(v) / 1024 }
  console.log(JSON.stringify({ ms, cpuMs, mainCpuMs, mainWaitMs, openMs, keys, rssMb: mb(m.rss), rssAnonMb: kb('RssAnon'), rssFileMb: kb('RssFile'), heapMb: mb(m.heapUsed), externalMb: mb(m.external), arrayBuffersMb: mb(m.arrayBuffers), loopMaxMs }))
}


