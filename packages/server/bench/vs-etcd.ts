// `pnpm bench:etcd` (scripts/bench-etcd.mjs runs this): `strata serve` beside etcd 3.4.23, the
// same load on the same machine in the same hour (issue 15). Each server is one member on
// loopback with durable writes in its own temp data dir, in its own process (etcd: Debian's
// etcd-server; Strata: the CLI process `packages/server/bin/strata serve`, whatever transport
// serve starts), both driven by `strata bench`'s in-process client (src/bench/run.ts).
//
// Rows (ratio: Strata ÷ etcd for throughputs, etcd ÷ Strata for latencies and times — higher is
// better for Strata):
//   put16, put256   single puts, 16 / 256 in flight (8-byte keys over 100k, 256-byte values)
//   txn128          txns of 128 puts, 16 in flight, keys/s (1M key space, 32-byte values)
//   get64           linearizable gets of one key, 64 in flight
//   count           count-only range over every key after loading N keys (1M) with txns of 128
//   restart         SIGTERM, start the process again, poll until the first linearizable get (N keys)
//   auth64          Authenticate (bcrypt cost 10) with 64 in flight, after enabling auth with a
//                   root user and a user (etcdctl user add, auth enable)
//   auth_put_p99    p99 of a put loop (16 in flight, as root) during that authenticate storm
// The short rows (put16, put256, txn128, get64) run BENCH_ETCD_RUNS times (3; quick: 1) before the
// load, alternating which server goes first; their ratio is the median of the per-run ratios.
// The restart row restarts each server BENCH_ETCD_RESTARTS times (3; quick: 1), taking turns, and
// its ratio is the median of the per-turn ratios (one restart each moved 1.6-2x with the load of
// a shared machine). Every other row runs once, the first server alternating from row to row.
//
// Env: BENCH_QUICK=1 tiny sizes (the smoke test); BENCH_ETCD_KEYS keys loaded for count and restart
// (1,000,000; quick 20,000); BENCH_ETCD_RUNS; BENCH_ETCD_RESTARTS; BENCH_ETCD_PROFILE=1 (or SERVER_BENCH_PROFILE=1)
// runs strata serve under --cpu-prof and, for each row that misses its goal, prints where the
// server's CPU per call goes by component (transport, decode, raft, WAL, apply, encode, ...);
// BENCH_ETCD_PROFILE=all prints it for every row measured, met or not.
// BENCH_ETCD_ROWS: a comma-separated subset of the row keys above (default: every row), e.g.
// `BENCH_ETCD_ROWS=put16,put256,txn128` for the short write rows alone; count and restart load the
// keys first, auth64 and auth_put_p99 run together (one storm measures both).
// STRATA_BIN: the strata executable (default packages/server/bin/strata; needs the build).
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { existsSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { printResult, quick, tempDir } from '@strata/testkit'
import { METHOD_RANGE, rangeCount, rangeRequest } from '../src/bench/proto.js'
import { type BenchKind, type BenchOptions, type BenchReport, authenticateOnce, runWorkload } from '../src/bench/run.js'
import { H2Connection } from '../src/h2/client.js'
import { freePort } from '../src/spawn.js'
import { formatSummary, monotonicUs, processCpuUs, profilesIn, summarize } from './profile.js'

const here = fileURLToPath(new URL('.', import.meta.url))
const strataBin = process.env['STRATA_BIN'] ?? join(here, '..', 'bin', 'strata')
const profileAll = process.env['BENCH_ETCD_PROFILE'] === 'all'
const profile = profileAll || process.env['BENCH_ETCD_PROFILE'] === '1' || process.env['SERVER_BENCH_PROFILE'] === '1'
const envInt = (name: string, dflt: number): number => {
  const v = process.env[name]
  if (v === undefined || v === '') return dflt
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name}=${v}: a positive integer is needed`)
  return n
}
const KEYS = envInt('BENCH_ETCD_KEYS', quick ? 20_000 : 1_000_000)
const RUNS = envInt('BENCH_ETCD_RUNS', quick ? 1 : 3)
const RESTARTS = envInt('BENCH_ETCD_RESTARTS', quick ? 1 : 3)
const PASSWORD_ROOT = 'bench-root-pw'
const PASSWORD_USER = 'bench-user-pw'

type Name = 'etcd' | 'strata'


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** One server: its process, restartable on the same data dir and ports. */
class Server {
  child: ChildProcess | undefined
  log = ''
  starts = 0
  /** Profile directory of the current process (Strata under BENCH_ETCD_PROFILE). */
  profDir: string | undefined
  constructor(
    readonly name: Name,
    readonly dir: string,
    readonly clientPort: number,
    readonly peerPort: number,
  ) {}

  get endpoint(): string {
    return `127.0.0.1:${this.clientPort}`
  }
  get pid(): number {
    return this.child!.pid!
  }

  private command(): [string, string[]] {
    const client = `http://127.0.0.1:${this.clientPort}`
    const peer = `http://127.0.0.1:${this.peerPort}`
    const flags = [
      '--name', 'bench', '--data-dir', join(this.dir, 'data'),
      '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `bench=${peer}`,
    ]
    if (this.name === 'etcd') return ['etcd', [...flags, '--log-level', 'error']]
    this.profDir = profile ? join(this.dir, `prof-${this.starts}`) : undefined
    const prof = this.profDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${this.profDir}`]
    return [process.execPath, [...prof, strataBin, 'serve', ...flags, '--log-level', 'warn']]
  }

  /** Starts the process and polls a linearizable get until it answers; resolves with the ms from spawn to that answer. */
  async start(timeoutMs: number): Promise<number> {
    const [cmd, args] = this.command()
    this.starts++
    const t0 = performance.now()
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    this.child = child
    child.stderr!.on('data', (d) => (this.log = (this.log + String(d)).slice(-6000)))
    const spawnError = new Promise<never>((_res, rej) => child.once('error', (e) => rej(new Error(`${this.name}: cannot start ${cmd}: ${e.message}`))))
    spawnError.catch(() => {})
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${this.name} exited (${child.exitCode ?? child.signalCode}) before serving:\n${this.log}`)
      try {
        const r = await Promise.race([runWorkload('range', { endpoints: [this.endpoint], total: 1, key: 'bench-range', consistency: 'l' }), spawnError])
        if (r.errors === 0) return performance.now() - t0
      } catch (e) {
        if ((e as Error).message.includes('cannot start')) throw e
        // not listening yet
      }
      if (performance.now() - t0 > timeoutMs) throw new Error(`${this.name} did not answer a linearizable get on ${this.endpoint} within ${timeoutMs} ms:\n${this.log}`)
      await sleep(10)
    }
  }

  /** SIGTERM (SIGKILL after 60 s) and waits for the exit. */
  async stop(): Promise<void> {
    const child = this.child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 60_000)
      child.once('exit', () => {
        clearTimeout(kill)
        resolve()
      })
      child.kill('SIGTERM')
    })
  }
}

