// Model-based property test: random put/delete/txn/range/compact sequences (with crashes,
// reopen and restore mixed in) against a naive Map-of-versions model. The seed is printed;
// replay a failure with SEED=<n>.
import { type Prng, seedFromEnv, withSeed } from '@strata/testkit'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { type KeyValue, MvccStore, type RangeOptions, type RequestOp } from '../src/index.js'
import { memoryBackend, text } from './helpers.js'
import type { MemoryBackend } from '@strata/backend'

interface ModelKv { value: string; create: number; mod: number; version: number; lease: number }
/** key → every change in revision order; `undefined` is a deletion. */
type History = Map<string, Array<{ main: number; kv: ModelKv | undefined }>>

class Model {
  history: History = new Map()
  rev = 1
  compactRev = 0

  at(key: string, rev: number): ModelKv | undefined {
    const h = this.history.get(key)
    if (h === undefined) return undefined
    for (let i = h.length - 1; i >= 0; i--) if (h[i]!.main <= rev) return h[i]!.kv
    return undefined
  }

  /** Keys alive at `rev` in [key, end) ('' end: to infinity; undefined: the key alone), sorted. */
  keys(key: string, end: string | undefined, rev: number): string[] {
    const all = end === undefined ? [key] : [...this.history.keys()].filter((k) => k >= key && (end === '' || k < end))
    return all.filter((k) => this.at(k, rev) !== undefined).sort()
  }

  change(main: number, key: string, kv: ModelKv | undefined): void {
    let h = this.history.get(key)
    if (h === undefined) this.history.set(key, (h = []))
    if (h.length > 0 && h[h.length - 1]!.main === main) h[h.length - 1] = { main, kv }
    else h.push({ main, kv })
  }

  /** A put at revision `main`, seeing this txn's earlier changes. */
  put(main: number, key: string, value: string, lease: number): void {
    const prev = this.at(key, main)
    this.change(main, key, { value, create: prev?.create ?? main, mod: main, version: (prev?.version ?? 0) + 1, lease })
  }
}

const KEYS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']

function randomRange(p: Prng): { key: string; end: string | undefined } {
  const k = p.pick(KEYS)
  const r = p.int(3)
  if (r === 0) return { key: k, end: undefined }
  if (r === 1) return { key: k, end: '' }
  const e = p.pick(KEYS)
  return e >= k ? { key: k, end: e } : { key: e, end: k }
}

function apiEnd(end: string | undefined): string | undefined {
  return end === '' ? '\0' : end
}

function asModel(kv: KeyValue): { key: string } & ModelKv {
  return { key: text(kv.key)!, value: text(kv.value)!, create: kv.createRevision, mod: kv.modRevision, version: kv.version, lease: kv.lease }
}

function checkRange(store: MvccStore, m: Model, p: Prng, label: string): void {
  const { key, end } = randomRange(p)
  const rev = p.bool(0.5) ? 0 : m.compactRev + p.int(m.rev - m.compactRev + 1)
  const at = rev === 0 ? m.rev : Math.max(rev, 1)
  const limit = p.pick([0, 0, 1, 2, 3])
  const options: RangeOptions = { revision: rev, limit, countOnly: p.bool(0.15) }
  const r = store.range(key, apiEnd(end), options)
  const keys = m.keys(key, end, at)
  assert.is(r.count, keys.length, `${label}: count of ${key}..${String(end)} @${at}`)
  assert.is(r.revision, m.rev, `${label}: header revision`)
  if (options.countOnly === true) return
  const want = (limit > 0 ? keys.slice(0, limit) : keys).map((k) => ({ key: k, ...m.at(k, at)! }))
  assert.equal(r.kvs.map(asModel), want, `${label}: kvs of ${key}..${String(end)} @${at} limit ${limit}`)
  assert.is(r.more, limit > 0 && keys.length > limit, `${label}: more`)
}

