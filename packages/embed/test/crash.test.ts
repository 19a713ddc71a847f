// One member through the public API on a simulated disk and a memory backend with simulated
// durability: a crash at each durable boundary stops the member; the disk loses what was not
// synced, the backend what was not committed; the reopened member must hold every
// acknowledged write, and never a value no one wrote.
import assert from 'node:assert/strict'
import { MemoryBackend } from '@strata/backend'
import type { Clock } from '@strata/seams'
import { Failpoints, Prng, SimFileSystem, withSeed } from '@strata/testkit'
import { test } from 'uvu'
import { type Store, open } from '../src/index.js'

/** Virtual time that moves only when the test says; timers fire as it passes them. */
class ManualClock implements Clock {
  ms = 0
  #timers: { at: number; fn: () => void; live: boolean }[] = []
  now(): number {
    return this.ms
  }
  setTimer(ms: number, fn: () => void): { cancel(): void } {
    const t = { at: this.ms + ms, fn, live: true }
    this.#timers.push(t)
    return { cancel: () => void (t.live = false) }
  }
  /** Moves time on by `ms`, firing due timers in order. */
  advance(ms: number): void {
    const end = this.ms + ms
    for (;;) {
      this.#timers = this.#timers.filter((t) => t.live)
      const due = this.#timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0]
      if (due === undefined) break
      this.ms = Math.max(this.ms, due.at)
      due.live = false
      due.fn()
    }
    this.ms = end
  }
}

/**
 * One member on a simulated disk and a memory backend, both sharing `fps`: `open()` opens (or
 * reopens) it; `crashAndReopen(store)` closes what is left of a stopped store, loses what the
 * disk did not sync and the backend did not commit, and opens the member again.
 */
function crashRig(prng: Prng, snapshotCount: number) {
  const fs = new SimFileSystem({ prng: prng.fork(), crashMode: 'random' })
  const clock = new ManualClock()
  const fps = new Failpoints()
  let backend = new MemoryBackend({ clock, failpoint: fps.fn })
  const openStore = (): Promise<Store> => open({ dir: '/data', fs, clock, rng: prng.fork(), failpoint: fps.fn, backend, snapshotCount, tickMs: 100, walSegmentSizeBytes: 256 * 1024 })
  return {
    clock,
    fps,
    open: openStore,
    async crashAndReopen(store: Store): Promise<Store> {
      await store.close().catch(() => {})
      fs.crash()
      backend = backend.crash({ failpoint: fps.fn })
      return openStore()
    },
  }
}

const FAILPOINTS = ['raftBeforeSave', 'raftAfterSave', 'beforeApplyOne', 'backendBeforeCommit', 'backendAfterCommit', 'snapBeforeSave', 'snapAfterSave'] as const

test('a crash at each durable boundary loses nothing acknowledged and invents nothing', async () => {
  await withSeed('embed-crash', async (prng: Prng) => {
    for (const name of FAILPOINTS) {
      const { clock, fps, ...rig } = crashRig(prng, 15)
      let store = await rig.open()
      const acked = new Map<string, number>()
      const written = new Map<string, Set<number>>()
      fps.arm(name, { skip: name.startsWith('snap') ? prng.int(3) : 5 + prng.int(20) })
      let crashed = false
      for (let i = 0; i < 80; i++) {
        const key = `k${prng.int(8)}`
        if (!written.has(key)) written.set(key, new Set())
        written.get(key)!.add(i)
        const p = store.put(key, String(i))
        clock.advance(150)
        try {
          await p
          acked.set(key, i)
        } catch (err) {
          const code = (err as { code?: string }).code
          assert.ok(code === 'ERR_EMBED_STOPPED' || code === 'ERR_FAILPOINT', `${name}: unexpected ${String(err)}`)
          crashed = true
          break
        }
      }
      assert.ok(crashed, `${name} never fired`)
      fps.disarm(name)
      store = await rig.crashAndReopen(store)
      for (const [key, n] of acked) {
        const kv = (await store.get(key, { serializable: true })).kvs[0]
        assert.ok(kv !== undefined, `${name}: acknowledged ${key}=${n} lost`)
        const v = Number(Buffer.from(kv.value).toString())
        assert.ok(v >= n && written.get(key)!.has(v), `${name}: ${key} holds ${v}, acknowledged ${n}`)
      }
      await store.put('after', 'ok')
      assert.equal((await store.get('after', { serializable: true })).count, 1)
      await store.close()
    }
  })
})

test('a crash while batches of concurrent puts apply (between two requests of one, too) loses nothing acknowledged; the replay gives each its revision', async () => {
  await withSeed('embed-crash-batch', async (prng: Prng) => {
    for (const name of [...FAILPOINTS, 'apply.beforeBatchRequest'] as const) {
      const { clock, fps, ...rig } = crashRig(prng, 8)
      let store = await rig.open()
      const acked: { key: string; value: number; revision: number }[] = []
      const written = new Map<string, Set<number>>()
      fps.arm(name, { skip: name.startsWith('snap') ? prng.int(3) : 2 + prng.int(name === 'apply.beforeBatchRequest' ? 30 : 8) })
      let crashed = false
      for (let round = 0; round < 40 && !crashed; round++) {
        // Proposed in one turn: one batch entry per round, a single-request entry every third
        // round (the replay reads both kinds from one WAL).
        const puts = Array.from({ length: round % 3 === 0 ? 1 : 2 + prng.int(6) }, (_, j) => {
          const key = `k${prng.int(5)}`
          const value = round * 10 + j
          if (!written.has(key)) written.set(key, new Set())
          written.get(key)!.add(value)
          return store.put(key, String(value)).then((r) => acked.push({ key, value, revision: r.header.revision }))
        })
        clock.advance(150)
        for (const r of await Promise.allSettled(puts)) {
          if (r.status === 'fulfilled') continue
          const code = (r.reason as { code?: string }).code
          assert.ok(code === 'ERR_EMBED_STOPPED' || code === 'ERR_FAILPOINT', `${name}: unexpected ${String(r.reason)}`)
          crashed = true
        }
      }
      assert.ok(crashed, `${name} never fired`)
      fps.disarm(name)
      store = await rig.crashAndReopen(store)
      // Every acknowledged put reads back at the revision it was answered with: the replay
      // applied each batch's requests in the same order, at the same revisions.
      for (const a of acked) {
        const kv = (await store.get(a.key, { revision: a.revision, serializable: true })).kvs[0]
        assert.equal(kv?.modRevision, a.revision, `${name}: ${a.key}=${a.value} acknowledged at ${a.revision} lost`)
        assert.equal(Number(Buffer.from(kv.value).toString()), a.value, `${name}: ${a.key} at ${a.revision}`)
      }
      for (const [key, values] of written) {
        const kv = (await store.get(key, { serializable: true })).kvs[0]
        if (kv !== undefined) assert.ok(values.has(Number(Buffer.from(kv.value).toString())), `${name}: ${key} holds a value no one wrote`)
      }
      await store.close()
    }
  })
})

test.run()