const run = promisify(execFile)
async function etcdctl(s: Server, ...args: string[]): Promise<string> {
  try {
    const { stdout } = await run('etcdctl', [`--endpoints=http://${s.endpoint}`, ...args], { timeout: 60_000 })
    return stdout
  } catch (e) {
    const err = e as Error & { stderr?: string }
    throw new Error(`etcdctl ${args.join(' ')} against ${s.name}: ${err.message}\n${err.stderr ?? ''}`)
  }
}

// ------------------------------------------------------------------ rows

interface Row {
  readonly key: string
  readonly label: string
  readonly unit: string
  /** true: higher is better (ratio Strata ÷ etcd); false: a latency or time (ratio etcd ÷ Strata). */
  readonly higherBetter: boolean
  readonly goal: number | undefined
}
const ROWS: Row[] = [
  { key: 'put16', label: 'puts, 16 in flight', unit: 'puts/s', higherBetter: true, goal: 1 },
  { key: 'put256', label: 'puts, 256 in flight', unit: 'puts/s', higherBetter: true, goal: 1.2 },
  { key: 'txn128', label: 'txns of 128 puts, 16 in flight', unit: 'keys/s', higherBetter: true, goal: 1 },
  { key: 'get64', label: 'linearizable gets, 64 in flight', unit: 'gets/s', higherBetter: true, goal: 3 },
  { key: 'count', label: `count-only range over ${KEYS.toLocaleString('en-US')} keys (median)`, unit: 'ms', higherBetter: false, goal: 10 },
  { key: 'restart', label: `restart with ${KEYS.toLocaleString('en-US')} keys to the first linearizable get`, unit: 'ms', higherBetter: false, goal: 3 },
  { key: 'auth64', label: 'authenticate (bcrypt cost 10), 64 in flight', unit: 'auths/s', higherBetter: true, goal: undefined },
  { key: 'auth_put_p99', label: 'put p99 (16 in flight) during the authenticate storm', unit: 'ms', higherBetter: false, goal: 10 },
]

