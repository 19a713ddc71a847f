import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SimFileSystem, rejectsWithCode, tempDir, withSeed } from '@strata/testkit'
import { nodeFileSystem } from '@strata/seams'
import { FORMAT_VERSION, Wal, dump, MAX_RECORD_BYTES, validSnapshotEntries, verify } from '../src/index.js'
import { CRC_RECORD_BYTES, FRAME_HEADER_BYTES, RECORD_TYPE } from '../src/internal.js'
import { frameSeed, sealFrame } from '../src/record.js'
import type { Entry, EntryType } from '@strata/raft'
import type { DumpItem, WalError, WalOptions, WalSnapshot } from '../src/index.js'
import { modelRun } from './crash-model.js'
import { EMPTY_CONF, META, SyncProbe, ents, plain, reopen, simOptions, snap } from './helpers.js'

const ZERO = { index: 0, term: 0 }

async function records(dir: string, fs: SimFileSystem): Promise<DumpItem[]> {
  const out: DumpItem[] = []
  for await (const item of dump(dir, { fs })) out.push(item)
  return out
}

test('create writes segment 0-0 holding a crc, metadata and snapshot record, preallocated', async () => {
  const o = simOptions()
  const w = await Wal.create('/w', META, o)
  await w.close()
  assert.equal(await o.fs.readdir('/w'), ['0000000000000000-0000000000000000.wal', 'LOCK'])
  assert.is((await o.fs.stat('/w/0000000000000000-0000000000000000.wal'))!.size, 512)
  const recs = await records('/w', o.fs)
  assert.equal(recs.map((r) => r.record.type), ['crc', 'metadata', 'snapshot'])
  assert.equal(recs[0]!.record, { type: 'crc', prevChain: 0, version: FORMAT_VERSION, seq: 0, firstIndex: 0 })
  assert.equal(recs[2]!.record, { type: 'snapshot', snapshot: snap(0, 0, EMPTY_CONF) })
})

test('a segment of format version 1 (a zero version word) is refused with ERR_WAL_UNSUPPORTED_VERSION', async () => {
  const o = simOptions()
  await (await Wal.create('/w', META, o)).close()
  const path = '/w/0000000000000000-0000000000000000.wal'
  const buf = await o.fs.readFile(path)
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  // What version 1 wrote: the same crc record with 0 in its second word, correctly sealed.
  view.setUint32(FRAME_HEADER_BYTES + 4, 0, true)
  sealFrame(buf, view, 0, RECORD_TYPE.crc, CRC_RECORD_BYTES, frameSeed(view, 0), 0, 0)
  await o.fs.writeFile(path, buf)
  const err = await rejectsWithCode(Wal.open('/w', ZERO, o).then((w) => w.readAll()), 'ERR_WAL_UNSUPPORTED_VERSION') as WalError
  assert.equal(err.context, { segment: '0000000000000000-0000000000000000.wal', version: 1 })
  await rejectsWithCode(verify('/w', { fs: o.fs }), 'ERR_WAL_UNSUPPORTED_VERSION')
})

test('a sealed entry record of an unknown raft type, or a snapshot record whose conf state does not fill it, is ERR_WAL_CORRUPT', async () => {
  for (const kind of ['entry', 'snapshot'] as const) {
    const o = simOptions({ segmentSizeBytes: 4096 })
    const w = await Wal.create('/w', META, o)
    await w.save({ term: 1, vote: 1, commit: 0 }, ents(1, 1))
    await w.saveSnapshot(snap(1, 1))
    await w.close()
    const recs = await records('/w', o.fs)
    const at = recs.find((r) => r.record.type === kind)!.offset
    const prev = recs[recs.findIndex((r) => r.offset === at) - 1]!.offset
    const path = '/w/0000000000000000-0000000000000000.wal'
    const buf = await o.fs.readFile(path)
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
    const length = view.getUint32(at + 8, true)
    // An entry type of 3, or a voter count one too high: then sealed as a writer would have.
    if (kind === 'entry') buf[at + FRAME_HEADER_BYTES + 16] = 3
    else view.setUint32(at + FRAME_HEADER_BYTES + 16 + 4, 4, true)
    sealFrame(buf, view, at, kind === 'entry' ? RECORD_TYPE.entry : RECORD_TYPE.snapshot, length, frameSeed(view, at), view.getUint32(at + 20, true), view.getUint32(prev + 4, true))
    await o.fs.writeFile(path, buf)
    const err = await rejectsWithCode(reopen('/w', o), 'ERR_WAL_CORRUPT')
    assert.match(err.message, kind === 'entry' ? /unknown raft entry type 3/ : /conf state length/)
  }
})

