// etcdctl 3.4 through `strata serve` on its default (lean HTTP/2) gRPC server, with an
// http:// endpoint (grpc-js once refused etcdctl's :authority with a scheme): the calls of
// etcdctl.test.ts (which runs them in-process against grpc-js), one after another.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { etcdctl, freePort, serve, strata } from './cli-fixture.js'

const dir = mkdtempSync(join(tmpdir(), 'strata-cli-etcdctl-'))

test('etcdctl against strata serve (lean server, http:// endpoint): kv, txn, watch, lease, member, endpoint, alarm, compaction, defrag, snapshot, auth', async () => {
  const [client, peer] = [await freePort(), await freePort()]
  const s = serve(['--name', 'lean', '--data-dir', join(dir, 'lean'), '--listen-client-urls', `http://127.0.0.1:${client}`,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`])
  const endpoint = `--endpoints=http://127.0.0.1:${client}`
  const ctl = async (args: string[]): Promise<string> => {
    const r = await etcdctl([endpoint, ...args])
    assert.is(r.code, 0, `etcdctl ${args.join(' ')}: ${r.stderr}`)
    return r.stdout
  }
  const fails = async (args: string[]): Promise<string> => {
    const r = await etcdctl([endpoint, ...args])
    assert.is.not(r.code, 0, `etcdctl ${args.join(' ')} should fail`)
    return r.stderr
  }
  const json = async (args: string[]): Promise<any> => JSON.parse(await ctl([...args, '-w', 'json'])) // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    await s.ready
    assert.ok(s.logLines().some((l) => l.grpcServer === 'lean'))
    await ctl(['put', 'app/a', '1'])
    const rev = (await json(['put', 'app/b', '2'])).header.revision as number
    await ctl(['put', 'app/a', '1b'])
    assert.is(await ctl(['get', 'app/', '--prefix', '--limit=1', '--keys-only']), 'app/a\n\n')
    assert.is(await ctl(['get', 'app/a', `--rev=${rev}`]), 'app/a\n1\n')
    assert.is((await json(['get', 'app/', '--prefix', '--limit=1'])).count, 2)

    const txn = await new Promise<string>((resolve) => {
      const child = spawn('etcdctl', [endpoint, 'txn', '-i'], { env: { ...process.env, ETCDCTL_API: '3' } })
      let out = ''
      child.stdout.on('data', (d: Buffer) => (out += d.toString()))
      child.on('close', () => resolve(out))
      child.stdin.end('value("app/b") = "2"\n\nput app/c yes\n\nput app/c no\n\n')
    })
    assert.match(txn, /\nSUCCESS\n\nOK\n$/)

    const watcher: ChildProcess = spawn('etcdctl', [endpoint, 'watch', 'app/a', '--prev-kv', `--rev=${rev}`], { env: { ...process.env, ETCDCTL_API: '3' } })
    let watched = ''
    watcher.stdout!.on('data', (d: Buffer) => (watched += d.toString()))
    try {
      for (let i = 0; i < 200 && !watched.includes('1b'); i++) await new Promise((r) => setTimeout(r, 25))
      await ctl(['put', 'app/a', '1c'])
      for (let i = 0; i < 200 && !watched.includes('1c'); i++) await new Promise((r) => setTimeout(r, 25))
    } finally {
      watcher.kill()
    }
    assert.is(watched, 'PUT\napp/a\n1\napp/a\n1b\nPUT\napp/a\n1b\napp/a\n1c\n')

    const lease = /^lease ([0-9a-f]+) granted with TTL\(60s\)$/.exec((await ctl(['lease', 'grant', '60'])).trim())![1]!
    await ctl(['put', 'ls/k', 'v', `--lease=${lease}`])
    assert.is((await ctl(['lease', 'keep-alive', '--once', lease])).trim(), `lease ${lease} keepalived with TTL(60)`)
    assert.match(await ctl(['lease', 'timetolive', lease, '--keys']), /attached keys\(\[ls\/k\]\)/)
    assert.is((await ctl(['lease', 'revoke', lease])).trim(), `lease ${lease} revoked`)
    assert.match(await fails(['lease', 'revoke', lease]), /etcdserver: requested lease not found/)

    assert.match(await ctl(['member', 'list']), new RegExp(`, started, lean, http://127.0.0.1:${peer}, http://127.0.0.1:${client}, false`))
    const added = /Member\s+([0-9a-f]+) added to cluster/.exec(await ctl(['member', 'add', 'x', '--learner', '--peer-urls=http://127.0.0.1:1']))![1]!
    assert.match(await ctl(['member', 'remove', added]), /removed from cluster/)
    assert.ok((await json(['endpoint', 'status']))[0].Status.dbSize > 0)
    const health = await etcdctl([endpoint, 'endpoint', 'health'])
    assert.is(health.code, 0, health.stderr)
    assert.match(health.stdout + health.stderr, /is healthy: successfully committed proposal/)
    assert.is(typeof (await json(['endpoint', 'hashkv']))[0].HashKV.hash, 'number')
    assert.is(await ctl(['alarm', 'list']), '')

    const now = (await json(['get', 'app/a'])).header.revision as number
    assert.is((await ctl(['compaction', '--physical', String(now)])).trim(), `compacted revision ${now}`)
    assert.match(await fails(['get', 'app/a', `--rev=${rev}`]), /etcdserver: mvcc: required revision has been compacted/)
    assert.match(await ctl(['defrag']), /Finished defragmenting etcd member/)
    const file = join(dir, 'saved.db')
    assert.match(await ctl(['snapshot', 'save', file]), /Snapshot saved at/)
    assert.ok(existsSync(file) && (statSync(file).size - 32) % 512 === 0)
    // The file etcdctl saved restores with strata's own tool (etcdctl's restore opens bbolt files only).
    const restored = await strata(['snapshot', 'restore', file, '--data-dir', join(dir, 'from-etcdctl'), '-w', 'json'])
    assert.is(restored.code, 0, restored.stderr)
    assert.is((JSON.parse(restored.stdout) as { revision: number }).revision, (await json(['get', 'app/a'])).header.revision)

    await ctl(['user', 'add', 'root:rootpw'])
    assert.is((await ctl(['auth', 'enable'])).trim(), 'Authentication Enabled')
    assert.match(await fails(['get', 'app/a']), /etcdserver: user name is empty/)
    assert.is(await ctl(['--user=root:rootpw', 'get', 'app/a', '--print-value-only']), '1c\n')
    assert.match(await fails(['--user=root:wrong', 'get', 'app/a']), /etcdserver: authentication failed, invalid user ID or password/)
    assert.is((await ctl(['--user=root:rootpw', 'auth', 'disable'])).trim(), 'Authentication Disabled')
  } finally {
    s.proc.kill('SIGTERM')
  }
  assert.is(await s.exited, 0, s.stderr())
})

test.run()
