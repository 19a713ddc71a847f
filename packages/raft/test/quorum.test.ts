import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { withSeed } from '@strata/testkit'
import { JointConfig, MajorityConfig, maxIndex, VoteResult } from '../src/internal.js'

/** The dumb reference: sort all acked indexes descending, take the one a majority reaches. */
function naiveCommitted(ids: number[], acked: Map<number, number>): number {
  if (ids.length === 0) return maxIndex
  const idx = ids.map((id) => acked.get(id) ?? 0).sort((a, b) => b - a)
  return idx[Math.floor(ids.length / 2)]!
}

/** Reference vote: count yes and no; won at a strict majority of yes, lost when yes can't reach it. */
function naiveVote(ids: number[], votes: Map<number, boolean>): VoteResult {
  if (ids.length === 0) return VoteResult.Won
  const yes = ids.filter((id) => votes.get(id) === true).length
  const no = ids.filter((id) => votes.get(id) === false).length
  if (2 * yes > ids.length) return VoteResult.Won
  if (2 * (ids.length - no) > ids.length) return VoteResult.Pending
  return VoteResult.Lost
}

test('majority committed index matches the sort-based reference for 0..11 voters (property)', () => {
  withSeed('quorum committed', (prng) => {
    for (let round = 0; round < 3000; round++) {
      const n = prng.int(12)
      const ids = Array.from({ length: n }, (_, i) => i + 1)
      const acked = new Map<number, number>()
      for (const id of ids) if (prng.bool(0.9)) acked.set(id, prng.int(20))
      const c = new MajorityConfig(ids)
      assert.is(c.committedIndex((id) => acked.get(id)), naiveCommitted(ids, acked), `ids=${ids} acked=${[...acked]}`)
    }
  })
})

test('joint committed index is the minimum of both halves (property)', () => {
  withSeed('quorum joint committed', (prng) => {
    for (let round = 0; round < 2000; round++) {
      const a = Array.from({ length: prng.int(6) }, () => 1 + prng.int(9))
      const b = Array.from({ length: prng.int(6) }, () => 1 + prng.int(9))
      const acked = new Map<number, number>()
      for (let id = 1; id <= 9; id++) if (prng.bool(0.8)) acked.set(id, prng.int(20))
      const j = new JointConfig(new MajorityConfig(a), new MajorityConfig(b))
      const ua = [...new Set(a)], ub = [...new Set(b)]
      const want = Math.min(naiveCommitted(ua, acked), naiveCommitted(ub, acked))
      assert.is(j.committedIndex((id) => acked.get(id)), want)
    }
  })
})

test('vote results match the counting reference, and joint votes need both halves (property)', () => {
  withSeed('quorum votes', (prng) => {
    for (let round = 0; round < 2000; round++) {
      const a = [...new Set(Array.from({ length: prng.int(6) }, () => 1 + prng.int(9)))]
      const b = [...new Set(Array.from({ length: prng.int(6) }, () => 1 + prng.int(9)))]
      const votes = new Map<number, boolean>()
      for (let id = 1; id <= 9; id++) { const r = prng.int(3); if (r < 2) votes.set(id, r === 0) }
      const ra = naiveVote(a, votes), rb = naiveVote(b, votes)
      assert.is(new MajorityConfig(a).voteResult(votes), ra)
      const want = ra === rb ? ra : ra === VoteResult.Lost || rb === VoteResult.Lost ? VoteResult.Lost : VoteResult.Pending
      assert.is(new JointConfig(new MajorityConfig(a), new MajorityConfig(b)).voteResult(votes), want)
    }
  })
})

test('an empty configuration commits anything and wins every vote', () => {
  assert.is(new MajorityConfig().committedIndex(() => 5), maxIndex)
  assert.is(new MajorityConfig().voteResult(new Map()), VoteResult.Won)
  assert.is(new JointConfig(new MajorityConfig([1, 2, 3])).committedIndex((id) => id), 2)
})

test.run()
