import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { checkLinearizable, kvModel, withSeed } from '../src/index.js'
import type { HistoryOperation, KvInput, KvOutput, Model, Prng } from '../src/index.js'

type Op = HistoryOperation<KvInput, KvOutput>
const put = (key: string, value: string, call: number, ret: number, client?: number): Op => ({ input: { kind: 'put', key, value }, output: { value: undefined }, call, return: ret, ...(client === undefined ? {} : { client }) })
const del = (key: string, call: number, ret: number): Op => ({ input: { kind: 'delete', key }, output: { value: undefined }, call, return: ret })
const get = (key: string, value: string | undefined, call: number, ret: number): Op => ({ input: { kind: 'get', key }, output: { value }, call, return: ret })

test('a sequential history that follows the model is linearizable; one that does not is illegal', () => {
  assert.equal(checkLinearizable(kvModel, [put('x', '1', 0, 1), get('x', '1', 2, 3), del('x', 4, 5), get('x', undefined, 6, 7)]), { result: 'ok' })
  const bad = checkLinearizable(kvModel, [put('x', '1', 0, 1), put('x', '2', 2, 3), get('x', '1', 4, 5)])
  assert.is(bad.result, 'illegal')
  if (bad.result === 'illegal') assert.equal(bad.operations, ['[0, 1]: put x=1', '[2, 3]: put x=2', '[4, 5]: get x -> 1'])
})

test('a read concurrent with a write may see either value', () => {
  for (const seen of ['0', '1']) {
    assert.is(checkLinearizable(kvModel, [put('x', '0', 0, 1), put('x', '1', 2, 10), get('x', seen, 3, 5)]).result, 'ok')
  }
  assert.is(checkLinearizable(kvModel, [put('x', '0', 0, 1), put('x', '1', 2, 10), get('x', '2', 3, 5)]).result, 'illegal')
})

test('once a read saw the new value, a later read may not see the old one', () => {
  const history = [put('x', '1', 0, 10, 1), get('x', '1', 1, 5), get('x', undefined, 6, 8)]
  assert.is(checkLinearizable(kvModel, history).result, 'illegal')
  assert.is(checkLinearizable(kvModel, [put('x', '1', 0, 10, 1), get('x', undefined, 1, 5), get('x', '1', 6, 8)]).result, 'ok')
})

test('an operation that touches the end of another at the same instant counts as concurrent', () => {
  assert.is(checkLinearizable(kvModel, [put('x', '1', 0, 5), get('x', undefined, 5, 6)]).result, 'ok')
})

test('an unanswered write may or may not have taken effect', () => {
  const pending: Op = { input: { kind: 'put', key: 'x', value: '9' }, output: undefined, call: 0, return: Infinity }
  assert.is(checkLinearizable(kvModel, [pending, get('x', undefined, 1, 2), get('x', '9', 3, 4)]).result, 'ok')
  assert.is(checkLinearizable(kvModel, [pending, get('x', '9', 1, 2), get('x', undefined, 3, 4)]).result, 'illegal')
})

test('keys are checked independently and the failing part is named', () => {
  const r = checkLinearizable(kvModel, [put('a', '1', 0, 1), get('a', '1', 2, 3), put('b', '1', 0, 1), get('b', '2', 2, 3)])
  assert.is(r.result, 'illegal')
  if (r.result === 'illegal') assert.is(r.part, 1)
  assert.throws(() => checkLinearizable(kvModel, [put('a', '1', 5, 1)]), /before its call/)
})

test('a search over its step budget reports unknown', () => {
  const ops = Array.from({ length: 12 }, (_, i) => put('x', String(i), 0, 100))
  ops.push(get('x', 'never', 101, 102))
  assert.is(checkLinearizable(kvModel, ops, { maxSteps: 50 }).result, 'unknown')
  assert.is(checkLinearizable(kvModel, ops).result, 'illegal')
})

test('a custom model without partitions works too (a counter)', () => {
  const counter: Model<number, 'inc' | 'read', number> = {
    init: () => 0,
    step: (s, input, output) => (input === 'inc' ? s + 1 : output === s ? s : undefined),
  }
  const h: HistoryOperation<'inc' | 'read', number>[] = [
    { input: 'inc', output: 0, call: 0, return: 10 },
    { input: 'inc', output: 0, call: 0, return: 10 },
    { input: 'read', output: 1, call: 1, return: 2 },
    { input: 'read', output: 2, call: 3, return: 4 },
  ]
  assert.is(checkLinearizable(counter, h).result, 'ok')
  assert.is(checkLinearizable(counter, [...h, { input: 'read', output: 1, call: 11, return: 12 }]).result, 'illegal')
})

/**
 * A history from a real atomic register: each operation takes effect at one instant inside
 * its [call, return] interval, with several clients overlapping.
 */
function registerHistory(prng: Prng, n: number): Op[] {
  const events = Array.from({ length: n }, (_, i) => ({ at: i * 10 + prng.int(10), client: prng.int(4), kind: prng.pick(['get', 'put', 'delete'] as const) }))
  let value: string | undefined
  return events.map((e, i): Op => {
    const call = e.at - prng.int(30)
    const ret = e.at + prng.int(30)
    if (e.kind === 'put') { value = `v${i}`; return put('k', value, call, ret, e.client) }
    if (e.kind === 'delete') { value = undefined; return del('k', call, ret) }
    return get('k', value, call, ret)
  })
}

test('histories of a real atomic register are linearizable, and changing one read breaks that', () =>
  withSeed('linearizability register', (prng) => {
    for (let round = 0; round < 30; round++) {
      const history = registerHistory(prng, 60)
      assert.is(checkLinearizable(kvModel, history).result, 'ok')
      const reads = history.map((op, i) => (op.input.kind === 'get' ? i : -1)).filter((i) => i >= 0)
      if (reads.length === 0) continue
      const victim = prng.pick(reads)
      const broken = history.map((op, i) => (i === victim ? { ...op, output: { value: 'never-written' } } : op))
      assert.is(checkLinearizable(kvModel, broken).result, 'illegal')
    }
  }))

test.run()