test('entries keep their raft type and snapshot records their conf state across a reopen', async () => {
  const o = simOptions()
  const w = await Wal.create('/w', META, o)
  const es = [0, 1, 2].map((type, i) => ({ index: i + 1, term: 1, type: type as EntryType, data: new Uint8Array([i]) }))
  await w.save({ term: 1, vote: 1, commit: 3 }, es)
  const cs = { voters: [3, 1, 2 ** 53 - 1], learners: [], votersOutgoing: [7], learnersNext: [8, 9], autoLeave: false }
  await w.saveSnapshot(snap(3, 1, cs))
  await w.close()
  const r = await reopen('/w', o, snap(3, 1, EMPTY_CONF))
  assert.equal(r.entries, [])
  await r.wal.close()
  const all = await reopen('/w', o)
  assert.equal(all.entries.map((e) => e.type), [0, 1, 2])
  await all.wal.close()
  assert.equal(await validSnapshotEntries('/w', { fs: o.fs }), [snap(0, 0, EMPTY_CONF), snap(3, 1, cs)])
})

test('a log created in directories that did not exist survives a crash that keeps only what was synced', async () => {
  const o = simOptions()
  await (await Wal.create('/a/b/w', META, o)).close()
  o.fs.crash({ mode: 'pessimistic' })
  const r = await reopen('/a/b/w', o)
  assert.equal(r.entries, [])
  await r.wal.close()
})

test('create fails with ERR_WAL_EXISTS on a directory that already holds a WAL', async () => {
  const o = simOptions()
  await (await Wal.create('/w', META, o)).close()
  await rejectsWithCode(Wal.create('/w', META, o), 'ERR_WAL_EXISTS')
})

test('create removes a stale preallocated tmp file left by an interrupted create', async () => {
  const o = simOptions()
  await o.fs.mkdir('/w')
  await o.fs.writeFile('/w/0.tmp', new Uint8Array(100).fill(7))
  await (await Wal.create('/w', META, o)).close()
  assert.equal(await o.fs.readdir('/w'), ['0000000000000000-0000000000000000.wal', 'LOCK'])
  const r = await reopen('/w', o)
  assert.equal(r.entries, [])
  await r.wal.close()
})

test('open of a directory without a WAL fails with ERR_WAL_NOT_FOUND', async () => {
  const o = simOptions()
  await rejectsWithCode(Wal.open('/nothing', ZERO, o), 'ERR_WAL_NOT_FOUND')
  await o.fs.mkdir('/empty')
  await o.fs.writeFile('/empty/notes.txt', new Uint8Array(3))
  await rejectsWithCode(Wal.open('/empty', ZERO, o), 'ERR_WAL_NOT_FOUND')
})

test('saved entries and hard state are recovered with the metadata after reopening', async () => {
  const o = simOptions()
  const w = await Wal.create('/w', META, o)
  await w.save({ term: 1, vote: 2, commit: 5 }, ents(1, 10))
  await w.save({ term: 2, vote: 2, commit: 9 }, ents(11, 12, 2))
  await w.close()
  const wal = await Wal.open('/w', ZERO, o)
  const r = await wal.readAll()
  assert.equal(Buffer.from(r.metadata).toString(), 'metadata')
  assert.equal(r.hardState, { term: 2, vote: 2, commit: 9 })
  assert.equal(plain(r.entries), plain([...ents(1, 10), ...ents(11, 12, 2)]))
  await wal.close()
})

test('readAll({ dataAfter }) returns the entries at or below it with index, term and type but no data, the later ones with a copy of theirs; a bad value is refused before reading', async () => {
  const o = simOptions()
  const w = await Wal.create('/w', META, o)
  await w.save({ term: 1, vote: 1, commit: 10 }, ents(1, 10))
  await w.saveSnapshot(snap(5, 1))
  await w.save({ term: 2, vote: 1, commit: 30 }, ents(11, 30, 2, 40))
  await w.close()
  assert.ok(w.segmentNames.length > 2, 'the entries span several segments')
  const expected = [...ents(6, 10), ...ents(11, 30, 2, 40)]
  const wal = await Wal.open('/w', snap(5, 1), o)
  await rejectsWithCode(wal.readAll({ dataAfter: -1 }), 'ERR_WAL_INVALID_ARGUMENT')
  await rejectsWithCode(wal.readAll({ dataAfter: 2 ** 53 }), 'ERR_WAL_INVALID_ARGUMENT')
  await rejectsWithCode(wal.readAll(null as unknown as {}), 'ERR_WAL_INVALID_OPTION')
  const r = await wal.readAll({ dataAfter: 12 })
  assert.equal(r.entries.map((e) => [e.index, e.term, e.type]), expected.map((e) => [e.index, e.term, e.type]))
  assert.equal(plain(r.entries.filter((e) => e.index > 12)), plain(expected.filter((e) => e.index > 12)))
  assert.ok(r.entries.every((e) => e.index > 12 || e.data.length === 0))
  assert.equal(r.hardState, { term: 2, vote: 1, commit: 30 })
  await wal.close()
  // By default every entry comes with its data, each in a buffer of its own (none pins the read buffer).
  const again = await reopen('/w', o, snap(5, 1))
  await again.wal.close()
  assert.equal(plain(again.entries), plain(expected))
  assert.ok(again.entries.every((e) => e.data.buffer.byteLength === e.data.length))
})

