import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { withSeed } from '@strata/testkit'
import { KeyIndex } from '../src/key-index.js'
import { type Revision, compareRevision, revision, revisionId } from '../src/revision.js'

/** The worked example: put(1); put(2); tombstone(3); put(4); tombstone(5). */
function example(): KeyIndex {
  const ki = new KeyIndex('foo')
  ki.put(revision(1))
  ki.put(revision(2))
  ki.tombstone(revision(3))
  ki.put(revision(4))
  ki.tombstone(revision(5))
  return ki
}

function shape(ki: KeyIndex): number[][] {
  return ki.generations.map((g) => g.revs.map((r) => r.main))
}

test('the worked example builds three generations, the last one empty', () => {
  assert.equal(shape(example()), [[1, 2, 3], [4, 5], []])
})

test('get finds the newest put at or before a revision, with its version and creation', () => {
  const ki = example()
  assert.is(ki.get(0), undefined)
  assert.equal(ki.get(1), { modified: revision(1), created: revision(1), version: 1 })
  assert.equal(ki.get(2), { modified: revision(2), created: revision(1), version: 2 })
  assert.is(ki.get(3), undefined, 'deleted at 3')
  assert.equal(ki.get(4), { modified: revision(4), created: revision(4), version: 1 })
  assert.is(ki.get(5), undefined)
  assert.is(ki.get(100), undefined)
  assert.not.ok(ki.aliveAt(3))
  assert.ok(ki.aliveAt(4))
})

test('getInto answers as get does, in numbers, at every revision of a history', () => {
  const ki = example()
  ki.put(revision(6))
  ki.put(revision(7, 2))
  const out = { modMain: -1, modSub: -1, createdMain: -1, version: -1 }
  for (let at = 0; at <= 9; at++) {
    const g = ki.get(at)
    assert.is(ki.getInto(at, out), g !== undefined, `at ${at}`)
    if (g !== undefined) assert.equal(out, { modMain: g.modified.main, modSub: g.modified.sub, createdMain: g.created.main, version: g.version }, `at ${at}`)
  }
})

test('compaction of the worked example drops history revision by revision', () => {
  const cases: Array<[number, number[][], string[]]> = [
    [1, [[1, 2, 3], [4, 5], []], ['1_0']],
    [2, [[2, 3], [4, 5], []], ['2_0']],
    [3, [[3], [4, 5], []], ['3_0']],
    [4, [[4, 5], []], ['4_0']],
    [5, [[5], []], ['5_0']],
    [6, [[]], []],
  ]
  for (const [at, want, kept] of cases) {
    const ki = example()
    const available = new Set<string>()
    ki.compact(at, available)
    assert.equal(shape(ki), want, `compact(${at})`)
    assert.equal([...available], kept, `available after compact(${at})`)
  }
})

test('a tombstone exactly at the compaction revision is kept by compact but not by keep', () => {
  const ki = example()
  const kept = new Set<string>()
  ki.keep(5, kept)
  assert.equal([...kept], [], 'keep leaves the tombstone out')
  assert.equal(shape(ki), [[1, 2, 3], [4, 5], []], 'keep changes nothing')
  const compacted = new Set<string>()
  ki.compact(5, compacted)
  assert.equal([...compacted], ['5_0'])
  assert.is(ki.get(5), undefined)
  assert.not.ok(ki.isEmpty())
  ki.compact(6, new Set())
  assert.ok(ki.isEmpty())
})

test('compacting step by step equals compacting at once', () => {
  const ki = example()
  for (let at = 1; at <= 4; at++) ki.compact(at, new Set())
  assert.equal(shape(ki), [[4, 5], []])
})

test('tombstone of a deleted key is a broken invariant (the store tombstones only keys found alive)', () => {
  const ki = example()
  assert.throws(() => ki.tombstone(revision(6)), (err: unknown) => (err as { code?: string }).code === 'ERR_ASSERTION')
  assert.equal(shape(ki), [[1, 2, 3], [4, 5], []])
})

