import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { nodeFileSystem } from '@strata/seams'
import type { FileSystem } from '@strata/seams'
import { rejectsWithCode, SimClock, tempDir, withSeed } from '@strata/testkit'
import type { TempDir } from '@strata/testkit'
import { BUCKETS, LmdbBackend, MemoryBackend } from '../src/index.js'
import type { Backend } from '../src/index.js'
import { RESTORE_STEP_BYTES, RESTORE_STEP_PAIRS } from '../src/lmdb-restore-step.js'
import type { HeadChunk } from '../src/index.js'
import { DATA_FILE, ENV_OPTIONS, HEAD_SCAN_THREAD_MIN_PAIRS, forEachHead, prestartScanThread, scanHeadsOnThread, stopPrestartedScanThread } from '../src/internal.js'
import { bytes, collect, contractSuite, dump, text } from './contract.js'

contractSuite('LmdbBackend', async () => {
  const dir = await tempDir('strata-backend-')
  return {
    open: (options) => LmdbBackend.open(dir.path, options),
    crash: async (b, options) => {
      await (b as LmdbBackend).crash()
      return LmdbBackend.open(dir.path, options)
    },
    reopen: async (b, options) => {
      await b.close()
      return LmdbBackend.open(dir.path, options)
    },
    cleanup: () => dir.cleanup(),
  }
})

let dir: TempDir
test.before.each(async () => { dir = await tempDir('strata-backend-') })
test.after.each(async () => { await dir.cleanup() })

test('forEachView visits exactly what forEach does, with views valid during the call, before and after a defragment', async () => {
  const b = await LmdbBackend.open(dir.path, { clock: new SimClock() })
  b.write((tx) => {
    for (let i = 0; i < 300; i++) tx.put('key', bytes(`k${String(i).padStart(3, '0')}`), bytes(`v${i}`.repeat(1 + (i % 7))))
    tx.put('meta', bytes('m'), bytes('1'))
  })
  await b.commit()
  const walk = (fn: 'forEach' | 'forEachView', start: string, end: string | undefined): string[] => {
    const out: string[] = []
    b.read((tx) => tx[fn]!('key', bytes(start), end === undefined ? undefined : bytes(end), (k, v) => {
      out.push(`${text(k)}=${text(v)}`)
      return out.length < 250
    }))
    return out
  }
  const check = (): void => {
    for (const [start, end] of [['', undefined], ['k100', 'k200'], ['k050', undefined], ['k2', 'k1']] as const) {
      assert.equal(walk('forEachView', start, end), walk('forEach', start, end))
    }
  }
  check()
  // Pending writes in the bucket: the merge path.
  b.write((tx) => {
    tx.put('key', bytes('k150'), bytes('pending'))
    tx.delete('key', bytes('k151'))
  })
  check()
  await b.commit()
  await b.defragment()
  check()
  assert.equal(walk('forEachView', '', undefined).length, 250)
  await b.close()
})

test('getView reads what get does (committed, pending, deleted, missing; a value too big for the reused buffer), and get still returns a copy', async () => {
  const b = await LmdbBackend.open(dir.path, { clock: new SimClock() })
  const big = new Uint8Array(300_000).map((_, i) => i % 251)
  b.write((tx) => {
    for (let i = 0; i < 50; i++) tx.put('key', bytes(`k${i}`), bytes(`v${i}`.repeat(1 + (i % 9))))
    tx.put('key', bytes('big'), big)
  })
  await b.commit()
  b.write((tx) => {
    tx.put('key', bytes('k7'), bytes('pending'))
    tx.delete('key', bytes('k8'))
  })
  b.read((tx) => {
    for (const k of ['k0', 'k7', 'k8', 'k49', 'nope', 'big', 'k3']) {
      const copy = tx.get('key', bytes(k))
      const view = tx.getView!('key', bytes(k))
      assert.equal(view === undefined ? undefined : Array.from(view), copy === undefined ? undefined : Array.from(copy), k)
    }
    const kept = tx.get('key', bytes('k1'))!
    tx.getView!('key', bytes('k2'))
    assert.is(text(kept), 'v1v1', 'a later read does not change what get returned')
    assert.equal(Array.from(tx.getView!('key', bytes('big'))!), Array.from(big))
  })
  await b.close()
})

