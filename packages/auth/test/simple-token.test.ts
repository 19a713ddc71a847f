import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Prng, throwsWithCode } from '@strata/testkit'
import { SimpleTokenProvider } from '../src/index.js'
import { FakeClock } from './fake-clock.js'

const info = (username: string) => ({ username, revision: 5 })

test('a simple token is 16 letters from the injected Rng and the entry index; the same seed gives the same token', () => {
  const a = new SimpleTokenProvider({ rng: new Prng(3), clock: new FakeClock() })
  const b = new SimpleTokenProvider({ rng: new Prng(3), clock: new FakeClock() })
  const t = a.assign(info('u'), { index: 17 })
  assert.match(t, /^[a-zA-Z]{16}\.17$/)
  assert.is(b.assign(info('u'), { index: 17 }), t)
  assert.is(SimpleTokenProvider.indexOf(t), 17)
  assert.is(SimpleTokenProvider.indexOf('short.1'), undefined)
  assert.equal(a.info(t, 9), { username: 'u', revision: 9 }, 'simple tokens report the current revision')
})

test('a token expires after the TTL without use', () => {
  const clock = new FakeClock()
  const p = new SimpleTokenProvider({ rng: new Prng(1), clock, ttlMs: 300_000 })
  const t = p.assign(info('u'))
  clock.advance(299_999)
  assert.ok(p.info(t, 1) !== undefined)
  const t2 = p.assign(info('v'))
  clock.advance(300_000)
  assert.is(p.info(t, 1), undefined)
  assert.is(p.info(t2, 1), undefined)
  assert.is(p.size, 0)
})

test('use refreshes the TTL (with 1 s resolution), and expiry keeps working after refreshes reorder tokens', () => {
  const clock = new FakeClock()
  const p = new SimpleTokenProvider({ rng: new Prng(1), clock, ttlMs: 10_000 })
  const a = p.assign(info('a'))
  const b = p.assign(info('b'))
  for (let i = 0; i < 5; i++) {
    clock.advance(6_000)
    assert.ok(p.info(a, 1) !== undefined, `a alive at step ${i}`)
  }
  assert.is(p.info(b, 1), undefined, 'b was never used and expired')
  clock.advance(500)
  p.info(a, 1) // within 1 s of the last refresh: no refresh
  clock.advance(9_600)
  assert.is(p.info(a, 1), undefined, 'the use inside the resolution window did not extend the TTL')
})

test('invalidateUser drops only that user\'s tokens; invalidateAll drops all', () => {
  const p = new SimpleTokenProvider({ rng: new Prng(2), clock: new FakeClock() })
  const u1 = p.assign(info('u'))
  const u2 = p.assign(info('u'))
  const v = p.assign(info('v'))
  p.invalidateUser('u')
  assert.is(p.info(u1, 1), undefined)
  assert.is(p.info(u2, 1), undefined)
  assert.ok(p.info(v, 1) !== undefined)
  p.invalidateAll()
  assert.is(p.info(v, 1), undefined)
  assert.is(p.size, 0)
})

test('more live tokens than maxTokens fail with ERR_AUTH_LIMIT until some expire', () => {
  const clock = new FakeClock()
  const p = new SimpleTokenProvider({ rng: new Prng(4), clock, ttlMs: 1000, maxTokens: 3 })
  for (let i = 0; i < 3; i++) p.assign(info('u'))
  throwsWithCode(() => p.assign(info('u')), 'ERR_AUTH_LIMIT')
  clock.advance(1000)
  assert.ok(p.assign(info('u')))
})

test('bad options are refused', () => {
  throwsWithCode(() => new SimpleTokenProvider({ rng: new Prng(1), clock: new FakeClock(), ttlMs: 0 }), 'ERR_AUTH_INVALID_OPTION')
  throwsWithCode(() => new SimpleTokenProvider({ rng: new Prng(1), clock: new FakeClock(), maxTokens: 0 }), 'ERR_AUTH_INVALID_OPTION')
})

test.run()
