import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { rejectsWithCode, throwsWithCode } from '@strata/testkit'
import { PasswordHasher } from '../src/index.js'
import { defaultHashConcurrency, eventLoopBusy, isBcryptHash } from '../src/internal.js'

test('hash then compare: the right password matches, others and malformed hashes do not', async () => {
  const h = new PasswordHasher({ cost: 4 })
  const hash = await h.hash('correct horse')
  assert.ok(isBcryptHash(hash))
  assert.match(hash, /^\$2[aby]\$04\$/)
  assert.ok(await h.compare('correct horse', hash))
  assert.not.ok(await h.compare('wrong', hash))
  assert.not.ok(await h.compare('correct horse', 'not-a-hash'))
  assert.not.ok(isBcryptHash('plaintext'))
  await rejectsWithCode(h.hash(''), 'ERR_AUTH_PASSWORD_EMPTY')
})

test('the cost is checked against [4, 31]; the default concurrency leaves one core free', () => {
  throwsWithCode(() => new PasswordHasher({ cost: 3 }), 'ERR_AUTH_INVALID_OPTION')
  throwsWithCode(() => new PasswordHasher({ cost: 32 }), 'ERR_AUTH_INVALID_OPTION')
  throwsWithCode(() => new PasswordHasher({ maxConcurrent: 0 }), 'ERR_AUTH_INVALID_OPTION')
  assert.is(new PasswordHasher().cost, 10)
  assert.is(new PasswordHasher({ cost: 4 }).maxConcurrent, defaultHashConcurrency())
  assert.ok(defaultHashConcurrency() >= 1)
})

test('no more than maxConcurrent computations run at once; the rest wait in order', async () => {
  const h = new PasswordHasher({ cost: 4, maxConcurrent: 2, busy: () => false })
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

test('while busy() says the process is busy, one core is left: maxConcurrent - 1 run, at least one', async () => {
  const h = new PasswordHasher({ cost: 4, maxConcurrent: 3, busy: () => true })
  assert.is(h.busyConcurrent, 2)
  let peak = 0
  const all = Array.from({ length: 8 }, (_, i) => h.hash(`pw${i}`).then(() => (peak = Math.max(peak, h.stats().running))))
  assert.equal(h.stats(), { running: 2, queued: 6 })
  await Promise.all(all)
  assert.is(peak, 2)
  throwsWithCode(() => new PasswordHasher({ busy: true as unknown as () => boolean }), 'ERR_AUTH_INVALID_OPTION')
  const one = new PasswordHasher({ cost: 4, maxConcurrent: 1, busy: () => true })
  assert.is(one.busyConcurrent, 1)
  const p = one.hash('pw')
  assert.equal(one.stats(), { running: 1, queued: 0 })
  await p
  await h.close()
  await one.close()
})

test('when the process goes idle, a release starts every computation the full bound allows', async () => {
  let busy = true
  const h = new PasswordHasher({ cost: 4, maxConcurrent: 3, busy: () => busy })
  const order: number[] = []
  const running: number[] = []
  const all = Array.from({ length: 9 }, (_, i) => h.hash(`pw${i}`).then(() => {
    order.push(i)
    running.push(h.stats().running)
  }))
  assert.equal(h.stats(), { running: 2, queued: 7 })
  busy = false
  await Promise.all(all)
  assert.is(order.length, 9)
  assert.ok(running.some((n) => n === 3), `the bound rose to 3 once idle: ${running.join(',')}`)
  assert.equal(h.stats(), { running: 0, queued: 0 })
  await h.close()
})

test('a newcomer never overtakes a waiter, even when a slot looks free', async () => {
  let busy = true
  const h = new PasswordHasher({ cost: 4, maxConcurrent: 2, busy: () => busy })
  const first = h.hash('a')
  const second = h.hash('b') // waits: busy, one slot
  busy = false
  const third = h.hash('c') // a slot is free now, but 'b' waits ahead of it
  assert.equal(h.stats(), { running: 1, queued: 2 })
  await Promise.all([first, second, third])
  await h.close()
})

test('eventLoopBusy: true after a window in which the loop was mostly busy, false after an idle one', async () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
  const busy = eventLoopBusy(0.5, 200)
  await sleep(5)
  assert.not.ok(busy(), 'no complete window yet: not busy')
  const end = performance.now() + 250
  while (performance.now() < end) { /* keep the loop busy */ }
  assert.ok(busy(), 'a window of ~255 ms with 250 ms of work')
  await sleep(20)
  assert.ok(busy(), 'the answer holds until a new window is complete')
  await sleep(450)
  assert.not.ok(busy(), 'a window of ~470 ms with next to no work')
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
  throwsWithCode(() => new PasswordHasher({ niceness: 20 }), 'ERR_AUTH_INVALID_OPTION')
})

test('close: waiting calls fail with ERR_AUTH_CLOSED, running ones finish first, later calls fail, a second close is the same promise', async () => {
  const h = new PasswordHasher({ cost: 4, maxConcurrent: 1, busy: () => false })
  const running = h.hash('one')
  const waiting = h.hash('two')
  await Promise.resolve()
  const first = h.close()
  assert.is(h.close(), first)
  await rejectsWithCode(waiting, 'ERR_AUTH_CLOSED')
  assert.ok(isBcryptHash(await running), 'the running computation completes')
  await first
  await rejectsWithCode(h.hash('three'), 'ERR_AUTH_CLOSED')
  await rejectsWithCode(h.compare('x', await running), 'ERR_AUTH_CLOSED')
  throwsWithCode(() => new PasswordHasher({ maxQueued: '10' as never }), 'ERR_AUTH_INVALID_OPTION')
})

test.run()
