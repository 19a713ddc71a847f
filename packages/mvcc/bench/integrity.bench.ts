// The cost of integrity at rest (issue 17), every figure side by side in one run:
// 1. loading N keys (txns of 1,000 puts, 32-byte values) and single puts/s, with the checks
//    (checksum per record, totals written per txn) and without (benchIntegrityChecks off),
//    the put windows alternating on/off so drift hits both alike;
// 2. restart of the N-key store in new processes (integrity-restart-child.ts), alternating:
//    always (structure check in a child process + record checks: what a restart after a crash
//    costs by default), default (after a clean close: the marker skips the structure check;
//    record checks), off (neither);
// 3. data file size right after the load: the store (record format 2) against the same records
//    in format 1 (37-byte header, no checksum) written straight through the backend;
// 4. the checks' own CPU: xxh32 of N records of the loaded size, ns per record.
// Prints `RESULT mvcc.integrity.*` lines; BENCH_QUICK=1 uses 100k keys and short windows.
import { spawnSync } from 'node:child_process'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LmdbBackend } from '@strata/backend'
import { printResult, quick, tempDir } from '@strata/testkit'
import { MvccStore } from '../src/index.js'
import { KV_HEADER_BYTES, benchIntegrityChecks, checksum, encodeRevision, recordSeed } from '../src/internal.js'

const N = quick ? 100_000 : 1_000_000
const LABEL = quick ? '100k' : '1M'
const WINDOW_MS = quick ? 300 : 1500
const RESTARTS = quick ? 2 : 5
const clock = { now: () => 0, setTimer: () => ({ cancel() {} }) }
const value = new Uint8Array(32).fill(0x61)
const keyOf = (i: number): string => `key/${String(i).padStart(8, '0')}`
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const dir = await tempDir('strata-integrity-bench-')

async function load(path: string, checks: boolean): Promise<{ ms: number; store: MvccStore; backend: LmdbBackend }> {
  benchIntegrityChecks.enabled = checks
  const backend = await LmdbBackend.open(path, { clock, batchLimit: 10_000 })
  const store = await MvccStore.open(backend)
  const t0 = performance.now()
  for (let i = 0; i < N; i += 1000) {
    store.write((txn) => {
      for (let j = i; j < i + 1000 && j < N; j++) txn.put(keyOf(j), value)
    })
  }
  await backend.commit()
  return { ms: performance.now() - t0, store, backend }
}

const size = (p: string): number => statSync(join(dir.path, p, 'data.mdb')).size
const loadOff = await load(join(dir.path, 'off'), false)
const loadOn = await load(join(dir.path, 'on'), true)
// Before the put windows add their revisions to the stores.
const sizeOn = size('on')
const sizeOff = size('off')
console.log(`load of ${N} keys: checks on ${loadOn.ms.toFixed(0)} ms, off ${loadOff.ms.toFixed(0)} ms`)

/** Single puts (100-key working set) for WINDOW_MS on `s`, with the checks as `checks`; puts/s. */
async function putWindow(s: { store: MvccStore; backend: LmdbBackend }, checks: boolean): Promise<number> {
  benchIntegrityChecks.enabled = checks
  let n = 0
  const t0 = performance.now()
  while (performance.now() - t0 < WINDOW_MS) {
    for (let k = 0; k < 100; k++) s.store.put(`put/${(n + k) % 100}`, value)
    n += 100
    await s.backend.commit()
  }
  return (n / (performance.now() - t0)) * 1000
}
const on: number[] = []
const off: number[] = []
for (let r = 0; r < 3; r++) {
  off.push(await putWindow(loadOff, false))
  on.push(await putWindow(loadOn, true))
}
benchIntegrityChecks.enabled = true
for (const s of [loadOff, loadOn]) {
  await s.store.close()
  await s.backend.close()
}

// The same records in format 1, for the file size.
const legacyBackend = await LmdbBackend.open(join(dir.path, 'format1'), { clock, batchLimit: 10_000 })
const enc = new TextEncoder()
for (let i = 0; i < N; i += 1000) {
  legacyBackend.write((tx) => {
    for (let j = i; j < i + 1000 && j < N; j++) {
      const main = 2 + Math.floor(j / 1000)
      const k = enc.encode(keyOf(j))
      const out = new Uint8Array(37 + k.length + value.length)
      out[0] = 1
      const view = new DataView(out.buffer)
      view.setUint32(1, k.length)
      view.setUint32(9, main)
      view.setUint32(17, main)
      view.setUint32(25, 1)
      out.set(k, 37)
      out.set(value, 37 + k.length)
      tx.put('key', encodeRevision({ main, sub: j % 1000 }), out)
    }
  })
}
await legacyBackend.close()

