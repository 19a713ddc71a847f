import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MemoryBackend } from '@strata/backend'
import type { WriteTx } from '@strata/backend'
import { withSeed } from '@strata/testkit'
import type { Prng } from '@strata/testkit'
import { LeaseError, Lessor } from '../src/index.js'
import type { LeaseCheckpoint } from '../src/index.js'
import { FakeKv, ManualClock, bytes, text } from './helpers.js'

type Entry =
  | { readonly type: 'grant'; readonly id: number; readonly ttl: number }
  | { readonly type: 'revoke'; readonly id: number }
  | { readonly type: 'put'; readonly key: string; readonly lease: number }
  | { readonly type: 'checkpoint'; readonly checkpoints: readonly LeaseCheckpoint[] }

const CI = bytes('consistent_index')

/**
 * One member's apply loop, as embed will run it: each entry's effects and the applied index are
 * written in ONE backend write; replay skips entries at or below the persisted index.
 */
class Member {
  readonly clock: ManualClock
  backend: MemoryBackend
  kv: FakeKv
  lessor: Lessor
  /** What applying each index answered ('ok' or an error code), to compare across members. */
  readonly results = new Map<number, string>()

  private constructor(clock: ManualClock, backend: MemoryBackend, kv: FakeKv, lessor: Lessor) {
    this.clock = clock
    this.backend = backend
    this.kv = kv
    this.lessor = lessor
  }

  static async open(clock: ManualClock, backend = new MemoryBackend({ clock })): Promise<Member> {
    const kv = new FakeKv(backend)
    const lessor = await Lessor.open(backend, { clock, rangeDeleter: kv })
    // Attachments are memory only: rebuilt from the keys, as mvcc's restore does.
    for (const [key, lease] of kv.keys()) if (lease !== 0) lessor.attach(lease, [bytes(key)])
    return new Member(clock, backend, kv, lessor)
  }

  appliedIndex(): number {
    const v = this.backend.read((tx) => tx.get('meta', CI))
    return v === undefined ? 0 : Number(text(v))
  }

  apply(index: number, entry: Entry): void {
    if (index <= this.appliedIndex()) return
    this.backend.write((tx) => {
      this.results.set(index, this.#applyOne(entry, tx))
      tx.put('meta', CI, bytes(String(index)))
    })
  }

  /** Power loss, then a restart from what had committed. */
  crashAndRestart(): Promise<Member> {
    return Member.open(this.clock, this.backend.crash())
  }

  #applyOne(entry: Entry, tx: WriteTx): string {
    try {
      switch (entry.type) {
        case 'grant': this.lessor.grant(entry.id, entry.ttl, { tx }); break
        case 'revoke': this.lessor.revoke(entry.id, { tx }); break
        case 'checkpoint': this.lessor.checkpoint(entry.checkpoints, { tx }); break
        case 'put': this.#put(entry.key, entry.lease, tx); break
      }
      return 'ok'
    } catch (err) {
      if (err instanceof LeaseError) return err.code
      throw err
    }
  }

  #put(key: string, lease: number, tx: WriteTx): void {
    // The applier rejects a put with an unknown lease before writing anything (etcd §4.3).
    if (lease !== 0 && this.lessor.lookup(lease) === undefined) throw new LeaseError('ERR_LEASE_NOT_FOUND', 'lease not found')
    const previous = this.lessor.leaseOf(bytes(key))
    this.kv.put(key, lease, tx)
    if (previous !== undefined && previous !== lease) this.lessor.detach(previous, [bytes(key)])
    if (lease !== 0) this.lessor.attach(lease, [bytes(key)])
  }

  /** Everything replicated state is made of, for comparing members. */
  state(): unknown {
    return {
      leases: this.lessor.leases().map((l) => [l.id, l.ttl, l.remainingTtl, l.keyCount]),
      keys: this.kv.keys(),
      revision: this.kv.revision(),
    }
  }
}

function randomLog(prng: Prng, length: number): Entry[] {
  const log: Entry[] = []
  const live: number[] = []
  for (let i = 0; i < length; i++) {
    const r = prng.int(100)
    const someId = (): number => (live.length > 0 && prng.bool(0.9) ? prng.pick(live) : 1 + prng.int(60))
    if (r < 30) {
      const id = 1 + prng.int(60) // small id space: duplicates (ERR_LEASE_EXISTS) happen
      log.push({ type: 'grant', id, ttl: prng.int(700) })
      if (!live.includes(id)) live.push(id)
    } else if (r < 50) {
      const id = someId()
      log.push({ type: 'revoke', id })
      const at = live.indexOf(id)
      if (at >= 0) live.splice(at, 1)
    } else if (r < 60) {
      log.push({ type: 'checkpoint', checkpoints: [{ id: someId(), remainingTtl: prng.int(600) }, { id: someId(), remainingTtl: 0 }] })
    } else {
      log.push({ type: 'put', key: `k${prng.int(40)}`, lease: prng.bool(0.2) ? 0 : someId() })
    }
  }
  return log
}

