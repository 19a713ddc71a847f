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

const FAILPOINTS = ['raftBeforeSave', 'raftAfterSave', 'beforeApplyOne', 'backendBeforeCommit', 'backendAfterCommit', 'snapBeforeSave', 'snapAfterSave'] as const

test('a crash at each durable boundary loses nothing acknowledged and invents nothing', async () => {
  await withSeed('embed-crash', async (prng: Prng) => {
    for (const name of FAILPOINTS) {
      const fs = new SimFileSystem({ prng: prng.fork(), crashMode: 'random' })
      const clock = new ManualClock()
      const fps = new Failpoints()
      let backend = new MemoryBackend({ clock, failpoint: fps.fn })
      const openStore = (): Promise<Store> => open({ dir: '/data', fs, clock, rng: prng.fork(), failpoint: fps.fn, backend, snapshotCount: 15, tickMs: 100, walSegmentSizeBytes: 256 * 1024 })
      let store = await openStore()
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
      await store.close().catch(() => {})
      fs.crash()
      backend = backend.crash({ failpoint: fps.fn })
      store = await openStore()
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

test.run()
