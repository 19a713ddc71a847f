// The main example: a write-ahead log in `<dir>/wal`. The first run creates it; every run
// appends three entries and a hard state, then reads the whole log back and prints it.
//   node --conditions=source --import tsx examples/wal-demo/main.ts .demo-data
import { join } from 'node:path'
import { type Entry, EntryType } from '@strata/raft'
import { Wal, WalError, repair } from '@strata/wal'

const dir = join(process.argv[2] ?? '.demo-data', 'wal')
const text = new TextDecoder()
// Small segments keep the demo's preallocation small (the default is 64 MB, as etcd's).
const options = { segmentSizeBytes: 1024 * 1024 }

/** Opens the log for appending (creating it on the first run), repairing a torn tail once. */
async function openLog(): Promise<{ wal: Wal; entries: Entry[] }> {
  try {
    const wal = await Wal.open(dir, { index: 0, term: 0 }, options)
    try {
      return { wal, entries: (await wal.readAll()).entries }
    } catch (err) {
      await wal.close()
      if (!(err instanceof WalError) || err.code !== 'ERR_WAL_TORN_TAIL') throw err
      console.log(`repairing a torn tail: ${err.message}`)
      await repair(dir)
      return openLog()
    }
  } catch (err) {
    if (err instanceof WalError && err.code === 'ERR_WAL_UNSUPPORTED_VERSION') {
      console.error(`${dir} was written by an older WAL format: ${err.message}\nRemove it (it holds only this demo's entries) and run again.`)
      process.exit(1)
    }
    if (!(err instanceof WalError) || err.code !== 'ERR_WAL_NOT_FOUND') throw err
    const wal = await Wal.create(dir, new TextEncoder().encode('wal-demo v1'), options)
    return { wal, entries: [] }
  }
}

const { wal, entries } = await openLog()
const first = (entries.at(-1)?.index ?? 0) + 1
const fresh: Entry[] = [0, 1, 2].map((i) => ({ index: first + i, term: 1, type: EntryType.Normal, data: new TextEncoder().encode(`hello #${first + i}`) }))
// Resolves once the entries and the hard state are on disk (one write, one fdatasync).
await wal.save({ term: 1, vote: 1, commit: first + 2 }, fresh)
await wal.close()

const reader = await Wal.openForRead(dir, { index: 0, term: 0 })
const all = await reader.readAll()
await reader.close()
console.log(`${dir}: metadata "${text.decode(all.metadata)}", hard state ${JSON.stringify(all.hardState)}`)
for (const e of all.entries) console.log(`  entry ${e.index} (term ${e.term}): ${text.decode(e.data)}`)
