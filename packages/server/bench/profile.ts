// Where a Strata server process spends its CPU, from a V8 CPU profile (`node --cpu-prof`): self
// time grouped by component (transport, decode, raft, WAL, apply, encode, ...), optionally over a
// window of the run only, and per call; and a process's CPU time from /proc. Used by
// server.bench.ts and vs-etcd.ts.
//
// Self time in Node's own JavaScript (events, streams, buffers, timers) and in native frames is
// charged to the nearest caller that belongs to a component, so "transport" includes the Node
// plumbing it drives. A profile's timestamps are CLOCK_MONOTONIC µs, the clock of
// `process.hrtime.bigint()` in any process of the machine: `monotonicUs()` marks a window.
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

/** A process's CPU time (user + system, all threads) so far, µs, from /proc/<pid>/stat (clock ticks of 10 ms). */
export function processCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10_000
}

/** Now on the clock of CPU profiles (CLOCK_MONOTONIC), µs. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n)
}

/** Every `.cpuprofile` file in `dir`: one per thread of the process (`--cpu-prof` profiles worker threads too). */
export function profilesIn(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort().map((f) => join(dir, f))
}

/** The component a frame belongs to, or undefined for Node's own code (charged to its caller). */
function componentOf(url: string, fn: string): string | undefined {
  // backend's head scan at open runs as an eval'd worker (lmdb-head-scan.ts)
  if (url === '[worker eval]') return 'apply: backend (worker)'
  if (url === '') {
    if (fn === '(garbage collector)') return 'gc'
    if (fn === '(idle)' || fn === '(program)') return fn
    return undefined
  }
  if (url.includes('protobufjs') || url.includes('proto-loader')) {
    if (/reader/.test(url) || /decode|toObject/i.test(fn)) return 'decode'
    if (/writer/.test(url) || /encode|fromObject/i.test(fn)) return 'encode'
    return 'codec (protobufjs, other)'
  }
  // api/codec: bytesField/intField read request objects, pb* build response objects
  if (url.includes('/api/codec.')) return fn.startsWith('pb') ? 'encode' : 'decode'
  if (url.includes('/h2/fast-codec.') || url.includes('/h2/protobuf.')) {
    if (/decode|decoder|read|copy|next/i.test(fn)) return 'decode'
    return 'encode'
  }
  if (url.includes('grpc-js') || url.includes('internal/http2') || url.includes('/server/src/h2/') || url.includes('/server/dist/h2/')) return 'transport'
  const m = /packages\/(\w+)\/(?:src|dist)\/(?:(api|peer|cli)\/)?/.exec(url)
  if (m !== null) {
    const pkg = m[1]!
    if (pkg === 'server') return m[2] === 'api' ? 'api handlers' : `server ${m[2] ?? 'other'}`
    if (pkg === 'raft') return 'raft'
    if (pkg === 'wal') return 'wal'
    if (pkg === 'apply') return 'apply (request codec, dispatch)'
    if (pkg === 'mvcc') return 'apply: mvcc'
    if (pkg === 'backend') return 'apply: backend'
    if (pkg === 'auth') return 'auth'
    if (pkg === 'lease') return 'lease'
    return pkg === 'embed' ? 'embed (member loop)' : `@strata/${pkg}`
  }
  if (url.includes('lmdb')) return 'apply: backend'
  if (url.includes('sorted-btree')) return 'apply: mvcc'
  if (url.includes('@node-rs/bcrypt')) return 'auth'
  return undefined
}

export interface ProfileSummary {
  /** Busy (non-idle) CPU in the window, µs. */
  readonly busyUs: number
  /** Component -> µs of self time. */
  readonly components: ReadonlyMap<string, number>
  /** "function file:line" -> µs of self time. */
  readonly functions: ReadonlyMap<string, number>
}

/**
 * Self time by component and by function over the windows [fromUs, toUs] (monotonic µs; the whole
 * run by default), summed over the profiles given (the threads of one process: CPU on any of them).
 */
