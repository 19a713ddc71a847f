// The bench:etcd restart row alone, on a kept data dir (issue 15): fills `strata serve` with N keys
// exactly as vs-etcd.ts's load does (txns of 128 puts, 16 in flight, strata bench's zigzag-varint
// 8-byte keys, 32-byte values), keeps the dir, then restarts the server RESTARTS times (SIGTERM,
// start, poll a linearizable get) and prints each restart's wall time and the process's CPU.
//   node --conditions=source --import tsx packages/server/bench/restart-1m.ts <dir> [keys]
// Env: RESTARTS (3), STRATA_PROF=1 (--cpu-prof into <dir>/prof-N), STRATA_BIN.
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runWorkload } from '../src/bench/run.js'
import { freePort } from '../src/spawn.js'
import { firstGetMs, processCpuMs, startServe, stopChild } from './serve-child.js'

const here = fileURLToPath(new URL('.', import.meta.url))
const strataBin = process.env['STRATA_BIN'] ?? join(here, '..', 'bin', 'strata')
const dir = process.argv[2]
if (dir === undefined) throw new Error('usage: restart-1m.ts <dir> [keys]')
const KEYS = Number(process.argv[3] ?? 1_000_000)
const RESTARTS = Number(process.env['RESTARTS'] ?? 3)
// the member records its peer URL: a kept dir restarts on the ports it was filled with
const portsFile = join(dir, 'ports.json')
const [clientPort, peerPort] = existsSync(portsFile) ? (JSON.parse(readFileSync(portsFile, 'utf8')) as number[]) : [await freePort(), await freePort()]
mkdirSync(dir, { recursive: true })
writeFileSync(portsFile, JSON.stringify([clientPort, peerPort]))
const endpoint = `127.0.0.1:${clientPort}`

const start = (n: number) => startServe(strataBin, join(dir!, 'data'), clientPort!, peerPort!, process.env['STRATA_PROF'] === '1' ? join(dir!, `prof-${n}`) : undefined)
const ready = (child: ChildProcess, t0: number) => firstGetMs(child, clientPort!, t0, 10)

const fresh = !existsSync(join(dir, 'data'))
let child = start(0)
console.log(`first start: ${Math.round(await ready(child, performance.now()))} ms`)
if (fresh) {
  const t = performance.now()
  const r = await runWorkload('txn-put', { endpoints: [endpoint], conns: 2, clients: 16, total: Math.ceil(KEYS / 128), txnOps: 128, keySpaceSize: KEYS, sequentialKeys: true, valSize: 32 })
  console.log(`loaded ${KEYS} keys in ${Math.round(performance.now() - t)} ms, errors ${r.errors}`)
}
const times: number[] = []
for (let i = 1; i <= RESTARTS; i++) {
  await stopChild(child)
  const t0 = performance.now()
  child = start(i)
  const ms = await ready(child, t0)
  const cpu = processCpuMs(child.pid!)
  times.push(ms)
  console.log(`restart ${i}: ${Math.round(ms)} ms to the first linearizable get, CPU ${Math.round(cpu)} ms (at the read + poll)`)
}
await stopChild(child)
times.sort((a, b) => a - b)
console.log(`RESULT server.restart.1M.ms ${Math.round(times[times.length >> 1]!)} ms`)
