// Smoke run of `pnpm bench:etcd` (scripts/bench-etcd.mjs, packages/server/bench/vs-etcd.ts) with
// BENCH_QUICK=1 — tiny sizes, one run — and the CPU profile switch on: the bench starts etcd
// 3.4.23 and strata serve, every row is measured on both, the RESULT lines are well-formed, and
// each row that misses its goal is explained by a profile summary. Figures are not asserted.
// etcd and etcdctl are installed with apt-get when missing; when they cannot be, this fails.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

const root = new URL('..', import.meta.url).pathname
const RESULT_LINE = /^RESULT [\w.-]+ -?\d+(\.\d+)?(e[+-]?\d+)? [\w/%.-]+$/
const GOALS: Record<string, number | undefined> = { put16: 1, put256: 1.2, txn128: 1, get64: 3, count: 10, restart: 3, auth64: undefined, auth_put_p99: 10 }

test('bench:etcd runs in quick mode: both servers measured on every row, RESULT lines well-formed', () => {
  const r = spawnSync(process.execPath, [join(root, 'scripts/bench-etcd.mjs')], {
    cwd: root,
    env: { ...process.env, BENCH_QUICK: '1', BENCH_ETCD_KEYS: '5000', BENCH_ETCD_PROFILE: '1' },
    encoding: 'utf8',
    timeout: 180_000,
    maxBuffer: 64 << 20,
  })
  const out = `${r.stdout}\n${r.stderr}`
  assert.is(r.status, 0, `bench-etcd exited ${r.status} ${r.signal ?? ''}:\n${out.slice(-4000)}`)
  const results = r.stdout.split('\n').filter((l) => l.startsWith('RESULT '))
  for (const line of results) assert.ok(RESULT_LINE.test(line), `malformed: ${line}`)
  const value = (name: string): number | undefined => {
    const line = results.find((l) => l.split(' ')[1] === name)
    return line === undefined ? undefined : Number(line.split(' ')[2])
  }
  for (const [row, goal] of Object.entries(GOALS)) {
    const ratio = value(`server.vs_etcd.${row}.ratio`)
    assert.ok(ratio !== undefined && ratio > 0, `no positive RESULT server.vs_etcd.${row}.ratio:\n${out.slice(-3000)}`)
    assert.ok((value(`server.vs_etcd.${row}.etcd`) ?? 0) > 0 && (value(`server.vs_etcd.${row}.strata`) ?? 0) > 0, `${row}: both raw figures`)
    if (goal !== undefined && ratio! < goal) assert.ok(r.stdout.includes(`\n${row}: Where strata serve`), `${row} missed its goal (${ratio} < ${goal}) but no profile summary says where the time went`)
  }
})

test.run()
