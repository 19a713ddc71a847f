// `strata bench <kind> [flags]`: the command-line face of runWorkload, with etcd benchmark's flag names.
import { H2Error } from '../h2/errors.js'
import { BENCH_KINDS, type BenchKind, type BenchOptions, type BenchReport, runWorkload } from './run.js'

export const BENCH_HELP = `strata bench <kind> [flags]: load an etcd v3 gRPC endpoint (etcd or Strata) and report
throughput, latency percentiles and this client's CPU per call.

Kinds:
  put                      single puts
  range <key> [<end>]      ranges over one key (or [key, end)); --consistency l|s
  txn-put                  transactions of --txn-ops puts
  watch                    --watchers on --streams watch one key; --total puts to it; reports events delivered
  lease-keepalive          one lease per client; --total keep-alive requests over LeaseKeepAlive streams
  authenticate             Authenticate calls with --user's credentials (password hashing under load)

Flags (defaults in brackets):
  --endpoints <h:p,...>    gRPC endpoints [127.0.0.1:2379]
  --conns <n>              HTTP/2 connections [1]
  --clients <n>            requests in flight [1]
  --total <n>              requests in all [10000]
  --key-size <n>           key bytes [8]
  --val-size <n>           value bytes [8]
  --key-space-size <n>     distinct keys [1]
  --sequential-keys        keys in order instead of random
  --consistency <l|s>      range: linearizable or serializable [l]
  --limit <n>              range: most keys returned [0: all]
  --count-only             range: count only
  --txn-ops <n>            txn-put: puts per txn [1]
  --watchers <n>           watch: watchers [100]
  --streams <n>            watch: watch streams [10]
  --watch-key <key>        watch: the key watched and written [bench-watch]
  --lease-ttl <s>          lease-keepalive: lease TTL, seconds [60]
  --user <name:password>   authenticate and send the token (authenticate: the credentials sent)
  --seed <n>               random key seed [1]
  --json                   print the report as one JSON object
  --help                   this text
`

const NUMBER_FLAGS: Record<string, keyof BenchOptions> = {
  conns: 'conns', clients: 'clients', total: 'total', 'key-size': 'keySize', 'val-size': 'valSize', 'key-space-size': 'keySpaceSize',
  limit: 'limit', 'txn-ops': 'txnOps', watchers: 'watchers', streams: 'streams', 'lease-ttl': 'leaseTtlSeconds', seed: 'seed',
}
const STRING_FLAGS: Record<string, keyof BenchOptions> = { consistency: 'consistency', 'watch-key': 'watchKey', user: 'user' }
const BOOLEAN_FLAGS: Record<string, keyof BenchOptions> = { 'sequential-keys': 'sequentialKeys', 'count-only': 'countOnly' }

function bad(message: string, context?: Record<string, unknown>): H2Error {
  return new H2Error('ERR_SERVER_INVALID_OPTION', `bench: ${message}; see strata bench --help`, context)
}

/** Parses `strata bench` arguments (everything after `bench`). */
export function parseBenchArgs(argv: readonly string[]): { kind: BenchKind; options: BenchOptions; json: boolean } | 'help' {
  const o: Record<string, unknown> = {}
  const positional: string[] = []
  let json = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--help' || arg === '-h') return 'help'
    if (!arg.startsWith('--')) {
      positional.push(arg)
      continue
    }
    const eq = arg.indexOf('=')
    const name = arg.slice(2, eq < 0 ? undefined : eq)
    const inline = eq < 0 ? undefined : arg.slice(eq + 1)
    if (name === 'json') {
      json = true
      continue
    }
    if (name in BOOLEAN_FLAGS) {
      o[BOOLEAN_FLAGS[name]!] = inline === undefined ? true : inline === 'true'
      continue
    }
    const value = inline ?? argv[++i]
    if (value === undefined) throw bad(`--${name} needs a value`, { flag: name })
    if (name === 'endpoints') o.endpoints = value.split(',').filter((e) => e !== '')
    else if (name in NUMBER_FLAGS) {
      const n = Number(value)
      if (value.trim() === '' || !Number.isSafeInteger(n)) throw bad(`--${name} ${JSON.stringify(value)} is not an integer`, { flag: name, value })
      o[NUMBER_FLAGS[name]!] = n
    } else if (name in STRING_FLAGS) o[STRING_FLAGS[name]!] = value
    else throw bad(`unknown flag --${name}`, { flag: name })
  }
  const kind = positional.shift()
  if (kind === undefined || !(BENCH_KINDS as readonly string[]).includes(kind)) throw bad(`the kind must be one of ${BENCH_KINDS.join(', ')} (got ${JSON.stringify(kind)})`, { kind })
  if (kind === 'range') {
    const key = positional.shift()
    if (key === undefined) throw bad('range needs a key: strata bench range <key> [<end>]')
    o.key = key
    const end = positional.shift()
    if (end !== undefined) o.rangeEnd = end
  }
  if (positional.length > 0) throw bad(`unexpected arguments ${positional.join(' ')}`)
  return { kind: kind as BenchKind, options: o as BenchOptions, json }
}

