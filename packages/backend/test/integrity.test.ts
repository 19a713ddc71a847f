// The structure check of LMDB files (a child process walks the file before the host maps it).
// The damage trials of the whole store are in packages/mvcc/test/damage.test.ts.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { LmdbBackend } from '../src/index.js'
import { CLEAN_FILE, DATA_FILE, checkStructure } from '../src/internal.js'

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

test("the structure check reads LMDB's free-page list, which the cursor walk never reaches: a damaged one fails it", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-structure-'))
  try {
    const backend = await LmdbBackend.open(dir)
    for (let b = 0; b < 6; b++) {
      backend.write((tx) => {
        for (let i = 0; i < 300; i++) tx.put('key', new TextEncoder().encode(`k${i}`), new Uint8Array(60).fill(b))
      })
      await backend.commit()
    }
    await backend.close()
    const file = join(dir, 'data.mdb')
    assert.ok((await checkStructure(file)).ok)
    const bytes = readFileSync(file)
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
    const u64 = (at: number): number => view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32
    const meta = u64(24 + 128) >= u64(4096 + 24 + 128) ? 24 : 4096 + 24
    const root = u64(meta + 64)
    assert.ok(root >= 2 && root < bytes.length / 4096, `a free-page list exists (root ${root})`)
    // Its nodes sit at the end of the page: zero the last sector.
    bytes.fill(0, (root + 1) * 4096 - 512, (root + 1) * 4096)
    writeFileSync(file, bytes)
    const report = await checkStructure(file)
    assert.not.ok(report.ok)
    if (!report.ok) assert.match(report.reason, /free-page list is damaged/)
    // The file was closed cleanly and its meta pages are as the close left them, but the
    // clean-close marker also holds a CRC of the free-page tree's pages: the default open sees
    // the change and checks.
    for (const verifyStructure of [undefined, 'always'] as const) {
      try {
        await LmdbBackend.open(dir, verifyStructure === undefined ? {} : { verifyStructure })
        assert.unreachable()
      } catch (err) {
        assert.is((err as { code?: string }).code, 'ERR_BACKEND_CORRUPT', String(err))
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test("verifyStructure must be 'always', 'unclean' or a boolean", async () => {
  for (const bad of ['yes', 1, null]) {
    try {
      await LmdbBackend.open('/tmp/never-made', { verifyStructure: bad as never })
      assert.unreachable()
    } catch (err) {
      assert.is((err as { code?: string }).code, 'ERR_BACKEND_INVALID_OPTION')
    }
  }
})

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

async function fill(dir: string, n: number, options: { verifyStructure?: 'always' | 'unclean' | boolean } = {}): Promise<LmdbBackend> {
  const backend = await LmdbBackend.open(dir, options)
  backend.write((tx) => {
    for (let i = 0; i < n; i++) tx.put('key', enc(`k${i}`), new Uint8Array(40).fill(i & 0xff))
  })
  await backend.commit()
  return backend
}

test("'unclean' (the default) skips the check after a clean close, runs it after a crash, after a failed close and on a file changed since", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-structure-'))
  try {
    const first = await fill(dir, 300)
    assert.equal(first.structureCheck, { checked: false, why: 'new-file', ms: 0 })
    assert.not.ok(existsSync(join(dir, CLEAN_FILE)), 'no marker while open')
    await first.close()
    assert.ok(existsSync(join(dir, CLEAN_FILE)), 'a clean close leaves the marker')

    const second = await LmdbBackend.open(dir)
    assert.equal(second.structureCheck, { checked: false, why: 'clean-close', ms: 0 })
    assert.not.ok(existsSync(join(dir, CLEAN_FILE)), 'the open took the marker')
    assert.is(second.read((tx) => tx.range('key', enc('k'), undefined)).length, 300)
    second.write((tx) => tx.put('key', enc('more'), enc('x')))
    await second.commit()
    await second.crash()
    assert.not.ok(existsSync(join(dir, CLEAN_FILE)), 'a crash leaves no marker')

    const third = await LmdbBackend.open(dir)
    assert.is(third.structureCheck.why, 'unclean-close')
    assert.ok(third.structureCheck.checked && third.structureCheck.ms > 0)
    await third.close()

    // The file changed after the clean close (another commit by another writer, or a copy of
    // another version put in place): the marker no longer names it.
    const marker = readFileSync(join(dir, CLEAN_FILE))
    const other = await fill(join(dir, 'other'), 10)
    await other.close()
    copyFileSync(join(dir, 'other', DATA_FILE), join(dir, DATA_FILE))
    const fourth = await LmdbBackend.open(dir)
    assert.is(fourth.structureCheck.why, 'unclean-close', 'a file put in place after the clean close is checked')
    assert.ok(fourth.structureCheck.checked)
    assert.is(fourth.read((tx) => tx.range('key', enc('k'), undefined)).length, 10)
    await fourth.close()

    // A stale marker (of another file version) put back by hand does not match either.
    writeFileSync(join(dir, CLEAN_FILE), marker)
    const fifth = await LmdbBackend.open(dir)
    assert.is(fifth.structureCheck.why, 'unclean-close')
    await fifth.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test("'always' checks after a clean close too; false never checks, and both take the marker", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-structure-'))
  try {
    await (await fill(dir, 50)).close()
    const always = await LmdbBackend.open(dir, { verifyStructure: 'always' })
    assert.is(always.structureCheck.why, 'always')
    assert.ok(always.structureCheck.checked)
    assert.not.ok(existsSync(join(dir, CLEAN_FILE)))
    await always.close()
    const legacyTrue = await LmdbBackend.open(dir, { verifyStructure: true })
    assert.is(legacyTrue.structureCheck.why, 'always')
    await legacyTrue.close()
    const off = await LmdbBackend.open(dir, { verifyStructure: false })
    assert.equal(off.structureCheck, { checked: false, why: 'off', ms: 0 })
    assert.not.ok(existsSync(join(dir, CLEAN_FILE)))
    await off.crash()
    const after = await LmdbBackend.open(dir)
    assert.is(after.structureCheck.why, 'unclean-close', 'a crash after an unchecked open is checked next time')
    await after.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a close whose last commit failed leaves no marker', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-structure-'))
  try {
    let armed = false
    const failpoint = (name: string): void => {
      if (name === 'backendBeforeCommit' && armed) throw new Error('injected')
    }
    const backend = await LmdbBackend.open(dir, { failpoint })
    backend.write((tx) => tx.put('key', enc('a'), enc('b')))
    await backend.commit()
    armed = true
    backend.write((tx) => tx.put('key', enc('c'), enc('d')))
    await backend.close().then(() => assert.unreachable('the close commit should fail'), () => {})
    assert.not.ok(existsSync(join(dir, CLEAN_FILE)))
    const again = await LmdbBackend.open(dir)
    assert.is(again.structureCheck.why, 'unclean-close')
    await again.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('every ERR_BACKEND_CORRUPT of a damaged data file says what to do next: restore from a snapshot or backup, or catch up from the leader', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-structure-'))
  try {
    const backend = await LmdbBackend.open(dir)
    backend.write((tx) => {
      for (let i = 0; i < 2000; i++) tx.put('key', enc(`k${String(i).padStart(5, '0')}`), new Uint8Array(60).fill(1))
    })
    await backend.close()
    const file = join(dir, DATA_FILE)
    const sound = readFileSync(file)
    const advice = /restore the data directory from a snapshot or backup, or, for a member of a cluster, discard its data directory and let it catch up from the leader's snapshot/
    // Not LMDB at all (found from the meta pages), then a damaged leaf page (the structure check).
    writeFileSync(file, new Uint8Array(sound.length).fill(0x5a))
    const notLmdb = await LmdbBackend.open(dir).then(() => undefined, (e: unknown) => e as { code?: string; message: string })
    assert.is(notLmdb?.code, 'ERR_BACKEND_CORRUPT')
    assert.match(notLmdb!.message, advice)
    const leaf = sound.readUInt16LE(5 * 4096 + 18) === 0x02 ? 5 : [...Array(sound.length / 4096).keys()].find((p) => p > 2 && sound.readUInt16LE(p * 4096 + 18) === 0x02)!
    const damaged = Buffer.from(sound)
    damaged.fill(0, leaf * 4096 + 8, (leaf + 1) * 4096)
    writeFileSync(file, damaged)
    const broken = await LmdbBackend.open(dir, { verifyStructure: 'always' }).then(async (b) => { await b.crash(); return undefined }, (e: unknown) => e as { code?: string; message: string })
    assert.is(broken?.code, 'ERR_BACKEND_CORRUPT')
    assert.match(broken!.message, advice)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('bit rot after a clean close: in a branch page of a bucket the default open notices (the marker\'s CRC) and checks; in a leaf page it does not (what remains)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-structure-'))
  try {
    const backend = await LmdbBackend.open(dir)
    backend.write((tx) => {
      for (let i = 0; i < 30_000; i++) tx.put('key', enc(`k${String(i).padStart(6, '0')}`), new Uint8Array(60).fill(3))
    })
    await backend.close()
    const file = join(dir, DATA_FILE)
    const marker = readFileSync(join(dir, CLEAN_FILE))
    const sound = readFileSync(file)
    const kinds = new Map<number, number[]>()
    for (let p = 2; p < sound.length / 4096; p++) {
      const flags = sound.readUInt16LE(p * 4096 + 18)
      kinds.set(flags, [...(kinds.get(flags) ?? []), p])
    }
    const branches = kinds.get(0x01) ?? []
    const leaves = kinds.get(0x02) ?? []
    assert.ok(branches.length >= 1 && leaves.length > 100, `${branches.length} branch pages, ${leaves.length} leaf pages`)
    // One bit of a branch page's last node (a key byte), as bit rot would flip it.
    const branch = Buffer.from(sound)
    branch[branches[0]! * 4096 + 4095]! ^= 0x10
    writeFileSync(file, branch)
    const noticed = await LmdbBackend.open(dir)
    assert.is(noticed.structureCheck.why, 'unclean-close')
    assert.ok(noticed.structureCheck.checked)
    await noticed.crash()
    // One bit of a leaf page's value bytes: the marker still matches, the check is skipped
    // (mvcc's record checksums find such damage; a leaf page's header or node layout would not be).
    writeFileSync(file, sound)
    writeFileSync(join(dir, CLEAN_FILE), marker)
    const leaf = Buffer.from(sound)
    leaf[leaves[50]! * 4096 + 4000]! ^= 0x10
    writeFileSync(file, leaf)
    const trusting = await LmdbBackend.open(dir)
    assert.is(trusting.structureCheck.why, 'clean-close')
    await trusting.crash()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test.run()
