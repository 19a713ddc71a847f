// Smoke run of every package's benchmarks (BENCH_QUICK=1: short windows, small data sets), so
// a bench that no longer runs, or prints a malformed RESULT line, fails the default test run.
// The figures themselves are not asserted: tests never assert timings.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

const root = new URL('..', import.meta.url).pathname
const RESULT_LINE = /^RESULT [\w.-]+ -?\d+(\.\d+)?(e[+-]?\d+)? [\w/%.-]+$/

const packages = readdirSync(join(root, 'packages')).filter((p) => {
  const dir = join(root, 'packages', p, 'bench')
  return existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.bench.ts'))
})

test('every package with a benchmark has one', () => {
  for (const p of ['wal', 'raft', 'backend', 'mvcc', 'lease', 'auth']) assert.ok(packages.includes(p), `packages/${p}/bench has no *.bench.ts`)
})

for (const pkg of packages) {
  test(`the ${pkg} benchmarks run in quick mode and print well-formed RESULT lines`, () => {
    const r = spawnSync(process.execPath, [join(root, 'scripts/bench.mjs'), pkg], {
      cwd: root,
      env: { ...process.env, BENCH_QUICK: '1' },
      encoding: 'utf8',
      timeout: 300_000,
      maxBuffer: 64 << 20,
    })
    const out = `${r.stdout}\n${r.stderr}`
    assert.is(r.status, 0, `bench ${pkg} exited ${r.status} ${r.signal ?? ''}:\n${out.slice(-3000)}`)
    const results = r.stdout.split('\n').filter((l) => l.startsWith('RESULT '))
    assert.ok(results.length > 0, `bench ${pkg} printed no RESULT line`)
    for (const line of results) assert.ok(RESULT_LINE.test(line), `malformed: ${line}`)
  })
}

test.run()
