import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SimClock, rejectsWithCode, throwsWithCode } from '@strata/testkit'
import { MemoryBackend } from '../src/index.js'
import type { Backend } from '../src/index.js'
import { bytes, contractSuite, dump, text } from './contract.js'

contractSuite('MemoryBackend', async () => ({
  open: async (options) => new MemoryBackend(options),
  crash: async (b, options) => (b as MemoryBackend).crash(options),
  reopen: async (b, options) => {
    await b.close()
    return (b as MemoryBackend).reopen(options)
  },
  cleanup: async () => {},
}))

test('crash() returns a backend over the committed state and kills the old one', async () => {
  const clock = new SimClock()
  const b = new MemoryBackend({ clock })
  b.write((tx) => tx.put('lease', bytes('1'), bytes('a')))
  await b.commit()
  b.write((tx) => tx.put('lease', bytes('2'), bytes('b')))
  assert.is(clock.pendingTimers, 1)
  const after = b.crash()
  assert.is(clock.pendingTimers, 0, 'the dead backend cancelled its timer')
  assert.equal(dump(after), ['lease/1=a'])
  throwsWithCode(() => b.read((tx) => tx.get('lease', bytes('1'))), 'ERR_BACKEND_CLOSED')
  const twice = b.reopen()
  twice.write((tx) => tx.put('lease', bytes('3'), bytes('c')))
  assert.equal(dump(after), ['lease/1=a'], 'each reopened backend has its own copy')
  throwsWithCode(() => new MemoryBackend().reopen(), 'ERR_BACKEND_INVALID_ARGUMENT')
})

test('commit() inside a write callback waits for the callback, so a write is never split', async () => {
  const b = new MemoryBackend({ clock: new SimClock() })
  let committed: Promise<void> | undefined
  b.write((tx) => {
    tx.put('key', bytes('a'), bytes('1'))
    committed = b.commit()
    tx.put('key', bytes('b'), bytes('2'))
  })
  await committed
  assert.equal(dump(b.crash()), ['key/a=1', 'key/b=2'])
})

test('a value handed to put may be reused by the caller afterwards', () => {
  const b: Backend = new MemoryBackend({ clock: new SimClock() })
  const buf = bytes('one')
  b.write((tx) => tx.put('key', buf, buf))
  buf.set(bytes('two'))
  assert.is(text(b.read((tx) => tx.get('key', bytes('one')))), 'one')
})

test('a failpoint throwing in a timer commit is recorded and surfaces on the next write', () => {
  const clock = new SimClock()
  const b = new MemoryBackend({ clock, failpoint: (name) => { if (name === 'backendBeforeCommit') throw new Error('boom') } })
  b.write((tx) => tx.put('key', bytes('a'), bytes('1')))
  clock.advance(100)
  assert.match(String(b.failure), 'boom')
  throwsWithCode(() => b.write((tx) => tx.put('key', bytes('b'), bytes('2'))), 'ERR_BACKEND_COMMIT')
  assert.equal(dump(b), ['key/a=1'], 'reads still see the live state')
  assert.equal(dump(b.crash()), [])
})

test('a commit failing at the batch limit surfaces from the write that filled the batch', () => {
  const b = new MemoryBackend({ clock: new SimClock(), batchLimit: 2, failpoint: (name) => { if (name === 'backendAfterCommit') throw new Error('after') } })
  b.write((tx) => tx.put('key', bytes('a'), bytes('1')))
  assert.throws(() => b.write((tx) => tx.put('key', bytes('b'), bytes('2'))), /after/)
  assert.equal(dump(b.crash()), ['key/a=1', 'key/b=2'])
})

test('stats count the committed key and value bytes, kept up to date without a scan', async () => {
  const b = new MemoryBackend({ clock: new SimClock() })
  b.write((tx) => { tx.put('key', bytes('aa'), bytes('123')); tx.put('lease', bytes('b'), bytes('1')) })
  assert.is(b.stats().sizeBytes, 0, 'nothing committed yet')
  await b.commit()
  assert.is(b.stats().sizeBytes, 7)
  b.write((tx) => { tx.put('key', bytes('aa'), bytes('1')); tx.delete('lease', bytes('b')); tx.delete('lease', bytes('zz')) })
  await b.commit()
  assert.equal(b.stats(), { sizeBytes: 3, sizeInUseBytes: 3, pendingWrites: 0, commits: 2 })
  assert.is(b.crash().stats().sizeBytes, 3)
})

test('options out of range are refused by the constructor and by open()', async () => {
  throwsWithCode(() => new MemoryBackend({ batchLimit: 0 }), 'ERR_BACKEND_INVALID_OPTION')
  throwsWithCode(() => new MemoryBackend({ batchIntervalMs: -1 }), 'ERR_BACKEND_INVALID_OPTION')
  await rejectsWithCode(MemoryBackend.open({ batchLimit: 0 }), 'ERR_BACKEND_INVALID_OPTION')
  const b = await MemoryBackend.open({ clock: new SimClock() })
  await b.close()
})

test('crash() inside a write callback is refused with a typed error, and the backend goes on', () => {
  const b = new MemoryBackend({ clock: new SimClock() })
  b.write((tx) => {
    tx.put('key', bytes('a'), bytes('1'))
    throwsWithCode(() => b.crash(), 'ERR_BACKEND_INVALID_ARGUMENT')
  })
  assert.equal(dump(b.crash()), [])
})

test('defragment: an onProgress that is not a function is refused (ERR_BACKEND_INVALID_ARGUMENT); a function is not called, the batch commits', async () => {
  const b = new MemoryBackend({ clock: new SimClock() })
  await rejectsWithCode(b.defragment({ onProgress: 5 as never }), 'ERR_BACKEND_INVALID_ARGUMENT')
  b.write((tx) => tx.put('key', bytes('k'), bytes('v')))
  let calls = 0
  await b.defragment({ onProgress: () => calls++ })
  assert.equal(calls, 0)
  assert.equal(b.stats().pendingWrites, 0)
  await b.close()
})

test.run()
