// The quick start of README.md, run as a test so the README cannot drift from the code.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MemoryBackend } from '@strata/backend'
import type { WriteTx } from '@strata/backend'
import { Lessor } from '../src/index.js'
import type { RangeDeleter } from '../src/index.js'
import { ManualClock } from './helpers.js'

test('README quick start', () => {
  const clock = new ManualClock() // any @strata/seams Clock; systemClock in production
  const backend = new MemoryBackend({ clock })
  const deleted: string[] = []
  const kv: RangeDeleter = { deleteKeys: (keys, tx: WriteTx) => { for (const k of keys) { deleted.push(Buffer.from(k).toString()); tx.delete('key', k) } } }
  const ciKey = Buffer.from('consistent_index')

  // --- quick start ---
  const lessor = new Lessor(backend, { clock, rangeDeleter: kv })

  // Apply path (every member): effects and the applied index in ONE backend write.
  backend.write((tx) => {
    lessor.grant(42, 10, { tx }) // → { id: 42, ttl: 10, ... }
    tx.put('meta', ciKey, Buffer.from('7'))
  })
  lessor.attach(42, [Buffer.from('a')]) // mvcc does this when it applies a put with lease 42

  // Leader side: this member became leader and applied its term's first entry.
  lessor.promote(1_000) // every countdown restarts, extended by the election timeout
  clock.advance(11_000)
  const { expired, checkpoints } = lessor.tick() // driver: every 500 ms; propose what it returns
  // expired = [42] → propose LeaseRevoke(42); when it applies:
  backend.write((tx) => {
    lessor.revoke(42, { tx }) // deletes 'a' through kv, at one revision, then the lease record
    tx.put('meta', ciKey, Buffer.from('8'))
  })
  // --- end ---

  assert.equal(expired, [42])
  assert.equal(checkpoints, [])
  assert.equal(deleted, ['a'])
  assert.is(lessor.lookup(42), undefined)
})

test.run()