export function summarize(files: readonly string[], windows: readonly (readonly [number, number])[] = [[-Infinity, Infinity]]): ProfileSummary {
  const components = new Map<string, number>()
  const functions = new Map<string, number>()
  let busyUs = 0
  for (const file of files) {
    const one = summarizeOne(file, windows)
    busyUs += one.busyUs
    for (const [k, v] of one.components) components.set(k, (components.get(k) ?? 0) + v)
    for (const [k, v] of one.functions) functions.set(k, (functions.get(k) ?? 0) + v)
  }
  return { busyUs, components, functions }
}

function summarizeOne(file: string, windows: readonly (readonly [number, number])[]): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const self = new Map<number, number>()
  let t = prof.startTime
  prof.samples.forEach((id, i) => {
    const d = prof.timeDeltas[i] ?? 0
    t += d
    if (!windows.some(([from, to]) => t >= from && t <= to)) return
    self.set(id, (self.get(id) ?? 0) + d)
  })
  const parent = new Map<number, number>()
  const byId = new Map(prof.nodes.map((node) => [node.id, node]))
  for (const node of prof.nodes) for (const c of node.children ?? []) parent.set(c, node.id)
  const component = (id: number): string => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const node = byId.get(at)!
      const c = componentOf(node.callFrame.url, node.callFrame.functionName)
      if (c !== undefined) return c
    }
    // no Strata caller: libuv callbacks into Node's socket and stream code are the transport
    const url = byId.get(id)!.callFrame.url
    return /node:(net|internal\/(stream|net|js_stream))/.test(url) ? 'transport' : 'node (no Strata caller)'
  }
  const components = new Map<string, number>()
  const functions = new Map<string, number>()
  let busyUs = 0
  for (const node of prof.nodes) {
    const us = self.get(node.id) ?? 0
    if (us === 0) continue
    const c = component(node.id)
    if (c === '(idle)') continue
    components.set(c, (components.get(c) ?? 0) + us)
    busyUs += us
    const f = `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.split('/').slice(-2).join('/')}:${node.callFrame.lineNumber + 1}`
    functions.set(f, (functions.get(f) ?? 0) + us)
  }
  return { busyUs, components, functions }
}

/**
 * The summary as text: each component's share of busy time and, given `calls`, its µs per call;
 * then the top functions.
 */
export function formatSummary(s: ProfileSummary, title: string, calls?: number, topFunctions = 12): string {
  const lines = [`Where ${title} spends its CPU (self time charged to the nearest component; % of non-idle${calls === undefined ? '' : `, µs per call over ${calls} calls`}):`]
  if (s.busyUs === 0) return `${lines[0]}\n  (no samples in the window)`
  for (const [c, us] of [...s.components].sort((a, b) => b[1] - a[1])) {
    lines.push(`  ${c.padEnd(26)} ${((100 * us) / s.busyUs).toFixed(1).padStart(5)} %${calls === undefined ? '' : `  ${(us / Math.max(1, calls)).toFixed(1).padStart(8)} µs/call`}`)
  }
  if (calls !== undefined) lines.push(`  ${'total'.padEnd(26)} ${'100.0'.padStart(5)} %  ${(s.busyUs / Math.max(1, calls)).toFixed(1).padStart(8)} µs/call`)
  else lines.push(`  ${'total'.padEnd(26)} ${'100.0'.padStart(5)} %  ${(s.busyUs / 1000).toFixed(0)} ms of CPU (all threads)`)
  lines.push('  top functions (self time; "[worker eval]" is code run in a worker thread):')
  for (const [f, us] of [...s.functions].sort((a, b) => b[1] - a[1]).slice(0, topFunctions)) lines.push(`    ${((100 * us) / s.busyUs).toFixed(1).padStart(5)} %  ${f}`)
  return lines.join('\n')
}
