// The #11651 scenario (reference §5.5): auth mutations and the applied index share one backend
// transaction, so after a crash the member replays exactly the entries above the persisted index
// and ends with the auth revision and state of a member that never crashed.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MemoryBackend, type WriteTx } from '@strata/backend'
import { Prng, seedFromEnv, withSeed } from '@strata/testkit'
import { AuthError, AuthStore, PasswordHasher, type MutationOptions } from '../src/index.js'
import { FakeClock } from './fake-clock.js'

const hasher = new PasswordHasher({ cost: 4 })
const INDEX_KEY = new TextEncoder().encode('consistent_index')

/** One committed raft entry carrying an auth mutation (hashes are in the entry, never passwords). */
interface Entry {
  readonly index: number
  readonly apply: (store: AuthStore, options: MutationOptions) => void
}

function appliedIndex(tx: { get: WriteTx['get'] }): number {
  const v = tx.get('meta', INDEX_KEY)
  return v === undefined ? 0 : Number(Buffer.from(v).readBigUInt64BE(0))
}

function u64(n: number): Uint8Array {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(BigInt(n))
  return b
}

/** The driver's apply step: effects and the applied index in one write; replays are skipped. */
function applyEntry(backend: MemoryBackend, store: AuthStore, entry: Entry): void {
  backend.write((tx) => {
    if (entry.index <= appliedIndex(tx)) return
    try {
      entry.apply(store, { tx })
    } catch (err) {
      if (!(err instanceof AuthError)) throw err // a rejected request still consumes its index
    }
    tx.put('meta', INDEX_KEY, u64(entry.index))
  })
}

/** The pre-fix driver (#11651): the index is saved only with other (kv) writes, not with auth ones. */
function applyEntryBuggy(backend: MemoryBackend, store: AuthStore, entry: Entry, kvIndexEvery: number): void {
  backend.write((tx) => {
    if (entry.index <= appliedIndex(tx)) return
    try {
      entry.apply(store, { tx })
    } catch (err) {
      if (!(err instanceof AuthError)) throw err
    }
    if (entry.index % kvIndexEvery === 0) tx.put('meta', INDEX_KEY, u64(entry.index))
  })
}

async function makeLog(p: Prng, n: number): Promise<Entry[]> {
  const hashes = [await hasher.hash('a'), await hasher.hash('b')]
  const users = ['root', 'u1', 'u2', 'u3']
  const roles = ['root', 'r1', 'r2']
  const keys = ['a', 'b', 'c', 'k']
  const ops: ((s: AuthStore, o: MutationOptions) => void)[] = []
  for (let i = 0; i < n; i++) {
    const u = p.pick(users)
    const r = p.pick(roles)
    const key = p.pick(keys)
    const hash = p.pick(hashes)
    // Every random part is drawn here: applying (or replaying) an entry must not consume the Prng.
    const kind = p.int(11)
    const type = p.pick(['read', 'write', 'readwrite'] as const)
    const end = p.bool() ? '' : '\0'
    ops.push((s, o) => {
      if (kind === 0) s.userAdd({ name: u, hashedPassword: hash }, o)
      else if (kind === 1) s.userDelete(u, o)
      else if (kind === 2) s.userChangePassword({ name: u, hashedPassword: hash }, o)
      else if (kind === 3) s.userGrantRole({ user: u, role: r }, o)
      else if (kind === 4) s.userRevokeRole({ user: u, role: r }, o)
      else if (kind === 5) s.roleAdd(r, o)
      else if (kind === 6) s.roleDelete(r, o)
      else if (kind === 7) s.roleGrantPermission({ role: r, permission: { type, key, end } }, o)
      else if (kind === 8) s.roleRevokePermission({ role: r, key, end: '' }, o)
      else if (kind === 9) s.authEnable(o)
      else s.authDisable(o)
    })
  }
  return ops.map((apply, i) => ({ index: i + 1, apply }))
}

function digest(store: AuthStore): unknown {
  return {
    revision: store.revision,
    enabled: store.enabled,
    users: store.userList().map((n) => store.userGet(n)),
    roles: store.roleList().map((n) => store.roleGet(n)).map((r) => ({ ...r, permissions: r.permissions.map((q) => ({ ...q, key: [...q.key], end: [...(q.end ?? [])] })) })),
  }
}

function newStore(backend: MemoryBackend): Promise<AuthStore> {
  return AuthStore.open(backend, { hasher, rng: new Prng(1), clock: new FakeClock() })
}