test('a cut names the new segment seq+1 and last index+1 and opens it with crc, metadata and hard state', async () => {
  const o = simOptions()
  const w = await Wal.create('/w', META, o)
  await w.save({ term: 1, vote: 1, commit: 1 }, ents(1, 30, 1, 16))
  await w.close()
  assert.equal((await o.fs.readdir('/w')).filter((n) => n.endsWith('.wal')), ['0000000000000000-0000000000000000.wal', '0000000000000001-000000000000001f.wal'])
  const recs = (await records('/w', o.fs)).filter((r) => r.segment.startsWith('0000000000000001'))
  assert.equal(recs.map((r) => r.record.type), ['crc', 'metadata', 'hardState'])
  const crc = recs[0]!.record
  assert.ok(crc.type === 'crc' && crc.seq === 1 && crc.firstIndex === 31)
})

test('saves that cross many cuts are all recovered, reading from any snapshot onward', async () => {
  const o = simOptions()
  const w = await Wal.create('/w', META, o)
  for (let i = 1; i <= 200; i += 10) await w.save({ term: 1, vote: 1, commit: i }, ents(i, i + 9))
  await w.saveSnapshot(snap(100, 1))
  await w.save({ term: 1, vote: 1, commit: 200 }, ents(201, 210))
  assert.ok(w.segmentNames.length > 10)
  await w.close()
  const all = await reopen('/w', o)
  assert.equal(plain(all.entries), plain(ents(1, 210)))
  await all.wal.close()
  const fromSnap = await reopen('/w', o, { index: 100, term: 1 })
  assert.equal(plain(fromSnap.entries), plain(ents(101, 210)))
  await fromSnap.wal.close()
})

test('a missing middle segment fails opens that need it and not those that start after it', async () => {
  const o = simOptions()
  const w = await Wal.create('/w', META, o)
  for (let i = 1; i <= 100; i += 10) {
    await w.save({ term: 1, vote: 1, commit: i }, ents(i, i + 9))
    await w.saveSnapshot(snap(i + 9, 1))
  }
  const names = w.segmentNames
  await w.close()
  await o.fs.unlink(`/w/${names[2]!}`)
  await rejectsWithCode(Wal.open('/w', ZERO, o), 'ERR_WAL_NOT_FOUND')
  const last = await reopen('/w', o, { index: 100, term: 1 })
  assert.equal(last.entries, [])
  await last.wal.close()
})

test('opening at a snapshot the log has no record of fails with ERR_WAL_SNAPSHOT_NOT_FOUND, a wrong term with ERR_WAL_SNAPSHOT_MISMATCH', async () => {
  const o = simOptions()
  const w = await Wal.create('/w', META, o)
  await w.save({ term: 1, vote: 1, commit: 5 }, ents(1, 5))
  await w.saveSnapshot(snap(3, 1))
  await w.close()
  const a = await Wal.open('/w', { index: 4, term: 1 }, o)
  await rejectsWithCode(a.readAll(), 'ERR_WAL_SNAPSHOT_NOT_FOUND')
  await a.close()
  const b = await Wal.open('/w', { index: 3, term: 2 }, o)
  await rejectsWithCode(b.readAll(), 'ERR_WAL_SNAPSHOT_MISMATCH')
  await b.close()
  const c = await reopen('/w', o, { index: 3, term: 1 })
  assert.equal(plain(c.entries), plain(ents(4, 5)))
  await c.wal.close()
})

