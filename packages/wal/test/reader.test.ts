import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { throwsWithCode } from '@strata/testkit'
import { Replay } from '../src/reader.js'
import type { DecodedRecord } from '../src/index.js'
import { ents, plain, snap } from './helpers.js'

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

test.run()