test('grant, revoke and checkpoint with the applied index in one transaction: crash and replay equal a member that never crashed', async () => {
  await withSeed('lease crash-replay', async (prng) => {
    const log = randomLog(prng, 1500)
    const clock = new ManualClock()
    const reference = await Member.open(new ManualClock())
    let member = await Member.open(clock)
    let crashes = 0
    for (let i = 0; i < log.length; i++) {
      reference.apply(i + 1, log[i]!)
      member.apply(i + 1, log[i]!)
      clock.advance(prng.int(40)) // batch timer (100 ms) commits now and then
      if (prng.int(60) === 0) {
        member = await member.crashAndRestart()
        crashes++
        assert.ok(member.appliedIndex() <= i + 1)
        // Replay the log above the persisted index, as the WAL replay would.
        for (let j = member.appliedIndex(); j <= i; j++) member.apply(j + 1, log[j]!)
        assert.equal(member.state(), reference.state(), `state after crash ${crashes} at entry ${i + 1}`)
      }
    }
    assert.ok(crashes > 5, `only ${crashes} crashes`)
    const codes = new Set(reference.results.values())
    for (const c of ['ok', 'ERR_LEASE_EXISTS', 'ERR_LEASE_NOT_FOUND']) assert.ok(codes.has(c), `the log never produced ${c}`)
    assert.ok(reference.kv.events.length > 0, 'no revoke deleted keys')
    assert.equal(member.state(), reference.state())
    for (const [index, result] of member.results) assert.is(result, reference.results.get(index), `entry ${index}`)
    member.lessor.checkValid()
  })
})

/** Applies `log` through a backend whose k-th `point` failpoint throws; restarts and replays on any failure. */
async function runWithCrashAt(log: readonly Entry[], point: 'backendBeforeCommit' | 'backendAfterCommit', k: number): Promise<{ member: Member; crashed: boolean }> {
  const clock = new ManualClock()
  let seen = 0
  const failpoint = (name: string): void => { if (name === point && ++seen === k) throw new Error(`power loss at ${point} #${k}`) }
  let member = await Member.open(clock, new MemoryBackend({ clock, failpoint }))
  let crashed = false
  for (let i = 0; i < log.length;) {
    try {
      member.apply(i + 1, log[i]!)
      clock.advance(30) // the batch timer commits every 100 ms
      if (member.backend.failure !== undefined) throw member.backend.failure
      i++
    } catch {
      crashed = true
      member = await member.crashAndRestart()
      for (let j = member.appliedIndex(); j < i; j++) member.apply(j + 1, log[j]!)
    }
  }
  return { member, crashed }
}

test('a crash at every backend commit failpoint, then replay, reaches the state of a member that never crashed', async () => {
  await withSeed('lease crash at every commit', async (prng) => {
    const log = randomLog(prng, 300)
    const reference = await Member.open(new ManualClock())
    log.forEach((e, i) => reference.apply(i + 1, e))
    for (const point of ['backendBeforeCommit', 'backendAfterCommit'] as const) {
      let k = 1
      for (;; k++) {
        const { member, crashed } = await runWithCrashAt(log, point, k)
        if (!crashed) break // k is past the last commit
        assert.equal(member.state(), reference.state(), `crash at ${point} #${k}`)
        for (const [index, result] of member.results) assert.is(result, reference.results.get(index), `entry ${index} after crash at ${point} #${k}`)
      }
      if (process.env.LEASE_DEBUG) console.log(`${point}: ${k - 1} crash points`)
      assert.ok(k > 20, `only ${k - 1} commits exercised at ${point}`)
    }
  })
})

test('a grant whose transaction did not commit is applied again on replay, exactly once', async () => {
  const clock = new ManualClock()
  let m = await Member.open(clock)
  m.apply(1, { type: 'grant', id: 5, ttl: 60 })
  clock.advance(100) // committed
  m.apply(2, { type: 'grant', id: 6, ttl: 60 })
  m.apply(3, { type: 'revoke', id: 5 })
  m = await m.crashAndRestart()
  assert.is(m.appliedIndex(), 1)
  assert.equal(m.lessor.leases().map((l) => l.id), [5])
  m.apply(1, { type: 'grant', id: 5, ttl: 60 }) // skipped: ≤ applied index
  m.apply(2, { type: 'grant', id: 6, ttl: 60 })
  m.apply(3, { type: 'revoke', id: 5 })
  assert.equal(m.lessor.leases().map((l) => l.id), [6])
  assert.equal([...m.results.values()], ['ok', 'ok'], 'no ERR_LEASE_EXISTS on replay')
})

test('control: writing the applied index in a separate transaction re-applies a grant (the #11935 bug class)', async () => {
  const clock = new ManualClock()
  const backend = new MemoryBackend({ clock })
  const lessor = await Lessor.open(backend, { clock })
  backend.write((tx) => lessor.grant(5, 60, { tx }))
  clock.advance(100) // the periodic commit lands between the effects and the index
  backend.write((tx) => tx.put('meta', CI, bytes('1')))
  const after = await Member.open(clock, backend.crash())
  assert.is(after.appliedIndex(), 0)
  after.apply(1, { type: 'grant', id: 5, ttl: 60 })
  assert.is(after.results.get(1), 'ERR_LEASE_EXISTS', 'the harness detects the divergence')
})

test.run()
