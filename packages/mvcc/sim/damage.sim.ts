// Hundreds of damage trials (issue 17): SIM_ITERATIONS (default 400) trials cycling through
// every damage kind; SEED=<n> replays a run. Fails on any verdict other than ok or corrupt,
// except the deaths of the kinds in MAY_DIE (damage after the open, free-list entries naming a
// page in use), which it counts and prints: the documented gap (backend README, "What remains").
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MAY_DIE, isBad, runTrials, summarize, trialSpecs } from './damage.js'

const count = Number(process.env.SIM_ITERATIONS ?? 400)
const seed = Number(process.env.SEED ?? 17)
const dir = mkdtempSync(join(tmpdir(), 'strata-damage-'))
const t0 = performance.now()
try {
  const results = await runTrials(dir, trialSpecs(count, seed), (r) => {
    if (isBad(r)) console.log(`BAD ${r.kind} seed ${r.seed}: ${r.verdict} after ${r.damage}: ${r.detail}`)
    else if (r.verdict === 'dead') console.log(`known gap: ${r.kind} seed ${r.seed}: ${r.detail} after ${r.damage}`)
  })
  console.log(summarize(results))
  const bad = results.filter(isBad)
  const gap = results.filter((r) => r.verdict === 'dead' && MAY_DIE.has(r.kind))
  console.log(`${results.length} trials in ${((performance.now() - t0) / 1000).toFixed(1)} s (seed ${seed}): ${bad.length} bad; ${gap.length} deaths of the known gap (${[...MAY_DIE].join(', ')})`)
  process.exitCode = bad.length > 0 ? 1 : 0
} finally {
  rmSync(dir, { recursive: true, force: true })
}
