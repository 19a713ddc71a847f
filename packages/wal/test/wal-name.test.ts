import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { isContiguous, parseWalName, searchIndex, walName } from '../src/wal-name.js'

test('walName and parseWalName round-trip %016x-%016x.wal and reject other names', () => {
  assert.is(walName(1, 0x1f), '0000000000000001-000000000000001f.wal')
  assert.equal(parseWalName('0000000000000001-000000000000001f.wal'), { name: '0000000000000001-000000000000001f.wal', seq: 1, firstIndex: 31 })
  assert.is(walName(2 ** 53 - 1, 5), '001fffffffffffff-0000000000000005.wal')
  assert.is(parseWalName('0020000000000000-0000000000000005.wal'), undefined)
  for (const bad of ['0.tmp', 'LOCK', '000000000000001-0000000000000001.wal', '000000000000000A-0000000000000001.wal', '0000000000000001-0000000000000001.wal.broken']) {
    assert.is(parseWalName(bad), undefined, bad)
  }
})

test('searchIndex picks the last segment starting at or before the index', () => {
  const segs = [0, 2, 3, 10, 10].map((firstIndex, seq) => ({ name: walName(seq, firstIndex), seq, firstIndex }))
  assert.is(searchIndex(segs, 0), 0)
  assert.is(searchIndex(segs, 1), 0)
  assert.is(searchIndex(segs, 2), 1)
  assert.is(searchIndex(segs, 9), 2)
  assert.is(searchIndex(segs, 10), 4)
  assert.is(searchIndex(segs.slice(1), 1), -1)
})

test('isContiguous requires sequence numbers that increase by one', () => {
  const mk = (seqs: number[]) => seqs.map((seq) => ({ name: walName(seq, 0), seq, firstIndex: 0 }))
  assert.ok(isContiguous(mk([3, 4, 5])))
  assert.ok(isContiguous(mk([])))
  assert.not.ok(isContiguous(mk([3, 5])))
})

test.run()
