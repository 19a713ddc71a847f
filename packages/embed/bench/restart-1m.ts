// The restart figures of embed.bench.ts alone (`embed.restart.1M.*`, `embed.rss.1M.mb`), for
// working on them without the put and get sections (a few minutes less per run):
//   node --conditions=source --import tsx --expose-gc packages/embed/bench/restart-1m.ts [dir]
// fills a member with 1M keys (16-byte keys, 32-byte values, txns of 128 puts, 64 in flight, as
// embed.bench.ts does) in `dir` unless it holds one already (kept, so runs over several code
// changes restart the same member; a temporary directory removed at the end when no `dir` is
// given), then runs RESTARTS (default 5) restarts and as many bare scans of the key bucket, each a
// new process (restart-child.ts), alternating, and prints the medians as RESULT lines. Not a
// `.bench.ts`: `node scripts/bench.mjs embed` runs the same figures in embed.bench.ts.
// CHILD_ARGS (space-separated) adds Node flags to the restart children only, e.g.
// CHILD_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof'.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { printResult } from '@strata/testkit'
import { open } from '../src/index.js'

const FILL = Number(process.env['FILL'] ?? 1_000_000)
const LABEL = FILL === 1_000_000 ? '1M' : `${FILL}`
const FILL_TXN = 128
const FILL_INFLIGHT = 64
const RESTARTS = Number(process.env['RESTARTS'] ?? 5)
const value = new Uint8Array(32).fill(0x61)
const keyText = (i: number): string => `key/${String(i).padStart(12, '0')}`

const given = process.argv[2]
const dir = given ?? mkdtempSync(join(tmpdir(), 'restart-1m-'))
const fillDir = join(dir, 'fill')
try {
  if (!existsSync(join(fillDir, 'db'))) {
    const filled = await open({ dir: fillDir })
    const t0 = performance.now()
    let nextTxn = 0
    await Promise.all(Array.from({ length: FILL_INFLIGHT }, async () => {
      for (let t = nextTxn++; t * FILL_TXN < FILL; t = nextTxn++) {
        const success = []
        for (let j = t * FILL_TXN; j < Math.min(FILL, (t + 1) * FILL_TXN); j++) success.push({ put: { key: keyText(j), value } })
        await filled.txn({ success })
      }
    }))
    const count = (await filled.get('key/', { prefix: true, countOnly: true })).count
    if (count !== FILL) throw new Error(`filled ${count} keys, expected ${FILL}`)
    await filled.close()
    console.log(`filled ${FILL} keys in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  }
  const size = (d: string): number => readdirSync(d).reduce((n, f) => n + statSync(join(d, f)).size, 0)
  console.log(`on disk: db ${(size(join(fillDir, 'db')) / 2 ** 20).toFixed(0)} MiB, wal ${(size(join(fillDir, 'wal')) / 2 ** 20).toFixed(0)} MiB`)

  interface ChildRun { ms: number; cpuMs?: number; mainCpuMs?: number; mainWaitMs?: number; openMs: number; keys: number; rssMb: number; heapMb: number; externalMb: number; arrayBuffersMb: number; loopMaxMs?: number }
  const child = fileURLToPath(new URL('./restart-child.ts', import.meta.url))
  const extra = (process.env['CHILD_ARGS'] ?? '').split(' ').filter((a) => a !== '')
  const runChild = (mode: 'restart' | 'scan'): ChildRun => {
    const args = [...process.execArgv, '--expose-gc', ...(mode === 'restart' ? extra : []), child, fillDir, mode]
    const r = spawnSync(process.execPath, args, { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`restart-child ${mode} failed (${r.status}): ${r.stderr}`)
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildRun
  }
  const scans: ChildRun[] = []
  const restarts: ChildRun[] = []
  for (let i = 0; i < RESTARTS; i++) {
    scans.push(runChild('scan'))
    const r = runChild('restart')
    if (r.keys !== FILL) throw new Error(`restart found ${r.keys} keys`)
    restarts.push(r)
    console.log(`restart ${i + 1}: ${r.ms.toFixed(0)} ms (CPU ${r.cpuMs?.toFixed(0) ?? '?'} ms, main thread ${r.mainCpuMs?.toFixed(0) ?? '?'} ms + ${r.mainWaitMs?.toFixed(0) ?? '?'} ms waiting for a CPU; open ${r.openMs.toFixed(0)}; event loop max ${r.loopMaxMs?.toFixed(1) ?? '?'} ms), RSS ${r.rssMb.toFixed(0)} MB (heap ${r.heapMb.toFixed(0)}, external ${r.externalMb.toFixed(0)}, array buffers ${r.arrayBuffersMb.toFixed(0)}); scan ${scans[i]!.ms.toFixed(0)} ms (CPU ${scans[i]!.cpuMs?.toFixed(0) ?? '?'} ms; RSS ${scans[i]!.rssMb.toFixed(0)} MB)`)
  }
  const median = <T>(xs: T[], f: (x: T) => number): number => xs.map(f).sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const restartMs = median(restarts, (r) => r.ms)
  const scanMs = median(scans, (r) => r.ms)
  printResult(`embed.restart.${LABEL}.ms`, restartMs, 'ms')
  printResult(`embed.restart.${LABEL}.scan_ms`, scanMs, 'ms')
  printResult(`embed.restart.${LABEL}.ratio_vs_scan`, restartMs / scanMs, 'ratio')
  printResult(`embed.restart.${LABEL}.cpu_ms`, median(restarts, (r) => r.cpuMs ?? NaN), 'ms')
  printResult(`embed.restart.${LABEL}.main_cpu_ms`, median(restarts, (r) => r.mainCpuMs ?? NaN), 'ms')
  printResult(`embed.restart.${LABEL}.scan_cpu_ms`, median(scans, (r) => r.cpuMs ?? NaN), 'ms')
  printResult(`embed.restart.${LABEL}.eventloop.max_ms`, median(restarts, (r) => r.loopMaxMs ?? NaN), 'ms')
  printResult(`embed.rss.${LABEL}.mb`, median(restarts, (r) => r.rssMb), 'MB')
  printResult(`embed.rss.${LABEL}.heap_mb`, median(restarts, (r) => r.heapMb), 'MB')
} finally {
  if (given === undefined) rmSync(dir, { recursive: true, force: true })
}
