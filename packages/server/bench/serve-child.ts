// One `strata serve` member as a child process, for the restart benches (restart-1m.ts,
// serve-start.ts): start it, time it to its first served linearizable get, read its CPU, stop it.
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { runWorkload } from '../src/bench/run.js'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Starts `bin serve` as a one-member cluster on loopback; `profDir` adds `--cpu-prof` into it. */
export function startServe(bin: string, dataDir: string, clientPort: number, peerPort: number, profDir?: string): ChildProcess {
  const client = `http://127.0.0.1:${clientPort}`
  const peer = `http://127.0.0.1:${peerPort}`
  const flags = profDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`]
  return spawn(process.execPath, [...flags, bin, 'serve', '--name', 'bench', '--data-dir', dataDir,
    '--listen-client-urls', client, '--advertise-client-urls', client, '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer, '--initial-cluster', `bench=${peer}`, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] })
}

/** Ms from `t0` until `child` serves a linearizable get on `clientPort`, polling every `pollMs`. */
export async function firstGetMs(child: ChildProcess, clientPort: number, t0: number, pollMs: number): Promise<number> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`strata serve exited ${child.exitCode}`)
    try {
      const r = await runWorkload('range', { endpoints: [`127.0.0.1:${clientPort}`], total: 1, key: 'bench-range', consistency: 'l' })
      if (r.errors === 0) return performance.now() - t0
    } catch {}
    await sleep(pollMs)
  }
}

/** The user + system CPU ms of a running process, from /proc. */
export function processCpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100
}

/** SIGTERM, resolved once the child has exited. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  await new Promise<void>((r) => { child.once('exit', () => r()); child.kill('SIGTERM') })
}
