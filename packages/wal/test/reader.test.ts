import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { throwsWithCode } from '@strata/testkit'
import type { Entry } from '@strata/raft'
import type { SimFileSystem } from '@strata/testkit'
import { scanSegment } from '../src/decoder.js'
import type { SegmentScan } from '../src/decoder.js'
import { Replay, readSegment, walkSegments } from '../src/reader.js'
import { parseWalName } from '../src/wal-name.js'
import { Wal } from '../src/index.js'
import type { DecodedRecord } from '../src/index.js'
import { META, ents, plain, simOptions, snap } from './helpers.js'

const SEG = { name: '0000000000000000-0000000000000000.wal', seq: 0, firstIndex: 0 }
const entry = (index: number, term = 1): DecodedRecord => ({ type: 'entry', entry: ents(index, index, term)[0]! })

function replay(snap: { index: number; term: number }, recs: DecodedRecord[]): Replay {
  const r = new Replay(snap, true)
  recs.forEach((rec, i) => r.visit(rec, SEG, i * 8))
  return r
}

test('entries at or below the snapshot are skipped and the rest kept in order', () => {
  const r = replay({ index: 2, term: 1 }, [1, 2, 3, 4].map((i) => entry(i)))
  assert.equal(plain(r.entries!), plain(ents(3, 4)))
  assert.is(r.lastIndex, 4)
})

test('a rewritten index replaces the entry and drops everything after it (Raft §5.3)', () => {
  const r = replay({ index: 0, term: 0 }, [entry(1), entry(2), entry(3), entry(4), entry(2, 2), entry(3, 2)])
  assert.equal(plain(r.entries!), plain([...ents(1, 1), ...ents(2, 3, 2)]))
  assert.is(r.lastIndex, 3)
})

test('a rewrite at or below the snapshot drops the entries after the snapshot written before it', () => {
  const r = replay({ index: 2, term: 1 }, [entry(1), entry(2), entry(3), entry(4), entry(2, 2), entry(3, 2)])
  assert.equal(plain(r.entries!), plain(ents(3, 3, 2)))
})

test('an entry beyond the next index is ERR_WAL_GAP with its position', () => {
  const err = throwsWithCode(() => replay({ index: 0, term: 0 }, [entry(1), entry(3)]), 'ERR_WAL_GAP') as Error & { context: Record<string, unknown> }
  assert.equal(err.context, { segment: SEG.name, offset: 8, index: 3, lastIndex: 1 })
})

test('metadata records that differ are ERR_WAL_METADATA_CONFLICT', () => {
  const m = (s: string): DecodedRecord => ({ type: 'metadata', data: new TextEncoder().encode(s) })
  replay({ index: 0, term: 0 }, [m('a'), m('a')])
  throwsWithCode(() => replay({ index: 0, term: 0 }, [m('a'), m('b')]), 'ERR_WAL_METADATA_CONFLICT')
})

test('the snapshot record is matched by index and term; the last hard state wins', () => {
  const r = replay({ index: 5, term: 2 }, [
    { type: 'snapshot', snapshot: snap(4, 1) },
    { type: 'hardState', hardState: { term: 1, vote: 1, commit: 1 } },
    { type: 'snapshot', snapshot: snap(5, 2) },
    { type: 'hardState', hardState: { term: 2, vote: 1, commit: 5 } },
  ])
  assert.ok(r.snapshotMatched)
  assert.equal(r.hardState, { term: 2, vote: 1, commit: 5 })
  throwsWithCode(() => replay({ index: 5, term: 2 }, [{ type: 'snapshot', snapshot: snap(5, 3) }]), 'ERR_WAL_SNAPSHOT_MISMATCH')
})

