import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Prng, SimClock, SimNetwork, rejectsWithCode } from '../src/index.js'
import type { SimNetworkOptions } from '../src/index.js'

const msg = (n: number): Uint8Array => new Uint8Array([n])

/** A network of members 1..n that records every delivery as `from>to:byte`. */
function cluster(n: number, options: SimNetworkOptions = {}): { net: SimNetwork; log: string[]; send: (from: number, to: number, b: number) => void } {
  const net = new SimNetwork(options)
  const log: string[] = []
  for (let id = 1; id <= n; id++) net.endpoint(id).onMessage((from, m) => log.push(`${from}>${id}:${m[0]}`))
  return { net, log, send: (from, to, b) => net.endpoint(from).send(to, msg(b)) }
}

test('sends are queued until delivered, in send order by default', () => {
  const { net, log, send } = cluster(3)
  send(1, 2, 1)
  send(3, 2, 2)
  send(2, 1, 3)
  assert.equal(log, [])
  assert.is(net.pending, 3)
  assert.ok(net.step())
  assert.equal(log, ['1>2:1'])
  assert.is(net.deliverAll(), 2)
  assert.equal(log, ['1>2:1', '3>2:2', '2>1:3'])
  assert.not.ok(net.step())
  assert.equal(net.stats, { sent: 3, delivered: 3, dropped: 0, blocked: 0, unroutable: 0, duplicated: 0, overflowed: 0 })
})

test('deliverAll also delivers what receivers send meanwhile, and stops endless ping-pong', async () => {
  const net = new SimNetwork({ maxDeliveries: 100 })
  const a = net.endpoint(1)
  const b = net.endpoint(2)
  let hops = 0
  a.onMessage((from, m) => { hops++; if (m[0]! < 5) a.send(from, msg(m[0]! + 1)) })
  b.onMessage((from, m) => { hops++; b.send(from, msg(m[0]! + 1)) })
  a.send(2, msg(0))
  assert.is(net.deliverAll(), 6)
  assert.is(hops, 6)
  b.onMessage(() => {})
  a.onMessage((from) => a.send(from, msg(0)))
  b.onMessage((from) => b.send(from, msg(0)))
  a.send(2, msg(0))
  await rejectsWithCode(async () => net.deliverAll(), 'ERR_SIM_NETWORK_BUSY')
})

test('a message is copied at send, so reusing the buffer does not change it', () => {
  const { net, log } = cluster(2)
  const buf = msg(7)
  net.endpoint(1).send(2, buf)
  buf[0] = 9
  net.deliverAll()
  assert.equal(log, ['1>2:7'])
})

test('a partition blocks delivery both ways between groups, and heal restores it', () => {
  const { net, log, send } = cluster(3)
  net.partition([[1, 2], [3]])
  assert.ok(net.connected(1, 2))
  assert.not.ok(net.connected(1, 3))
  assert.not.ok(net.connected(3, 2))
  send(1, 3, 1)
  send(3, 1, 2)
  send(2, 3, 3)
  send(1, 2, 4)
  net.deliverAll()
  assert.equal(log, ['1>2:4'])
  assert.is(net.stats.blocked, 3)
  net.heal()
  send(1, 3, 5)
  send(3, 1, 6)
  net.deliverAll()
  assert.equal(log, ['1>2:4', '1>3:5', '3>1:6'])
})

test('a partition loses messages already in flight; members in no group form a group of their own', () => {
  const { net, log, send } = cluster(4)
  send(1, 4, 1)
  net.partition([[1], [2]])
  assert.ok(net.connected(3, 4))
  assert.not.ok(net.connected(2, 3))
  send(3, 4, 2)
  net.deliverAll()
  assert.equal(log, ['3>4:2'])
  assert.throws(() => net.partition([[1, 2], [2]]), /two groups/)
})

test('an isolated member neither sends nor receives until healed', () => {
  const { net, log, send } = cluster(3)
  net.isolate(2)
  send(1, 2, 1)
  send(2, 3, 2)
  send(1, 3, 3)
  net.deliverAll()
  assert.equal(log, ['1>3:3'])
  net.heal()
  send(1, 2, 4)
  net.deliverAll()
  assert.equal(log, ['1>3:3', '1>2:4'])
})

test('messages to a member without a listener are counted as unroutable', () => {
  const { net, send } = cluster(1)
  send(1, 9, 1)
  net.endpoint(8)
  send(1, 8, 2)
  net.deliverAll()
  assert.is(net.stats.unroutable, 2)
})

