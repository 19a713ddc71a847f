import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { compareRevision, decodeRevision, encodeRevision, encodeRevisionInto, isTombstoneKey, revision } from '../src/revision.js'

test('a revision encodes to 17 bytes: main BE, an underscore, sub BE', () => {
  const bytes = encodeRevision(revision(0x0102030405, 7))
  assert.is(bytes.length, 17)
  assert.equal([...bytes], [0, 0, 0, 1, 2, 3, 4, 5, 0x5f, 0, 0, 0, 0, 0, 0, 0, 7])
  assert.equal(decodeRevision(bytes), { main: 0x0102030405, sub: 7 })
  assert.not.ok(isTombstoneKey(bytes))
})

test('a tombstone revision carries a trailing t and decodes to the same revision', () => {
  const bytes = encodeRevision(revision(9, 2), true)
  assert.is(bytes.length, 18)
  assert.is(bytes[17], 0x74)
  assert.ok(isTombstoneKey(bytes))
  assert.equal(decodeRevision(bytes), { main: 9, sub: 2 })
})

test('byte order of encoded revisions equals revision order, up to 2^53', () => {
  const revs = [revision(1, 0), revision(1, 1), revision(255, 0), revision(256, 0), revision(2 ** 32, 0), revision(2 ** 53 - 1, 3)]
  const cmp = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b)
  for (let i = 0; i + 1 < revs.length; i++) {
    assert.ok(compareRevision(revs[i]!, revs[i + 1]!) < 0)
    assert.ok(cmp(encodeRevision(revs[i]!), encodeRevision(revs[i + 1]!)) < 0)
    assert.equal(decodeRevision(encodeRevision(revs[i + 1]!)), revs[i + 1])
  }
})

test('an unsafe main revision is refused', () => {
  assert.throws(() => revision(2 ** 53))
  assert.throws(() => revision(-1))
})

test.run()

test('encodeRevisionInto writes the same bytes into a reused buffer of exactly the key\'s length', () => {
  const put = new Uint8Array(17).fill(0xff)
  const tomb = new Uint8Array(18).fill(0xff)
  for (const rev of [revision(0x0102030405, 7), revision(1, 0), revision(2 ** 53 - 1, 3)]) {
    assert.is(encodeRevisionInto(put, rev), put)
    assert.equal(put, encodeRevision(rev))
    assert.equal(encodeRevisionInto(tomb, rev, true), encodeRevision(rev, true))
  }
  assert.throws(() => encodeRevisionInto(new Uint8Array(18), revision(1, 0)), /wrong length/)
  assert.throws(() => encodeRevisionInto(put, revision(1, 0), true), /wrong length/)
})
