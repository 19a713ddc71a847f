import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { FailpointError, Failpoints, throwsWithCode } from '../src/index.js'

test('an unarmed failpoint only counts its hits', () => {
  const fp = new Failpoints()
  fp.fn('raftBeforeSave')
  fp.fn('raftAfterSave')
  fp.fn('raftBeforeSave')
  assert.is(fp.hits('raftBeforeSave'), 2)
  assert.is(fp.hits('walBeforeCut'), 0)
  assert.equal(fp.names(), ['raftBeforeSave', 'raftAfterSave'])
  assert.equal(fp.log(), ['raftBeforeSave', 'raftAfterSave', 'raftBeforeSave'])
})

test('an armed failpoint throws ERR_FAILPOINT at its next hit, then disarms itself', () => {
  const fp = new Failpoints()
  fp.arm('backendBeforeCommit')
  assert.ok(fp.isArmed('backendBeforeCommit'))
  const err = throwsWithCode(() => fp.fn('backendBeforeCommit'), 'ERR_FAILPOINT')
  assert.instance(err, FailpointError)
  assert.match(err.message, 'backendBeforeCommit fired (hit 1)')
  assert.not.ok(fp.isArmed('backendBeforeCommit'))
  fp.fn('backendBeforeCommit')
})

test('skip lets hits pass first, times fires repeatedly, and error chooses what is thrown', () => {
  const fp = new Failpoints()
  fp.arm('walAfterRename', { skip: 2, times: 2, error: (name, hit) => Object.assign(new Error(`${name}#${hit}`), { code: 'X' }) })
  fp.fn('walAfterRename')
  fp.fn('walAfterRename')
  assert.match(throwsWithCode(() => fp.fn('walAfterRename'), 'X').message, 'walAfterRename#3')
  assert.match(throwsWithCode(() => fp.fn('walAfterRename'), 'X').message, 'walAfterRename#4')
  fp.fn('walAfterRename')
  fp.arm('wal.custom')
  fp.disarm('wal.custom')
  fp.fn('wal.custom')
  assert.throws(() => fp.arm('x.y', { times: 0 }), /times/)
  assert.throws(() => fp.arm('x.y', { skip: -1 }), /skip/)
})

test.run()
