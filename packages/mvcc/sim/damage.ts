// Damage trials for integrity at rest (issue 17): a closed LmdbBackend + MvccStore data file is
// damaged (a bit flipped, a 512-byte sector zeroed, the file truncated, a page put back from an
// older version of the file, a page of LMDB's free-page list damaged), reopened and read back key
// by key in a child process. Every trial must end in a correct read or a typed corruption error
// (ERR_BACKEND_CORRUPT, ERR_MVCC_CORRUPT): never a wrong value, a silently missing key, an
// untyped error or a dead process.
//
// - free-list: LMDB reads its free-page list only when a write needs pages, so the trial writes
//   (FREE_LIST_BATCHES committed batches of new keys) after the open, closes, reopens, and reads
//   back the old keys and the new ones.
// - after-open: the file changes under a running store (a bit flipped in place, through the
//   map's page cache) after the open and its checks; then every key is read back. A trial that
//   hits a record ends in ERR_MVCC_CORRUPT; one that hits a branch page may make LMDB abort the
//   process, which nothing in the process can prevent (README, "What remains"): the sim counts
//   those deaths apart (MAY_DIE) instead of failing on them.
// - defragment: no damage; the store is churned (big values of 3-23 KB, so overflow pages,
//   put, deleted and compacted away), defragmented, written on (commits that need pages),
//   closed, reopened with verifyStructure 'always' and read back. It must read back whole: the
//   former defragment (LMDB's compacting copy) left files that a later write made LMDB abort on.
//
// The trials live in mvcc because they need the backend and the store above it. The trials run in a child (damage-child.ts) that the runner restarts after
// a death, so a process abort is counted, not suffered.
import { spawn } from 'node:child_process'
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, readSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { Prng } from '@strata/testkit'
import { LmdbBackend } from '@strata/backend'
import { MvccStore } from '../src/index.js'

export const DAMAGE_KINDS = ['bit-flip', 'zeroed-sector', 'truncated', 'older-page', 'free-list', 'after-open', 'defragment'] as const
export type DamageKind = (typeof DAMAGE_KINDS)[number]

export interface TrialSpec {
  readonly kind: DamageKind
  readonly seed: number
}

/** How a trial ended: the first two are acceptable, the rest are failures. */
export type Verdict = 'ok' | 'corrupt' | 'wrong-value' | 'missing-key' | 'untyped-error' | 'dead'

export interface TrialResult extends TrialSpec {
  readonly verdict: Verdict
  readonly damage: string
  readonly detail: string
}

export const KEYS = 20_000
const BATCHES = 10
const PAGE = 4096
/** Batches of new keys a free-list trial writes after the open (each 500 keys, committed). */
const FREE_LIST_BATCHES = 4
const FREE_LIST_KEYS = 500
/** Rounds of churn, compaction, defragment, churn, close and reopen in a defragment trial. */
const DEFRAGMENT_ROUNDS = 3
/**
 * Kinds whose 'dead' verdict is counted apart, not failed (backend README, "What remains"):
 * damage after the open and its checks, which LMDB may abort on; and free-page-list damage the
 * structure check cannot see (a listed page number changed into another page of the file,
 * which LMDB then reuses while it is still in use). Every other verdict of these kinds is held
 * to the same rule as the rest.
 */
export const MAY_DIE: ReadonlySet<DamageKind> = new Set(['after-open', 'free-list'])

/**
 * Whether `r` breaks the rule: a wrong value, a silently missing key, an untyped error, or a
 * death of a kind not in MAY_DIE; for the defragment kind (no damage) anything but a correct read.
 */
export function isBad(r: TrialResult): boolean {
  if (r.kind === 'defragment') return r.verdict !== 'ok'
  return r.verdict !== 'ok' && r.verdict !== 'corrupt' && !(r.verdict === 'dead' && MAY_DIE.has(r.kind))
}
/** LMDB's meta (lmdb-env.ts): MDB_meta after the 24-byte page header; the free tree's root at +64, the txnid at +128. */
const META_OFFSET = 24
const clock = { now: () => 0, setTimer: () => ({ cancel() {} }) }

export function keyOf(i: number): string {
  return `key/${String(i).padStart(6, '0')}`
}

/** Key i's value: 24-88 bytes that depend on i, so a value moved to another key reads wrong. */
export function valueOf(i: number): string {
  return `value-${i}-`.padEnd(24 + (i % 65), String.fromCharCode(97 + (i % 26)))
}

/**
 * Writes `dir`/pristine/data.mdb (KEYS keys in BATCHES committed batches) and
 * `dir`/older/data.mdb, a copy taken after half the batches: the source of "older page" damage.
 */
