// Start-up of `strata serve` to its first served linearizable get (issue 15), for one build or
// several taking turns (ABAB...) so a noisy machine's load falls on each alike. Each build gets
// a data dir of its own under <dir>, made by a first start that is not counted; every counted
// start is a restart of that member (SIGTERM, start, poll a linearizable get every 5 ms).
//   node --conditions=source --import tsx packages/server/bench/serve-start.ts <dir>
// Env: STRATA_BINS (comma-separated `strata` executables; default this package's bin/strata),
// ROUNDS (7), STRATA_PROF=1 (--cpu-prof into <dir>/prof-<build>-<round>).
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '../src/spawn.js'
import { firstGetMs, processCpuMs, startServe, stopChild } from './serve-child.js'

const here = fileURLToPath(new URL('.', import.meta.url))
const bins = (process.env['STRATA_BINS'] ?? join(here, '..', 'bin', 'strata')).split(',')
const dir = process.argv[2]
if (dir === undefined) throw new Error('usage: serve-start.ts <dir>')
const ROUNDS = Number(process.env['ROUNDS'] ?? 7)

interface Member { readonly bin: string; readonly dataDir: string; readonly client: number; readonly peer: number }

const members: Member[] = []
for (const [i, bin] of bins.entries()) {
  const m = { bin, dataDir: join(dir, `data-${i}`), client: await freePort(), peer: await freePort() }
  mkdirSync(dir, { recursive: true })
  const child = startServe(m.bin, m.dataDir, m.client, m.peer)
  await firstGetMs(child, m.client, performance.now(), 5)
  await stopChild(child)
  members.push(m)
}
const wall: number[][] = bins.map(() => [])
const cpu: number[][] = bins.map(() => [])
for (let round = 1; round <= ROUNDS; round++) {
  for (const [i, m] of members.entries()) {
    const prof = process.env['STRATA_PROF'] === '1' ? join(dir, `prof-${i}-${round}`) : undefined
    const t0 = performance.now()
    const child = startServe(m.bin, m.dataDir, m.client, m.peer, prof)
    wall[i]!.push(await firstGetMs(child, m.client, t0, 5))
    cpu[i]!.push(processCpuMs(child.pid!))
    await stopChild(child)
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
for (const [i, bin] of bins.entries()) {
  console.log(`${bin}: wall ms ${wall[i]!.map(Math.round).join(' / ')}; CPU ms ${cpu[i]!.map(Math.round).join(' / ')}`)
  console.log(`RESULT server.start.${i}.ms ${Math.round(median(wall[i]!))} ms`)
  if (i > 0) console.log(`RESULT server.start.ratio.0_over_${i} ${(median(wall[0]!) / median(wall[i]!)).toFixed(2)} x`)
}
