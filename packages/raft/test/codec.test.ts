import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { throwsWithCode, withSeed } from '@strata/testkit'
import type { Entry, Message, Snapshot } from '../src/index.js'
import {
  decodeConfChange, decodeConfChangeV2, decodeConfState, decodeEntry, decodeHardState, decodeMessage, decodeSnapshot,
  decodeSnapshotMetadata, encodeConfChange, encodeConfChangeV2, encodeConfState, encodeEntry, encodeHardState,
  encodeMessage, encodeSnapshot, encodeSnapshotMetadata, EntryType, MessageType, RaftCodecError,
} from '../src/index.js'
import { message } from '../src/internal.js'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const big = Number.MAX_SAFE_INTEGER

const snap: Snapshot = {
  data: bytes('state'),
  metadata: { index: big, term: 7, confState: { voters: [1, 2, 3], learners: [4], votersOutgoing: [1, 2, 5], learnersNext: [5], autoLeave: true } },
}

test('entries round-trip with every type and a u64 index at 2^53 - 1', () => {
  for (const type of [EntryType.Normal, EntryType.ConfChange, EntryType.ConfChangeV2]) {
    const e: Entry = { type, term: 3, index: big, data: bytes('hello') }
    assert.equal(decodeEntry(encodeEntry(e)), e)
  }
})

test('hard state, conf state, snapshot metadata and snapshots round-trip', () => {
  const hs = { term: 9, vote: 2, commit: big }
  assert.equal(decodeHardState(encodeHardState(hs)), hs)
  assert.equal(decodeConfState(encodeConfState(snap.metadata.confState)), snap.metadata.confState)
  assert.equal(decodeSnapshotMetadata(encodeSnapshotMetadata(snap.metadata)), snap.metadata)
  assert.equal(decodeSnapshot(encodeSnapshot(snap)), snap)
})

test('messages round-trip with entries, snapshot, reject hint and context', () => {
  const m: Message = message({
    type: MessageType.MsgApp, to: 2, from: 1, term: 5, logTerm: 4, index: 10, commit: 9, reject: true, rejectHint: 3,
    entries: [{ type: EntryType.Normal, term: 5, index: 11, data: bytes('a') }], snapshot: snap, context: bytes('ctx'),
  })
  assert.equal(decodeMessage(encodeMessage(m)), m)
  const plain = message({ type: MessageType.MsgHeartbeat, to: 3, from: 1, term: 2 })
  assert.equal(decodeMessage(encodeMessage(plain)), plain)
})

test('a message encoded after a frame byte is that byte then the plain encoding; pooled encodings stay intact as the slab fills and turns over', () => {
  const m: Message = message({ type: MessageType.MsgApp, to: 2, from: 1, term: 5, index: 10, commit: 9, entries: [{ type: EntryType.Normal, term: 5, index: 11, data: bytes('v') }] })
  const plain = encodeMessage(m)
  const framed = encodeMessage(m, 7)
  assert.is(framed.length, plain.length + 1)
  assert.is(framed[0], 7)
  assert.equal([...framed.subarray(1)], [...plain])
  assert.equal(decodeMessage(framed.subarray(1)), m)
  throwsWithCode(() => encodeMessage(m, 256), 'ERR_RAFT_INVALID_ARGUMENT')
  // Messages of every size from the fixed part to past the pooling limit, kept while the 64 KiB
  // slabs fill and new ones start: none overwrites another, and none has bytes of another.
  const kept: [Message, Uint8Array][] = []
  for (let i = 0; i < 1200; i++) {
    const size = (i * 37) % 5000
    const mi = message({ type: MessageType.MsgApp, to: 1 + (i % 3), from: 9, term: i, index: i, entries: size === 0 ? [] : [{ type: EntryType.Normal, term: i, index: i + 1, data: new Uint8Array(size).fill(i & 0xff) }] })
    kept.push([mi, encodeMessage(mi, i & 0xff)])
  }
  for (const [i, [mi, buf]] of kept.entries()) {
    assert.is(buf[0], i & 0xff)
    assert.equal(decodeMessage(buf.subarray(1)), mi)
  }
})

