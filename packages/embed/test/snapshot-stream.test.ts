import assert from 'node:assert/strict'
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Message, MessageType } from '@strata/raft'
import { nodeFileSystem, systemClock } from '@strata/seams'
import { tempDir } from '@strata/testkit'
import { test } from 'uvu'
import xxhash from 'xxhash-wasm'
import { InProcessNetwork, type OpenOptions, type Progress, type Store, open } from '../src/index.js'
import type { Member } from '../src/member.js'
import { FRAME_SNAP_ACK, FRAME_SNAP_DATA, SnapshotStream, receivedAt, receivedSnapshot } from '../src/snapshot-stream.js'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString())
const memberOf = (s: Store): Member => (s as unknown as { member: Member }).member

async function until(what: string, cond: () => boolean, ms = 8000): Promise<void> {
  for (let waited = 0; !cond(); waited += 10) {
    if (waited > ms) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const c of stream) parts.push(c)
  return Buffer.concat(parts)
}

// ---- the protocol alone: two SnapshotStreams over an InProcessNetwork ------------------------

const SNAP_INDEX = 42
const snapMessage = (from: number, to: number): Message => ({
  type: MessageType.MsgSnap, to, from, term: 3, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: undefined,
  snapshot: { data: new Uint8Array(0), metadata: { index: SNAP_INDEX, term: 3, confState: { voters: [1, 2], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } } },
})

/** Deterministic data of `n` bytes, yielded in 100 KB pieces (as a backend's stream would). */
function source(n: number, pulled: { bytes: number }): () => AsyncIterable<Uint8Array> {
  const data = Buffer.alloc(n)
  for (let i = 0; i < n; i++) data[i] = (i * 7 + (i >> 10)) & 0xff
  return async function* () {
    for (let at = 0; at < n; at += 100_000) {
      const piece = data.subarray(at, Math.min(n, at + 100_000))
      pulled.bytes += piece.length
      yield piece
    }
  }
}

interface Pair {
  readonly net: InProcessNetwork
  readonly sender: SnapshotStream
  receiver: SnapshotStream
  readonly reports: boolean[]
  readonly stepped: Message[]
  readonly pulled: { bytes: number }
  readonly data: Buffer
  readonly dir: string
  /** A new receiver on the same directory (the old one is abandoned as a crash would). */
  restartReceiver(): SnapshotStream
  close(): Promise<void>
}

async function pair(bytes: number, options: { chunkBytes: number; window: number; resendMs?: number; stallMs?: number }): Promise<Pair> {
  const d = await tempDir('strata-snapstream-')
  const net = new InProcessNetwork()
  const reports: boolean[] = []
  const stepped: Message[] = []
  const pulled = { bytes: 0 }
  const snapshot = source(bytes, pulled)
  const data = await collect(source(bytes, { bytes: 0 })())
  const opts = { chunkBytes: options.chunkBytes, window: options.window, resendMs: options.resendMs ?? 20, stallMs: options.stallMs ?? 2000 }
  let ids = 0
  const base = { fs: nodeFileSystem, clock: systemClock, rng: { nextU32: () => ++ids } }
  const sender = new SnapshotStream({ ...base, dir: join(d.path, 'm1'), transport: net.transport(1), snapshot, reportSnapshot: (_to, ok) => void reports.push(ok), stepSnapshot: () => {} }, opts)
  const makeReceiver = (): SnapshotStream => new SnapshotStream({
    ...base, dir: join(d.path, 'm2'), transport: net.transport(2), snapshot: () => { throw new Error('the receiver sends nothing') },
    reportSnapshot: () => {}, stepSnapshot: (m) => void stepped.push(m),
  }, opts)
  const p: Pair = {
    net, sender, receiver: makeReceiver(), reports, stepped, pulled, data, dir: join(d.path, 'm2'),
    restartReceiver() {
      const old = p.receiver
      p.receiver = makeReceiver()
      void old.close()
      return p.receiver
    },
    async close() {
      await sender.close()
      await p.receiver.close()
      await d.cleanup()
    },
  }
  net.transport(1).onMessage((from, b) => sender.receive(from, b))
  net.transport(2).onMessage((from, b) => p.receiver.receive(from, b))
  return p
}

