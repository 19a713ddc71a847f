// etcdctl 3.4 (Debian's etcd-client, installed by scripts/install-etcd.sh when missing) against
// a Strata gRPC server started in this process. Fails, never skips, when etcdctl is unavailable.
import assert from 'node:assert/strict'
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import { type ApiFixture, startApiServer } from './api-fixture.js'

const root = new URL('../../../', import.meta.url).pathname
let f: ApiFixture

interface Run { code: number; stdout: string; stderr: string }
function run(cmd: string, args: readonly string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 15_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
    if (input !== undefined) child.stdin!.end(input)
  })
}
async function ctl(args: readonly string[], input?: string): Promise<string> {
  const r = await run('etcdctl', [`--endpoints=${f.endpoint}`, '--dial-timeout=3s', '--command-timeout=10s', ...args], input)
  assert.equal(r.code, 0, `etcdctl ${args.join(' ')} failed: ${r.stderr}`)
  return r.stdout
}
async function ctlFails(args: readonly string[]): Promise<string> {
  const r = await run('etcdctl', [`--endpoints=${f.endpoint}`, '--dial-timeout=3s', '--command-timeout=10s', ...args])
  assert.notEqual(r.code, 0, `etcdctl ${args.join(' ')} should fail`)
  return r.stderr
}
const json = async (args: readonly string[]): Promise<any> => JSON.parse(await ctl([...args, '-w', 'json']))
const b64 = (s: string): string => Buffer.from(s).toString('base64')

test.before(async () => {
  const install = await run('bash', [join(root, 'scripts/install-etcd.sh')])
  if (install.code !== 0) throw new Error(`etcdctl 3.4 is required for this test and could not be installed: ${install.stderr}`)
  f = await startApiServer()
})
test.after(async () => {
  await f?.close()
})

test('put, get with --prefix/--limit/--rev/--keys-only, count via -w json, del', async () => {
  assert.equal((await ctl(['put', 'app/a', '1'])).trim(), 'OK')
  await ctl(['put', 'app/b', '2'])
  await ctl(['put', 'app/c', '3'])
  const rev = (await json(['get', 'app/a'])).header.revision as number
  await ctl(['put', 'app/a', '1b'])
  assert.equal(await ctl(['get', 'app/', '--prefix']), 'app/a\n1b\napp/b\n2\napp/c\n3\n')
  assert.equal(await ctl(['get', 'app/', '--prefix', '--limit=2', '--keys-only']), 'app/a\n\napp/b\n\n')
  assert.equal(await ctl(['get', 'app/a', `--rev=${rev}`]), 'app/a\n1\n')
  const counted = await json(['get', 'app/', '--prefix', '--limit=1'])
  assert.equal(counted.count, 3)
  assert.equal(counted.more, true)
  assert.equal(counted.kvs[0].key, b64('app/a'))
  assert.equal((await ctl(['del', 'app/c'])).trim(), '1')
  assert.equal((await ctl(['del', 'app/', '--prefix', '--prev-kv'])), '2\napp/a\n1b\napp/b\n2\n')
})

test('txn in its interactive form: compares, then success and failure requests', async () => {
  await ctl(['put', 'tx/flag', 'on'])
  const out = await ctl(['txn', '-i'], 'value("tx/flag") = "on"\n\nput tx/result yes\nget tx/flag\n\nput tx/result no\n\n')
  assert.match(out, /\nSUCCESS\n\nOK\n\ntx\/flag\non\n$/)
  assert.equal(await ctl(['get', 'tx/result', '--print-value-only']), 'yes\n')
  const failed = await ctl(['txn', '-i'], 'mod("tx/flag") < "1"\n\nput tx/result never\n\nput tx/result else\n\n')
  assert.match(failed, /\nFAILURE\n/)
  assert.equal(await ctl(['get', 'tx/result', '--print-value-only']), 'else\n')
})

