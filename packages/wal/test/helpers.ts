import type { ConfState, Entry, EntryType } from '@strata/raft'
import type { WalSnapshot } from '../src/index.js'

/**
 * Entries lo..hi (inclusive) of `term` with small distinct payloads. Every seventh is a conf
 * change and every eleventh a V2 one, so each round trip also checks the entry type.
 */
export function ents(lo: number, hi: number, term = 1, size = 8): Entry[] {
  const out: Entry[] = []
  for (let i = lo; i <= hi; i++) {
    const data = new Uint8Array(size)
    for (let j = 0; j < size; j++) data[j] = (i * 31 + j) & 0xff
    out.push({ index: i, term, type: entryType(i), data })
  }
  return out
}

/** The entry type `ents` gives index `i`. */
export function entryType(i: number): EntryType {
  return i % 11 === 0 ? 2 : i % 7 === 0 ? 1 : 0
}

/** A three-voter configuration, with a learner and joint state so every list is encoded. */
export const CONF: ConfState = { voters: [1, 2, 3], learners: [4], votersOutgoing: [1, 2], learnersNext: [5], autoLeave: true }
export const EMPTY_CONF: ConfState = { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }

/** A snapshot marker at index/term; the conf state defaults to CONF. */
export function snap(index: number, term: number, confState: ConfState = CONF): WalSnapshot {
  return { index, term, confState }
}

export const META = new TextEncoder().encode('metadata')

/** A comparable plain form of entries: index, term, type, data in hex. */
export function plain(es: readonly Entry[]): Array<[number, number, number, string]> {
  return es.map((e) => [e.index, e.term, e.type, Buffer.from(e.data).toString('hex')])
}

import type { FileHandle, FileSystem } from '@strata/seams'
import { SimFileSystem } from '@strata/testkit'
import { Wal } from '../src/index.js'
import type { WalOptions } from '../src/index.js'

/** A small simulated log: 512-byte segments in '/w' of a fresh SimFileSystem. */
export function simOptions(extra: Partial<WalOptions> = {}): WalOptions & { fs: SimFileSystem } {
  return { fs: new SimFileSystem(), segmentSizeBytes: 512, ...extra } as WalOptions & { fs: SimFileSystem }
}

/** Opens `dir` at `snap` and reads everything (closing it again unless asked to keep it). */
export async function reopen(dir: string, opts: WalOptions, snap = { index: 0, term: 0 }): Promise<{ wal: Wal; entries: Entry[]; hardState: { term: number; vote: number; commit: number } }> {
  const wal = await Wal.open(dir, snap, opts)
  try {
    const r = await wal.readAll()
    return { wal, entries: r.entries, hardState: r.hardState }
  } catch (err) {
    await wal.close()
    throw err
  }
}

/** Counters and gates around an inner FileSystem's datasync/sync, for group-commit tests. */
export class SyncProbe {
  datasyncs = 0
  /** When set, every datasync waits for it to resolve. */
  gate: Promise<void> | undefined
  /** When set, the next datasync fails with this error. */
  failNext: Error | undefined
  readonly fs: FileSystem

  constructor(inner: FileSystem) {
    const probe = this
    const wrap = (h: FileHandle): FileHandle => ({
      path: h.path,
      read: (b, p) => h.read(b, p),
      write: (b, p) => h.write(b, p),
      sync: () => h.sync(),
      async datasync() {
        probe.datasyncs++
        if (probe.gate !== undefined) await probe.gate
        const fail = probe.failNext
        probe.failNext = undefined
        if (fail !== undefined) throw fail
        return h.datasync()
      },
      truncate: (s) => h.truncate(s),
      allocate: (s) => h.allocate(s),
      size: () => h.size(),
      close: () => h.close(),
    })
    this.fs = { ...bind(inner), open: async (path, mode) => wrap(await inner.open(path, mode)) }
  }
}

export function bind(fs: FileSystem): FileSystem {
  return {
    open: (p, m) => fs.open(p, m), readFile: (p) => fs.readFile(p), writeFile: (p, d) => fs.writeFile(p, d),
    rename: (a, b) => fs.rename(a, b), unlink: (p) => fs.unlink(p), mkdir: (p) => fs.mkdir(p), rm: (p) => fs.rm(p),
    readdir: (p) => fs.readdir(p), stat: (p) => fs.stat(p), fsyncDir: (p) => fs.fsyncDir(p), lock: (p) => fs.lock(p),
  }
}
