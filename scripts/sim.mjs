#!/usr/bin/env node
// Runs the long simulations: every packages/*/sim/*.sim.ts, or those of the packages named.
// SEED=<n> replays one seed; SIM_ITERATIONS scales the run. The default test run only
// carries short smoke versions of these.
// Flags (--seeds N, --seed S, --members 1|3|5, --ops N, --kinds a,b, --verbose) go to the whole-cluster
// simulation (packages/sim); given without package names, only that one runs:
// `pnpm sim --seeds 200`.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const args = process.argv.slice(2)
const flags = []
const wanted = []
for (let i = 0; i < args.length; i++) {
  if (!args[i].startsWith('--')) wanted.push(args[i])
  else if (args[i] === '--verbose') flags.push(args[i])
  else flags.push(args[i], args[++i] ?? '')
}
if (flags.length > 0 && wanted.length === 0) wanted.push('sim')
const packages = wanted.length > 0 ? wanted : readdirSync(join(root, 'packages')).sort()
let failed = 0
let ran = 0
for (const pkg of packages) {
  const dir = join(root, 'packages', pkg, 'sim')
  if (!existsSync(dir)) continue
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.sim.ts')).sort()) {
    const path = join(dir, file)
    console.log(`\n### ${relative(root, path)}`)
    const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', path, ...(pkg === 'sim' ? flags : [])], { cwd: root, stdio: 'inherit' })
    ran++
    if (r.status !== 0) { console.log(`FAILED ${relative(root, path)}`); failed++ }
  }
}
console.log(`\n${ran - failed} passed, ${failed} failed`)
process.exitCode = failed > 0 || ran === 0 ? 1 : 0
