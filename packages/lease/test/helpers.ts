import assert from 'node:assert'
import { MemoryBackend } from '@strata/backend'
import type { Backend, WriteTx } from '@strata/backend'
import { Lessor } from '../src/index.js'
import type { LessorOptions, RangeDeleter } from '../src/index.js'

/** Virtual time (testkit's SimClock): moves only when a test calls `advance`. */
import { SimClock as ManualClock } from '@strata/testkit'
export { ManualClock }

const enc = new TextEncoder()
const dec = new TextDecoder()
export const bytes = (s: string): Uint8Array => enc.encode(s)
export const text = (b: Uint8Array): string => dec.decode(b)

const REV = bytes('rev')

/**
 * A stand-in for mvcc's side of revoke: keys live in the `key` bucket; `deleteKeys` is one
 * write transaction that bumps the revision (kept in `meta`) once when it deletes anything and
 * records the DELETE events in order.
 */
export class FakeKv implements RangeDeleter {
  readonly events: { revision: number; key: string }[] = []
  backend: Backend

  constructor(backend: Backend) {
    this.backend = backend
  }

  revision(): number {
    const v = this.backend.read((tx) => tx.get('meta', REV))
    return v === undefined ? 0 : Number(text(v))
  }

  /** Puts `key` at a new revision, recording the lease it is attached to (0: none). */
  put(key: string, lease: number, tx: WriteTx): void {
    const revision = this.#revision(tx) + 1
    tx.put('key', bytes(key), bytes(`${revision}:${lease}`))
    tx.put('meta', REV, bytes(String(revision)))
  }

  /** Every key with the lease it carries, in key order (how mvcc rebuilds attachments). */
  keys(): [string, number][] {
    const out: [string, number][] = []
    this.backend.read((tx) => tx.forEach('key', new Uint8Array(0), undefined, (k, v) => { out.push([text(k), Number(text(v).split(':')[1])]) }))
    return out
  }

  has(key: string): boolean {
    return this.backend.read((tx) => tx.get('key', bytes(key))) !== undefined
  }

  deleteKeys(keys: readonly Uint8Array[], tx: WriteTx): void {
    for (let i = 1; i < keys.length; i++) assert(Buffer.compare(keys[i - 1]!, keys[i]!) < 0, 'deleteKeys: keys not sorted')
    const existing = keys.filter((k) => tx.get('key', k) !== undefined)
    if (existing.length === 0) return
    const revision = this.#revision(tx) + 1
    for (const k of existing) {
      tx.delete('key', k)
      this.events.push({ revision, key: text(k) })
    }
    tx.put('meta', REV, bytes(String(revision)))
  }

  #revision(tx: WriteTx): number {
    const v = tx.get('meta', REV)
    return v === undefined ? 0 : Number(text(v))
  }
}

export interface Fixture {
  clock: ManualClock
  backend: MemoryBackend
  kv: FakeKv
  lessor: Lessor
}

/** A lessor over a fresh MemoryBackend, with a manual clock and a FakeKv as its RangeDeleter. */
export async function fixture(options: Omit<LessorOptions, 'clock'> = {}): Promise<Fixture> {
  const clock = new ManualClock()
  const backend = new MemoryBackend({ clock })
  const kv = new FakeKv(backend)
  const lessor = await Lessor.open(backend, { clock, rangeDeleter: kv, ...options })
  return { clock, backend, kv, lessor }
}