test('a second open of the same directory fails with ERR_BACKEND_LOCKED until the first closes', async () => {
  const a = await LmdbBackend.open(dir.path, { clock: new SimClock() })
  await rejectsWithCode(LmdbBackend.open(dir.path), 'ERR_BACKEND_LOCKED')
  a.write((tx) => tx.put('alarm', bytes('x'), bytes('1')))
  await a.close()
  const b = await LmdbBackend.open(dir.path, { clock: new SimClock() })
  assert.equal(dump(b), ['alarm/x=1'])
  await b.close()
})

test('the first open makes the new data file and its directory durable', async () => {
  const synced: string[] = []
  const fs: FileSystem = { ...nodeFileSystem, fsyncDir: async (path) => { synced.push(path); await nodeFileSystem.fsyncDir(path) } }
  const path = join(dir.path, 'member', 'db')
  const b = await LmdbBackend.open(path, { fs })
  assert.equal(synced, [path, join(dir.path, 'member')])
  synced.length = 0
  await b.close()
  assert.equal(synced, [path], 'the clean-close marker is made durable')
  synced.length = 0
  const again = await LmdbBackend.open(path, { fs })
  assert.equal(synced, [path], 'only the removal of the clean-close marker, when the file existed')
  await again.close()
})

test('a data file that is not LMDB fails with ERR_BACKEND_CORRUPT and releases the lock', async () => {
  await writeFile(join(dir.path, 'data.mdb'), Buffer.alloc(64 * 1024, 0x5a))
  await rejectsWithCode(LmdbBackend.open(dir.path), 'ERR_BACKEND_CORRUPT')
  await rejectsWithCode(LmdbBackend.open(dir.path), 'ERR_BACKEND_CORRUPT')
})

test('defragment shrinks the file after mass deletes; reads go on and commits wait meanwhile', async () => {
  const clock = new SimClock()
  const b = await LmdbBackend.open(dir.path, { clock })
  const value = new Uint8Array(1000).fill(1)
  for (let i = 0; i < 5000; i++) b.write((tx) => tx.put('key', bytes(`k${String(i).padStart(6, '0')}`), value))
  await b.commit()
  for (let i = 100; i < 5000; i++) b.write((tx) => tx.delete('key', bytes(`k${String(i).padStart(6, '0')}`)))
  await b.commit()
  const before = b.stats()
  assert.ok(before.sizeBytes > 4_000_000, JSON.stringify(before))
  assert.ok(before.sizeInUseBytes < before.sizeBytes / 4, JSON.stringify(before))
  const running = b.defragment()
  b.write((tx) => tx.put('meta', bytes('during'), bytes('1')))
  const waited = b.commit()
  assert.is(text(b.read((tx) => tx.get('key', bytes('k000050')))) !== undefined, true)
  await running
  await waited
  const after = b.stats()
  assert.ok(after.sizeBytes < before.sizeBytes / 4, `${before.sizeBytes} -> ${after.sizeBytes}`)
  assert.is(b.read((tx) => tx.range('key', bytes('k'), undefined)).length, 100)
  await b.crash()
  const again = await LmdbBackend.open(dir.path, { clock })
  assert.is(text(again.read((tx) => tx.get('meta', bytes('during')))), '1', 'the write made during defragment committed after it')
  assert.is(again.read((tx) => tx.range('key', bytes('k'), undefined)).length, 100)
  await again.close()
})

test('crash() and close() during a defragment wait for its swap; a second one is refused', async () => {
  const b = await LmdbBackend.open(dir.path, { clock: new SimClock() })
  b.write((tx) => { for (let i = 0; i < 3000; i++) tx.put('key', bytes(`k${i}`), new Uint8Array(500)) })
  await b.commit()
  const running = b.defragment()
  await rejectsWithCode(b.restore((async function* () { yield new Uint8Array(0) })()), 'ERR_BACKEND_BUSY')
  b.write((tx) => tx.put('key', bytes('pending'), bytes('x')))
  await b.crash()
  await running
  const again = await LmdbBackend.open(dir.path)
  assert.is(again.read((tx) => tx.range('key', bytes('k'), undefined)).length, 3000)
  assert.is(again.read((tx) => tx.get('key', bytes('pending'))), undefined, 'the crash dropped the pending write')
  await again.close()
})

