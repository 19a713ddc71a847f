// A three-member cluster in one process: each member has its own data directory and talks to
// the others through an InProcessNetwork. The cluster elects a leader and takes writes; the
// leader is closed ("killed"); the survivors elect a new one while a client keeps writing
// (retrying while there is no leader); the old leader reopens and catches up to the same
// revision and the same hashKV as the others. Then everything closes and it exits 0.
//
//   node --conditions=source --import tsx examples/three-members/main.ts [dir]
//
// Without `dir` the members live in a new temporary directory, removed at the end.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EmbedError, InProcessNetwork, type OpenOptions, type Store, open } from '@strata/embed'

const base = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'strata-three-members-'))
const temporary = process.argv[2] === undefined
const ids = [1, 2, 3] as const
const net = new InProcessNetwork()
// 20 ms ticks and 10 ticks per election: a leader is missed after 200-400 ms. A request that
// finds no leader (ERR_EMBED_NO_LEADER), or was forwarded to one that died (ERR_EMBED_TIMEOUT
// after requestTimeoutMs), is retried by the client below.
const options = (id: number): OpenOptions => ({
  dir: join(base, `member-${id}`), memberId: id, initialCluster: ids.map((i) => ({ id: i })),
  transport: net.transport(id), tickMs: 20, electionTicks: 10, requestTimeoutMs: 1000,
})

const t0 = performance.now()
const log = (line: string): void => console.log(`[${((performance.now() - t0) / 1000).toFixed(2).padStart(5)} s] ${line}`)
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const members = new Map<number, Store>()

/** The leader every open member agrees on, once there is one (polls each member's status). */
async function leader(timeoutMs = 10_000): Promise<number> {
  const deadline = performance.now() + timeoutMs
  while (performance.now() < deadline) {
    const seen = [...members.values()].map((s) => s.maintenance.status().leader)
    const first = seen[0]
    if (first !== undefined && first !== 0 && members.has(first) && seen.every((l) => l === first)) return first
    await sleep(10)
  }
  throw new Error(`no leader agreed on by members ${[...members.keys()].join(', ')} within ${timeoutMs} ms`)
}

/** A put through `store`, retried while the cluster has no leader; returns the revision and how many tries failed. */
async function putRetrying(store: Store, key: string, value: string): Promise<{ revision: number; retries: string[] }> {
  const retries: string[] = []
  for (;;) {
    try {
      return { revision: (await store.put(key, value)).header.revision, retries }
    } catch (err) {
      const code = err instanceof EmbedError ? err.code : undefined
      if (code !== 'ERR_EMBED_NO_LEADER' && code !== 'ERR_EMBED_TIMEOUT') throw err
      retries.push(code)
      if (retries.length > 50) throw new Error(`no leader after ${retries.length} tries`, { cause: err })
      await sleep(50)
    }
  }
}

// ---- 1. Three members, one leader ---------------------------------------------------------
for (const store of await Promise.all(ids.map((id) => open(options(id))))) members.set(store.maintenance.status().header.memberId, store)
const first = await leader()
log(`members ${ids.join(', ')} open in ${base}; leader: member ${first} (term ${members.get(first)!.maintenance.status().raftTerm})`)

for (let i = 1; i <= 3; i++) {
  const { header } = await members.get(first)!.put(`orders/${i}`, `order ${i}`)
  log(`put orders/${i} through member ${first} (leader) -> revision ${header.revision}`)
}

// ---- 2. Kill the leader; the survivors elect a new one while writes go on --------------------
await members.get(first)!.close()
members.delete(first)
const survivors = [...members.keys()]
log(`closed member ${first} (the leader); survivors: ${survivors.join(', ')}`)
const killedAt = performance.now()
const elected = leader().then((id) => {
  log(`survivors elected member ${id} (term ${members.get(id)!.maintenance.status().raftTerm}), ${((performance.now() - killedAt) / 1000).toFixed(2)} s after the kill`)
  return id
})
for (let i = 4; i <= 6; i++) {
  const via = survivors[i % survivors.length]!
  const { revision, retries } = await putRetrying(members.get(via)!, `orders/${i}`, `order ${i}`)
  const summary = retries.length === 0 ? '' : ` after ${retries.length} retries (${[...new Set(retries)].join(', ')})`
  log(`put orders/${i} through member ${via} -> revision ${revision}${summary}`)
}
const second = await elected

// ---- 3. The old leader reopens and catches up ---------------------------------------------
members.set(first, await open(options(first)))
log(`reopened member ${first}`)
await leader()
const target = (await members.get(second)!.get('orders/', { prefix: true, countOnly: true })).header.revision
const deadline = performance.now() + 10_000
while ((await members.get(first)!.get('orders/', { prefix: true, countOnly: true, serializable: true })).header.revision < target) {
  if (performance.now() > deadline) throw new Error(`member ${first} did not reach revision ${target} within 10 s`)
  await sleep(10)
}
for (const id of ids) {
  const s = members.get(id)!
  const { hash, compactRevision } = await s.maintenance.hashKV(target)
  const r = await s.get('orders/', { prefix: true, serializable: true })
  log(`member ${id}${id === second ? ' (leader)' : ''}: revision ${r.header.revision}, ${r.count} keys under orders/, hashKV(${target}) = ${hash} (compact revision ${compactRevision})`)
}
const hashes = await Promise.all(ids.map(async (id) => (await members.get(id)!.maintenance.hashKV(target)).hash))
if (new Set(hashes).size !== 1) throw new Error(`the members disagree: hashKV(${target}) = ${hashes.join(', ')}`)
log(`member ${first} caught up: the same revision and hashKV on all three`)

// ---- 4. Close everything ---------------------------------------------------------------------
await Promise.all([...members.values()].map((s) => s.close()))
if (temporary) rmSync(base, { recursive: true, force: true })
log('closed all three members')
