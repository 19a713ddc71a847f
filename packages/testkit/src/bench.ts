import { readFileSync } from 'node:fs'
import type { Bench } from 'tinybench'

/**
 * Prints one headline figure in the form every run can be compared by:
 * `RESULT <name> <value> <unit>`. `name` is dotted and has no spaces.
 */
export function printResult(name: string, value: number, unit: string): void {
  if (!/^[\w.-]+$/.test(name) || !/^[\w/%.-]+$/.test(unit)) throw new Error(`printResult: bad name or unit: ${name} ${unit}`)
  const shown = Number.isInteger(value) ? String(value) : value >= 100 ? value.toFixed(1) : value.toPrecision(3)
  console.log(`RESULT ${name} ${shown} ${unit}`)
}

/** Runs a tinybench Bench and prints its table. */
export async function runBench(bench: Bench): Promise<void> {
  await bench.run()
  console.log(`\n${bench.name ?? 'bench'}`)
  console.table(bench.table())
}

/** The mean operations per second of a finished task, or fails loudly. */
export function opsPerSecond(bench: Bench, taskName: string): number {
  const task = bench.getTask(taskName)
  const result = task?.result as { throughput?: { mean?: number }; hz?: number } | undefined
  const hz = result?.throughput?.mean ?? result?.hz
  if (hz === undefined) throw new Error(`opsPerSecond: task ${taskName} has no result (did it throw?)`)
  return hz
}

/** True when the caller asked for a short run (smoke tests set BENCH_QUICK=1). */
export const quick = process.env['BENCH_QUICK'] === '1'

/**
 * The calling thread's CPU time and its time waiting for a CPU so far, ns (Linux
 * /proc/thread-self/schedstat; zeros elsewhere): what bounds a single-threaded path, and how much
 * the machine's load held it back.
 */
export function threadSchedstat(): [number, number] {
  try {
    const [cpu, wait] = readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')
    return [Number(cpu), Number(wait)]
  } catch {
    return [0, 0]
  }
}

/** Runs `fn` while a 1 ms interval timer measures the longest gap between its runs. */
export async function withLoopWatch<T>(fn: () => Promise<T>): Promise<{ result: T; maxGapMs: number }> {
  let last = performance.now()
  let maxGap = 0
  const timer = setInterval(() => {
    const now = performance.now()
    maxGap = Math.max(maxGap, now - last)
    last = now
  }, 1)
  try {
    const result = await fn()
    maxGap = Math.max(maxGap, performance.now() - last)
    return { result, maxGapMs: maxGap }
  } finally {
    clearInterval(timer)
  }
}