test('watch with --prev-kv and --rev replays history, then sees new changes', async () => {
  const first = (await json(['put', 'wt/k', 'v1'])).header.revision as number
  await ctl(['put', 'wt/k', 'v2'])
  const child: ChildProcess = spawn('etcdctl', [`--endpoints=${f.endpoint}`, 'watch', 'wt/k', '--prev-kv', `--rev=${first}`])
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  try {
    const until = async (pred: () => boolean): Promise<void> => {
      for (let i = 0; i < 200 && !pred(); i++) await new Promise((r) => setTimeout(r, 25))
    }
    await until(() => out.includes('v2'))
    await ctl(['put', 'wt/k', 'v3'])
    await until(() => out.includes('v3'))
  } finally {
    child.kill()
  }
  assert.equal(out, 'PUT\nwt/k\nv1\nPUT\nwt/k\nv1\nwt/k\nv2\nPUT\nwt/k\nv2\nwt/k\nv3\n')
})

test('lease grant, put --lease, keep-alive --once, timetolive --keys, list, revoke', async () => {
  const id = /^lease ([0-9a-f]+) granted with TTL\(60s\)$/.exec((await ctl(['lease', 'grant', '60'])).trim())?.[1]
  assert.ok(id !== undefined)
  await ctl(['put', 'ls/k', 'v', `--lease=${id}`])
  assert.equal((await ctl(['lease', 'keep-alive', '--once', id])).trim(), `lease ${id} keepalived with TTL(60)`)
  assert.match(await ctl(['lease', 'timetolive', id, '--keys']), new RegExp(`^lease ${id} granted with TTL\\(60s\\), remaining\\((59|60)s\\), attached keys\\(\\[ls/k\\]\\)`))
  assert.match(await ctl(['lease', 'list']), new RegExp(`found 1 leases\\n${id}\\n`))
  assert.equal((await ctl(['lease', 'revoke', id])).trim(), `lease ${id} revoked`)
  assert.equal((await ctl(['lease', 'timetolive', id])).trim(), `lease ${id} already expired`)
  assert.equal(await ctl(['get', 'ls/k']), '')
  assert.match(await ctlFails(['lease', 'revoke', id]), /etcdserver: requested lease not found/)
})

test('member list, member add --learner and remove, endpoint status/health/hashkv, alarm list', async () => {
  assert.match(await ctl(['member', 'list']), /^1, started, member-1, /)
  const added = await ctl(['member', 'add', 'learner-x', '--learner', '--peer-urls=http://127.0.0.1:1'])
  const id = /Member\s+([0-9a-f]+) added to cluster/.exec(added)?.[1]
  assert.ok(id !== undefined, added)
  const members = await json(['member', 'list'])
  assert.equal(members.members.length, 2)
  assert.ok(members.members.some((m: any) => m.isLearner === true && m.peerURLs[0] === 'http://127.0.0.1:1'))
  assert.match(await ctl(['member', 'remove', id]), /removed from cluster/)
  assert.equal((await json(['member', 'list'])).members.length, 1)
  const status = (await json(['endpoint', 'status']))[0]
  assert.equal(status.Status.leader, 1)
  assert.ok(status.Status.dbSize > 0)
  const health = await run('etcdctl', [`--endpoints=${f.endpoint}`, 'endpoint', 'health'])
  assert.equal(health.code, 0, health.stderr)
  assert.match(health.stdout + health.stderr, /is healthy: successfully committed proposal/)
  const hashes = await json(['endpoint', 'hashkv'])
  assert.equal(typeof hashes[0].HashKV.hash, 'number')
  assert.equal(await ctl(['alarm', 'list']), '')
})

test('compaction, then a read below it fails with etcd\'s string; defrag', async () => {
  const rev = (await json(['put', 'cp/k', '1'])).header.revision as number
  await ctl(['put', 'cp/k', '2'])
  assert.equal((await ctl(['compaction', '--physical', String(rev + 1)])).trim(), `compacted revision ${rev + 1}`)
  assert.match(await ctlFails(['get', 'cp/k', `--rev=${rev}`]), /etcdserver: mvcc: required revision has been compacted/)
  assert.match(await ctl(['defrag']), /Finished defragmenting etcd member/)
})

