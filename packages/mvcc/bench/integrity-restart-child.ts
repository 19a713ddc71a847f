// One restart in a new process for integrity.bench.ts:
//   integrity-restart-child.ts <db dir> always     LmdbBackend.open with verifyStructure 'always' (the structure check) + MvccStore.open (record checks)
//   integrity-restart-child.ts <db dir> default    the default options: after a clean close the structure check is skipped; record checks on
//   integrity-restart-child.ts <db dir> off        neither (verifyStructure false, benchIntegrityChecks off: no checksum compare, no totals)
// Prints one JSON line: {"ms": total, "backendMs": the backend's open, "structureMs", "why": the backend's structureCheck.why, "keys"}.
import { LmdbBackend } from '@strata/backend'
import { MvccStore } from '../src/index.js'
import { benchIntegrityChecks } from '../src/internal.js'

const [dir, mode] = process.argv.slice(2)
if (dir === undefined || !['always', 'default', 'off'].includes(mode ?? '')) throw new Error('usage: integrity-restart-child.ts <db dir> always|default|off')
benchIntegrityChecks.enabled = mode !== 'off'
const clock = { now: () => 0, setTimer: () => ({ cancel() {} }) }
const t0 = performance.now()
const backend = await LmdbBackend.open(dir, mode === 'default' ? { clock } : { clock, verifyStructure: mode === 'always' ? 'always' : false })
const backendMs = performance.now() - t0
const store = await MvccStore.open(backend)
const ms = performance.now() - t0
const keys = store.indexSize
await store.close()
await backend.close()
console.log(JSON.stringify({ ms, backendMs, structureMs: backend.structureCheck.ms, why: backend.structureCheck.why, keys }))