test('a segment read in pieces (several, a frame across each boundary) walks to the same records and end as one scan of the whole file, whole or damaged', async () => {
  const opts = simOptions({ segmentSizeBytes: 16 << 20 })
  const w = await Wal.create('/w', META, opts)
  // ~13 MiB of entries of 100,003 bytes: frames straddle every 4 MiB piece boundary.
  for (let i = 0; i < 13; i++) await w.save({ term: 1, vote: 1, commit: 0 }, ents(10 * i + 1, 10 * i + 10, 1, 100_003))
  await w.close()
  const seg = parseWalName(w.segmentNames[0]!)!
  const records = async (): Promise<{ list: string[]; scan: unknown; error?: string }> => {
    const list: string[] = []
    try {
      const scan = await walkSegments(opts.fs, '/w', [seg], (rec, _seg, offset) => list.push(`${offset}:${rec.type}:${rec.type === 'entry' ? rec.entry.index : ''}`), async () => {})
      return { list, scan }
    } catch (err) {
      return { list, scan: undefined, error: String(err) }
    }
  }
  const whole = async (): Promise<{ list: string[]; scan: unknown; error?: string }> => {
    const list: string[] = []
    const buf = await readSegment(opts.fs, '/w', seg)
    try {
      const scan = scanSegment(buf, { name: seg.name, seq: seg.seq, firstIndex: seg.firstIndex, chain: undefined, last: true }, (rec, offset) => list.push(`${offset}:${rec.type}:${rec.type === 'entry' ? rec.entry.index : ''}`))
      return { list, scan }
    } catch (err) {
      return { list, scan: undefined, error: String(err) }
    }
  }
  const a = await records()
  assert.is(a.list.filter((r) => r.includes(':entry:')).length, 130)
  assert.equal(a, await whole())
  // One byte flipped in a frame past the second piece: the walk stops where the whole scan does.
  const h = await opts.fs.open(`/w/${seg.name}`, 'readWrite')
  const one = new Uint8Array(1)
  await h.read(one, 9_000_000)
  one[0] = one[0]! ^ 0xff
  await h.write(one, 9_000_000)
  await h.close()
  const b = await records()
  assert.ok(b.list.length < a.list.length)
  assert.equal(b, await whole())
})

/** Every record a walk or scan reports, as text (entry data in hex, read during the call), and how it ended. */
type Seen = { list: string[]; scan: unknown; error?: string }
const show = (rec: DecodedRecord, offset: number): string =>
  `${offset}:${rec.type}:${rec.type === 'entry' ? `${rec.entry.index}/${rec.entry.term}/${rec.entry.type}/${Buffer.from(rec.entry.data).toString('hex')}` : JSON.stringify(rec)}`
const segsOf = (names: readonly string[]) => names.map((n) => parseWalName(n)!)

async function walked(fs: SimFileSystem, segs: ReturnType<typeof segsOf>, pieceBytes: number): Promise<Seen> {
  const list: string[] = []
  try {
    const scan = await walkSegments(fs, '/w', segs, (rec, _seg, offset) => list.push(show(rec, offset)), async () => {}, pieceBytes)
    return { list, scan }
  } catch (err) {
    return { list, scan: undefined, error: String(err) }
  }
}

/** The same segments each read whole into memory and scanned at once, the chain carried between them. */
async function scannedWhole(fs: SimFileSystem, segs: ReturnType<typeof segsOf>): Promise<Seen> {
  const list: string[] = []
  let chain: number | undefined
  let scan: SegmentScan | undefined
  try {
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i]!
      const buf = await readSegment(fs, '/w', seg)
      scan = scanSegment(buf, { name: seg.name, seq: seg.seq, firstIndex: seg.firstIndex, chain, last: i === segs.length - 1 }, (rec, offset) => list.push(show(rec, offset)))
      chain = scan.chain
    }
    return { list, scan }
  } catch (err) {
    return { list, scan: undefined, error: String(err) }
  }
}

/** A log of two segments whose frames have many sizes (entries of 0 to 300 bytes) and sync generations. */
async function variedLog(): Promise<{ fs: SimFileSystem; names: string[] }> {
  const opts = simOptions({ segmentSizeBytes: 2560 })
  const w = await Wal.create('/w', META, opts)
  let next = 1
  for (const size of [0, 1, 7, 8, 9, 40, 300, 13, 255, 3, 120, 64, 200, 17, 90, 31]) {
    await w.save({ term: 1, vote: 1, commit: next - 1 }, ents(next, next + 1, 1, size))
    next += 2
  }
  await w.close()
  const names = w.segmentNames
  assert.is(names.length, 2)
  return { fs: opts.fs, names }
}

async function patch(fs: SimFileSystem, path: string, at: number, bytes: Uint8Array): Promise<void> {
  const h = await fs.open(path, 'readWrite')
  await h.write(bytes, at)
  await h.close()
}