export async function buildPristine(dir: string): Promise<{ pristine: string; older: string }> {
  const pristine = join(dir, 'pristine')
  const older = join(dir, 'older')
  mkdirSync(older, { recursive: true })
  const backend = await LmdbBackend.open(pristine, { clock, batchLimit: 1_000_000 })
  const store = await MvccStore.open(backend)
  const per = KEYS / BATCHES
  for (let b = 0; b < BATCHES; b++) {
    store.write((txn) => {
      for (let i = b * per; i < (b + 1) * per; i++) txn.put(keyOf(i), valueOf(i))
    })
    await backend.commit()
    if (b === BATCHES / 2 - 1) copyFileSync(join(pristine, 'data.mdb'), join(older, 'data.mdb'))
  }
  await store.close()
  await backend.close()
  return { pristine: join(pristine, 'data.mdb'), older: join(older, 'data.mdb') }
}

/** Damages the copy at `file` as `spec` says (offsets past the two meta pages); returns what it did. */
export function applyDamage(file: string, older: string, spec: TrialSpec): string {
  const rng = new Prng(spec.seed)
  const size = statSync(file).size
  const buf = readFileSync(file)
  const past = 2 * PAGE
  switch (spec.kind) {
    case 'bit-flip': {
      const at = past + rng.int(size - past)
      const bit = rng.int(8)
      buf[at]! ^= 1 << bit
      writeFileSync(file, buf)
      return `bit ${bit} of byte ${at} (page ${Math.floor(at / PAGE)})`
    }
    case 'zeroed-sector': {
      const at = past + 512 * rng.int(Math.floor((size - past) / 512))
      buf.fill(0, at, at + 512)
      writeFileSync(file, buf)
      return `512 bytes zeroed at ${at} (page ${Math.floor(at / PAGE)})`
    }
    case 'truncated': {
      const at = past + rng.int(size - past)
      truncateSync(file, at)
      return `truncated to ${at} of ${size} bytes`
    }
    case 'free-list': {
      // Damage in the bytes the page uses: its flags and bounds, its node pointers and its
      // nodes (txnid keys, lists of free page numbers), which LMDB packs at the page's end.
      const root = freeListRoot(buf)
      if (root === undefined) return 'no free-page list (no damage)'
      const page = buf.subarray(root * PAGE, (root + 1) * PAGE)
      const view = new DataView(page.buffer, page.byteOffset, PAGE)
      const lower = view.getUint16(20, true)
      const upper = view.getUint16(22, true)
      if (rng.int(2) === 0) {
        const used = [...Array.from({ length: 8 + lower }, (_, i) => 16 + i), ...Array.from({ length: PAGE - 24 - upper }, (_, i) => 24 + upper + i)]
        const at = used[rng.int(used.length)]!
        const bit = rng.int(8)
        page[at]! ^= 1 << bit
        writeFileSync(file, buf)
        return `bit ${bit} of byte ${at} of the free-page list's root, page ${root} (its nodes at ${24 + upper}..${PAGE})`
      }
      const first = Math.floor((24 + upper) / 512)
      const at = 512 * (first + rng.int(PAGE / 512 - first))
      page.fill(0, at, at + 512)
      writeFileSync(file, buf)
      return `512 bytes zeroed at ${at} of the free-page list's root, page ${root} (its nodes at ${24 + upper}..${PAGE})`
    }
    case 'after-open': {
      const { at, bit } = afterOpenDamage(size, spec)
      return `bit ${bit} of byte ${at} (page ${Math.floor(at / PAGE)}) flipped after the open`
    }
    case 'defragment':
      return 'none: churned, defragmented, written on'
    case 'older-page': {
      const old = readFileSync(older)
      const pages = Math.floor(Math.min(old.length, size) / PAGE)
      for (let tries = 0; tries < 64; tries++) {
        const p = 2 + rng.int(pages - 2)
        const from = old.subarray(p * PAGE, (p + 1) * PAGE)
        if (Buffer.compare(from, buf.subarray(p * PAGE, (p + 1) * PAGE)) === 0) continue
        buf.set(from, p * PAGE)
        writeFileSync(file, buf)
        return `page ${p} put back from the older file`
      }
      return 'no page differs from the older file (no damage)'
    }
  }
}

/** The root page of the newest meta page's free-page tree, or undefined when it has none. */
export function freeListRoot(buf: Uint8Array): number | undefined {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.length)
  const u64 = (at: number): number => view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32
  const newest = u64(META_OFFSET + 128) >= u64(PAGE + META_OFFSET + 128) ? 0 : 1
  const root = u64(newest * PAGE + META_OFFSET + 64)
  return root >= buf.length / PAGE || root < 2 ? undefined : root
}

