// @strata/server against etcd 3.4.23, side by side in one run, all driven by `strata bench`'s
// lean HTTP/2 client (src/h2, a few µs of client CPU per call):
//   (a) Strata: an embed store served by createGrpcServer (@grpc/grpc-js on node:http2), in a
//       child process (strata-server-child.ts), durable writes;
//   (a') the same store served by createH2GrpcServer (the lean HTTP/2 framing of src/h2, same
//       handlers and codecs), in a child process of its own;
//   (b) etcd 3.4.23 (Debian's etcd-server, when `etcd` is on PATH), one member on loopback,
//       durable writes. Without etcd only Strata's figures and no ratios are printed.
// Loads: single puts with 16 and 256 in flight; linearizable ranges with 64 and 256 in flight;
// serializable ranges with 256; txns of 128 puts with 16; watch events (100 watchers); lease
// keep-alives with 64 streams. For each: throughput, p99, the server process's CPU per call
// (from /proc/<pid>/stat) and the client's. The servers take turns going first.
// SERVER_BENCH_PROFILE=1 runs the Strata children under --cpu-prof and prints where their time goes.
// BENCH_QUICK=1: a few hundred calls per load.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { printResult, quick, tempDir } from '@strata/testkit'
import { freePort } from '../src/spawn.js'
import { formatSummary, processCpuUs, profilesIn, summarize } from './profile.js'
import { METHOD_PUT, putRequest } from '../src/bench/proto.js'
import { H2Connection } from '../src/h2/client.js'
import { type BenchKind, type BenchOptions, type BenchReport, runWorkload } from '../src/bench/run.js'

const here = fileURLToPath(new URL('.', import.meta.url))
const profile = process.env['SERVER_BENCH_PROFILE'] === '1'
const scale = quick ? 0.02 : 1
const n = (full: number): number => Math.max(50, Math.round(full * scale))

type TargetName = 'etcd' | 'grpc-js' | 'h2' | 'h2-generic'
const TARGETS: readonly TargetName[] = ['etcd', 'grpc-js', 'h2', 'h2-generic']
/** SERVER_BENCH_TARGETS=etcd,grpc-js,h2,h2-generic picks the servers (default: the first three). */
const wanted = (process.env['SERVER_BENCH_TARGETS'] ?? 'etcd,grpc-js,h2').split(',')
for (const w of wanted) if (!(TARGETS as readonly string[]).includes(w)) throw new Error(`SERVER_BENCH_TARGETS: unknown server ${w} (${TARGETS.join(', ')})`)

