// The simulation's command line and report: seeds run one after another, each printed on one
// line; a failing seed is shrunk (faults dropped one at a time while it still fails) and its
// schedule printed; the run ends with RESULT lines and a summary.
import { performance } from 'node:perf_hooks'
import { FAULT_KINDS, type Fault, type FaultKind, describeFault } from './faults.js'
import { type SeedOptions, type SeedResult, runSeed, warmUp } from './run.js'

function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}

/** Drops faults while the seed still fails: the smallest schedule found that reproduces a violation. */
export async function shrink(options: SeedOptions, faults: readonly Fault[]): Promise<Fault[]> {
  let current = [...faults]
  for (let i = current.length - 1; i >= 0; i--) {
    const without = current.filter((_, j) => j !== i)
    const r = await runSeed({ ...options, faults: without })
    if (r.violations.length > 0) current = without
  }
  return current
}

export async function main(args: readonly string[]): Promise<number> {
  const one = flag(args, '--seed') ?? process.env.SEED
  const seeds = one !== undefined ? [Number(one)] : Array.from({ length: Number(flag(args, '--seeds') ?? 20) }, (_, i) => i + 1)
  const members = flag(args, '--members')
  const ops = flag(args, '--ops')
  const verbose = args.includes('--verbose')
  const kindsFlag = flag(args, '--kinds')
  const known: readonly string[] = FAULT_KINDS
  const onlyKinds = kindsFlag === undefined ? undefined : kindsFlag.split(',').filter((k) => k.length > 0) as FaultKind[]
  const unknown = onlyKinds?.filter((k) => !known.includes(k)) ?? []
  if (unknown.length > 0 || onlyKinds?.length === 0) {
    console.error(`--kinds takes a comma-separated list of: ${known.join(', ')}${unknown.length > 0 ? ` (unknown: ${unknown.join(', ')})` : ''}`)
    return 2
  }
  await warmUp()
  let violations = 0
  let checked = 0
  let faults = 0
  let undecided = 0
  const byKind = new Map<FaultKind, number>()
  const byChecker = new Map<string, number>()
  const failed: number[] = []
  const times: number[] = []
  const started = performance.now()
  for (const seed of seeds) {
    const options: SeedOptions = { seed, ...(members === undefined ? {} : { members: Number(members) as 1 | 3 | 5 }), ...(ops === undefined ? {} : { ops: Number(ops) }), ...(onlyKinds === undefined ? {} : { kinds: onlyKinds }), trace: verbose }
    const t0 = performance.now()
    const r: SeedResult = await runSeed(options)
    const secs = (performance.now() - t0) / 1000
    times.push(secs)
    checked += r.opsChecked
    undecided += r.undecided
    for (const [k, n] of r.injected) {
      byKind.set(k, (byKind.get(k) ?? 0) + n)
      faults += n
    }
    const kinds = [...r.injected.entries()].map(([k, n]) => `${k}x${n}`).join(' ') || 'none'
    console.log(`seed ${seed}: ${r.members} members, ${r.opsIssued} calls, ${r.opsChecked} checked, ${r.violations.length} violations, digest ${r.digest}, ${(r.virtualMs / 1000).toFixed(1)} s virtual, ${secs.toFixed(2)} s; faults ${kinds}`)
    if (verbose) for (const line of r.trace) console.log(`  ${line}`)
    if (r.violations.length > 0) {
      violations += r.violations.length
      failed.push(seed)
      for (const v of r.violations) {
        byChecker.set(v.checker, (byChecker.get(v.checker) ?? 0) + 1)
        console.log(`  VIOLATION [${v.checker}] ${v.message}`)
      }
      const small = await shrink({ ...options, trace: false }, r.faults)
      console.log(`  shrunk fault schedule (${small.length} of ${r.faults.length} faults) that still fails: pnpm sim --seed ${seed}${members === undefined ? '' : ` --members ${members}`}${kindsFlag === undefined ? '' : ` --kinds ${kindsFlag}`}`)
      for (const f of small) console.log(`    ${describeFault(f)}`)
    }
  }
  const total = (performance.now() - started) / 1000
  times.sort((a, b) => a - b)
  console.log(`\nseeds ${seeds.length}, failed ${failed.length}${failed.length > 0 ? ` (${failed.join(', ')})` : ''}; operations checked ${checked}; undecided key parts ${undecided}`)
  console.log(`faults by kind: ${[...byKind.entries()].sort().map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}`)
  console.log(`violations by checker: ${[...byChecker.entries()].map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}`)
  console.log(`seconds per seed: median ${(times[Math.floor(times.length / 2)] ?? 0).toFixed(2)}, max ${(times[times.length - 1] ?? 0).toFixed(2)}; total ${total.toFixed(1)} s`)
  console.log(`RESULT sim.violations ${violations} count`)
  console.log(`RESULT sim.ops_checked ${checked} ops`)
  console.log(`RESULT sim.faults_injected ${faults} faults`)
  return violations > 0 ? 1 : 0
}