/** The rows BENCH_ETCD_ROWS selects (every row when unset). */
const SELECTED: ReadonlySet<string> = (() => {
  const v = process.env['BENCH_ETCD_ROWS']
  if (v === undefined || v.trim() === '') return new Set(ROWS.map((r) => r.key))
  const keys = v.split(',').map((k) => k.trim()).filter((k) => k !== '')
  const unknown = keys.filter((k) => !ROWS.some((r) => r.key === k))
  if (unknown.length > 0 || keys.length === 0) throw new Error(`BENCH_ETCD_ROWS=${v}: unknown row(s) ${unknown.join(', ')}; the rows are ${ROWS.map((r) => r.key).join(', ')}`)
  return new Set(keys)
})()
const selected = (...keys: string[]): boolean => keys.some((k) => SELECTED.has(k))

/** One measurement of one row on one server. */
interface Sample {
  value: number
  p99Ms?: number
  serverCpuUsPerCall?: number
  errors: number
  errorCounts?: Readonly<Record<string, number>>
  /** For the profile: the window and the calls in it. */
  window?: [number, number]
  calls?: number
  profDir?: string | undefined
}

const samples = new Map<string, { etcd: Sample[]; strata: Sample[] }>()
function record(row: string, name: Name, s: Sample): void {
  let r = samples.get(row)
  if (r === undefined) samples.set(row, (r = { etcd: [], strata: [] }))
  r[name].push(s)
}

interface ShortLoad {
  row: string
  kind: BenchKind
  options: BenchOptions
  figure: (r: BenchReport) => number
}
const scaled = (full: number, tiny: number): number => (quick ? tiny : full)
const SHORT: ShortLoad[] = [
  { row: 'put16', kind: 'put', options: { conns: 1, clients: 16, total: scaled(10_000, 300), keySpaceSize: 100_000, valSize: 256 }, figure: (r) => r.perSecond },
  { row: 'put256', kind: 'put', options: { conns: 4, clients: 256, total: scaled(40_000, 1_000), keySpaceSize: 100_000, valSize: 256 }, figure: (r) => r.perSecond },
  { row: 'txn128', kind: 'txn-put', options: { conns: 1, clients: 16, total: scaled(500, 30), txnOps: 128, keySpaceSize: 1_000_000, valSize: 32 }, figure: (r) => r.keysPerSecond },
  { row: 'get64', kind: 'range', options: { conns: 1, clients: 64, total: scaled(10_000, 300), key: 'bench-range', consistency: 'l' }, figure: (r) => r.perSecond },
]

function throwOnErrors(what: string, r: BenchReport): void {
  if (r.errors > 0) throw new Error(`${what}: ${r.errors} errors: ${JSON.stringify(r.errorCounts)}`)
}

