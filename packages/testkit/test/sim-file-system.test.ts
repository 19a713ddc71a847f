import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Prng, SimCrashError, SimFileSystem, rejectsWithCode, withSeed } from '../src/index.js'
import type { CrashReport, Operation } from '../src/index.js'

const bytes = (...xs: number[]): Uint8Array => new Uint8Array(xs)
const filled = (n: number, value: number): Uint8Array => new Uint8Array(n).fill(value)

/** A file created, written and made durable (data synced, directory entry fsynced). */
async function durableFile(fs: SimFileSystem, path: string, data: Uint8Array): Promise<void> {
  const f = await fs.open(path, 'createExclusive')
  await f.write(data, 0)
  await f.sync()
  await f.close()
  await fs.fsyncDir(path.slice(0, path.lastIndexOf('/')) || '/')
}

test('files read back what was written, and sizes follow writes, truncates and allocate', async () => {
  const fs = new SimFileSystem()
  await fs.mkdir('/d/e')
  const f = await fs.open('/d/e/a', 'create')
  await f.write(bytes(1, 2, 3), 0)
  await f.write(bytes(9), 6)
  assert.is(await f.size(), 7)
  const buf = new Uint8Array(10)
  assert.is(await f.read(buf, 0), 7)
  assert.equal([...buf.subarray(0, 7)], [1, 2, 3, 0, 0, 0, 9])
  assert.is(await f.read(buf, 7), 0)
  await f.truncate(2)
  await f.allocate(5)
  await f.allocate(3)
  assert.equal([...(await fs.readFile('d/e/../e/a'))], [1, 2, 0, 0, 0])
  assert.equal(await fs.stat('/d/e/a'), { size: 5, isDirectory: false })
  assert.equal(await fs.stat('/d'), { size: 0, isDirectory: true })
  assert.is(await fs.stat('/nope'), undefined)
})

test('open modes and namespace operations fail with Node error codes', async () => {
  const fs = new SimFileSystem()
  await fs.mkdir('/d')
  await rejectsWithCode(() => fs.open('/d/a', 'read'), 'ENOENT')
  await rejectsWithCode(() => fs.open('/d/a', 'readWrite'), 'ENOENT')
  await rejectsWithCode(() => fs.open('/x/a', 'create'), 'ENOENT')
  await fs.writeFile('/d/a', bytes(1))
  await rejectsWithCode(() => fs.open('/d/a', 'createExclusive'), 'EEXIST')
  await rejectsWithCode(() => fs.open('/d', 'read'), 'EISDIR')
  await rejectsWithCode(() => fs.open('/d/a/b', 'create'), 'ENOTDIR')
  await rejectsWithCode(() => fs.readdir('/d/a'), 'ENOTDIR')
  await rejectsWithCode(() => fs.readdir('/none'), 'ENOENT')
  await rejectsWithCode(() => fs.unlink('/d'), 'EISDIR')
  await rejectsWithCode(() => fs.unlink('/d/zz'), 'ENOENT')
  await rejectsWithCode(() => fs.mkdir('/d/a'), 'EEXIST')
  await rejectsWithCode(() => fs.mkdir('/d/a/b'), 'ENOTDIR')
  await rejectsWithCode(() => fs.readFile('/d'), 'EISDIR')
  await rejectsWithCode(() => fs.fsyncDir('/d/a'), 'ENOTDIR')
  await fs.mkdir('/e/f')
  await rejectsWithCode(() => fs.rename('/d/a', '/e'), 'EISDIR')
  await rejectsWithCode(() => fs.rename('/e', '/d/a'), 'ENOTDIR')
  await rejectsWithCode(() => fs.rename('/d', '/e'), 'ENOTEMPTY')
  await rejectsWithCode(() => fs.rename('/e', '/e/f/g'), 'EINVAL')
  await rejectsWithCode(() => fs.rename('/d/missing', '/d/b'), 'ENOENT')
  const err = await rejectsWithCode(() => fs.unlink('/d/zz'), 'ENOENT')
  assert.match(err.message, "ENOENT: no such file or directory, unlink '/d/zz'")
})

