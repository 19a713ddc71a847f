// The README's quick start, run as a test.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { tempDir } from '@strata/testkit'
import { Wal, WalError, repair } from '../src/index.js'

test('the README quick start runs', async () => {
  const t = await tempDir('wal-readme-')
  const dir = `${t.path}/wal`
  try {
    const wal = await Wal.create(dir, new TextEncoder().encode('member 1 of cluster 7'))
    await wal.save({ term: 1, vote: 1, commit: 0 }, [
      { index: 1, term: 1, data: new TextEncoder().encode('put a=1') },
      { index: 2, term: 1, data: new TextEncoder().encode('put b=2') },
    ])
    await wal.close()

    const again = await Wal.open(dir, { index: 0, term: 0 })
    try {
      const { metadata, hardState, entries } = await again.readAll()
      await again.save({ ...hardState, commit: 2 }, [])
      assert.is(new TextDecoder().decode(metadata), 'member 1 of cluster 7')
      assert.equal(entries.map((e) => new TextDecoder().decode(e.data)), ['put a=1', 'put b=2'])
    } catch (err) {
      if (err instanceof WalError && err.code === 'ERR_WAL_TORN_TAIL') await repair(dir)
      throw err
    } finally {
      await again.close()
    }
    const last = await Wal.openForRead(dir, { index: 0, term: 0 })
    assert.equal((await last.readAll()).hardState, { term: 1, vote: 1, commit: 2 })
    await last.close()
  } finally {
    await t.cleanup()
  }
})

test.run()
