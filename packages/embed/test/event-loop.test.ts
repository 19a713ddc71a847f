import assert from 'node:assert/strict'
import { SimFileSystem } from '@strata/testkit'
import { test } from 'uvu'
import { open } from '../src/index.js'

// Issue 14: the store never stalls its host's event loop. Over the memory backend and an
// in-memory file system nothing in the write path waits on I/O: a save, an apply and every
// caller's continuation may all complete in microtasks, so a closed loop of callers would keep
// the event loop from ever turning unless the member hands it back itself.
test('a closed loop of puts over the memory backend and an in-memory file system still lets timers run', async () => {
  const store = await open({ dir: '/loop', backend: 'memory', fs: new SimFileSystem() })
  try {
    const value = new Uint8Array(32)
    let stop = false
    let puts = 0
    // Bounded, so that a starved event loop fails the test rather than hanging it.
    const limit = 200_000
    const workers = Array.from({ length: 64 }, async (_, w) => {
      for (let i = 0; !stop && puts < limit; i++) {
        await store.put(`k/${w}/${i % 100}`, value)
        puts++
      }
    })
    // A timer chain: each tick measures how late it ran.
    let ticks = 0
    let latest = performance.now()
    let longest = 0
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const now = performance.now()
        longest = Math.max(longest, now - latest)
        latest = now
        if (++ticks === 20) resolve()
        else setTimeout(tick, 1)
      }
      setTimeout(tick, 1)
    })
    stop = true
    await Promise.all(workers)
    assert.ok(puts > 64 && puts < limit, `the puts ran alongside the timers (${puts} puts)`)
    // Generous for a loaded CI machine: without the hand-back the first tick never comes.
    assert.ok(longest < 250, `the longest gap between two 1 ms timer ticks was ${longest.toFixed(1)} ms`)
  } finally {
    await store.close()
  }
})

test.run()