test('a snapshot stream is a consistent copy while commits go on', async () => {
  const b = await LmdbBackend.open(dir.path, { clock: new SimClock() })
  for (let i = 0; i < 3000; i++) b.write((tx) => tx.put('key', bytes(`k${String(i).padStart(5, '0')}`), new Uint8Array(300)))
  const expected = dump(b)
  const chunks: Uint8Array[] = []
  for await (const chunk of b.snapshot()) {
    chunks.push(chunk)
    b.write((tx) => tx.put('key', bytes(`z${chunks.length}`), bytes('late')))
    await b.commit()
  }
  assert.ok(chunks.length > 2, 'the stream came in several chunks')
  await b.close()
  const m = new MemoryBackend({ clock: new SimClock() })
  await m.restore((async function* () { yield* chunks })())
  assert.equal(dump(m), expected, 'a memory backend restores an LMDB snapshot')
})

test('a staging file left by a crash during defragment or restore is removed on open', async () => {
  const b = await LmdbBackend.open(dir.path)
  b.write((tx) => tx.put('key', bytes('a'), bytes('1')))
  await b.close()
  await writeFile(join(dir.path, 'data.mdb.defrag'), 'half a copy')
  await writeFile(join(dir.path, 'data.mdb.restore'), 'half a restore')
  const again = await LmdbBackend.open(dir.path)
  assert.equal(dump(again), ['key/a=1'])
  await again.close()
  const { readdir } = await import('node:fs/promises')
  assert.equal((await readdir(dir.path)).filter((f) => f.includes('.defrag') || f.includes('.restore')), [])
})

test('restore takes pairs longer than a step, pairs across a step\'s end and Buffer chunks cut anywhere', async () => {
  const src = new MemoryBackend({ clock: new SimClock() })
  src.write((tx) => {
    // Values of 1 KiB to 300 KiB fill the restore's 1 MiB steps unevenly; two exceed a step.
    for (let i = 0; i < 60; i++) tx.put('key', bytes(`v${String(i).padStart(3, '0')}`), new Uint8Array(1024 * (1 + ((i * 37) % 300))).fill(i))
    tx.put('key', bytes('w-big'), new Uint8Array(RESTORE_STEP_BYTES + 1).fill(0xab))
    tx.put('key', bytes('x-bigger'), new Uint8Array(3 * RESTORE_STEP_BYTES).fill(0xcd))
    for (let i = 0; i < 5_000; i++) tx.put('lease', bytes(`l${i}`), bytes(String(i)))
    tx.put('meta', bytes('m'), bytes('1'))
  })
  // Every pair's bytes, hashed (dump()'s text would read all non-UTF-8 fills alike).
  const digest = (b: Backend): string[] => b.read((tx) => BUCKETS.flatMap((bucket) => tx.range(bucket, new Uint8Array([0]), undefined).map((p) => `${bucket}/${text(p.key)}=${createHash('sha256').update(p.value).digest('hex')}`)))
  const whole = Buffer.concat(await collect(src.snapshot()))
  const expected = digest(src)
  assert.is(expected.length, 60 + 2 + 5_000 + 1)
  for (const size of [7_001, 1 << 20]) {
    const dst = await LmdbBackend.open(join(dir.path, `dst-${size}`))
    dst.write((tx) => tx.put('key', bytes('old'), bytes('x')))
    await dst.restore((async function* () {
      for (let at = 0; at < whole.length; at += size) yield whole.subarray(at, at + size)
    })())
    assert.equal(digest(dst), expected, `chunks of ${size} bytes`)
    await dst.close()
  }
})

