// The structure check of LMDB files (a child process walks the file before the host maps it).
// The damage trials of the whole store are in packages/mvcc/test/damage.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { LmdbBackend } from '../src/index.js'
import { checkStructure } from '../src/internal.js'

test('the structure check reports the entries of a sound file and fails a garbled one without touching this process', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-structure-'))
  try {
    const backend = await LmdbBackend.open(dir)
    backend.write((tx) => {
      for (let i = 0; i < 500; i++) tx.put('key', new TextEncoder().encode(`k${i}`), new Uint8Array(50))
    })
    await backend.close()
    const sound = await checkStructure(join(dir, 'data.mdb'))
    assert.ok(sound.ok)
    if (sound.ok) assert.is(sound.entries.key, 500)
    const other = join(dir, 'garbled.mdb')
    const bytes = new Uint8Array(64 * 1024).fill(0x5a)
    writeFileSync(other, bytes)
    const garbled = await checkStructure(other)
    assert.not.ok(garbled.ok)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('verifyStructure must be a boolean', async () => {
  try {
    await LmdbBackend.open('/tmp/never-made', { verifyStructure: 'yes' as never })
    assert.unreachable()
  } catch (err) {
    assert.is((err as { code?: string }).code, 'ERR_BACKEND_INVALID_OPTION')
  }
})

test.run()
