import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { tempDir } from '@strata/testkit'
import { Wal } from '../src/index.js'
import { META, ents, plain } from './helpers.js'

test('a saved log reads back after reopening', async () => {
  const t = await tempDir('wal-')
  try {
    const w = await Wal.create(t.path, META, { segmentSizeBytes: 512 })
    await w.save({ term: 1, vote: 1, commit: 3 }, ents(1, 20))
    await w.close()
    const r = await Wal.open(t.path, { index: 0, term: 0 }, { segmentSizeBytes: 512 })
    const got = await r.readAll()
    assert.equal(plain(got.entries), plain(ents(1, 20)))
    assert.equal(got.hardState, { term: 1, vote: 1, commit: 3 })
    console.log(r.segmentNames)
    await r.save({ term: 2, vote: 1, commit: 20 }, ents(21, 40, 2))
    await r.close()
    const r2 = await Wal.open(t.path, { index: 0, term: 0 }, { segmentSizeBytes: 512 })
    const got2 = await r2.readAll()
    assert.equal(plain(got2.entries), plain([...ents(1, 20), ...ents(21, 40, 2)]))
    console.log(r2.segmentNames)
    await r2.close()
  } finally {
    await t.cleanup()
  }
})

test.run()
