// Byte-level fuzzing of the reader: a small log is damaged (truncated at every offset, bits
// flipped at random offsets) and reopened. The outcome must be a valid prefix of the log that
// keeps every entry stored before the damage, or a typed WalError; never an untyped exception,
// never an entry that was not written.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SimFileSystem, withSeed } from '@strata/testkit'
import type { Prng } from '@strata/testkit'
import { Wal, WalError, dump, repair } from '../src/index.js'
import type { Entry } from '@strata/raft'
import { META, ents, plain } from './helpers.js'

const SEG = 512
const ORIGINAL = ents(1, 30, 1, 20)

interface Layout {
  readonly files: Map<string, Uint8Array>
  readonly names: string[]
  /** For each entry: the segment it is in and the offset its frame ends at. */
  readonly where: Array<{ segment: number; end: number }>
}

/** Builds the log: entries saved a few at a time (several fsyncs, several cuts). */
async function build(): Promise<Layout> {
  const fs = new SimFileSystem()
  const w = await Wal.create('/w', META, { fs, segmentSizeBytes: SEG })
  for (let i = 0; i < ORIGINAL.length; i += 3) await w.save({ term: 1, vote: 1, commit: i }, ORIGINAL.slice(i, i + 3))
  await w.close()
  const names = (await fs.readdir('/w')).filter((n) => n.endsWith('.wal'))
  const files = new Map<string, Uint8Array>()
  for (const n of names) files.set(n, await fs.readFile(`/w/${n}`))
  const where: Layout['where'] = []
  for await (const item of dump('/w', { fs })) {
    if (item.record.type !== 'entry') continue
    where[item.record.entry.index - 1] = { segment: names.indexOf(item.segment), end: item.offset + 24 + 16 + item.record.entry.data.length }
  }
  assert.ok(names.length >= 3, 'the fuzzed log spans several segments')
  return { files, names, where }
}

/** Opens the damaged log (repairing a torn tail once); entries, or the typed error. */
async function recover(files: Map<string, Uint8Array>): Promise<Entry[] | WalError> {
  const fs = new SimFileSystem()
  await fs.mkdir('/w')
  for (const [n, bytes] of files) await fs.writeFile(`/w/${n}`, bytes)
  const opts = { fs, segmentSizeBytes: SEG }
  try {
    for (let attempt = 0; ; attempt++) {
      const w = await Wal.open('/w', { index: 0, term: 0 }, opts)
      try {
        const r = await w.readAll()
        // The recovered log must also take appends and read back whole.
        await w.save({ term: 5, vote: 1, commit: 0 }, [{ index: r.entries.length + 1, term: 5, type: 1, data: new Uint8Array([7]) }])
        return r.entries
      } catch (err) {
        if (attempt > 0 || !(err instanceof WalError) || err.code !== 'ERR_WAL_TORN_TAIL') throw err
      } finally {
        await w.close()
      }
      await repair('/w', { fs })
    }
  } catch (err) {
    if (err instanceof WalError) return err
    throw err
  }
}

/** The entries stored entirely before `offset` of segment `segment`. */
function before(layout: Layout, segment: number, offset: number): number {
  return layout.where.filter((w) => w.segment < segment || (w.segment === segment && w.end <= offset)).length
}

function checkOutcome(outcome: Entry[] | WalError, mustKeep: number, what: string): 'ok' | 'error' {
  if (outcome instanceof WalError) {
    assert.ok(/^ERR_WAL_/.test(outcome.code), what)
    return 'error'
  }
  assert.ok(outcome.length >= mustKeep, `${what}: kept ${outcome.length} entries, needed ${mustKeep}`)
  assert.equal(plain(outcome), plain(ORIGINAL.slice(0, outcome.length)), what)
  return 'ok'
}

test('truncating any segment at any offset yields a valid prefix or a typed error', async () => {
  const layout = await build()
  const tally = { ok: 0, error: 0 }
  for (let s = 0; s < layout.names.length; s++) {
    const name = layout.names[s]!
    const bytes = layout.files.get(name)!
    for (let cut = 0; cut < bytes.length; cut++) {
      const files = new Map(layout.files)
      files.set(name, bytes.subarray(0, cut))
      tally[checkOutcome(await recover(files), before(layout, s, cut), `${name} cut at ${cut}`)]++
    }
  }
  // Truncating the last segment inside its records must be recoverable, not an error.
  assert.ok(tally.ok > 0 && tally.error > 0)
})

test('flipping a bit at random offsets yields a valid prefix or a typed error (seeded)', () =>
  withSeed('wal fuzz bit flips', async (prng: Prng) => {
    const layout = await build()
    for (let i = 0; i < 400; i++) {
      const s = prng.int(layout.names.length)
      const name = layout.names[s]!
      const bytes = layout.files.get(name)!.slice()
      const offset = prng.int(bytes.length)
      bytes[offset]! ^= 1 << prng.int(8)
      const files = new Map(layout.files)
      files.set(name, bytes)
      checkOutcome(await recover(files), before(layout, s, offset), `${name} bit flipped at ${offset} (seed ${prng.seed})`)
    }
  }))

test('zeroing any 512-byte sector of the last segment yields a valid prefix or a typed error', async () => {
  const layout = await build()
  const s = layout.names.length - 1
  const name = layout.names[s]!
  const bytes = layout.files.get(name)!
  for (let at = 0; at < bytes.length; at += 8) {
    const damaged = bytes.slice()
    damaged.fill(0, at, Math.min(bytes.length, at + 512 - (at % 512)))
    const files = new Map(layout.files)
    files.set(name, damaged)
    checkOutcome(await recover(files), before(layout, s, at), `${name} zeroed from ${at}`)
  }
})

test.run()
