// Three `strata serve` processes on loopback, driven by etcdctl (3.4, as Debian ships it):
// a put through one member is read through another; the leader is killed with SIGKILL; the two
// survivors elect a new one and keep taking writes; the killed member restarts from its data
// directory and catches up until all three report the same revision and hash.
//
//   npm start [<dir>]          (from this directory; <dir> defaults to a new temporary one)
//
// Each member is `strata serve` with etcd's flags: `node packages/server/bin/strata serve ...`
// once `tsc -b packages/server` has built it, else (or with STRATA_FROM_SOURCE=1) the same
// program from source through tsx, which starts several seconds slower.
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, strataCommand } from '@strata/server/spawn'

const STRATA = strataCommand({ fromSource: process.env.STRATA_FROM_SOURCE === '1' })
const dir = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'strata-cluster-'))
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Runs etcdctl; resolves with its stdout, rejects with its stderr. */
function etcdctl(endpoints: string[], ...args: string[]): Promise<string> {
  // etcdctl 3.4 is given host:port: with http:// in --endpoints it sends the scheme inside the
  // HTTP/2 :authority header, which node:http2 (under the gRPC server) refuses.
  const hostPorts = endpoints.map((e) => e.replace(/^https?:\/\//, ''))
  return new Promise((resolve, reject) => {
    execFile('etcdctl', [`--endpoints=${hostPorts.join(',')}`, '--dial-timeout=2s', '--command-timeout=5s', ...args], { env: { ...process.env, ETCDCTL_API: '3' } }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`etcdctl ${args.join(' ')}: ${stderr.trim() || err.message}`))
      else resolve(stdout)
    })
  })
}

interface Member { name: string; client: string; peer: string; proc?: ChildProcess; log: string }

function start(m: Member, cluster: string): void {
  m.proc = spawn(process.execPath, [...STRATA, 'serve',
    '--name', m.name, '--data-dir', join(dir, m.name),
    '--listen-client-urls', m.client, '--advertise-client-urls', m.client,
    '--listen-peer-urls', m.peer, '--initial-advertise-peer-urls', m.peer,
    '--initial-cluster', cluster, '--initial-cluster-token', 'example-cluster',
    '--heartbeat-interval', '50', '--election-timeout', '500', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] })
  m.proc.stderr!.on('data', (d) => { m.log += String(d) })
}

/** Retries `fn` until it succeeds (an election, a process starting) or `ms` pass. */
async function retry<T>(what: string, fn: () => Promise<T>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    try {
      return await fn()
    } catch (err) {
      if (Date.now() > end) throw new Error(`${what}: ${(err as Error).message}`)
      await sleep(100)
    }
  }
}

interface Status { Endpoint: string; Status: { header: { member_id: number; revision: number }; leader: number } }

async function leaderOf(members: Member[]): Promise<Member> {
  const all = JSON.parse(await etcdctl(members.map((m) => m.client), 'endpoint', 'status', '-w', 'json')) as Status[]
  const self = all.find((s) => s.Status.leader !== 0 && s.Status.leader === s.Status.header.member_id)
  if (self === undefined) throw new Error('no member is the leader yet')
  return members.find((m) => m.client.endsWith(`//${self.Endpoint}`))!
}

const members: Member[] = []
// A watchdog: whatever happens, the member processes do not outlive this program (a parent
// killed with SIGKILL cannot stop its children, so stop them before anyone has to).
const DEADLINE_MS = Number(process.env.CLUSTER_EXAMPLE_DEADLINE_MS ?? 55_000)
const watchdog = setTimeout(() => {
  console.error(`cluster example: still running after ${DEADLINE_MS / 1000} s; stopping the members`)
  for (const m of members) {
    m.proc?.kill('SIGKILL')
    console.error(`--- ${m.name} log ---\n${m.log}`)
  }
  process.exit(1)
}, DEADLINE_MS)
watchdog.unref()
for (const name of ['m1', 'm2', 'm3']) members.push({ name, client: `http://127.0.0.1:${await freePort()}`, peer: `http://127.0.0.1:${await freePort()}`, log: '' })
const cluster = members.map((m) => `${m.name}=${m.peer}`).join(',')
const t0 = performance.now()
try {
  for (const m of members) start(m, cluster)
  const first = await retry('electing a leader', () => leaderOf(members))
  console.log(`started m1, m2, m3 (${STRATA.length > 1 ? 'from source' : 'built'}) in ${((performance.now() - t0) / 1000).toFixed(1)} s; leader: ${first.name}`)

  await etcdctl([members[0]!.client], 'put', 'greeting', 'hello from m1')
  const got = (await etcdctl([members[2]!.client], 'get', 'greeting', '--print-value-only')).trim()
  console.log(`put greeting through m1, got it through m3: ${got}`)

  const victim = first
  victim.proc!.kill('SIGKILL')
  await new Promise((r) => victim.proc!.once('exit', r))
  const survivors = members.filter((m) => m !== victim)
  console.log(`killed the leader ${victim.name} with SIGKILL; survivors: ${survivors.map((m) => m.name).join(', ')}`)

  const next = await retry('electing a new leader', () => leaderOf(survivors))
  console.log(`survivors elected ${next.name}`)
  for (let i = 1; i <= 5; i++) {
    const via = survivors[i % 2]!
    await retry(`put orders/${i}`, () => etcdctl([via.client], 'put', `orders/${i}`, `order #${i}`))
  }
  const count = JSON.parse(await etcdctl([survivors[0]!.client], 'get', 'orders/', '--prefix', '--count-only', '-w', 'json').catch(() => etcdctl([survivors[0]!.client], 'get', 'orders/', '--prefix', '-w', 'json'))) as { count: number }
  console.log(`wrote orders/1..5 through the survivors while ${victim.name} was down; ${count.count} keys under orders/`)

  start(victim, cluster)
  await retry(`restarting ${victim.name}`, () => etcdctl([victim.client], 'endpoint', 'health'))
  console.log(`restarted ${victim.name} from its data directory`)

  const converged = await retry('converging', async () => {
    const st = JSON.parse(await etcdctl(members.map((m) => m.client), 'endpoint', 'status', '-w', 'json')) as Status[]
    const revs = new Set(st.map((s) => s.Status.header.revision))
    const hashes = JSON.parse(await etcdctl(members.map((m) => m.client), 'endpoint', 'hashkv', '-w', 'json')) as { HashKV: { hash: number } }[]
    const hs = new Set(hashes.map((h) => h.HashKV.hash))
    if (st.length !== 3 || revs.size !== 1 || hashes.length !== 3 || hs.size !== 1) throw new Error(`revisions ${[...revs]}, hashes ${[...hs]}`)
    return { revision: [...revs][0], hash: [...hs][0] }
  })
  const orders = (await etcdctl([victim.client], 'get', 'orders/5', '--print-value-only')).trim()
  console.log(`${victim.name} reads orders/5 = ${orders}`)
  console.log(`caught up: revision ${converged.revision} and hashKV ${converged.hash} on all three`)
} catch (err) {
  for (const m of members) console.error(`--- ${m.name} log ---\n${m.log}`)
  throw err
} finally {
  await Promise.all(members.map((m) => new Promise<void>((done) => {
    if (m.proc === undefined || m.proc.exitCode !== null || m.proc.signalCode !== null) return done()
    m.proc.once('exit', () => done())
    m.proc.kill('SIGTERM')
  })))
  console.log('stopped all three members (SIGTERM)')
}
