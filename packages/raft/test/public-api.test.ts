// The main entry exports what the README's API section lists and nothing else (CONTRIBUTING.md,
// "Public API"); the engine stays behind ./internal. The quick start itself is run by the
// repository's test/readme-quickstarts.test.ts, so it is not duplicated here.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as api from '../src/index.js'
import * as internal from '../src/internal.js'

const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8')
const apiSection = readme.slice(readme.indexOf('## API'), readme.indexOf('## Guarantees'))

test('every value the main entry exports is named in the README API section', () => {
  const missing = Object.keys(api).filter((name) => {
    if (/^(encode|decode)[A-Z]/.test(name)) return false // the `encode*`/`decode*` row
    return !new RegExp(`\\b${name}\\b`).test(apiSection)
  })
  assert.equal(missing, [])
})

test('the engine is not reachable from the main entry', () => {
  for (const name of ['Raft', 'RaftLog', 'Unstable', 'ProgressTracker', 'Progress', 'Inflights', 'Changer', 'MajorityConfig', 'JointConfig', 'message', 'rawNodeRaft']) {
    assert.not.ok(name in api, `${name} is exported from the main entry`)
    assert.ok(name in internal, `${name} is missing from ./internal`)
  }
  const rn = new api.RawNode({ id: 1, storage: new api.MemoryStorage() })
  assert.not.ok('raft' in rn, 'RawNode has no raft accessor')
  assert.is(internal.rawNodeRaft(rn).id, 1)
})

test('every error class is a StrataError subclass with an ERR_RAFT_ code', async () => {
  const { StrataError } = await import('@strata/seams')
  const err = new api.ProposalDroppedError('no-leader', 'no leader is known; retry once one is elected')
  assert.instance(err, api.RaftError)
  assert.instance(err, StrataError)
  assert.is(err.code, 'ERR_RAFT_PROPOSAL_DROPPED')
  assert.equal(err.context, { reason: 'no-leader' })
})

test.run()
