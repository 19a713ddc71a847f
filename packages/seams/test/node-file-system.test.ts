import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { SeamsError, hasCode, nodeFileSystem as fs } from '../src/index.js'

async function rejectsWithCode(fn: () => Promise<unknown>, code: string): Promise<void> {
  try {
    await fn()
  } catch (err) {
    assert.ok(hasCode(err, code), `expected code ${code}, got ${String(err)}`)
    return
  }
  assert.unreachable(`expected a rejection with code ${code}`)
}

const test = suite<{ dir: string }>('nodeFileSystem', { dir: '' })
test.before.each((ctx) => { ctx.dir = mkdtempSync(join(tmpdir(), 'strata-seams-')) })
test.after.each((ctx) => rmSync(ctx.dir, { recursive: true, force: true }))

test('a file written at positions reads back, and its size follows the writes', async ({ dir }) => {
  const f = await fs.open(join(dir, 'a'), 'createExclusive')
  await f.write(new Uint8Array([1, 2, 3]), 0)
  await f.write(new Uint8Array([9]), 10)
  await f.datasync()
  assert.is(await f.size(), 11)
  const buf = new Uint8Array(16)
  assert.is(await f.read(buf, 0), 11)
  assert.equal([...buf.subarray(0, 11)], [1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 9])
  await f.close()
})

test('createExclusive refuses an existing file with EEXIST, read refuses a missing one with ENOENT', async ({ dir }) => {
  await fs.writeFile(join(dir, 'a'), new Uint8Array([1]))
  await rejectsWithCode(() => fs.open(join(dir, 'a'), 'createExclusive'), 'EEXIST')
  await rejectsWithCode(() => fs.open(join(dir, 'missing'), 'read'), 'ENOENT')
})

test('create opens an existing file without truncating it or appending', async ({ dir }) => {
  await fs.writeFile(join(dir, 'a'), new Uint8Array([1, 2, 3]))
  const f = await fs.open(join(dir, 'a'), 'create')
  await f.write(new Uint8Array([7]), 0)
  await f.close()
  assert.equal([...(await fs.readFile(join(dir, 'a')))], [7, 2, 3])
})

test('allocate extends with zeros and never shrinks; truncate cuts', async ({ dir }) => {
  const f = await fs.open(join(dir, 'a'), 'create')
  await f.write(new Uint8Array([5, 5]), 0)
  await f.allocate(3 << 20)
  assert.is(await f.size(), 3 << 20)
  await f.allocate(10)
  assert.is(await f.size(), 3 << 20)
  await f.truncate(1)
  assert.is(await f.size(), 1)
  await f.sync()
  await f.close()
})

test('allocate writes zeros off the event loop: it turns while a large file is allocated', async ({ dir }) => {
  const f = await fs.open(join(dir, 'a'), 'create')
  let turns = 0
  let allocating = true
  const turn = (): void => {
    turns++
    if (allocating) setImmediate(turn)
  }
  setImmediate(turn)
  await f.allocate(8 << 20)
  allocating = false
  assert.ok(turns >= 2, `the event loop turned ${turns} times during allocate`)
  const tail = new Uint8Array(4096).fill(1)
  assert.is(await f.read(tail, (8 << 20) - 4096), 4096)
  assert.ok(tail.every((b) => b === 0))
  await f.close()
})

test('rename, unlink, readdir (sorted), stat and fsyncDir work on a directory tree', async ({ dir }) => {
  await fs.mkdir(join(dir, 'x/y'))
  await fs.mkdir(join(dir, 'x/y'))
  await fs.writeFile(join(dir, 'x/b'), new Uint8Array(4))
  await fs.writeFile(join(dir, 'x/a.tmp'), new Uint8Array(2))
  await fs.rename(join(dir, 'x/a.tmp'), join(dir, 'x/a'))
  await fs.fsyncDir(join(dir, 'x'))
  assert.equal(await fs.readdir(join(dir, 'x')), ['a', 'b', 'y'])
  assert.equal(await fs.stat(join(dir, 'x/a')), { size: 2, isDirectory: false })
  assert.equal(await fs.stat(join(dir, 'x/y')), { size: (await fs.stat(join(dir, 'x/y')))!.size, isDirectory: true })
  assert.is(await fs.stat(join(dir, 'nope')), undefined)
  await fs.unlink(join(dir, 'x/b'))
  await fs.rm(join(dir, 'x'))
  await fs.rm(join(dir, 'x'))
  assert.is(await fs.stat(join(dir, 'x')), undefined)
})

test('a second lock on the same file fails at once with ERR_SEAMS_LOCKED, and works after release', async ({ dir }) => {
  const lock = await fs.lock(join(dir, 'LOCK'))
  await rejectsWithCode(() => fs.lock(join(dir, 'LOCK')), 'ERR_SEAMS_LOCKED')
  try {
    await fs.lock(join(dir, 'LOCK'))
  } catch (err) {
    assert.instance(err, SeamsError)
    assert.match((err as Error).message, /close the other user/)
  }
  await lock.release()
  const again = await fs.lock(join(dir, 'LOCK'))
  await again.release()
})

test('the file system works when copied into a wrapper (no method depends on this)', async ({ dir }) => {
  const wrapped = { ...fs, unlink: fs.unlink }
  const lock = await wrapped.lock(join(dir, 'LOCK'))
  await rejectsWithCode(() => wrapped.lock(join(dir, 'LOCK')), 'ERR_SEAMS_LOCKED')
  await lock.release()
  const f = await wrapped.open(join(dir, 'b'), 'create')
  await f.close()
})

test('a lock held by a process that died is free again: the kernel drops a flock with its process', async ({ dir }) => {
  const path = join(dir, 'LOCK')
  const script = `const fs = require('node:fs'); const { flockSync } = require('fs-ext'); const fd = fs.openSync(${JSON.stringify(path)}, 'a'); flockSync(fd, 'exnb'); process.kill(process.pid, 'SIGKILL')`
  const child = promisify(execFile)(process.execPath, ['-e', script], { cwd: fileURLToPath(new URL('..', import.meta.url)) })
  await child.then(() => assert.unreachable('the child should have been killed'), (err: { signal?: string }) => assert.is(err.signal, 'SIGKILL'))
  const lock = await fs.lock(path)
  await lock.release()
})

test('without fs-ext the package imports and works; only a lock fails, with ERR_SEAMS_LOCK_UNAVAILABLE saying what to install', async () => {
  const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url))
  const { stdout } = await promisify(execFile)(process.execPath, [
    '--require', join(fixtures, 'hide-fs-ext.cjs'), '--conditions=source', '--import', 'tsx', join(fixtures, 'lock-without-fs-ext.ts'),
  ])
  const report = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>
  assert.equal({ ...report, message: undefined }, { imported: true, wrote: true, code: 'ERR_SEAMS_LOCK_UNAVAILABLE', isSeamsError: true, message: undefined })
  assert.match(String(report.message), /fs-ext/)
  assert.match(String(report.message), /npm install fs-ext@2\.1\.1/)
})

test.run()