test('a later entry with the same index replaces the earlier one and drops what followed', async () => {
  const o = simOptions()
  const w = await Wal.create('/w', META, o)
  await w.save({ term: 1, vote: 1, commit: 2 }, ents(1, 10))
  await w.save({ term: 2, vote: 1, commit: 2 }, ents(6, 7, 2))
  assert.is(w.lastIndex, 7)
  await w.close()
  const r = await reopen('/w', o)
  assert.equal(plain(r.entries), plain([...ents(1, 5), ...ents(6, 7, 2)]))
  await r.wal.close()
})

test('bad input is refused with a typed error and writes nothing', async () => {
  const o = simOptions()
  const w = await Wal.create('/w', META, o)
  const hs = { term: 1, vote: 0, commit: 0 }
  const bad = (e: object) => [e as Entry]
  await w.save(hs, ents(1, 3))
  await rejectsWithCode(w.save(hs, ents(5, 6)), 'ERR_WAL_GAP')
  await rejectsWithCode(w.save(hs, [ents(4, 4)[0]!, ents(6, 6)[0]!]), 'ERR_WAL_INVALID_ARGUMENT')
  await rejectsWithCode(w.save(hs, [...ents(4, 5), { index: 6, term: 1, type: 0, data: new Uint8Array(MAX_RECORD_BYTES) }]), 'ERR_WAL_RECORD_TOO_LARGE')
  await rejectsWithCode(w.save({ term: 2 ** 53, vote: 0, commit: 0 }), 'ERR_WAL_INVALID_ARGUMENT')
  await rejectsWithCode(w.save(hs, [{ index: 4, term: -1, type: 0, data: new Uint8Array(0) }]), 'ERR_WAL_INVALID_ARGUMENT')
  for (const type of [3, -1, 0.5, '0', undefined]) {
    await rejectsWithCode(w.save(hs, bad({ index: 4, term: 1, type, data: new Uint8Array(0) })), 'ERR_WAL_INVALID_ARGUMENT')
  }
  await rejectsWithCode(w.save(hs, bad({ index: 4, term: 1, type: 0, data: 'x' })), 'ERR_WAL_INVALID_ARGUMENT')
  await rejectsWithCode(w.save(hs, [undefined as unknown as Entry]), 'ERR_WAL_INVALID_ARGUMENT')
  await rejectsWithCode(w.save(hs, 'entries' as unknown as Entry[]), 'ERR_WAL_INVALID_ARGUMENT')
  await rejectsWithCode(w.save(undefined as unknown as typeof hs), 'ERR_WAL_INVALID_ARGUMENT')
  await rejectsWithCode(w.saveSnapshot(snap(1.5, 1)), 'ERR_WAL_INVALID_ARGUMENT')
  await rejectsWithCode(w.saveSnapshot({ index: 1, term: 1 } as WalSnapshot), 'ERR_WAL_INVALID_ARGUMENT')
  await rejectsWithCode(w.saveSnapshot(snap(1, 1, { ...EMPTY_CONF, voters: [0] })), 'ERR_WAL_INVALID_ARGUMENT')
  await rejectsWithCode(w.saveSnapshot(snap(1, 1, { ...EMPTY_CONF, autoLeave: 1 as unknown as boolean })), 'ERR_WAL_INVALID_ARGUMENT')
  assert.throws(() => w.releaseTo(-1), (err: WalError) => err.code === 'ERR_WAL_INVALID_ARGUMENT')
  await w.close()
  await rejectsWithCode(w.save(hs, ents(4, 4)), 'ERR_WAL_CLOSED')
  const r = await reopen('/w', o)
  assert.equal(plain(r.entries), plain(ents(1, 3)))
  await r.wal.close()
})

test('options out of range or of the wrong type are refused with ERR_WAL_INVALID_OPTION', async () => {
  const bads: object[] = [
    { segmentSizeBytes: 100 }, { segmentSizeBytes: 2 ** 31 }, { segmentSizeBytes: 8 }, { segmentSizeBytes: '4096' },
    { maxBatchBytes: 0 }, { maxQueuedBytes: -1 }, { maxQueuedBytes: 1.5 }, { recycle: 'yes' }, { rng: 7 },
    { failpoint: 'walBeforeCut' }, { fs: {} },
  ]
  for (const bad of bads) {
    await rejectsWithCode(Wal.create('/w', META, { ...simOptions(), ...bad }), 'ERR_WAL_INVALID_OPTION')
    await rejectsWithCode(Wal.open('/w', ZERO, { ...simOptions(), ...bad }), 'ERR_WAL_INVALID_OPTION')
  }
  await rejectsWithCode(Wal.create('/w', META, 5 as unknown as WalOptions), 'ERR_WAL_INVALID_OPTION')
  await rejectsWithCode(Wal.create('', META, simOptions()), 'ERR_WAL_INVALID_ARGUMENT')
  await rejectsWithCode(Wal.create('/w', 'meta' as unknown as Uint8Array, simOptions()), 'ERR_WAL_INVALID_ARGUMENT')
  await rejectsWithCode(Wal.open('/w', { index: -1, term: 0 }, simOptions()), 'ERR_WAL_INVALID_ARGUMENT')
})

