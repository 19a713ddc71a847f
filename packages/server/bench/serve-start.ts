// Start-up of `strata serve` to its first served linearizable get (issue 15), for one build or
// several taking turns (ABAB...) so a noisy machine's load falls on each alike. Each build gets
// a data dir of its own under <dir>, made by a first start that is not counted; every counted
// start is a restart of that member (SIGTERM, start, poll a linearizable get every 5 ms).
//   node --conditions=source --import tsx packages/server/bench/serve-start.ts <dir>
// Env: STRATA_BINS (comma-separated `strata` executables; default this package's bin/strata),
// ROUNDS (7), STRATA_PROF=1 (--cpu-prof into <dir>/prof-<build>-<round>).
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runWorkload } from '../src/bench/run.js'
import { freePort } from '../src/spawn.js'

const here = fileURLToPath(new URL('.', import.meta.url))
const bins = (process.env['STRATA_BINS'] ?? join(here, '..', 'bin', 'strata')).split(',')
const dir = process.argv[2]
if (dir === undefined) throw new Error('usage: serve-start.ts <dir>')
const ROUNDS = Number(process.env['ROUNDS'] ?? 7)
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

interface Member { readonly bin: string; readonly dataDir: string; readonly client: number; readonly peer: number }

function start(m: Member, prof: string | undefined): ChildProcess {
  const client = `http://127.0.0.1:${m.client}`
  const peer = `http://127.0.0.1:${m.peer}`
  const flags = prof === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}`]
  return spawn(process.execPath, [...flags, m.bin, 'serve', '--name', 'bench', '--data-dir', m.dataDir,
    '--listen-client-urls', client, '--advertise-client-urls', client, '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer, '--initial-cluster', `bench=${peer}`, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] })
}

async function ready(child: ChildProcess, m: Member, t0: number): Promise<number> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${m.bin} exited ${child.exitCode}`)
    try {
      const r = await runWorkload('range', { endpoints: [`127.0.0.1:${m.client}`], total: 1, key: 'bench-range', consistency: 'l' })
      if (r.errors === 0) return performance.now() - t0
    } catch {}
    await sleep(5)
  }
}

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  await new Promise<void>((r) => { child.once('exit', () => r()); child.kill('SIGTERM') })
}

const members: Member[] = []
for (const [i, bin] of bins.entries()) {
  const m = { bin, dataDir: join(dir, `data-${i}`), client: await freePort(), peer: await freePort() }
  mkdirSync(dir, { recursive: true })
  const child = start(m, undefined)
  await ready(child, m, performance.now())
  await stop(child)
  members.push(m)
}
const wall: number[][] = bins.map(() => [])
const cpu: number[][] = bins.map(() => [])
for (let round = 1; round <= ROUNDS; round++) {
  for (const [i, m] of members.entries()) {
    const prof = process.env['STRATA_PROF'] === '1' ? join(dir, `prof-${i}-${round}`) : undefined
    const t0 = performance.now()
    const child = start(m, prof)
    wall[i]!.push(await ready(child, m, t0))
    cpu[i]!.push(cpuMs(child.pid!))
    await stop(child)
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
for (const [i, bin] of bins.entries()) {
  console.log(`${bin}: wall ms ${wall[i]!.map(Math.round).join(' / ')}; CPU ms ${cpu[i]!.map(Math.round).join(' / ')}`)
  console.log(`RESULT server.start.${i}.ms ${Math.round(median(wall[i]!))} ms`)
  if (i > 0) console.log(`RESULT server.start.ratio.0_over_${i} ${(median(wall[0]!) / median(wall[i]!)).toFixed(2)} x`)
}