test('snapshot save writes a checksummed file; snapshot status cannot read it (it opens bbolt files only)', async () => {
  const file = join(f.dir, 'saved.db')
  assert.match((await ctl(['snapshot', 'save', file])).trim(), /Snapshot saved at/)
  assert.ok(existsSync(file))
  assert.equal((statSync(file).size - 32) % 512, 0)
  const status = await run('etcdctl', ['snapshot', 'status', file])
  assert.notEqual(status.code, 0)
  assert.match(status.stderr, /invalid database/)
})

test('users, roles, permissions, auth enable, calls with --user, auth disable', async () => {
  await ctl(['user', 'add', 'root:rootpw'])
  await ctl(['role', 'add', 'reader'])
  assert.match(await ctl(['role', 'grant-permission', 'reader', 'read', 'pub/', '--prefix']), /Role reader updated/)
  await ctl(['user', 'add', 'alice:alicepw'])
  await ctl(['user', 'grant-role', 'alice', 'reader'])
  await ctl(['put', 'pub/x', 'hello'])
  assert.match(await ctl(['user', 'get', 'alice']), /Roles: reader/)
  assert.match(await ctl(['role', 'get', 'reader']), /KV Read:\n\t\[pub\/, pub0\) \(prefix pub\/\)/)
  assert.equal((await ctl(['auth', 'enable'])).trim(), 'Authentication Enabled')
  try {
    assert.match(await ctlFails(['get', 'pub/x']), /etcdserver: user name is empty/)
    assert.equal(await ctl(['--user=alice:alicepw', 'get', 'pub/x', '--print-value-only']), 'hello\n')
    assert.match(await ctlFails(['--user=alice:alicepw', 'put', 'pub/x', 'w']), /etcdserver: permission denied/)
    assert.match(await ctlFails(['--user=alice:wrong', 'get', 'pub/x']), /etcdserver: authentication failed, invalid user ID or password/)
    assert.match(await ctl(['--user=root:rootpw', 'user', 'list']), /alice\nroot/)
  } finally {
    assert.equal((await ctl(['--user=root:rootpw', 'auth', 'disable'])).trim(), 'Authentication Disabled')
  }
  assert.equal(await ctl(['get', 'pub/x', '--print-value-only']), 'hello\n')
})

test('NOSPACE: writes past the quota fail with etcd\'s string, alarm list shows it, compaction + defrag + alarm disarm recover', async () => {
  const g = await startApiServer({}, { quotaBackendBytes: 400_000 })
  const at = async (args: readonly string[]): Promise<Run> => run('etcdctl', [`--endpoints=${g.endpoint}`, '--dial-timeout=3s', '--command-timeout=10s', ...args])
  try {
    let failed: Run | undefined
    for (let i = 0; i < 40 && failed === undefined; i++) {
      const r = await at(['put', `big/${i % 4}`, 'x'.repeat(60_000)])
      if (r.code !== 0) failed = r
    }
    assert.ok(failed !== undefined, 'the quota never tripped')
    assert.match(failed.stderr, /etcdserver: mvcc: database space exceeded/)
    let alarms = ''
    for (let i = 0; i < 50 && alarms === ''; i++) alarms = (await at(['alarm', 'list'])).stdout
    assert.equal(alarms, 'memberID:1 alarm:NOSPACE \n')
    assert.match((await at(['put', 'small', 'x'])).stderr, /database space exceeded/)
    const rev = JSON.parse((await at(['get', 'small', '-w', 'json'])).stdout).header.revision as number
    assert.equal((await at(['del', 'big/', '--prefix'])).code, 0)
    assert.equal((await at(['compaction', '--physical', String(rev + 1)])).code, 0)
    assert.equal((await at(['defrag'])).code, 0)
    assert.equal((await at(['alarm', 'disarm'])).stdout, 'memberID:1 alarm:NOSPACE \n')
    assert.equal((await at(['alarm', 'list'])).stdout, '')
    assert.equal((await at(['put', 'small', 'x'])).code, 0)
  } finally {
    await g.close()
  }
})

test.run()
