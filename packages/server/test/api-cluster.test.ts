// Three members in one process (embed's InProcessNetwork), each behind its own gRPC server:
// client URLs published through the log, lease keep-alive and time-to-live forwarded from a
// follower to the leader, MoveLeader only on the leader, membership calls from any member.
import assert from 'node:assert/strict'
import { type ServiceError, credentials, loadPackageDefinition, status } from '@grpc/grpc-js'
import { InProcessNetwork, type Store, open } from '@strata/embed'
import { tempDir } from '@strata/testkit'
import { test } from 'uvu'
import { type GrpcServer, createGrpcServer, loadEtcdProto } from '../src/index.js'
import { freePort } from '../src/spawn.js'

type Msg = Record<string, any>
const pkg = loadPackageDefinition(loadEtcdProto()) as any
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const IDS = [1, 2, 3]

interface Node { id: number; store: Store; server: GrpcServer; endpoint: string }
let nodes: Node[] = []
let cleanup: () => Promise<void>
const clients: any[] = []

function call(n: Node, service: string, method: string, req: Msg): Promise<Msg> {
  const c = new pkg.etcdserverpb[service](n.endpoint, credentials.createInsecure())
  clients.push(c)
  return new Promise((resolve, reject) => c[method](req, (e: ServiceError | null, r: Msg) => (e ? reject(e) : resolve(r))))
}
async function leaderAndFollower(): Promise<[Node, Node]> {
  for (let i = 0; i < 200; i++) {
    const s = await call(nodes[0]!, 'Maintenance', 'Status', {})
    const leader = nodes.find((n) => n.id === s.leader)
    if (leader !== undefined) return [leader, nodes.find((n) => n !== leader)!]
    await sleep(20)
  }
  throw new Error('no leader')
}

test.before(async () => {
  const dir = await tempDir('strata-api-cluster-')
  const net = new InProcessNetwork()
  const ports = await Promise.all(IDS.map(() => freePort()))
  nodes = await Promise.all(IDS.map(async (id, i) => {
    const store = await open({ dir: `${dir.path}/m${id}`, memberId: id, initialCluster: IDS.map((x) => ({ id: x })), transport: net.transport(id), tickMs: 10, electionTicks: 10 })
    const server = createGrpcServer({ store, advertiseClientUrls: [`http://127.0.0.1:${ports[i]}`] })
    await server.listen('127.0.0.1', ports[i]!)
    return { id, store, server, endpoint: `127.0.0.1:${ports[i]}` }
  }))
  cleanup = async () => {
    for (const c of clients) c.close()
    for (const n of nodes) await n.server.close()
    for (const n of nodes) await n.store.close()
    await dir.cleanup()
  }
})
test.after(async () => {
  await cleanup()
})

test('every member lists every member\'s published client URL', async () => {
  let members: Msg[] = []
  // A publish lost to an election (100 ms election timeouts see spurious ones on a loaded
  // machine) is retried once its request times out (7 s, then 500 ms): room for two of those.
  for (let i = 0; i < 800; i++) {
    members = (await call(nodes[2]!, 'Cluster', 'MemberList', {})).members
    if (members.every((m) => m.clientURLs.length === 1)) break
    await sleep(25)
  }
  assert.deepEqual(members.map((m) => [m.ID, m.clientURLs[0]]).sort(), nodes.map((n) => [n.id, `http://${n.endpoint}`]))
})

test('a follower forwards lease keep-alive and time-to-live to the leader; MoveLeader answers "not leader" there', async () => {
  const [leader, follower] = await leaderAndFollower()
  const g = await call(follower, 'Lease', 'LeaseGrant', { TTL: 30 })
  const ka = pkg.etcdserverpb.Lease && new pkg.etcdserverpb.Lease(follower.endpoint, credentials.createInsecure())
  clients.push(ka)
  const stream = ka.LeaseKeepAlive()
  const first = new Promise<Msg>((resolve, reject) => {
    stream.once('data', resolve)
    stream.once('error', reject)
  })
  stream.write({ ID: g.ID })
  const r = await first
  stream.end()
  assert.equal(r.ID, g.ID)
  assert.equal(r.TTL, 30)
  const t = await call(follower, 'Lease', 'LeaseTimeToLive', { ID: g.ID })
  assert.equal(t.grantedTTL, 30)
  assert.ok(t.TTL > 0 && t.TTL <= 30)
  await call(follower, 'Lease', 'LeaseRevoke', { ID: g.ID })
  assert.equal((await call(follower, 'Lease', 'LeaseTimeToLive', { ID: g.ID })).TTL, -1)
  // With 100 ms election timeouts a loaded machine sees spurious elections: a "follower" that
  // became the leader since it was picked accepts the transfer to itself. Pick again then.
  let refused: ServiceError | undefined
  let [from, to] = [leader, follower]
  for (let attempt = 0; attempt < 5 && refused === undefined; attempt++) {
    ;[from, to] = await leaderAndFollower()
    refused = await call(to, 'Maintenance', 'MoveLeader', { targetID: to.id }).then(() => undefined, (e: ServiceError) => e)
  }
  assert.ok(refused !== undefined, 'a follower accepted MoveLeader in 5 tries')
  assert.ok(refused.code === status.FAILED_PRECONDITION && refused.details === 'etcdserver: not leader', `${refused.code} ${refused.details}`)
  await call(from, 'Maintenance', 'MoveLeader', { targetID: to.id })
  for (let i = 0; i < 200 && (await call(from, 'Maintenance', 'Status', {})).leader !== to.id; i++) await sleep(20)
  assert.equal((await call(from, 'Maintenance', 'Status', {})).leader, to.id)
})

test('membership from a follower: add a learner, refuse to promote a voter, update a voter\'s peer URLs, remove the learner', async () => {
  const [, follower] = await leaderAndFollower()
  const added = await call(follower, 'Cluster', 'MemberAdd', { peerURLs: ['http://127.0.0.1:1'], isLearner: true })
  assert.equal(added.member.isLearner, true)
  assert.equal(added.members.length, 4)
  await assert.rejects(call(follower, 'Cluster', 'MemberAdd', { peerURLs: ['http://127.0.0.1:1'] }), (e: ServiceError) => e.details === 'etcdserver: Peer URLs already exists')
  await assert.rejects(call(follower, 'Cluster', 'MemberAdd', { peerURLs: ['not a url'] }), (e: ServiceError) => e.details === 'etcdserver: given member URLs are invalid')
  await assert.rejects(call(follower, 'Cluster', 'MemberPromote', { ID: 1 }), (e: ServiceError) => e.details === 'etcdserver: can only promote a learner member')
  await assert.rejects(call(follower, 'Cluster', 'MemberRemove', { ID: 999 }), (e: ServiceError) => e.code === status.NOT_FOUND && e.details === 'etcdserver: member not found')
  const updated = await call(follower, 'Cluster', 'MemberUpdate', { ID: 3, peerURLs: ['http://127.0.0.1:2'] })
  assert.deepEqual(updated.members.find((m: Msg) => m.ID === 3).peerURLs, ['http://127.0.0.1:2'])
  const removed = await call(follower, 'Cluster', 'MemberRemove', { ID: added.member.ID })
  assert.equal(removed.members.length, 3)
})

test.run()
