// A few seeds of the whole-cluster simulation in the default test run (the long run is
// `pnpm sim`): no checker finds a violation, and a seed replays to the same trace digest.
import assert from 'node:assert/strict'
import { test } from 'uvu'
import { runSeed } from '../src/index.js'

const SEEDS: { seed: number; members: 1 | 3 | 5 }[] = [{ seed: 101, members: 1 }, { seed: 102, members: 3 }, { seed: 103, members: 5 }]

for (const { seed, members } of SEEDS) {
  test(`seed ${seed} (${members} members, swarm faults) passes every checker`, async () => {
    const r = await runSeed({ seed, members, ops: 250 })
    assert.deepEqual(r.violations, [], r.violations.map((v) => `[${v.checker}] ${v.message}`).join('\n'))
    assert.ok(r.opsChecked > 150, `only ${r.opsChecked} operations checked`)
  })
}

test('the same seed gives the same trace digest; another seed another', async () => {
  const a = await runSeed({ seed: 7, members: 3, ops: 120 })
  const b = await runSeed({ seed: 7, members: 3, ops: 120 })
  const c = await runSeed({ seed: 8, members: 3, ops: 120 })
  assert.equal(a.digest, b.digest)
  assert.deepEqual([...a.injected], [...b.injected])
  assert.notEqual(a.digest, c.digest)
})

test('membership changes (an opt-in fault kind): a learner with a fresh disk is added, promoted, and another voter removed, under load; every checker passes', async () => {
  const r = await runSeed({ seed: 11, members: 3, ops: 300, faults: [{ kind: 'membership', at: 400, durationMs: 1200, member: 0, arg: 0 }], trace: true })
  assert.deepEqual(r.violations, [], r.violations.map((v) => `[${v.checker}] ${v.message}`).join('\n'))
  const changes = r.trace.filter((l) => l.includes('membership:')).join('\n')
  for (const want of ['add learner m4 done', 'promote m4 done', 'was removed']) assert.ok(changes.includes(want), `no "${want}" in:\n${changes}`)
})

test.run()