test('readdir is sorted by code unit; rename replaces; rm removes trees and ignores missing paths', async () => {
  const fs = new SimFileSystem()
  for (const name of ['b', 'a', 'B', '10', '9']) await fs.writeFile(`/${name}`, bytes())
  assert.equal(await fs.readdir('/'), ['10', '9', 'B', 'a', 'b'])
  await fs.writeFile('/a', bytes(1))
  await fs.writeFile('/b', bytes(2))
  await fs.rename('/a', '/b')
  assert.equal([...(await fs.readFile('/b'))], [1])
  assert.is(await fs.stat('/a'), undefined)
  await fs.mkdir('/t/u/v')
  await fs.writeFile('/t/u/v/f', bytes(1))
  await fs.rm('/t')
  await fs.rm('/t')
  await fs.rm('/no/such/thing')
  assert.is(await fs.stat('/t'), undefined)
  await fs.mkdir('/t')
  assert.equal(await fs.readdir('/t'), [])
})

test('handles reject writes when read-only or closed', async () => {
  const fs = new SimFileSystem()
  await fs.writeFile('/a', bytes(1))
  const r = await fs.open('/a', 'read')
  await rejectsWithCode(() => r.write(bytes(2), 0), 'EBADF')
  await rejectsWithCode(() => r.truncate(0), 'EBADF')
  await r.close()
  await rejectsWithCode(() => r.read(new Uint8Array(1), 0), 'EBADF')
  await r.close()
})

test('a pessimistic crash keeps fsynced data and entries and loses everything unsynced', async () => {
  const fs = new SimFileSystem({ crashMode: 'pessimistic' })
  await fs.mkdir('/wal')
  await fs.fsyncDir('/')
  await durableFile(fs, '/wal/a', filled(1000, 1))
  const a = await fs.open('/wal/a', 'readWrite')
  await a.write(filled(100, 2), 1000)
  await a.write(filled(10, 3), 0)
  assert.is(await a.size(), 1100)
  const b = await fs.open('/wal/b', 'create')
  await b.write(bytes(5), 0)
  await b.sync()
  const report = fs.crash()
  assert.equal(await fs.readdir('/wal'), ['a'])
  assert.equal(await fs.readFile('/wal/a'), filled(1000, 1))
  assert.is(report.writesLost, 2)
  assert.equal(report.namespaceUndone, ['create /wal/b'])
  await rejectsWithCode(() => a.read(new Uint8Array(1), 0), 'EBADF')
})

test('a directory entry is durable only once its parent is fsynced', async () => {
  const fs = new SimFileSystem({ crashMode: 'pessimistic' })
  await fs.mkdir('/d')
  await durableFile(fs, '/d/a', bytes(1))
  fs.crash()
  assert.is(await fs.stat('/d'), undefined, 'the mkdir of /d was never fsynced in /')
  await fs.mkdir('/d')
  await fs.fsyncDir('/')
  await durableFile(fs, '/d/a', bytes(1))
  fs.crash()
  assert.equal(await fs.readFile('/d/a'), bytes(1))
})

test('an un-fsynced rename is undone by a crash while an fsynced one survives', async () => {
  const fs = new SimFileSystem({ crashMode: 'pessimistic' })
  await durableFile(fs, '/a.tmp', bytes(1))
  await durableFile(fs, '/c.tmp', bytes(3))
  await fs.rename('/a.tmp', '/a')
  await fs.fsyncDir('/')
  await fs.rename('/c.tmp', '/c')
  assert.equal(await fs.readdir('/'), ['a', 'c'])
  const report = fs.crash()
  assert.equal(await fs.readdir('/'), ['a', 'c.tmp'])
  assert.equal(await fs.readFile('/c.tmp'), bytes(3))
  assert.equal(report.namespaceUndone, ['rename /c.tmp -> /c'])
})

