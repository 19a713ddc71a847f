/**
 * A linearizability checker (Wing & Gong's search with Lowe's memoization, the algorithm of
 * Jepsen's Knossos and of Porcupine): decides whether a concurrent history of operations could
 * have happened, in some order consistent with real time, on a sequential model.
 */

/** One operation of a history: invoked at `call`, answered at `return` (same time unit). */
export interface HistoryOperation<I, O> {
  readonly input: I
  /** The answer; an operation with no answer (timed out) has `return: Infinity`. */
  readonly output: O
  readonly call: number
  readonly return: number
  /** Which client issued it (for messages only). */
  readonly client?: number
}

/**
 * A sequential specification. States are immutable values and never `undefined` (which `step`
 * uses to say "impossible"); use `null` for "nothing".
 */
export interface Model<S, I, O> {
  init(): S
  /** The state after applying `input` that answered `output` to `state`, or undefined if impossible. */
  step(state: S, input: I, output: O): S | undefined
  /** A string equal for equal states (memoization). Default: JSON.stringify. */
  key?(state: S): string
  /** Splits a history into independent parts (per key, for a key-value store). Default: one part. */
  partition?(history: readonly HistoryOperation<I, O>[]): HistoryOperation<I, O>[][]
  /** How an operation reads in a failure message. Default: JSON of input and output. */
  describe?(input: I, output: O): string
}

export interface CheckOptions {
  /** Most search steps per part before giving up with `unknown`. Default 10000000. */
  readonly maxSteps?: number
}

export type CheckResult =
  | { readonly result: 'ok' }
  | { readonly result: 'illegal'; readonly part: number; readonly operations: readonly string[] }
  | { readonly result: 'unknown'; readonly part: number }

interface Entry {
  readonly isCall: boolean
  readonly id: number
  readonly time: number
  /** For a call: its return entry. */
  match: Entry | undefined
  prev: Entry | undefined
  next: Entry | undefined
}

/** Builds the time-ordered entry list (calls before returns at equal times: they overlap). */
function entries<I, O>(ops: readonly HistoryOperation<I, O>[]): Entry {
  const list: Entry[] = []
  ops.forEach((op, id) => {
    if (!(op.call <= op.return)) throw new RangeError(`operation ${id} returns (${op.return}) before its call (${op.call})`)
    const ret: Entry = { isCall: false, id, time: op.return, match: undefined, prev: undefined, next: undefined }
    list.push({ isCall: true, id, time: op.call, match: ret, prev: undefined, next: undefined }, ret)
  })
  list.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall) || a.id - b.id)
  const head: Entry = { isCall: false, id: -1, time: -Infinity, match: undefined, prev: undefined, next: undefined }
  let prev = head
  for (const e of list) {
    e.prev = prev
    prev.next = e
    prev = e
  }
  return head
}

function lift(call: Entry): void {
  call.prev!.next = call.next
  call.next!.prev = call.prev
  const ret = call.match!
  ret.prev!.next = ret.next
  if (ret.next !== undefined) ret.next.prev = ret.prev
}

function unlift(call: Entry): void {
  const ret = call.match!
  ret.prev!.next = ret
  if (ret.next !== undefined) ret.next.prev = ret
  call.prev!.next = call
  call.next!.prev = call
}