test('restore of an LMDB snapshot survives a crash and reopen', async () => {
  const src = await LmdbBackend.open(join(dir.path, 'src'))
  src.write((tx) => { for (let i = 0; i < 25_000; i++) tx.put('key', bytes(`r${i}`), bytes(String(i))) })
  const chunks = await collect(src.snapshot())
  await src.close()
  const dst = await LmdbBackend.open(join(dir.path, 'dst'))
  dst.write((tx) => tx.put('key', bytes('old'), bytes('x')))
  // The staging file is written in steps with a turn of the event loop between them.
  let turns = 0
  let spinning = true
  const spin = (): void => {
    if (!spinning) return
    turns++
    setImmediate(spin)
  }
  setImmediate(spin)
  await dst.restore((async function* () { yield* chunks })())
  spinning = false
  assert.ok(turns >= 25_000 / RESTORE_STEP_PAIRS, `the event loop turned ${turns} times during a restore of 25,000 pairs`)
  assert.is(dst.read((tx) => tx.get('key', bytes('old'))), undefined)
  await dst.crash()
  const again = await LmdbBackend.open(join(dir.path, 'dst'))
  assert.is(again.read((tx) => tx.range('key', bytes('r'), undefined)).length, 25_000)
  assert.is(text(again.read((tx) => tx.get('key', bytes('r24999')))), '24999')
  await again.close()
})

test('while a commit is in flight, reads merge the pending batch over it over LMDB, and a second commit waits for it', async () => {
  const b = await LmdbBackend.open(dir.path, { clock: new SimClock() })
  const k = (i: number): Uint8Array => bytes(`k${String(i).padStart(2, '0')}`)
  b.write((tx) => { for (let i = 0; i < 20; i += 2) tx.put('key', k(i), bytes('committed')) })
  await b.commit()
  b.write((tx) => {
    for (let i = 0; i < 20; i += 4) tx.put('key', k(i), bytes('inflight'))
    tx.delete('key', k(2))
    tx.put('key', k(5), bytes('inflight'))
  })
  const first = b.commit()
  assert.is(b.stats().pendingWrites, 0, 'the batch went to the writer thread')
  b.write((tx) => {
    tx.put('key', k(4), bytes('pending'))
    tx.delete('key', k(8))
    tx.put('key', k(2), bytes('pending'))
    tx.put('key', k(7), bytes('pending'))
  })
  const second = b.commit()
  const want = ['k00=inflight', 'k02=pending', 'k04=pending', 'k05=inflight', 'k06=committed', 'k07=pending', 'k10=committed', 'k12=inflight', 'k14=committed', 'k16=inflight', 'k18=committed']
  const state = (): string[] => b.read((tx) => tx.range('key', bytes('k'), undefined).map((p) => `${text(p.key)}=${text(p.value)}`))
  assert.equal(state(), want)
  assert.equal(b.read((tx) => tx.range('key', bytes('k'), undefined, { reverse: true, limit: 3 }).map((p) => text(p.key))), ['k18', 'k16', 'k14'])
  assert.is(text(b.read((tx) => tx.get('key', k(12)))), 'inflight')
  assert.is(b.read((tx) => tx.get('key', k(8))), undefined)
  assert.is(b.stats().commits, 1, 'the second commit has not run yet')
  await first
  assert.equal(state(), want, 'the same once the first landed')
  await second
  assert.is(b.stats().commits, 3)
  assert.equal(state(), want)
  await b.crash()
  const again = await LmdbBackend.open(dir.path, { verifyStructure: false })
  assert.equal(again.read((tx) => tx.range('key', bytes('k'), undefined).map((p) => `${text(p.key)}=${text(p.value)}`)), want)
  await again.close()
})

test('a commit completes off the calling thread: the event loop turns while it is in flight', async () => {
  const b = await LmdbBackend.open(dir.path, { clock: new SimClock() })
  b.write((tx) => { for (let i = 0; i < 20_000; i++) tx.put('key', bytes(`k${i}`), new Uint8Array(100)) })
  let ticks = 0
  const committing = b.commit().then(() => ticks)
  // The pairs are written on this thread inside the writer's transaction (a few ms), the commit
  // and its sync on lmdb-js's thread; the loop turns meanwhile.
  while (b.stats().commits === 0) {
    await new Promise((resolve) => setImmediate(resolve))
    ticks++
  }
  assert.ok((await committing) > 0, 'the event loop turned before the commit resolved')
  await b.close()
})

