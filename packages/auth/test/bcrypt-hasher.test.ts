import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { rejectsWithCode } from '@strata/testkit'
import { PasswordHasher, defaultHashConcurrency, isBcryptHash } from '../src/index.js'

test('hash then compare: the right password matches, others and malformed hashes do not', async () => {
  const h = new PasswordHasher({ cost: 4 })
  const hash = await h.hash('correct horse')
  assert.ok(isBcryptHash(hash))
  assert.match(hash, /^\$2[aby]\$04\$/)
  assert.ok(await h.compare('correct horse', hash))
  assert.not.ok(await h.compare('wrong', hash))
  assert.not.ok(await h.compare('correct horse', 'not-a-hash'))
  assert.not.ok(isBcryptHash('plaintext'))
  await rejectsWithCode(h.hash(''), 'ERR_PASSWORD_EMPTY')
})

test('the cost is checked against [4, 31]; the default concurrency leaves one core free', () => {
  assert.throws(() => new PasswordHasher({ cost: 3 }), RangeError)
  assert.throws(() => new PasswordHasher({ cost: 32 }), RangeError)
  assert.throws(() => new PasswordHasher({ maxConcurrent: 0 }), RangeError)
  assert.is(new PasswordHasher().cost, 10)
  assert.is(new PasswordHasher({ cost: 4 }).maxConcurrent, defaultHashConcurrency())
  assert.ok(defaultHashConcurrency() >= 1)
})

test('no more than maxConcurrent computations run at once; the rest wait in order', async () => {
  const h = new PasswordHasher({ cost: 4, maxConcurrent: 2 })
  let peak = 0
  const order: number[] = []
  const all = Array.from({ length: 10 }, (_, i) => {
    const p = h.hash(`pw${i}`).then(() => order.push(i))
    peak = Math.max(peak, h.stats().running)
    return p
  })
  assert.equal(h.stats(), { running: 2, queued: 8 })
  await Promise.all(all)
  assert.is(peak, 2)
  assert.equal(h.stats(), { running: 0, queued: 0 })
  assert.is(order.length, 10)
})

test('a caller beyond maxQueued fails fast with ERR_AUTH_BUSY', async () => {
  const h = new PasswordHasher({ cost: 4, maxConcurrent: 1, maxQueued: 2 })
  const admitted = [h.hash('a'), h.hash('b'), h.hash('c')]
  await rejectsWithCode(h.hash('d'), 'ERR_AUTH_BUSY')
  await Promise.all(admitted)
})

test('hashing runs off the event loop: immediates keep running while a hash is pending', async () => {
  const h = new PasswordHasher({ cost: 8, maxConcurrent: 1 })
  let done = false
  let turns = 0
  const pending = h.hash('pw').then(() => (done = true))
  while (!done) {
    await new Promise((r) => setImmediate(r))
    turns++
  }
  await pending
  assert.ok(turns > 1, `the loop turned ${turns} times during one hash`)
})

/** The nice values of this process's threads (Linux), or undefined elsewhere. */
function threadNiceValues(): Map<number, number> | undefined {
  if (!existsSync('/proc/self/task')) return undefined
  return new Map(readdirSync('/proc/self/task').map((t) => {
    const fields = readFileSync(`/proc/self/task/${t}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return [Number(t), Number(fields[16])] // field 19 of stat: nice
  }))
}

test('bcrypt runs on threads whose nice value is raised, leaving the event loop at normal priority', async () => {
  const h = new PasswordHasher({ cost: 4, maxConcurrent: 1, niceness: 7 })
  const before = threadNiceValues()?.get(process.pid)
  await h.hash('pw')
  const nice = threadNiceValues()
  if (nice !== undefined && before === 0) { // a process started niced cannot raise a thread to 7 this way
    assert.ok([...nice.values()].includes(7), `thread nice values ${[...nice.values()].join(',')}`)
    assert.is(nice.get(process.pid), 0, 'the main thread keeps its priority')
  }
  await h.close()
  assert.throws(() => new PasswordHasher({ niceness: 20 }), RangeError)
})

test.run()