test('conf changes V1 and V2 round-trip', () => {
  const v1 = { type: 3 as const, nodeId: 4, context: bytes('x') }
  assert.equal(decodeConfChange(encodeConfChange(v1)), v1)
  const v2 = { transition: 2 as const, changes: [{ type: 0 as const, nodeId: 5 }, { type: 1 as const, nodeId: 1 }], context: bytes('') }
  assert.equal(decodeConfChangeV2(encodeConfChangeV2(v2)), v2)
})

test('decoding refuses a u64 above 2^53 - 1 with ERR_RAFT_MALFORMED', () => {
  const buf = encodeHardState({ term: 1, vote: 0, commit: 0 })
  buf[7] = 0x00; buf[6] = 0x20 // high half 0x00200000 => 2^53
  throwsWithCode(() => decodeHardState(buf), 'ERR_RAFT_MALFORMED')
})

test('decoding refuses trailing bytes, bad tags, bad booleans and bad flags', () => {
  const e = encodeEntry({ type: 0, term: 1, index: 1, data: bytes('a') })
  const longer = new Uint8Array(e.length + 1); longer.set(e)
  throwsWithCode(() => decodeEntry(longer), 'ERR_RAFT_MALFORMED')
  const badType = e.slice(); badType[0] = 9
  throwsWithCode(() => decodeEntry(badType), 'ERR_RAFT_MALFORMED')
  const cs = encodeConfState(snap.metadata.confState); cs[0] = 2
  throwsWithCode(() => decodeConfState(cs), 'ERR_RAFT_MALFORMED')
  const m = encodeMessage(message({ type: MessageType.MsgVote, to: 1, from: 2, term: 3 })); m[1] = 0x80
  throwsWithCode(() => decodeMessage(m), 'ERR_RAFT_MALFORMED')
  const t = encodeMessage(message({ type: MessageType.MsgVote, to: 1, from: 2, term: 3 })); t[0] = 99
  throwsWithCode(() => decodeMessage(t), 'ERR_RAFT_MALFORMED')
})

test('every truncation of a valid message is refused with a typed error, never a crash', () => {
  const m = encodeMessage(message({
    type: MessageType.MsgSnap, to: 2, from: 1, term: 5, snapshot: snap, context: bytes('c'),
    entries: [{ type: 0, term: 1, index: 2, data: bytes('zz') }],
  }))
  for (let n = 0; n < m.length; n++) {
    try {
      decodeMessage(m.subarray(0, n))
      assert.unreachable(`prefix of ${n} bytes decoded`)
    } catch (err) {
      assert.instance(err, RaftCodecError)
    }
  }
})

test('random byte flips either decode to a valid message or throw RaftCodecError', () => {
  withSeed('codec flips', (prng) => {
    const base = encodeMessage(message({ type: MessageType.MsgApp, to: 2, from: 1, term: 5, entries: [{ type: 0, term: 5, index: 3, data: bytes('abc') }] }))
    for (let i = 0; i < 2000; i++) {
      const b = base.slice()
      b[prng.int(b.length)] = prng.int(256)
      try {
        const m = decodeMessage(b)
        assert.ok(Number.isSafeInteger(m.term) && Number.isSafeInteger(m.index))
      } catch (err) {
        assert.instance(err, RaftCodecError)
      }
    }
  })
})

test('encoding refuses a number that does not fit a u64 exactly', () => {
  throwsWithCode(() => encodeHardState({ term: 2 ** 53, vote: 0, commit: 0 }), 'ERR_RAFT_INVALID_ARGUMENT')
  throwsWithCode(() => encodeHardState({ term: -1, vote: 0, commit: 0 }), 'ERR_RAFT_INVALID_ARGUMENT')
  throwsWithCode(() => encodeEntry({ term: 1, index: 1, type: 0 } as never), 'ERR_RAFT_INVALID_ARGUMENT')
  throwsWithCode(() => encodeMessage({ type: 3 } as never), 'ERR_RAFT_INVALID_ARGUMENT')
  throwsWithCode(() => encodeConfChange({ type: 300, nodeId: 1, context: new Uint8Array(0) } as never), 'ERR_RAFT_INVALID_ARGUMENT')
  throwsWithCode(() => encodeSnapshot(null as never), 'ERR_RAFT_INVALID_ARGUMENT')
})

test.run()
