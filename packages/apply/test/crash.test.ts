// The cross-package crash test of the composition contract: wal + raft + backend + mvcc +
// lease + auth in one process under a minimal driver (mini-member.ts). A single member runs a
// mixed workload, crashes at a durable boundary, reopens, replays, runs on; its state must equal
// a run that never crashed and applied the same log (the ledger), and nothing acknowledged
// before the crash may be missing after it.
import assert from 'node:assert/strict'
import { MemoryBackend } from '@strata/backend'
import type { Entry } from '@strata/raft'
import type { Clock } from '@strata/seams'
import { Failpoints, Prng, SimFileSystem, isSimCrash, withSeed } from '@strata/testkit'
import { test } from 'uvu'
import { type RequestBody, StateMachine } from '../src/index.js'
import { MiniMember } from './mini-member.js'

/** A clock the test moves by hand; backend batch timers never fire (commits are explicit). */
class HandClock implements Clock {
  ms = 1_000_000
  now(): number {
    return this.ms
  }
  setTimer(): { cancel(): void } {
    return { cancel() {} }
  }
}

type Step = { readonly body: RequestBody } | { readonly commit: true } | { readonly advanceMs: number } | { readonly restart: true }

const KEYS = ['a', 'b', 'c', 'd', 'e']

/** A seeded mixed workload: puts, txns, deletes, leases (some expire), users and roles, compactions. */
function workload(prng: Prng, n: number): Step[] {
  const steps: Step[] = []
  let lease = 100
  for (let i = 0; i < n; i++) {
    const key = prng.pick(KEYS)
    const r = prng.int(100)
    if (r < 30) steps.push({ body: { kind: 'put', key, value: `v${i}` } })
    else if (r < 40) steps.push({ body: { kind: 'put', key: `l/${key}`, value: `lv${i}`, lease: 100 + prng.int(lease - 99) } })
    else if (r < 48) steps.push({ body: { kind: 'deleteRange', key, prevKv: true } })
    else if (r < 58) {
      steps.push({
        body: {
          kind: 'txn',
          txn: {
            compare: [{ key, target: 'version', result: 'greater', value: prng.int(3) }],
            success: [{ put: { key, value: `t${i}` } }, { deleteRange: { key: prng.pick(KEYS.filter((k) => k !== key)) } }],
            failure: [{ put: { key: `${key}/miss`, value: `f${i}` } }],
          },
        },
      })
    } else if (r < 66) steps.push({ body: { kind: 'leaseGrant', id: lease++, ttlSeconds: 2 + prng.int(8) } })
    else if (r < 70) steps.push({ body: { kind: 'leaseRevoke', id: 100 + prng.int(lease - 99) } })
    else if (r < 76) steps.push({ body: { kind: 'userAdd', name: `u${prng.int(4)}`, hashedPassword: '', noPassword: true } })
    else if (r < 80) steps.push({ body: { kind: 'roleAdd', name: `r${prng.int(3)}` } })
    else if (r < 84) steps.push({ body: { kind: 'roleGrantPermission', role: `r${prng.int(3)}`, permission: { type: 'readwrite', key, end: undefined } } })
    else if (r < 87) steps.push({ body: { kind: 'userGrantRole', user: `u${prng.int(4)}`, role: `r${prng.int(3)}` } })
    else if (r < 89) steps.push({ body: { kind: 'compact', revision: 1 + prng.int(i + 1) } })
    else if (r < 93) steps.push({ commit: true })
    else if (r < 95) steps.push({ restart: true })
    else steps.push({ advanceMs: 1000 * (1 + prng.int(4)) })
  }
  return steps
}

/** What must be equal between two members that applied the same log. */
function digest(sm: StateMachine): unknown {
  const leases = sm.lessor.leases().map((l) => ({ id: l.id, ttl: l.ttl, keys: sm.lessor.keysOf(l.id).map((k) => Buffer.from(k).toString()) }))
  leases.sort((a, b) => a.id - b.id)
  return {
    applied: sm.applied.index,
    revision: sm.mvcc.revision,
    compactRevision: sm.mvcc.compactRevision,
    hash: sm.mvcc.hash(),
    leases,
    authRevision: sm.auth.revision,
    authEnabled: sm.auth.enabled,
    users: sm.auth.userList().map((u) => sm.auth.userGet(u)),
    roles: sm.auth.roleList().map((r) => sm.auth.roleGet(r)),
  }
}

/** Applies `ledger` (index -> entry) to a fresh state machine that never crashes. */
async function reference(ledger: Map<number, Entry>): Promise<unknown> {
  const clock = new HandClock()
  const sm = await StateMachine.open(new MemoryBackend({ clock }), { clock })
  await sm.bootstrap({ voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false })
  for (const index of [...ledger.keys()].sort((a, b) => a - b)) sm.apply(ledger.get(index)!)
  const d = digest(sm)
  await sm.close()
  return d
}

interface RunResult {
  readonly digest: unknown
  readonly ledger: Map<number, Entry>
  readonly crashes: number
}

/**
 * Runs `steps` on one member; `arm` arms the crash (a failpoint or a file-system crash point).
 * After a crash: the disk loses what was not synced, the backend what was not committed; the
 * member reopens, and every acknowledged entry must be applied again before the run goes on.
 */
