import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { rejectsWithCode, tempDir, throwsWithCode } from '../src/index.js'

function coded(code: string): Error {
  return Object.assign(new Error(`failed with ${code}`), { code })
}

/** Runs `fn` and returns the message of the assertion it raised. */
async function failureOf(fn: () => unknown): Promise<string> {
  try {
    await fn()
  } catch (err) {
    return (err as Error).message
  }
  throw new Error('expected the assertion to fail')
}

test('rejectsWithCode returns the error when the code matches', async () => {
  const err = await rejectsWithCode(() => Promise.reject(coded('ENOENT')), 'ENOENT')
  assert.is(err.message, 'failed with ENOENT')
  await rejectsWithCode(Promise.reject(coded('EIO')), 'EIO')
})

test('rejectsWithCode names both codes when the code differs', async () => {
  const msg = await failureOf(() => rejectsWithCode(() => Promise.reject(coded('EIO')), 'ENOENT'))
  assert.match(msg, 'code ENOENT')
  assert.match(msg, 'code EIO')
})

test('rejectsWithCode fails when the promise resolves or the error has no code', async () => {
  assert.match(await failureOf(() => rejectsWithCode(() => Promise.resolve(7), 'EIO')), 'resolved with 7')
  assert.match(await failureOf(() => rejectsWithCode(() => Promise.reject(new Error('x')), 'EIO')), 'without a code')
})

test('throwsWithCode checks synchronous throws the same way', async () => {
  assert.is(throwsWithCode(() => { throw coded('EEXIST') }, 'EEXIST').message, 'failed with EEXIST')
  assert.match(await failureOf(() => throwsWithCode(() => 1, 'EEXIST')), 'returned 1')
  assert.match(await failureOf(() => throwsWithCode(() => { throw coded('EIO') }, 'EEXIST')), 'code EIO')
})

test('tempDir makes a fresh directory under tmpdir and cleanup removes it with its files', async () => {
  const a = await tempDir('testkit-')
  const b = await tempDir('testkit-')
  assert.ok(a.path.startsWith(join(tmpdir(), 'testkit-')))
  assert.is.not(a.path, b.path)
  await writeFile(join(a.path, 'f'), 'x')
  await a.cleanup()
  await b.cleanup()
  assert.not.ok(existsSync(a.path))
  assert.not.ok(existsSync(b.path))
})

test.run()
