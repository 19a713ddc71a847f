// Service registration with leases and a watch, in one embedded store.
//
//   node --conditions=source --import tsx examples/leases-and-watch/main.ts [dir]
//
// Two instances of a service `api` register `services/api/<id>` with a lease of TTL_SECONDS,
// each kept alive by `lease.keepAlive`; a watcher on `services/` prints every join and leave.
// After both outlive their TTL a few times over, instance 2 stops renewing (as a process that
// hangs or dies would): its key disappears when the lease expires, with no one deleting it.
// Instance 1 then deregisters on purpose (revoke: its key goes at once). Then everything closes
// and the program exits 0.
import { open } from '@strata/embed'

const dir = process.argv[2] ?? '.demo-data/leases-and-watch'
/** The lease's TTL; 2 s is the store's minimum. Expiry is checked by the leader on each tick (tickMs, 100 ms by default). */
const TTL_SECONDS = 2

const text = new TextDecoder()
const t0 = performance.now()
const log = (line: string): void => console.log(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(4)} s] ${line}`)
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

const store = await open({ dir })

// Registrations left by an earlier run (their leases may not have expired yet) are removed first.
const leftover = await store.delete('services/', { prefix: true })
if (leftover.deleted > 0) log(`removed ${leftover.deleted} registrations left by an earlier run`)

// ---- The watcher: joins and leaves under services/ -------------------------------------------
type Change = { type: 'join' | 'leave' | 'update'; key: string; at: number }
const changes: Change[] = []
let notify: (() => void) | undefined
const watch = store.watch('services/', { prefix: true })
const watching = (async () => {
  for await (const r of watch) {
    for (const e of r.events) {
      const key = text.decode(e.kv.key)
      const type = e.type === 'delete' ? 'leave' : e.kv.version === 1 ? 'join' : 'update'
      changes.push({ type, key, at: performance.now() })
      if (type === 'leave') log(`watch: LEAVE ${key} (revision ${e.kv.modRevision})`)
      else log(`watch: ${type.toUpperCase()} ${key} -> ${text.decode(e.kv.value)} (revision ${e.kv.modRevision}, lease ${e.kv.lease.toString(16)})`)
      notify?.()
    }
  }
})()

/** Resolves with the first change matching `pred` (already seen or still to come); rejects after `ms`. */
async function waitFor(pred: (c: Change) => boolean, ms: number): Promise<Change> {
  const deadline = performance.now() + ms
  for (;;) {
    const found = changes.find(pred)
    if (found !== undefined) return found
    const left = deadline - performance.now()
    if (left <= 0) throw new Error(`no such change within ${ms} ms`)
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, left)
      notify = () => { clearTimeout(timer); resolve() }
    })
  }
}

// ---- The instances -----------------------------------------------------------------------------
interface Instance { key: string; leaseId: number; renewals: number; lastRenewal: number; stop(): Promise<void> }

async function register(service: string, id: number, address: string): Promise<Instance> {
  const lease = await store.lease.grant(TTL_SECONDS)
  const key = `services/${service}/${id}`
  await store.put(key, address, { lease: lease.id })
  const keepAlive = store.lease.keepAlive(lease.id) // renews now, then every third of the TTL
  const instance: Instance = {
    key, leaseId: lease.id, renewals: 0, lastRenewal: performance.now(),
    stop: async () => {
      keepAlive.cancel()
      await renewing
    },
  }
  const renewing = (async () => {
    try {
      for await (const _ of keepAlive) {
        instance.renewals++
        instance.lastRenewal = performance.now()
      }
    } catch (err) {
      log(`${key}: keep-alive ended: ${err instanceof Error ? err.message : String(err)}`)
    }
  })()
  log(`${key} registered with lease ${lease.id.toString(16)} (TTL ${lease.ttlSeconds} s), kept alive`)
  return instance
}

const one = await register('api', 1, '10.0.0.1:8080')
const two = await register('api', 2, '10.0.0.2:8080')
await waitFor((c) => c.type === 'join' && c.key === two.key, 2000)

await sleep(2 * TTL_SECONDS * 1000)
const alive = await store.get('services/', { prefix: true, keysOnly: true })
log(`after ${2 * TTL_SECONDS} s (twice the TTL) still registered: ${alive.kvs.map((kv) => text.decode(kv.key)).join(', ')} (renewals: ${one.renewals} and ${two.renewals})`)

// ---- Instance 2 stops renewing: its key goes when the lease expires --------------------------
await two.stop()
const stoppedAt = performance.now()
log(`${two.key} stops renewing (keep-alive cancelled); its lease has ${(await store.lease.timeToLive(two.leaseId)).ttlSeconds} s left`)
const gone = await waitFor((c) => c.type === 'leave' && c.key === two.key, (TTL_SECONDS + 3) * 1000)
log(`${two.key} expired ${((gone.at - two.lastRenewal) / 1000).toFixed(1)} s after its last renewal (${((gone.at - stoppedAt) / 1000).toFixed(1)} s after it stopped); nobody deleted it`)
const left = await store.get('services/', { prefix: true, keysOnly: true })
log(`registered now: ${left.kvs.map((kv) => text.decode(kv.key)).join(', ')}; leases: ${(await store.lease.leases()).leases.length}`)

// ---- Instance 1 deregisters on purpose: revoke deletes its key at once ------------------------
await one.stop()
await store.lease.revoke(one.leaseId)
await waitFor((c) => c.type === 'leave' && c.key === one.key, 2000)
log(`${one.key} deregistered (lease revoked); ${changes.filter((c) => c.type === 'join').length} joins, ${changes.filter((c) => c.type === 'leave').length} leaves seen`)

watch.cancel()
await watching
await store.close()
log('closed the watch and the store')