/** A 32-bit value per operation id, mixed from the id (splitmix32): the memo's hash of a set of ids is the XOR of theirs. */
function idHash(id: number): number {
  let z = (id + 0x9e3779b9) | 0
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

/**
 * The configurations already explored: a set of linearized operations (a bitset) with the
 * model's state after them. Looked up by the state's key and an incremental hash of the set
 * (Porcupine's cache), the sets compared word by word: a step costs O(n / 32), not the O(n)
 * string of every operation's flag it once built.
 */
class Memo {
  readonly #byKey = new Map<string, Uint32Array[]>()

  /** Adds the configuration; false if it was there already. */
  add(hash: number, stateKey: string, bits: Uint32Array): boolean {
    const k = `${hash}|${stateKey}`
    const list = this.#byKey.get(k)
    if (list === undefined) {
      this.#byKey.set(k, [bits.slice()])
      return true
    }
    for (const seen of list) if (equalBits(seen, bits)) return false
    list.push(bits.slice())
    return true
  }
}

function equalBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Checks one part; returns true, false, or undefined when `maxSteps` ran out. */
function checkPart<S, I, O>(model: Model<S, I, O>, ops: readonly HistoryOperation<I, O>[], maxSteps: number): boolean | undefined {
  const key = model.key ?? ((s: S) => JSON.stringify(s))
  const head = entries(ops)
  /** The linearized operations: bit `id % 32` of word `id >> 5`; `hash` is the XOR of their idHash. */
  const linearized = new Uint32Array((ops.length + 31) >> 5)
  const hashes = Array.from({ length: ops.length }, (_, id) => idHash(id))
  let hash = 0
  const seen = new Memo()
  const stack: { call: Entry; state: S }[] = []
  let state = model.init()
  let entry = head.next
  for (let steps = 0; head.next !== undefined; steps++) {
    if (steps >= maxSteps) return undefined
    if (entry !== undefined && entry.isCall) {
      const op = ops[entry.id]!
      const next = model.step(state, op.input, op.output)
      if (next !== undefined) {
        const id = entry.id
        linearized[id >> 5]! |= 1 << (id & 31)
        if (seen.add((hash ^ hashes[id]!) >>> 0, key(next), linearized)) {
          hash = (hash ^ hashes[id]!) >>> 0
          stack.push({ call: entry, state })
          state = next
          lift(entry)
          entry = head.next
          continue
        }
        linearized[id >> 5]! &= ~(1 << (id & 31))
      }
      entry = entry.next
      continue
    }
    // A return whose call is not linearized yet: undo the last choice and try the next one.
    const top = stack.pop()
    if (top === undefined) return false
    state = top.state
    const id = top.call.id
    linearized[id >> 5]! &= ~(1 << (id & 31))
    hash = (hash ^ hashes[id]!) >>> 0
    unlift(top.call)
    entry = top.call.next
  }
  return true
}

/** Whether `history` is linearizable with respect to `model`. */
export function checkLinearizable<S, I, O>(model: Model<S, I, O>, history: readonly HistoryOperation<I, O>[], options: CheckOptions = {}): CheckResult {
  const parts = model.partition?.(history) ?? [[...history]]
  const maxSteps = options.maxSteps ?? 10_000_000
  const describe = model.describe ?? ((i: I, o: O) => `${JSON.stringify(i)} -> ${JSON.stringify(o)}`)
  for (const [part, ops] of parts.entries()) {
    const ok = checkPart(model, ops, maxSteps)
    if (ok === undefined) return { result: 'unknown', part }
    if (!ok) {
      const sorted = [...ops].sort((a, b) => a.call - b.call)
      const operations = sorted.map((op) => `[${op.call}, ${op.return}]${op.client === undefined ? '' : ` client ${op.client}`}: ${describe(op.input, op.output)}`)
      return { result: 'illegal', part, operations }
    }
  }
  return { result: 'ok' }
}

/** An operation on a key-value register. */
export type KvInput =
  | { readonly kind: 'get'; readonly key: string }
  | { readonly kind: 'put'; readonly key: string; readonly value: string }
  | { readonly kind: 'delete'; readonly key: string }

/** What a get returned (`undefined` value: the key was absent); `undefined` output: unknown (no answer). */
export type KvOutput = { readonly value: string | undefined } | undefined

/**
 * The model of a key-value store with get, put and delete on single keys, partitioned by key
 * (keys are independent registers, so each is checked alone: exponentially cheaper).
 */
export const kvModel: Model<string | null, KvInput, KvOutput> = {
  init: () => null,
  step(state, input, output) {
    if (input.kind === 'put') return input.value
    if (input.kind === 'delete') return null
    if (output === undefined || (output.value ?? null) === state) return state
    return undefined
  },
  key: (state) => (state === null ? '\u0000absent' : `=${state}`),
  partition(history) {
    const byKey = new Map<string, HistoryOperation<KvInput, KvOutput>[]>()
    for (const op of history) {
      const list = byKey.get(op.input.key) ?? []
      list.push(op)
      byKey.set(op.input.key, list)
    }
    return [...byKey.keys()].sort().map((k) => byKey.get(k)!)
  },
  describe(input, output) {
    if (input.kind === 'get') return `get ${input.key} -> ${output === undefined ? '?' : output.value ?? '(absent)'}`
    return input.kind === 'put' ? `put ${input.key}=${input.value}` : `delete ${input.key}`
  },
}
