// Crash tests with the memory backend. A driver emulation applies a log of entries, writing
// the applied index in the same backend transaction as each entry's effects; the backend
// commits in small batches, and the test crashes it (dropping the uncommitted batch) at random
// points and inside physical compaction batches. After each crash the store is reopened and
// the entries above the persisted applied index are replayed. The final state must equal
// that of a store that never crashed.
import type { MemoryBackend, WriteTx } from '@strata/backend'
import { type Prng, seedFromEnv, withSeed } from '@strata/testkit'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MvccStore, type RequestOp } from '../src/index.js'
import { memoryBackend, stillClock } from './helpers.js'
import { MemoryBackend as Backend } from '@strata/backend'

type Entry =
  | { readonly kind: 'put'; readonly key: string; readonly value: string; readonly lease: number }
  | { readonly kind: 'delete'; readonly key: string; readonly end: string | undefined }
  | { readonly kind: 'txn'; readonly ops: RequestOp[]; readonly cmpKey: string; readonly version: number }
  | { readonly kind: 'compact'; readonly back: number }

const CI_KEY = new TextEncoder().encode('consistent_index')
const KEYS = ['a', 'b', 'c', 'd', 'e']

function randomEntry(p: Prng, i: number): Entry {
  const r = p.int(100)
  if (r < 50) return { kind: 'put', key: p.pick(KEYS), value: `v${i}`, lease: p.pick([0, 0, 3]) }
  if (r < 65) return { kind: 'delete', key: p.pick(KEYS), end: p.bool(0.3) ? '\0' : undefined }
  if (r < 92) {
    const ops: RequestOp[] = [{ put: { key: p.pick(KEYS), value: `t${i}` } }, { deleteRange: { key: p.pick(KEYS) } }, { put: { key: p.pick(KEYS), value: `u${i}` } }]
    return { kind: 'txn', ops, cmpKey: p.pick(KEYS), version: p.int(3) }
  }
  return { kind: 'compact', back: p.int(10) }
}

function writeIndex(tx: WriteTx, index: number): void {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setUint32(4, index)
  tx.put('meta', CI_KEY, b)
}

function readIndex(backend: MemoryBackend): number {
  const b = backend.read((tx) => tx.get('meta', CI_KEY))
  return b === undefined ? 0 : new DataView(b.buffer, b.byteOffset).getUint32(4)
}

/** Applies entry `index` with its applied index in the same backend transaction. */
function apply(store: MvccStore, e: Entry, index: number): void {
  if (e.kind === 'compact') {
    const rev = store.revision - e.back
    if (rev > store.compactRevision) {
      store.compact(rev, { write: (tx) => writeIndex(tx, index) }).done.catch(() => {})
      return
    }
  }
  store.write((txn, tx) => {
    if (e.kind === 'put') txn.put(e.key, e.value, { lease: e.lease })
    else if (e.kind === 'delete') txn.deleteRange(e.key, e.end)
    else if (e.kind === 'txn') {
      const cmp = txn.range(e.cmpKey).kvs[0]?.version ?? 0
      if (cmp === e.version) for (const op of e.ops) 'put' in op ? txn.put(op.put.key, op.put.value) : 'deleteRange' in op ? txn.deleteRange(op.deleteRange.key) : undefined
    }
    writeIndex(tx, index)
  })
}

function dump(store: MvccStore): string {
  const parts: string[] = [`rev=${store.revision} compact=${store.compactRevision}`]
  for (let rev = Math.max(store.compactRevision, 1); rev <= store.revision; rev++) {
    parts.push(JSON.stringify(store.range('\0', '\0', { revision: rev }).kvs.map((kv) => [Buffer.from(kv.key).toString(), Buffer.from(kv.value).toString(), kv.createRevision, kv.modRevision, kv.version, kv.lease])))
  }
  return parts.join('\n')
}

const options = { compactionBatchLimit: 2, yieldFn: () => Promise.resolve() }

async function run(p: Prng): Promise<void> {
  const entries = Array.from({ length: 300 }, (_, i) => randomEntry(p, i + 1))
  const reference = await MvccStore.open(memoryBackend(), options)
  entries.forEach((e, i) => apply(reference, e, i + 1))
  await reference.waitCompactions()

  let crashNext = false
  let crashedInCompaction = false
  let backend: MemoryBackend = new Backend({ clock: stillClock, batchLimit: 3 })
  const open = (b: MemoryBackend) => MvccStore.open(b, { ...options, failpoint: (name) => { if (name.startsWith('compact') && crashNext) { crashedInCompaction = true; throw new Error('crash in compaction') } } })
  let store = await open(backend)
  let crashes = 0
  let next = 1
  // a compaction resumed by the last reopen may itself hit a crash: go on until none is pending
  while (next <= entries.length || crashedInCompaction) {
    if (next <= entries.length) {
      apply(store, entries[next - 1]!, next)
      next++
      crashNext = p.bool(0.05)
      if (p.bool(0.3)) await Promise.resolve()
    } else crashNext = false
    if (p.bool(0.1) || crashedInCompaction) {
      crashedInCompaction = false
      await store.close()
      backend = backend.crash()
      crashes++
      store = await open(backend)
      next = readIndex(backend) + 1 // replay everything above the persisted applied index
    }
  }
  crashNext = false
  await store.waitCompactions()
  assert.not.ok(crashedInCompaction)
  assert.ok(crashes > 5, `crashed ${crashes} times`)
  assert.is(store.revision, reference.revision)
  assert.is(store.compactRevision, reference.compactRevision)
  assert.fixture(dump(store), dump(reference))
  assert.equal(store.hash(), reference.hash())
}

test('after crashes and replay above the persisted applied index the store equals one that never crashed', async () => {
  const seed = seedFromEnv()
  console.log(`crash.test: seed=${seed} (replay with SEED=${seed})`)
  await withSeed('crash.test', async (p) => {
    for (let round = 0; round < 12; round++) await run(p)
  }, { seed })
})

test.run()
