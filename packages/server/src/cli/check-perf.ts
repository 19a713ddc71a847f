import { randomBytes } from 'node:crypto'
import { prefixEnd } from '@strata/embed'
import { type CliIo, CliError, EXIT, intFlag, parse, progress, strFlag } from './args.js'
import { CLIENT_FLAGS, CLIENT_FLAGS_HELP, withClient } from './client.js'

/** etcdctl check perf's workloads: puts per second, writers, and the bounds they must meet. */
const LOADS = {
  s: { limit: 150, clients: 50, maxSlowestMs: 500, maxStddevMs: 100 },
  m: { limit: 1000, clients: 200, maxSlowestMs: 500, maxStddevMs: 100 },
  l: { limit: 8000, clients: 500, maxSlowestMs: 1000, maxStddevMs: 200 },
  xl: { limit: 15000, clients: 1000, maxSlowestMs: 1000, maxStddevMs: 200 },
} as const

export const CHECK_HELP = `strata check perf [flags]: is this cluster fast enough for a workload? As etcdctl
check perf: puts at a fixed rate from many clients for a while, then PASS or FAIL on the
throughput reached (>= 90% of the rate), the slowest request and the standard deviation of
latencies. The keys written are deleted afterwards. Progress on stderr; exit 1 on FAIL.

  --load <s|m|l|xl>          s: 150 puts/s from 50 clients; m: 1,000/200; l: 8,000/500; xl: 15,000/1,000 [s]
  --prefix <key>             key prefix of the writes [/etcdctl-check-perf/]
  --duration-seconds <n>     how long to write [60] (a Strata addition; etcdctl always runs 60 s)
${CLIENT_FLAGS_HELP}  --help                     this text
`

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function checkCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const p = parse(argv, { ...CLIENT_FLAGS, load: { type: 'string' }, prefix: { type: 'string' }, 'duration-seconds': { type: 'string' } }, CHECK_HELP, io)
  if (p === undefined) return EXIT.OK
  if (p.positionals.length !== 1 || p.positionals[0] !== 'perf') throw new CliError(EXIT.USAGE, `usage: strata check perf [flags]\n\n${CHECK_HELP}`)
  const loadName = strFlag(p.values, 'load', 's')
  if (!Object.hasOwn(LOADS, loadName)) throw new CliError(EXIT.USAGE, `--load must be s, m, l or xl, got ${JSON.stringify(loadName)}`)
  const load = LOADS[loadName as keyof typeof LOADS]
  const seconds = intFlag(p.values, 'duration-seconds', 60, 1, 3600)
  const prefix = strFlag(p.values, 'prefix', '/etcdctl-check-perf/')
  return withClient(p.values, io, async (c) => {
    const put = c.unary(c.kv, 'Put')
    const value = randomBytes(1024)
    const total = load.limit * seconds
    const latencies: number[] = []
    let issued = 0
    let failures = 0
    let firstError: Error | undefined
    const bar = progress(io, `check perf (${loadName}) ${c.endpoint}`)
    const t0 = performance.now()
    const worker = async (): Promise<void> => {
      for (;;) {
        const i = issued++
        if (i >= total) return
        const due = t0 + (i * 1000) / load.limit
        const wait = due - performance.now()
        if (wait > 0) await sleep(wait)
        const start = performance.now()
        try {
          await put({ key: Buffer.from(`${prefix}${randomBytes(8).toString('hex')}`), value })
          latencies.push(performance.now() - start)
        } catch (err) {
          failures++
          firstError ??= err as Error
        }
        bar.update(latencies.length + failures, total, ' puts')
      }
    }
    await Promise.all(Array.from({ length: load.clients }, worker))
    bar.end()
    const elapsedS = (performance.now() - t0) / 1000
    if (latencies.length === 0 && firstError !== undefined) throw firstError
    await c.unary(c.kv, 'DeleteRange')({ key: Buffer.from(prefix), range_end: Buffer.from(prefixEnd(prefix)) })
    const throughput = latencies.length / elapsedS
    const slowest = Math.max(...latencies) / 1000
    const mean = latencies.reduce((a, b) => a + b, 0) / latencies.length
    const stddev = Math.sqrt(latencies.reduce((a, b) => a + (b - mean) ** 2, 0) / latencies.length) / 1000
    const checks = [
      [throughput >= load.limit * 0.9, `Throughput is ${Math.round(throughput)} writes/s`, `Throughput too low: ${Math.round(throughput)} writes/s`],
      [slowest * 1000 < load.maxSlowestMs, `Slowest request took ${slowest.toFixed(6)}s`, `Slowest request took too long: ${slowest.toFixed(6)}s`],
      [stddev * 1000 < load.maxStddevMs, `Stddev is ${stddev.toFixed(6)}s`, `Stddev too high: ${stddev.toFixed(6)}s`],
      [failures === 0, 'No request failed', `${failures} request(s) failed: ${firstError?.message ?? ''}`],
    ] as const
    for (const [ok, pass, fail] of checks) io.out(ok ? `PASS: ${pass}\n` : `FAIL: ${fail}\n`)
    const passed = checks.every(([ok]) => ok)
    io.out(passed ? 'PASS\n' : 'FAIL\n')
    return passed ? EXIT.OK : EXIT.FAILURE
  })
}
