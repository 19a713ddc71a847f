import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Prng, withSeed, seedFromEnv } from '@strata/testkit'
import { KeyIntervalSet, isValidPermissionRange, permissionInterval, requestInterval, unifyPermissions, type KeyInterval } from '../src/internal.js'

const b = (s: string): Uint8Array => new TextEncoder().encode(s)
const Z = '\0'

function set(...perms: [string, string][]): KeyIntervalSet {
  const s = new KeyIntervalSet(perms.map(([k, e]) => permissionInterval(b(k), b(e))))
  s.checkValid()
  return s
}

const req = (k: string, e?: string): KeyInterval => requestInterval(b(k), e === undefined ? undefined : b(e))

test('a single-key permission allows exactly that key, not its prefix range', () => {
  const s = set(['foo', ''])
  assert.ok(s.covers(req('foo')))
  assert.not.ok(s.covers(req('fo')))
  assert.not.ok(s.covers(req('foo0')))
  assert.not.ok(s.covers(req('foo', 'fop')), 'a range starting at the key is more than the key')
  assert.ok(s.covers(req('foo', `foo${Z}`)), 'the range [foo, foo\\0) is the key itself')
})

test('a half-open permission [a, c) allows its points and sub-ranges but not c', () => {
  const s = set(['a', 'c'])
  for (const k of ['a', 'a0', 'b', 'bzzz', 'b\xff']) assert.ok(s.covers(req(k)), k)
  assert.not.ok(s.covers(req('c')))
  assert.ok(s.covers(req('a', 'c')))
  assert.ok(s.covers(req('ab', 'b')))
  assert.not.ok(s.covers(req('a', 'c0')))
  assert.not.ok(s.covers(req('a', Z)), 'an open-ended request needs an open-ended permission')
})

test('an open end "\\0" covers every key from the key on; "\\0","\\0" covers everything', () => {
  const open = set(['m', Z])
  assert.ok(open.covers(req('m')))
  assert.ok(open.covers(req('zzzz', Z)))
  assert.not.ok(open.covers(req('l')))
  const all = set([Z, Z])
  assert.ok(all.covers(req(Z, Z)))
  assert.ok(all.covers(req('anything')))
  assert.not.ok(all.covers(req('')), 'the empty key sorts before "\\0"')
})

test('a range request is allowed only when the union covers it, across touching and overlapping permissions', () => {
  const s = set(['a', 'c'], ['c', 'e'], ['d', 'g'], ['x', ''])
  assert.equal(s.size, 2, '[a,c) [c,e) [d,g) merge into [a,g); x stays apart')
  assert.ok(s.covers(req('a', 'g')))
  assert.ok(s.covers(req('b', 'f')))
  assert.not.ok(s.covers(req('a', 'h')))
  assert.not.ok(s.covers(req('f', 'y')), 'the gap between g and x is not covered')
  assert.ok(s.covers(req('x')))
  const gap = set(['a', 'b'], ['b0', 'c'])
  assert.not.ok(gap.covers(req('a', 'c')), 'keys in [b, b0) are missing')
})

test('an empty request range (end <= key) is checked as its key', () => {
  const s = set(['k', ''])
  assert.ok(s.covers(req('k', 'a')))
  assert.not.ok(s.covers(req('j', 'a')))
})

test('isValidPermissionRange rejects an empty key and an end not after the key', () => {
  assert.ok(isValidPermissionRange(b('a'), b('')))
  assert.ok(isValidPermissionRange(b('a'), b('b')))
  assert.ok(isValidPermissionRange(b('z'), b(Z)))
  assert.ok(isValidPermissionRange(b(Z), b(Z)))
  assert.not.ok(isValidPermissionRange(b(''), b('')))
  assert.not.ok(isValidPermissionRange(b('b'), b('a')))
  assert.not.ok(isValidPermissionRange(b('a'), b('a')))
})

test('unifyPermissions puts READWRITE in both sets and READ/WRITE in one each', () => {
  const u = unifyPermissions([
    { permissions: [{ type: 'read', key: b('r'), end: b('') }, { type: 'readwrite', key: b('rw'), end: b('') }] },
    { permissions: [{ type: 'write', key: b('w'), end: b('') }] },
  ])
  assert.ok(u.read.covers(req('r')) && u.read.covers(req('rw')) && !u.read.covers(req('w')))
  assert.ok(u.write.covers(req('w')) && u.write.covers(req('rw')) && !u.write.covers(req('r')))
})

// ---- property test against a naive checker ----------------------------------------------------

/** Keys over a tiny alphabet that includes "\0", so adjacency and open ends are exercised. */
function randomKey(p: Prng): string {
  const alphabet = [Z, 'a', 'b', 'c']
  let s = ''
  const n = 1 + p.int(3)
  for (let i = 0; i < n; i++) s += p.pick(alphabet)
  return s
}

function cmp(x: Uint8Array, y: Uint8Array): number {
  return Buffer.compare(x, y)
}

/** The dumb reference: walk forward from the start, hopping to the furthest end of any interval holding the cursor. */
function naiveCovers(perms: KeyInterval[], r: KeyInterval): boolean {
  let cursor = r.start
  for (let guard = 0; guard <= perms.length; guard++) {
    let best: Uint8Array | undefined | null = null // null: nothing holds the cursor
    for (const p of perms) {
      if (cmp(p.start, cursor) > 0) continue
      if (p.end !== undefined && cmp(cursor, p.end) >= 0) continue
      if (p.end === undefined) best = undefined
      else if (best !== undefined && (best === null || cmp(p.end, best) > 0)) best = p.end
    }
    if (best === null) return false
    if (best === undefined) return true
    if (r.end !== undefined && cmp(best, r.end) >= 0) return true
    cursor = best
  }
  return false
}

test('range coverage agrees with a naive checker on random permissions and requests (seeded)', () => {
  const seed = seedFromEnv()
  console.log(`range coverage property: seed=${seed} (replay with SEED=${seed})`)
  withSeed('range coverage property', (p) => {
    for (let round = 0; round < 400; round++) {
      const perms: KeyInterval[] = []
      for (let n = p.int(6); n > 0; n--) {
        const k = randomKey(p)
        const kind = p.int(3)
        let end = kind === 0 ? '' : kind === 1 ? Z : randomKey(p)
        if (!isValidPermissionRange(b(k), b(end))) end = ''
        perms.push(permissionInterval(b(k), b(end)))
      }
      const s = new KeyIntervalSet(perms)
      s.checkValid()
      for (let q = 0; q < 30; q++) {
        const k = randomKey(p)
        const kind = p.int(3)
        const r = requestInterval(b(k), kind === 0 ? undefined : b(kind === 1 ? Z : randomKey(p)))
        assert.is(s.covers(r), naiveCovers(perms, r), `round ${round}: ${JSON.stringify(perms)} vs ${JSON.stringify(r)}`)
        assert.is(s.containsKey(b(k)), naiveCovers(perms, requestInterval(b(k), undefined)))
      }
    }
  }, { seed })
})

test.run()
