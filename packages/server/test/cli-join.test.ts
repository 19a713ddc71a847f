import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { etcdctl, freePort, serve } from './cli-fixture.js'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function eventually(what: string, fn: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`)
    await sleep(200)
  }
}

test('a member added with etcdctl member add joins with --initial-cluster-state existing, catches up by snapshot, and keeps its id across a kill -9 and restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-join-'))
  const [ac, ap, bc, bp] = [await freePort(), await freePort(), await freePort(), await freePort()]
  const fast = ['--heartbeat-interval', '50', '--election-timeout', '500', '--snapshot-count', '20', '--experimental-snapshot-catchup-entries', '5']
  const a = serve(['--name', 'a', '--data-dir', join(dir, 'a'), '--listen-client-urls', `http://127.0.0.1:${ac}`,
    '--listen-peer-urls', `http://127.0.0.1:${ap}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${ap}`, ...fast])
  const bArgs = ['--name', 'b', '--data-dir', join(dir, 'b'), '--listen-client-urls', `http://127.0.0.1:${bc}`,
    '--listen-peer-urls', `http://127.0.0.1:${bp}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${bp}`,
    '--initial-cluster', `a=http://127.0.0.1:${ap},b=http://127.0.0.1:${bp}`, '--initial-cluster-state', 'existing', ...fast]
  let b: ReturnType<typeof serve> | undefined
  try {
    await a.ready
    const epA = `--endpoints=127.0.0.1:${ac}`
    const epB = `--endpoints=127.0.0.1:${bc}`
    for (let i = 0; i < 30; i++) assert.is((await etcdctl([epA, 'put', `join/${i}`, `v${i}`])).code, 0)
    const added = await etcdctl([epA, 'member', 'add', 'b', `--peer-urls=http://127.0.0.1:${bp}`])
    assert.is(added.code, 0, added.stderr)
    const id = /Member\s+([0-9a-f]+) added/.exec(added.stdout)?.[1]
    assert.ok(id !== undefined, added.stdout)

    b = serve(bArgs)
    await b.ready
    await eventually('b serves join/29', async () => (await etcdctl([epB, 'get', 'join/29', '--print-value-only'])).stdout.trim() === 'v29')
    assert.ok(b.logLines().some((l) => l.msg === 'restore progress'), `b did not restore a snapshot:\n${b.stderr()}`)
    assert.is(JSON.parse(readFileSync(join(dir, 'b', 'strata-member.json'), 'utf8')).memberId.toString(16), id)
    // b published its name and client URLs at start (member add carried its peer URLs only).
    await eventually('member list shows b started with its client URL', async () =>
      new RegExp(`^${id}, started, b, http://127.0.0.1:${bp}, http://127.0.0.1:${bc}, false$`, 'm').test((await etcdctl([epA, 'member', 'list'])).stdout))
    // A keep-alive sent to the follower (an endpoint with a scheme) reaches the leader's lessor.
    const lease = /lease ([0-9a-f]+) granted/.exec((await etcdctl([epA, 'lease', 'grant', '60'])).stdout)![1]!
    const kept = await etcdctl([`--endpoints=http://127.0.0.1:${bc}`, 'lease', 'keep-alive', '--once', lease])
    assert.match(kept.stdout, new RegExp(`lease ${lease} keepalived with TTL\\(\\d+\\)`), kept.stderr)

    b.proc.kill('SIGKILL')
    await b.exited
    assert.is((await etcdctl([epA, '--command-timeout=2s', 'put', 'join/after', 'x'])).code, 1, 'a lone survivor of two has no quorum')
    b = serve(bArgs)
    await b.ready
    await eventually('a write after b restarted', async () => (await etcdctl([epA, 'put', 'join/after', 'y'])).code === 0)
    await eventually('b reads it', async () => (await etcdctl([epB, 'get', 'join/after', '--print-value-only'])).stdout.trim() === 'y')
    const hashes = await etcdctl([`--endpoints=127.0.0.1:${ac},127.0.0.1:${bc}`, 'endpoint', 'hashkv', '-w', 'json'])
    const hs = (JSON.parse(hashes.stdout) as { HashKV: { hash: number } }[]).map((h) => h.HashKV.hash)
    assert.is(hs.length, 2)
    assert.is(hs[0], hs[1])
  } finally {
    a.proc.kill('SIGTERM')
    b?.proc.kill('SIGTERM')
  }
  assert.is(await a.exited, 0, a.stderr())
  assert.is(await b!.exited, 0, b!.stderr())
})

test.run()
