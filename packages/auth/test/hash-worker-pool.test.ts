import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { HashWorkerPool } from '../src/hash-worker-pool.js'

test('a pool hashes and verifies on its threads, and reports a failing job without losing the worker', async () => {
  const pool = new HashWorkerPool(1, 5)
  const hash = (await pool.run({ op: 'hash', password: 'pw', cost: 4 })) as string
  assert.is(await pool.run({ op: 'verify', password: 'pw', hash }), true)
  assert.is(await pool.run({ op: 'verify', password: 'nope', hash }), false)
  try {
    await pool.run({ op: 'hash', password: 'pw', cost: 99 })
    assert.unreachable('cost 99 must fail')
  } catch (err) {
    assert.match(String(err), /bcrypt/)
  }
  assert.is(await pool.run({ op: 'verify', password: 'pw', hash }), true, 'the worker survives a failed job')
  await pool.close()
})

test('a pool refuses more jobs at once than it has workers (the caller bounds concurrency)', async () => {
  const pool = new HashWorkerPool(1, 5)
  const first = pool.run({ op: 'hash', password: 'pw', cost: 4 })
  assert.throws(() => pool.run({ op: 'hash', password: 'pw', cost: 4 }), /more concurrent hash jobs than workers/)
  await first
  await pool.close()
  assert.throws(() => pool.run({ op: 'hash', password: 'pw', cost: 4 }), /after close/)
})

test.run()