async function run(steps: Step[], seed: number, arm: (fps: Failpoints, fs: SimFileSystem) => void): Promise<RunResult> {
  const prng = new Prng(seed)
  const fs = new SimFileSystem({ prng: prng.fork(), crashMode: 'random' })
  const clock = new HandClock()
  const fps = new Failpoints()
  let backend = new MemoryBackend({ clock, failpoint: fps.fn })
  const ledger = new Map<number, Entry>()
  const env = () => ({ fs, backend, clock, rng: prng.fork(), failpoint: fps.fn, snapshotEvery: 25, onApplied: (e: Entry) => ledger.set(e.index, e) })
  let acked = 0
  let crashes = 0
  arm(fps, fs)
  let member: MiniMember | undefined
  for (let i = 0; i < steps.length; i++) {
    try {
      member ??= await MiniMember.open(env())
      assert.ok(member.sm.applied.index >= acked, `applied ${member.sm.applied.index} < acknowledged ${acked} after a restart`)
      const step = steps[i]!
      if ('body' in step) acked = Math.max(acked, (await member.propose(step.body)).index)
      else if ('commit' in step) await backend.commit()
      else if ('restart' in step) {
        // A clean stop and start: close must commit with the applied index (nothing re-applied).
        await member.close()
        backend = backend.reopen({ failpoint: fps.fn })
        member = undefined
      }
      else {
        clock.ms += step.advanceMs
        await member.expireLeases()
      }
    } catch (err) {
      if (!isSimCrash(err) && (err as { code?: string }).code !== 'ERR_FAILPOINT' && !isCrashOfBackend(err)) throw err
      crashes++
      for (const name of FAILPOINTS) fps.disarm(name as never)
      fs.crash()
      backend = backend.crash({ failpoint: fps.fn })
      member = undefined
    }
  }
  member ??= await MiniMember.open(env())
  assert.ok(member.sm.applied.index >= acked)
  const d = digest(member.sm)
  await member.close()
  return { digest: d, ledger, crashes }
}

/** After a failpoint fired inside a commit the backend refuses writes until restarted. */
function isCrashOfBackend(err: unknown): boolean {
  for (let e: unknown = err, n = 0; e instanceof Error && n < 8; e = e.cause, n++) {
    const code = (e as { code?: string }).code
    if (code === 'ERR_FAILPOINT' || code === 'ERR_BACKEND_COMMIT') return true
  }
  return false
}

/** The default run's size; `node scripts/sim.mjs apply` runs larger ones (APPLY_CRASH_SCALE). */
const SCALE = Number(process.env['APPLY_CRASH_SCALE'] ?? 3)

const FAILPOINTS = [
  'raftBeforeSave', 'raftAfterSave', 'beforeApplyOne', 'backendBeforeCommit', 'backendAfterCommit',
  'snapBeforeSave', 'snapAfterSave', 'snapBeforeApply', 'leaseBeforeRevokeExpired',
  'compactBeforeCommitBatch', 'compactAfterCommitBatch', 'walBeforeCut', 'walAfterRename',
]

test('a run that never crashes equals its own ledger applied afresh', async () => {
  await withSeed('apply-crash-baseline', async (prng) => {
    const steps = workload(prng, 100 * SCALE)
    const r = await run(steps, prng.nextU32(), () => {})
    assert.equal(r.crashes, 0)
    assert.deepEqual(r.digest, await reference(r.ledger))
  })
})

test('a crash at every durable boundary: reopen, replay, and the state equals a run that never crashed', async () => {
  await withSeed('apply-crash-failpoints', async (prng) => {
    const steps = workload(prng, 80 * SCALE)
    const seed = prng.nextU32()
    const hits = new Map<string, number>()
    for (const name of FAILPOINTS) {
      for (const nth of SCALE > 3 ? [1, 2, 3, 5, 8, 13] : [1, 2, 3, 5]) {
        const r = await run(steps, seed, (fps) => fps.arm(name as never, { skip: nth - 1 }))
        assert.deepEqual(r.digest, await reference(r.ledger), `${name} #${nth}`)
        hits.set(name, (hits.get(name) ?? 0) + r.crashes)
      }
    }
    for (const name of FAILPOINTS.filter((n) => !['snapBeforeApply', 'compactBeforeCommitBatch', 'compactAfterCommitBatch', 'walBeforeCut', 'walAfterRename'].includes(n))) {
      assert.ok((hits.get(name) ?? 0) > 0, `the workload never reached ${name}`)
    }
  })
})

test('power loss at file-system operations: unsynced bytes lost or torn, the state still equals the ledger', async () => {
  await withSeed('apply-crash-fs', async (prng) => {
    const steps = workload(prng, 80 * SCALE)
    const seed = prng.nextU32()
    for (let trial = 0; trial < 5 * SCALE; trial++) {
      const k = 5 + prng.int(300 * SCALE)
      const r = await run(steps, seed, (_fps, fs) => fs.crashAfter(k))
      assert.deepEqual(r.digest, await reference(r.ledger), `crash after fs op ${k}`)
    }
  })
})

test.run()
