import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { rejectsWithCode } from '@strata/testkit'
import type { SimFileSystem } from '@strata/testkit'
import { Wal, dump, repair } from '../src/index.js'
import type { Entry } from '@strata/raft'
import type { DumpItem } from '../src/index.js'
import { META, ents, plain, reopen, simOptions } from './helpers.js'

async function records(dir: string, fs: SimFileSystem): Promise<DumpItem[]> {
  const out: DumpItem[] = []
  for await (const item of dump(dir, { fs })) out.push(item)
  return out
}

/** A one-segment log holding `entries` saved `perSave` at a time; returns the segment path. */
async function build(fs: SimFileSystem, entries: Entry[], perSave: number): Promise<string> {
  const w = await Wal.create('/w', META, { fs, segmentSizeBytes: 1 << 20 })
  for (let i = 0; i < entries.length; i += perSave) await w.save({ term: 1, vote: 1, commit: 0 }, entries.slice(i, i + perSave))
  const path = `/w/${w.segmentNames[0]!}`
  await w.close()
  return path
}

async function zero(fs: SimFileSystem, path: string, at: number, length: number): Promise<void> {
  const h = await fs.open(path, 'readWrite')
  await h.write(new Uint8Array(length), at)
  await h.sync()
  await h.close()
}

async function entryOffsets(fs: SimFileSystem): Promise<number[]> {
  return (await records('/w', fs)).filter((r) => r.record.type === 'entry').map((r) => r.offset)
}

test('a record cut short at the end is torn: open refuses, repair cuts it and keeps a .broken copy', async () => {
  const o = simOptions()
  const path = await build(o.fs, ents(1, 10), 10)
  const offs = await entryOffsets(o.fs)
  const endOfLast = offs[9]! + 40
  const h = await o.fs.open(path, 'readWrite')
  await h.truncate(endOfLast - 4)
  await h.close()
  await rejectsWithCode(reopen('/w', o), 'ERR_WAL_TORN_TAIL')
  const r = await repair('/w', { fs: o.fs })
  assert.is(r.repaired, true)
  assert.is(r.offset, offs[9]!)
  assert.ok(await o.fs.stat(`${path}.broken`))
  const after = await reopen('/w', o)
  assert.equal(plain(after.entries), plain(ents(1, 9)))
  await after.wal.close()
  assert.is((await repair('/w', { fs: o.fs })).repaired, false)
})

test('a read-only open returns the valid prefix of a torn log without repairing it', async () => {
  const o = simOptions()
  const path = await build(o.fs, ents(1, 10), 10)
  const offs = await entryOffsets(o.fs)
  await zero(o.fs, path, offs[7]! + 8, 8)
  const before = await o.fs.readFile(path)
  const r = await Wal.openForRead('/w', { index: 0, term: 0 }, { fs: o.fs })
  assert.equal(plain((await r.readAll()).entries), plain(ents(1, 7)))
  await r.close()
  assert.equal(await o.fs.readFile(path), before)
})

test('a tail zeroed from byte 1024 on leaves exactly the entries that ended before it', async () => {
  const o = simOptions()
  const path = await build(o.fs, ents(1, 50, 1, 64), 50)
  const offs = await entryOffsets(o.fs)
  await zero(o.fs, path, 1024, (1 << 20) - 1024)
  const keep = offs.filter((off) => off + 24 + 16 + 64 <= 1024).length
  // The frame that straddles 1024 lost its end: the read stops there, without a repair.
  const r = await reopen('/w', o).catch(async (err) => {
    assert.is(err.code, 'ERR_WAL_TORN_TAIL')
    await repair('/w', { fs: o.fs })
    return reopen('/w', o)
  })
  assert.ok(keep > 3)
  assert.equal(plain(r.entries), plain(ents(1, keep, 1, 64)))
  await r.wal.close()
})

test('a zeroed sector inside the last, unsynced-looking batch is a torn write that repair cuts', async () => {
  const o = simOptions()
  const path = await build(o.fs, ents(1, 4, 1, 4096), 4)
  await zero(o.fs, path, 4096 + 512, 512)
  await rejectsWithCode(reopen('/w', o), 'ERR_WAL_TORN_TAIL')
  await repair('/w', { fs: o.fs })
  const r = await reopen('/w', o)
  assert.equal(plain(r.entries), plain(ents(1, 1, 1, 4096)))
  await r.wal.close()
})

test('damage followed by records of a later fsync is corruption: ERR_WAL_CORRUPT with segment and offset, repair changes nothing', async () => {
  const o = simOptions()
  const path = await build(o.fs, ents(1, 4, 1, 4096), 1)
  const offs = await entryOffsets(o.fs)
  await zero(o.fs, path, 4096 + 512, 512)
  const before = await o.fs.readFile(path)
  const err = await rejectsWithCode(reopen('/w', o), 'ERR_WAL_CORRUPT') as Error & { segment: string; offset: number }
  assert.is(err.segment, path.slice(3))
  assert.is(err.offset, offs[1]!)
  await rejectsWithCode(repair('/w', { fs: o.fs }), 'ERR_WAL_CORRUPT')
  assert.equal(await o.fs.readFile(path), before)
})

test('a checksum mismatch in a segment that is not the last is ERR_WAL_CORRUPT', async () => {
  const o = simOptions()
  const w = await Wal.create('/w', META, o)
  await w.save({ term: 1, vote: 1, commit: 1 }, ents(1, 40))
  await w.save({ term: 1, vote: 1, commit: 1 }, ents(41, 80))
  const first = w.segmentNames[0]!
  await w.close()
  o.fs.flipBit(`/w/${first}`, 200, 3)
  await rejectsWithCode(reopen('/w', o), 'ERR_WAL_CORRUPT')
})

test('after a torn tail is repaired, new appends are never read together with the stale bytes beyond', async () => {
  const o = simOptions()
  const path = await build(o.fs, ents(1, 20, 1, 100), 20)
  const offs = await entryOffsets(o.fs)
  await zero(o.fs, path, offs[5]! + 8, 8)
  await rejectsWithCode(reopen('/w', o), 'ERR_WAL_TORN_TAIL')
  await repair('/w', { fs: o.fs })
  const r = await reopen('/w', o)
  assert.equal(plain(r.entries), plain(ents(1, 5, 1, 100)))
  // Fewer, shorter new entries: if the old bytes were still there they would follow.
  await r.wal.save({ term: 2, vote: 1, commit: 0 }, ents(6, 7, 2, 10))
  await r.wal.close()
  const again = await reopen('/w', o)
  assert.equal(plain(again.entries), plain([...ents(1, 5, 1, 100), ...ents(6, 7, 2, 10)]))
  await again.wal.close()
})

test.run()