const fmt = (n: number, digits = 2): string => n.toFixed(digits)

/** The report as etcd's benchmark prints it, plus this client's CPU per call. */
export function formatReport(r: BenchReport): string {
  const lines = [
    `bench ${r.kind}: ${r.calls} ${r.kind === 'watch' ? 'events' : 'calls'}, ${r.clients} clients over ${r.conns} connection(s) to ${r.endpoints.join(',')}`,
    `  total          ${fmt(r.seconds, 3)} s`,
    `  throughput     ${fmt(r.perSecond, 0)} ${r.kind === 'watch' ? 'events' : 'calls'}/s${r.keysPerSecond !== r.perSecond ? ` (${fmt(r.keysPerSecond, 0)} keys/s)` : ''}`,
    ...(r.puts === undefined ? [] : [`  puts           ${r.puts}`]),
    `  latency (ms)   p50 ${fmt(r.latencyMs.p50, 3)}  p90 ${fmt(r.latencyMs.p90, 3)}  p99 ${fmt(r.latencyMs.p99, 3)}  max ${fmt(r.latencyMs.max, 3)}  mean ${fmt(r.latencyMs.mean, 3)}`,
    `  client CPU     ${fmt(r.clientCpuUsPerCall, 1)} µs per ${r.kind === 'watch' ? 'put or event' : 'call'} (system ${fmt(r.clientSystemUsPerCall, 1)})`,
    `  errors         ${r.errors}`,
    ...Object.entries(r.errorCounts).map(([m, n]) => `    ${n} x ${m}`),
  ]
  return lines.join('\n')
}

export interface BenchIo {
  readonly out: (text: string) => void
  readonly err: (text: string) => void
  /** Show a progress line on err (default: when stderr is a terminal). */
  readonly progress?: boolean
}

const defaultIo: BenchIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  progress: process.stderr.isTTY === true,
}

/** Runs `strata bench <argv...>`; resolves with the exit code (0, 1 on errors during the run, 2 on bad flags). */
export async function runBench(argv: readonly string[], io: BenchIo = defaultIo): Promise<number> {
  let parsed: ReturnType<typeof parseBenchArgs>
  try {
    parsed = parseBenchArgs(argv)
  } catch (e) {
    io.err(`${(e as Error).message}\n`)
    return 2
  }
  if (parsed === 'help') {
    io.out(BENCH_HELP)
    return 0
  }
  const onProgress = io.progress === true ? (done: number, total: number) => io.err(`\r${parsed.kind}: ${done}/${total}`) : undefined
  let report: BenchReport
  try {
    report = await runWorkload(parsed.kind, { ...parsed.options, ...(onProgress === undefined ? {} : { onProgress }) })
  } catch (e) {
    io.err(`${(e as Error).message}\n`)
    return e instanceof H2Error && e.code === 'ERR_SERVER_INVALID_OPTION' ? 2 : 1
  }
  if (onProgress !== undefined) io.err('\n')
  io.out(parsed.json ? `${JSON.stringify(report)}\n` : `${formatReport(report)}\n`)
  return report.errors > 0 ? 1 : 0
}
