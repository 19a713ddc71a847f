#!/usr/bin/env node
// Runs the long simulations: every packages/*/sim/*.sim.ts, or those of the packages named.
// SEED=<n> replays one seed; SIM_ITERATIONS scales the run. The default test run only
// carries short smoke versions of these.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const wanted = process.argv.slice(2)
const packages = wanted.length > 0 ? wanted : readdirSync(join(root, 'packages')).sort()
let failed = 0
let ran = 0
for (const pkg of packages) {
  const dir = join(root, 'packages', pkg, 'sim')
  if (!existsSync(dir)) continue
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.sim.ts')).sort()) {
    const path = join(dir, file)
    console.log(`\n### ${relative(root, path)}`)
    const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', path], { cwd: root, stdio: 'inherit' })
    ran++
    if (r.status !== 0) { console.log(`FAILED ${relative(root, path)}`); failed++ }
  }
}
console.log(`\n${ran - failed} passed, ${failed} failed`)
process.exitCode = failed > 0 || ran === 0 ? 1 : 0