test('protocol: 2.5 MB in 64 KiB chunks over a network that drops, duplicates and reorders; the sender never holds more than its window', async () => {
  const p = await pair(2_500_000, { chunkBytes: 64 * 1024, window: 3 })
  try {
    p.net.setFaults({ drop: 0.15, duplicate: 0.15, reorder: 0.3 })
    let maxAhead = 0
    p.net.intercept((from, to, m) => {
      // Bytes read from the source but not yet acknowledged: the window plus one source piece at most.
      if (m[0] === FRAME_SNAP_ACK) maxAhead = Math.max(maxAhead, p.pulled.bytes - new DataView(m.buffer, m.byteOffset).getUint32(5) * 64 * 1024)
      return m
    })
    p.sender.send(snapMessage(1, 2))
    await until('the stream to finish', () => p.reports.length > 0)
    assert.deepEqual(p.reports, [true])
    assert.equal(p.stepped.length, 1)
    assert.equal(p.stepped[0]!.snapshot!.metadata.index, SNAP_INDEX)
    assert.ok(p.sender.stats.maxInFlight <= 3, `at most 3 chunks in flight, saw ${p.sender.stats.maxInFlight}`)
    assert.ok(p.sender.stats.resent > 0, 'lost frames were sent again')
    assert.ok(maxAhead <= 4 * 64 * 1024 + 100_000, `read ahead of the acknowledgements by ${maxAhead} bytes`)
    assert.ok((await collect(receivedAt({ fs: nodeFileSystem, dir: p.dir }, SNAP_INDEX))).equals(p.data), 'the received file holds exactly the stream')
    assert.deepEqual(readdirSync(join(p.dir, 'snap-db')), ['000000000000002a.snap.db'])
  } finally {
    await p.close()
  }
})

test('protocol: a damaged chunk is refused and sent again; a stream whose whole checksum fails is refused (Failure)', async () => {
  const p = await pair(600_000, { chunkBytes: 64 * 1024, window: 4 })
  try {
    let damaged = 0
    p.net.intercept((_from, _to, m) => {
      if (m[0] === FRAME_SNAP_DATA && m[9] === 1 && damaged++ === 2) m[m.length - 5]! ^= 0x40 // the frame's checksum no longer holds
      return m
    })
    p.sender.send(snapMessage(1, 2))
    await until('the stream to finish', () => p.reports.length > 0)
    assert.deepEqual(p.reports, [true])
    assert.equal(p.receiver.stats.refused, 1)
    assert.ok((await collect(receivedAt({ fs: nodeFileSystem, dir: p.dir }, SNAP_INDEX))).equals(p.data))

    // Now damage a chunk and seal it again, so only the checksum over the whole stream can tell.
    const h = await xxhash()
    let n = 0
    p.net.intercept((_from, _to, m) => {
      if (m[0] === FRAME_SNAP_DATA && m[9] === 1 && n++ === 1) {
        m[m.length - 1]! ^= 0x01
        const dv = new DataView(m.buffer, m.byteOffset, m.byteLength)
        dv.setUint32(10, 0)
        dv.setUint32(10, h.h32Raw(m))
      }
      return m
    })
    p.sender.send(snapMessage(1, 2))
    await until('the second stream to end', () => p.reports.length > 1)
    assert.deepEqual(p.reports, [true, false])
    assert.equal(p.stepped.length, 1, 'raft never sees the damaged snapshot')
    assert.equal(p.receiver.stats.receiveFailed, 1)
    assert.ok(!readdirSync(join(p.dir, 'snap-db')).some((f) => f.endsWith('.part')), 'the damaged stream left no file')
  } finally {
    await p.close()
  }
})

test('protocol: a receiver that crashes mid-stream restarts clean (temp file discarded), the sender fails the stream, and the next one completes', async () => {
  const p = await pair(1_000_000, { chunkBytes: 32 * 1024, window: 2 })
  try {
    let chunks = 0
    let crashed = false
    p.net.intercept((_from, to, m) => {
      if (to === 2 && m[0] === FRAME_SNAP_DATA && m[9] === 1 && ++chunks === 8) crashed = true
      return crashed && (to === 2 || _from === 2) ? undefined : m // a crashed member hears and says nothing
    })
    p.sender.send(snapMessage(1, 2))
    await until('the receiver to crash', () => crashed)
    await sleep(30)
    const parts = readdirSync(join(p.dir, 'snap-db')).filter((f) => f.endsWith('.part'))
    assert.equal(parts.length, 1, 'the crash left a partial file')
    // Restart: what open does first, then a fresh receiver that knows nothing of the stream.
    assert.equal(await receivedSnapshot({ fs: nodeFileSystem, dir: p.dir }, 0, 0), undefined)
    assert.deepEqual(readdirSync(join(p.dir, 'snap-db')), [], 'the partial file was discarded')
    p.restartReceiver()
    crashed = false
    p.net.intercept(undefined)
    await until('the sender to give up on the lost stream', () => p.reports.length > 0)
    assert.deepEqual(p.reports, [false], 'the restarted receiver does not know the stream: Failure, at once (no stall wait)')
    p.sender.send(snapMessage(1, 2))
    await until('the retry to finish', () => p.reports.length > 1)
    assert.deepEqual(p.reports, [false, true])
    assert.ok((await collect(receivedAt({ fs: nodeFileSystem, dir: p.dir }, SNAP_INDEX))).equals(p.data))
  } finally {
    await p.close()
  }
})

