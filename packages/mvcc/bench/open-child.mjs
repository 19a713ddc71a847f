// One mvcc open of an LMDB member dir in this process, from the built dist (A/B of builds by
// swapping dist): LmdbBackend.open(<dir>) + MvccStore.open; prints wall ms, CPU ms of all
// threads and of the main thread (process.cpuUsage vs. /proc thread stats).
//   node packages/mvcc/bench/open-child.mjs <db dir>
import { readFileSync } from 'node:fs'
import { LmdbBackend } from '@strata/backend'
import { MvccStore } from '@strata/mvcc'
const mainCpu = () => { const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) * 10 }
const c0 = process.cpuUsage(); const m0 = mainCpu(); const t0 = performance.now()
const backend = await LmdbBackend.open(process.argv[2])
const store = await MvccStore.open(backend)
const ms = performance.now() - t0; const c = process.cpuUsage(c0)
console.log(`open ${Math.round(ms)} ms, CPU ${Math.round((c.user + c.system) / 1000)} ms, main thread ${mainCpu() - m0} ms, keys ${store.indexSize}`)
await store.close(); await backend.close()
