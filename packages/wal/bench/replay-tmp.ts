import * as fs from 'node:fs'
import { Wal } from '../src/index.js'
const where = fs.mkdtempSync('/tmp/walreplay-') + '/w'
const wal = await Wal.create(where, new Uint8Array(8))
const data = new Uint8Array(4096).fill(0x33)
let next = 1
for (let written = 0; written < 256 * 1024 * 1024; written += 256 * 4096) {
  const es = []
  for (let i = 0; i < 256; i++) es.push({ index: next + i, term: 1, data })
  next += 256
  await wal.save({ term: 1, vote: 1, commit: next - 1 }, es)
}
await wal.close()
for (let round = 0; round < 3; round++) {
  const t0 = performance.now()
  const r = await Wal.openForRead(where, { index: 0, term: 0 })
  const got = await r.readAll()
  await r.close()
  const dt = performance.now() - t0
  const t1 = performance.now()
  for (const n of fs.readdirSync(where)) if (n.endsWith('.wal')) fs.readFileSync(where + '/' + n)
  const raw = performance.now() - t1
  console.log(`readAll ${dt.toFixed(0)} ms (${(268 / (dt / 1000)).toFixed(0)} MB/s) raw ${raw.toFixed(0)} ms, ${got.entries.length}`)
}
fs.rmSync(where, { recursive: true })