test('a put not after the last revision is a broken invariant', () => {
  const ki = example()
  assert.throws(() => ki.put(revision(5)))
  assert.throws(() => ki.put(revision(4, 9)))
})

test('since keeps the highest sub of each main revision', () => {
  const ki = new KeyIndex('k')
  ki.put(revision(2, 0))
  ki.put(revision(2, 1))
  ki.tombstone(revision(3, 0))
  ki.put(revision(4, 0))
  assert.equal(ki.since(2), [revision(2, 1), revision(3), revision(4)])
  assert.equal(ki.since(4), [revision(4)])
})

test('restorePut and restoreTombstone rebuild a compacted history', () => {
  const ki = new KeyIndex('k')
  ki.restorePut(revision(2), revision(7), 3)
  assert.equal(ki.get(7), { modified: revision(7), created: revision(2), version: 3 })
  ki.put(revision(8))
  assert.equal(ki.get(9)?.version, 4)
  const t = new KeyIndex('t')
  t.restoreTombstone(revision(5))
  assert.equal(shape(t), [[5], []])
  assert.is(t.get(5), undefined)
  t.put(revision(6))
  assert.equal(t.get(6), { modified: revision(6), created: revision(6), version: 1 })
})

test('a delete and a put of the same key in one txn: compaction keeps the put', () => {
  const ki = new KeyIndex('k')
  ki.put(revision(2))
  ki.tombstone(revision(5, 0))
  ki.put(revision(5, 1))
  ki.tombstone(revision(7))
  const kept = new Set<string>()
  ki.compact(5, kept)
  assert.equal([...kept], ['5_1'])
  assert.equal(shape(ki), [[5, 7], []])
  assert.equal(ki.get(5)?.modified, revision(5, 1))
  const k2 = new KeyIndex('k2')
  k2.put(revision(5, 0))
  k2.tombstone(revision(5, 1))
  const kept2 = new Set<string>()
  k2.compact(5, kept2)
  assert.equal([...kept2], ['5_1'], 'the tombstone at the compaction revision is kept')
})

test('a key put once (kept without generation objects) answers every query as one generation does', () => {
  const once = (): KeyIndex => {
    const ki = new KeyIndex('k')
    ki.put(revision(5))
    return ki
  }
  const ki = once()
  assert.equal(shape(ki), [[5]])
  assert.is(ki.get(4), undefined)
  assert.equal(ki.get(5), { modified: revision(5), created: revision(5), version: 1 })
  assert.equal(ki.get(9), { modified: revision(5), created: revision(5), version: 1 })
  assert.equal(ki.revisionAt(4), undefined)
  assert.equal(ki.revisionAt(7), revision(5))
  assert.not.ok(ki.aliveAt(4))
  assert.ok(ki.aliveAt(5))
  assert.equal(ki.since(6), [])
  assert.equal(ki.since(5), [revision(5)])
  assert.not.ok(ki.isEmpty())
  for (const [atRev, expected] of [[4, []], [5, ['5_0']], [9, ['5_0']]] as const) {
    const kept = new Set<string>()
    ki.keep(atRev, kept)
    assert.equal([...kept], expected, `keep(${atRev})`)
    const compacted = once()
    const available = new Set<string>()
    compacted.compact(atRev, available)
    assert.equal([...available], expected, `compact(${atRev})`)
    assert.equal(shape(compacted), [[5]])
  }
  // Growing the history leaves the compact form with nothing lost.
  const grown = once()
  grown.put(revision(6))
  assert.equal(grown.get(6), { modified: revision(6), created: revision(5), version: 2 })
  const deleted = once()
  deleted.tombstone(revision(7))
  assert.equal(shape(deleted), [[5, 7], []])
  assert.not.ok(deleted.aliveAt(7))
  const reverted = once()
  reverted.revert(reverted.revisionAt(5)!, false)
  assert.ok(reverted.isEmpty())
  assert.equal(shape(reverted), [[]])
})