test('a commit() called from inside a walk waits for the walk, which sees one consistent state', async () => {
  const b = await LmdbBackend.open(dir.path, { clock: new SimClock() })
  for (let i = 0; i < 100; i++) b.write((tx) => tx.put('key', bytes(`k${String(i).padStart(3, '0')}`), bytes('c')))
  await b.commit()
  b.write((tx) => tx.put('key', bytes('k050'), bytes('pending')))
  const seen: string[] = []
  let committed: Promise<void> | undefined
  b.read((tx) => tx.forEach('key', bytes('k'), undefined, (k, v) => {
    if (seen.length === 10) committed = b.commit()
    seen.push(`${text(k)}=${text(v)}`)
  }))
  assert.is(seen.length, 100)
  assert.is(seen[50], 'k050=pending')
  assert.is(b.stats().pendingWrites, 0, 'the commit started when the walk ended')
  await committed
  assert.is(b.stats().commits, 2)
  await b.close()
})

test('defragment waits for a half-read snapshot stream, which stays consistent', async () => {
  const b = await LmdbBackend.open(dir.path, { clock: new SimClock() })
  b.write((tx) => { for (let i = 0; i < 4000; i++) tx.put('key', bytes(`k${i}`), new Uint8Array(200).fill(1)) })
  const expected = dump(b)
  const stream = b.snapshot()[Symbol.asyncIterator]()
  const first = await stream.next()
  let defragmented = false
  const defrag = b.defragment().then(() => { defragmented = true })
  await new Promise((resolve) => setTimeout(resolve, 50))
  assert.is(defragmented, false, 'the swap waits for the open read transaction')
  const chunks = [first.value as Uint8Array]
  for (let next = await stream.next(); next.done !== true; next = await stream.next()) chunks.push(next.value)
  await defrag
  assert.ok(defragmented)
  const m = new MemoryBackend({ clock: new SimClock() })
  await m.restore((async function* () { yield* chunks })())
  assert.equal(dump(m), expected)
  assert.equal(dump(b), expected)
  await b.close()
})

test('a commit that really fails (file size limit) refuses later writes and loses no committed batch', async () => {
  const fixture = fileURLToPath(new URL('./fixtures/full-disk-writer.ts', import.meta.url))
  const child = spawn('bash', ['-c', `ulimit -f 1024 && exec "${process.execPath}" --conditions=source --import tsx "${fixture}" "${dir.path}"`], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += String(d) })
  const code = await new Promise((resolve) => child.on('exit', resolve))
  assert.is(code, 0)
  const report = JSON.parse(out) as { commitError: string; writeError: string; written: number; visible: number }
  assert.is(report.commitError, 'ERR_BACKEND_COMMIT')
  assert.is(report.writeError, 'ERR_BACKEND_COMMIT')
  assert.is(report.visible, report.written, 'reads still see the failed batch in memory')
  const b = await LmdbBackend.open(dir.path)
  assert.is(b.read((tx) => tx.range('key', bytes('k'), undefined)).length, report.written - 100, 'every batch before the failed one is durable')
  b.write((tx) => tx.put('key', bytes('reopened'), bytes('ok')))
  await b.close()
})

/** Runs the crash writer in `path` and SIGKILLs it after `commits` commits plus `delayMs`; resolves with the last batch it reported committed. */
function killWriterAfter(path: string, commits: number, delayMs: number): Promise<number> {
  const fixture = fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url))
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', fixture, path], { stdio: ['ignore', 'pipe', 'inherit'] })
  let reported = -1
  let seen = 0
  let out = ''
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += String(d)
      const lines = out.split('\n')
      out = lines.pop()!
      for (const line of lines) {
        reported = Number(line.split(' ')[1])
        if (++seen === commits) setTimeout(() => child.kill('SIGKILL'), delayMs)
      }
    })
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(reported)
      else reject(new Error(`crash writer exited with ${code} before it was killed`))
    })
  })
}

