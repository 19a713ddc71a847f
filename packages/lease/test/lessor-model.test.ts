import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { withSeed } from '@strata/testkit'
import { LeaseError } from '../src/index.js'
import { fixture } from './helpers.js'

interface ModelLease { ttl: number; remainingTtl: number; expiry: number; handedAt: number | undefined }

const RETRY = 3_000

test('random grant/revoke/renew/checkpoint/promote/demote/tick sequences agree with a simple model', async () => {
  await withSeed('lessor model', async (prng) => {
    const f = await fixture({ minTtlSeconds: 2, expiredRetryIntervalMs: RETRY, maxExpiredPerTick: 10_000, checkpointIntervalMs: 0 })
    const model = new Map<number, ModelLease>()
    let primary = false
    const code = (fn: () => unknown): string => {
      try {
        fn()
        return 'ok'
      } catch (err) {
        if (err instanceof LeaseError) return err.code
        throw err
      }
    }
    for (let step = 0; step < 4000; step++) {
      const now = f.clock.now()
      const id = 1 + prng.int(40)
      const m = model.get(id)
      const r = prng.int(100)
      if (r < 20) {
        const ttl = prng.int(30)
        const got = code(() => f.lessor.grant(id, ttl))
        assert.is(got, m === undefined ? 'ok' : 'ERR_LEASE_EXISTS')
        if (m === undefined) {
          const t = Math.max(ttl, 2)
          model.set(id, { ttl: t, remainingTtl: 0, expiry: primary ? now + t * 1000 : Infinity, handedAt: undefined })
        }
      } else if (r < 32) {
        assert.is(code(() => f.lessor.revoke(id)), m === undefined ? 'ERR_LEASE_NOT_FOUND' : 'ok')
        model.delete(id)
      } else if (r < 50) {
        const want = !primary ? 'ERR_LEASE_NOT_PRIMARY' : m === undefined ? 'ERR_LEASE_NOT_FOUND' : m.expiry <= now ? 'ERR_LEASE_EXPIRED' : 'ok'
        assert.is(code(() => f.lessor.renew(id)), want)
        if (want === 'ok') { m!.expiry = now + m!.ttl * 1000; m!.handedAt = undefined }
      } else if (r < 55) {
        const remainingTtl = prng.int(20)
        f.lessor.checkpoint([{ id, remainingTtl }])
        if (m !== undefined) m.remainingTtl = remainingTtl
      } else if (r < 58) {
        const extend = prng.int(3) * 1000
        f.lessor.promote(extend)
        primary = true
        for (const l of model.values()) { l.expiry = now + extend + (l.remainingTtl > 0 ? l.remainingTtl : l.ttl) * 1000; l.handedAt = undefined }
      } else if (r < 60) {
        f.lessor.demote()
        primary = false
        for (const l of model.values()) { l.expiry = Infinity; l.handedAt = undefined }
      } else if (r < 80) {
        const expired = [...f.lessor.tick().expired].sort((a, b) => a - b)
        const want = [...model].filter(([, l]) => primary && l.expiry <= now && (l.handedAt === undefined || l.handedAt + RETRY <= now)).map(([k]) => k).sort((a, b) => a - b)
        assert.equal(expired, want, `tick at ${now}`)
        for (const k of want) model.get(k)!.handedAt = now
      } else {
        f.clock.advance(prng.int(2_000))
      }
      if (step % 50 === 0) f.lessor.checkValid()
      assert.is(f.lessor.stats().expiryQueue, primary ? model.size : 0)
    }
    assert.equal(f.lessor.leases().map((l) => l.id).sort((a, b) => a - b), [...model.keys()].sort((a, b) => a - b))
  })
})

test.run()
