import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { throwsWithCode } from '@strata/testkit'
import { JwtTokenProvider, type JwtOptions } from '../src/index.js'
import { FakeClock } from './fake-clock.js'

const EPOCH = 1_750_000_000_000 // a wall-clock ms value; the clock is fake
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
const secret = randomBytes(32)

function configs(clock: FakeClock): [string, JwtOptions, JwtOptions][] {
  return [
    ['HS256', { signMethod: 'HS256', secret, clock }, { signMethod: 'HS256', secret, clock }],
    ['RS256', { signMethod: 'RS256', privateKey: rsa.privateKey, clock }, { signMethod: 'RS256', publicKey: rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string, clock }],
    ['ES256', { signMethod: 'ES256', privateKey: ec.privateKey, clock }, { signMethod: 'ES256', publicKey: ec.publicKey, clock }],
  ]
}

test('HS256, RS256 and ES256 tokens carry username and revision and verify on another member', () => {
  const clock = new FakeClock(EPOCH)
  for (const [name, signer, verifier] of configs(clock)) {
    const token = new JwtTokenProvider(signer).assign({ username: 'alice', revision: 42 })
    const [header, payload] = token.split('.')
    assert.equal(JSON.parse(Buffer.from(header!, 'base64url').toString()), { alg: name, typ: 'JWT' })
    assert.equal(JSON.parse(Buffer.from(payload!, 'base64url').toString()), { username: 'alice', revision: 42, exp: (EPOCH + 300_000) / 1000 })
    assert.equal(new JwtTokenProvider(verifier).info(token), { username: 'alice', revision: 42 }, name)
  }
})

test('a public-key-only provider verifies but refuses to sign with ERR_AUTH_VERIFY_ONLY', () => {
  const clock = new FakeClock(EPOCH)
  for (const [, , verifier] of configs(clock).slice(1)) {
    const p = new JwtTokenProvider(verifier)
    assert.ok(p.verifyOnly)
    throwsWithCode(() => p.assign({ username: 'a', revision: 1 }), 'ERR_AUTH_VERIFY_ONLY')
  }
})

test('tokens expire at exp by the injected wall clock', () => {
  const clock = new FakeClock(EPOCH)
  const p = new JwtTokenProvider({ signMethod: 'HS256', secret, clock, ttlMs: 60_000 })
  const token = p.assign({ username: 'a', revision: 1 })
  clock.advance(59_999)
  assert.ok(p.info(token) !== undefined)
  clock.advance(1)
  assert.is(p.info(token), undefined)
})

test('tampered payloads, foreign keys, other algorithms and junk are rejected', () => {
  const clock = new FakeClock(EPOCH)
  const hs = new JwtTokenProvider({ signMethod: 'HS256', secret, clock })
  const token = hs.assign({ username: 'alice', revision: 3 })
  const [h, , s] = token.split('.')
  const forged = Buffer.from(JSON.stringify({ username: 'root', revision: 3, exp: EPOCH / 1000 + 300 })).toString('base64url')
  assert.is(hs.info(`${h}.${forged}.${s}`), undefined)
  assert.is(new JwtTokenProvider({ signMethod: 'HS256', secret: randomBytes(32), clock }).info(token), undefined)
  const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')
  assert.is(hs.info(`${none}.${token.split('.')[1]}.`), undefined)
  const es = new JwtTokenProvider({ signMethod: 'ES256', privateKey: ec.privateKey, clock })
  assert.is(es.info(token), undefined, 'an HS256 token is not accepted by an ES256 provider')
  const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  assert.is(new JwtTokenProvider({ signMethod: 'ES256', publicKey: other.publicKey, clock }).info(es.assign({ username: 'a', revision: 1 })), undefined)
  for (const junk of ['', 'a.b', 'a.b.c', 'x'.repeat(10_000), 42 as never]) assert.is(hs.info(junk), undefined)
})

test('bad configurations are refused', () => {
  const clock = new FakeClock(EPOCH)
  throwsWithCode(() => new JwtTokenProvider({ signMethod: 'HS256', secret: randomBytes(8), clock }), 'ERR_AUTH_INVALID_OPTION')
  throwsWithCode(() => new JwtTokenProvider({ signMethod: 'RS256', privateKey: ec.privateKey, clock }), 'ERR_AUTH_INVALID_OPTION')
  throwsWithCode(() => new JwtTokenProvider({ signMethod: 'ES256', publicKey: rsa.publicKey, clock }), 'ERR_AUTH_INVALID_OPTION')
  throwsWithCode(() => new JwtTokenProvider({ signMethod: 'ES256', clock }), 'ERR_AUTH_INVALID_OPTION')
  throwsWithCode(() => new JwtTokenProvider({ signMethod: 'RS256', secret, clock }), 'ERR_AUTH_INVALID_OPTION')
  throwsWithCode(() => new JwtTokenProvider({ signMethod: 'none' as never, secret, clock }), 'ERR_AUTH_INVALID_OPTION')
  throwsWithCode(() => new JwtTokenProvider({ signMethod: 'HS256', secret, clock, ttlMs: '60000' as never }), 'ERR_AUTH_INVALID_OPTION')
  throwsWithCode(() => new JwtTokenProvider({ signMethod: 'HS256', secret, clock: undefined as never }), 'ERR_AUTH_INVALID_OPTION')
  throwsWithCode(() => new JwtTokenProvider({ signMethod: 'RS256', privateKey: 'not a PEM key', clock }), 'ERR_AUTH_INVALID_OPTION')
})

test.run()