/** Runs a load against one server, with its process CPU and (for Strata) the profile window. */
async function measured(s: Server, kind: BenchKind, options: BenchOptions): Promise<{ report: BenchReport; cpuUs: number; window: [number, number] }> {
  const cpu0 = processCpuUs(s.pid)
  const from = monotonicUs()
  const report = await runWorkload(kind, { ...options, endpoints: [s.endpoint] })
  const window: [number, number] = [from, monotonicUs()]
  return { report, cpuUs: processCpuUs(s.pid) - cpu0, window }
}

async function shortRow(s: Server, load: ShortLoad): Promise<void> {
  const total = load.options.total ?? 1000
  if (!quick) throwOnErrors(`${s.name} ${load.row} warm-up`, await runWorkload(load.kind, { ...load.options, endpoints: [s.endpoint], total: Math.max(20, Math.round(total / 10)) }))
  const { report, cpuUs, window } = await measured(s, load.kind, load.options)
  record(load.row, s.name, {
    value: load.figure(report), p99Ms: report.latencyMs.p99, serverCpuUsPerCall: cpuUs / Math.max(1, report.calls),
    errors: report.errors, errorCounts: report.errorCounts, window, calls: report.calls, profDir: s.profDir,
  })
}

/** Loads `KEYS` keys (0 .. KEYS-1, the key encoding every row uses) with txns of 128 puts, 16 in flight. */
async function load(s: Server): Promise<void> {
  const txnOps = Math.min(128, KEYS)
  const { report, cpuUs } = await measured(s, 'txn-put', { conns: 2, clients: 16, total: Math.ceil(KEYS / txnOps), txnOps, keySpaceSize: KEYS, sequentialKeys: true, valSize: 32 })
  throwOnErrors(`${s.name} load`, report)
  record('load', s.name, { value: report.keysPerSecond, serverCpuUsPerCall: cpuUs / report.calls, errors: 0 })
  console.log(`  ${s.name}: loaded ${KEYS} keys in ${report.seconds.toFixed(1)} s (${Math.round(report.keysPerSecond)} keys/s)`)
}

/** The count a count-only range over every key answers. */
async function countAll(s: Server): Promise<number> {
  const c = await H2Connection.open(s.endpoint)
  try {
    const msg = await new Promise<Buffer>((resolve, reject) =>
      c.unary(c.requestHeaders(METHOD_RANGE), rangeRequest(Buffer.from([0]), { end: Buffer.from([0]), countOnly: true }).bytes, (err, m) => (err === null ? resolve(m!) : reject(err))))
    return rangeCount(msg)
  } finally {
    await c.close()
  }
}

async function countRow(s: Server): Promise<void> {
  const n = await countAll(s)
  if (n < KEYS) throw new Error(`${s.name}: a count-only range over every key answered ${n}, below the ${KEYS} keys loaded`)
  const { report, cpuUs, window } = await measured(s, 'range', { conns: 1, clients: 1, total: scaled(20, 5), key: '\0', rangeEnd: '\0', countOnly: true, consistency: 'l' })
  throwOnErrors(`${s.name} count`, report)
  record('count', s.name, { value: report.latencyMs.p50, p99Ms: report.latencyMs.p99, serverCpuUsPerCall: cpuUs / report.calls, errors: 0, window, calls: report.calls, profDir: s.profDir })
  console.log(`  ${s.name}: count ${n}, median ${report.latencyMs.p50.toFixed(1)} ms`)
}

async function restartRow(s: Server): Promise<void> {
  await s.stop()
  const from = monotonicUs()
  const ms = await s.start(600_000)
  record('restart', s.name, { value: ms, errors: 0, window: [from, monotonicUs()], calls: 1, profDir: s.profDir })
  console.log(`  ${s.name}: restarted to the first linearizable get in ${Math.round(ms)} ms`)
}

async function enableAuth(s: Server): Promise<void> {
  await etcdctl(s, 'user', 'add', `root:${PASSWORD_ROOT}`)
  await etcdctl(s, 'user', 'add', `bench:${PASSWORD_USER}`)
  await etcdctl(s, 'auth', 'enable')
}