test('crash at any point, replay the entries above the persisted index: same revision and state as a member that never crashed (seeded)', async () => {
  const seed = seedFromEnv()
  console.log(`auth replay property: seed=${seed} (replay with SEED=${seed})`)
  await withSeed('auth replay property', async (p) => {
    let lostWrites = 0
    for (let round = 0; round < 12; round++) {
      const log = await makeLog(p, 60)
      const clock = new FakeClock()
      const reference = new MemoryBackend({ clock, batchIntervalMs: 86_400_000 })
      const refStore = await newStore(reference)
      for (const e of log) applyEntry(reference, refStore, e)

      // The crashing member commits every few writes (batchLimit), then loses power mid-log.
      let backend = new MemoryBackend({ clock, batchIntervalMs: 86_400_000, batchLimit: 2 + p.int(5) })
      let store = await newStore(backend)
      const crashAt = p.int(log.length)
      for (const e of log.slice(0, crashAt)) applyEntry(backend, store, e)
      backend = backend.crash()
      store = await newStore(backend)
      const persisted = backend.read((tx) => appliedIndex(tx))
      assert.ok(persisted <= crashAt)
      if (persisted < crashAt) lostWrites++
      // Raft hands the driver every committed entry from its snapshot on; replay those above the index.
      for (const e of log) applyEntry(backend, store, e)
      assert.equal(digest(store), digest(refStore), `round ${round}, crash after ${crashAt}, persisted ${persisted}`)
    }
    assert.ok(lostWrites > 0, 'some crash lost uncommitted entries (otherwise the test proves nothing)')
  }, { seed })
})

test('replaying an already-applied entry does not bump the auth revision a second time', async () => {
  const backend = new MemoryBackend({ clock: new FakeClock(), batchIntervalMs: 86_400_000 })
  const store = await newStore(backend)
  const entry: Entry = { index: 1, apply: (s, o) => s.roleAdd('r', o) }
  applyEntry(backend, store, entry)
  await backend.commit()
  assert.is(store.revision, 2)
  const after = backend.crash()
  const again = await newStore(after)
  assert.is(again.revision, 2)
  applyEntry(after, again, entry) // the WAL replays entry 1; its effects are already in the backend
  assert.is(again.revision, 2)
  assert.equal(again.roleList(), ['r'])
})

test('without the shared transaction (the pre-fix driver) the replayed member runs ahead — the #11651 divergence', async () => {
  const hash = await hasher.hash('pw')
  const log: Entry[] = [
    { index: 1, apply: (s, o) => s.roleAdd('r', o) },
    { index: 2, apply: (s, o) => s.userAdd({ name: 'u', hashedPassword: hash }, o) },
    { index: 3, apply: (s, o) => s.roleGrantPermission({ role: 'r', permission: { type: 'read', key: 'k' } }, o) },
    { index: 4, apply: (s, o) => s.userGrantRole({ user: 'u', role: 'r' }, o) },
  ]
  const reference = new MemoryBackend({ clock: new FakeClock(), batchIntervalMs: 86_400_000 })
  const refStore = await newStore(reference)
  for (const e of log) applyEntry(reference, refStore, e)

  const backend = new MemoryBackend({ clock: new FakeClock(), batchIntervalMs: 86_400_000 })
  const store = await newStore(backend)
  for (const e of log) applyEntryBuggy(backend, store, e, 100) // no kv write: the index is never saved
  await backend.commit()
  const after = backend.crash()
  const replayed = await newStore(after)
  for (const e of log) applyEntryBuggy(after, replayed, e, 100)
  assert.ok(replayed.revision > refStore.revision, 'the re-applied mutations bumped the revision again')
  // Enable auth on both the same way; a request the leader stamps with the cluster's revision
  // then passes on the healthy member and fails on the replayed one only.
  for (const s of [refStore, replayed]) {
    s.userAdd({ name: 'root', noPassword: true })
    s.userGrantRole({ user: 'root', role: 'root' })
    s.authEnable()
  }
  const stampedNow = { username: 'u', revision: refStore.revision }
  refStore.checkPermission(stampedNow, { type: 'read', key: 'k' })
  let code: string | undefined
  try {
    replayed.checkPermission(stampedNow, { type: 'read', key: 'k' })
  } catch (err) {
    code = (err as AuthError).code
  }
  assert.is(code, 'ERR_AUTH_OLD_REVISION')
})

test.run()