/** Where an after-open trial flips its bit: past the two meta pages. */
export function afterOpenDamage(size: number, spec: TrialSpec): { at: number; bit: number } {
  const rng = new Prng(spec.seed)
  return { at: 2 * PAGE + rng.int(size - 2 * PAGE), bit: rng.int(8) }
}

/** Flips the after-open trial's bit in place (pwrite: the running LMDB's map sees it). */
function flipInPlace(file: string, spec: TrialSpec): void {
  const { at, bit } = afterOpenDamage(statSync(file).size, spec)
  const fd = openSync(file, 'r+')
  try {
    const b = Buffer.alloc(1)
    readSync(fd, b, 0, 1, at)
    b[0]! ^= 1 << bit
    writeSync(fd, b, 0, 1, at)
  } finally {
    closeSync(fd)
  }
}

function newKeyOf(i: number): string {
  return `new/${String(i).padStart(6, '0')}`
}

/**
 * The defragment trial's churn: seeded batches putting and deleting `big/` keys with values of
 * 3-23 KB (overflow pages) and small ones, a compaction of all but the last revision (its
 * deletes done), then a defragment. The `new/` keys the caller writes afterwards need pages.
 */
async function churnAndDefragment(backend: LmdbBackend, store: MvccStore, rng: Prng): Promise<void> {
  await churn(backend, store, rng)
  await store.compact(store.revision).done
  if (rng.int(2) === 0) {
    store.write((txn) => txn.deleteRange('big/', 'big0'))
    await backend.commit()
  }
  await backend.defragment()
  await churn(backend, store, rng)
}

/** 4-9 committed batches of puts (one in 20 of 3-23 KB) and deletes of `big/` keys. */
async function churn(backend: LmdbBackend, store: MvccStore, rng: Prng): Promise<void> {
  const batches = 4 + rng.int(6)
  for (let b = 0; b < batches; b++) {
    store.write((txn) => {
      const n = rng.int(1500)
      for (let i = 0; i < n; i++) {
        const key = `big/${String(rng.int(5000)).padStart(4, '0')}`
        if (rng.int(4) === 0) txn.deleteRange(key)
        else txn.put(key, 'x'.repeat(rng.int(20) === 0 ? 3000 + rng.int(20_000) : rng.int(200)))
      }
    })
    await backend.commit()
  }
}

/** Whether `store` holds exactly KEYS keys (and `extra` new ones) with their values. */
function compare(store: MvccStore, extra: number): { verdict: Verdict; detail: string } {
  const { kvs } = store.range(keyOf(0), 'key0')
  const seen = new Map(kvs.map((kv) => [Buffer.from(kv.key).toString('latin1'), Buffer.from(kv.value).toString('latin1')]))
  for (let i = 0; i < KEYS; i++) {
    const v = seen.get(keyOf(i))
    if (v === undefined) return { verdict: 'missing-key', detail: `${keyOf(i)} missing (${seen.size} keys read)` }
    if (v !== valueOf(i)) return { verdict: 'wrong-value', detail: `${keyOf(i)} = ${JSON.stringify(v.slice(0, 40))}` }
  }
  if (seen.size !== KEYS) return { verdict: 'wrong-value', detail: `${seen.size - KEYS} keys too many` }
  const added = store.range('new/', 'new0').kvs
  for (let i = 0; i < extra; i++) {
    const kv = added[i]
    if (kv === undefined || Buffer.from(kv.key).toString('latin1') !== newKeyOf(i)) return { verdict: 'missing-key', detail: `${newKeyOf(i)} missing (${added.length} new keys read)` }
    if (Buffer.from(kv.value).toString('latin1') !== valueOf(i)) return { verdict: 'wrong-value', detail: `${newKeyOf(i)} = ${JSON.stringify(Buffer.from(kv.value).toString('latin1').slice(0, 40))}` }
  }
  if (added.length !== extra) return { verdict: 'wrong-value', detail: `${added.length - extra} new keys too many` }
  return { verdict: 'ok', detail: '' }
}

