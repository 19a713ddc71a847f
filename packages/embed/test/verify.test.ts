import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '@strata/testkit'
import { test } from 'uvu'
import { open, verify } from '../src/index.js'

test('verify reports an intact directory, then names the damaged record of a damaged one and says what to do', async () => {
  const d = await tempDir('strata-verify-')
  try {
    const store = await open({ dir: d.path, tickMs: 20, bcryptCost: 4 })
    for (let i = 0; i < 20; i++) await store.put(`k${i}`, `value-number-${i}-xyzzy`)
    await store.close()
    const good = await verify(d.path)
    assert.equal(good.ok, true, good.summary.join('\n'))
    assert.equal(good.wal.ok, true)
    assert.equal(good.records.intact >= 20, true)
    assert.equal(good.records.totals, 'match')

    // Flip one byte inside the stored value of k7: LMDB's structure stays sound, the record's checksum fails.
    const file = join(d.path, 'db', 'data.mdb')
    // Every copy: LMDB's copy-on-write leaves older ones in free pages, and the first copy in
    // the file is not always the live one (which made this test fail now and then).
    const bytes = readFileSync(file)
    let copies = 0
    for (let at = bytes.indexOf('value-number-7-xyzzy'); at >= 0; at = bytes.indexOf('value-number-7-xyzzy', at + 1)) {
      bytes[at + 3]! ^= 0x20
      copies++
    }
    assert.ok(copies > 0)
    writeFileSync(file, bytes)
    const bad = await verify(d.path)
    assert.equal(bad.ok, false)
    assert.equal(bad.structure.ok, true)
    assert.equal(bad.records.damagedCount, 1)
    assert.equal(bad.records.damaged[0]!.key, 'k7')
    assert.match(bad.records.damaged[0]!.reason, /checksum/)
    assert.match(bad.summary.join('\n'), /restore the data directory from a snapshot or backup/i)
    assert.match(bad.summary.join('\n'), /catch up from the leader/)

    // Opening the damaged directory fails with a typed error instead of serving k7 wrong.
    await assert.rejects(open({ dir: d.path, tickMs: 20, bcryptCost: 4 }), (err: { code?: string }) => /CORRUPT|STOPPED/.test(err.code ?? ''))
  } finally {
    await d.cleanup()
  }
})

test('verify reports a garbled backend file as damaged structure without reading its records', async () => {
  const d = await tempDir('strata-verify-')
  try {
    const store = await open({ dir: d.path, tickMs: 20, bcryptCost: 4 })
    await store.put('a', 'b')
    await store.close()
    const file = join(d.path, 'db', 'data.mdb')
    const bytes = readFileSync(file)
    bytes.fill(0xff, 2 * 4096)
    writeFileSync(file, bytes)
    const r = await verify(d.path)
    assert.equal(r.ok, false)
    assert.equal(r.structure.ok, false)
    assert.equal(r.records.checked, false)
    assert.equal(r.wal.ok, true)
    assert.match(r.summary.join('\n'), /The WAL can be kept/)
  } finally {
    await d.cleanup()
  }
})

test.run()