test('a writer killed mid-writes leaves exactly a prefix of its committed batches', async () => {
  await withSeed('lmdb kill', async (prng) => {
    for (let round = 0; round < 3; round++) {
      const reported = await killWriterAfter(dir.path, 2 + prng.int(6), prng.int(15))
      const b = await LmdbBackend.open(dir.path)
      const last = Number(text(b.read((tx) => tx.get('meta', bytes('last')))))
      assert.ok(last >= reported, `batch ${reported} was reported committed, the store ends at ${last}`)
      const counts = new Map<string, number>()
      b.read((tx) => tx.forEach('key', bytes('b'), undefined, (k) => {
        const batch = text(k)!.slice(1, 7)
        counts.set(batch, (counts.get(batch) ?? 0) + 1)
      }))
      assert.is(counts.size, last + 1, 'no batch beyond the last one, none missing')
      for (const [batch, n] of counts) assert.is(n, 2000, `batch ${batch} is whole`)
      await b.close()
    }
  })
})

/** The pairs of head chunks as `key=head` strings (latin1). */
async function heads(chunks: AsyncIterable<HeadChunk>, each?: () => Promise<void>): Promise<{ pairs: string[]; chunks: number }> {
  const pairs: string[] = []
  let n = 0
  for await (const chunk of chunks) {
    n++
    forEachHead(chunk, (b, keyAt, keyLength, headAt, headLength) => {
      pairs.push(`${text(b.subarray(keyAt, keyAt + keyLength))}=${text(b.subarray(headAt, headAt + headLength))}`)
    })
    await each?.()
  }
  return { pairs, chunks: n }
}

/** A value whose head is its first 6 bytes plus the u32 at byte 2: 'ab' [u32 n] then n bytes of 'h', then 'tail'. */
function headed(n: number, tail = 'tail'): Uint8Array {
  const v = new Uint8Array(6 + n + tail.length)
  v.set(bytes('ab'))
  new DataView(v.buffer).setUint32(2, n)
  v.fill(0x68, 6, 6 + n)
  v.set(bytes(tail), 6 + n)
  return v
}
const HEAD = { fixed: 6, lengthAt: 2 }

test('scanHeads yields every committed pair in key order, each value cut to its head, pending writes committed first', async () => {
  const b = await LmdbBackend.open(dir.path, { clock: new SimClock() })
  const want: string[] = []
  b.write((tx) => {
    for (let i = 0; i < 500; i++) {
      const v = headed(i % 11)
      tx.put('key', bytes(`k${String(i).padStart(4, '0')}`), v)
      want.push(`k${String(i).padStart(4, '0')}=${text(v.subarray(0, 6 + (i % 11)))}`)
    }
    tx.put('meta', bytes('other'), headed(3))
  })
  await b.commit()
  // Pending, not yet committed: a new key, an overwrite, a delete, and values shorter than a head.
  b.write((tx) => {
    tx.put('key', bytes('k0000'), headed(2, ''))
    tx.delete('key', bytes('k0001'))
    tx.put('key', bytes('k9999'), bytes('abc'))
    tx.put('key', bytes('k9998'), headed(1000, '').subarray(0, 20))
  })
  want[0] = `k0000=${text(headed(2, ''))}`
  want.splice(1, 1)
  want.push(`k9998=${text(headed(1000, '').subarray(0, 20))}`, 'k9999=abc')
  const got = await heads(b.scanHeads!('key', HEAD))
  assert.equal(got.pairs, want)
  assert.equal((await heads(scanHeadsOnThread(join(dir.path, DATA_FILE), ENV_OPTIONS, 'key', HEAD))).pairs, want, 'the thread packs alike')
  assert.equal(dump(b).filter((line) => line.startsWith('key')).length, 500 + 1, 'the pending batch was committed, nothing else changed')
  assert.equal((await heads(b.scanHeads!('lease', HEAD))).pairs, [], 'an empty bucket yields nothing')
  await b.close()
})

