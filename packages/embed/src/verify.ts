import { join } from 'node:path'
import { LmdbBackend } from '@strata/backend'
import { DAMAGED_FILE_ADVICE, checkStructure } from '@strata/backend/internal'
import { Totals, checkRecord, describeRecordKey, describeRevisionKey, readTotals, storedChecksum } from '@strata/mvcc/internal'
import { StrataError } from '@strata/seams'
import { verify as verifyWal } from '@strata/wal'

/** One record of the key bucket that failed its checks. */
export interface DamagedRecord {
  /** "main.sub" of its revision ("t" appended for a deletion). */
  readonly revision: string
  /** Its key as latin1 text, when the record still shows one. */
  readonly key?: string
  readonly reason: string
}

/** What {@link verify} found in a closed data directory. */
export interface VerifyReport {
  /** True when nothing is damaged. */
  readonly ok: boolean
  readonly dir: string
  /** The write-ahead log (`<dir>/wal`), checked by @strata/wal's `verify`. */
  readonly wal: { readonly ok: boolean; readonly lastIndex?: number; readonly segments?: number; readonly tail?: string; readonly error?: string }
  /** The backend file's structure (`<dir>/db/data.mdb`), read in a child process. */
  readonly structure: { readonly ok: boolean; readonly entries?: Readonly<Record<string, number>>; readonly error?: string }
  /** Every stored record's checksum and the record totals (skipped when the structure is damaged). */
  readonly records: {
    readonly checked: boolean
    readonly intact: number
    /** The first {@link MAX_REPORTED_RECORDS} damaged records. */
    readonly damaged: readonly DamagedRecord[]
    readonly damagedCount: number
    /** "match", or what the totals in the meta bucket say against what was found. */
    readonly totals: string
  }
  /** What can be recovered and what to do, one sentence each: print them. */
  readonly summary: readonly string[]
}

/** Damaged records listed by name in a report (the count covers all). */
export const MAX_REPORTED_RECORDS = 100

/** What to do about a damaged member, for messages. */
export const VERIFY_ADVICE = `${DAMAGED_FILE_ADVICE[0]!.toUpperCase()}${DAMAGED_FILE_ADVICE.slice(1)}.`

function message(err: unknown): string {
  return err instanceof StrataError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err)
}

/**
 * Checks a closed data directory of `open` (the server's `strata verify` prints this): the WAL
 * (frame checksums, the chain, entry gaps), the backend file's structure (every page read by
 * LMDB in a child process, so a page that would make LMDB abort is reported, not suffered),
 * every stored record's checksum, and the record count and checksum sum the meta bucket holds.
 * Never writes. Fails (ERR_BACKEND_LOCKED) when the directory is open.
 */
export async function verify(dir: string): Promise<VerifyReport> {
  const summary: string[] = []
  let wal: VerifyReport['wal']
  try {
    const w = await verifyWal(join(dir, 'wal'))
    wal = { ok: true, lastIndex: w.lastIndex, segments: w.segments, tail: w.tail }
    summary.push(`WAL: intact, ${w.segments} segment(s), entries up to index ${w.lastIndex}${w.tail === 'torn' ? ' (a torn last write, which the next open cuts)' : ''}.`)
  } catch (err) {
    wal = { ok: false, error: message(err) }
    summary.push(`WAL: damaged (${message(err)}).`)
  }
  const file = join(dir, 'db', 'data.mdb')
  const s = await checkStructure(file)
  const structure: VerifyReport['structure'] = s.ok ? { ok: true, entries: s.entries } : { ok: false, error: s.reason }
  let records: VerifyReport['records'] = { checked: false, intact: 0, damaged: [], damagedCount: 0, totals: 'not checked' }
  if (!s.ok) {
    summary.push(`Backend ${file}: its structure is damaged (${s.reason}); its records were not read.`)
  } else {
    records = await checkRecords(dir, file)
    if (records.damagedCount === 0 && records.totals === 'match') summary.push(`Backend ${file}: intact, ${records.intact} record(s), totals match.`)
    else {
      const named = records.damaged.slice(0, 5).map((d) => `${d.revision}${d.key === undefined ? '' : ` ${JSON.stringify(d.key)}`}`).join(', ')
      summary.push(`Backend ${file}: ${records.damagedCount} damaged record(s)${named === '' ? '' : ` (${named}${records.damagedCount > 5 ? ', ...' : ''})`}; totals: ${records.totals}; ${records.intact} record(s) read back intact.`)
    }
  }
  const ok = wal.ok && structure.ok && records.damagedCount === 0 && records.totals === 'match'
  if (!ok) {
    if (wal.ok && !(structure.ok && records.damagedCount === 0 && records.totals === 'match')) {
      summary.push(`The WAL can be kept, but the backend cannot be repaired in place: the intact records above are readable, the rest is lost from this copy. ${VERIFY_ADVICE}`)
    } else summary.push(VERIFY_ADVICE)
  }
  return { ok, dir, wal, structure, records, summary }
}

/** Reads every record of the key bucket through a backend opened without writing. */
async function checkRecords(dir: string, file: string): Promise<VerifyReport['records']> {
  // The structure was just read in a child: no need to read it twice.
  const backend = await LmdbBackend.open(join(dir, 'db'), { verifyStructure: false })
  try {
    return backend.read((tx) => {
      const damaged: DamagedRecord[] = []
      let damagedCount = 0
      const seen = new Totals()
      let intact = 0
      tx.forEach('key', new Uint8Array(0), undefined, (k, v) => {
        const reason = checkRecord(k, 0, k.length, v, 0, v.length)
        if (reason === undefined) {
          intact++
          seen.add(storedChecksum(v, 0))
          return
        }
        damagedCount++
        if (damaged.length < MAX_REPORTED_RECORDS) {
          const key = describeRecordKey(v, 0, v.length)
          damaged.push({ revision: describeRevisionKey(k, 0, k.length), ...(key === undefined ? {} : { key }), reason })
        }
      })
      let totals: string
      try {
        const expected = readTotals(tx, file)
        if (expected === undefined) totals = intact + damagedCount === 0 ? 'match' : 'missing from the meta bucket (a store of format 1 is migrated by the next open)'
        else totals = damagedCount === 0 && expected.equals(seen) ? 'match' : `the meta bucket records ${expected}, the intact records add up to ${seen}`
      } catch (err) {
        totals = message(err)
      }
      return { checked: true, intact, damaged, damagedCount, totals }
    })
  } finally {
    await backend.close()
  }
}