/** Reads every key back from `dir` (damaged as `spec` says) and says how that went. */
export async function readBack(dir: string, spec?: TrialSpec): Promise<{ verdict: Verdict; detail: string }> {
  let backend: LmdbBackend | undefined
  let store: MvccStore | undefined
  try {
    backend = await LmdbBackend.open(dir, { clock })
    store = await MvccStore.open(backend)
    if (spec?.kind === 'after-open') flipInPlace(join(dir, 'data.mdb'), spec)
    if (spec?.kind === 'defragment') {
      // Rounds of churn, compaction, defragment and more churn, each closed and reopened.
      const rng = new Prng(spec.seed)
      for (let round = 0; round < DEFRAGMENT_ROUNDS; round++) {
        await churnAndDefragment(backend, store, rng)
        await store.close()
        await backend.close()
        store = undefined
        backend = undefined
        backend = await LmdbBackend.open(dir, { clock, verifyStructure: 'always' })
        store = await MvccStore.open(backend)
      }
    } else if (spec?.kind !== 'free-list') return compare(store, 0)
    // The free-page list is read by writes that need pages: write, close, reopen, read all.
    for (let b = 0; b < FREE_LIST_BATCHES; b++) {
      store.write((txn) => {
        for (let i = b * FREE_LIST_KEYS; i < (b + 1) * FREE_LIST_KEYS; i++) txn.put(newKeyOf(i), valueOf(i))
      })
      await backend.commit()
    }
    await store.close()
    await backend.close()
    store = undefined
    backend = undefined
    backend = await LmdbBackend.open(dir, { clock, verifyStructure: spec?.kind === 'defragment' ? 'always' : 'unclean' })
    store = await MvccStore.open(backend)
    return compare(store, FREE_LIST_BATCHES * FREE_LIST_KEYS)
  } catch (err) {
    const code = (err as { code?: unknown }).code
    const message = (err as Error).message ?? String(err)
    if (code === 'ERR_BACKEND_CORRUPT' || code === 'ERR_MVCC_CORRUPT') return { verdict: 'corrupt', detail: `${code}: ${message.slice(0, 160)}` }
    return { verdict: 'untyped-error', detail: `${String(code ?? (err as Error).name)}: ${message.slice(0, 200)}` }
  } finally {
    try {
      await store?.close()
      await backend?.close()
    } catch {}
  }
}

const CHILD = new URL('./damage-child.ts', import.meta.url).pathname

/**
 * Runs `specs` in child processes under `dir` (restarting after a death, which is that trial's
 * verdict); `onResult` hears each result as it comes.
 */
export async function runTrials(dir: string, specs: readonly TrialSpec[], onResult: (r: TrialResult) => void = () => {}): Promise<TrialResult[]> {
  const { pristine, older } = await buildPristine(dir)
  const results: TrialResult[] = []
  let next = 0
  while (next < specs.length) {
    const batch = specs.slice(next)
    const specFile = join(dir, `specs-${next}.json`)
    writeFileSync(specFile, JSON.stringify({ dir, pristine, older, specs: batch }))
    let current = -1
    let lastDamage = ''
    const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', CHILD, specFile], { stdio: ['ignore', 'pipe', 'pipe'] })
      let pending = ''
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        pending += d
        let nl: number
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl)
          pending = pending.slice(nl + 1)
          if (line.startsWith('start ')) {
            const m = JSON.parse(line.slice(6)) as { i: number; damage: string }
            current = m.i
            lastDamage = m.damage
          } else if (line.startsWith('result ')) {
            const r = JSON.parse(line.slice(7)) as TrialResult
            results.push(r)
            onResult(r)
            current = -1
          }
        }
      })
      let stderr = ''
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)))
      child.on('close', (c, s) => {
        if (c !== 0 && current < 0 && s === null) process.stderr.write(stderr)
        resolve({ code: c, signal: s })
      })
    })
    if (current >= 0) {
      const spec = batch[current]!
      const r: TrialResult = { ...spec, verdict: 'dead', damage: lastDamage, detail: `the process died (${signal ?? `exit ${code}`})` }
      results.push(r)
      onResult(r)
      next += current + 1
    } else if (code !== 0) {
      throw new Error(`the trial child failed outside a trial (${signal ?? `exit ${code}`})`)
    } else {
      next = specs.length
    }
  }
  return results
}

/** `count` specs cycling through every damage kind, seeded from `seed`. */
export function trialSpecs(count: number, seed: number): TrialSpec[] {
  return Array.from({ length: count }, (_, i) => ({ kind: DAMAGE_KINDS[i % DAMAGE_KINDS.length]!, seed: (seed + i * 0x9e3779b1) >>> 0 }))
}

/** Counts of each verdict per damage kind, as a table. */
export function summarize(results: readonly TrialResult[]): string {
  const verdicts: Verdict[] = ['ok', 'corrupt', 'wrong-value', 'missing-key', 'untyped-error', 'dead']
  const lines = [`| damage | ${verdicts.join(' | ')} |`, `| --- |${verdicts.map(() => ' --- |').join('')}`]
  for (const kind of DAMAGE_KINDS) {
    const of = results.filter((r) => r.kind === kind)
    if (of.length === 0) continue
    lines.push(`| ${kind} (${of.length}) | ${verdicts.map((v) => of.filter((r) => r.verdict === v).length).join(' | ')} |`)
  }
  return lines.join('\n')
}
