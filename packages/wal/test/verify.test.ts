import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { rejectsWithCode } from '@strata/testkit'
import { Wal, dump, repair, snapshotMarkers, validSnapshotEntries, verify } from '../src/index.js'
import { EMPTY_CONF, META, ents, plain, reopen, simOptions, snap } from './helpers.js'

test('verify returns the last hard state and last index, and checks the snapshot record', async () => {
  const o = simOptions()
  const w = await Wal.create('/w', META, o)
  await w.save({ term: 1, vote: 1, commit: 10 }, ents(1, 40))
  await w.saveSnapshot(snap(20, 1))
  await w.save({ term: 2, vote: 3, commit: 40 }, ents(41, 50, 2))
  await w.close()
  const all = await verify('/w', { fs: o.fs })
  assert.equal(all.hardState, { term: 2, vote: 3, commit: 40 })
  assert.is(all.lastIndex, 50)
  assert.is(all.tail, 'zero')
  const fromSnap = await verify('/w', { fs: o.fs, snapshot: snap(20, 1) })
  assert.is(fromSnap.lastIndex, 50)
  await rejectsWithCode(verify('/w', { fs: o.fs, snapshot: snap(20, 2) }), 'ERR_WAL_SNAPSHOT_MISMATCH')
  await rejectsWithCode(verify('/w', { fs: o.fs, snapshot: snap(21, 1) }), 'ERR_WAL_SNAPSHOT_NOT_FOUND')
  await rejectsWithCode(verify('/missing', { fs: o.fs }), 'ERR_WAL_NOT_FOUND')
})

test('verify reports a torn tail and fails with ERR_WAL_CORRUPT on damage elsewhere', async () => {
  const o = simOptions()
  const w = await Wal.create('/w', META, o)
  await w.save({ term: 1, vote: 1, commit: 10 }, ents(1, 40))
  await w.save({ term: 1, vote: 1, commit: 10 }, ents(41, 80))
  const names = w.segmentNames
  await w.close()
  const tail = `/w/${names.at(-1)!}`
  const size = (await o.fs.stat(tail))!.size
  const h = await o.fs.open(tail, 'readWrite')
  const end = (await verify('/w', { fs: o.fs })).tail === 'zero' ? size : size
  await h.truncate(end)
  await h.close()
  o.fs.flipBit(`/w/${names[0]!}`, 300, 1)
  await rejectsWithCode(verify('/w', { fs: o.fs }), 'ERR_WAL_CORRUPT')
})

test('validSnapshotEntries returns the snapshot records at or below the last commit', async () => {
  const o = simOptions()
  const w = await Wal.create('/w', META, o)
  await w.saveSnapshot(snap(1, 1))
  await w.save({ term: 1, vote: 0, commit: 1 }, [])
  await w.saveSnapshot(snap(2, 1))
  await w.saveSnapshot(snap(3, 2))
  await w.save({ term: 2, vote: 0, commit: 2 }, [])
  await w.saveSnapshot(snap(4, 2))
  await w.close()
  assert.equal(await validSnapshotEntries('/w', { fs: o.fs }), [snap(0, 0, EMPTY_CONF), snap(1, 1), snap(2, 1)])
})

// etcd #11918 / TestValidSnapshotEntriesAfterPurgeWal: once the first segment is gone, the oldest
// remaining one opens with a crc record carrying the purged segment's chain value, and every
// reader must adopt it instead of checking records against a chain started from 0.
test('#11918: after the first segments are purged, every reader handles the opening crc record', async () => {
  const o = simOptions({ segmentSizeBytes: 64 })
  const w = await Wal.create('/w', META, o)
  await w.saveSnapshot(snap(1, 1))
  await w.save({ term: 1, vote: 0, commit: 1 }, [])
  await w.saveSnapshot(snap(2, 1))
  await w.saveSnapshot(snap(3, 2))
  for (let i = 0; i < 128; i++) await w.save({ term: 2, vote: 0, commit: 3 }, [])
  await w.save({ term: 2, vote: 0, commit: 3 }, ents(4, 6, 2))
  await w.close()
  const names = (await o.fs.readdir('/w')).filter((n) => n.endsWith('.wal'))
  assert.ok(names.length > 5)
  await o.fs.unlink(`/w/${names[0]!}`)
  await o.fs.unlink(`/w/${names[1]!}`)
  assert.equal(await validSnapshotEntries('/w', { fs: o.fs }), [snap(2, 1), snap(3, 2)])
  const v = await verify('/w', { fs: o.fs })
  assert.equal(v.hardState, { term: 2, vote: 0, commit: 3 })
  let count = 0
  for await (const _ of dump('/w', { fs: o.fs })) count++
  assert.ok(count > 100)
  assert.is((await repair('/w', { fs: o.fs })).repaired, false)
  const r = await reopen('/w', o, { index: 3, term: 2 })
  assert.equal(plain(r.entries), plain(ents(4, 6, 2)))
  assert.equal(r.hardState, { term: 2, vote: 0, commit: 3 })
  await r.wal.close()
})

test('a segment whose crc record does not continue the previous chain is ERR_WAL_CORRUPT', async () => {
  const a = simOptions()
  const wa = await Wal.create('/w', META, a)
  await wa.save({ term: 1, vote: 0, commit: 0 }, ents(1, 40))
  await wa.close()
  const namesA = (await a.fs.readdir('/w')).filter((n) => n.endsWith('.wal'))
  // A second log with the same shape but other contents: its second segment carries another chain.
  const wb = await Wal.create('/v', META, a)
  await wb.save({ term: 9, vote: 0, commit: 0 }, ents(1, 40, 9))
  await wb.close()
  const namesB = (await a.fs.readdir('/v')).filter((n) => n.endsWith('.wal'))
  assert.is(namesA[1], namesB[1])
  await a.fs.writeFile(`/w/${namesA[1]!}`, await a.fs.readFile(`/v/${namesB[1]!}`))
  await rejectsWithCode(verify('/w', { fs: a.fs }), 'ERR_WAL_CORRUPT')
})

test('snapshotMarkers returns the markers at or below the last commit and that last hard state, also once the first segment is gone', async () => {
  const o = simOptions()
  const w = await Wal.create('/w', META, o)
  await w.save({ term: 1, vote: 1, commit: 10 }, ents(1, 20))
  await w.saveSnapshot(snap(8, 1))
  await w.saveSnapshot(snap(15, 1))
  await w.save({ term: 2, vote: 1, commit: 12 }, ents(21, 40, 2))
  await w.close()
  const found = await snapshotMarkers('/w', { fs: o.fs })
  assert.equal(found, { valid: [snap(0, 0, EMPTY_CONF), snap(8, 1)], hardState: { term: 2, vote: 1, commit: 12 } })
  assert.equal(await validSnapshotEntries('/w', { fs: o.fs }), found.valid)
  await o.fs.unlink(`/w/${w.segmentNames[0]!}`)
  assert.equal((await snapshotMarkers('/w', { fs: o.fs })).hardState, found.hardState)
})

test.run()