test('a head scan with a check keeps the head of a pair that passes and the whole value, marked, of one that fails, on the thread and on the calling thread', async () => {
  const b = await LmdbBackend.open(dir.path, { clock: new SimClock() })
  // Passes when the value's last byte is not 'x': it reads past the head, as a checksum does.
  const check = '((k, ko, kl, v, vo, vl) => kl > 0 && k[ko] === 0x6b && v[vo + vl - 1] !== 0x78)'
  const want: string[] = []
  b.write((tx) => {
    for (let i = 0; i < 300; i++) {
      const key = `k${String(i).padStart(4, '0')}`
      const v = headed(i % 13, i % 7 === 0 ? 'tailx' : 'tail')
      tx.put('key', bytes(key), v)
      want.push(i % 7 === 0 ? `${key}=${text(v)} failed` : `${key}=${text(v.subarray(0, 6 + (i % 13)))}`)
    }
  })
  await b.commit()
  const marked = async (chunks: AsyncIterable<HeadChunk>): Promise<string[]> => {
    const out: string[] = []
    for await (const chunk of chunks) {
      forEachHead(chunk, (c, keyAt, keyLength, headAt, headLength, failed) => {
        out.push(`${text(c.subarray(keyAt, keyAt + keyLength))}=${text(c.subarray(headAt, headAt + headLength))}${failed ? ' failed' : ''}`)
      })
    }
    return out
  }
  assert.equal(await marked(b.scanHeads!('key', { ...HEAD, check })), want, 'the calling thread')
  assert.equal(await marked(scanHeadsOnThread(join(dir.path, DATA_FILE), ENV_OPTIONS, 'key', { ...HEAD, check }, { chunkBytes: 512 })), want, 'the scan thread')
  assert.equal((await heads(b.scanHeads!('key', HEAD))).pairs.length, 300, 'without a check nothing is marked')
  await rejectsWithCode(heads(b.scanHeads!('key', { ...HEAD, check: '(((' })), 'ERR_BACKEND_INVALID_ARGUMENT')
  await rejectsWithCode(heads(b.scanHeads!('key', { ...HEAD, check: '42' })), 'ERR_BACKEND_INVALID_ARGUMENT')
  await rejectsWithCode(heads(b.scanHeads!('key', { ...HEAD, check: 7 as unknown as string })), 'ERR_BACKEND_INVALID_ARGUMENT')
  await b.close()
})

