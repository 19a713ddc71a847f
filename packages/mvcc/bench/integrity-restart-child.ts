// One restart in a new process for integrity.bench.ts:
//   integrity-restart-child.ts <db dir> full       LmdbBackend.open (structure check) + MvccStore.open (record checks)
//   integrity-restart-child.ts <db dir> records    no structure check, record checks on
//   integrity-restart-child.ts <db dir> off        neither (benchIntegrityChecks off: no checksum compare, no totals)
// Prints one JSON line: {"ms": total, "backendMs": the backend's open, "keys"}.
import { LmdbBackend } from '@strata/backend'
import { MvccStore } from '../src/index.js'
import { benchIntegrityChecks } from '../src/internal.js'

const [dir, mode] = process.argv.slice(2)
if (dir === undefined || !['full', 'records', 'off'].includes(mode ?? '')) throw new Error('usage: integrity-restart-child.ts <db dir> full|records|off')
benchIntegrityChecks.enabled = mode !== 'off'
const clock = { now: () => 0, setTimer: () => ({ cancel() {} }) }
const t0 = performance.now()
const backend = await LmdbBackend.open(dir, { clock, verifyStructure: mode === 'full' })
const backendMs = performance.now() - t0
const store = await MvccStore.open(backend)
const ms = performance.now() - t0
const keys = store.indexSize
await store.close()
await backend.close()
console.log(JSON.stringify({ ms, backendMs, keys }))