test('under random crashes a rename lands whole or not at all, and an unlink may come undone', async () => {
  const outcomes = new Set<string>()
  for (let seed = 0; seed < 40; seed++) {
    const fs = new SimFileSystem({ prng: new Prng(seed) })
    await durableFile(fs, '/x', bytes(1))
    await durableFile(fs, '/gone', bytes(2))
    await fs.rename('/x', '/y')
    await fs.unlink('/gone')
    fs.crash()
    const names = (await fs.readdir('/')).join(',')
    assert.ok(['x', 'y', 'gone,x', 'gone,y'].includes(names), names)
    outcomes.add(names)
  }
  assert.is(outcomes.size, 4)
})

test('a chain of renames never leaves a file under two names after a random crash', async () => {
  for (let seed = 0; seed < 40; seed++) {
    const fs = new SimFileSystem({ prng: new Prng(seed) })
    await fs.mkdir('/p')
    await fs.mkdir('/q')
    await fs.fsyncDir('/')
    await durableFile(fs, '/p/a', bytes(7))
    await fs.rename('/p/a', '/q/b')
    await fs.rename('/q/b', '/p/c')
    fs.crash()
    const all = [...(await fs.readdir('/p')).map((n) => `p/${n}`), ...(await fs.readdir('/q')).map((n) => `q/${n}`)]
    assert.is(all.length, 1, all.join(','))
  }
})

test('fsyncDir of a rename makes it survive even a pessimistic crash, across directories', async () => {
  const fs = new SimFileSystem({ crashMode: 'pessimistic' })
  await fs.mkdir('/p')
  await fs.mkdir('/q')
  await fs.fsyncDir('/')
  await durableFile(fs, '/p/a', bytes(7))
  await fs.rename('/p/a', '/q/b')
  await fs.fsyncDir('/q')
  fs.crash()
  assert.equal(await fs.readdir('/p'), [])
  assert.equal(await fs.readFile('/q/b'), bytes(7))
})

/** Every byte after a crash must be the synced value, a pending write's value, or zero past the synced end. */
function tornPrefix(data: Uint8Array, oldValue: number, newValue: number): number {
  let landed = 0
  while (landed < data.length && data[landed] === newValue) landed++
  for (let i = landed; i < data.length; i++) assert.is(data[i], oldValue, `byte ${i} after the landed prefix`)
  return landed
}

test('random crashes tear a multi-sector write at a 512-byte boundary, keeping only its first sectors', async () => {
  const torn: number[] = []
  for (let seed = 0; seed < 30; seed++) {
    const fs = new SimFileSystem({ prng: new Prng(seed) })
    await durableFile(fs, '/seg', filled(2048, 0xaa))
    const f = await fs.open('/seg', 'readWrite')
    await f.write(filled(2048, 0xbb), 0)
    const report = fs.crash()
    const landed = tornPrefix(await fs.readFile('/seg'), 0xaa, 0xbb)
    assert.is(landed % 512, 0)
    if (report.writesTorn.length === 1) {
      assert.is(report.writesTorn[0]!.landed, landed)
      assert.ok(landed > 0 && landed < 2048)
      torn.push(landed)
    } else {
      assert.ok(landed === 0 || landed === 2048)
    }
  }
  assert.ok(torn.length > 0, 'no seed tore the write')
  assert.ok(torn.some((n) => n === 512 || n === 1024), `only the first sectors landed in some case: ${torn}`)
})

test('a torn append extends the file only to its last landed sector', async () => {
  let seen = false
  for (let seed = 0; seed < 30 && !seen; seed++) {
    const fs = new SimFileSystem({ prng: new Prng(seed) })
    await durableFile(fs, '/log', filled(100, 1))
    const f = await fs.open('/log', 'readWrite')
    await f.write(filled(1000, 2), 100)
    const report = fs.crash()
    if (report.writesTorn.length === 0) continue
    seen = true
    const data = await fs.readFile('/log')
    assert.ok(data.length === 512 || data.length === 1024, String(data.length))
    assert.is(report.writesTorn[0]!.landed, data.length - 100)
    assert.equal(data.subarray(0, 100), filled(100, 1))
    assert.equal(data.subarray(100), filled(data.length - 100, 2))
  }
  assert.ok(seen)
})