test('metadata over the maximum record size is refused by create', async () => {
  await rejectsWithCode(Wal.create('/w', new Uint8Array(MAX_RECORD_BYTES + 1), simOptions()), 'ERR_WAL_RECORD_TOO_LARGE')
})

test('an empty save writes nothing and does not sync', async () => {
  const o = simOptions()
  const probe = new SyncProbe(o.fs)
  const w = await Wal.create('/w', META, { ...o, fs: probe.fs })
  const before = await o.fs.readFile(`/w/${w.segmentNames[0]!}`)
  await w.save({ term: 0, vote: 0, commit: 0 }, [])
  assert.is(probe.datasyncs, 0)
  assert.equal(await o.fs.readFile(`/w/${w.segmentNames[0]!}`), before)
  await w.close()
})

test('only entries, term or vote changes force an fsync; a commit-only change does not', async () => {
  const o = simOptions({ segmentSizeBytes: 1 << 20 })
  const probe = new SyncProbe(o.fs)
  const w = await Wal.create('/w', META, { ...o, fs: probe.fs })
  await w.save({ term: 1, vote: 1, commit: 0 }, [])
  assert.is(probe.datasyncs, 1)
  await w.save({ term: 1, vote: 1, commit: 0 }, ents(1, 1))
  assert.is(probe.datasyncs, 2)
  await w.save({ term: 1, vote: 1, commit: 1 }, [])
  assert.is(probe.datasyncs, 2)
  await w.save({ term: 1, vote: 2, commit: 1 }, [])
  assert.is(probe.datasyncs, 3)
  await w.close()
  const r = await reopen('/w', o)
  assert.equal(r.hardState, { term: 1, vote: 2, commit: 1 })
  await r.wal.close()
})

test('a commit-only save with { sync: true } is fsynced: the snapshot record its commit makes valid survives a crash that keeps only what was synced', async () => {
  // etcd's order for a snapshot from the leader: the snap file, the WAL's snapshot record, the
  // hard state committing it, then an fsync before the snapshot's state is installed; without
  // the fsync a power loss drops the commit and with it the record's validity.
  const cs = { ...EMPTY_CONF, voters: [1, 2, 3] }
  for (const sync of [false, true]) {
    const o = simOptions({ segmentSizeBytes: 1 << 20 })
    const probe = new SyncProbe(o.fs)
    const w = await Wal.create('/w', META, { ...o, fs: probe.fs })
    await w.save({ term: 1, vote: 1, commit: 0 }, [])
    await w.saveSnapshot(snap(40, 1, cs))
    const syncs = probe.datasyncs
    await w.save({ term: 1, vote: 1, commit: 40 }, [], { sync })
    assert.is(probe.datasyncs, syncs + (sync ? 1 : 0))
    o.fs.crash({ mode: 'pessimistic' })
    const valid = await validSnapshotEntries('/w', { fs: o.fs })
    assert.equal(valid.map((v) => v.index), sync ? [0, 40] : [0], `sync ${sync}`)
  }
  const w = await Wal.create('/v', META, simOptions())
  await rejectsWithCode(w.save({ term: 1, vote: 1, commit: 0 }, [], { sync: 'yes' } as unknown as { sync: boolean }), 'ERR_WAL_INVALID_ARGUMENT')
  await w.close()
})

test('concurrent saves share one fdatasync and none resolves before it completes', async () => {
  const o = simOptions({ segmentSizeBytes: 1 << 20 })
  const probe = new SyncProbe(o.fs)
  const w = await Wal.create('/w', META, { ...o, fs: probe.fs })
  let open!: () => void
  probe.gate = new Promise((r) => (open = r))
  let resolved = 0
  const first = Array.from({ length: 50 }, (_, i) => w.save({ term: 1, vote: 1, commit: i }, ents(i + 1, i + 1)).then(() => resolved++))
  for (let i = 0; i < 20; i++) await Promise.resolve()
  assert.is(probe.datasyncs, 1)
  assert.is(resolved, 0)
  // Calls made while the first fsync runs form the next batch.
  const second = Array.from({ length: 30 }, (_, i) => w.save({ term: 1, vote: 1, commit: 50 }, ents(51 + i, 51 + i)).then(() => resolved++))
  for (let i = 0; i < 20; i++) await Promise.resolve()
  assert.is(resolved, 0)
  open()
  probe.gate = undefined
  await Promise.all([...first, ...second])
  assert.is(resolved, 80)
  assert.is(probe.datasyncs, 2)
  await w.close()
  const r = await reopen('/w', o)
  assert.equal(plain(r.entries), plain(ents(1, 80)))
  await r.wal.close()
})