test('drop and duplicate probabilities lose and repeat messages, and the counters add up', () => {
  const { net, log, send } = cluster(2, { prng: new Prng(3), dropProbability: 0.3, duplicateProbability: 0.2 })
  for (let i = 0; i < 1000; i++) send(1, 2, i % 256)
  net.deliverAll()
  const s = net.stats
  assert.ok(s.dropped > 200 && s.dropped < 400, String(s.dropped))
  assert.ok(s.duplicated > 80 && s.duplicated < 200, String(s.duplicated))
  assert.is(s.delivered, s.sent - s.dropped + s.duplicated)
  assert.is(log.length, s.delivered)
})

test('a full queue loses new sends, counts them, and takes sends again once drained', () => {
  const { net, log, send } = cluster(2, { maxQueued: 3 })
  for (let i = 0; i < 5; i++) send(1, 2, i)
  assert.is(net.pending, 3)
  assert.is(net.stats.overflowed, 2)
  net.deliverAll()
  send(1, 2, 9)
  net.deliverAll()
  assert.equal(log, ['1>2:0', '1>2:1', '1>2:2', '1>2:9'])
  assert.throws(() => new SimNetwork({ maxQueued: 0 }), /maxQueued must be a positive integer/)
})

test('delays hold messages until the SimClock reaches their due time', () => {
  const clock = new SimClock()
  const { net, log, send } = cluster(2, { clock, prng: new Prng(1), minDelay: 5, maxDelay: 10 })
  send(1, 2, 1)
  send(2, 1, 2)
  assert.is(net.deliverAll(), 0)
  clock.advance(4)
  assert.is(net.deliverAll(), 0)
  clock.advance(6)
  assert.is(net.deliverAll(), 2)
  assert.is(log.length, 2)
  assert.throws(() => new SimNetwork({ maxDelay: 3 }), /need a clock/)
  assert.throws(() => net.setFaults({ dropProbability: 2 }), /\[0, 1\]/)
})

test('with random delays, every one of 5000 messages arrives once its time comes, some out of send order', () => {
  const clock = new SimClock()
  const net = new SimNetwork({ clock, prng: new Prng(8), minDelay: 0, maxDelay: 20 })
  const got: number[] = []
  net.endpoint(2).onMessage((_from, m) => got.push(new DataView(m.buffer, m.byteOffset, m.byteLength).getUint32(0)))
  const a = net.endpoint(1)
  const due = new Map<number, number>()
  for (let i = 0; i < 5000; i++) {
    const m = new Uint8Array(4)
    new DataView(m.buffer).setUint32(0, i)
    a.send(2, m)
    if (i % 100 === 99) clock.advance(1)
    due.set(i, clock.now())
  }
  clock.advance(100)
  assert.is(net.deliverAll(), 5000)
  assert.is(net.pending, 0)
  assert.equal([...got].sort((x, y) => x - y), [...due.keys()])
  assert.not.equal(got, [...due.keys()], 'delays reordered some messages')
})

test('reordering delivers messages out of send order', () => {
  const { net, log, send } = cluster(2, { prng: new Prng(5), reorderProbability: 0.5 })
  for (let i = 0; i < 50; i++) send(1, 2, i)
  net.deliverAll()
  const order = log.map((l) => Number(l.split(':')[1]))
  assert.not.equal(order, [...order].sort((a, b) => a - b))
  assert.equal([...order].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i))
})

/** A chatty run with every fault on; returns the delivery log. */
function chatter(seed: number): string[] {
  const clock = new SimClock()
  const { net, log, send } = cluster(4, { clock, prng: new Prng(seed), dropProbability: 0.1, duplicateProbability: 0.1, reorderProbability: 0.3, minDelay: 0, maxDelay: 3 })
  for (let round = 0; round < 20; round++) {
    for (let from = 1; from <= 4; from++) for (let to = 1; to <= 4; to++) if (from !== to) send(from, to, round)
    if (round === 5) net.partition([[1, 2], [3, 4]])
    if (round === 10) net.heal()
    clock.advance(1)
    net.deliverAll()
  }
  clock.advance(10)
  net.deliverAll()
  return log
}

test('the same seed gives the same delivery order, and another seed another', () => {
  const a = chatter(42)
  assert.ok(a.length > 100)
  assert.equal(chatter(42), a)
  assert.not.equal(chatter(43), a)
})

test.run()
