// The README's quick start (the code between the markers is the README's, with the package
// import pointing at the source), so every test run proves it works.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { EntryType, MemoryStorage, RawNode, StateType } from '../src/index.js'

test('the README quick start elects a single member and applies a proposal', () => {
  const applied: string[] = []
  // --- quick start ---
  const storage = new MemoryStorage()
  // Bootstrap: the initial membership is the ConfState of a first snapshot.
  storage.applySnapshot({
    data: new Uint8Array(0),
    metadata: { index: 1, term: 1, confState: { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } },
  })
  let seed = 42 // any u32 source will do: it only jitters election timeouts
  const node = new RawNode({ id: 1, storage, rng: { nextU32: () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) } })

  node.campaign()
  let proposed = false
  for (let round = 0; round < 10; round++) {
    if (node.state === StateType.Leader && !proposed) {
      node.propose(new TextEncoder().encode('hello'))
      proposed = true
    }
    if (!node.hasReady()) {
      node.tick() // a real driver ticks on a timer, e.g. every 100 ms
      continue
    }
    const rd = node.ready()
    // 1. Persist: snapshot, entries, hard state (fsync first when rd.mustSync).
    if (rd.snapshot !== undefined) storage.applySnapshot(rd.snapshot)
    storage.append(rd.entries)
    if (rd.hardState !== undefined) storage.setHardState(rd.hardState)
    // 2. Send rd.messages to their peers (a single member has none).
    // 3. Apply committed entries in order (conf changes through node.applyConfChange).
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.Normal && e.data.length > 0) applied.push(new TextDecoder().decode(e.data))
    }
    // 4. Hand the Ready back.
    node.advance()
  }
  // --- end ---
  assert.equal(applied, ['hello'])
})

test.run()