test('written() resolves once the saves before it are written and their fdatasync started, before the sync completes', async () => {
  const o = simOptions({ segmentSizeBytes: 1 << 20 })
  const probe = new SyncProbe(o.fs)
  const w = await Wal.create('/w', META, { ...o, fs: probe.fs })
  await w.written() // nothing queued: at once
  let open!: () => void
  probe.gate = new Promise((r) => (open = r))
  let durable = false
  const saved = w.save({ term: 1, vote: 1, commit: 0 }, ents(1, 3)).then(() => (durable = true))
  let started = false
  const first = w.written().then(() => (started = true))
  assert.is(probe.datasyncs, 0, 'the write and the sync start in microtasks, not in save()')
  await first
  assert.ok(started)
  assert.is(probe.datasyncs, 1, 'the fdatasync is under way when written() resolves')
  assert.not.ok(durable, 'the save itself still waits for the sync')
  // A save made while that sync runs joins the next batch: written() waits for the first sync to
  // end and the second to start.
  const next = w.save({ term: 1, vote: 1, commit: 3 }, ents(4, 4))
  let second = false
  const secondWritten = w.written().then(() => (second = true))
  for (let i = 0; i < 20; i++) await Promise.resolve()
  assert.not.ok(second)
  open()
  probe.gate = undefined
  await Promise.all([saved, next, secondWritten])
  assert.is(probe.datasyncs, 2)
  await w.close()
  await w.written() // closed: at once
})

test('written() resolves, never rejects, when the write fails; the saves report the failure', async () => {
  const o = simOptions({ segmentSizeBytes: 1 << 20 })
  const probe = new SyncProbe(o.fs)
  const w = await Wal.create('/w', META, { ...o, fs: probe.fs })
  probe.failNext = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })
  const a = w.save({ term: 1, vote: 1, commit: 0 }, ents(1, 1))
  const b = w.save({ term: 1, vote: 1, commit: 0 }, ents(2, 2))
  await w.written()
  await rejectsWithCode(a, 'ERR_WAL_FAILED')
  await rejectsWithCode(b, 'ERR_WAL_FAILED')
  await w.written()
  await w.close()
})

test('after an fsync error every pending and later write fails with ERR_WAL_FAILED', async () => {
  const o = simOptions({ segmentSizeBytes: 1 << 20 })
  const probe = new SyncProbe(o.fs)
  const w = await Wal.create('/w', META, { ...o, fs: probe.fs })
  await w.save({ term: 1, vote: 1, commit: 0 }, ents(1, 2))
  probe.failNext = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })
  const err = await rejectsWithCode(w.save({ term: 1, vote: 1, commit: 0 }, ents(3, 3)), 'ERR_WAL_FAILED')
  assert.is((err.cause as { code?: string }).code, 'EIO')
  await rejectsWithCode(w.save({ term: 1, vote: 1, commit: 0 }, ents(4, 4)), 'ERR_WAL_FAILED')
  await rejectsWithCode(w.saveSnapshot(snap(1, 1)), 'ERR_WAL_FAILED')
  await w.close()
})

test('an fsync failure injected by the simulated disk fails the log and loses nothing acknowledged', async () => {
  const o = simOptions({ segmentSizeBytes: 1 << 20 })
  const w = await Wal.create('/w', META, o)
  await w.save({ term: 1, vote: 1, commit: 0 }, ents(1, 5))
  o.fs.failSync({ path: '.wal' })
  await rejectsWithCode(w.save({ term: 1, vote: 1, commit: 0 }, ents(6, 6)), 'ERR_WAL_FAILED')
  await rejectsWithCode(w.save({ term: 1, vote: 1, commit: 0 }, ents(6, 6)), 'ERR_WAL_FAILED')
  await w.close()
  o.fs.crash()
  const r = await reopen('/w', o)
  assert.equal(plain(r.entries.slice(0, 5)), plain(ents(1, 5)))
  await r.wal.close()
})

