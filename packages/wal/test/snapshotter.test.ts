import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { SnapshotMetadata } from '@strata/raft'
import { nodeFileSystem } from '@strata/seams'
import { Failpoints, Prng, SimFileSystem, forEachCrashPoint, rejectsWithCode, tempDir, withSeed } from '@strata/testkit'
import { Snapshotter } from '../src/index.js'
import type { BrokenSnapshot, LoadedSnapshot, SnapshotterOptions } from '../src/index.js'
import { CONF, EMPTY_CONF, bind } from './helpers.js'

const DIR = '/m/snap'

function meta(index: number, term: number, confState = CONF): SnapshotMetadata {
  return { index, term, confState }
}

/**
 * `total` bytes from `seed`, yielded in chunks of 1..maxChunk bytes (each a fresh array). The
 * bytes depend on the seed only, not on the chunking.
 */
async function* stream(seed: number, total: number, maxChunk: number): AsyncGenerator<Uint8Array> {
  const bytes = new Prng(seed)
  const sizes = new Prng(`${seed} sizes`)
  for (let left = total; left > 0;) {
    const n = Math.min(left, 1 + sizes.int(maxChunk))
    yield new Uint8Array(n).map(() => bytes.int(256))
    left -= n
  }
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const c of chunks) parts.push(c)
  return Buffer.concat(parts)
}

async function bytesOf(seed: number, total: number): Promise<Uint8Array> {
  return collect(stream(seed, total, 4096))
}

function simOpen(fs: SimFileSystem, extra: SnapshotterOptions = {}): Promise<Snapshotter> {
  return Snapshotter.open(DIR, { fs, chunkBytes: 4096, ...extra })
}

async function readAllOf(s: LoadedSnapshot | undefined): Promise<Uint8Array> {
  assert.ok(s !== undefined, 'a snapshot was loaded')
  return collect(s.read())
}

test('a multi-MB snapshot streamed in small chunks reads back whole, in chunks of at most chunkBytes', async () => {
  const fs = new SimFileSystem()
  const s = await Snapshotter.open(DIR, { fs, chunkBytes: 64 * 1024 })
  const total = 5 * 1024 * 1024 + 13
  const saved = await s.save(meta(1000, 3), stream(7, total, 3000))
  assert.equal(saved, { name: '0000000000000003-00000000000003e8.snap', dataBytes: total })
  assert.equal(await s.list(), [meta(1000, 3)])
  const loaded = await s.loadNewest()
  assert.equal(loaded?.metadata, meta(1000, 3))
  assert.is(loaded?.dataBytes, total)
  let chunks = 0
  const parts: Uint8Array[] = []
  for await (const c of loaded!.read()) {
    assert.ok(c.length <= 64 * 1024)
    parts.push(c)
    chunks++
  }
  assert.ok(chunks >= total / (64 * 1024))
  assert.ok(Buffer.from(Buffer.concat(parts)).equals(await bytesOf(7, total)))
  await s.close()
})

test('a snapshot round-trips on the real file system, with an empty one and a sync iterable', async () => {
  const t = await tempDir('wal-snap-')
  try {
    const s = await Snapshotter.open(`${t.path}/snap`)
    await s.save(meta(5, 1, EMPTY_CONF), [])
    await s.save(meta(9, 2), [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array([4])])
    await s.close()
    const again = await Snapshotter.open(`${t.path}/snap`, { fs: nodeFileSystem })
    assert.equal([...await readAllOf(await again.loadNewest())], [1, 2, 3, 4])
    assert.equal([...await readAllOf(await again.loadAt(5, 1))], [])
    assert.equal((await again.loadAt(5, 1))?.metadata, meta(5, 1, EMPTY_CONF))
    assert.is(await again.loadAt(5, 2), undefined)
    await again.close()
  } finally {
    await t.cleanup()
  }
})

test('a crash at any point of a save leaves the old snapshot or the whole new one, never a damaged file', () =>
  withSeed('snapshotter crash every op', async (prng) => {
    const older = await bytesOf(3, 10_000)
    const newer = await bytesOf(11, 40_000)
    let completed = false
    const n = await forEachCrashPoint(
      async (fs) => {
        const s = await simOpen(fs)
        completed = false
        await s.save(meta(20, 2), stream(11, 40_000, 5000))
        completed = true
        await s.close()
      },
      async (fs) => {
        const broken: BrokenSnapshot[] = []
        const s = await simOpen(fs, { onBroken: (b) => broken.push(b) })
        assert.ok(!(await fs.readdir(DIR)).some((name) => name.endsWith('.tmp')), 'open removes stray tmp files')
        const listed = await s.list()
        const loaded = await s.loadNewest()
        assert.ok(loaded !== undefined, 'the older snapshot at least survives')
        assert.equal(listed[0], loaded.metadata)
        if (completed) assert.is(loaded.metadata.index, 20, 'a save that resolved survives the crash')
        const expect = loaded.metadata.index === 20 ? newer : older
        assert.ok(Buffer.from(await readAllOf(loaded)).equals(expect))
        assert.equal(broken, [], 'no damaged file under a final name')
        await s.close()
      },
      {
        prng: prng.fork(),
        setup: async (fs) => {
          const s = await simOpen(fs)
          await s.save(meta(10, 1), stream(3, 10_000, 700))
          await s.close()
        },
      },
    )
    assert.ok(n > 10)
  }))