test('protocol: a receiver that never answers fails the stream after stallMs', async () => {
  const p = await pair(200_000, { chunkBytes: 64 * 1024, window: 2, stallMs: 150 })
  try {
    p.net.cut(2)
    p.sender.send(snapMessage(1, 2))
    await until('the stall to be reported', () => p.reports.length > 0)
    assert.deepEqual(p.reports, [false])
    assert.deepEqual(p.sender.active, { outgoing: 0, incoming: 0 })
  } finally {
    await p.close()
  }
})

// ---- through the store: a member far behind catches up ------------------------------------

interface Cluster {
  readonly dir: string
  readonly net: InProcessNetwork
  readonly stores: Map<number, Store>
  readonly progress: Map<number, Progress[]>
  start(id: number): Promise<Store>
  close(): Promise<void>
}

/** Three members that snapshot every 20 entries and keep 5; `extra` adds options to each. */
async function cluster(prefix: string, extra: (id: number) => Partial<OpenOptions> = () => ({})): Promise<Cluster> {
  const d = await tempDir(prefix)
  const net = new InProcessNetwork()
  const CLUSTER = [{ id: 1 }, { id: 2 }, { id: 3 }]
  const c: Cluster = {
    dir: d.path, net, stores: new Map(), progress: new Map(),
    async start(id) {
      const events: Progress[] = []
      c.progress.set(id, events)
      const s = await open({
        dir: join(d.path, `m${id}`), memberId: id, initialCluster: CLUSTER, transport: net.transport(id),
        tickMs: 10, electionTicks: 10, snapshotCount: 20, snapshotCatchUpEntries: 5, requestTimeoutMs: 5000, onProgress: (e) => events.push(e), ...extra(id),
      })
      c.stores.set(id, s)
      return s
    },
    async close() {
      for (const s of c.stores.values()) await s.close()
      await d.cleanup()
    },
  }
  for (const id of [1, 2, 3]) await c.start(id)
  return c
}

/** The leader, and a member cut off from the others. */
async function leaderAndCutOne(c: Cluster): Promise<{ leader: Store; lagging: number }> {
  let leader: Store | undefined
  await until('a leader', () => (leader = [...c.stores.entries()].find(([id, s]) => s.maintenance.status().leader === id)?.[1]) !== undefined)
  const lid = leader!.maintenance.status().header.memberId
  const lagging = [1, 2, 3].find((id) => id !== lid)!
  c.net.cut(lagging)
  return { leader: leader!, lagging }
}

test('a member far behind catches up through a streamed snapshot of three 1 MiB chunks, over a lossy network, reporting restore progress', async () => {
  const c = await cluster('strata-snapcatch-', () => ({ backend: 'memory' }))
  try {
    const { leader, lagging } = await leaderAndCutOne(c)
    const value = Buffer.alloc(90_000, 'v')
    for (let i = 0; i < 30; i++) await leader.put(`big/${String(i).padStart(3, '0')}`, value) // past the retained log
    await leader.put('last', 'x')
    c.net.setFaults({ drop: 0.1, duplicate: 0.1, reorder: 0.2, frames: [FRAME_SNAP_DATA, FRAME_SNAP_ACK] })
    c.net.heal(lagging)
    const behind = c.stores.get(lagging)!
    const target = leader.maintenance.status().header.revision
    await until('the lagging member to catch up', () => behind.maintenance.status().header.revision >= target, 12_000)
    assert.equal(text((await behind.get('last', { serializable: true })).kvs[0]?.value), 'x')
    assert.equal((await behind.get('big/', { prefix: true, serializable: true, countOnly: true })).count, 30)
    const sent = memberOf(leader).snapshotStream!.stats
    assert.ok(sent.finished >= 1, 'the leader reported Finish')
    assert.ok(sent.maxInFlight <= 4, `the leader held at most 4 chunks unacknowledged, saw ${sent.maxInFlight}`)
    assert.ok(sent.sent - sent.resent >= 5, `the begin frame, three chunks and the trailer were sent (${sent.sent - sent.resent})`)
    const restore = c.progress.get(lagging)!.filter((e) => e.phase === 'restore')
    assert.ok(restore.length >= 2 && restore.at(-1)!.done === restore.at(-1)!.total && restore.at(-1)!.total! > 2 * 1024 * 1024, `restore progress in bytes: ${JSON.stringify(restore)}`)
    const snapDb = join(c.dir, `m${lagging}`, 'snap-db')
    await until('the received file to be released once restored', () => !existsSync(snapDb) || readdirSync(snapDb).length === 0)
    const hashes = await Promise.all([...c.stores.values()].map((s) => s.maintenance.hashKV(target)))
    assert.ok(hashes.every((h) => h.hash === hashes[0]!.hash), 'every member holds the same data')
  } finally {
    await c.close()
  }
})

