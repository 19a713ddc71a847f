// How fast the simulations are, so tests can size their workloads: a 4 KiB append plus
// datasync on SimFileSystem next to the same loop on the real disk through nodeFileSystem, and
// SimNetwork delivery next to a plain array queue calling the handler. BENCH_QUICK=1 shortens.
import { Bench } from 'tinybench'
import { nodeFileSystem } from '@strata/seams'
import type { FileHandle } from '@strata/seams'
import { Prng, SimFileSystem, SimNetwork, opsPerSecond, printResult, quick, runBench, tempDir } from '../src/index.js'

const time = quick ? 200 : 2000
const block = new Uint8Array(4096).fill(7)
/** Files are rolled over at 64 MiB so neither side grows without bound. */
const ROLL = 64 << 20

async function appendLoop(open: () => Promise<FileHandle>): Promise<() => Promise<void>> {
  let file = await open()
  let at = 0
  return async () => {
    if (at >= ROLL) {
      await file.truncate(0)
      at = 0
    }
    await file.write(block, at)
    await file.datasync()
    at += block.length
  }
}

async function fileSystems(): Promise<void> {
  const dir = await tempDir('testkit-bench-')
  try {
    const sim = new SimFileSystem({ prng: new Prng(1) })
    const simAppend = await appendLoop(() => sim.open('/wal', 'create'))
    const nodeAppend = await appendLoop(() => nodeFileSystem.open(`${dir.path}/wal`, 'create'))
    const bench = new Bench({ name: 'append 4 KiB + datasync', time })
    bench.add('SimFileSystem', simAppend)
    bench.add('nodeFileSystem (real disk)', nodeAppend)
    await runBench(bench)
    const simOps = opsPerSecond(bench, 'SimFileSystem')
    printResult('testkit.simfs.append4KiB_datasync', Math.round(simOps), 'ops/s')
    printResult('testkit.simfs.append4KiB_datasync.ratio_vs_node', simOps / opsPerSecond(bench, 'nodeFileSystem (real disk)'), 'ratio')
  } finally {
    await dir.cleanup()
  }
}

async function network(): Promise<void> {
  const net = new SimNetwork({ prng: new Prng(1) })
  let received = 0
  const a = net.endpoint(1)
  net.endpoint(2).onMessage(() => { received++ })
  const message = new Uint8Array(64)
  const queue: { to: number; message: Uint8Array }[] = []
  const handler = (_from: number, _m: Uint8Array): void => { received++ }
  const bench = new Bench({ name: 'send + deliver 100 messages of 64 bytes', time })
  bench.add('SimNetwork', () => {
    for (let i = 0; i < 100; i++) a.send(2, message)
    net.deliverAll()
  })
  bench.add('array queue (baseline)', () => {
    for (let i = 0; i < 100; i++) queue.push({ to: 2, message: message.slice() })
    for (let e = queue.shift(); e !== undefined; e = queue.shift()) handler(1, e.message)
  })
  await runBench(bench)
  const simMsgs = opsPerSecond(bench, 'SimNetwork') * 100
  printResult('testkit.simnet.deliver64B', Math.round(simMsgs), 'msgs/s')
  printResult('testkit.simnet.deliver64B.ratio_vs_array', simMsgs / (opsPerSecond(bench, 'array queue (baseline)') * 100), 'ratio')
  if (received === 0) throw new Error('nothing was delivered')
}

await fileSystems()
await network()