test('a damaged snapshot is skipped, renamed to .broken and reported; the next older one loads', async () => {
  const fs = new SimFileSystem()
  const broken: BrokenSnapshot[] = []
  const s = await simOpen(fs, { onBroken: (b) => broken.push(b) })
  await s.save(meta(10, 1), stream(1, 20_000, 999))
  const newest = await s.save(meta(20, 1), stream(2, 20_000, 999))
  fs.flipBit(`${DIR}/${newest.name}`, 10_000, 3)
  // list reads headers only: data damage shows at load.
  assert.equal((await s.list()).map((m) => m.index), [20, 10])
  const loaded = await s.loadNewest()
  assert.equal(loaded?.metadata, meta(10, 1))
  assert.ok(Buffer.from(await readAllOf(loaded)).equals(await bytesOf(1, 20_000)))
  assert.equal(broken, [{ name: newest.name, brokenName: `${newest.name}.broken`, reason: 'data checksum mismatch' }])
  assert.equal(await fs.readdir(DIR), ['0000000000000001-000000000000000a.snap', `${newest.name}.broken`, 'LOCK'])
  assert.equal((await s.list()).map((m) => m.index), [10])
  await s.close()
})

test('a damaged header hides a snapshot from list and loadAt; damage found while reading throws ERR_WAL_SNAP_CORRUPT', async () => {
  const fs = new SimFileSystem()
  const broken: string[] = []
  const s = await simOpen(fs, { onBroken: (b) => broken.push(b.reason) })
  const a = await s.save(meta(10, 1), stream(1, 20_000, 999))
  const b = await s.save(meta(20, 1), stream(2, 20_000, 999))
  fs.flipBit(`${DIR}/${b.name}`, 20, 0)
  assert.equal((await s.list()).map((m) => m.index), [10])
  assert.is(await s.loadAt(20, 1), undefined)
  assert.equal(broken, ['header checksum mismatch'])
  // Verified at load, damaged afterwards: the stream fails at its end.
  const loaded = await s.loadAt(10, 1)
  fs.flipBit(`${DIR}/${a.name}`, 15_000, 1)
  const err = await rejectsWithCode(collect(loaded!.read()), 'ERR_WAL_SNAP_CORRUPT')
  assert.match(err.message, /data checksum mismatch/)
  await s.close()
})

test('a save keeps the newest `keep` snapshots and deletes the older ones', async () => {
  const fs = new SimFileSystem()
  const s = await simOpen(fs, { keep: 2 })
  for (let i = 1; i <= 5; i++) await s.save(meta(i * 10, 1 + (i >> 1)), stream(i, 100, 50))
  assert.equal((await s.list()).map((m) => [m.term, m.index]), [[3, 50], [3, 40]])
  assert.equal((await fs.readdir(DIR)).filter((n) => n.endsWith('.snap')).length, 2)
  await s.close()
  const d = await Snapshotter.open('/other', { fs })
  for (let i = 1; i <= 7; i++) await d.save(meta(i, 1), [])
  assert.equal((await d.list()).map((m) => m.index), [7, 6, 5, 4, 3])
  await d.close()
})

test('lists and loads running alongside saves that purge never fail on a file that vanished', async () => {
  const fs = new SimFileSystem()
  const s = await simOpen(fs, { keep: 1 })
  const work: Array<Promise<unknown>> = []
  for (let i = 1; i <= 20; i++) {
    work.push(s.save(meta(i, 1), stream(i, 3000, 500)))
    work.push(s.list().then((l) => assert.ok(l.length <= 2)))
    work.push(s.loadNewest().then((l) => assert.ok(l === undefined || l.metadata.index <= i)))
  }
  await Promise.all(work)
  assert.equal((await s.list()).map((m) => m.index), [20])
  await s.close()
})

test('a snapshot file that vanishes between listing the directory and opening it is skipped', async () => {
  const sim = new SimFileSystem()
  // A readdir that still shows a file a concurrent save has purged since.
  const fs = { ...bind(sim), readdir: async (p: string) => [...await sim.readdir(p), '0000000000000009-0000000000000063.snap'].sort() }
  const s = await Snapshotter.open(DIR, { fs, chunkBytes: 4096 })
  await s.save(meta(10, 1), [new Uint8Array([1])])
  assert.equal((await s.list()).map((m) => m.index), [10])
  assert.equal((await s.loadNewest())?.metadata, meta(10, 1))
  assert.is(await s.loadAt(99, 9), undefined)
  await s.close()
})