const child = fileURLToPath(new URL('./integrity-restart-child.ts', import.meta.url))
type Restart = { ms: number; backendMs: number; structureMs: number; why: string; keys: number }
function restart(mode: 'always' | 'default' | 'off'): Restart {
  const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', child, join(dir.path, 'on'), mode], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`restart child failed: ${r.stderr}`)
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Restart
  const want = { always: 'always', default: 'clean-close', off: 'off' }[mode]
  if (out.why !== want) throw new Error(`restart ${mode}: the backend reported ${out.why}, not ${want}`)
  return out
}
const restarts = { always: [] as number[], default: [] as number[], off: [] as number[], structure: [] as number[] }
for (let r = 0; r < RESTARTS; r++) {
  const always = restart('always')
  restarts.always.push(always.ms)
  restarts.structure.push(always.structureMs)
  restarts.default.push(restart('default').ms)
  restarts.off.push(restart('off').ms)
}

// The checks' CPU alone: the checksum of every record (checkRecord's xxh32, seeded by revision).
const record = new Uint8Array(KV_HEADER_BYTES + keyOf(0).length + value.length).fill(0x62)
const revKey = encodeRevision({ main: 2, sub: 0 })
let sink = 0
const hashRuns: number[] = []
for (let r = 0; r < 3; r++) {
  const t0 = performance.now()
  for (let i = 0; i < N; i++) sink ^= checksum(record, 5, record.length, recordSeed(revKey, 0, 17) ^ i)
  hashRuns.push(((performance.now() - t0) * 1e6) / N)
}
if (sink === 0.5) console.log(sink)

console.log(`puts/s on ${on.map((x) => x.toFixed(0)).join(' ')}, off ${off.map((x) => x.toFixed(0)).join(' ')}`)
console.log(`restart ms: always ${restarts.always.map((x) => x.toFixed(0)).join(' ')} (of which the structure check ${restarts.structure.map((x) => x.toFixed(0)).join(' ')}), default after a clean close ${restarts.default.map((x) => x.toFixed(0)).join(' ')}, off ${restarts.off.map((x) => x.toFixed(0)).join(' ')}`)
console.log(`xxh32 per ${record.length}-byte record: ${hashRuns.map((x) => x.toFixed(0)).join(' ')} ns; data file right after the load: on ${(sizeOn / 2 ** 20).toFixed(1)} MiB, off ${(sizeOff / 2 ** 20).toFixed(1)} MiB`)
printResult(`mvcc.integrity.load.on.${LABEL}`, (N / loadOn.ms) * 1000, 'keys/s')
printResult(`mvcc.integrity.load.off.${LABEL}`, (N / loadOff.ms) * 1000, 'keys/s')
printResult('mvcc.integrity.put.on', median(on), 'ops/s')
printResult('mvcc.integrity.put.off', median(off), 'ops/s')
printResult(`mvcc.integrity.restart.always.${LABEL}`, median(restarts.always), 'ms')
printResult(`mvcc.integrity.restart.structure-check.${LABEL}`, median(restarts.structure), 'ms')
printResult(`mvcc.integrity.restart.default-clean.${LABEL}`, median(restarts.default), 'ms')
printResult(`mvcc.integrity.restart.off.${LABEL}`, median(restarts.off), 'ms')
printResult(`mvcc.integrity.restart.ratio.default-clean-vs-off`, median(restarts.default) / median(restarts.off), 'ratio')
printResult(`mvcc.integrity.restart.ratio.always-vs-off`, median(restarts.always) / median(restarts.off), 'ratio')
printResult('mvcc.integrity.put.ratio.on-vs-off', median(on) / median(off), 'ratio')
printResult('mvcc.integrity.checksum.ns_per_record', median(hashRuns), 'ns')
printResult(`mvcc.integrity.size.format2.${LABEL}`, sizeOn / 2 ** 20, 'MiB')
printResult(`mvcc.integrity.size.format1.${LABEL}`, size('format1') / 2 ** 20, 'MiB')
await dir.cleanup()