test('a member that crashes after taking a streamed snapshot but before restoring it restores from the received file when it reopens', async () => {
  let crashAt: number | undefined
  const c = await cluster('strata-snaprestart-', (id) => ({
    failpoint: (name) => {
      if (name === 'snapBeforeApply' && crashAt === id) {
        crashAt = undefined
        throw new Error('crash planted before the restore')
      }
    },
  }))
  try {
    const { leader, lagging } = await leaderAndCutOne(c)
    for (let i = 0; i < 30; i++) await leader.put(`r/${i}`, Buffer.alloc(1000, i))
    crashAt = lagging
    c.net.heal(lagging)
    const snapDb = join(c.dir, `m${lagging}`, 'snap-db')
    await until('the lagging member to stop at the planted crash', () => crashAt === undefined && memberOf(c.stores.get(lagging)!).closed)
    assert.equal(readdirSync(snapDb).filter((f) => f.endsWith('.snap.db')).length, 1, 'the received snapshot is on disk')
    await c.stores.get(lagging)!.close()
    c.net.cut(lagging) // while it is down: the reopen alone must bring the data back
    const back = await c.start(lagging)
    assert.equal((await back.get('r/', { prefix: true, serializable: true, countOnly: true })).count, 30)
    assert.deepEqual(readdirSync(snapDb), [], 'restored, the file is released')
    c.net.heal(lagging)
    await leader.put('after', 'x')
    await until('the reopened member to follow on', () => back.maintenance.status().header.revision === leader.maintenance.status().header.revision)
  } finally {
    await c.close()
  }
})

test('a member that crashes mid-stream discards the partial file when it reopens, and catches up through a new stream', async () => {
  const c = await cluster('strata-snapmid-')
  try {
    const { leader, lagging } = await leaderAndCutOne(c)
    for (let i = 0; i < 30; i++) await leader.put(`m/${i}`, Buffer.alloc(80_000, i)) // past the retained log (snapshot every 20, keep 5)
    let chunks = 0
    let crashed = false
    c.net.intercept((from, to, m) => {
      if (to === lagging && m[0] === FRAME_SNAP_DATA && m[9] === 1 && ++chunks === 2) crashed = true
      return crashed && (to === lagging || from === lagging) ? undefined : m
    })
    c.net.heal(lagging)
    const snapDb = join(c.dir, `m${lagging}`, 'snap-db')
    const part = (): string | undefined => (existsSync(snapDb) ? readdirSync(snapDb).find((f) => f.endsWith('.part')) : undefined)
    await until('a stream cut half way', () => crashed && part() !== undefined)
    await sleep(20)
    // A crash leaves the partial file behind (close would delete it): keep a copy, put it back.
    const name = part()!
    const saved = readFileSync(join(snapDb, name))
    await c.stores.get(lagging)!.close()
    writeFileSync(join(snapDb, name), saved)
    c.net.intercept(undefined)
    const back = await c.start(lagging)
    assert.ok(!readdirSync(snapDb).includes(name), 'the reopen discarded the partial file')
    await until('the member to catch up', () => back.maintenance.status().header.revision >= leader.maintenance.status().header.revision, 12_000)
    assert.equal((await back.get('m/', { prefix: true, serializable: true, countOnly: true })).count, 30)
    const sent = memberOf(leader).snapshotStream!.stats
    assert.ok(sent.failed >= 1 && sent.finished >= 1, `the cut stream failed and a new one finished: ${JSON.stringify(sent)}`)
  } finally {
    await c.close()
  }
})

test.run()