async function authRows(s: Server): Promise<void> {
  // the put loop's token is got first, so the loop does not wait behind the storm to start
  const token = await authenticateOnce(s.endpoint, `root:${PASSWORD_ROOT}`)
  const putOptions: BenchOptions = { endpoints: [s.endpoint], conns: 1, clients: 16, total: 100_000_000, keySpaceSize: 100_000, valSize: 256, token }
  // the put loop alone first (auth on, as root): the baseline of its p99, after a warm-up of the token path
  if (!quick) throwOnErrors(`${s.name} puts with auth on (warm-up)`, await runWorkload('put', { ...putOptions, total: 500 }))
  const quiet = await runWorkload('put', { ...putOptions, total: scaled(3_000, 200) })
  throwOnErrors(`${s.name} puts with auth on`, quiet)
  record('auth_put_p99_quiet', s.name, { value: quiet.latencyMs.p99, errors: 0 })
  // the storm, and the put loop during it (stopped when the storm ends)
  const stop = new AbortController()
  const authTotal = scaled(320, 24)
  const cpu0 = processCpuUs(s.pid)
  const from = monotonicUs()
  const storm = runWorkload('authenticate', { endpoints: [s.endpoint], conns: 1, clients: Math.min(64, authTotal), total: authTotal, user: `bench:${PASSWORD_USER}` }).finally(() => stop.abort())
  const puts = runWorkload('put', { ...putOptions, signal: stop.signal })
  const [a, p] = await Promise.all([storm, puts])
  const window: [number, number] = [from, monotonicUs()]
  const cpuUs = processCpuUs(s.pid) - cpu0
  throwOnErrors(`${s.name} authenticate storm`, a)
  throwOnErrors(`${s.name} puts during the authenticate storm`, p)
  if (p.calls === 0) throw new Error(`${s.name}: no put completed during the authenticate storm (${a.seconds.toFixed(1)} s)`)
  record('auth64', s.name, { value: a.perSecond, p99Ms: a.latencyMs.p99, serverCpuUsPerCall: cpuUs / Math.max(1, a.calls + p.calls), errors: 0, window, calls: a.calls, profDir: s.profDir })
  record('auth_put_p99', s.name, { value: p.latencyMs.p99, errors: 0, window, calls: p.calls, profDir: s.profDir })
  console.log(`  ${s.name}: ${a.calls} authentications at ${a.perSecond.toFixed(1)}/s; ${p.calls} puts during them, p99 ${p.latencyMs.p99.toFixed(1)} ms (alone: ${quiet.latencyMs.p99.toFixed(1)} ms)`)
}

// ------------------------------------------------------------------ report

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const ratioOf = (row: Row, etcd: number, strata: number): number => (row.higherBetter ? strata / etcd : etcd / strata)
const fmt = (v: number): string => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v >= 10 ? v.toFixed(1) : v.toFixed(2))

function result(name: string, value: number, unit: string): void {
  if (!Number.isFinite(value)) throw new Error(`RESULT ${name}: ${value} is not a finite number`)
  printResult(name, value, unit)
}