/**
 * Saves entries 1..3, calls `arm`, saves 4..40 (acknowledged: durable before the cut that follows
 * fails), checks that the log now refuses writes, crashes the disk and reopens: 1..40 are back.
 * Returns the segment count after reopening.
 */
async function failedCutKeepsAcknowledged(o: ReturnType<typeof simOptions>, w: Wal, arm: () => void): Promise<number> {
  await w.save({ term: 1, vote: 1, commit: 1 }, ents(1, 3))
  arm()
  await w.save({ term: 1, vote: 1, commit: 1 }, ents(4, 40))
  await rejectsWithCode(w.save({ term: 1, vote: 1, commit: 1 }, ents(41, 41)), 'ERR_WAL_FAILED')
  await w.close()
  o.fs.crash()
  const r = await reopen('/w', o)
  assert.equal(plain(r.entries), plain(ents(1, 40)))
  await r.wal.close()
  return r.wal.segmentNames.length
}

test('a failed directory fsync during a cut fails the log; after a crash every acknowledged entry is back', async () => {
  const o = simOptions()
  await failedCutKeepsAcknowledged(o, await Wal.create('/w', META, o), () => o.fs.failSync({ path: /^\/w$/, dirs: true }))
})

test('a write that runs out of space fails the save and the log, and acknowledges nothing it did not store', async () => {
  const o = simOptions({ segmentSizeBytes: 1 << 16 })
  const w = await Wal.create('/w', META, o)
  await w.save({ term: 1, vote: 1, commit: 1 }, ents(1, 3))
  o.fs.setCapacity(o.fs.usedBytes)
  await rejectsWithCode(w.save({ term: 1, vote: 1, commit: 1 }, ents(4, 4, 1, 1 << 17)), 'ERR_WAL_FAILED')
  await rejectsWithCode(w.save({ term: 1, vote: 1, commit: 1 }, ents(4, 4)), 'ERR_WAL_FAILED')
  await w.close()
  o.fs.setCapacity(undefined)
  o.fs.crash()
  const r = await reopen('/w', o)
  assert.equal(plain(r.entries), plain(ents(1, 3)))
  await r.wal.close()
})

test('writes before readAll, after close, and readAll twice are refused', async () => {
  const o = simOptions()
  await (await Wal.create('/w', META, o)).close()
  const w = await Wal.open('/w', ZERO, o)
  await rejectsWithCode(w.save({ term: 1, vote: 0, commit: 0 }, ents(1, 1)), 'ERR_WAL_CALL_ORDER')
  await w.readAll()
  await rejectsWithCode(w.readAll(), 'ERR_WAL_CALL_ORDER')
  await w.close()
  await w.close()
  await rejectsWithCode(w.readAll(), 'ERR_WAL_CLOSED')
  await rejectsWithCode(w.saveSnapshot(snap(1, 1)), 'ERR_WAL_CLOSED')
})

test('a second writer fails at once with ERR_WAL_LOCKED while a reader opens alongside (flock on disk)', async () => {
  const t = await tempDir('wal-lock-')
  try {
    const dir = `${t.path}/wal`
    const w = await Wal.create(dir, META, { segmentSizeBytes: 4096 })
    await w.save({ term: 1, vote: 1, commit: 1 }, ents(1, 3))
    await rejectsWithCode(Wal.open(dir, ZERO, { fs: nodeFileSystem }), 'ERR_WAL_LOCKED')
    const reader = await Wal.openForRead(dir, ZERO)
    const r = await reader.readAll()
    assert.equal(plain(r.entries), plain(ents(1, 3)))
    await rejectsWithCode(reader.save({ term: 1, vote: 1, commit: 1 }, ents(4, 4)), 'ERR_WAL_CALL_ORDER')
    await reader.close()
    await w.close()
    const again = await Wal.open(dir, ZERO)
    assert.equal(plain((await again.readAll()).entries), plain(ents(1, 3)))
    await again.close()
  } finally {
    await t.cleanup()
  }
})

test('releaseTo keeps the last segment starting below the index and everything after it', async () => {
  const o = simOptions({ recycle: false })
  const w = await Wal.create('/w', META, o)
  for (let i = 1; i <= 100; i += 10) await w.save({ term: 1, vote: 1, commit: i }, ents(i, i + 9, 1, 24))
  const firsts = w.segmentNames.map((n) => Number.parseInt(n.slice(17, 33), 16))
  const pick = firsts.findIndex((f) => f >= 50)
  w.releaseTo(50)
  assert.equal(w.segmentNames.map((n) => Number.parseInt(n.slice(17, 33), 16)), firsts.slice(pick - 1))
  w.releaseTo(10_000)
  assert.is(w.segmentNames.length, 1)
  assert.is(w.releasedNames.length, firsts.length - 1)
  await w.close()
})