test('a head scan in small chunks with a slow consumer (the thread waits for it) loses and reorders nothing', async () => {
  const b = await LmdbBackend.open(dir.path, { clock: new SimClock() })
  const want: string[] = []
  b.write((tx) => {
    for (let i = 0; i < 2000; i++) {
      const key = `k${String(i).padStart(5, '0')}`
      tx.put('key', bytes(key), headed(i % 97))
      want.push(`${key}=${text(headed(i % 97).subarray(0, 6 + (i % 97)))}`)
    }
    // A pair bigger than a chunk gets one of its own.
    tx.put('key', bytes('zbig'), headed(5000))
    want.push(`zbig=${text(headed(5000).subarray(0, 5006))}`)
  })
  await b.commit()
  let consumed = 0
  const got = await heads(scanHeadsOnThread(join(dir.path, DATA_FILE), ENV_OPTIONS, 'key', HEAD, { chunkBytes: 1024, inFlight: 2 }), async () => {
    if (++consumed % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  })
  assert.equal(got.pairs, want)
  assert.ok(got.chunks > 100, `${got.chunks} chunks`)
  await b.close()
})

test('a bucket big enough for the scan thread: the same pairs; breaking out stops it; a defragment waits for a scan in progress', async () => {
  const b = await LmdbBackend.open(dir.path, { clock: new SimClock(), batchLimit: 1_000_000 })
  const n = HEAD_SCAN_THREAD_MIN_PAIRS
  const key = (i: number): Uint8Array => bytes(`k${String(i).padStart(7, '0')}`)
  b.write((tx) => { for (let i = 0; i < n; i++) tx.put('key', key(i), headed(i % 5)) })
  await b.commit()
  const got = await heads(b.scanHeads!('key', HEAD))
  assert.is(got.pairs.length, n)
  assert.ok(got.pairs.every((pair, i) => pair === `${text(key(i))}=${text(headed(i % 5).subarray(0, 6 + (i % 5)))}`))
  let first = ''
  for await (const chunk of b.scanHeads!('key', HEAD)) {
    forEachHead(chunk, (bytes, keyAt, keyLength) => { first ||= text(bytes.subarray(keyAt, keyAt + keyLength))! })
    break
  }
  assert.is(first, 'k0000000')
  const scan = b.scanHeads!('key', HEAD)[Symbol.asyncIterator]()
  await scan.next()
  let defragmented = false
  const defrag = b.defragment().then(() => { defragmented = true })
  await new Promise((resolve) => setTimeout(resolve, 50))
  assert.is(defragmented, false, 'the swap waits for the scan')
  let rest = 0
  for (let next = await scan.next(); next.done !== true; next = await scan.next()) rest += next.value.count
  assert.ok(rest > 0)
  await defrag
  assert.ok(defragmented)
  b.write((tx) => tx.put('key', bytes('z-after-swap'), headed(1)))
  const after = await heads(b.scanHeads!('key', HEAD))
  assert.equal(after.pairs.slice(0, n), got.pairs)
  assert.equal(after.pairs.slice(n), [`z-after-swap=${text(headed(1).subarray(0, 7))}`], 'a thread started after the swap reads the new file')
  await b.close()
})

test('a prestarted scan thread is taken by the next head scan (the same pairs), once; one no scan took is stopped', async () => {
  const b = await LmdbBackend.open(dir.path, { clock: new SimClock() })
  const want: string[] = []
  b.write((tx) => {
    for (let i = 0; i < 300; i++) {
      tx.put('key', bytes(`p${String(i).padStart(4, '0')}`), headed(i % 7))
      want.push(`p${String(i).padStart(4, '0')}=${text(headed(i % 7).subarray(0, 6 + (i % 7)))}`)
    }
  })
  await b.commit()
  const path = join(dir.path, DATA_FILE)
  prestartScanThread()
  prestartScanThread() // a second call while one waits: no second thread
  // The thread has had time to start and load lmdb-js before the scan hands it the file.
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.equal((await heads(scanHeadsOnThread(path, ENV_OPTIONS, 'key', HEAD, { chunkBytes: 512 }))).pairs, want, 'the prestarted thread packs alike')
  assert.equal((await heads(scanHeadsOnThread(path, ENV_OPTIONS, 'key', HEAD))).pairs, want, 'the next scan starts a thread of its own')
  prestartScanThread()
  await stopPrestartedScanThread()
  await stopPrestartedScanThread() // nothing left to stop
  assert.equal((await heads(scanHeadsOnThread(path, ENV_OPTIONS, 'key', HEAD))).pairs, want, 'a scan after a stopped one starts its own')
  // Taken at once (the thread still starting): the file comes with the first message all the same.
  prestartScanThread()
  assert.equal((await heads(scanHeadsOnThread(path, ENV_OPTIONS, 'key', HEAD))).pairs, want)
  // A prestarted thread whose scan fails rejects as any other.
  prestartScanThread()
  await rejectsWithCode(heads(scanHeadsOnThread(dir.path, ENV_OPTIONS, 'key', HEAD)), 'ERR_BACKEND_SCAN')
  await b.close()
})

test('scanHeads refuses a bad head, an unknown bucket and a closed backend with typed errors', async () => {
  const b = await LmdbBackend.open(dir.path, { clock: new SimClock() })
  await rejectsWithCode(heads(b.scanHeads!('key', { fixed: -1, lengthAt: 0 })), 'ERR_BACKEND_INVALID_ARGUMENT')
  await rejectsWithCode(heads(b.scanHeads!('key', { fixed: 1.5, lengthAt: 0 })), 'ERR_BACKEND_INVALID_ARGUMENT')
  await rejectsWithCode(heads(b.scanHeads!('nope' as 'key', HEAD)), 'ERR_BACKEND_INVALID_ARGUMENT')
  await b.close()
  await rejectsWithCode(heads(b.scanHeads!('key', HEAD)), 'ERR_BACKEND_CLOSED')
})

test('a head scan whose thread fails (here: the path is a directory) rejects with ERR_BACKEND_SCAN', async () => {
  await rejectsWithCode(heads(scanHeadsOnThread(dir.path, ENV_OPTIONS, 'key', HEAD)), 'ERR_BACKEND_SCAN')
})

test.run()
