// Same-run A/B of the simulator's speed on a loaded machine: two checkouts of the repository
// (say, before and after a change) loaded in one process, the same seeds run alternately
// (ABBA, so a load swing hits both), each seed's CPU (this process's user + system) and wall
// time paired. Prints the medians, the median per-seed ratio B/A, and whether the digests agree
// (a pure speed change keeps them).
//
//   node --conditions=source --import tsx packages/sim/bench/ab.ts <dirA> <dirB> [members] [rounds] [seeds...]
//
// Each dir is a checkout with node_modules (e.g. `git archive <commit> | tar -x -C dir`, then
// link the root node_modules and copy each packages/*/node_modules). Not a *.bench.ts: `pnpm
// bench` does not run it.
import { resolve } from 'node:path'
import { performance } from 'node:perf_hooks'

interface RunModule {
  warmUp(): Promise<unknown>
  runSeed(o: { seed: number; members: 1 | 3 | 5 }): Promise<{ digest: string }>
}

const [dirA, dirB, membersArg = '3', roundsArg = '2', ...seedArgs] = process.argv.slice(2)
if (dirA === undefined || dirB === undefined) {
  console.error('usage: ab.ts <dirA> <dirB> [members 1|3|5] [rounds] [seeds...]')
  process.exit(2)
}
const members = Number(membersArg) as 1 | 3 | 5
const seeds = seedArgs.length > 0 ? seedArgs.map(Number) : [1, 2, 3, 4, 5, 6, 7, 8]
const load = async (dir: string): Promise<RunModule> => await import(resolve(dir, 'packages/sim/src/run.ts')) as RunModule
const sides = { A: await load(dirA), B: await load(dirB) }
await sides.A.warmUp()
await sides.B.warmUp()

const out = { A: { cpu: [] as number[], wall: [] as number[], digests: [] as string[] }, B: { cpu: [] as number[], wall: [] as number[], digests: [] as string[] } }
let flip = false
for (let round = 0; round < Number(roundsArg); round++) {
  for (const seed of seeds) {
    for (const side of flip ? (['B', 'A'] as const) : (['A', 'B'] as const)) {
      const c0 = process.cpuUsage()
      const t0 = performance.now()
      const r = await sides[side].runSeed({ seed, members })
      const c = process.cpuUsage(c0)
      out[side].cpu.push((c.user + c.system) / 1000)
      out[side].wall.push(performance.now() - t0)
      out[side].digests.push(`${seed}:${r.digest}`)
    }
    flip = !flip
  }
}

const median = (xs: readonly number[]): number => {
  const v = [...xs].sort((a, b) => a - b)
  return v.length % 2 === 1 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2
}
for (const side of ['A', 'B'] as const) {
  console.log(`${side} ${side === 'A' ? dirA : dirB}: ${out[side].cpu.length} seeds, median CPU ${median(out[side].cpu).toFixed(0)} ms, median wall ${median(out[side].wall).toFixed(0)} ms`)
}
console.log(`median per-seed ratio B/A: CPU ${median(out.B.cpu.map((x, i) => x / out.A.cpu[i]!)).toFixed(3)}, wall ${median(out.B.wall.map((x, i) => x / out.A.wall[i]!)).toFixed(3)}`)
console.log(`same digests: ${out.A.digests.join() === out.B.digests.join()}`)
