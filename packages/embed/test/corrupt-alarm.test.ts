// Issue 17: damage a running member meets (a read of a record that fails its checksum) raises
// the CORRUPT alarm for that member, as the periodic hash check does for a mismatch: writes are
// refused from then on and maintenance.alarms() lists it.
import assert from 'node:assert/strict'
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '@strata/testkit'
import { test } from 'uvu'
import { open } from '../src/index.js'

test('a read that meets a damaged record raises CORRUPT for the member; writes are refused, other reads go on', async () => {
  const d = await tempDir('strata-corrupt-alarm-')
  try {
    const first = await open({ dir: d.path, tickMs: 20, bcryptCost: 4 })
    for (let i = 0; i < 20; i++) await first.put(`k${i}`, `value-number-${i}-xyzzy`)
    await first.close()

    // Reopened, the records are read from the data file; then the file changes under the
    // running member: one byte of k7's stored value, written in place (the map sees it).
    const store = await open({ dir: d.path, tickMs: 20, bcryptCost: 4 })
    try {
      const memberId = store.maintenance.status().header.memberId
      assert.deepEqual(store.maintenance.alarms(), [])
      // Every copy of it: LMDB's copy-on-write leaves older ones in free pages.
      const file = join(d.path, 'db', 'data.mdb')
      const bytes = readFileSync(file)
      const fd = openSync(file, 'r+')
      let copies = 0
      try {
        for (let at = bytes.indexOf('value-number-7-xyzzy'); at >= 0; at = bytes.indexOf('value-number-7-xyzzy', at + 1)) {
          writeSync(fd, Buffer.from('V'), 0, 1, at)
          copies++
        }
      } finally {
        closeSync(fd)
      }
      assert.ok(copies > 0, 'the value is in the data file')

      await assert.rejects(store.get('k7'), (err: { code?: string; message?: string }) => err.code === 'ERR_MVCC_CORRUPT' && /k7/.test(err.message ?? ''))
      const deadline = Date.now() + 10_000
      while (!store.maintenance.alarms().some((a) => a.alarm === 'corrupt') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
      assert.deepEqual(store.maintenance.alarms().map((a) => ({ memberId: a.memberId, alarm: a.alarm })), [{ memberId, alarm: 'corrupt' }])
      assert.deepEqual(store.maintenance.status().alarms.map((a) => a.alarm), ['corrupt'])

      await assert.rejects(store.put('after', 'x'), (err: { code?: string }) => /CORRUPT/.test(err.code ?? ''))
      assert.equal(new TextDecoder().decode((await store.get('k8')).kvs[0]!.value), 'value-number-8-xyzzy', 'undamaged records are still served')
      // Met again, the damage raises nothing new: one alarm per member.
      await assert.rejects(store.get('k7'), (err: { code?: string }) => err.code === 'ERR_MVCC_CORRUPT')
      await new Promise((resolve) => setTimeout(resolve, 100))
      assert.equal(store.maintenance.alarms().length, 1)
    } finally {
      await store.close()
    }
  } finally {
    await d.cleanup()
  }
})

test.run()
