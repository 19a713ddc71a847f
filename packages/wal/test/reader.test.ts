import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { throwsWithCode } from '@strata/testkit'
import { scanSegment } from '../src/decoder.js'
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

test.run()
