// One restart as a new process sees it, run by mvcc.bench.ts in a child process of its own: a
// restarted server starts with an empty heap and a cold JIT, which the bench's own process,
// after the other benchmarks, no longer has.
//   restart-child.ts <lmdb path> restart      LmdbBackend.open + MvccStore.open (the headline)
//   restart-child.ts <lmdb path> one-thread   LmdbBackend.open + the synchronous rebuild
//   restart-child.ts <lmdb path> scan         LmdbBackend.open + a bare scan of the key bucket
// Prints one JSON line: {"ms": total, "backendMs": the backend's open, "revisions", "keys"}.
import { LmdbBackend } from '@strata/backend'
import type { Clock } from '@strata/seams'
import { MvccStore } from '../src/index.js'
import { rebuildIndex } from '../src/internal.js'

const [path, mode] = process.argv.slice(2)
if (path === undefined || !['restart', 'one-thread', 'scan'].includes(mode ?? '')) {
  throw new Error('usage: restart-child.ts <lmdb path> restart|one-thread|scan')
}
const clock: Clock = { now: () => 0, setTimer: () => ({ cancel() {} }) }

const t0 = performance.now()
const backend = await LmdbBackend.open(path, { clock })
const backendMs = performance.now() - t0
let keys = 0
let revisions = 0
if (mode === 'restart') {
  const store = await MvccStore.open(backend)
  const ms = performance.now() - t0
  keys = store.range('\0', '\0', { countOnly: true }).count
  await store.close()
  report(ms)
} else if (mode === 'one-thread') {
  keys = backend.read((tx) => rebuildIndex(tx)).index.size
  report(performance.now() - t0)
} else {
  backend.read((tx) => tx.forEachView!('key', new Uint8Array(0), undefined, () => {
    revisions++
  }))
  report(performance.now() - t0)
}
await backend.close()

function report(ms: number): void {
  console.log(JSON.stringify({ ms, backendMs, keys, revisions }))
}