test('a restored put keeps the stored creation and version, and later puts count on from them', () => {
  const ki = new KeyIndex('k')
  ki.restorePut(revision(3), revision(7), 4)
  assert.equal(ki.get(7), { modified: revision(7), created: revision(3), version: 4 })
  assert.equal(ki.generations[0]!.ver, 4)
  ki.put(revision(8))
  assert.equal(ki.get(8), { modified: revision(8), created: revision(3), version: 5 })
  assert.equal(ki.get(7), { modified: revision(7), created: revision(3), version: 4 })
})

test('a long history in one generation answers get, revisionAt and since at every revision', () => {
  const ki = new KeyIndex('k')
  // Two puts per main revision (subs 0 and 3), 500 main revisions.
  for (let main = 1; main <= 500; main++) {
    ki.put(revision(main, 0))
    ki.put(revision(main, 3))
  }
  assert.equal(ki.generations.length, 1)
  assert.equal(ki.generations[0]!.revs.length, 1000)
  for (let at = 1; at <= 500; at++) {
    assert.equal(ki.get(at), { modified: revision(at, 3), created: revision(1), version: 2 * at }, `get(${at})`)
    assert.equal(ki.revisionAt(at), revision(at, 3))
    assert.ok(ki.aliveAt(at))
  }
  assert.is(ki.get(0), undefined)
  assert.equal(ki.since(499), [revision(499, 3), revision(500, 3)])
  const available = new Set<string>()
  ki.compact(250, available)
  assert.equal([...available], ['250_3'])
  assert.equal(ki.generations[0]!.revs.length, 501)
  assert.equal(ki.get(250), { modified: revision(250, 3), created: revision(1), version: 500 }, 'the version counts compacted puts')
  assert.is(ki.get(249), undefined, 'compacted away')
  ki.put(revision(501))
  assert.equal(ki.get(501)?.version, 1001)
})

test('revisions past 2^31 and up to 2^53 - 1, and big subs, are kept exactly', () => {
  const big = Number.MAX_SAFE_INTEGER
  const ki = new KeyIndex('k')
  ki.put(revision(2 ** 31 - 1, 2 ** 31 - 1))
  ki.put(revision(2 ** 31, 2 ** 32 + 7))
  ki.tombstone(revision(2 ** 40, 0))
  ki.put(revision(big - 1, 2 ** 40))
  ki.put(revision(big, 5))
  assert.equal(shape(ki), [[2 ** 31 - 1, 2 ** 31, 2 ** 40], [big - 1, big]])
  assert.equal(ki.get(2 ** 31), { modified: revision(2 ** 31, 2 ** 32 + 7), created: revision(2 ** 31 - 1, 2 ** 31 - 1), version: 2 })
  assert.is(ki.get(2 ** 40), undefined)
  assert.equal(ki.get(big - 1), { modified: revision(big - 1, 2 ** 40), created: revision(big - 1, 2 ** 40), version: 1 })
  assert.equal(ki.revisionAt(big), revision(big, 5))
  assert.equal(ki.since(2 ** 40), [revision(2 ** 40), revision(big - 1, 2 ** 40), revision(big, 5)])
  ki.revert(revision(big, 5), false)
  assert.equal(ki.modified, revision(big - 1, 2 ** 40))
  const kept = new Set<string>()
  ki.compact(big, kept)
  assert.equal([...kept], [`${big - 1}_${2 ** 40}`])
  assert.equal(shape(ki), [[big - 1]])
  assert.throws(() => ki.put(revision(big - 1, 2 ** 40)), 'not after the newest')
})