test('appending works when the tail has no preallocated slack', async () => {
  const o = simOptions({ segmentSizeBytes: 4096 })
  const w = await Wal.create('/w', META, o)
  await w.save({ term: 1, vote: 1, commit: 1 }, ents(1, 5))
  const name = w.segmentNames[0]!
  await w.close()
  const end = (await records('/w', o.fs)).at(-1)!
  const h = await o.fs.open(`/w/${name}`, 'readWrite')
  await h.truncate(end.offset + 56)
  await h.sync()
  await h.close()
  const r = await reopen('/w', o)
  assert.equal(plain(r.entries), plain(ents(1, 5)))
  await r.wal.save({ term: 1, vote: 1, commit: 6 }, ents(6, 10))
  await r.wal.close()
  const again = await reopen('/w', o)
  assert.equal(plain(again.entries), plain(ents(1, 10)))
  await again.wal.close()
})

test('opening for writing zeroes whatever follows the last valid record, and only that', async () => {
  const o = simOptions({ segmentSizeBytes: 4096 })
  const w = await Wal.create('/w', META, o)
  await w.save({ term: 1, vote: 1, commit: 1 }, ents(1, 5))
  const name = `/w/${w.segmentNames[0]!}`
  await w.close()
  const end = (await records('/w', o.fs)).at(-1)!.offset + 48
  // Foreign bytes after the end, as a recycled file's previous life leaves them.
  const h = await o.fs.open(name, 'readWrite')
  await h.write(new Uint8Array(300).fill(0xab), end + 64)
  await h.sync()
  await h.close()
  const r = await reopen('/w', o)
  assert.equal(plain(r.entries), plain(ents(1, 5)))
  await r.wal.close()
  const bytes = await o.fs.readFile(name)
  assert.is(bytes.length, 4096)
  assert.ok(bytes.subarray(end).every((b) => b === 0))
})

test('saves beyond maxQueuedBytes fail at once with ERR_WAL_QUEUE_FULL and change nothing', async () => {
  const o = simOptions({ segmentSizeBytes: 1 << 20, maxQueuedBytes: 1000 })
  const probe = new SyncProbe(o.fs)
  const w = await Wal.create('/w', META, { ...o, fs: probe.fs })
  let open!: () => void
  probe.gate = new Promise((r) => (open = r))
  const first = w.save({ term: 1, vote: 1, commit: 0 }, ents(1, 1, 1, 100))
  for (let i = 0; i < 5; i++) await Promise.resolve()
  const queued = [w.save({ term: 1, vote: 1, commit: 0 }, ents(2, 6, 1, 100))]
  await rejectsWithCode(w.save({ term: 1, vote: 1, commit: 0 }, ents(7, 12, 1, 100)), 'ERR_WAL_QUEUE_FULL')
  assert.is(w.lastIndex, 6)
  open()
  probe.gate = undefined
  await Promise.all([first, ...queued])
  await w.save({ term: 1, vote: 1, commit: 0 }, ents(7, 12, 1, 100))
  await w.close()
  const r = await reopen('/w', o)
  assert.equal(plain(r.entries), plain(ents(1, 12, 1, 100)))
  await r.wal.close()
})

// At walBeforeCut no new segment exists yet; at walAfterRename it does, its head durable but the
// directory not synced.
for (const point of ['walBeforeCut', 'walAfterRename'] as const) {
  test(`a failure at ${point} fails the log; reopening keeps every acknowledged entry`, async () => {
    const o = simOptions()
    let armed = false
    const w = await Wal.create('/w', META, { ...o, failpoint: (name) => { if (armed && name === point) throw new Error(`crash at ${point}`) } })
    const segments = await failedCutKeepsAcknowledged(o, w, () => { armed = true })
    if (point === 'walBeforeCut') assert.is(segments, 1)
  })
}


test('random saves, rewrites, snapshots and reopens always read back what the model holds (seeded)', () => withSeed('wal model', modelRun))

// This seed once left a recycled segment's last life showing in the 8 bytes between the new
// life's last record and the end of the file: too short for a frame header, it read as a torn
// write. The pipeline now zeroes the last header's worth of a recycled file.
test('the model run of seed 476467321 (a stale fragment shorter than a header at the end of a recycled segment)', () =>
  withSeed('wal model, fixed', modelRun, { seed: 476467321 }))

test.run()