test('a walk through pieces of every size from 24 bytes up (a boundary at every 8-byte position of every frame, frames larger than the piece) sees what a whole-file scan sees: records, entry data, end, dirty end, errors', async () => {
  const { fs, names } = await variedLog()
  const segs = segsOf(names)
  const tail = `/w/${names[1]!}`
  const clean = await fs.readFile(tail)
  const end = (await scannedWhole(fs, segs)).scan as SegmentScan
  assert.is(end.stop, 'zero')
  const lastFrame = Number(/^(\d+):/.exec((await scannedWhole(fs, segs)).list.at(-1)!)![1])
  const variants: Array<[string, () => Promise<void>]> = [
    ['clean', async () => {}],
    // A torn last write: the second half of the last frame never reached the disk.
    ['torn', async () => patch(fs, tail, lastFrame + 24, new Uint8Array(end.end - lastFrame - 24))],
    // The file ends inside the last frame, at an offset that is not a multiple of 8.
    ['cut short', async () => { const h = await fs.open(tail, 'readWrite'); await h.truncate(lastFrame + 29); await h.close() }],
    // One byte of an early frame flipped: frames of later syncs follow it (corruption).
    ['damaged', async () => patch(fs, tail, 200, new Uint8Array([clean[200]! ^ 0x5a]))],
    // Bytes of no frame after the end: the stop is the zero frame header, and the dirty end moves.
    ['stale bytes', async () => patch(fs, tail, end.end + 40, new Uint8Array([1, 2, 3, 0, 0, 4]))],
    // ... and in the last bytes of the file, too few for a frame header.
    ['stale end', async () => patch(fs, tail, clean.length - 3, new Uint8Array([9]))],
    ['stale end, cut short', async () => {
      const h = await fs.open(tail, 'readWrite')
      await h.truncate(end.end + 29)
      await h.write(new Uint8Array([7]), end.end + 28)
      await h.close()
    }],
  ]
  for (const [name, damage] of variants) {
    await fs.writeFile(tail, clean)
    await damage()
    const whole = await scannedWhole(fs, segs)
    const got = whole.scan as SegmentScan | undefined
    const expected: Record<string, () => void> = {
      'clean': () => assert.equal([got?.stop, got?.dirtyEnd], ['zero', end.end]),
      'torn': () => assert.equal([got?.stop, got?.end], ['torn', lastFrame]),
      'cut short': () => assert.equal([got?.stop, got?.end], ['torn', lastFrame]),
      'damaged': () => assert.match(whole.error ?? '', /later sync/),
      'stale bytes': () => assert.equal([got?.stop, got?.dirtyEnd], ['zero', end.end + 46]),
      'stale end': () => assert.equal([got?.stop, got?.dirtyEnd], ['zero', clean.length - 2]),
      'stale end, cut short': () => assert.equal([got?.stop, got?.dirtyEnd], ['zero', end.end + 29]),
    }
    expected[name]!()
    for (let piece = 24; piece <= 1024; piece += 8) assert.equal(await walked(fs, segs, piece), whole, `${name}, pieces of ${piece} bytes`)
    assert.equal(await walked(fs, segs, 1 << 20), whole, `${name}, the default piece`)
  }
})

test('a long zero tail is skipped, not missed: a frame of this segment or a stale byte far past the end is still found (whole and in pieces)', async () => {
  const opts = simOptions({ segmentSizeBytes: 1 << 20 })
  const w = await Wal.create('/w', META, opts)
  for (let i = 0; i < 4; i++) await w.save({ term: 1, vote: 1, commit: 4 * i }, ents(4 * i + 1, 4 * i + 4, 1, 70 + i))
  await w.close()
  const segs = segsOf(w.segmentNames)
  const tail = `/w/${w.segmentNames.at(-1)!}`
  const clean = await opts.fs.readFile(tail)
  const end = (await scannedWhole(opts.fs, segs)).scan as SegmentScan
  assert.is(end.stop, 'zero')
  assert.ok(clean.length - end.end > 900_000, 'most of the segment is its zero tail')
  const frames = (await scannedWhole(opts.fs, segs)).list.map((r) => Number(/^(\d+):/.exec(r)![1]))
  const last = frames.at(-1)!
  const lastFrame = clean.subarray(last, end.end)
  // The dirty end is past the last non-zero byte: a frame's zero padding does not count.
  let frameDirty = lastFrame.length
  while (lastFrame[frameDirty - 1] === 0) frameDirty--
  // Far past the end at every alignment to the 4 KiB comparisons: the last frame copied there
  // (a frame of this segment after the stop: a torn batch), or one stale byte (the dirty end).
  for (const far of [end.end + 4096, 600_000, 600_008, 614_400 - 8, 614_400 - 24, clean.length - 4096 - 24]) {
    const at = far - (far % 8)
    await opts.fs.writeFile(tail, clean)
    await patch(opts.fs, tail, at, lastFrame)
    const copied = await scannedWhole(opts.fs, segs)
    assert.equal([(copied.scan as SegmentScan).stop, (copied.scan as SegmentScan).dirtyEnd], ['torn', at + frameDirty], `a frame at ${at}`)
    for (const piece of [1024, 4096 + 8, 1 << 20]) assert.equal(await walked(opts.fs, segs, piece), copied, `a frame at ${at}, pieces of ${piece} bytes`)
    await opts.fs.writeFile(tail, clean)
    await patch(opts.fs, tail, far + 3, new Uint8Array([0x40]))
    const stale = await scannedWhole(opts.fs, segs)
    assert.equal([(stale.scan as SegmentScan).stop, (stale.scan as SegmentScan).dirtyEnd], ['zero', far + 4], `a stale byte at ${far + 3}`)
    for (const piece of [1024, 4096 + 8, 1 << 20]) assert.equal(await walked(opts.fs, segs, piece), stale, `a stale byte at ${far + 3}, pieces of ${piece} bytes`)
  }
})