test('a later write may survive while an earlier one is lost', async () => {
  let seen = false
  for (let seed = 0; seed < 40 && !seen; seed++) {
    const fs = new SimFileSystem({ prng: new Prng(seed) })
    await durableFile(fs, '/f', filled(8, 0))
    const f = await fs.open('/f', 'readWrite')
    await f.write(bytes(1), 0)
    await f.write(bytes(2), 4)
    fs.crash()
    const data = await fs.readFile('/f')
    if (data[0] === 0 && data[4] === 2) seen = true
  }
  assert.ok(seen)
})

test('a random workload survives any random crash with each byte synced, written or zero', () =>
  withSeed('sim-fs random bytes', async (prng) => {
    for (let round = 0; round < 20; round++) {
      const fs = new SimFileSystem({ prng: prng.fork() })
      await durableFile(fs, '/f', new Uint8Array(0))
      const f = await fs.open('/f', 'readWrite')
      const synced = new Uint8Array(4096)
      let syncedLength = 0
      const written = Array.from({ length: 4096 }, () => new Set<number>())
      for (let i = 0; i < 30; i++) {
        const pos = prng.int(3000)
        const value = 1 + prng.int(250)
        const data = filled(1 + prng.int(1000), value)
        await f.write(data, pos)
        for (let b = pos; b < pos + data.length; b++) written[b]!.add(value)
        if (prng.bool(0.2)) {
          await f.datasync()
          const live = await fs.readFile('/f')
          synced.set(live)
          syncedLength = live.length
          written.forEach((s) => s.clear())
        }
      }
      fs.crash()
      const after = await fs.readFile('/f')
      assert.ok(after.length >= syncedLength)
      after.forEach((v, i) => {
        const ok = v === (i < syncedLength ? synced[i] : 0) || written[i]!.has(v)
        assert.ok(ok, `byte ${i} is ${v}`)
      })
    }
  }))

test('fsync fails with EIO when told to, only on matching paths, and the failed writes never land', async () => {
  const fs = new SimFileSystem({ crashMode: 'pessimistic' })
  await durableFile(fs, '/wal', filled(4, 1))
  await durableFile(fs, '/other', filled(4, 1))
  fs.failSync({ path: /wal$/, count: 2 })
  const w = await fs.open('/wal', 'readWrite')
  const o = await fs.open('/other', 'readWrite')
  await o.write(filled(4, 2), 0)
  await o.sync()
  await w.write(filled(4, 2), 0)
  const err = await rejectsWithCode(() => w.datasync(), 'EIO')
  assert.match(err.message, "fdatasync '/wal'")
  await rejectsWithCode(() => w.sync(), 'EIO')
  await w.sync()
  assert.equal(await fs.readFile('/wal'), filled(4, 2), 'the page cache still shows the write')
  fs.crash()
  assert.equal(await fs.readFile('/wal'), filled(4, 1), 'but a retried fsync did not make it durable')
  assert.equal(await fs.readFile('/other'), filled(4, 2))
})

test('fsyncDir fails with EIO only when the fault includes directories', async () => {
  const fs = new SimFileSystem()
  fs.failSync({ dirs: true })
  await rejectsWithCode(() => fs.fsyncDir('/'), 'EIO')
  await fs.fsyncDir('/')
  fs.failSync()
  await fs.fsyncDir('/')
  await fs.writeFile('/a', bytes(1))
  const a = await fs.open('/a', 'readWrite')
  await rejectsWithCode(() => a.sync(), 'EIO')
})

test('writes past the capacity fail with ENOSPC and write nothing; deleting frees space', async () => {
  const fs = new SimFileSystem({ capacity: 1000 })
  const f = await fs.open('/a', 'create')
  await f.write(filled(600, 1), 0)
  await f.write(filled(100, 1), 0)
  await rejectsWithCode(() => f.write(filled(600, 2), 600), 'ENOSPC')
  await rejectsWithCode(() => f.allocate(1001), 'ENOSPC')
  await rejectsWithCode(() => fs.writeFile('/b', filled(401, 1)), 'ENOSPC')
  assert.is(await fs.stat('/b'), undefined)
  assert.is(await f.size(), 600)
  assert.is(fs.usedBytes, 600)
  await fs.writeFile('/b', filled(400, 1))
  await fs.unlink('/a')
  assert.is(fs.usedBytes, 400)
  await fs.writeFile('/c', filled(600, 1))
  fs.setCapacity(undefined)
  await fs.writeFile('/d', filled(5000, 1))
})

