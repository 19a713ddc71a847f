// The README's quick start, verbatim apart from the set-up and the checks.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { tempDir } from '@strata/testkit'
import { LmdbBackend, MemoryBackend } from '../src/index.js'
import { dump } from './contract.js'
import { SimClock } from '@strata/testkit'

test('the README quick start runs as written', async () => {
  const tmp = await tempDir('strata-backend-readme-')
  const dir = tmp.path
  const sink: Uint8Array[] = []
  const clock = new SimClock()
  try {
    const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

    const db = await LmdbBackend.open(dir)
    let applied = 0
    db.setPreCommitHook((tx) => tx.put('meta', enc('consistent_index'), enc(String(applied))))
    db.write((tx) => {
      tx.put('key', enc('k1'), enc('v1'))
      applied = 1
    })
    assert.ok(db.read((tx) => tx.get('key', enc('k1'))) !== undefined)
    await db.commit()
    for await (const chunk of db.snapshot()) sink.push(chunk)
    await db.close()

    const mem = new MemoryBackend({ clock })
    mem.write((tx) => tx.put('lease', enc('1'), enc('a')))
    await mem.commit()
    mem.write((tx) => tx.put('lease', enc('2'), enc('b')))
    const restarted = mem.crash()

    assert.equal(dump(restarted), ['lease/1=a'])
    await restarted.restore((async function* () { yield* sink })())
    assert.equal(dump(restarted), ['key/k1=v1', 'meta/consistent_index=1'])
  } finally {
    await tmp.cleanup()
  }
})

test.run()
