// One restart as a new process sees it, run by embed.bench.ts in a child process of its own (a
// restarted service starts with an empty heap and a cold JIT):
//   restart-child.ts <member dir> restart   open({ dir }) up to the first linearizable get
//   restart-child.ts <member dir> scan      LmdbBackend.open(<dir>/db) + a bare scan of the key bucket
// Prints one JSON line: {"ms": total, "openMs": open() alone (restart), "keys": the keys the
// member holds (restart) or the revisions scanned (scan), "rssMb"/"heapMb"/"externalMb"/
// "arrayBuffersMb": process.memoryUsage() after a gc}.
import { join } from 'node:path'
import { LmdbBackend } from '@strata/backend'
import { open } from '../src/index.js'

const [dir, mode] = process.argv.slice(2)
if (dir === undefined || !['restart', 'scan'].includes(mode ?? '')) throw new Error('usage: restart-child.ts <member dir> restart|scan')
const gc = (globalThis as { gc?: () => void }).gc

const t0 = performance.now()
if (mode === 'restart') {
  const store = await open({ dir })
  const openMs = performance.now() - t0
  await store.get('key/000000000000')
  const ms = performance.now() - t0
  const keys = (await store.get('key/', { prefix: true, countOnly: true, serializable: true })).count
  report(ms, openMs, keys)
  await store.close()
} else {
  const backend = await LmdbBackend.open(join(dir, 'db'))
  let revisions = 0
  backend.read((tx) => tx.forEachView!('key', new Uint8Array(0), undefined, () => {
    revisions++
  }))
  report(performance.now() - t0, 0, revisions)
  await backend.close()
}

function report(ms: number, openMs: number, keys: number): void {
  gc?.()
  const m = process.memoryUsage()
  const mb = (n: number): number => n / 2 ** 20
  console.log(JSON.stringify({ ms, openMs, keys, rssMb: mb(m.rss), heapMb: mb(m.heapUsed), externalMb: mb(m.external), arrayBuffersMb: mb(m.arrayBuffers) }))
}