test('a lock excludes a second lock until released, and a crash releases it', async () => {
  const fs = new SimFileSystem()
  const l1 = await fs.lock('/LOCK')
  assert.is(l1.path, '/LOCK')
  const err = await rejectsWithCode(() => fs.lock('/LOCK'), 'ERR_SEAMS_LOCKED')
  assert.match(err.message, '/LOCK')
  await l1.release()
  const l2 = await fs.lock('/LOCK')
  await l1.release()
  await rejectsWithCode(() => fs.lock('/LOCK'), 'ERR_SEAMS_LOCKED')
  await fs.fsyncDir('/')
  fs.crash()
  const l3 = await fs.lock('/LOCK')
  await l2.release()
  await rejectsWithCode(() => fs.lock('/LOCK'), 'ERR_SEAMS_LOCKED')
  await l3.release()
})

test('crashAfter(k) lets the k-th mutating operation complete and fails every later one', async () => {
  const fs = new SimFileSystem({ crashMode: 'pessimistic' })
  const seen: Operation[] = []
  fs.onOperation((op) => seen.push(op))
  const f = await fs.open('/a', 'create')
  await fs.fsyncDir('/')
  const before = fs.operationCount
  fs.crashAfter(2)
  await f.write(bytes(1), 0)
  await f.sync()
  assert.ok(fs.halted)
  const err = await rejectsWithCode(() => f.write(bytes(2), 1), 'ERR_SIM_CRASH')
  assert.instance(err, SimCrashError)
  await rejectsWithCode(() => fs.readdir('/'), 'ERR_SIM_CRASH')
  await rejectsWithCode(() => f.close(), 'ERR_SIM_CRASH')
  assert.is(fs.operationCount, before + 2)
  assert.equal(seen.map((o) => o.kind), ['create', 'fsyncDir', 'write', 'sync'])
  assert.equal(seen.map((o) => o.index), [1, 2, 3, 4])
  fs.crash()
  assert.not.ok(fs.halted)
  assert.equal(await fs.readFile('/a'), bytes(1))
})

test('flipBit and corrupt damage the durable bytes, visibly and across a crash', async () => {
  const fs = new SimFileSystem({ crashMode: 'pessimistic' })
  await durableFile(fs, '/f', filled(16, 0))
  fs.flipBit('/f', 3, 7)
  assert.is((await fs.readFile('/f'))[3], 0x80)
  fs.corrupt('/f', 8, 4)
  fs.crash()
  const data = await fs.readFile('/f')
  assert.is(data[3], 0x80)
  assert.ok(data.subarray(8, 12).every((b) => b !== 0))
  assert.equal(fs.readDurable('/f'), data)
  assert.throws(() => fs.flipBit('/f', 16, 0), /outside/)
  assert.throws(() => fs.flipBit('/f', 0, 8), /bit/)
})

/** Every file under `dir`, recursively, with its bytes as hex. */
async function tree(fs: SimFileSystem, dir = '/'): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const name of await fs.readdir(dir)) {
    const path = dir === '/' ? `/${name}` : `${dir}/${name}`
    const st = await fs.stat(path)
    if (st?.isDirectory) for (const [p, v] of await tree(fs, path)) out.set(p, v)
    else out.set(path, Buffer.from(await fs.readFile(path)).toString('hex'))
  }
  return out
}

