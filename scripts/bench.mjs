#!/usr/bin/env node
// Runs benchmarks: every packages/*/bench/*.bench.ts, or those of the packages named.
//   node scripts/bench.mjs            all packages
//   node scripts/bench.mjs wal mvcc   these packages
// Each bench prints its tables and `RESULT <name> <value> <unit>` lines; the RESULT lines of
// the whole run are repeated at the end so runs can be compared. BENCH_QUICK=1 asks benches
// for a short run (the smoke tests use it).
import { spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const wanted = process.argv.slice(2)
const packages = wanted.length > 0 ? wanted : readdirSync(join(root, 'packages')).sort()
const results = []
let failed = 0
for (const pkg of packages) {
  const dir = join(root, 'packages', pkg, 'bench')
  if (!existsSync(join(root, 'packages', pkg))) { console.error(`no package named ${pkg}`); failed++; continue }
  if (!existsSync(dir)) continue
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.bench.ts')).sort()) {
    const path = join(dir, file)
    console.log(`\n### ${relative(root, path)}`)
    const code = await new Promise((resolve) => {
      const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', '--expose-gc', path], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
      child.stdout.on('data', (d) => {
        process.stdout.write(d)
        for (const line of String(d).split('\n')) if (line.startsWith('RESULT ')) results.push(line)
      })
      child.on('close', (c) => resolve(c ?? 1))
    })
    if (code !== 0) { console.log(`FAILED ${relative(root, path)} (exit ${code})`); failed++ }
  }
}
console.log('\n### results')
for (const r of results) console.log(r)
process.exitCode = failed > 0 ? 1 : 0