test('revert takes back puts and tombstones across generations down to an empty key', () => {
  const ki = new KeyIndex('k')
  const steps: Array<[Revision, boolean]> = [[revision(1), false], [revision(2), false], [revision(3), true], [revision(4, 0), false], [revision(4, 1), true], [revision(5), false]]
  const seen: unknown[] = []
  for (const [rev, tombstone] of steps) {
    seen.push([ki.generations, ki.modified])
    if (tombstone) ki.tombstone(rev)
    else ki.put(rev)
  }
  assert.equal(shape(ki), [[1, 2, 3], [4, 4], [5]])
  for (let i = steps.length - 1; i >= 0; i--) {
    const [rev, tombstone] = steps[i]!
    // (A refused revert of a tombstone may leave the key changed: a broken invariant, not an error to recover from.)
    if (!tombstone) assert.throws(() => ki.revert(revision(rev.main + 1), false), 'only the newest change')
    ki.revert(rev, tombstone)
    assert.equal([ki.generations, ki.modified], seen[i], `after reverting step ${i}`)
    assert.is(ki.aliveAt(Number.MAX_SAFE_INTEGER), i > 0 && !steps[i - 1]![1])
  }
  assert.ok(ki.isEmpty())
  ki.put(revision(9))
  assert.equal(ki.get(9), { modified: revision(9), created: revision(9), version: 1 })
})

test('a key deleted and put once again: compaction at its put drops every ended generation', () => {
  const ki = new KeyIndex('k')
  ki.put(revision(1))
  ki.tombstone(revision(2))
  ki.put(revision(3))
  assert.equal(shape(ki), [[1, 2], [3]])
  assert.equal(ki.generations[1], { ver: 1, created: revision(3), revs: [revision(3)] })
  const kept = new Set<string>()
  ki.keep(3, kept)
  assert.equal([...kept], ['3_0'])
  const available = new Set<string>()
  ki.compact(2, available)
  assert.equal([...available], ['2_0'], 'the tombstone at the compaction revision')
  assert.equal(shape(ki), [[2], [3]])
  ki.compact(3, available)
  assert.equal(shape(ki), [[3]])
  assert.equal(ki.get(3), { modified: revision(3), created: revision(3), version: 1 })
})

/**
 * The history as a plain list of generations of Revision objects, with the rules written out
 * directly: the oracle the randomized test checks KeyIndex against.
 */
class ModelIndex {
  gens: Array<{ ver: number; created: Revision; revs: Revision[] }> = [{ ver: 0, created: revision(0), revs: [] }]
  modified = revision(0)
  put(r: Revision): void {
    const g = this.gens[this.gens.length - 1]!
    if (g.revs.length === 0) this.gens[this.gens.length - 1] = { ver: 1, created: r, revs: [r] }
    else {
      g.revs.push(r)
      g.ver++
    }
    this.modified = r
  }
  tombstone(r: Revision): void {
    this.put(r)
    this.gens.push({ ver: 0, created: revision(0), revs: [] })
  }
  revert(tombstone: boolean): void {
    if (tombstone) this.gens.pop()
    const g = this.gens[this.gens.length - 1]!
    g.revs.pop()
    g.ver--
    if (g.revs.length === 0) this.gens[this.gens.length - 1] = { ver: 0, created: revision(0), revs: [] }
    this.modified = this.gens.flatMap((x) => x.revs).pop() ?? revision(0)
  }
  alive(): boolean {
    return this.gens[this.gens.length - 1]!.revs.length > 0
  }
  /** The newest revision at or before atRev, its generation and its place there. */
  #newest(atRev: number): { gi: number; n: number } | undefined {
    for (let gi = this.gens.length - 1; gi >= 0; gi--) {
      const revs = this.gens[gi]!.revs
      for (let n = revs.length - 1; n >= 0; n--) if (revs[n]!.main <= atRev) return { gi, n }
    }
    return undefined
  }
  #isTombstone(gi: number, n: number): boolean {
    return gi !== this.gens.length - 1 && n === this.gens[gi]!.revs.length - 1
  }
  get(atRev: number): unknown {
    const f = this.#newest(atRev)
    if (f === undefined || this.#isTombstone(f.gi, f.n)) return undefined
    const g = this.gens[f.gi]!
    return { modified: g.revs[f.n], created: g.created, version: g.ver - (g.revs.length - f.n - 1) }
  }
  /** Keeps the newest revision at or before atRev unless it is a tombstone before atRev; drops everything older. */
  compact(atRev: number, keep: boolean): string[] {
    const f = this.#newest(atRev)
    if (f === undefined) return []
    const rev = this.gens[f.gi]!.revs[f.n]!
    const tomb = this.#isTombstone(f.gi, f.n)
    if (tomb && (rev.main < atRev || keep)) {
      if (!keep) this.gens = this.gens.slice(f.gi + 1)
      return []
    }
    if (!keep) {
      this.gens = this.gens.slice(f.gi)
      this.gens[0]!.revs = this.gens[0]!.revs.slice(f.n)
    }
    return [revisionId(rev)]
  }
}