test('random namespace churn never shows a file under two names after a crash, and fsynced state survives', () =>
  withSeed('sim-fs namespace churn', async (prng) => {
    for (let round = 0; round < 40; round++) {
      const fs = new SimFileSystem({ prng: prng.fork() })
      const dirs = ['/', '/a', '/b', '/a/c']
      for (const d of dirs.slice(1)) await fs.mkdir(d)
      for (const d of dirs) await fs.fsyncDir(d)
      let next = 0
      for (let i = 0; i < 40; i++) {
        const files = [...(await tree(fs)).keys()]
        const choice = prng.int(5)
        if (choice === 0 || files.length === 0) {
          const f = await fs.open(`${prng.pick(dirs)}/f${next}`.replace('//', '/'), 'create')
          await f.write(new Uint8Array([next & 0xff, next >> 8]), 0)
          await f.sync()
          next++
        } else if (choice === 1) await fs.rename(prng.pick(files), `${prng.pick(dirs)}/r${next++}`.replace('//', '/'))
        else if (choice === 2) await fs.unlink(prng.pick(files))
        else if (choice === 3) await fs.rename(prng.pick(files), prng.pick(files))
        else await fs.fsyncDir(prng.pick(dirs))
      }
      for (const d of dirs) if (prng.bool(0.3)) await fs.fsyncDir(d)
      const pessimistic = prng.bool(0.3)
      const all = await tree(fs)
      fs.crash({ mode: pessimistic ? 'pessimistic' : 'random' })
      const after = await tree(fs)
      const contents = [...after.values()]
      assert.is(new Set(contents).size, contents.length, `a file appears twice: ${[...after]}`)
      for (const d of dirs) assert.ok((await fs.stat(d))?.isDirectory, `${d} was fsynced in its parent`)
      if (round % 10 === 0) {
        // With everything fsynced, even a pessimistic crash keeps the exact tree.
        const g = new SimFileSystem({ prng: prng.fork(), crashMode: 'pessimistic' })
        for (const d of dirs.slice(1)) await g.mkdir(d)
        for (const [path, hex] of all) await durableFile(g, path, Buffer.from(hex, 'hex'))
        for (const d of dirs) await g.fsyncDir(d)
        g.crash()
        assert.equal(await tree(g), all)
      }
    }
  }))

/** A fixed workload with unsynced writes and namespace changes, then a random crash. */
async function workload(seed: number): Promise<{ report: CrashReport; files: string[] }> {
  const fs = new SimFileSystem({ prng: new Prng(seed) })
  await fs.mkdir('/d')
  await fs.fsyncDir('/')
  for (let i = 0; i < 5; i++) {
    const f = await fs.open(`/d/${i}`, 'create')
    for (let j = 0; j < 4; j++) await f.write(filled(700, 10 * i + j), j * 700)
    if (i % 2 === 0) await f.sync()
  }
  await fs.rename('/d/0', '/d/zero')
  const report = fs.crash()
  const files: string[] = []
  for (const name of await fs.readdir('/d')) files.push(`${name}:${Buffer.from(await fs.readFile(`/d/${name}`)).toString('hex')}`)
  return { report, files }
}

test('the same seed reproduces the same crash, and another seed gives another', async () => {
  const a = await workload(1234)
  assert.equal(await workload(1234), a)
  let differs = false
  for (let seed = 1; seed < 5 && !differs; seed++) differs = JSON.stringify(await workload(1234 + seed)) !== JSON.stringify(a)
  assert.ok(differs)
})

test('a synced record survives any crash (the README quick start)', () =>
  withSeed('my crash test', async (prng) => {
    const record = new Uint8Array(600).fill(1)
    const nextRecord = new Uint8Array(600).fill(2)
    const fs = new SimFileSystem({ prng })
    const f = await fs.open('/wal', 'createExclusive')
    await f.write(record, 0)
    await f.datasync()
    await fs.fsyncDir('/')
    await f.write(nextRecord, record.length)
    fs.crash()
    const after = await fs.readFile('/wal')
    assert.equal(after.subarray(0, record.length), record)
    await rejectsWithCode(() => f.size(), 'EBADF')
  }))

test('a write keeps its own copy: reusing the caller\'s Buffer afterwards changes nothing on disk', async () => {
  const fs = new SimFileSystem()
  await fs.mkdir('/d')
  const f = await fs.open('/d/a', 'create')
  const buf = Buffer.from([1, 2, 3])
  await f.write(buf, 0)
  buf.fill(9)
  await f.sync()
  assert.equal([...(await fs.readFile('/d/a'))], [1, 2, 3])
})

test.run()