test('a record larger than the piece buffer is read whole into a buffer of its own, and the walk goes on through the piece buffer', async () => {
  const opts = simOptions({ segmentSizeBytes: 1 << 20 })
  const w = await Wal.create('/w', META, opts)
  const written = [...ents(1, 3, 1, 100), ...ents(4, 4, 1, 50_000), ...ents(5, 9, 1, 700), ...ents(10, 10, 1, 20_001), ...ents(11, 12, 1, 5)]
  await w.save({ term: 1, vote: 1, commit: 12 }, written)
  await w.close()
  const segs = segsOf(w.segmentNames)
  const seen: Entry[] = []
  const r = await walkSegments(opts.fs, '/w', segs, (rec) => {
    if (rec.type === 'entry') seen.push({ ...rec.entry, data: rec.entry.data.slice() })
  }, async () => {}, 1024)
  assert.equal(plain(seen), plain(written))
  assert.equal({ list: [], scan: r }, { list: [], scan: (await scannedWhole(opts.fs, segs)).scan })
})

test('a file found shorter than its size at open reads as zeros past its end, whatever the piece buffer held before', async () => {
  const { fs, names } = await variedLog()
  const segs = segsOf(names)
  const whole = await scannedWhole(fs, segs)
  const tail = `/w/${names[1]!}`
  const real = (await fs.stat(tail))!.size
  // The file shrinks between open and read: its handle reports 4 KiB more than it holds.
  const lying: SimFileSystem = Object.create(fs, {
    open: { value: async (path: string, mode: 'read') => {
      const h = await fs.open(path, mode)
      return path === tail ? { ...h, path: h.path, read: (b: Uint8Array, p: number) => h.read(b, p), close: () => h.close(), size: async () => real + 4096 } : h
    } },
  })
  for (const piece of [64, 136, 1024]) {
    const got = await walked(lying, segs, piece)
    assert.equal(got.list, whole.list)
    assert.equal((got.scan as SegmentScan).stop, 'zero')
    assert.equal((got.scan as SegmentScan).end, (whole.scan as SegmentScan).end)
  }
})

test('a replay keeps a copy of each entry\'s data (the walk reuses its buffer), none at or below dataAfter', async () => {
  const { fs, names } = await variedLog()
  const all = new Replay({ index: 0, term: 0 }, true)
  await walkSegments(fs, '/w', segsOf(names), all.visit, async () => {}, 64)
  const expected = (await scannedWhole(fs, segsOf(names))).list.filter((l) => l.includes(':entry:')).map((l) => l.split(':entry:')[1])
  const text = (es: readonly Entry[]): string[] => es.map((e) => `${e.index}/${e.term}/${e.type}/${Buffer.from(e.data).toString('hex')}`)
  assert.equal(text(all.entries!), expected)
  for (const e of all.entries!) if (e.data.length > 0) assert.is(e.data.buffer.byteLength, e.data.length, 'each entry owns its data')
  const some = new Replay({ index: 0, term: 0 }, true, { dataAfter: 20 })
  await walkSegments(fs, '/w', segsOf(names), some.visit, async () => {}, 64)
  assert.equal(some.entries!.map((e) => [e.index, e.term, e.type]), all.entries!.map((e) => [e.index, e.term, e.type]))
  assert.ok(some.entries!.every((e, i) => (e.index <= 20 ? e.data.length === 0 : Buffer.compare(e.data, all.entries![i]!.data) === 0)))
})

test.run()
