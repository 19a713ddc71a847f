// Spawns the `strata` command as a user runs it: the built bin when `tsc -b` has run (as
// `npm test` does first), else the sources through tsx.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { freePort, strataCommand } from '../src/spawn.js'

export { freePort }
export const STRATA: readonly string[] = strataCommand()

export interface Ran { code: number | null; stdout: string; stderr: string }

/** Runs `strata <args>` to its end. */
export function strata(args: readonly string[], timeoutMs = 60_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...STRATA, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null, stdout, stderr })
    })
  })
}

/** Runs etcdctl 3.4 (API v3). */
export function etcdctl(args: readonly string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile('etcdctl', ['--dial-timeout=3s', '--command-timeout=10s', ...args], { env: { ...process.env, ETCDCTL_API: '3' } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null, stdout, stderr })
    })
  })
}

/** A `strata serve` process; `ready` resolves on its "ready to serve client requests" log line. */
export interface Served {
  readonly proc: ChildProcess
  readonly ready: Promise<void>
  readonly exited: Promise<number | null>
  stderr(): string
  /** Every stderr line parsed as JSON (throws on a line that is not). */
  logLines(): Record<string, unknown>[]
}

// Members still running when the test process exits (a failed assertion, an uncaught error)
// are killed with it rather than left behind.
const running = new Set<ChildProcess>()
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL')
})

export function serve(args: readonly string[], readyTimeoutMs = 45_000): Served {
  const proc = spawn(process.execPath, [...STRATA, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(proc)
  proc.once('exit', () => running.delete(proc))
  let err = ''
  let onLine: (() => void) | undefined
  proc.stderr!.on('data', (d) => {
    err += String(d)
    onLine?.()
  })
  proc.stdout!.resume()
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`strata serve not ready in ${readyTimeoutMs} ms:\n${err}`)), readyTimeoutMs)
    onLine = () => {
      if (err.includes('ready to serve client requests')) {
        clearTimeout(timer)
        onLine = undefined
        resolve()
      }
    }
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`strata serve exited with ${code}:\n${err}`))
    })
  })
  ready.catch(() => {})
  return {
    proc, ready, exited,
    stderr: () => err,
    logLines: () => err.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Record<string, unknown>),
  }
}