function report(): Row[] {
  const missed: Row[] = []
  console.log(`\npnpm bench:etcd (${quick ? 'quick' : 'full'}): etcd 3.4.23 vs strata serve, one member each, loopback, durable writes; ${RUNS} run(s) of the short rows; ${KEYS} keys for count and restart`)
  console.log('ratio: Strata ÷ etcd for throughputs, etcd ÷ Strata for latencies and times (higher is better); short rows: median figures, ratio = median of the per-run ratios')
  const header = `${'row'.padEnd(62)} | ${'etcd'.padStart(10)} | ${'Strata'.padStart(10)} | ${'ratio'.padStart(6)} | goal   | runs' ratios        | p99 ms etcd / Strata | server CPU µs/call etcd / Strata`
  console.log(header)
  console.log('-'.repeat(header.length))
  for (const row of ROWS) {
    const r = samples.get(row.key)
    if (r === undefined || r.etcd.length === 0 || r.strata.length === 0) continue
    const runs = Math.min(r.etcd.length, r.strata.length)
    const ratios = Array.from({ length: runs }, (_, i) => ratioOf(row, r.etcd[i]!.value, r.strata[i]!.value))
    const ratio = median(ratios)
    const e = median(r.etcd.map((x) => x.value))
    const s = median(r.strata.map((x) => x.value))
    const met = row.goal === undefined ? '' : ratio >= row.goal ? ' ok' : ' MISS'
    if (row.goal !== undefined && ratio < row.goal) missed.push(row)
    const p99 = r.etcd[0]!.p99Ms === undefined ? '' : `${fmt(median(r.etcd.map((x) => x.p99Ms!)))} / ${fmt(median(r.strata.map((x) => x.p99Ms!)))}`
    const cpu = r.etcd[0]!.serverCpuUsPerCall === undefined ? '' : `${fmt(median(r.etcd.map((x) => x.serverCpuUsPerCall!)))} / ${fmt(median(r.strata.map((x) => x.serverCpuUsPerCall!)))}`
    console.log(
      `${`${row.label} (${row.unit})`.padEnd(62)} | ${fmt(e).padStart(10)} | ${fmt(s).padStart(10)} | ${ratio.toFixed(2).padStart(6)} | ${(row.goal === undefined ? '—' : `≥ ${row.goal}`).padEnd(6)} | ${ratios.map((x) => x.toFixed(2)).join(' ').padEnd(19)} | ${p99.padEnd(20)} | ${cpu}${met}`,
    )
  }
  const quietE = samples.get('auth_put_p99_quiet')?.etcd[0]?.value
  const quietS = samples.get('auth_put_p99_quiet')?.strata[0]?.value
  if (quietE !== undefined && quietS !== undefined) console.log(`(put p99 with auth on and no storm: etcd ${fmt(quietE)} ms, Strata ${fmt(quietS)} ms)`)
  const ld = samples.get('load')
  if (ld !== undefined && ld.etcd.length > 0 && ld.strata.length > 0) console.log(`(loading ${KEYS} keys in txns of 128, 16 in flight: etcd ${fmt(ld.etcd[0]!.value)} keys/s, Strata ${fmt(ld.strata[0]!.value)} keys/s)`)
  console.log('')
  for (const row of ROWS) {
    const r = samples.get(row.key)
    if (r === undefined || r.etcd.length === 0 || r.strata.length === 0) continue
    const runs = Math.min(r.etcd.length, r.strata.length)
    result(`server.vs_etcd.${row.key}.ratio`, median(Array.from({ length: runs }, (_, i) => ratioOf(row, r.etcd[i]!.value, r.strata[i]!.value))), 'x')
    const unit = row.unit
    result(`server.vs_etcd.${row.key}.etcd`, median(r.etcd.map((x) => x.value)), unit)
    result(`server.vs_etcd.${row.key}.strata`, median(r.strata.map((x) => x.value)), unit)
    if (r.etcd[0]!.p99Ms !== undefined && row.unit !== 'ms') {
      result(`server.vs_etcd.${row.key}.etcd_p99`, median(r.etcd.map((x) => x.p99Ms!)), 'ms')
      result(`server.vs_etcd.${row.key}.strata_p99`, median(r.strata.map((x) => x.p99Ms!)), 'ms')
    }
    if (r.etcd[0]!.serverCpuUsPerCall !== undefined && row.key !== 'auth64') {
      result(`server.vs_etcd.${row.key}.etcd_cpu_per_call`, median(r.etcd.map((x) => x.serverCpuUsPerCall!)), 'us')
      result(`server.vs_etcd.${row.key}.strata_cpu_per_call`, median(r.strata.map((x) => x.serverCpuUsPerCall!)), 'us')
    }
  }
  for (const extra of ['auth_put_p99_quiet', 'load'] as const) {
    const r = samples.get(extra)
    if (r === undefined || r.etcd.length === 0 || r.strata.length === 0) continue
    const unit = extra === 'load' ? 'keys/s' : 'ms'
    result(`server.vs_etcd.${extra}.etcd`, r.etcd[0]!.value, unit)
    result(`server.vs_etcd.${extra}.strata`, r.strata[0]!.value, unit)
  }
  return missed
}