/** A random txn; applies it to the model and returns the request. */
function randomTxn(m: Model, p: Prng): { ops: RequestOp[]; cmpKey: string; cmpVersion: number; branch: boolean } {
  const cmpKey = p.pick(KEYS)
  const actual = m.at(cmpKey, m.rev)?.version ?? 0
  const cmpVersion = p.bool(0.5) ? actual : p.int(4)
  const branch = cmpVersion === actual
  const ops: RequestOp[] = []
  const main = m.rev + 1
  let changed = false
  for (let i = 0, n = 1 + p.int(4); i < n; i++) {
    const k = p.pick(KEYS)
    if (p.bool(0.6)) {
      const value = `t${main}.${i}`
      const lease = p.pick([0, 0, 5])
      ops.push({ put: { key: k, value, options: { lease } } })
      if (branch) m.put(main, k, value, lease)
      changed = true
    } else {
      const r = randomRange(p)
      ops.push({ deleteRange: { key: r.key, end: apiEnd(r.end) } })
      const atNow = changed ? main : m.rev
      const doomed = m.keys(r.key, r.end, atNow)
      if (branch) for (const key of doomed) m.change(main, key, undefined)
      if (doomed.length > 0) changed = true
    }
  }
  if (branch && changed) m.rev = main
  return { ops, cmpKey, cmpVersion, branch }
}

async function step(ctx: { store: MvccStore; backend: MemoryBackend }, m: Model, p: Prng, i: number): Promise<void> {
  const { store } = ctx
  const roll = p.int(100)
  if (roll < 35) {
    const k = p.pick(KEYS)
    const v = `v${i}`
    const lease = p.pick([0, 0, 0, 7])
    assert.is(store.put(k, v, { lease }).revision, m.rev + 1)
    m.rev++
    m.put(m.rev, k, v, lease)
  } else if (roll < 50) {
    const r = randomRange(p)
    const doomed = m.keys(r.key, r.end, m.rev)
    const res = store.deleteRange(r.key, apiEnd(r.end))
    if (doomed.length > 0) m.rev++
    for (const key of doomed) m.change(m.rev, key, undefined)
    assert.equal(res, { deleted: doomed.length, revision: m.rev }, `step ${i}: delete`)
  } else if (roll < 65) {
    const t = randomTxn(m, p)
    const res = store.txn({ compare: [{ key: t.cmpKey, target: 'version', result: 'equal', value: t.cmpVersion }], success: t.ops, failure: [{ range: { key: t.cmpKey } }] })
    assert.is(res.succeeded, t.branch, `step ${i}: txn branch`)
    assert.is(store.revision, m.rev, `step ${i}: revision after txn`)
  } else if (roll < 90) {
    checkRange(store, m, p, `step ${i}`)
  } else if (roll < 95) {
    if (m.rev > m.compactRev) {
      const rev = m.compactRev + 1 + p.int(m.rev - m.compactRev)
      const h = store.compact(rev)
      m.compactRev = rev
      if (p.bool(0.5)) await h.done
    }
  } else if (roll < 98) {
    // Crash and reopen after a commit: nothing applied may be lost, the compaction resumes.
    await ctx.backend.commit()
    const backend = ctx.backend.crash()
    ctx.backend = backend
    ctx.store = await MvccStore.open(backend, { compactionBatchLimit: 3, yieldFn: () => Promise.resolve() })
    assert.is(ctx.store.revision, m.rev, `step ${i}: revision after reopen`)
  } else if (roll === 98) {
    // A write callback that throws after changes: the backend and the index both undo them.
    assert.throws(() => store.write((txn) => {
      txn.put(p.pick(KEYS), 'doomed')
      txn.deleteRange(p.pick(KEYS), '\0')
      throw new Error('abort')
    }), /abort/)
    assert.is(store.revision, m.rev, `step ${i}: revision after an aborted write`)
  } else {
    await store.restore()
    assert.is(store.revision, m.rev, `step ${i}: revision after restore`)
  }
  if (p.bool(0.3)) await Promise.resolve() // lets a running compaction take a batch
}

test('the store agrees with a naive Map-of-versions model on random sequences', async () => {
  const seed = seedFromEnv()
  console.log(`model.test: seed=${seed} (replay with SEED=${seed})`)
  await withSeed('model.test', async (p) => {
    for (let round = 0; round < 25; round++) {
      const backend = memoryBackend()
      const ctx = { backend, store: await MvccStore.open(backend, { compactionBatchLimit: 3, yieldFn: () => Promise.resolve() }) }
      const m = new Model()
      for (let i = 0; i < 400; i++) await step(ctx, m, p, i)
      await ctx.store.waitCompactions()
      for (let j = 0; j < 50; j++) checkRange(ctx.store, m, p, `round ${round} end`)
    }
  }, { seed })
})

test.run()
