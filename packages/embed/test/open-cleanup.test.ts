import assert from 'node:assert/strict'
import { join } from 'node:path'
import { LmdbBackend } from '@strata/backend'
import { type FileSystem, nodeFileSystem } from '@strata/seams'
import { tempDir } from '@strata/testkit'
import { test } from 'uvu'
import { open } from '../src/index.js'

/** nodeFileSystem, except that the `nth` open of a WAL segment fails. */
function failingNthWalOpen(nth: number): FileSystem {
  let walOpens = 0
  return new Proxy(nodeFileSystem, {
    get(target, prop, receiver) {
      if (prop !== 'open') return Reflect.get(target, prop, receiver)
      return async (path: string, mode: Parameters<FileSystem['open']>[1]) => {
        if (path.endsWith('.wal') && ++walOpens === nth) throw Object.assign(new Error(`injected: cannot open ${path}`), { code: 'EIO' })
        return target.open(path, mode)
      }
    },
  })
}

// Issue 14: a failed open releases everything it took (the backend, the WAL, the snap files, the
// lock), so the caller can repair the directory and open it again in the same process.
test('an open that fails reading the WAL after the backend and the state machine opened closes them all', async () => {
  const d = await tempDir('strata-open-cleanup-')
  try {
    const dir = join(d.path, 'm')
    const store = await open({ dir })
    for (let i = 0; i < 50; i++) await store.put(`k${i}`, `v${i}`)
    await store.close()
    // The markers' pass opens the segment first; the WAL's read beside the index rebuild second.
    // The member's own backend, opened here so the test can see whether the failed open closed it.
    const backend = await LmdbBackend.open(join(dir, 'db'))
    const err = await open({ dir, backend, fs: failingNthWalOpen(2) }).then(() => undefined, (e: unknown) => e)
    assert.match(String(err), /injected: cannot open/)
    const code = await Promise.resolve().then(() => backend.read(() => 0)).then(() => 'open', (e: { code?: string }) => e.code)
    assert.equal(code, 'ERR_BACKEND_CLOSED', 'the backend the failed open took is closed')
    // Nothing is left holding the directory: it opens again, with every key.
    const again = await open({ dir })
    try {
      assert.equal((await again.get('k', { prefix: true, countOnly: true })).count, 50)
    } finally {
      await again.close()
    }
  } finally {
    await d.cleanup()
  }
})

test.run()