/** For each row that missed its goal (every row with BENCH_ETCD_PROFILE=all): where strata serve's CPU went in that row's windows. */
function explain(missed: readonly Row[]): void {
  if (missed.length === 0) {
    console.log('\nEvery goal is met.')
    if (!profileAll) return
  } else console.log(`\nGoals missed: ${missed.map((r) => r.key).join(', ')}.`)
  if (!profile) {
    console.log('Run with BENCH_ETCD_PROFILE=1 (strata serve under --cpu-prof) to see where the server\'s time per call goes in each of them.')
    return
  }
  for (const row of profileAll ? ROWS.filter((r) => samples.has(r.key)) : missed) {
    const ss = samples.get(row.key)?.strata ?? []
    const byDir = new Map<string, { windows: [number, number][]; calls: number }>()
    for (const s of ss) {
      if (s.window === undefined || s.profDir === undefined) continue
      const g = byDir.get(s.profDir) ?? { windows: [], calls: 0 }
      g.windows.push(s.window)
      g.calls += s.calls ?? 0
      byDir.set(s.profDir, g)
    }
    for (const [dir, g] of byDir) {
      const files = profilesIn(dir)
      if (files.length === 0) {
        console.log(`(${row.key}: no CPU profile was written in ${dir})`)
        continue
      }
      const per = row.key === 'restart' ? undefined : g.calls
      console.log(`\n${row.key}: ${formatSummary(summarize(files, g.windows), `strata serve during ${row.label}`, per)}`)
    }
  }
}

// ------------------------------------------------------------------ main

const dir = await tempDir('strata-bench-etcd-')
const servers: Server[] = []
// stopped from outside (a test's timeout, Ctrl-C): the servers must not outlive the bench
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    for (const s of servers) s.child?.kill('SIGKILL')
    rmSync(dir.path, { recursive: true, force: true })
    console.error(`bench:etcd: stopped by ${signal}; both servers killed`)
    process.exit(1)
  })
}
let failed: unknown
try {
  for (const name of ['etcd', 'strata'] as const) {
    const d = join(dir.path, name)
    mkdirSync(d)
    servers.push(new Server(name, d, await freePort(), await freePort()))
  }
  if (!existsSync(strataBin)) throw new Error(`${strataBin} is missing`)
  for (const s of servers) {
    const ms = await s.start(120_000)
    console.log(`${s.name} serving on ${s.endpoint} (first linearizable get after ${Math.round(ms)} ms)`)
  }
  // the key the linearizable gets read
  for (const s of servers) await etcdctl(s, 'put', 'bench-range', 'x'.repeat(256))
  const pair = (first: number): Server[] => (first % 2 === 0 ? servers : [...servers].reverse())
  let turn = 0
  for (let run = 0; run < RUNS && SHORT.some((l) => selected(l.row)); run++) {
    console.log(`short rows, run ${run + 1} of ${RUNS}`)
    for (const l of SHORT) if (selected(l.row)) for (const s of pair(turn++)) await shortRow(s, l)
  }
  if (selected('count', 'restart')) {
    console.log(`loading ${KEYS} keys`)
    for (const s of pair(turn++)) await load(s)
  }
  if (selected('count')) for (const s of pair(turn++)) await countRow(s)
  if (selected('restart')) for (let i = 0; i < RESTARTS; i++) for (const s of pair(turn++)) await restartRow(s)
  if (selected('auth64', 'auth_put_p99')) {
    for (const s of servers) await enableAuth(s)
    for (const s of pair(turn++)) await authRows(s)
  }
} catch (e) {
  failed = e
} finally {
  for (const s of servers) await s.stop()
}
try {
  if (failed !== undefined) throw failed
  explain(report())
} finally {
  await dir.cleanup()
}
