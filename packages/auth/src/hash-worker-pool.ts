import assert from 'node:assert'
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'

/**
 * Threads that run bcrypt at a lowered OS priority.
 *
 * Why not the libuv pool (where `@node-rs/bcrypt`'s async calls run): that pool also serves
 * every file system call, so an authentication storm queues fsyncs behind tens of ~60 ms hashes,
 * and its threads compete with the event loop at the same priority. Here each hash runs
 * synchronously on a worker thread of our own whose nice value is raised (on Linux the nice
 * value is per thread), so when the event loop, the apply path or a fsync wants a core, the
 * scheduler gives it to them first, and hashing takes whatever is left.
 *
 * The worker is a few lines of CommonJS evaluated in place (no file to ship or resolve); it
 * loads `@node-rs/bcrypt` from the path resolved here.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
try { require('node:os').setPriority(workerData.niceness) } catch {}
const bcrypt = require(workerData.bcryptPath)
parentPort.on('message', (job) => {
  let reply
  try {
    reply = { result: job.op === 'hash' ? bcrypt.hashSync(job.password, job.cost) : bcrypt.verifySync(job.password, job.hash) }
  } catch (err) {
    reply = { error: String((err && err.message) || err) }
  }
  parentPort.postMessage(reply)
})
`

export type HashJob =
  | { readonly op: 'hash'; readonly password: string; readonly cost: number }
  | { readonly op: 'verify'; readonly password: string; readonly hash: string }

interface Reply {
  readonly result?: string | boolean
  readonly error?: string
}

const bcryptPath = createRequire(import.meta.url).resolve('@node-rs/bcrypt')

/** A pool of up to `size` bcrypt worker threads, started on demand. One job per worker at a time. */
export class HashWorkerPool {
  readonly #size: number
  readonly #niceness: number
  /** Invariant: workers not running a job; all unref'd so an idle pool never keeps the process alive. */
  readonly #idle: Worker[] = []
  /** Invariant: #idle.length + #busy <= #size. */
  #busy = 0
  #closed = false

  constructor(size: number, niceness: number) {
    assert.ok(Number.isInteger(size) && size >= 1)
    assert.ok(Number.isInteger(niceness) && niceness >= 0 && niceness <= 19)
    this.#size = size
    this.#niceness = niceness
  }

  /** Runs one job. The caller bounds concurrency to `size` (PasswordHasher's semaphore does). */
  run(job: HashJob): Promise<string | boolean> {
    assert.ok(!this.#closed, 'HashWorkerPool used after close')
    assert.ok(this.#busy < this.#size, 'more concurrent hash jobs than workers')
    const worker = this.#idle.pop() ?? this.#spawn()
    this.#busy++
    worker.ref() // a pending job keeps the process alive
    return new Promise<string | boolean>((resolve, reject) => {
      const onMessage = (reply: Reply): void => {
        cleanup()
        this.#busy--
        worker.unref()
        if (this.#closed) void worker.terminate()
        else this.#idle.push(worker)
        if (reply.error !== undefined) reject(new Error(`bcrypt: ${reply.error}`))
        else resolve(reply.result as string | boolean)
      }
      // The worker is gone (an error kills it, and so does an exit); a new one is spawned on demand.
      const onError = (err: unknown): void => {
        cleanup()
        this.#busy--
        reject(err)
      }
      const onExit = (code: number): void => onError(new Error(`bcrypt worker exited with code ${code}`))
      const cleanup = (): void => {
        worker.off('message', onMessage)
        worker.off('error', onError)
        worker.off('exit', onExit)
      }
      worker.on('message', onMessage)
      worker.on('error', onError)
      worker.on('exit', onExit)
      worker.postMessage(job)
    })
  }

  /** Stops the idle workers now and busy ones when their job ends. */
  async close(): Promise<void> {
    this.#closed = true
    await Promise.all(this.#idle.splice(0).map((w) => w.terminate()))
  }

  #spawn(): Worker {
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { bcryptPath, niceness: this.#niceness } })
    worker.unref()
    // An idle worker that dies leaves the pool, so no job is ever posted to a dead thread.
    worker.once('exit', () => {
      const i = this.#idle.indexOf(worker)
      if (i >= 0) this.#idle.splice(i, 1)
    })
    return worker
  }
}