interface Target {
  name: TargetName
  endpoint: string
  pid: number
  stop(): Promise<void>
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve()
      return
    }
    const kill = setTimeout(() => child.kill('SIGKILL'), 15_000)
    child.once('exit', () => {
      clearTimeout(kill)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

/** Waits until a serializable range answers (the member serves). */
async function waitServing(endpoint: string, child: ChildProcess, what: string): Promise<void> {
  const deadline = performance.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before serving`)
    try {
      const r = await runWorkload('range', { endpoints: [endpoint], total: 1, key: 'warm', consistency: 'l' })
      if (r.errors === 0) return
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) throw new Error(`${what} did not serve on ${endpoint} within 30 s`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function startEtcd(dir: string): Promise<Target | undefined> {
  if (spawnSync('etcd', ['--version'], { encoding: 'utf8' }).status !== 0) return undefined
  const client = await freePort()
  const peer = await freePort()
  const child = spawn('etcd', [
    '--name', 'bench', '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `bench=http://127.0.0.1:${peer}`, '--log-level', 'error',
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  child.stderr!.on('data', (d) => (log = (log + String(d)).slice(-4000)))
  const endpoint = `127.0.0.1:${client}`
  try {
    await waitServing(endpoint, child, 'etcd')
  } catch (e) {
    await stopChild(child)
    throw new Error(`${(e as Error).message}\n${log}`)
  }
  return { name: 'etcd', endpoint, pid: child.pid!, stop: () => stopChild(child) }
}

async function startStrata(dir: string, profDir: string, transport: 'grpc-js' | 'h2' | 'h2-generic'): Promise<Target> {
  const args = ['--conditions=source', '--import', 'tsx', ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${join(profDir, transport)}`] : []), join(here, 'strata-server-child.ts'), join(dir, `strata-${transport}`), transport]
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] })
  const line = await new Promise<string>((resolve, reject) => {
    let buf = ''
    child.stdout!.on('data', (d) => {
      buf += String(d)
      const i = buf.indexOf('\n')
      if (i >= 0) resolve(buf.slice(0, i))
    })
    child.once('exit', (code) => reject(new Error(`the Strata server child exited with ${code} before serving`)))
  })
  const { port } = JSON.parse(line) as { port: number }
  const endpoint = `127.0.0.1:${port}`
  await waitServing(endpoint, child, `strata (${transport})`)
  return { name: transport, endpoint, pid: child.pid!, stop: () => stopChild(child) }
}

async function putKey(endpoint: string, key: string, value: Uint8Array): Promise<void> {
  const c = await H2Connection.open(endpoint)
  try {
    await new Promise<void>((resolve, reject) => c.unary(c.requestHeaders(METHOD_PUT), putRequest(Buffer.from(key), value).bytes, (err) => (err === null ? resolve() : reject(err))))
  } finally {
    await c.close()
  }
}


interface Load {
  label: string
  kind: BenchKind
  options: BenchOptions
  /** The figure compared: calls/s, keys/s (txn) or events/s (watch). */
  figure: (r: BenchReport) => number
  unit: string
}

/** RESULT name prefix of each Strata server. */
const PREFIXES = [['server', 'grpc-js'], ['server.h2', 'h2'], ['server.h2_generic', 'h2-generic']] as const

const calls = (r: BenchReport): number => r.perSecond
const loads: Load[] = [
  { label: 'put16', kind: 'put', options: { conns: 1, clients: 16, total: n(10_000), keySpaceSize: 100_000, valSize: 256 }, figure: calls, unit: 'puts/s' },
  { label: 'put256', kind: 'put', options: { conns: 4, clients: 256, total: n(40_000), keySpaceSize: 100_000, valSize: 256 }, figure: calls, unit: 'puts/s' },
  { label: 'range64', kind: 'range', options: { conns: 1, clients: 64, total: n(10_000), key: 'bench-range', consistency: 'l' }, figure: calls, unit: 'gets/s' },
  { label: 'range256', kind: 'range', options: { conns: 4, clients: 256, total: n(20_000), key: 'bench-range', consistency: 'l' }, figure: calls, unit: 'gets/s' },
  { label: 'range256s', kind: 'range', options: { conns: 4, clients: 256, total: n(60_000), key: 'bench-range', consistency: 's' }, figure: calls, unit: 'gets/s' },
  { label: 'txn128', kind: 'txn-put', options: { conns: 1, clients: 16, total: n(500), txnOps: 128, keySpaceSize: 1_000_000, valSize: 32 }, figure: (r) => r.keysPerSecond, unit: 'keys/s' },
  { label: 'watch100', kind: 'watch', options: { conns: 2, clients: 16, total: n(2_000), watchers: 100, streams: 10, valSize: 32 }, figure: calls, unit: 'events/s' },
  { label: 'keepalive64', kind: 'lease-keepalive', options: { conns: 2, clients: 64, total: n(40_000) }, figure: calls, unit: 'keepalives/s' },
]

interface Row {
  load: Load
  report: BenchReport
  serverCpuUs: number
}

async function measure(t: Target, load: Load): Promise<Row> {
  if (!quick) await runWorkload(load.kind, { ...load.options, endpoints: [t.endpoint], total: Math.max(50, Math.round((load.options.total ?? 1000) / 10)) }) // warm-up
  const cpu0 = processCpuUs(t.pid)
  const report = await runWorkload(load.kind, { ...load.options, endpoints: [t.endpoint] })
  const serverCpu = processCpuUs(t.pid) - cpu0
  const per = load.kind === 'watch' ? (report.puts ?? report.calls) : report.calls
  return { load, report, serverCpuUs: serverCpu / Math.max(1, per) }
}

/** Prints where a Strata child's CPU went over the whole run (profile.ts: by component, top functions). */
function summarizeProfile(profDir: string, title: string): void {
  const files = profilesIn(profDir)
  if (files.length === 0) {
    console.log(`(no CPU profile was written for ${title})`)
    return
  }
  console.log(`\n${formatSummary(summarize(files), `the Strata server process (${title}) over the whole run`, undefined, 15)}`)
}

const dir = await tempDir('strata-server-bench-')
const profDir = join(dir.path, 'prof')
mkdirSync(profDir)
const targets: Target[] = []
try {
  const etcd = wanted.includes('etcd') ? await startEtcd(dir.path) : undefined
  if (etcd === undefined) console.log('etcd is not installed (apt-get install etcd-server etcd-client) or not asked for: no ratios to etcd')
  else targets.push(etcd)
  for (const t of ['grpc-js', 'h2', 'h2-generic'] as const) if (wanted.includes(t)) targets.push(await startStrata(dir.path, profDir, t))
  for (const t of targets) await putKey(t.endpoint, 'bench-range', Buffer.alloc(256, 0x61)) // the key the range loads read
  const rows = new Map<string, Map<TargetName, Row>>()
  for (const [i, load] of loads.entries()) {
    const order = [...targets.slice(i % targets.length), ...targets.slice(0, i % targets.length)]
    const byTarget = new Map<TargetName, Row>()
    for (const t of order) byTarget.set(t.name, await measure(t, load))
    rows.set(load.label, byTarget)
  }
  const get = (label: string, name: TargetName): Row | undefined => rows.get(label)?.get(name)
  console.log(`\nServer bench (${quick ? 'quick' : 'full'}): one member each, durable writes, loopback; Strata = embed store behind createGrpcServer (grpc-js) or createH2GrpcServer (h2)`)
  console.log('figure per second, then ratio to etcd; p99 ms; server process CPU µs per call; client CPU µs per call')
  const cols = targets.map((t) => t.name)
  console.log(`load         | ${cols.map((c) => c.padStart(9)).join(' | ')} | ${cols.filter((c) => c !== 'etcd' && targets.some((t) => t.name === 'etcd')).map((c) => `${c} ÷ etcd`.padStart(13)).join(' | ')} | p99 ms ${cols.join('/')} | server CPU µs/call ${cols.join('/')} | client CPU µs/call | errors`)
  let clientCpu = 0
  let clientCalls = 0
  for (const load of loads) {
    const rs = cols.map((c) => get(load.label, c)!)
    const e = get(load.label, 'etcd')
    const ratios = rs.filter((r, i) => cols[i] !== 'etcd' && e !== undefined).map((r) => (load.figure(r.report) / load.figure(e!.report)).toFixed(2).padStart(13))
    console.log(
      `${load.label.padEnd(12)} | ${rs.map((r) => String(Math.round(load.figure(r.report))).padStart(9)).join(' | ')} | ${ratios.join(' | ')} | ` +
        `${rs.map((r) => r.report.latencyMs.p99.toFixed(1)).join(' / ')} | ${rs.map((r) => r.serverCpuUs.toFixed(0)).join(' / ')} | ` +
        `${rs.map((r) => r.report.clientCpuUsPerCall.toFixed(1)).join(' / ')} | ${rs.map((r) => r.report.errors).join(' / ')}   (${load.unit})`,
    )
    for (const r of rs) {
      if (r.report.errors > 0) console.log(`    errors: ${JSON.stringify(r.report.errorCounts)}`)
      if (load.kind !== 'watch' && load.kind !== 'txn-put') {
        clientCpu += r.report.clientCpuUsPerCall * r.report.calls
        clientCalls += r.report.calls
      }
    }
  }
  const result = (name: string, label: string, unit: string): void => {
    const load = loads.find((l) => l.label === label)!
    const e = get(label, 'etcd')
    for (const [prefix, t] of PREFIXES) {
      const s = get(label, t)
      if (s === undefined) continue
      printResult(`${prefix}.${name}.ops_per_s`, Math.round(load.figure(s.report)), unit)
      if (e !== undefined) printResult(`${prefix}.${name}.ratio_vs_etcd`, load.figure(s.report) / load.figure(e.report), 'x')
    }
    if (e !== undefined) printResult(`server.etcd.${name}.ops_per_s`, Math.round(load.figure(e.report)), unit)
  }
  result('put.16inflight', 'put16', 'puts/s')
  result('put.256inflight', 'put256', 'puts/s')
  const p256e = get('put256', 'etcd')
  for (const [prefix, t] of PREFIXES) {
    const p = get('put256', t)
    if (p256e !== undefined && p !== undefined) printResult(`${prefix}.put.ratio_vs_etcd`, p.report.perSecond / p256e.report.perSecond, 'x')
  }
  result('range.64inflight', 'range64', 'gets/s')
  result('range.256inflight', 'range256', 'gets/s')
  result('range_serializable.256inflight', 'range256s', 'gets/s')
  result('txn128.16inflight', 'txn128', 'keys/s')
  result('watch.100watchers', 'watch100', 'events/s')
  result('lease_keepalive.64streams', 'keepalive64', 'keepalives/s')
  for (const [prefix, t] of [...PREFIXES, ['server.etcd', 'etcd'] as const]) {
    const put = get('put256', t)
    if (put === undefined) continue
    printResult(`${prefix}.put.256inflight.p99_ms`, put.report.latencyMs.p99, 'ms')
    printResult(`${prefix}.put.256inflight.server_cpu_us_per_call`, put.serverCpuUs, 'us')
    printResult(`${prefix}.range.256inflight.server_cpu_us_per_call`, get('range256', t)!.serverCpuUs, 'us')
  }
  printResult('bench.client.cpu_us_per_call', clientCpu / Math.max(1, clientCalls), 'us')
} finally {
  for (const t of targets) await t.stop()
  if (profile) {
    for (const t of ['grpc-js', 'h2', 'h2-generic'] as const) if (wanted.includes(t)) summarizeProfile(join(profDir, t), t === 'grpc-js' ? 'createGrpcServer, grpc-js' : `createH2GrpcServer, lean ${t}`)
  }
  await dir.cleanup()
}
