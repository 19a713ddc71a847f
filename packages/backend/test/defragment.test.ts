// LmdbBackend.defragment(): the copy is an ordinary LMDB file (not LMDB's compacting copy, whose
// files lmdb-js's LMDB later aborted on), checked before it is swapped in; a copy that fails is
// discarded and the data file kept. The longer randomized run is sim/defragment.sim.ts.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { rejectsWithCode, SimClock, tempDir } from '@strata/testkit'
import type { TempDir } from '@strata/testkit'
import { LmdbBackend } from '../src/index.js'
import { DATA_FILE, DEFRAG_STEP_PAIRS } from '../src/internal.js'
import { bytes } from './contract.js'
import { runDefragWriter } from './fixtures/run-defrag-writer.js'

let dir: TempDir
test.before.each(async () => { dir = await tempDir('strata-defrag-') })
test.after.each(async () => { await dir.cleanup() })

test('random writes with big values, deletes, closes, crashes and defragments, each reopen structure-checked: every pair reads back and the process lives (LMDB\'s compacting copy made it abort)', async () => {
  // Seed 4, 20 steps: with the former defragment (lmdb-js backup(path, true)) the child died
  // (SIGABRT in mdb_page_alloc, 'key.mv_size > 0'), as did seeds 1-3 in 30 steps (SIGSEGV,
  // SIGSEGV, SIGABRT) and seed 5 in 20.
  const r = await runDefragWriter(join(dir.path, 'db'), 4, 20)
  assert.is(r.signal, null, `the writer was killed by ${r.signal}: ${r.err}`)
  assert.is(r.code, 0, r.err)
  const [, steps, defragments, pairs] = r.out.trim().split(' ').map(Number)
  assert.is(steps, 20)
  assert.ok(defragments! >= 1, r.out)
  assert.ok(pairs! > 1000, r.out)
})

test('defragment reports progress in pairs, step by step, up to the total', async () => {
  const b = await LmdbBackend.open(dir.path, { clock: new SimClock(), batchLimit: 1_000_000 })
  const n = DEFRAG_STEP_PAIRS + 5000
  b.write((tx) => {
    for (let i = 0; i < n; i++) tx.put('key', bytes(`k${String(i).padStart(6, '0')}`), new Uint8Array(40).fill(i & 0xff))
    tx.put('lease', bytes('l'), bytes('1'))
  })
  const seen: Array<[number, number]> = []
  await b.defragment({ onProgress: (done, total) => seen.push([done, total]) })
  assert.ok(seen.length >= 3, JSON.stringify(seen))
  for (const [, total] of seen) assert.is(total, n + 1)
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]![0] >= seen[i - 1]![0], JSON.stringify(seen))
  assert.equal(seen[seen.length - 1], [n + 1, n + 1])
  assert.ok(seen.some(([done]) => done > 0 && done < n), 'a step before the end was reported')
  assert.is(b.read((tx) => tx.range('key', bytes('k'), undefined)).length, n)
  await b.close()
  await rejectsWithCode(LmdbBackend.open(dir.path).then((x) => x.defragment({ onProgress: 5 as never })), 'ERR_BACKEND_INVALID_ARGUMENT')
})

test('a copy that fails (a damaged page of the store) is discarded: ERR_BACKEND_DEFRAGMENT, the data file as it was, the host alive', async () => {
  const b = await LmdbBackend.open(dir.path, { clock: new SimClock(), batchLimit: 1_000_000 })
  b.write((tx) => {
    for (let i = 0; i < 20_000; i++) tx.put('key', bytes(`k${String(i).padStart(6, '0')}`), new Uint8Array(60).fill(7))
  })
  await b.close()
  // Zero everything but the page number of a leaf page in the middle of the key bucket: a
  // cursor walking into it makes LMDB fail its IS_LEAF assert.
  const file = join(dir.path, DATA_FILE)
  const data = readFileSync(file)
  const leaves: number[] = []
  for (let p = 2; p < data.length / 4096; p++) if (data.readUInt16LE(p * 4096 + 18) === 0x02) leaves.push(p)
  assert.ok(leaves.length > 20, `${leaves.length} leaf pages`)
  const victim = leaves[Math.floor(leaves.length / 2)]!
  data.fill(0, victim * 4096 + 8, (victim + 1) * 4096)
  writeFileSync(file, data)
  // Opened without the structure check (it would refuse the file); nothing here reads the page.
  const damaged = await LmdbBackend.open(dir.path, { verifyStructure: false })
  const err = await damaged.defragment().then(() => undefined, (e: unknown) => e as { code?: string; message: string })
  assert.ok(err !== undefined, 'the defragment failed')
  assert.is(err!.code, 'ERR_BACKEND_DEFRAGMENT', err!.message)
  assert.match(err!.message, /kept as it was/)
  assert.ok(Buffer.compare(readFileSync(file), data) === 0, 'the data file is untouched')
  assert.equal(readdirSync(dir.path).filter((f) => f.includes('.defrag')), [], 'the copy was removed')
  damaged.write((tx) => tx.put('meta', bytes('still'), bytes('writable')))
  await damaged.crash()
  assert.ok(existsSync(file))
})

test.run()