test('failpoints: snapBeforeSave fires before anything is written, snapAfterSave once the file is durable', async () => {
  const fs = new SimFileSystem()
  const fp = new Failpoints()
  const s = await simOpen(fs, { failpoint: fp.fn })
  fp.arm('snapBeforeSave')
  await rejectsWithCode(s.save(meta(10, 1), stream(1, 5000, 100)), 'ERR_FAILPOINT')
  assert.equal(await fs.readdir(DIR), ['LOCK'])
  fp.arm('snapAfterSave')
  await rejectsWithCode(s.save(meta(10, 1), stream(1, 5000, 100)), 'ERR_FAILPOINT')
  fs.crash({ mode: 'pessimistic' })
  const again = await simOpen(fs)
  assert.ok(Buffer.from(await readAllOf(await again.loadNewest())).equals(await bytesOf(1, 5000)))
  await again.close()
})

test('a data stream that fails leaves nothing behind and passes its error on', async () => {
  const fs = new SimFileSystem()
  const s = await simOpen(fs)
  await s.save(meta(10, 1), [new Uint8Array([1])])
  async function* failing(): AsyncGenerator<Uint8Array> {
    yield new Uint8Array(10_000)
    throw new Error('backend snapshot failed')
  }
  await rejectsWithCode(s.save(meta(20, 1), failing()).catch((err: Error) => { throw Object.assign(err, { code: 'X' }) }), 'X')
  await rejectsWithCode(s.save(meta(20, 1), [new Uint8Array(1), 'nope' as unknown as Uint8Array]), 'ERR_WAL_INVALID_ARGUMENT')
  assert.equal(await fs.readdir(DIR), ['0000000000000001-000000000000000a.snap', 'LOCK'])
  assert.equal((await s.loadNewest())?.metadata, meta(10, 1))
  await s.close()
})

test('open removes stray tmp files and locks the directory; close is idempotent; calls after it fail with ERR_WAL_CLOSED', async () => {
  const fs = new SimFileSystem()
  await fs.mkdir(DIR)
  await fs.writeFile(`${DIR}/0000000000000001-0000000000000001.snap.tmp`, new Uint8Array(10))
  const s = await simOpen(fs)
  assert.equal(await fs.readdir(DIR), ['LOCK'])
  assert.is(await s.loadNewest(), undefined)
  assert.equal(await s.list(), [])
  await rejectsWithCode(simOpen(fs), 'ERR_WAL_LOCKED')
  const saving = s.save(meta(1, 1), stream(1, 50_000, 1000))
  await s.close()
  await saving
  await s.close()
  await rejectsWithCode(s.save(meta(2, 1), []), 'ERR_WAL_CLOSED')
  await rejectsWithCode(s.loadNewest(), 'ERR_WAL_CLOSED')
  await rejectsWithCode(s.list(), 'ERR_WAL_CLOSED')
  const again = await simOpen(fs)
  assert.equal((await again.loadNewest())?.metadata, meta(1, 1))
  await again.close()
})

test('bad options and arguments fail with ERR_WAL_INVALID_OPTION and ERR_WAL_INVALID_ARGUMENT', async () => {
  const fs = new SimFileSystem()
  for (const bad of [{ keep: 0 }, { keep: 1.5 }, { keep: '5' }, { chunkBytes: 100 }, { failpoint: 1 }, { fs: 'x' }, { onBroken: 3 }]) {
    await rejectsWithCode(Snapshotter.open(DIR, { fs, ...bad } as SnapshotterOptions), 'ERR_WAL_INVALID_OPTION')
  }
  await rejectsWithCode(Snapshotter.open('', { fs }), 'ERR_WAL_INVALID_ARGUMENT')
  const s = await simOpen(fs)
  const badMeta: unknown[] = [undefined, { index: 1, term: 1 }, meta(-1, 1), meta(1, 2 ** 53), meta(1, 1, { ...CONF, learners: [1.5] })]
  for (const m of badMeta) await rejectsWithCode(s.save(m as SnapshotMetadata, []), 'ERR_WAL_INVALID_ARGUMENT')
  await rejectsWithCode(s.save(meta(1, 1), 42 as unknown as Uint8Array[]), 'ERR_WAL_INVALID_ARGUMENT')
  await rejectsWithCode(s.save(meta(1, 1), new Uint8Array(4) as unknown as Uint8Array[]), 'ERR_WAL_INVALID_ARGUMENT')
  await rejectsWithCode(s.save(meta(1, 1), 'data' as unknown as Uint8Array[]), 'ERR_WAL_INVALID_ARGUMENT')
  await rejectsWithCode(s.loadAt(-1, 0), 'ERR_WAL_INVALID_ARGUMENT')
  await s.close()
})

test.run()