test('randomized histories: KeyIndex answers as the plain model does (puts, tombstones, reverts, compactions)', () => {
  withSeed('key-index random', (prng) => {
    for (let round = 0; round < 300; round++) {
      const ki = new KeyIndex('k')
      const model = new ModelIndex()
      const changes: Array<[Revision, boolean]> = []
      let compacted = 0
      // Mains far apart in some rounds: past 2^31, where V8 stores the numbers as doubles.
      const base = prng.bool(0.2) ? 2 ** 31 - 20 : 0
      for (let step = 0; step < 60; step++) {
        const what = prng.int(10)
        if (what < 5 || (what < 7 && !model.alive())) {
          // A new txn, or another change in the same one (same main, next sub).
          const last = model.modified
          const rev = last.main > 0 && prng.bool(0.3) ? revision(last.main, last.sub + 1 + prng.int(3)) : revision((last.main === 0 ? base : last.main) + 1 + prng.int(3))
          ki.put(rev)
          model.put(rev)
          changes.push([rev, false])
        } else if (what < 7) {
          const rev = prng.bool(0.3) ? revision(model.modified.main, model.modified.sub + 1) : revision(model.modified.main + 1)
          ki.tombstone(rev)
          model.tombstone(rev)
          changes.push([rev, true])
        } else if (what < 8 && changes.length > 0) {
          // Only changes after the last compaction can be taken back (a txn is reverted before any compaction).
          const [rev, tombstone] = changes.pop()!
          if (rev.main <= compacted) {
            changes.length = 0
            continue
          }
          ki.revert(rev, tombstone)
          model.revert(tombstone)
        } else if (!ki.isEmpty()) {
          const at = Math.max(compacted, model.modified.main - prng.int(8))
          const keep = what === 8
          const got = new Set<string>()
          if (keep) ki.keep(at, got)
          else ki.compact(at, got)
          assert.equal([...got], model.compact(at, keep), `${keep ? 'keep' : 'compact'}(${at})`)
          if (!keep) {
            compacted = at
            changes.length = 0
          }
        }
        const gens = model.gens.map((g) => ({ ver: g.ver, created: g.created, revs: g.revs }))
        assert.equal(ki.generations, gens, `generations after step ${step}`)
        assert.equal(ki.modified, model.modified)
        assert.is(ki.isEmpty(), gens.length === 1 && gens[0]!.revs.length === 0)
        // From just below the oldest revision that can answer (not from 0: the mains may start past 2^31).
        const from = Math.max(compacted, base) - 1
        for (let at = from; at <= model.modified.main + 1; at++) {
          const want = model.get(at) as { modified: Revision } | undefined
          assert.equal(ki.get(at), want, `get(${at})`)
          assert.equal(ki.revisionAt(at), want?.modified)
          assert.is(ki.aliveAt(at), want !== undefined)
        }
        const sinceAt = model.modified.main - prng.int(5)
        const all = model.gens.flatMap((g) => g.revs).filter((r) => r.main >= sinceAt)
        const want = all.filter((r, i) => i === all.length - 1 || all[i + 1]!.main !== r.main)
        assert.equal(ki.since(sinceAt), want.sort(compareRevision), `since(${sinceAt})`)
      }
    }
  })
})

test.run()
