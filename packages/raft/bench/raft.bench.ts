// raft benchmarks (issue 4), each against a baseline in the same run:
// 1. commit throughput: entries/s committed and applied by every member of a 1-, 3- and
//    5-member cluster in one process (MemoryStorage, no disk, messages handed over directly),
//    proposals in batches of 64 payloads of 100 B. Baseline: the same entries appended to a
//    bare MemoryStorage (the floor any driver pays), printed as a ratio.
// 2. committed-index computation for 1..11 voters: MajorityConfig.committedIndex against a naive
//    version that collects and sorts the acked indexes for every call.
// Prints `RESULT raft.*` lines; BENCH_QUICK=1 shortens every window.
import { Bench } from 'tinybench'
import { opsPerSecond, printResult, quick, runBench } from '@strata/testkit'
import type { Entry, Message } from '../src/index.js'
import { MemoryStorage, RawNode } from '../src/index.js'
import { MajorityConfig, rawNodeRaft } from '../src/internal.js'

const TIME_MS = quick ? 300 : 3000
const BATCH = 64
const payload = new Uint8Array(100).fill(0x61)

/** A small LCG: benchmarks need repeatable, not good, randomness. */
function lcg(seed: number): { nextU32(): number } {
  let s = seed >>> 0
  return { nextU32: () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) }
}

interface Member { rn: RawNode; storage: MemoryStorage; applied: number }

function cluster(n: number): Member[] {
  const ids = Array.from({ length: n }, (_, i) => i + 1)
  return ids.map((id) => {
    const storage = new MemoryStorage()
    storage.applySnapshot({ data: new Uint8Array(0), metadata: { index: 1, term: 1, confState: { voters: ids, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } } })
    return { rn: new RawNode({ id, storage, rng: lcg(id), maxSizePerMsgBytes: 1 << 20, maxInflightMsgs: 256 }), storage, applied: 1 }
  })
}

/** One round: every member handles its Ready (persist, send, apply, advance), then messages are stepped. */
function pump(ms: Member[]): boolean {
  const out: Message[] = []
  let busy = false
  for (const m of ms) {
    if (!m.rn.hasReady()) continue
    busy = true
    const rd = m.rn.ready()
    if (rd.entries.length > 0) m.storage.append(rd.entries)
    if (rd.hardState !== undefined) m.storage.setHardState(rd.hardState)
    for (const msg of rd.messages) out.push(msg)
    const last = rd.committedEntries[rd.committedEntries.length - 1]
    if (last !== undefined) m.applied = last.index
    m.rn.advance()
  }
  for (const msg of out) ms[msg.to - 1]!.rn.step(msg)
  return busy || out.length > 0
}

function commitThroughput(n: number): number {
  const ms = cluster(n)
  ms[0]!.rn.campaign()
  while (pump(ms)) { /* elect */ }
  const leader = ms[0]!.rn
  const start = performance.now()
  let proposed = 0
  const startIndex = ms[0]!.applied
  while (performance.now() - start < TIME_MS) {
    for (let i = 0; i < BATCH; i++) leader.propose(payload)
    proposed += BATCH
    // Keep a few batches in flight, like a pipelining server would.
    pump(ms)
    pump(ms)
  }
  while (pump(ms)) { /* drain */ }
  const elapsed = (performance.now() - start) / 1000
  for (const m of ms) if (m.applied < startIndex + proposed) throw new Error(`member ${rawNodeRaft(m.rn).id} applied only ${m.applied}`)
  return proposed / elapsed
}

function storageBaseline(): number {
  const s = new MemoryStorage()
  const start = performance.now()
  let index = 1
  while (performance.now() - start < TIME_MS) {
    const ents: Entry[] = []
    for (let i = 0; i < BATCH; i++) ents.push({ term: 1, index: index++, type: 0, data: payload })
    s.append(ents)
    if (index % 65536 < BATCH) s.compact(index - 1)
  }
  return (index - 1) / ((performance.now() - start) / 1000)
}

const floor = storageBaseline()
console.log(`baseline: bare MemoryStorage.append of the same batches: ${Math.round(floor)} entries/s`)
for (const n of [1, 3, 5]) {
  const eps = commitThroughput(n)
  console.log(`${n} member(s): ${Math.round(eps)} entries/s committed and applied on every member (${(eps / floor).toFixed(3)} of the storage floor)`)
  printResult(`raft.commit.${n}member${n === 1 ? '' : 's'}.entries_per_s`, Math.round(eps), 'entries/s')
}

/** The naive committed index: gather, sort descending, take the majority position. */
function naiveCommitted(ids: number[], acked: Map<number, number>): number {
  const xs = ids.map((id) => acked.get(id) ?? 0).sort((a, b) => b - a)
  return xs[Math.floor(ids.length / 2)]!
}

const bench = new Bench({ name: 'committed index, 1..11 voters', time: quick ? 50 : 200 })
const ratios: number[] = []
const rnd = lcg(7)
for (let n = 1; n <= 11; n++) {
  const ids = Array.from({ length: n }, (_, i) => i + 1)
  const acked = new Map(ids.map((id) => [id, 1000 + (rnd.nextU32() % 100)]))
  const cfg = new MajorityConfig(ids)
  const get = (id: number): number | undefined => acked.get(id)
  let sink = 0
  bench.add(`majority ${n}`, () => { sink += cfg.committedIndex(get) })
  bench.add(`naive ${n}`, () => { sink += naiveCommitted(ids, acked) })
  if (sink < 0) console.log(sink)
}
await runBench(bench)
for (let n = 1; n <= 11; n++) {
  const fast = opsPerSecond(bench, `majority ${n}`)
  const slow = opsPerSecond(bench, `naive ${n}`)
  ratios.push(fast / slow)
  console.log(`${n} voters: ${Math.round(fast)} ops/s vs naive ${Math.round(slow)} ops/s (x${(fast / slow).toFixed(2)})`)
}
printResult('raft.committed_index.5voters.ops_per_s', Math.round(opsPerSecond(bench, 'majority 5')), 'ops/s')
printResult('raft.committed_index.speedup_vs_sort.min', Math.min(...ratios), 'x')
